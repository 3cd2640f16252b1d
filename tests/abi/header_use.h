/* header_use.h - takes the address of every public function and names every
 * public type and macro, so that compiling it in C99 and in C++ proves the
 * header valid in both. */
#include "ircache.h"

static int uses_every_declaration(void)
{
    void (*functions[])(void) = {
        (void (*)(void))ircache_new,           (void (*)(void))ircache_free,
        (void (*)(void))ircache_default,       (void (*)(void))ircache_lookup,
        (void (*)(void))ircache_lookup_owned,  (void (*)(void))ircache_insert,
        (void (*)(void))ircache_position_payload,
        (void (*)(void))ircache_mark_step,     (void (*)(void))ircache_clear,
        (void (*)(void))ircache_dump_dot,      (void (*)(void))ircache_dump_json,
        (void (*)(void))ircache_dump,          (void (*)(void))ircache_reset,
        (void (*)(void))ircache_get_stats,     (void (*)(void))ircache_get_op_stats,
        (void (*)(void))ircache_set_max_nodes, (void (*)(void))ircache_set_enabled,
        (void (*)(void))ircache_is_enabled,    (void (*)(void))ircache_strerror,
        (void (*)(void))ircache_last_error,    (void (*)(void))ircache_last_errno,
        (void (*)(void))ircache_version,       (void (*)(void))ircache_version_number,
    };
    ircache_owner owner = {0, 0, 0};
    ircache_stats stats;
    ircache_op_stats op;
    int codes[] = {IRCACHE_EINVAL, IRCACHE_ENOMEM, IRCACHE_EIO, IRCACHE_EDISABLED};
    (void)owner;
    (void)stats;
    (void)op;
    (void)codes;
    for (unsigned i = 0; i < sizeof functions / sizeof functions[0]; i++)
        if (functions[i] == 0)
            return 1;
    return ircache_version_number() == IRCACHE_VERSION_NUMBER ? 0 : 1;
}
