// bench_trie.cpp - libircache against the PyTorch-style trie, same key
// streams, same process, same run. Prints ns/op, ratio ours/baseline and
// bytes per node; see bench/README.md for the figures and the targets.
//
// Both sides hand back a counted reference on a hit (a NodePtr copy in the
// baseline, a retain that bumps the payload's count in ours) and the caller
// drops it, as a runtime does.
#include <malloc.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <ext/atomicity.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ircache.h"
#include "plain_table.hpp"
#include "pytorch_style_trie.hpp"

namespace {

bool quick = false;
const char *only = nullptr; // run one workload: replay, fanout, build, threads, evict

bool wanted(const char *workload)
{
    return only == nullptr || std::strcmp(only, workload) == 0;
}

double now_ns()
{
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// A 16-byte key: op kind in the first 4 bytes, then position and program.
struct Key {
    unsigned char bytes[16];
};

Key make_key(uint32_t op, uint64_t position, uint32_t program)
{
    Key k;
    std::memcpy(k.bytes, &op, 4);
    std::memcpy(k.bytes + 4, &position, 8);
    std::memcpy(k.bytes + 12, &program, 4);
    return k;
}

const char *const op_names[] = {"aten::mm", "aten::relu", "aten::add", "lazy_tensors::device_data",
                                "aten::sum", "aten::mul", "aten::sub", "aten::view"};

uint32_t op_of(uint64_t i) { return (uint32_t)(i * 2654435761u % 8); }

// Our payload: a reference count the owner's retain/release work on, with
// the same policy as the baseline's shared_ptr (libstdc++ skips the atomic
// instruction while the process has never started a thread), so that both
// sides pay the same for handing back a counted reference.
struct Payload {
    _Atomic_word refs{1};
};

void payload_retain(void *p, void *) { __gnu_cxx::__atomic_add_dispatch(&static_cast<Payload *>(p)->refs, 1); }
void payload_release(void *p, void *)
{
    __gnu_cxx::__exchange_and_add_dispatch(&static_cast<Payload *>(p)->refs, -1);
}
const ircache_owner payload_owner = {payload_retain, payload_release, nullptr};

inline void drop(void *p)
{
    if (p != nullptr)
        __gnu_cxx::__exchange_and_add_dispatch(&static_cast<Payload *>(p)->refs, -1);
}

struct Trace {
    std::vector<Key> keys;
    std::vector<uint32_t> ops;
};

Trace make_trace(size_t n, uint32_t program)
{
    Trace t;
    for (size_t i = 0; i < n; i++) {
        t.ops.push_back(op_of(i));
        t.keys.push_back(make_key(t.ops.back(), i, program));
    }
    return t;
}

// Runs fn `repeats` times and returns the median of what it returns.
double med(int repeats, const std::function<double()> &fn)
{
    std::vector<double> runs;
    for (int i = 0; i < repeats; i++)
        runs.push_back(fn());
    return median(runs);
}

// Ours and the baseline, alternating so that both see the same machine; the
// ratio is the median of the per-pair ratios, steadier than a ratio of
// medians on a shared, noisy machine.
struct Pair {
    double ours, base, ratio;
};

Pair compare(int repeats, const std::function<double()> &ours, const std::function<double()> &base)
{
    std::vector<double> o, b, r;
    for (int i = 0; i < repeats; i++) {
        o.push_back(ours());
        b.push_back(base());
        r.push_back(o.back() / b.back());
    }
    return Pair{median(o), median(b), median(r)};
}

void row(const char *name, double ours, double base, const char *target, bool met)
{
    std::printf("%-28s %10.2f %10.2f %8.2fx   %-26s %s\n", name, ours, base, ours / base, target,
                met ? "met" : "NOT MET");
}

void row(const char *name, const Pair &p, const char *target, bool met)
{
    std::printf("%-28s %10.2f %10.2f %8.2fx   %-26s %s\n", name, p.ours, p.base, p.ratio, target,
                met ? "met" : "NOT MET");
}

// A comparison with no target: a note where the verdict would be.
void row_note(const char *name, const Pair &p, const char *note)
{
    std::printf("%-28s %10.2f %10.2f %8.2fx   %s\n", name, p.ours, p.base, p.ratio, note);
}

void row_ours(const char *name, double ours, const char *unit)
{
    std::printf("%-28s %10.2f %10s %9s   %s\n", name, ours, "-", "-", unit);
}

// ---- 1. steady replay ------------------------------------------------------

void fill_ours(ircache *c, const Trace &t, std::vector<Payload> &payloads)
{
    for (size_t i = 0; i < t.keys.size(); i++)
        ircache_insert(c, t.keys[i].bytes, 16, op_names[t.ops[i]], &payloads[i], &payload_owner);
    ircache_mark_step(c);
}

void fill_base(const Trace &t)
{
    auto *cache = baseline::TrieCache::Get();
    for (size_t i = 0; i < t.keys.size(); i++)
        cache->Insert(std::make_shared<baseline::IrNode>(t.ops[i], t.keys[i].bytes, 16, op_names[t.ops[i]]));
    cache->ResetCurrent();
}

double replay_ours(ircache *c, const Trace &t, int steps)
{
    double start = now_ns();
    size_t misses = 0;
    for (int s = 0; s < steps; s++) {
        for (const Key &k : t.keys) {
            void *p = ircache_lookup(c, k.bytes, 16);
            misses += p == nullptr;
            drop(p);
        }
        ircache_mark_step(c);
    }
    double ns = (now_ns() - start) / ((double)steps * t.keys.size());
    if (misses != 0)
        std::fprintf(stderr, "replay: %zu unexpected misses\n", misses);
    return ns;
}

double replay_base(const Trace &t, int steps)
{
    double start = now_ns();
    size_t misses = 0;
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < t.keys.size(); i++) {
            baseline::NodePtr p = baseline::Lookup(t.ops[i], t.keys[i].bytes, 16);
            misses += p == nullptr;
        }
        baseline::TrieCache::Get()->ResetCurrent();
    }
    double ns = (now_ns() - start) / ((double)steps * t.keys.size());
    if (misses != 0)
        std::fprintf(stderr, "baseline replay: %zu unexpected misses\n", misses);
    return ns;
}

