/*
 * ircache.h - the IR-node trie cache of lazy-tensor runtimes.
 *
 * A lazy-tensor runtime records every tensor op as an IR node and compiles
 * the graph at each step boundary. Re-creating the same nodes on every
 * training step costs tracing time, so the runtime keeps a trie of the nodes
 * it made and reuses them on the next step.
 *
 * Lifecycle
 * ---------
 *   ircache_new() or ircache_default()
 *     -> per op: ircache_lookup(); on a miss, build the node, ircache_insert()
 *     -> at the step boundary: ircache_mark_step()
 *     -> whenever wanted: ircache_dump_dot(), ircache_get_stats(),
 *        ircache_clear() (ircache_dump() / ircache_reset() on the default)
 *     -> ircache_free() (never for the default cache)
 *
 * Keys are byte strings compared exactly; the runtime encodes op kind,
 * operand identities and parameters into them. Each node stores one opaque
 * payload (the runtime's IR node) and an op label used in dumps and stats.
 *
 * Threads
 * -------
 * The trie of a cache is shared by every thread; every thread has its own
 * position in each cache. All functions are safe to call from any thread at
 * any time, with two exceptions: ircache_free() must not race with other
 * calls on the same cache, and an ircache_owner's retain callback must not
 * call into this library (it runs inside the lookup, while the node it
 * retains is protected from being dropped; writers wait for it, so it must
 * also be quick and must not wait for a lock that a thread calling into this
 * library may hold). Lookups take no lock, except a thread's first call on
 * a cache: it registers the thread under the cache's lock and, when it is
 * the second thread there, waits until a lookup the first has in progress
 * ends (a thread alone in a cache counts hits and marks steps without a
 * locked instruction; where Linux's membarrier is missing, every lookup
 * takes a full fence instead). Such a thread also writes a hit among many
 * successors into the node at its next hit; a dump, ircache_get_op_stats(),
 * a clear or a new bound called from another thread first waits, the same
 * way, for a lookup it has in progress, so that every count and order they
 * see is exact.
 * Release callbacks run outside every internal lock, so a release callback
 * may call any function of this library, including on the same cache. One
 * called by ircache_free() finds that cache empty: its lookups miss, its
 * inserts fail with IRCACHE_EINVAL (the payload stays the caller's), and
 * the rest succeed and leave nothing behind.
 *
 * No function of this library is a cancellation point: a pthread_cancel()
 * of a thread inside one acts at that thread's next cancellation point
 * after the call returns. Release callbacks run with cancellation disabled
 * for the same reason (each payload is released once, whatever happens);
 * a retain callback must not reach a cancellation point while it can be
 * cancelled.
 *
 * Recency (the order of successors in dumps, which leaf eviction takes
 * first) follows the order of uses exactly within a thread, and across
 * threads whenever a step mark of the thread that used first, an insert, a
 * clear or that thread's exit comes between the uses. Lookups by different
 * threads with none of those between them are ordered approximately: each
 * thread stamps its lookups with its own clock, so that lookups share no
 * written memory.
 *
 * fork(): the child may use every cache at once, whatever other threads of
 * the parent were doing; positions of threads that do not exist in the child
 * are forgotten.
 *
 * Errors
 * ------
 * Functions that can fail return 0 or a negative IRCACHE_E* code (functions
 * returning pointers return NULL). The code's static text is
 * ircache_strerror(code); the detail of the last failure on the calling
 * thread (which argument, which path, the system's reason) is
 * ircache_last_error(). The library never aborts and never prints.
 *
 * Memory ownership in this header is stated per pointer: "borrowed" means
 * the library reads it during the call only, "copied" that it keeps its own
 * copy, "kept" that it keeps the pointer itself.
 */
#ifndef IRCACHE_H
#define IRCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(IRCACHE_BUILDING) && defined(__GNUC__)
#define IRCACHE_API __attribute__((visibility("default")))
#else
#define IRCACHE_API
#endif

