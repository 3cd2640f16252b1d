/* dumpcheck.c - strict readers of the DOT and JSON dumps. They are written
 * from the layouts in include/ircache.h, not from the library's code, so
 * that a dump the library gets wrong is caught here. */
#define _GNU_SOURCE

#include "dumpcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        perror("realloc");
        exit(1);
    }
    return q;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err != NULL && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- UTF-8 -------------------------------------------------------------- */

int utf8_valid(const void *s, size_t n, size_t *bad_at)
{
    const unsigned char *p = s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* no overlong 3-byte forms */
            if (c == 0xed)
                hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* no overlong 4-byte forms */
            if (c == 0xf4)
                hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            goto bad; /* 0x80..0xc1 as a lead, 0xf5..0xff */
        }
        if (n - i <= need)
            goto bad;
        if (p[i + 1] < lo || p[i + 1] > hi)
            goto bad;
        for (size_t k = 2; k <= need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                goto bad;
        i += need + 1;
    }
    return 1;
bad:
    if (bad_at != NULL)
        *bad_at = i;
    return 0;
}

/* ---- DOT ---------------------------------------------------------------- */

/* A decimal id: "0" or no leading zero, at most 19 digits. */
static int parse_id(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (digits == 19)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || (digits > 1 && **pp == '0'))
        return -1;
    *pp = p;
    *out = v;
    return 0;
}

static int starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* Parses the label line body after "ID[label=\"" up to the end of line. */
static int parse_label(const char *p, const char *eol, dot_node *node, uint64_t line, char *err,
                       size_t err_size)
{
    const char *piece = p;
    char *dec = xmalloc((size_t)(eol - p) + 1);
    char *raw = xmalloc((size_t)(eol - p) + 1);
    node->raw = raw; /* the caller frees it, parsed or not */
    size_t dn = 0, rn = 0;
    node->pieces = 1;
    for (;;) {
        if (p == eol) {
            free(dec);
            return fail(err, err_size, "line %" PRIu64 ": the label is not closed", line);
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"' && (size_t)(p - piece) > DOT_PIECE_MAX + strlen(", 4294967295 hits")) {
            free(dec);
            return fail(err, err_size, "line %" PRIu64 ": a quoted string of %zu bytes", line,
                        (size_t)(p - piece));
        }
        if (c == '"' && starts(p, eol, "\" + \"")) {
            if ((size_t)(p - piece) > DOT_PIECE_MAX) {
                free(dec);
                    return fail(err, err_size, "line %" PRIu64 ": a piece of %zu bytes", line,
                            (size_t)(p - piece));
            }
            p += strlen("\" + \"");
            piece = p;
            node->pieces++;
            continue;
        }
        if (c == '"')
            break;
        if (c < 0x20 || c == 0x7f) {
            free(dec);
            return fail(err, err_size, "line %" PRIu64 ": raw control byte 0x%02x in a label", line,
                        c);
        }
        if (c == '\\') {
            if (p + 1 == eol) {
                free(dec);
                    return fail(err, err_size, "line %" PRIu64 ": a backslash ends the line", line);
            }
            char e = p[1];
            if (e == '"' || e == '\\')
                dec[dn++] = e;
            else if (e == 'n')
                dec[dn++] = '\n';
            else {
                free(dec);
                    return fail(err, err_size, "line %" PRIu64 ": unexpected escape \\%c", line, e);
            }
            raw[rn++] = '\\';
            raw[rn++] = e;
            p += 2;
            continue;
        }
        dec[dn++] = (char)c;
        raw[rn++] = (char)c;
        p++;
    }
    raw[rn] = '\0';
    node->raw_len = rn;
    if (!(eol - p == 2 && p[1] == ']')) {
        free(dec);
        return fail(err, err_size, "line %" PRIu64 ": text after the closing quote", line);
    }
    /* dec is "OP, N hits": split from the end, OP may contain anything. */
    const char *suffix = " hits";
    size_t sl = strlen(suffix);
    if (dn < sl || memcmp(dec + dn - sl, suffix, sl) != 0) {
        free(dec);
        return fail(err, err_size, "line %" PRIu64 ": the label does not end in \" hits\"", line);
    }
    size_t digits_end = dn - sl, digits_start = digits_end;
    while (digits_start > 0 && dec[digits_start - 1] >= '0' && dec[digits_start - 1] <= '9')
        digits_start--;
    const char *d = dec + digits_start;
    uint64_t hits;
    if (digits_start == digits_end || parse_id(&d, dec + digits_end, &hits) != 0 ||
        d != dec + digits_end || digits_start < 2 || dec[digits_start - 2] != ',' ||
        dec[digits_start - 1] != ' ') {
        free(dec);
        return fail(err, err_size, "line %" PRIu64 ": the label is not \"OP, N hits\"", line);
    }
    node->hits = hits;
    node->op_len = digits_start - 2;
    dec[node->op_len] = '\0';
    node->op = dec;
    return 0;
}