// ---- 2. fan-out --------------------------------------------------------------

struct FanOut {
    std::vector<Key> keys;
    std::vector<uint32_t> order; // random successor per lookup
};

// f successors; lookups pick among the first `used` of them (all: 0).
FanOut make_fanout(size_t f, size_t lookups, size_t used = 0)
{
    FanOut fo;
    for (size_t i = 0; i < f; i++)
        fo.keys.push_back(make_key(1, i, 7));
    std::mt19937_64 rng(42);
    for (size_t i = 0; i < lookups; i++)
        fo.order.push_back((uint32_t)(rng() % (used != 0 ? used : f)));
    return fo;
}

double fanout_ours(ircache *c, const FanOut &fo)
{
    double start = now_ns();
    for (uint32_t i : fo.order) {
        drop(ircache_lookup(c, fo.keys[i].bytes, 16));
        ircache_mark_step(c);
    }
    return (now_ns() - start) / fo.order.size();
}

// As a runtime does: the key encoded from the op's fields into a buffer of
// the caller's just before each call (two words here), so that the lookup
// reads bytes stored a moment ago. The cache holds no owner (the caller
// makes sure nothing drops a payload it uses), so that nothing but the
// lookup writes memory whose address the lookup's own loads give.
inline void encode_key(uint64_t (&key)[2], uint32_t successor)
{
    key[0] = 0x1000000u | successor; // op kind and operand
    key[1] = (uint64_t)successor * 0x9e3779b97f4a7c15u; // its shape
}

// How a caller may key its successors: the op's fields as above, a 4-byte
// id (what a test in C reaches for first), or a 16-byte hash of the op (as
// a runtime that keys nodes by a 128-bit node hash would: random-looking
// keys, of which a table displaces about 6%, each a mispredicted branch).
enum class KeyKind { fields, int32, hashed };

inline uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdu;
    x = (x ^ (x >> 33)) * 0xc4ceb9fe1a85ec53u;
    return x ^ (x >> 33);
}

// The key of a successor in key[0..), returning its length.
template <KeyKind kind> inline size_t build_key(uint64_t (&key)[2], uint32_t successor)
{
    if (kind == KeyKind::int32) {
        std::memcpy(key, &successor, sizeof successor);
        return sizeof successor;
    }
    if (kind == KeyKind::hashed) {
        key[0] = mix64(successor);
        key[1] = mix64(successor ^ 0x5bd1e995u);
        return sizeof key;
    }
    encode_key(key, successor);
    return sizeof key;
}

