// plain_table.cpp - see plain_table.hpp.
#include "plain_table.hpp"

#include <cstring>

namespace {

// The library's linear hash of a 16-byte key's two words (lib/hash.h), so
// that keys that differ by a counter displace none here either.
uint64_t hash16(const void *key)
{
    uint64_t a, b;
    std::memcpy(&a, key, 8);
    std::memcpy(&b, static_cast<const unsigned char *>(key) + 8, 8);
    b ^= 16;
    return a * 0x9e3779b97f4a7c15ull + ((b << 32) | (b >> 32)) * 0xd6e8feb86659fd93ull;
}

} // namespace

PlainTable::PlainTable(size_t capacity)
{
    size_t slots = 8;
    unsigned bits = 3;
    while (slots < 8 * capacity) {
        slots *= 2;
        bits++;
    }
    slots_.assign(slots, nullptr);
    shift_ = 64 - bits;
    entries_.reserve(capacity); // entries never move: slots point at them
}

void PlainTable::insert(const unsigned char key[16], void *payload)
{
    Entry e{};
    std::memcpy(e.key, key, 16);
    e.len = 16;
    e.payload = payload;
    entries_.push_back(e);
    size_t mask = slots_.size() - 1;
    for (size_t s = hash16(key) >> shift_;; s = (s + 1) & mask) {
        if (slots_[s] == nullptr) {
            slots_[s] = &entries_.back();
            return;
        }
    }
}

void *PlainTable::lookup(const void *key, size_t len)
{
    size_t mask = slots_.size() - 1;
    for (size_t s = hash16(key) >> shift_;; s = (s + 1) & mask) {
        const Entry *e = slots_[s];
        if (e == nullptr)
            return nullptr;
        if (e->len == len && std::memcmp(e->key, key, 16) == 0) {
            position_ = e;
            return e->payload;
        }
    }
}