int dot_parse(const char *text, size_t len, dot_graph *out, char *err, size_t err_size)
{
    out->nodes = NULL;
    out->n = 0;
    const char *p = text, *end = text + len;
    size_t cap = 0;
    uint64_t line = 1;
    if (len == 0 || text[len - 1] != '\n')
        return fail(err, err_size, "the file does not end with a newline");
    if (!starts(p, end, "digraph G {\n"))
        return fail(err, err_size, "line 1 is not \"digraph G {\"");
    p += strlen("digraph G {\n");
    for (;;) {
        line++;
        if (p == end)
            goto bad_end;
        if (end - p == 2 && p[0] == '}' && p[1] == '\n')
            return 0;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        dot_node node;
        memset(&node, 0, sizeof node);
        if (parse_id(&p, eol, &node.parent) != 0 || !starts(p, eol, " -> "))
            goto bad_edge;
        p += 4;
        if (parse_id(&p, eol, &node.id) != 0 || p != eol)
            goto bad_edge;
        p = eol + 1;
        line++;
        if (p == end)
            goto bad_end;
        eol = memchr(p, '\n', (size_t)(end - p));
        uint64_t id;
        if (parse_id(&p, eol, &id) != 0 || id != node.id || !starts(p, eol, "[label=\"")) {
            dot_free(out);
            return fail(err, err_size, "line %" PRIu64 ": not \"%" PRIu64 "[label=\\\"...\"",
                        line, node.id);
        }
        p += strlen("[label=\"");
        if (parse_label(p, eol, &node, line, err, err_size) != 0) {
            free(node.raw);
            dot_free(out);
            return -1;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->nodes = xrealloc(out->nodes, cap * sizeof *out->nodes);
        }
        out->nodes[out->n++] = node;
        p = eol + 1;
    }
bad_edge:
    dot_free(out);
    return fail(err, err_size, "line %" PRIu64 ": not \"PARENT -> CHILD\"", line);
bad_end:
    dot_free(out);
    return fail(err, err_size, "line %" PRIu64 ": the file ends before \"}\"", line);
}

void dot_free(dot_graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->nodes[i].raw);
        free(g->nodes[i].op);
    }
    free(g->nodes);
    g->nodes = NULL;
    g->n = 0;
}

