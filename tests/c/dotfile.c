/* dotfile.c - a DOT dump file read back as a whole (see dotfile.h). */
#define _GNU_SOURCE

#include "dotfile.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpcheck.h"
#include "support.h"

typedef struct placed {
    uint64_t id;
    size_t at; /* the node's place in the file */
} placed;

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const placed *)a)->id, y = ((const placed *)b)->id;
    return x < y ? -1 : x > y;
}

long dot_file_check(const char *path, int (*label_ok)(const char *op, void *ctx), void *ctx,
                    char *err, size_t err_size)
{
    size_t len;
    char *text = read_file(path, &len);
    if (text == NULL) {
        snprintf(err, err_size, "%s: cannot be read", path);
        return -1;
    }
    dot_graph g;
    char why[256];
    if (dot_parse(text, len, &g, why, sizeof why) != 0) {
        snprintf(err, err_size, "%s: %s", path, why);
        free(text);
        return -1;
    }
    free(text);
    long result = (long)g.n;
    placed *ids = malloc((g.n ? g.n : 1) * sizeof *ids);
    if (ids == NULL) {
        perror("malloc");
        exit(1);
    }
    for (size_t i = 0; i < g.n; i++)
        ids[i] = (placed){g.nodes[i].id, i};
    qsort(ids, g.n, sizeof *ids, by_id);
    for (size_t i = 0; i < g.n && result >= 0; i++) {
        if (ids[i].id == 0 || (i > 0 && ids[i - 1].id == ids[i].id)) {
            snprintf(err, err_size, "%s: node %" PRIu64 " is labelled twice (or is the root)", path,
                     ids[i].id);
            result = -1;
        }
    }
    for (size_t i = 0; i < g.n && result >= 0; i++) {
        const dot_node *node = &g.nodes[i];
        placed key = {node->parent, 0};
        const placed *parent = bsearch(&key, ids, g.n, sizeof *ids, by_id);
        if (node->parent != 0 && (parent == NULL || parent->at >= i)) {
            snprintf(err, err_size,
                     "%s: the parent %" PRIu64 " of %" PRIu64 " is not labelled before it", path,
                     node->parent, node->id);
            result = -1;
        } else if (label_ok != NULL && !label_ok(node->op, ctx)) {
            snprintf(err, err_size, "%s: node %" PRIu64 " has an unexpected label \"%s\"", path,
                     node->id, node->op);
            result = -1;
        }
    }
    free(ids);
    dot_free(&g);
    return result;
}

int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || (len >= 4 && strcmp(e->d_name + len - 4, ".tmp") == 0))
            n++;
    }
    closedir(d);
    return n;
}
