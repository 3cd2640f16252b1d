/* release.c - graves: bounded batches of releases outside the lock. */
#include "release.h"

#include "alloc.h"
#include "kinds.h"

/* n's payload is copied out: its slot goes back to the store. */
static void free_slot(ircache *c, const ircache__grave *g, ircache__node *n)
{
    if (g->unsettled)
        ircache__node_free_later(&c->store, n);
    else
        ircache__node_free(&c->store, n);
}

static void take_batch(ircache *c, ircache__grave *g)
{
    g->batch_count = 0;
    while (g->dead != NULL && g->batch_count < IRCACHE__RELEASE_BATCH) {
        ircache__node *n = g->dead;
        g->dead = n->parent;
        g->batch[g->batch_count++] = ircache__release_of(n);
        free_slot(c, g, n);
    }
}

static void link_grave(ircache *c, ircache__grave *g)
{
    g->prev = NULL;
    g->next = c->graves;
    if (c->graves != NULL)
        c->graves->prev = g;
    c->graves = g;
}

static void unlink_grave(ircache *c, ircache__grave *g)
{
    if (g->prev != NULL)
        g->prev->next = g->next;
    else
        c->graves = g->next;
    if (g->next != NULL)
        g->next->prev = g->prev;
}

/* Copies every release left on g into one array, freeing the slots; keeps
 * them on g when the array cannot be had. */
static void take_rest(ircache *c, ircache__grave *g)
{
    size_t count = 0;
    for (ircache__node *n = g->dead; n != NULL; n = n->parent)
        count++;
    g->rest_count = 0;
    g->rest = count > 0 ? ircache__malloc(count * sizeof *g->rest) : NULL;
    if (g->rest == NULL)
        return;
    while (g->dead != NULL) {
        ircache__node *n = g->dead;
        g->dead = n->parent;
        g->rest[g->rest_count++] = ircache__release_of(n);
        free_slot(c, g, n);
    }
}

void ircache__grave_open(ircache *c, ircache__grave *g, const ircache__dead_list *dead)
{
    g->dead = dead->head;
    g->unsettled = dead->unsettled;
    g->rest = NULL;
    g->rest_count = 0;
    take_batch(c, g);
    if (g->dead != NULL)
        take_rest(c, g);
    g->registered = g->dead != NULL;
    if (g->registered)
        link_grave(c, g);
}

void ircache__grave_close(ircache *c, ircache__grave *g)
{
    for (size_t i = 0; i < g->rest_count; i++)
        ircache__release_call(g->rest[i]);
    ircache__free(g->rest);
    g->rest = NULL;
    for (;;) {
        for (size_t i = 0; i < g->batch_count; i++)
            ircache__release_call(g->batch[i]);
        if (!g->registered)
            return;
        ircache__lock(c);
        take_batch(c, g);
        if (g->dead == NULL) {
            unlink_grave(c, g);
            g->registered = 0;
        }
        ircache__unlock(c);
    }
}

void ircache__graves_take_over(ircache *c)
{
    for (ircache__grave *g = c->graves; g != NULL; g = g->next)
        g->dead = NULL;
}
