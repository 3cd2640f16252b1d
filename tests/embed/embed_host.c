/* embed_host.c - a C runtime that links libircache, fills the default cache
 * and embeds CPython: the interpreter's `import ircache` must bind to this
 * very library, see the host's nodes, dump them and reset them.
 *
 * usage: embed_host PYTHON SCRATCH_DIR
 *   PYTHON       the interpreter whose environment has ircache installed
 *                (a virtual environment's python works)
 *   SCRATCH_DIR  where the dump goes
 * Exit 0 on success, 77 (skip) when ircache is not importable and
 * IRCACHE_REQUIRE_EMBED is unset, 1 on failure. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ircache.h"

#define CHAIN 100

static _Atomic int released;

static void count_release(void *payload, void *ctx)
{
    (void)payload;
    (void)ctx;
    atomic_fetch_add(&released, 1);
}

static const ircache_owner host_owner = {NULL, count_release, NULL};

static int fail(const char *what)
{
    fprintf(stderr, "embed_host: %s\n", what);
    return 1;
}

/* The runtime's side: one traced step of CHAIN ops, then a replay. */
static int trace_from_c(void)
{
    ircache *c = ircache_default();
    static int payloads[CHAIN];
    char key[32];
    for (int i = 0; i < CHAIN; i++) {
        int n = snprintf(key, sizeof key, "host-op-%d", i);
        if (ircache_insert(c, key, (size_t)n, i % 2 ? "aten::add" : "aten::mm", &payloads[i], &host_owner) != 0)
            return fail(ircache_last_error());
    }
    ircache_mark_step(c);
    for (int i = 0; i < CHAIN; i++) {
        int n = snprintf(key, sizeof key, "host-op-%d", i);
        if (ircache_lookup(c, key, (size_t)n) != &payloads[i])
            return fail("the host's replay missed");
    }
    ircache_mark_step(c);
    return 0;
}

static int start_python(const char *python)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    /* Naming the interpreter lets Python find its prefix (and a virtual
     * environment's site-packages) as if it had been started itself. */
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, python);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    return PyStatus_Exception(status) ? fail("cannot start Python") : 0;
}

/* A host may start Python again after finalizing it. The node the first
 * interpreter left behind holds an object of that interpreter, whose table
 * is gone: replacing it from the second must release nothing there (the
 * second's ids start again where the first's did). The second's own
 * objects are released as usual. */
static int second_interpreter(const char *python)
{
    if (start_python(python) != 0)
        return 1;
    int rc = PyRun_SimpleString("import gc, weakref, ircache\n"
                                "class Node: pass\n"
                                "node = Node()\n"
                                "cache = ircache.default_cache()\n"
                                "cache.mark_step()\n"
                                "cache.insert(b'left', node, 'aten::left')\n"
                                "cache.mark_step()\n"
                                "assert cache.lookup(b'left') is node, 'the replaced release took the new object'\n"
                                "assert ircache.stats().nodes == 1\n"
                                "mine = weakref.ref(node)\n"
                                "cache.mark_step()\n"
                                "cache.insert(b'left', Node(), 'aten::left')\n"
                                "del node\n"
                                "gc.collect()\n"
                                "assert mine() is None, 'a replaced object of the second interpreter stays'\n"
                                "ircache.reset()\n");
    if (Py_FinalizeEx() != 0 || rc != 0)
        return fail("the second interpreter's checks failed (see above)");
    printf("embed_host: Python saw %d host nodes, dumped and reset them; %d releases ran; "
           "a second interpreter found its own node\n",
           CHAIN, atomic_load(&released));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PYTHON SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    /* Before Python starts: its os.environ is a copy taken then. */
    if (setenv("IRCACHE_EMBED_DIR", argv[2], 1) != 0)
        return fail("setenv");
    if (trace_from_c() != 0 || start_python(argv[1]) != 0)
        return 1;

    if (PyRun_SimpleString("import ircache") != 0) {
        Py_FinalizeEx();
        if (getenv("IRCACHE_REQUIRE_EMBED") != NULL)
            return fail("the embedded interpreter cannot import ircache");
        fprintf(stderr, "embed_host: skipped: ircache is not installed for %s\n", argv[1]);
        return 77;
    }

    char script[4096];
    snprintf(script, sizeof script,
             "import ircache, os\n"
             "from ircache._ffi import ffi, lib\n"
             "host = %llu\n"
             "mine = int(ffi.cast('uintptr_t', lib.ircache_default()))\n"
             "assert mine == host, f'two libircache instances: {mine:#x} != {host:#x}'\n"
             "s = ircache.stats()\n"
             "assert s.nodes == %d, s\n"
             "assert s.hits == %d and s.inserts == %d, s\n"
             "assert s.ops['aten::mm'].inserts == %d and s.ops['aten::mm'].reused == %d, s.ops\n"
             "path = os.path.join(%s, 'host-trie.dot')\n"
             "ircache.dump(path)\n"
             "text = open(path).read()\n"
             "assert text.startswith('digraph G {\\n0 -> 1\\n') and text.endswith('}\\n'), text[:80]\n"
             "assert text.count('[label=') == %d, text.count('[label=')\n"
             "ircache.reset()\n"
             "assert ircache.stats().nodes == 0\n"
             "ircache.default_cache().insert(b'left', object(), 'aten::left')\n",
             (unsigned long long)(uintptr_t)ircache_default(), CHAIN, CHAIN, CHAIN, CHAIN / 2, CHAIN / 2,
             "os.environ['IRCACHE_EMBED_DIR']", CHAIN);
    int rc = PyRun_SimpleString(script);
    if (Py_FinalizeEx() != 0 || rc != 0)
        return fail("the embedded interpreter's checks failed (see above)");

    /* Back in the host: the reset from Python emptied the cache the host
     * uses, and every payload the host stored went back through its owner;
     * the one node Python stored after it stays. */
    ircache_stats s;
    if (ircache_get_stats(ircache_default(), &s) != 0 || s.nodes != 1 || s.clears != 1)
        return fail("the host does not see the reset");
    if (atomic_load(&released) != CHAIN) {
        fprintf(stderr, "embed_host: %d of %d payloads released\n", atomic_load(&released), CHAIN);
        return 1;
    }
    return second_interpreter(argv[1]) != 0 ? 1 : 0;
}
