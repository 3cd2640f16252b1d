/* atomic_file.c - temporary file + rename, with every error checked. */
#define _GNU_SOURCE /* realpath, O_CLOEXEC */

#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "hash.h"
#include "writer_thread.h"

#define BUFFER_SIZE IRCACHE__FILE_BUFFER_SIZE
#define TEMP_ATTEMPTS 32

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = ircache__malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

#define TEMP_NAME_SIZE (1 + 200 + 1 + 16 + sizeof ".tmp")

/* ".<name>.<tag>.tmp", a name in the target's directory: created and
 * renamed relative to that directory, so that a target path close to
 * PATH_MAX does not make a temporary path too long. */
static void fill_temp_name(char *temp, const char *name, uint64_t tag)
{
    /* Names near NAME_MAX would not fit with the tag: shorten the copy. */
    snprintf(temp, TEMP_NAME_SIZE, ".%.200s.%016llx.tmp", name, (unsigned long long)tag);
}

static char *temp_name(const char *name, uint64_t tag)
{
    char *temp = ircache__malloc(TEMP_NAME_SIZE);
    if (temp != NULL)
        fill_temp_name(temp, name, tag);
    return temp;
}

/* Opens the directory of path (which it does not read: O_PATH), and sets
 * *name to path's last component. Returns the descriptor, or -1 with errno
 * set. */
static int open_directory_of(const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        *name = path;
        return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    *name = slash + 1;
    size_t dir_len = slash == path ? 1 : (size_t)(slash - path);
    char *dir = ircache__malloc(dir_len + 1);
    if (dir == NULL) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(dir, path, dir_len);
    dir[dir_len] = '\0';
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int err = errno;
    ircache__free(dir);
    errno = err;
    return fd;
}

static uint64_t temp_tag(int attempt)
{
    static _Atomic uint64_t counter;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ircache__mix((uint64_t)getpid() << 32 ^ (uint64_t)now.tv_nsec ^ (uint64_t)attempt,
                        atomic_fetch_add(&counter, 1) + (uint64_t)now.tv_sec);
}

static void release_names(ircache__file *f)
{
    if (f->dir_fd >= 0)
        close(f->dir_fd);
    f->dir_fd = -1;
    ircache__free(f->target);
    ircache__free(f->temp);
    ircache__free(f->buf);
    f->target = f->temp = NULL;
    f->target_name = NULL;
    f->buf = NULL;
}

/* A file written in place, not replaced: fd is what opened it for us
 * (with errno set when it is -1). */
static int write_directly(ircache__file *f, int fd, const char *path)
{
    f->direct = 1;
    f->offset = -1;
    f->fd = fd;
    if (f->fd < 0) {
        int err = errno;
        release_names(f);
        return ircache__fail_errno(err, "cannot open '%s' for writing", path);
    }
    return 0;
}

/* Symlinks followed before giving up, as the kernel's limit for open(). */
#define MAX_SYMLINKS 40

/* The target of the symlink at path, relative ones taken from the link's
 * directory; NULL with errno set. */