#define IRCACHE_VERSION_MAJOR 0
#define IRCACHE_VERSION_MINOR 1
#define IRCACHE_VERSION_PATCH 0
#define IRCACHE_VERSION_NUMBER \
    (IRCACHE_VERSION_MAJOR * 10000 + IRCACHE_VERSION_MINOR * 100 + IRCACHE_VERSION_PATCH)

/* Error codes. Values are fixed forever; new codes only get new numbers. */
#define IRCACHE_EINVAL    (-1) /* an argument is NULL, empty or out of range */
#define IRCACHE_ENOMEM    (-2) /* an allocation failed; nothing was changed */
#define IRCACHE_EIO       (-3) /* the system refused a file operation; see ircache_last_errno() */
#define IRCACHE_EDISABLED (-4) /* the cache is disabled (ircache_set_enabled) */

/* ircache-cdef-begin: everything up to ircache-cdef-end is plain C
 * declarations, read by the Python binding's build (no preprocessor lines). */

/* An opaque cache: a trie of nodes plus one position per thread. */
typedef struct ircache ircache;

/*
 * How the cache shares a payload with the runtime that owns it.
 * retain(payload, ctx) is called on every lookup hit, before the payload is
 * returned and while the node cannot be dropped: the caller then holds its
 * own reference, which it gives back through the runtime's own means.
 * release(payload, ctx) is called exactly once per stored payload when the
 * cache drops it (clear, eviction, replacement, free), before the call that
 * dropped it returns and never while an internal lock is held. (One
 * exception: when a call evicts more than 64 nodes while out of memory and
 * another thread clears the cache meanwhile, that clear calls the rest of
 * those releases, before it returns.) retain must be cheap (a reference
 * count): see Threads above for what it must not do.
 * Either function may be NULL. The cache keeps the pointer to the struct, so
 * it must stay valid while nodes inserted with it are held (typically a
 * static struct).
 */
typedef struct ircache_owner {
    void (*retain)(void *payload, void *ctx);
    void (*release)(void *payload, void *ctx);
    void *ctx;
} ircache_owner;

/* Counters of one cache. nodes and bytes are current values, max_nodes the
 * current bound, everything else counts since the cache was created. */
typedef struct ircache_stats {
    uint64_t nodes;     /* nodes held now, the root excluded */
    uint64_t bytes;     /* memory the cache holds for them, payloads excluded:
                         * node storage (with room it keeps for more),
                         * successor tables and, under a bound, the eviction
                         * order; 0 after a clear. Op labels, kept until
                         * ircache_free() for the op stats, are not counted */
    uint64_t hits;      /* lookups that found a node */
    uint64_t misses;    /* lookups that found none (not counted while disabled) */
    uint64_t inserts;   /* successful inserts, replacements included */
    uint64_t forks;     /* inserts under a position that already had a successor */
    uint64_t evictions; /* nodes dropped to stay under max_nodes */
    uint64_t clears;    /* calls of ircache_clear() / ircache_reset() */
    uint64_t max_nodes; /* the bound; 0 means unbounded */
} ircache_stats;

/* Reuse and insert counts of one op label (PyTorch's IrNodeReused_<op>). */
typedef struct ircache_op_stats {
    const char *op;   /* the label, kept by the cache until ircache_free() */
    uint64_t inserts; /* inserts with this label, replacements included */
    uint64_t reused;  /* lookup hits on nodes with this label: the sum of */
                      /* their hit counts, each of which stops at 2^32 - 1 */
} ircache_op_stats;

/*
 * ircache_new: create an empty, enabled, unbounded cache.
 * @return the cache, owned by the caller (ircache_free), or NULL only when
 *         out of memory.
 */
IRCACHE_API ircache *ircache_new(void);

/*
 * ircache_free: release every payload the cache holds, then its memory.
 * @param c the cache, or NULL (nothing happens). Must not be the default
 *          cache (ignored, with IRCACHE_EINVAL in ircache_last_error()).
 * @pre no other thread uses c during or after the call (using a freed cache
 *      is undefined behaviour). Threads that used c need not have exited.
 */
IRCACHE_API void ircache_free(ircache *c);

