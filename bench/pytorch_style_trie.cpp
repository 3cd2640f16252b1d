// pytorch_style_trie.cpp - TrieCache's out-of-line methods, as in trie.cpp.
#include "pytorch_style_trie.hpp"

namespace baseline {

std::atomic<uint64_t> &ReuseCounter()
{
    static std::atomic<uint64_t> counter{0};
    return counter;
}

TrieCache *TrieCache::Get()
{
    static thread_local TrieCache cache;
    return &cache;
}

TrieCache::TrieCache() : root_(std::make_shared<TrieNode>()), current_(root_.get()) {}

TrieNode *TrieCache::Current() const
{
    return current_;
}

void TrieCache::SetCurrent(std::list<std::shared_ptr<TrieNode>>::iterator &it)
{
    auto &successors = current_->successors;
    current_ = it->get();
    current_->hit_counter++;
    if (it != successors.begin())
        successors.splice(successors.begin(), successors, it); // most recently used first
}

void TrieCache::ResetCurrent()
{
    current_ = root_.get();
}

void TrieCache::Insert(NodePtr ir_node)
{
    auto node = std::make_shared<TrieNode>(std::move(ir_node));
    current_->successors.push_front(node);
    current_ = node.get();
}

void TrieCache::Clear()
{
    ResetCurrent();
    root_->successors.clear(); // recursive destruction
}

void TrieCache::DumpToDotFile(const std::string &file_name)
{
    std::ofstream out(file_name);
    out << "digraph G {\n";
    DumpToDotFile(out, root_.get());
    out << "}\n";
}

void TrieCache::DumpToDotFile(std::ofstream &out, const TrieNode *node)
{
    for (const auto &s : node->successors) {
        out << node->unique_id << " -> " << s->unique_id << "\n";
        out << s->unique_id << "[label=\"" << s->ir_node->name << ", " << s->hit_counter << " hits\"]\n";
        DumpToDotFile(out, s.get());
    }
}

} // namespace baseline