char *dot_unpicture(const char *op, size_t op_len, size_t *len)
{
    char *out = xmalloc(op_len + 1);
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)op;
    for (size_t i = 0; i < op_len;) {
        /* U+2400..U+2421 is E2 90 80..E2 90 A1. */
        if (i + 2 < op_len && p[i] == 0xe2 && p[i + 1] == 0x90 && p[i + 2] >= 0x80 &&
            p[i + 2] <= 0xa1 && p[i + 2] != 0xa0) {
            out[n++] = p[i + 2] == 0xa1 ? 0x7f : (char)(p[i + 2] - 0x80);
            i += 3;
        } else {
            out[n++] = (char)p[i++];
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/* ---- JSON --------------------------------------------------------------- */

typedef struct jparser {
    const char *p, *end;
    char *err;
    size_t err_size;
    int depth;
} jparser;

static json *jnew(json_type t)
{
    json *v = xmalloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

static void jspace(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jhex4(jparser *j, unsigned *out)
{
    if (j->end - j->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    j->p += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string at j->p (on its opening quote); decoded into *out, *len. */
static int jstring(jparser *j, char **out, size_t *len)
{
    j->p++;
    const char *close = j->p;
    /* Decoded text is never longer than the source. */
    while (close < j->end && *close != '"')
        close += *close == '\\' ? 2 : 1;
    if (close >= j->end)
        return fail(j->err, j->err_size, "a string is not closed");
    char *s = xmalloc((size_t)(close - j->p) + 1);
    size_t n = 0;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) {
            free(s);
            return fail(j->err, j->err_size, "raw control byte 0x%02x in a string", c);
        }
        if (c != '\\') {
            s[n++] = (char)c;
            j->p++;
            continue;
        }
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': s[n++] = '"'; break;
        case '\\': s[n++] = '\\'; break;
        case '/': s[n++] = '/'; break;
        case 'b': s[n++] = '\b'; break;
        case 'f': s[n++] = '\f'; break;
        case 'n': s[n++] = '\n'; break;
        case 'r': s[n++] = '\r'; break;
        case 't': s[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (jhex4(j, &cp) != 0)
                goto bad_escape;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                goto bad_escape; /* a lone low surrogate */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (!(j->end - j->p >= 2 && j->p[0] == '\\' && j->p[1] == 'u'))
                    goto bad_escape;
                j->p += 2;
                if (jhex4(j, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                    goto bad_escape;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(s + n, cp);
            break;
        }
        default:
            goto bad_escape;
        }
    }
    j->p++;
    s[n] = '\0';
    *out = s;
    *len = n;
    return 0;
bad_escape:
    free(s);
    return fail(j->err, j->err_size, "a bad escape in a string");
}

static json *jvalue(jparser *j);

static json *jcontainer(jparser *j, int is_object)
{
    json *v = jnew(is_object ? JSON_OBJECT : JSON_ARRAY);
    size_t cap = 0;
    char close = is_object ? '}' : ']';
    j->p++;
    jspace(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        if (is_object) {
            size_t klen;
            jspace(j);
            if (j->p >= j->end || *j->p != '"') {
                fail(j->err, j->err_size, "an object member has no name");
                goto bad;
            }
            if (jstring(j, &key, &klen) != 0)
                goto bad;
            jspace(j);
            if (j->p >= j->end || *j->p != ':') {
                free(key);
                fail(j->err, j->err_size, "no ':' after a member name");
                goto bad;
            }
            j->p++;
        }
        json *item = jvalue(j);
        if (item == NULL) {
            free(key);
            goto bad;
        }
        if (v->n == cap) {
            cap = cap ? cap * 2 : 8;
            v->items = xrealloc(v->items, cap * sizeof *v->items);
            if (is_object)
                v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
        }
        if (is_object)
            v->keys[v->n] = key;
        v->items[v->n++] = item;
        jspace(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return v;
        }
        fail(j->err, j->err_size, "expected ',' or '%c'", close);
        goto bad;
    }
bad:
    json_free(v);
    return NULL;
}

static json *jnumber(jparser *j)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (j->p < j->end && *j->p >= '1' && *j->p <= '9')
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    else
        goto bad;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!(j->p < j->end && *j->p >= '0' && *j->p <= '9'))
            goto bad;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!(j->p < j->end && *j->p >= '0' && *j->p <= '9'))
            goto bad;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    json *v = jnew(JSON_NUMBER);
    v->len = (size_t)(j->p - s);
    v->str = xmalloc(v->len + 1);
    memcpy(v->str, s, v->len);
    v->str[v->len] = '\0';
    return v;
bad:
    fail(j->err, j->err_size, "a bad number");
    return NULL;
}

static json *jvalue(jparser *j)
{
    jspace(j);
    if (j->p >= j->end) {
        fail(j->err, j->err_size, "a value is missing");
        return NULL;
    }
    if (++j->depth > 64) {
        fail(j->err, j->err_size, "nested too deeply");
        return NULL;
    }
    json *v = NULL;
    switch (*j->p) {
    case '{':
    case '[':
        v = jcontainer(j, *j->p == '{');
        break;
    case '"':
        v = jnew(JSON_STRING);
        if (jstring(j, &v->str, &v->len) != 0) {
            free(v);
            v = NULL;
        }
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char *const words[] = {"true", "false", "null"};
        for (int i = 0; i < 3; i++)
            if (starts(j->p, j->end, words[i])) {
                v = jnew(i == 2 ? JSON_NULL : JSON_BOOL);
                v->boolean = i == 0;
                j->p += strlen(words[i]);
                break;
            }
        if (v == NULL)
            fail(j->err, j->err_size, "an unknown word");
        break;
    }
    default:
        v = jnumber(j);
    }
    j->depth--;
    return v;
}

json *json_parse(const char *text, size_t len, char *err, size_t err_size)
{
    jparser j = {text, text + len, err, err_size, 0};
    json *v = jvalue(&j);
    if (v == NULL)
        return NULL;
    jspace(&j);
    if (j.p != j.end) {
        json_free(v);
        fail(err, err_size, "text after the document");
        return NULL;
    }
    return v;
}

void json_free(json *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

const json *json_get(const json *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

int json_u64(const json *v, uint64_t *out)
{
    if (v == NULL || v->type != JSON_NUMBER)
        return 0;
    const char *p = v->str;
    uint64_t n;
    if (parse_id(&p, v->str + v->len, &n) != 0 || p != v->str + v->len)
        return 0;
    *out = n;
    return 1;
}

/* ---- Graphviz ----------------------------------------------------------- */

const char *find_graphviz(const char *program)
{
    static char found[4096];
    snprintf(found, sizeof found, "/usr/bin/%s", program);
    if (access(found, X_OK) == 0)
        return found;
    const char *path = getenv("PATH");
    size_t name = strlen(program);
    while (path != NULL && *path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        if (n > 0 && n + name + 2 < sizeof found) {
            memcpy(found, path, n);
            found[n] = '/';
            memcpy(found + n + 1, program, name + 1);
            if (access(found, X_OK) == 0)
                return found;
        }
        path = colon ? colon + 1 : NULL;
    }
    return NULL;
}

const char *find_dot(void)
{
    return find_graphviz("dot");
}

int run_graphviz(const char *program, const char *format, const char *path, char **stderr_text)
{
    char *dir = make_temp_dir();
    char *err_path = path_join(dir, "graphviz.stderr");
    char type[64];
    if (format != NULL)
        snprintf(type, sizeof type, "-T%s", format);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        free(err_path);
        remove_temp_dir(dir);
        return -1;
    }
    if (pid == 0) {
        int out = open("/dev/null", O_WRONLY);
        int errfd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || errfd < 0)
            _exit(126);
        dup2(out, 1);
        dup2(errfd, 2);
        if (format != NULL)
            execl(program, program, type, "-o", "/dev/null", path, (char *)NULL);
        else
            execl(program, program, path, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    pid_t waited;
    while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (stderr_text != NULL) {
        *stderr_text = read_file(err_path, NULL);
        if (*stderr_text == NULL) {
            *stderr_text = xmalloc(1);
            **stderr_text = '\0';
        }
    }
    free(err_path);
    remove_temp_dir(dir);
    return waited == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- a full disk ------------------------------------------------------- */

int dump_with_file_size_limit(int (*dump)(ircache *, const char *), ircache *c, const char *path,
                              unsigned long limit, int *err)
{
    struct rlimit old, low;
    struct sigaction ignore, old_action;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) {
        perror("getrlimit");
        exit(1);
    }
    low = old;
    low.rlim_cur = (rlim_t)limit;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    if (sigaction(SIGXFSZ, &ignore, &old_action) != 0 || setrlimit(RLIMIT_FSIZE, &low) != 0) {
        perror("setrlimit");
        exit(1);
    }
    int rc = dump(c, path);
    *err = ircache_last_errno();
    if (setrlimit(RLIMIT_FSIZE, &old) != 0 || sigaction(SIGXFSZ, &old_action, NULL) != 0) {
        perror("setrlimit");
        exit(1);
    }
    return rc;
}