/*
 * ircache_default: the process-wide default cache, created on first use,
 * never NULL, never freed. Its initial settings come from the environment:
 * IRCACHE_MAX_NODES=<n> bounds it (unset, empty or invalid: unbounded) and
 * IRCACHE_DISABLE=1 starts it disabled.
 */
IRCACHE_API ircache *ircache_default(void);

/*
 * ircache_lookup: look among the successors of the calling thread's current
 * position for the node whose key equals key[0..key_len).
 * On a hit: counts a hit on that node, moves the position there, calls the
 * node's retain (see ircache_owner) and returns the payload.
 * On a miss, while disabled, or on error: returns NULL and the position stays.
 * @param key borrowed; may be NULL only when key_len is 0.
 * @return the payload, or NULL. An error (NULL cache, NULL key with a length,
 *         key_len over UINT32_MAX, no memory for this thread's position)
 *         also returns NULL and sets ircache_last_error().
 * Thread-safety: lock-free after the thread's first call on c (see
 * Threads); safe concurrently with every other call.
 */
IRCACHE_API void *ircache_lookup(ircache *c, const void *key, size_t key_len);

/*
 * ircache_lookup_owned: ircache_lookup, but only a node inserted with this
 * owner (the same pointer) is a hit; any other node is a miss (counted, the
 * position stays). Lets several runtimes share a cache without ever being
 * handed each other's payloads.
 * @param owner may be NULL (then only nodes inserted with a NULL owner hit).
 */
IRCACHE_API void *ircache_lookup_owned(ircache *c, const void *key, size_t key_len,
                                       const ircache_owner *owner);

/*
 * ircache_position_payload: the payload of the node the calling thread's
 * position is at, if that node was inserted with this owner (the same
 * pointer; NULL for nodes inserted with a NULL owner). Calls the node's
 * retain as a hit does, but counts no hit and leaves the position where it
 * is. For a caller with no retain whose lookup's payload was replaced by
 * another thread before it could use it: the position moved to the node,
 * and this is what the node holds now. With a NULL retain, that payload
 * too may be replaced and released as soon as the call returns: the caller
 * keeps it alive by other means (the Python package pins it in its release
 * callback). While another thread replaces the node's payload, waits
 * (yielding the processor) until it is done: until lookups already in
 * progress have finished. (A retain callback must not call into the
 * library, see Threads; if one calls this, it returns NULL rather than
 * wait.)
 * @return the payload, or NULL: at the root (also after a clear, and for a
 *         thread that never used c), at a node of another owner, while
 *         disabled, or on error (NULL c: sets ircache_last_error()).
 * Thread-safety: as ircache_lookup, but it may wait for a replacement.
 */
IRCACHE_API void *ircache_position_payload(ircache *c, const ircache_owner *owner);

/*
 * ircache_insert: store payload as a new successor of the calling thread's
 * position and move the position to it. If a successor with an equal key
 * exists, its payload, owner and label are replaced instead (the old payload
 * is released), its hit count restarts at 0, the position moves there and it
 * counts as an insert, not a fork; a lookup of that key by another thread
 * while the replacement is under way misses (it never pairs the old payload
 * with the new owner). Past max_nodes, least recently used leaves are
 * evicted before the call returns.
 * @param key borrowed, copied into the node; may be NULL only when key_len is 0.
 * @param op  the node's label in dumps and op stats; borrowed and copied; may
 *            be NULL (an empty label). Any bytes are allowed, up to its NUL.
 *            Each distinct label (and owner) is kept until ircache_free(), a
 *            clear included: name op kinds, not shapes or ids.
 * @param payload must not be NULL; owned by the cache on success.
 * @param owner kept (see ircache_owner); may be NULL.
 * @return 0; IRCACHE_EINVAL (bad argument), IRCACHE_ENOMEM, or
 *         IRCACHE_EDISABLED. On failure nothing changes (no node, label,
 *         count or position; memory the cache reserved on the way stays
 *         reserved, as ircache_stats.bytes shows) and the caller keeps
 *         ownership of the payload.
 */
