/* dump_json.c - the trie as one JSON document, nodes in the DOT order. */
#include "dump.h"

#include "dump_common.h"

static void put_hex(ircache__file *f, const unsigned char *bytes, uint32_t len)
{
    static const char digits[] = "0123456789abcdef";
    char chunk[128];
    size_t k = 0;
    for (uint32_t i = 0; i < len; i++) {
        chunk[k++] = digits[bytes[i] >> 4];
        chunk[k++] = digits[bytes[i] & 15];
        if (k == sizeof chunk) {
            ircache__file_put(f, chunk, k);
            k = 0;
        }
    }
    ircache__file_put(f, chunk, k);
}

static void put_node(ircache__file *f, const ircache__node *n, const ircache__text *label)
{
    static const char root[] = "{\"id\": 0, \"parent\": null, \"op\": null, \"hits\": 0, \"key\": \"\"}";
    if (n->parent == NULL) {
        ircache__file_put(f, root, sizeof root - 1);
        return;
    }
    char line[IRCACHE__DUMP_LINE];
    char *p = IRCACHE__LITERAL(line, ",\n{\"id\": ");
    p = ircache__decimal(p, ircache__node_id(n));
    p = IRCACHE__LITERAL(p, ", \"parent\": ");
    p = ircache__decimal(p, ircache__node_id(n->parent));
    p = IRCACHE__LITERAL(p, ", \"op\": \"");
    ircache__file_put(f, line, (size_t)(p - line));
    ircache__file_put(f, label->data, label->len);
    p = IRCACHE__LITERAL(line, "\", \"hits\": ");
    p = ircache__decimal(p, ircache__node_hits(n));
    p = IRCACHE__LITERAL(p, ", \"key\": \"");
    ircache__file_put(f, line, (size_t)(p - line));
    put_hex(f, ircache__node_key(n), ircache__node_key_len(n));
    ircache__file_put(f, "\"}", 2);
}

int ircache__dump_json(ircache *c, const char *path)
{
    return ircache__dump_with(c, path, "{\"format\": \"ircache-trie\", \"version\": 1, \"nodes\": [\n",
                              "\n]}\n", IRCACHE__QUOTE_JSON, put_node);
}
