/* dotfile.h - a DOT dump file read back as a whole, and the directory it was
 * written in: no partial file, nothing left behind. */
#ifndef IRCACHE_TEST_DOTFILE_H
#define IRCACHE_TEST_DOTFILE_H

#include <stddef.h>

/* Reads path and checks that it is one complete DOT dump (include/ircache.h):
 * "digraph G {\n" first, "}\n" last, every line between an edge or a label,
 * each node's label right after its edge, each node labelled once, and every
 * parent the root (0) or a node labelled before it (pre-order). label_ok,
 * when not NULL, is asked about every node's op (unescaped, NUL-terminated).
 * Returns the number of nodes, or -1 with the reason in err. */
long dot_file_check(const char *path, int (*label_ok)(const char *op, void *ctx), void *ctx,
                    char *err, size_t err_size);

/* Entries of dir that look like a dump's temporary file (a name starting
 * with '.' or ending in ".tmp"); -1 if dir cannot be read. */
int count_temp_files(const char *dir);

#endif