template <KeyKind kind> ircache *built_fanout_cache(size_t f, std::vector<Payload> &payloads)
{
    ircache *c = ircache_new();
    for (uint32_t i = 0; i < f; i++) {
        uint64_t key[2];
        size_t len = build_key<kind>(key, i);
        ircache_insert(c, key, len, "aten::add", &payloads[i], nullptr);
        ircache_mark_step(c);
    }
    return c;
}

// The next of a cheap pseudo-random sequence, as a test loop would draw it.
inline uint64_t xorshift(uint64_t x)
{
    x ^= x << 13;
    x ^= x >> 7;
    return x ^ (x << 17);
}

// Which successor to look up is computed in the loop too, as a test or a
// runtime would (a counter or a random number modulo the fan-out), rather
// than read from a list: the key's bytes are stored late.
template <KeyKind kind, class Lookup, class Mark>
double built_loop(uint32_t f, bool in_order, size_t lookups, const char *what, Lookup lookup, Mark mark_step)
{
    double start = now_ns();
    size_t misses = 0;
    uint64_t random = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < lookups; i++) {
        random = xorshift(random);
        uint64_t key[2];
        size_t len = build_key<kind>(key, (uint32_t)((in_order ? i : random) % f));
        misses += lookup(key, len) == nullptr;
        mark_step();
    }
    if (misses != 0)
        std::fprintf(stderr, "%s: %zu unexpected misses\n", what, misses);
    return (now_ns() - start) / lookups;
}

template <KeyKind kind> double fanout_ours_built(ircache *c, uint32_t f, bool in_order, size_t lookups)
{
    return built_loop<kind>(
        f, in_order, lookups, "built keys", [c](const void *key, size_t len) { return ircache_lookup(c, key, len); },
        [c] { ircache_mark_step(c); });
}

// The same loop through a plain hash table (plain_table.hpp).
template <KeyKind kind> double fanout_plain_built(PlainTable &t, uint32_t f, size_t lookups)
{
    return built_loop<kind>(
        f, false, lookups, "plain table", [&t](const void *key, size_t len) { return t.lookup(key, len); },
        [&t] { t.mark_step(); });
}

// Keys kept in a list of the caller's, one 16-byte key per successor, and
// looked up at random: what a first test of one's own does. With 4,096
// successors the list (64 KiB) outgrows the first-level cache, so the
// key's own load misses, and it comes before the hash that picks the slot;
// at one successor the one key stays cached.
template <class Lookup, class Mark>
double listed_loop(const std::vector<Key> &keys, uint32_t f, size_t lookups, const char *what, Lookup lookup,
                   Mark mark_step)
{
    double start = now_ns();
    size_t misses = 0;
    uint64_t random = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < lookups; i++) {
        random = xorshift(random);
        misses += lookup(keys[random % f].bytes, sizeof(Key)) == nullptr;
        mark_step();
    }
    if (misses != 0)
        std::fprintf(stderr, "%s: %zu unexpected misses\n", what, misses);
    return (now_ns() - start) / lookups;
}

double fanout_ours_listed(ircache *c, const std::vector<Key> &keys, uint32_t f, size_t lookups)
{
    return listed_loop(
        keys, f, lookups, "listed keys", [c](const void *key, size_t len) { return ircache_lookup(c, key, len); },
        [c] { ircache_mark_step(c); });
}

// The listed-keys loop through a plain hash table (plain_table.hpp): no
// per-hit work but the lookup's own.
double fanout_plain_listed(PlainTable &t, const std::vector<Key> &keys, uint32_t f, size_t lookups)
{
    return listed_loop(
        keys, f, lookups, "plain table", [&t](const void *key, size_t len) { return t.lookup(key, len); },
        [&t] { t.mark_step(); });
}

// A reference for the rows above, not a lookup among many: the lookup at
// one successor, its key read first from a random 72-byte record among
// 4,096 (288 KiB, as many nodes), through a random slot of a 256 KiB table
// (as large as our table for 4,096 successors). Two dependent misses, as a
// lookup among 4,096 makes, but before the call and with no branch on
// them: what the machine charges for the misses alone.
struct KeyRecord {
    uint64_t unused[7];
    uint64_t key[2];
};
static_assert(sizeof(KeyRecord) == 72, "a record is the size of a node with a 16-byte key");

