/* dump_common.c - the frame around every dump. */
#include "dump_common.h"

#include <string.h>

#include "alloc.h"
#include "cancel.h"
#include "error.h"
#include "kinds.h"
#include "position.h"
#include "settle.h"
#include "walk.h"

struct dump_walk {
    ircache__file *f;
    ircache__quoting how;
    ircache__text *labels; /* escaped labels, by op index, filled as met */
    void (*visit)(ircache__file *f, const ircache__node *n, const ircache__text *label);
};

static int visit_node(const ircache__node *n, void *ctx)
{
    struct dump_walk *w = ctx;
    const ircache__text *label = NULL;
    const ircache__kind *kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    if (kind != NULL) {
        ircache__text *t = &w->labels[kind->op->index];
        if (t->len == 0) /* not escaped yet, or empty: cheap to do again */
            ircache__quote(t, kind->op->label, w->how);
        if (t->failed)
            return ircache__fail(IRCACHE_ENOMEM, "no memory to escape the label of %zu bytes",
                                 strlen(kind->op->label));
        label = t;
    }
    w->visit(w->f, n, label);
    /* A write error (disk full) ends the walk: the file is lost anyway. */
    return w->f->err != 0 ? IRCACHE_EIO : 0;
}

static int dump_uncancelled(ircache *c, const char *path, const char *header, const char *footer,
                            ircache__quoting how,
                            void (*visit)(ircache__file *f, const ircache__node *n, const ircache__text *label))
{
    ircache__file f;
    int rc = ircache__file_open(&f, path);
    if (rc != 0)
        return rc;
    ircache__file_put(&f, header, strlen(header));
    ircache__position *self = ircache__position_find(c);
    ircache__lock(c);
    ircache__settle_for_reading(c, self);
    size_t ops = c->kinds.ops.count;
    struct dump_walk w = {&f, how, ircache__calloc(ops ? ops : 1, sizeof(ircache__text)), visit};
    rc = w.labels == NULL ? ircache__fail(IRCACHE_ENOMEM, "no memory to dump %zu labels", ops)
                          : ircache__walk(c, visit_node, &w);
    ircache__unlock(c);
    for (size_t i = 0; w.labels != NULL && i < ops; i++)
        ircache__text_free(&w.labels[i]);
    ircache__free(w.labels);
    if (rc == IRCACHE_ENOMEM) {
        ircache__file_abort(&f);
        return rc;
    }
    ircache__file_put(&f, footer, strlen(footer));
    return ircache__file_commit(&f);
}

int ircache__dump_with(ircache *c, const char *path, const char *header, const char *footer,
                       ircache__quoting how,
                       void (*visit)(ircache__file *f, const ircache__node *n, const ircache__text *label))
{
    int cancel = ircache__cancel_off();
    int rc = dump_uncancelled(c, path, header, footer, how, visit);
    ircache__cancel_restore(cancel);
    return rc;
}
