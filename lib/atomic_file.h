/* atomic_file.h - files written whole or not at all, for every writer.
 *
 * Output goes to a new temporary file beside the target, which is renamed
 * over the target only once everything was written and closed without
 * error; any failure removes the temporary file and leaves the target as it
 * was. Where the system allows, that file has no name until it is
 * complete, so that a process killed while writing leaves none behind
 * (atomic_file.c, "the temporary file without a name"). Paths naming an
 * existing non-regular file (a FIFO, a terminal, /dev/null) are written
 * directly, since they cannot be replaced. */
#ifndef IRCACHE_ATOMIC_FILE_H
#define IRCACHE_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ircache__file {
    int fd;
    int direct;        /* writing the target itself */
    int err;           /* first errno of a failed write, 0 while all is well */
    char *target;      /* the path renamed onto (symlinks resolved) */
    const char *target_name; /* its last component, in target */
    int dir_fd;        /* target's directory (O_PATH), -1 when direct */
    char *temp;        /* the temporary file's name in dir_fd, NULL when direct */
    int unnamed;       /* the temporary file has no name yet (O_TMPFILE) */
    int keep_mode;     /* the replaced file's permission bits, -1 for a new file */
    const char *shown; /* the caller's path, for messages */
    unsigned char *buf;
    size_t len;
    /* Where the next bytes go in a temporary file, which is written by
     * offsets (so that the caller and a helper may write at once); -1 when
     * direct, written in order. */
    int64_t offset;
    struct ircache__writer *writer; /* writes full buffers meanwhile: writer_thread.h */
    int no_writer;                  /* one could not be had: write them here */
} ircache__file;

/* Opens a writer for path. Returns 0, or IRCACHE_EINVAL / IRCACHE_ENOMEM /
 * IRCACHE_EIO with the last error set (nothing to clean up then). */
int ircache__file_open(ircache__file *f, const char *path);

#define IRCACHE__FILE_BUFFER_SIZE (1024u * 1024u) /* few system calls for a large dump */

void ircache__file_put_slow(ircache__file *f, const void *data, size_t len);
unsigned char *ircache__file_room_slow(ircache__file *f, size_t len);

/* Where the next len bytes (at most a buffer) may be written in place,
 * to be kept with ircache__file_advance: a dump line is formatted there
 * rather than in a copy of its own. NULL once a write has failed (the
 * file is lost: commit reports it). */
static inline unsigned char *ircache__file_room(ircache__file *f, size_t len)
{
    if (f->len + len <= IRCACHE__FILE_BUFFER_SIZE && f->err == 0)
        return f->buf + f->len;
    return ircache__file_room_slow(f, len);
}

/* Keeps the first len bytes written at ircache__file_room's pointer. */
static inline void ircache__file_advance(ircache__file *f, size_t len)
{
    f->len += len;
}

/* Appends bytes; a failure is remembered and reported by commit. */
static inline void ircache__file_put(ircache__file *f, const void *data, size_t len)
{
    if (len == 0) /* an empty label's text may have no buffer at all */
        return;
    if (f->len + len <= IRCACHE__FILE_BUFFER_SIZE && f->err == 0) {
        memcpy(f->buf + f->len, data, len);
        f->len += len;
        return;
    }
    ircache__file_put_slow(f, data, len);
}


/* Finishes: flushes, closes and renames onto the target. Returns 0 or
 * IRCACHE_EIO (last error set; the target is unchanged). */
int ircache__file_commit(ircache__file *f);

/* Gives up: closes and removes the temporary file. */
void ircache__file_abort(ircache__file *f);

#endif