static char *read_link_beside(const char *path)
{
    for (size_t size = 256;; size *= 2) {
        char *link = ircache__malloc(size);
        if (link == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        ssize_t n = readlink(path, link, size);
        if (n < 0 || (size_t)n >= size) {
            int err = n < 0 ? errno : size > PATH_MAX ? ENAMETOOLONG : 0;
            ircache__free(link);
            if (err != 0) {
                errno = err;
                return NULL;
            }
            continue; /* cut short: a larger buffer */
        }
        link[n] = '\0';
        const char *slash = strrchr(path, '/');
        size_t dir_len = link[0] != '/' && slash != NULL ? (size_t)(slash - path) + 1 : 0;
        char *joined = ircache__malloc(dir_len + (size_t)n + 1);
        if (joined != NULL) {
            memcpy(joined, path, dir_len);
            memcpy(joined + dir_len, link, (size_t)n + 1);
        } else {
            errno = ENOMEM;
        }
        ircache__free(link);
        return joined;
    }
}

/* N when path is the entry N of this process's /proc/PID/fd (reached as
 * /proc/self/fd/N, /dev/fd/N or through /dev/stdout): a file this process
 * has open, whatever its name, and not a name to write a new file to;
 * else -1. */
static int open_file_entry(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash[1] == '\0')
        return -1;
    long n = 0;
    for (const char *d = slash + 1; *d != '\0'; d++) {
        if (*d < '0' || *d > '9')
            return -1;
        n = n * 10 + (*d - '0');
        if (n > INT_MAX)
            return -1;
    }
    /* Its directory, "/" for "/N"; a longer one than PATH_MAX is not /proc's. */
    char dir[PATH_MAX];
    size_t dir_len = slash == path ? 1 : (size_t)(slash - path);
    if (dir_len >= sizeof dir)
        return -1;
    memcpy(dir, path, dir_len);
    dir[dir_len] = '\0';
    char *real = realpath(dir, NULL);
    if (real == NULL)
        return -1;
    char fds[64];
    snprintf(fds, sizeof fds, "/proc/%ld/fd", (long)getpid());
    int entry = strcmp(real, fds) == 0;
    free(real);
    return entry ? (int)n : -1;
}

/* Where a dump to path goes, following symlinks as open() would: a
 * symlink stays a symlink, and its target, existing or not, is the file
 * written. Sets *target (owned), or *open_fd when the chain ends at a file
 * this process has open (/dev/stdout into a file): that file is written
 * through its descriptor, at its offset, not replaced. Returns 0 or an
 * errno value. */
static int resolve_target(const char *path, char **target, int *open_fd)
{
    char *at = copy_string(path);
    for (int hops = 0; at != NULL; hops++) {
        *open_fd = open_file_entry(at);
        if (*open_fd >= 0) {
            ircache__free(at);
            return 0;
        }
        struct stat link;
        if (lstat(at, &link) != 0 || !S_ISLNK(link.st_mode)) {
            *target = at;
            return 0;
        }
        char *next = hops < MAX_SYMLINKS ? read_link_beside(at) : NULL;
        int err = hops < MAX_SYMLINKS ? errno : ELOOP;
        ircache__free(at);
        if (next == NULL)
            return err;
        at = next;
    }
    return ENOMEM;
}

/* Creates the temporary file under a new name in f->temp (allocated, of
 * TEMP_NAME_SIZE), trying other tags while a name is taken. Returns its
 * descriptor, or -1 with errno set (EEXIST when every name was taken). */
