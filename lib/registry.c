/* registry.c - the list of caches, and what fork() does to them.
 *
 * Before fork the forking thread takes the registry lock and every cache
 * lock, so the child starts with consistent tries and no lock held by a
 * thread that does not exist there. The child then forgets the positions of
 * those threads: one of them may have been inside a lookup, and a grace
 * period in the child would wait for it forever. */
#include "registry.h"

#include <pthread.h>

#include "position.h"
#include "trie.h"

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static ircache *registry_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

void ircache__registry_lock(void)
{
    (void)pthread_mutex_lock(&registry_mutex);
}

void ircache__registry_unlock(void)
{
    (void)pthread_mutex_unlock(&registry_mutex);
}

static void before_fork(void)
{
    ircache__registry_lock();
    for (ircache *c = registry_head; c != NULL; c = c->registry_next)
        ircache__lock(c);
}

static void after_fork_in_parent(void)
{
    for (ircache *c = registry_head; c != NULL; c = c->registry_next)
        ircache__unlock(c);
    ircache__registry_unlock();
}

static void after_fork_in_child(void)
{
    for (ircache *c = registry_head; c != NULL; c = c->registry_next) {
        ircache__positions_forget_other_threads(c);
        /* Graves of threads that do not exist here: their nodes stay in the
         * store (DEAD) and a clear or free releases them. */
        c->graves = NULL;
        ircache__trie_forget_clearings(c);
        ircache__unlock(c);
    }
    ircache__registry_unlock();
}

static void install_fork_handlers(void)
{
    /* Failing here only loses fork safety; there is nobody to tell. */
    (void)pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

void ircache__registry_add(ircache *c)
{
    (void)pthread_once(&atfork_once, install_fork_handlers);
    ircache__registry_lock();
    /* A fork during the default cache's creation makes the child create it
     * again (pthread_once starts over there): it is in the list already. */
    for (ircache *known = registry_head; known != NULL; known = known->registry_next) {
        if (known == c) {
            ircache__registry_unlock();
            return;
        }
    }
    c->registry_prev = NULL;
    c->registry_next = registry_head;
    if (registry_head != NULL)
        registry_head->registry_prev = c;
    registry_head = c;
    ircache__registry_unlock();
}

void ircache__registry_remove_locked(ircache *c)
{
    if (c->registry_prev != NULL)
        c->registry_prev->registry_next = c->registry_next;
    else
        registry_head = c->registry_next;
    if (c->registry_next != NULL)
        c->registry_next->registry_prev = c->registry_prev;
}