double one_fetched_keys(ircache *c1, const std::vector<const KeyRecord *> &slots, size_t lookups)
{
    double start = now_ns();
    size_t misses = 0;
    uint64_t random = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < lookups; i++) {
        random = xorshift(random);
        const KeyRecord *r = slots[random % slots.size()]; // a division, as the rows above
        uint64_t key[2] = {r->key[0], r->key[1]};
        misses += ircache_lookup(c1, key, sizeof key) == nullptr;
        ircache_mark_step(c1);
    }
    if (misses != 0)
        std::fprintf(stderr, "fetched keys: %zu unexpected misses\n", misses);
    return (now_ns() - start) / lookups;
}

double fanout_base(const FanOut &fo)
{
    auto *cache = baseline::TrieCache::Get();
    double start = now_ns();
    for (uint32_t i : fo.order) {
        baseline::NodePtr p = baseline::Lookup(1, fo.keys[i].bytes, 16);
        cache->ResetCurrent();
    }
    return (now_ns() - start) / fo.order.size();
}

// ---- 3. first step, 4. clear, 5. dump -------------------------------------------

// A broom: `chains` traces of `length` ops that share nothing but the root,
// so that the baseline's recursive clear and dump stay within its stack.
struct Broom {
    std::vector<Trace> chains;
};

Broom make_broom(size_t chains, size_t length)
{
    Broom b;
    for (size_t c = 0; c < chains; c++)
        b.chains.push_back(make_trace(length, (uint32_t)c));
    return b;
}

double first_step_ours(ircache *c, const Broom &b, std::vector<Payload> &payloads)
{
    size_t n = 0;
    double start = now_ns();
    for (const Trace &t : b.chains) {
        for (size_t i = 0; i < t.keys.size(); i++) {
            void *p = ircache_lookup(c, t.keys[i].bytes, 16);
            if (p == nullptr)
                ircache_insert(c, t.keys[i].bytes, 16, op_names[t.ops[i]], &payloads[n], &payload_owner);
            n++;
        }
        ircache_mark_step(c);
    }
    return (now_ns() - start) / n;
}

double first_step_base(const Broom &b, std::vector<baseline::NodePtr> &nodes)
{
    auto *cache = baseline::TrieCache::Get();
    size_t n = 0;
    double start = now_ns();
    for (const Trace &t : b.chains) {
        for (size_t i = 0; i < t.keys.size(); i++) {
            baseline::NodePtr p = baseline::Lookup(t.ops[i], t.keys[i].bytes, 16);
            if (p == nullptr)
                cache->Insert(nodes[n]);
            n++;
        }
        cache->ResetCurrent();
    }
    return (now_ns() - start) / n;
}

std::vector<baseline::NodePtr> make_ir_nodes(const Broom &b)
{
    std::vector<baseline::NodePtr> nodes;
    for (const Trace &t : b.chains)
        for (size_t i = 0; i < t.keys.size(); i++)
            nodes.push_back(std::make_shared<baseline::IrNode>(t.ops[i], t.keys[i].bytes, 16, op_names[t.ops[i]]));
    return nodes;
}

// Bytes allocated through malloc, whether from the heap or from mmap.
size_t heap_in_use()
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

double write_bytes_with_stdio(const std::string &bytes, const std::string &path)
{
    double start = now_ns();
    FILE *f = std::fopen(path.c_str(), "w");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return now_ns() - start;
}

