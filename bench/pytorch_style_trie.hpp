// pytorch_style_trie.hpp - the baseline: PyTorch's TrieCache algorithm,
// re-created from its description for a same-run comparison.
//
// Successors are a std::list of shared_ptr<TrieNode>; a lookup scans that
// list, checks each IR node's op kind and asks it whether it can be reused
// (here: its 16-byte key equals the one asked for), bumps a process-wide
// reuse counter, moves the hit to the front and returns a NodePtr copy. The
// cache is thread-local and takes no lock; clear and dump recurse.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <list>
#include <memory>
#include <string>

namespace baseline {

// A small IR node: what PyTorch's lazy Node keeps for its reuse test.
struct IrNode {
    IrNode(uint32_t op_kind, const unsigned char *key, size_t key_len, std::string op_name)
        : op(op_kind), name(std::move(op_name))
    {
        len = key_len < sizeof operands ? key_len : sizeof operands;
        std::memcpy(operands, key, len);
    }
    virtual ~IrNode() = default;
    bool CanBeReused(const unsigned char *key, size_t key_len) const
    {
        return key_len == len && std::memcmp(operands, key, len) == 0;
    }
    uint32_t op;
    size_t len;
    unsigned char operands[16];
    std::string name;
};

using NodePtr = std::shared_ptr<IrNode>;

struct TrieNode {
    static size_t NextUniqueId()
    {
        static std::atomic<size_t> id{0};
        return ++id;
    }
    TrieNode() : unique_id(0), hit_counter(0) {}
    explicit TrieNode(NodePtr node) : unique_id(NextUniqueId()), hit_counter(0), ir_node(std::move(node)) {}
    size_t unique_id;
    size_t hit_counter;
    NodePtr ir_node;
    std::list<std::shared_ptr<TrieNode>> successors;
};

class TrieCache {
public:
    static TrieCache *Get();
    TrieNode *Current() const;
    void SetCurrent(std::list<std::shared_ptr<TrieNode>>::iterator &it);
    void ResetCurrent();
    void Insert(NodePtr ir_node);
    void Clear();
    void DumpToDotFile(const std::string &file_name);

private:
    TrieCache();
    void DumpToDotFile(std::ofstream &out, const TrieNode *node);
    std::shared_ptr<TrieNode> root_;
    TrieNode *current_;
};

// The reuse counter PyTorch bumps on every hit (IrNodeReused_<op>).
std::atomic<uint64_t> &ReuseCounter();

inline NodePtr Lookup(uint32_t op_kind, const unsigned char *key, size_t key_len)
{
    TrieNode *current = TrieCache::Get()->Current();
    for (auto it = current->successors.begin(); it != current->successors.end(); ++it) {
        const NodePtr &ir_node = (*it)->ir_node;
        if (ir_node->op == op_kind && ir_node->CanBeReused(key, key_len)) {
            ReuseCounter().fetch_add(1, std::memory_order_relaxed);
            TrieCache::Get()->SetCurrent(it);
            return ir_node;
        }
    }
    return nullptr;
}

} // namespace baseline
