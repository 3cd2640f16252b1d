// plain_table.hpp - a reference for the fan-out rows, not a cache: a hash
// table of 16-byte keys with nothing but the lookup itself (no thread
// position, no reader section, no hit count or stamp, no owner), so that a
// row can show what a lookup among thousands costs against one when a hit
// does no other work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

class PlainTable {
  public:
    // Room for up to `capacity` keys, in 8 times as many slots.
    explicit PlainTable(size_t capacity);
    void insert(const unsigned char key[16], void *payload);
    // The payload stored under key, or nullptr; the table's position moves
    // to it, as a lookup's would. Out of line, in its own file: a call, as
    // into a library.
    void *lookup(const void *key, size_t len);
    void mark_step() { position_ = nullptr; }

  private:
    // Laid out as the library's nodes with 16-byte keys: 72 bytes, the key
    // last, so that the two read as many cache lines per lookup.
    struct Entry {
        void *payload;
        uint64_t unused[5];
        uint32_t spare;
        uint32_t len;
        unsigned char key[16];
    };
    static_assert(sizeof(Entry) == 72, "an entry is the size of a node with a 16-byte key");
    std::vector<Entry> entries_;
    std::vector<const Entry *> slots_;
    unsigned shift_;
    const Entry *position_ = nullptr;
};
