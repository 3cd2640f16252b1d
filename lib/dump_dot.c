/* dump_dot.c - the trie in PyTorch's DOT layout:
 *   digraph G {
 *   PARENT -> CHILD
 *   CHILD[label="OP, N hits"]
 *   }                                                                     */
#include "dump.h"

#include "dump_common.h"
#include "escape.h"

static void put_node(ircache__file *f, const ircache__node *n)
{
    if (n->parent == NULL)
        return; /* the root: id 0, no line of its own */
    ircache__file_put_u64(f, ircache__node_id(n->parent));
    IRCACHE__PUT_LITERAL(f, " -> ");
    ircache__file_put_u64(f, ircache__node_id(n));
    IRCACHE__PUT_LITERAL(f, "\n");
    ircache__file_put_u64(f, ircache__node_id(n));
    IRCACHE__PUT_LITERAL(f, "[label=\"");
    ircache__put_quoted(f, ircache__node_label(n), IRCACHE__QUOTE_DOT);
    IRCACHE__PUT_LITERAL(f, ", ");
    ircache__file_put_u64(f, ircache__node_hits(n));
    IRCACHE__PUT_LITERAL(f, " hits\"]\n");
}

int ircache__dump_dot(ircache *c, const char *path)
{
    return ircache__dump_with(c, path, "digraph G {\n", "}\n", put_node);
}
