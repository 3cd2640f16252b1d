/* dump_json.c - the trie as one JSON document, nodes in the DOT order. */
#include "dump.h"

#include "dump_common.h"
#include "escape.h"

static void put_hex(ircache__file *f, const unsigned char *bytes, uint32_t len)
{
    static const char digits[] = "0123456789abcdef";
    char pair[2];
    for (uint32_t i = 0; i < len; i++) {
        pair[0] = digits[bytes[i] >> 4];
        pair[1] = digits[bytes[i] & 15];
        ircache__file_put(f, pair, 2);
    }
}

static void put_node(ircache__file *f, const ircache__node *n)
{
    if (n->parent == NULL) {
        IRCACHE__PUT_LITERAL(f, "{\"id\": 0, \"parent\": null, \"op\": null, \"hits\": 0, \"key\": \"\"}");
        return;
    }
    IRCACHE__PUT_LITERAL(f, ",\n{\"id\": ");
    ircache__file_put_u64(f, ircache__node_id(n));
    IRCACHE__PUT_LITERAL(f, ", \"parent\": ");
    ircache__file_put_u64(f, ircache__node_id(n->parent));
    IRCACHE__PUT_LITERAL(f, ", \"op\": \"");
    ircache__put_quoted(f, ircache__node_label(n), IRCACHE__QUOTE_JSON);
    IRCACHE__PUT_LITERAL(f, "\", \"hits\": ");
    ircache__file_put_u64(f, ircache__node_hits(n));
    IRCACHE__PUT_LITERAL(f, ", \"key\": \"");
    put_hex(f, ircache__node_key(n), ircache__node_key_len(n));
    IRCACHE__PUT_LITERAL(f, "\"}");
}

int ircache__dump_json(ircache *c, const char *path)
{
    return ircache__dump_with(c, path, "{\"format\": \"ircache-trie\", \"version\": 1, \"nodes\": [\n",
                              "\n]}\n", put_node);
}