IRCACHE_API int ircache_insert(ircache *c, const void *key, size_t key_len,
                               const char *op, void *payload,
                               const ircache_owner *owner);

/*
 * ircache_mark_step: move the calling thread's position back to the root
 * (the step boundary; PyTorch's ResetCurrent at MarkStep). NULL c: ignored
 * (IRCACHE_EINVAL in ircache_last_error()).
 */
IRCACHE_API void ircache_mark_step(ircache *c);

/*
 * ircache_clear: drop every node, releasing each payload once; every
 * thread's position goes back to the root. Safe while other threads trace in
 * the same cache: a concurrent lookup either hits a node whose payload it
 * retained before the release, or misses. Node ids keep counting.
 * NULL c: ignored (IRCACHE_EINVAL in ircache_last_error()).
 */
IRCACHE_API void ircache_clear(ircache *c);

/*
 * ircache_dump_dot: write the trie as Graphviz DOT in PyTorch's layout:
 *   digraph G {
 *   PARENT -> CHILD
 *   CHILD[label="OP, N hits"]
 *   ...
 *   }
 * in pre-order, successors most recently used first. Ids count in creation
 * order from 1 and are never reused within a cache; the root is 0 and
 * unlabelled. Labels are escaped so that any bytes give valid UTF-8 DOT
 * whose only line ends are real newlines: quote and backslash are escaped, a
 * newline and the Unicode line breaks U+0085, U+2028 and U+2029 are written
 * as \n, other C0 control characters and DEL as their Unicode control
 * pictures (U+2400..), other C1 control characters (U+0080..U+009F) and
 * invalid UTF-8 as U+FFFD. Two limits of Graphviz (2.43) shape long labels:
 * it refuses a quoted string of 16 KiB, so a label longer than 16,000
 * bytes once escaped is written as quoted strings of at most 16,000 bytes
 * joined by " + " (DOT's concatenation: "ab" + "c" reads as "abc"), never
 * split inside an escape or a character; and it crashes laying out a label
 * of 32,768 lines, so past a label's 32,000th line break the others are
 * written as U+2424 (SYMBOL FOR NEWLINE). dot may still refuse to lay out
 * a graph whose label has a line longer than about 13,000 characters beside
 * other nodes (an edge longer than 65,535 points), which it parses.
 * The file is written whole or not at all: it is written to a temporary file
 * beside path and renamed over it, so on failure no partial file is left and
 * a file already at path is unchanged. Where Linux allows (O_TMPFILE), that
 * file has no name until it is complete: a process killed while dumping
 * leaves nothing behind either. A new file gets mode 0666 less the
 * umask; a replaced one keeps its mode. A file the caller could not write
 * into (read-only to it) is not replaced either: IRCACHE_EIO, EACCES. A
 * symlink is followed as open() follows it: its target, existing or not,
 * is the file written, and the link stays. A path naming an existing
 * non-regular file (a FIFO, a terminal) is written directly, and so is a
 * file this process has open named as /dev/stdout, /dev/fd/N or
 * /proc/self/fd/N: at its offset, even a regular file, which is then not
 * replaced (a closed one: IRCACHE_EIO, EBADF). Other threads may keep
 * tracing; inserts, clears, changes of the bound and stats wait until the
 * dump is done. A dump of more than a megabyte writes from a helper thread
 * while it formats the rest (every signal blocked there, joined before the
 * call returns; never in a process forked after the
 * library was loaded, nor when a thread cannot be had: the calling thread
 * writes then). Either way a write that fails with EPIPE or EFBIG raises
 * SIGPIPE or SIGXFSZ in the calling thread, as its own write would.
 * @param path borrowed.
 * @return 0; IRCACHE_EINVAL (NULL c, NULL or empty path), IRCACHE_ENOMEM, or
 *         IRCACHE_EIO (the path is a directory, its directory is missing or
 *         read-only, the disk is full...; ircache_last_errno() has errno).
 */
IRCACHE_API int ircache_dump_dot(ircache *c, const char *path);

