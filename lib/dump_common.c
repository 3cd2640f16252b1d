/* dump_common.c - the frame around every dump. */
#include "dump_common.h"

#include <string.h>

#include "kinds.h"
#include "walk.h"

struct dump_walk {
    ircache__file *f;
    void (*visit)(ircache__file *f, const ircache__node *n);
};

static int visit_node(const ircache__node *n, void *ctx)
{
    struct dump_walk *w = ctx;
    w->visit(w->f, n);
    /* A write error (disk full) ends the walk: the file is lost anyway. */
    return w->f->err != 0 ? IRCACHE_EIO : 0;
}

int ircache__dump_with(ircache *c, const char *path, const char *header, const char *footer,
                       void (*visit)(ircache__file *f, const ircache__node *n))
{
    ircache__file f;
    int rc = ircache__file_open(&f, path);
    if (rc != 0)
        return rc;
    ircache__file_put(&f, header, strlen(header));
    struct dump_walk w = {&f, visit};
    ircache__lock(c);
    rc = ircache__walk(c, visit_node, &w);
    ircache__unlock(c);
    if (rc == IRCACHE_ENOMEM) {
        ircache__file_abort(&f);
        return rc;
    }
    ircache__file_put(&f, footer, strlen(footer));
    return ircache__file_commit(&f);
}