static int create_named(ircache__file *f)
{
    for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        fill_temp_name(f->temp, f->target_name, temp_tag(attempt));
        /* 0666: the kernel applies the umask, as for any new file. */
        int fd = openat(f->dir_fd, f->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* ---- the temporary file without a name ----------------------------------
 *
 * Where the kernel has them (O_TMPFILE, and /proc to name a file by its
 * descriptor), the temporary file is written without a name, so that a
 * process killed meanwhile leaves nothing behind; it gets its name only
 * when complete, just before the rename (commit). Elsewhere it is created
 * with its name, as it always was. */

/* Set once the kernel or a security policy refused to name such a file:
 * later dumps create theirs with a name at once. */
static _Atomic int unnamed_refused;

/* The calling thread's entry for descriptor fd in /proc: its own table,
 * which /proc/self would not show a thread that unshared it. */
static void proc_path_of(char *out, size_t size, int fd)
{
    snprintf(out, size, "/proc/thread-self/fd/%d", fd);
}

/* The calling thread's umask, read from /proc (reading it with umask()
 * would change it for every thread meanwhile). Returns 0, or -1. */
static int thread_umask(mode_t *mask)
{
    int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char text[4096];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    const char *line = strstr(text, "\nUmask:");
    if (line == NULL)
        return -1;
    char *end;
    unsigned long value = strtoul(line + sizeof "\nUmask:" - 1, &end, 8);
    if (end == line + sizeof "\nUmask:" - 1 || value > 0777)
        return -1;
    *mask = (mode_t)value;
    return 0;
}

/* Opens f's temporary file without a name, where that works as the named
 * one would: f->fd stays -1 otherwise. exists: the target exists (its mode
 * is kept, whatever the umask). */
static void open_unnamed(ircache__file *f, int exists)
{
#ifdef O_TMPFILE
    mode_t mask = 0;
    if (atomic_load_explicit(&unnamed_refused, memory_order_relaxed) || (!exists && thread_umask(&mask) != 0))
        return;
    /* 0666: the kernel applies the umask, as for any new file. Readable, so
     * that commit can copy it into a named file if naming it fails. */
    int fd = openat(f->dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0)
        return; /* a file system without it, or the error to report: the named way says */
    char by_fd[64];
    proc_path_of(by_fd, sizeof by_fd, fd);
    struct stat made;
    if (faccessat(AT_FDCWD, by_fd, F_OK, 0) != 0 || fstat(fd, &made) != 0 ||
        (made.st_mode & mask & 0777) != 0) {
        /* No /proc to name it by; or the umask was not applied: kernels
         * before 6.0 ignore it for O_TMPFILE on file systems without ACLs,
         * and a directory's default ACL replaces it. A named file gets what
         * the kernel gives any new file there. */
        close(fd);
        return;
    }
    f->fd = fd;
    f->unnamed = 1;
#else
    (void)f;
    (void)exists;
#endif
}

/* Gives the unnamed file its temporary name in the target's directory.
 * Returns 0 or an errno value (nothing named then). */
static int name_unnamed(ircache__file *f)
{
    char by_fd[64];
    proc_path_of(by_fd, sizeof by_fd, f->fd);
    struct stat ours, named;
    if (fstat(f->fd, &ours) != 0)
        return errno;
    for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        if (attempt > 0)
            fill_temp_name(f->temp, f->target_name, temp_tag(attempt));
        if (linkat(AT_FDCWD, by_fd, f->dir_fd, f->temp, AT_SYMLINK_FOLLOW) != 0) {
            if (errno == EEXIST)
                continue;
            return errno;
        }
        /* The name is the file written, not one /proc showed in its place. */
        if (fstatat(f->dir_fd, f->temp, &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_dev == ours.st_dev &&
            named.st_ino == ours.st_ino) {
            f->unnamed = 0;
            return 0;
        }
        unlinkat(f->dir_fd, f->temp, 0);
        return ESTALE;
    }
    return EEXIST;
}

/* Where naming the unnamed file failed (with err): copies it into a new
 * named temporary file, which f then holds. Returns 0 or an errno value
 * (nothing named then). */
static int copy_to_named(ircache__file *f, int err)
{
    /* A security policy's answer (AppArmor's is ENOENT) will be the same
     * next time: later dumps take the named way at once. */
    if (err == EPERM || err == EACCES || err == ENOENT)
        atomic_store_explicit(&unnamed_refused, 1, memory_order_relaxed);
    int fd = create_named(f);
    if (fd < 0)
        return errno;
    err = 0;
    if (f->keep_mode >= 0)
        (void)fchmod(fd, (mode_t)f->keep_mode);
    for (int64_t at = 0; err == 0;) {
        ssize_t n = pread(f->fd, f->buf, BUFFER_SIZE, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        err = ircache__write_all_at(fd, f->buf, (size_t)n, at);
        at += n;
    }
    if (err != 0) {
        close(fd);
        unlinkat(f->dir_fd, f->temp, 0);
        return err;
    }
    close(f->fd);
    f->fd = fd;
    f->unnamed = 0;
    return 0;
}

int ircache__file_open(ircache__file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->dir_fd = -1;
    if (path == NULL)
        return ircache__fail(IRCACHE_EINVAL, "dump: the path is NULL");
    if (path[0] == '\0')
        return ircache__fail(IRCACHE_EINVAL, "dump: the path is empty");
    f->shown = path;
    f->buf = ircache__malloc(BUFFER_SIZE);
    if (f->buf == NULL)
        return ircache__fail(IRCACHE_ENOMEM, "no memory for the output buffer of '%s'", path);

    struct stat existing;
    int exists = stat(path, &existing) == 0;
    if (exists && S_ISDIR(existing.st_mode)) {
        release_names(f);
        return ircache__fail_errno(EISDIR, "cannot write '%s'", path);
    }
    if (exists && !S_ISREG(existing.st_mode))
        return write_directly(f, open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY), path);
    if (!exists && path[strlen(path) - 1] == '/') {
        /* open() creates no file by a name with a trailing slash: the
         * error it gives (EISDIR in an existing directory), with nothing
         * created. */
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
        int err = fd >= 0 ? EISDIR : errno;
        if (fd >= 0)
            close(fd);
        release_names(f);
        return ircache__fail_errno(err, "cannot write '%s'", path);
    }

    int open_fd = -1;
    int unresolved = resolve_target(path, &f->target, &open_fd);
    if (unresolved == ENOMEM) {
        release_names(f);
        return ircache__fail(IRCACHE_ENOMEM, "no memory for the path '%s'", path);
    }
    if (unresolved != 0) {
        release_names(f);
        return ircache__fail_errno(unresolved, "cannot follow the link '%s'", path);
    }
    if (open_fd >= 0) /* through a descriptor of our own, at the file's offset */
        return write_directly(f, fcntl(open_fd, F_DUPFD_CLOEXEC, 0), path);
    /* A file that writing into would be refused (read-only to us) is not
     * replaced behind its owner's back either. */
    if (exists && faccessat(AT_FDCWD, f->target, W_OK, AT_EACCESS) != 0 && errno == EACCES) {
        release_names(f);
        return ircache__fail_errno(EACCES, "cannot write '%s'", path);
    }
    f->dir_fd = open_directory_of(f->target, &f->target_name);
    if (f->dir_fd < 0) {
        int err = errno;
        release_names(f);
        if (err == ENOMEM)
            return ircache__fail(IRCACHE_ENOMEM, "no memory for the path '%s'", path);
        return ircache__fail_errno(err, "cannot create a file beside '%s'", path);
    }
    f->keep_mode = exists ? (int)(existing.st_mode & 07777) : -1;
    /* The temporary name, also for a file without one yet: it is named at
     * commit, which then allocates nothing. */
    f->temp = temp_name(f->target_name, temp_tag(0));
    if (f->temp == NULL) {
        release_names(f);
        return ircache__fail(IRCACHE_ENOMEM, "no memory for the path '%s'", path);
    }
    open_unnamed(f, exists);
    if (f->fd < 0) {
        f->fd = create_named(f);
        if (f->fd < 0) {
            int err = errno;
            release_names(f);
            if (err == EEXIST)
                return ircache__fail_errno(EEXIST, "cannot create a temporary file beside '%s'", path);
            return ircache__fail_errno(err, "cannot create a file beside '%s'", path);
        }
    }
    /* Replacing a file keeps its permission bits, as writing into it would. */
    if (f->keep_mode >= 0)
        (void)fchmod(f->fd, (mode_t)f->keep_mode);
    return 0;
}

/* Where the next len bytes go (see ircache__file.offset). */
static int64_t claim(ircache__file *f, size_t len)
{
    int64_t at = f->offset;
    if (at >= 0)
        f->offset += (int64_t)len;
    return at;
}

static void write_here_at(ircache__file *f, const void *data, size_t len, int64_t at)
{
    if (f->err == 0)
        f->err = ircache__write_all_at(f->fd, data, len, at);
}

static void write_here(ircache__file *f, const void *data, size_t len)
{
    write_here_at(f, data, len, claim(f, len));
}

/* A write of the helper failed with err. The helper blocks every signal,
 * so the one the kernel would have sent the caller for its own write
 * (SIGPIPE for a pipe without a reader, SIGXFSZ past RLIMIT_FSIZE) is
 * raised here: a dump behaves the same whichever thread wrote the bytes. */
static void take_helper_error(ircache__file *f, int err)
{
    if (err == 0 || f->err != 0)
        return;
    f->err = err;
    if (err == EPIPE)
        (void)raise(SIGPIPE);
#ifdef SIGXFSZ
    else if (err == EFBIG)
        (void)raise(SIGXFSZ);
#endif
}

/* The buffer is full: a helper writes it while the caller fills another,
 * from the second buffer of a dump on (a dump of one buffer starts none).
 * A temporary file is written by offsets: when the helper is still busy
 * (its processor may be slow or taken), the caller writes the buffer
 * itself rather than wait. A file written directly waits for the helper,
 * to keep its bytes in order. */
static void hand_over(ircache__file *f)
{
    if (f->writer == NULL && !f->no_writer) {
        f->writer = ircache__writer_start(f->fd, BUFFER_SIZE);
        f->no_writer = f->writer == NULL;
    }
    int64_t at = claim(f, f->len);
    unsigned char *spare = NULL;
    if (f->writer != NULL) {
        int err = 0;
        spare = at < 0 ? ircache__writer_hand(f->writer, f->buf, f->len, at, &err)
                       : ircache__writer_offer(f->writer, f->buf, f->len, at, &err);
        take_helper_error(f, err);
    }
    if (spare != NULL)
        f->buf = spare;
    else
        write_here_at(f, f->buf, f->len, at);
    f->len = 0;
}

/* Everything handed over is written, and the helper gone. */
static void stop_writer(ircache__file *f)
{
    if (f->writer == NULL)
        return;
    int err = ircache__writer_finish(f->writer);
    f->writer = NULL;
    take_helper_error(f, err);
}

/* Everything put so far is written: the helper's buffers, then the rest. */
static void write_out(ircache__file *f)
{
    stop_writer(f);
    write_here(f, f->buf, f->len);
    f->len = 0;
}

void ircache__file_put_slow(ircache__file *f, const void *data, size_t len)
{
    if (f->err != 0)
        return;
    if (len > BUFFER_SIZE) {
        /* Larger than a buffer: written here, after what came before (and
         * no helper started for it). */
        write_out(f);
        write_here(f, data, len);
        return;
    }
    if (f->len + len > BUFFER_SIZE)
        hand_over(f);
    memcpy(f->buf + f->len, data, len);
    f->len += len;
}

unsigned char *ircache__file_room_slow(ircache__file *f, size_t len)
{
    if (len > BUFFER_SIZE && f->err == 0)
        f->err = EINVAL; /* a caller's mistake, reported as a failed write rather than a lost line */
    if (f->err != 0)
        return NULL;
    if (f->len + len > BUFFER_SIZE)
        hand_over(f);
    return f->err == 0 ? f->buf + f->len : NULL;
}

void ircache__file_abort(ircache__file *f)
{
    stop_writer(f);
    if (f->fd >= 0)
        close(f->fd);
    if (f->temp != NULL && !f->unnamed)
        unlinkat(f->dir_fd, f->temp, 0);
    f->fd = -1;
    release_names(f);
}

int ircache__file_commit(ircache__file *f)
{
    write_out(f);
    int err = f->err;
    if (err == 0 && f->unnamed) {
        int unnamed_err = name_unnamed(f);
        if (unnamed_err != 0) /* a policy that refuses the link (AppArmor, seccomp), a full disk */
            err = copy_to_named(f, unnamed_err);
    }
    if (close(f->fd) != 0 && err == 0)
        err = errno;
    f->fd = -1;
    if (err == 0 && !f->direct && renameat(f->dir_fd, f->temp, f->dir_fd, f->target_name) != 0)
        err = errno;
    if (err != 0) {
        int rc = ircache__fail_errno(err, "cannot write '%s'", f->shown);
        ircache__file_abort(f);
        return rc;
    }
    release_names(f);
    return 0;
}