/*
 * ircache_dump_json: write the trie as one JSON document, whole or not at all
 * (same file rules and errors as ircache_dump_dot):
 *   {"format": "ircache-trie", "version": 1, "nodes": [
 *     {"id": 0, "parent": null, "op": null, "hits": 0, "key": ""},
 *     {"id": 23, "parent": 0, "op": "aten::mm", "hits": 3, "key": "<hex>"}, ...]}
 * nodes in the same order as the DOT dump; op is the label as a JSON string
 * (invalid UTF-8 replaced by U+FFFD; control characters, U+2028 and U+2029
 * as \u escapes), key its bytes in lowercase hex.
 */
IRCACHE_API int ircache_dump_json(ircache *c, const char *path);

/*
 * ircache_dump: ircache_dump_dot() on the default cache
 * (torch._lazy.ir_cache.dump). Same returns.
 */
IRCACHE_API int ircache_dump(const char *dot_file_name);

/* ircache_reset: ircache_clear() on the default cache (torch._lazy.ir_cache.reset). */
IRCACHE_API void ircache_reset(void);

/*
 * ircache_get_stats: fill *out with the cache's counters (a consistent
 * snapshot of everything but hits and misses, which other threads may be
 * adding to).
 * @return 0, or IRCACHE_EINVAL (NULL c or out).
 */
IRCACHE_API int ircache_get_stats(ircache *c, ircache_stats *out);

/*
 * ircache_get_op_stats: per-label counts, one entry per label ever inserted,
 * in the order labels were first seen. Fills at most capacity entries of out
 * (out may be NULL when capacity is 0).
 * @return the number of labels (which may exceed capacity: call again with a
 *         larger array), IRCACHE_EINVAL, or IRCACHE_ENOMEM (counting reuse
 *         needs a table of one counter per label).
 */
IRCACHE_API int64_t ircache_get_op_stats(ircache *c, ircache_op_stats *out, size_t capacity);

/*
 * ircache_set_max_nodes: bound the number of nodes; 0 = unbounded. Past the
 * bound the least recently used leaves are evicted (payloads released), in
 * the insert that crossed it and at once when the bound is lowered. A node
 * that some thread's position is at is never evicted, so the count may stay
 * above the bound while every leaf is pinned.
 * @return 0, IRCACHE_EINVAL (NULL c) or IRCACHE_ENOMEM (the bound is unchanged).
 */
IRCACHE_API int ircache_set_max_nodes(ircache *c, uint64_t max_nodes);

/*
 * ircache_set_enabled: turn reuse on (enabled != 0) or off (PyTorch's
 * FLAGS_torch_lazy_reuse_ir). While disabled, lookups return NULL without
 * moving or counting and inserts fail with IRCACHE_EDISABLED; nodes held are
 * kept.
 * @return 0 or IRCACHE_EINVAL (NULL c).
 */
IRCACHE_API int ircache_set_enabled(ircache *c, int enabled);

/* ircache_is_enabled: 1 if enabled, 0 if disabled, IRCACHE_EINVAL for NULL. */
IRCACHE_API int ircache_is_enabled(ircache *c);

/*
 * ircache_strerror: static text of an IRCACHE_E* code ("success" for 0, a
 * generic text for unknown codes); never NULL.
 */
IRCACHE_API const char *ircache_strerror(int code);

/*
 * ircache_last_error: the message of the last failed call on this thread
 * (naming the path and the system's reason for I/O failures). A later
 * success does not clear it. Never NULL; empty when nothing failed yet.
 * The text stays valid until the next failing call on this thread.
 */
IRCACHE_API const char *ircache_last_error(void);

/* ircache_last_errno: the errno behind the last failed call on this thread,
 * or 0 when that failure had no system cause (or nothing failed yet). */
IRCACHE_API int ircache_last_errno(void);

/* ircache_version: the loaded library's version, "MAJOR.MINOR.PATCH". */
IRCACHE_API const char *ircache_version(void);

/* ircache_version_number: the loaded library's IRCACHE_VERSION_NUMBER. */
IRCACHE_API int ircache_version_number(void);

/* ircache-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* IRCACHE_H */
