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
    struct Entry {
        unsigned char key[16];
        size_t len;
        void *payload;
    };
    std::vector<Entry> entries_;
    std::vector<const Entry *> slots_;
    unsigned shift_;
    const Entry *position_ = nullptr;
};