std::string slurp(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---- 6. two threads -------------------------------------------------------------
//
// Throughput is counted over a fixed time, each thread pinned to a CPU of
// its own, and one thread's throughput is taken on each of the two CPUs in
// turn: the two vCPUs of a shared machine are not always equally fast (here
// one of them was, for tens of seconds at a time, 1.6 times slower on our
// replay loop while the other was not), and a fixed amount of work per
// thread would then measure the slower CPU, not the cache.

struct ThreadJob {
    ircache *cache;
    const Trace *trace;
    int cpu; // -1: not pinned
    pthread_barrier_t *start;
    double seconds;
    uint64_t ops;
};

void pin_to(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void *thread_replay(void *arg)
{
    auto *job = static_cast<ThreadJob *>(arg);
    pin_to(job->cpu);
    pthread_barrier_wait(job->start);
    double deadline = now_ns() + job->seconds * 1e9;
    uint64_t steps = 0;
    do {
        replay_ours(job->cache, *job->trace, 10);
        steps += 10;
    } while (now_ns() < deadline);
    job->ops = steps * job->trace->keys.size();
    return nullptr;
}

// Ops per second of one thread per CPU in `cpus`, each replaying its own
// program in cache c, over `seconds`.
double throughput(ircache *c, const std::vector<Trace> &programs, const std::vector<int> &cpus, double seconds)
{
    size_t threads = cpus.size();
    pthread_barrier_t start;
    pthread_barrier_init(&start, nullptr, (unsigned)threads);
    std::vector<pthread_t> ids(threads);
    std::vector<ThreadJob> jobs(threads);
    for (size_t i = 0; i < threads; i++) {
        jobs[i] = ThreadJob{c, &programs[i], cpus[i], &start, seconds, 0};
        pthread_create(&ids[i], nullptr, thread_replay, &jobs[i]);
    }
    uint64_t ops = 0;
    for (size_t i = 0; i < threads; i++) {
        pthread_join(ids[i], nullptr);
        ops += jobs[i].ops;
    }
    pthread_barrier_destroy(&start);
    return (double)ops / seconds;
}

// The first two CPUs this process may run on, or {-1, -1} (no pinning).
std::vector<int> two_cpus()
{
    cpu_set_t set;
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int i = 0; i < CPU_SETSIZE && cpus.size() < 2; i++)
            if (CPU_ISSET(i, &set))
                cpus.push_back(i);
    if (cpus.size() < 2)
        cpus = {-1, -1};
    return cpus;
}

struct Settings {
    int repeats;
    int replay_steps;
    size_t fanout_lookups;
    size_t broom_chains;
    double thread_seconds;
    int evict_steps;
};

void bench_replay(const Settings &cfg, const char *name)
{
    std::vector<Payload> payloads(1000);
    Trace trace = make_trace(1000, 0);
    ircache *c = ircache_new();
    fill_ours(c, trace, payloads);
    fill_base(trace);
    replay_ours(c, trace, 20);
    replay_base(trace, 20);
    Pair p = compare(
        cfg.repeats, [&] { return replay_ours(c, trace, cfg.replay_steps); },
        [&] { return replay_base(trace, cfg.replay_steps); });
    row(name, p, "<= 1.0x", p.ratio <= 1.0);
    ircache_free(c);
    baseline::TrieCache::Get()->Clear();
}

// Fills a cache of ours with the successors of fo under the root.
ircache *fanout_cache(const FanOut &fo, std::vector<Payload> &payloads, const ircache_owner *owner = &payload_owner)
{
    ircache *c = ircache_new();
    for (size_t i = 0; i < fo.keys.size(); i++) {
        ircache_insert(c, fo.keys[i].bytes, 16, "aten::add", &payloads[i], owner);
        ircache_mark_step(c);
    }
    return c;
}

// 4,096 successors keyed as `kind`, looked up at random, against one.
template <KeyKind kind> void bench_fanout_kind(const Settings &cfg, std::vector<Payload> &payloads, const char *name)
{
    ircache *one = built_fanout_cache<kind>(1, payloads), *many = built_fanout_cache<kind>(4096, payloads);
    size_t n = cfg.fanout_lookups;
    Pair q = compare(cfg.repeats, [&] { return fanout_ours_built<kind>(many, 4096, false, n); },
                     [&] { return fanout_ours_built<kind>(one, 1, false, n); });
    row(name, q, "<= 1.5x", q.ratio <= 1.5);
    ircache_free(one);
    ircache_free(many);
}

void bench_fanout(const Settings &cfg)
{
    std::vector<Payload> payloads(4096);
    FanOut one = make_fanout(1, cfg.fanout_lookups);
    ircache *c1 = fanout_cache(one, payloads);
    for (size_t f : {1, 4, 16, 64, 256, 1024}) {
        FanOut fo = make_fanout(f, cfg.fanout_lookups);
        ircache *c = fanout_cache(fo, payloads);
        auto *cache = baseline::TrieCache::Get();
        for (size_t i = 0; i < f; i++) {
            cache->Insert(std::make_shared<baseline::IrNode>(1, fo.keys[i].bytes, 16, "aten::add"));
            cache->ResetCurrent();
        }
        Pair p = compare(cfg.repeats, [&] { return fanout_ours(c, fo); }, [&] { return fanout_base(fo); });
        char name[64];
        std::snprintf(name, sizeof name, "fan-out %zu ns/lookup", f);
        if (f == 1024)
            row(name, p, "baseline >= 50x ours", p.ratio <= 1.0 / 50);
        else
            row(name, p, "", true);
        // Against one successor, alternately in the same rounds: the two
        // medians come from different minutes, which a shared machine
        // makes differ by more than the effect measured.
        if (f == 1024) {
            Pair q = compare(cfg.repeats, [&] { return fanout_ours(c, fo); }, [&] { return fanout_ours(c1, one); });
            row("ours: fan-out 1024 / 1", q, "<= 1.5x", q.ratio <= 1.5);
        }
        ircache_free(c);
        cache->Clear();
    }
    // Large tables are rebuilt past 3/16 full: 1536 successors is the
    // fullest a table gets on the way to 1024 and beyond (1024 sit in one
    // 1/8 full).
    FanOut most = make_fanout(1536, cfg.fanout_lookups);
    ircache *c = fanout_cache(most, payloads);
    Pair q = compare(cfg.repeats, [&] { return fanout_ours(c, most); }, [&] { return fanout_ours(c1, one); });
    row_note("ours: fan-out 1536 / 1", q, "(table 3/16 full: its worst)");
    ircache_free(c);
    // The same 1024-successor table with lookups among 64 of its keys only:
    // what the table costs when its nodes stay in the first-level cache.
    FanOut hot = make_fanout(1024, cfg.fanout_lookups, 64);
    c = fanout_cache(hot, payloads);
    q = compare(cfg.repeats, [&] { return fanout_ours(c, hot); }, [&] { return fanout_ours(c1, one); });
    row_note("ours: 1024, 64 used / 1", q, "(nodes in L1: the table alone)");
    ircache_free(c);
    // Keys built by the caller at each call, thousands of successors.
    ircache_free(c1);
    c1 = built_fanout_cache<KeyKind::fields>(1, payloads);
    for (uint32_t f : {1024, 4096}) {
        for (bool in_order : {false, true}) {
            size_t n = cfg.fanout_lookups;
            c = built_fanout_cache<KeyKind::fields>(f, payloads);
            q = compare(cfg.repeats, [&] { return fanout_ours_built<KeyKind::fields>(c, f, in_order, n); },
                        [&] { return fanout_ours_built<KeyKind::fields>(c1, 1, in_order, n); });
            char name[64];
            std::snprintf(name, sizeof name, "built keys: %u %s / 1", f, in_order ? "in order" : "random");
            row(name, q, "<= 1.5x", q.ratio <= 1.5);
            ircache_free(c);
        }
    }
    bench_fanout_kind<KeyKind::int32>(cfg, payloads, "4-byte ids: 4096 random / 1");
    bench_fanout_kind<KeyKind::hashed>(cfg, payloads, "hashed keys: 4096 random / 1");
    {
        PlainTable plain_one(1), plain_many(4096);
        for (uint32_t i = 0; i < 4096; i++) {
            uint64_t key[2];
            build_key<KeyKind::hashed>(key, i);
            unsigned char bytes[16];
            std::memcpy(bytes, key, sizeof bytes);
            if (i == 0)
                plain_one.insert(bytes, &payloads[i]);
            plain_many.insert(bytes, &payloads[i]);
        }
        size_t n = cfg.fanout_lookups;
        q = compare(cfg.repeats, [&] { return fanout_plain_built<KeyKind::hashed>(plain_many, 4096, n); },
                    [&] { return fanout_plain_built<KeyKind::hashed>(plain_one, 1, n); });
        row_note("ref: plain table, hashed 4096 / 1", q, "(no per-hit work: plain_table.hpp)");
    }
    {
        // One successor's key is the list's first (make_fanout), no owner.
        FanOut listed = make_fanout(4096, 0);
        const std::vector<Key> &keys = listed.keys;
        ircache *one = fanout_cache(make_fanout(1, 0), payloads, nullptr);
        ircache *many = fanout_cache(listed, payloads, nullptr);
        size_t n = cfg.fanout_lookups;
        q = compare(cfg.repeats, [&] { return fanout_ours_listed(many, keys, 4096, n); },
                    [&] { return fanout_ours_listed(one, keys, 1, n); });
        row("listed keys: 4096 random / 1", q, "<= 1.5x", q.ratio <= 1.5);
        ircache_free(one);
        ircache_free(many);
        PlainTable plain_one(1), plain_many(keys.size());
        plain_one.insert(keys[0].bytes, &payloads[0]);
        for (size_t i = 0; i < keys.size(); i++)
            plain_many.insert(keys[i].bytes, &payloads[i]);
        q = compare(cfg.repeats, [&] { return fanout_plain_listed(plain_many, keys, 4096, n); },
                    [&] { return fanout_plain_listed(plain_one, keys, 1, n); });
        row_note("ref: plain table, listed 4096 / 1", q, "(no per-hit work: plain_table.hpp)");
    }
    std::vector<KeyRecord> records(4096);
    for (KeyRecord &r : records)
        encode_key(r.key, 0); // the one successor's key
    std::vector<const KeyRecord *> slots(32768);
    std::mt19937_64 pick(7);
    for (const KeyRecord *&s : slots)
        s = &records[pick() % records.size()];
    q = compare(cfg.repeats, [&] { return one_fetched_keys(c1, slots, cfg.fanout_lookups); },
                [&] { return fanout_ours_built<KeyKind::fields>(c1, 1, false, cfg.fanout_lookups); });
    row_note("ref: 1, key behind 2 misses", q, "(what the misses cost: no branch on them)");
    ircache_free(c1);
}

// First step, memory per node, dump and clear, on one broom of traces.
void bench_build(const Settings &cfg)
{
    Broom broom = make_broom(cfg.broom_chains, 1000);
    std::vector<baseline::NodePtr> ir_nodes = make_ir_nodes(broom);
    size_t nodes = cfg.broom_chains * 1000;
    std::vector<Payload> payloads(nodes);
    std::vector<double> ours_first, base_first, ours_clear, base_clear, ours_dump, stdio_dump, base_dump;
    double ours_bytes = 0, base_bytes = 0, stats_bytes = 0;
    // Both dumps go to a memory file system where there is one, so that the
    // comparison is of our work and stdio's, not of the disk's writeback.
    std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string dump_path = dir + "/ircache-bench-" + std::to_string(getpid()) + ".dot";
    std::string stdio_path = dump_path + ".stdio";
    for (int r = 0; r < (quick ? 1 : 3); r++) {
        size_t before = heap_in_use();
        ircache *c = ircache_new();
        ours_first.push_back(first_step_ours(c, broom, payloads));
        ours_bytes = (double)(heap_in_use() - before) / nodes;
        ircache_stats s;
        ircache_get_stats(c, &s);
        stats_bytes = (double)s.bytes / s.nodes;

        double t0 = now_ns();
        ircache_dump_dot(c, dump_path.c_str());
        ours_dump.push_back(now_ns() - t0);
        std::string bytes = slurp(dump_path);
        stdio_dump.push_back(write_bytes_with_stdio(bytes, stdio_path));

        t0 = now_ns();
        ircache_clear(c);
        ours_clear.push_back(now_ns() - t0);
        ircache_free(c);

        before = heap_in_use();
        base_first.push_back(first_step_base(broom, ir_nodes));
        base_bytes = (double)(heap_in_use() - before) / nodes;
        t0 = now_ns();
        baseline::TrieCache::Get()->DumpToDotFile(dump_path);
        base_dump.push_back(now_ns() - t0);
        t0 = now_ns();
        baseline::TrieCache::Get()->Clear();
        base_clear.push_back(now_ns() - t0);
    }
    std::remove(dump_path.c_str());
    std::remove(stdio_path.c_str());
    row("first step ns/op (miss+ins)", median(ours_first), median(base_first), "", true);
    std::printf("%-28s %10.1f %10.1f %8.2fx   %-26s %s\n", "bytes/node (heap, 16B key)", ours_bytes, base_bytes,
                ours_bytes / base_bytes, "ours <= 80", ours_bytes <= 80 ? "met" : "NOT MET");
    std::printf("%-28s %10.1f %10s %9s   (ircache_stats.bytes / nodes)\n", "bytes/node (stats)", stats_bytes,
                "-", "-");
    char name[64];
    std::snprintf(name, sizeof name, "clear %zuk nodes ms", nodes / 1000);
    row(name, median(ours_clear) / 1e6, median(base_clear) / 1e6, "", true);
    std::snprintf(name, sizeof name, "dump %zuk nodes ms", nodes / 1000);
    row(name, median(ours_dump) / 1e6, median(base_dump) / 1e6, "", true);
    std::printf("%-28s %10.2f %10.2f %8.2fx   %-26s %s\n", ("dump vs stdio, " + dir).c_str(), median(ours_dump) / 1e6,
                median(stdio_dump) / 1e6, median(ours_dump) / median(stdio_dump), "<= 2.0x (baseline=stdio)",
                median(ours_dump) <= 2 * median(stdio_dump) ? "met" : "NOT MET");
}

// Two threads tracing different programs in one shared cache, against one
// thread on either CPU (the mean of the two).
void bench_threads(const Settings &cfg)
{
    std::vector<Trace> programs = {make_trace(1000, 100), make_trace(1000, 101)};
    std::vector<Payload> payloads_a(1000), payloads_b(1000); // each program its own IR nodes
    ircache *c = ircache_new();
    fill_ours(c, programs[0], payloads_a);
    fill_ours(c, programs[1], payloads_b);
    std::vector<int> cpus = two_cpus();
    std::vector<double> two, one_a, one_b, ratio;
    for (int i = 0; i < cfg.repeats; i++) {
        one_a.push_back(throughput(c, programs, {cpus[0]}, cfg.thread_seconds));
        two.push_back(throughput(c, programs, cpus, cfg.thread_seconds));
        one_b.push_back(throughput(c, programs, {cpus[1]}, cfg.thread_seconds));
        ratio.push_back(two.back() / ((one_a.back() + one_b.back()) / 2));
    }
    double one = (median(one_a) + median(one_b)) / 2;
    std::printf("%-28s %10.2f %10.2f %8.2fx   %-26s %s\n", "2 threads Mops/s (vs 1)", median(two) / 1e6, one / 1e6,
                median(ratio), ">= 1.6x (baseline=1 thread)", median(ratio) >= 1.6 ? "met" : "NOT MET");
    char name[64];
    std::snprintf(name, sizeof name, "  1 thread, CPU %d / CPU %d", cpus[0], cpus[1]);
    std::printf("%-28s %10.2f %10.2f %9s   (one thread alone on each CPU)\n", name, median(one_a) / 1e6,
                median(one_b) / 1e6, "");
    ircache_free(c);
}

// Eviction steady state: max_nodes at half the working set of 4 programs.
void bench_evict(const Settings &cfg)
{
    const size_t programs_n = 4, length = 1000;
    std::vector<Payload> payloads(length);
    std::vector<Trace> cycle;
    for (size_t p = 0; p < programs_n; p++)
        cycle.push_back(make_trace(length, (uint32_t)(200 + p)));
    ircache *c = ircache_new();
    ircache_set_max_nodes(c, programs_n * length / 2);
    double ns = med(cfg.repeats, [&] {
        size_t n = 0;
        double t0 = now_ns();
        for (int s = 0; s < cfg.evict_steps; s++) {
            const Trace &t = cycle[s % programs_n];
            for (size_t i = 0; i < length; i++) {
                void *p = ircache_lookup(c, t.keys[i].bytes, 16);
                if (p == nullptr)
                    ircache_insert(c, t.keys[i].bytes, 16, op_names[t.ops[i]], &payloads[i], nullptr);
                else
                    drop(p);
                n++;
            }
            ircache_mark_step(c);
        }
        return (now_ns() - t0) / n;
    });
    ircache_stats s;
    ircache_get_stats(c, &s);
    row_ours("eviction steady ns/op", ns, "lookup+insert+evict; no baseline (it cannot bound)");
    std::printf("%-28s nodes %" PRIu64 " <= max %" PRIu64 ", %" PRIu64 " evictions\n", "", s.nodes, s.max_nodes,
                s.evictions);
    ircache_free(c);
}

} // namespace

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            std::fprintf(stderr, "usage: %s [--quick] [--only replay|fanout|build|threads|evict]\n", argv[0]);
            return 2;
        }
    }
    Settings cfg = quick ? Settings{5, 200, 200000, 1000, 0.05, 40} : Settings{15, 1000, 1000000, 1000, 0.2, 400};
    std::printf("libircache %s vs a PyTorch-style trie (std::list successors, thread-local, no lock)\n",
                ircache_version());
    std::printf("%-28s %10s %10s %9s   %-26s %s\n", "workload", "ours", "baseline", "ratio", "target", "");
    if (wanted("replay")) {
        // Before and after the process starts a thread: from then on
        // libstdc++'s shared_ptr, our payloads' counts and our per-node hit
        // counts use atomic instructions. A training process has threads.
        bench_replay(cfg, "replay, no thread yet");
        pthread_t idle;
        pthread_create(&idle, nullptr, [](void *) -> void * { return nullptr; }, nullptr);
        pthread_join(idle, nullptr);
        bench_replay(cfg, "replay, threads started");
    }
    if (wanted("fanout"))
        bench_fanout(cfg);
    if (wanted("build"))
        bench_build(cfg);
    if (wanted("threads"))
        bench_threads(cfg);
    if (wanted("evict"))
        bench_evict(cfg);
    return 0;
}
