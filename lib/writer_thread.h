/* writer_thread.h - a large dump's write() calls on a thread of their own.
 *
 * Formatting a dump and copying its bytes into the kernel take about as
 * long as each other, so a dump that fills more than one buffer hands each
 * full buffer to a helper thread and formats the next one meanwhile. The
 * helper only calls write() or pwrite(); it blocks every signal, calls
 * nothing else in the library and is joined before the dump returns. Whenever it cannot be
 * had (no memory, no thread, a process forked after the library was
 * loaded, which should start no thread), the caller writes the buffers
 * itself. */
#ifndef IRCACHE_WRITER_THREAD_H
#define IRCACHE_WRITER_THREAD_H

#include <stddef.h>
#include <stdint.h>

/* Writes p[0..n) to fd whole, retrying after EINTR, at the file position,
 * or at offset at when at >= 0 (the file position then stays). Returns 0 or
 * the errno of the failed write (EIO for a write that wrote nothing). */
int ircache__write_all(int fd, const void *p, size_t n);
int ircache__write_all_at(int fd, const void *p, size_t n, int64_t at);

typedef struct ircache__writer ircache__writer;

/* Starts a helper that writes to fd, with two spare buffers of
 * buffer_size bytes; NULL when they cannot be had (nothing to clean up
 * then). */
ircache__writer *ircache__writer_start(int fd, size_t buffer_size);

/* Hands buf[0..len) to the helper, to write at offset at (at the file
 * position when at < 0) after those handed before, and returns a spare
 * buffer for the caller to fill next: at once while the helper holds fewer
 * than two, else once it has written one. *err becomes the errno of the
 * first failed write so far, or stays as it is; after a failure nothing
 * more is written. */
unsigned char *ircache__writer_hand(ircache__writer *w, unsigned char *buf, size_t len, int64_t at, int *err);

/* As ircache__writer_hand with at >= 0, but when the helper holds two
 * buffers already, returns NULL at once and keeps nothing: the caller
 * writes buf itself (a file written by offsets need not wait for a helper
 * that a busy processor holds up). */
unsigned char *ircache__writer_offer(ircache__writer *w, unsigned char *buf, size_t len, int64_t at, int *err);

/* Waits until everything handed over is written, then stops and joins the
 * helper and frees it with the buffer it holds. Returns 0 or the errno of
 * the first failed write. */
int ircache__writer_finish(ircache__writer *w);

#endif
