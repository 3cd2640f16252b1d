/* dump_dot.c - the trie in PyTorch's DOT layout:
 *   digraph G {
 *   PARENT -> CHILD
 *   CHILD[label="OP, N hits"]
 *   }                                                                     */
#include "dump.h"

#include "dump_common.h"

/* Formats n's two lines at line, in the file's buffer with room for
 * IRCACHE__DUMP_LINE bytes, and keeps them there. Formatted in place: a
 * copy of the finished line would read back bytes stored a moment ago in
 * pieces of one and two, which the processor cannot forward to wider loads
 * (measured on 1,000,000 nodes: the dump's own CPU time 0.86 times that of
 * a line built on the stack and copied). */
static void format_node(ircache__file *f, char *line, const ircache__node *n, const ircache__text *label)
{
    char *p = ircache__decimal(line, ircache__node_id(n->parent));
    p = IRCACHE__LITERAL(p, " -> ");
    char *id = p; /* written once, copied to the label line */
    p = ircache__decimal(p, ircache__node_id(n));
    size_t id_len = (size_t)(p - id);
    *p++ = '\n';
    memcpy(p, id, id_len);
    p += id_len;
    p = IRCACHE__LITERAL(p, "[label=\"");
    /* Two numbers of 20 digits and the literals around them fit with room
     * to spare; a label that does not is written on its own. */
    if (label->len <= IRCACHE__DUMP_LINE - (size_t)(p - line) - 32) {
        if (label->len > 0) /* an empty label may have no buffer */
            memcpy(p, label->data, label->len);
        p += label->len;
    } else {
        ircache__file_advance(f, (size_t)(p - line));
        ircache__file_put(f, label->data, label->len);
        p = line = (char *)ircache__file_room(f, IRCACHE__DUMP_LINE);
        if (p == NULL)
            return; /* a write failed: the walk ends, commit reports it */
    }
    p = IRCACHE__LITERAL(p, ", ");
    p = ircache__decimal(p, ircache__node_hits(n));
    p = IRCACHE__LITERAL(p, " hits\"]\n");
    ircache__file_advance(f, (size_t)(p - line));
}

static void put_node(ircache__file *f, const ircache__node *n, const ircache__text *label)
{
    if (n->parent == NULL)
        return; /* the root: id 0, no line of its own */
    char *line = (char *)ircache__file_room(f, IRCACHE__DUMP_LINE);
    if (line != NULL) /* else a write failed: the walk ends, commit reports it */
        format_node(f, line, n, label);
}

int ircache__dump_dot(ircache *c, const char *path)
{
    return ircache__dump_with(c, path, "digraph G {\n", "}\n", IRCACHE__QUOTE_DOT, put_node);
}
