/* test_full_disk.c - a dump onto a full disk, on a real small file system.
 *
 * include/ircache.h: the dump is written whole or not at all; a full disk
 * gives IRCACHE_EIO with ircache_last_errno() = ENOSPC, leaves no partial
 * file and leaves a file already at the path unchanged.
 *
 * A child process gets a mount namespace of its own (as root, or else, or
 * where root is refused, in a user namespace of its own as well, as
 * `unshare -rm` does), makes every mount in it private and mounts a 64 KiB
 * tmpfs over a temporary directory; the mount ends with the child, and never
 * shows in the parent's (or the host's) mount table. Where no namespace can
 * be had the test is skipped (exit status 77). */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dotfile.h"
#include "ircache.h"
#include "support.h"

#define SKIP 77
#define TMPFS_OPTIONS "size=64k,mode=0700"

/* A dump that was there before, and must stay as it is. */
static const char old_dump[] = "digraph G {\n0 -> 1\n1[label=\"from an earlier run, 7 hits\"]\n}\n";

/* ---- the mount ---------------------------------------------------------- */

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int err = errno;
    close(fd);
    errno = err;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* This process in a mount namespace of its own: as root directly; else, or
 * where that is refused, inside a user namespace of its own where it is root
 * (its uid and gid mapped to 0). */
static int own_mount_namespace(char *why, size_t size)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (uid == 0 && unshare(CLONE_NEWNS) == 0)
        return 0;
    int root_err = uid == 0 ? errno : 0;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        int err = errno;
        if (root_err != 0)
            snprintf(why, size,
                     "unshare(CLONE_NEWNS) as root: %s; unshare(CLONE_NEWUSER | CLONE_NEWNS): %s",
                     strerror(root_err), strerror(err));
        else
            snprintf(why, size, "unshare(CLONE_NEWUSER | CLONE_NEWNS): %s%s", strerror(err),
                     err == EINVAL ? " (refused to a process with more than one thread, such as "
                                     "one with ThreadSanitizer's background thread)"
                                   : "");
        return -1;
    }
    char map[64];
    (void)write_text("/proc/self/setgroups", "deny"); /* absent before Linux 3.19 */
    snprintf(map, sizeof map, "0 %lu 1\n", (unsigned long)uid);
    if (write_text("/proc/self/uid_map", map) != 0) {
        snprintf(why, size, "writing /proc/self/uid_map: %s", strerror(errno));
        return -1;
    }
    snprintf(map, sizeof map, "0 %lu 1\n", (unsigned long)gid);
    if (write_text("/proc/self/gid_map", map) != 0) {
        snprintf(why, size, "writing /proc/self/gid_map: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int mount_small_tmpfs(const char *dir, char *why, size_t size)
{
    if (own_mount_namespace(why, size) != 0)
        return -1;
    /* Nothing mounted here may propagate back to the parent's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(why, size, "making the mounts private: %s", strerror(errno));
        return -1;
    }
    if (mount("ircache-full-disk", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, TMPFS_OPTIONS) !=
        0) {
        snprintf(why, size, "mount -t tmpfs -o %s: %s", TMPFS_OPTIONS, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 if dir is a mount point in this process's mount table. */
static int is_mounted(const char *dir)
{
    char *table = read_file("/proc/self/mountinfo", NULL);
    if (table == NULL)
        return 0;
    /* Field 5 of each line is the mount point (no escapes in a temp path). */
    int found = 0;
    for (char *line = strtok(table, "\n"); line != NULL && !found; line = strtok(NULL, "\n")) {
        char point[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strcmp(point, dir) == 0)
            found = 1;
    }
    free(table);
    return found;
}

static unsigned long long free_bytes(const char *dir)
{
    struct statvfs s;
    REQUIRE(statvfs(dir, &s) == 0);
    return (unsigned long long)s.f_bavail * s.f_frsize;
}

/* ---- the dumps (in the child, on the tmpfs) ----------------------------- */

#define BIG 4000 /* nodes, each over 100 bytes of DOT: far over 64 KiB */
#define BIG_MANY_BUFFERS 40000 /* over 4 MiB of DOT: four output buffers */
#define LONG_LABEL                                                                                \
    "aten::convolution_backward_overrideable|a label as long as a runtime's debug names can be|" \
    "more"

static void check_unchanged(const char *path)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    CHECK_MSG(text != NULL && len == sizeof old_dump - 1 && memcmp(text, old_dump, len) == 0,
              "%s changed: \"%s\"", path, text != NULL ? text : "(unreadable)");
    free(text);
}

/* dump(c, path) fails with IRCACHE_EIO for ENOSPC and leaves dir as it was
 * (the same entries, no temporary file, the same free space). */
static void check_full(int (*dump)(ircache *, const char *), const char *what, ircache *c,
                       const char *dir, const char *path)
{
    int entries = count_dir_entries(dir);
    unsigned long long before = free_bytes(dir);
    errno = 0;
    int rc = dump(c, path);
    CHECK_MSG(rc == IRCACHE_EIO, "%s onto a full disk returned %d (%s), expected IRCACHE_EIO", what,
              rc, ircache_strerror(rc));
    CHECK_MSG(ircache_last_errno() == ENOSPC, "%s: errno %d (%s), expected ENOSPC", what,
              ircache_last_errno(), strerror(ircache_last_errno()));
    CHECK_CONTAINS(ircache_last_error(), path);
    CHECK_INT(count_temp_files(dir), 0);
    CHECK_INT(count_dir_entries(dir), entries);
    CHECK_U64(free_bytes(dir), before);
}

static int dump_default(ircache *c, const char *path)
{
    (void)c;
    return ircache_dump(path);
}

static void dumps_onto_a_full_disk(const char *dir, int nodes)
{
    char *existing = path_join(dir, "trie.dot");
    char *fresh = path_join(dir, "new.dot");
    REQUIRE(write_file(existing, old_dump) == 0);
    (void)unlink(fresh); /* left by an earlier case in this directory */

    ircache *c = ircache_new();
    REQUIRE(c != NULL);
    counted *items = counted_array((size_t)nodes);
    char key[32];
    for (int i = 0; i < nodes; i++) {
        if (i % 100 == 0)
            ircache_mark_step(c);
        snprintf(key, sizeof key, "k%d", i);
        REQUIRE(ircache_insert(c, KEY(key), LONG_LABEL, &items[i], &counting_owner) == 0);
    }
    CHECK_MSG(free_bytes(dir) < (unsigned long long)nodes * 100, "%llu bytes free: not a full disk",
              free_bytes(dir));

    /* Over an existing file: it stays as it was. */
    check_full(ircache_dump_dot, "ircache_dump_dot", c, dir, existing);
    check_unchanged(existing);
    check_full(ircache_dump_json, "ircache_dump_json", c, dir, existing);
    check_unchanged(existing);
    /* A new file: none appears. */
    check_full(ircache_dump_dot, "ircache_dump_dot", c, dir, fresh);
    CHECK_MSG(access(fresh, F_OK) != 0 && errno == ENOENT, "%s exists after a failed dump", fresh);
    CHECK_INT(count_dir_entries(dir), 1);

    /* The default cache, the same. */
    ircache_reset();
    for (int i = 0; i < nodes; i++) {
        if (i % 100 == 0)
            ircache_mark_step(ircache_default());
        snprintf(key, sizeof key, "k%d", i);
        REQUIRE(ircache_insert(ircache_default(), KEY(key), LONG_LABEL, &items[i], NULL) == 0);
    }
    check_full(dump_default, "ircache_dump", NULL, dir, existing);
    check_unchanged(existing);
    ircache_reset();

    /* Dumps that fit succeed, over the old file and as a new one. */
    ircache_clear(c);
    CHECK_INT(counted_first_not_released_once(items, (size_t)nodes), -1);
    int small[3];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "small%d", i);
        REQUIRE(ircache_insert(c, KEY(key), "small", &small[i], NULL) == 0);
    }
    char err[512];
    CHECK_INT(ircache_dump_dot(c, existing), 0);
    CHECK_MSG(dot_file_check(existing, NULL, NULL, err, sizeof err) == 3, "%s", err);
    CHECK_INT(ircache_dump_dot(c, fresh), 0);
    CHECK_MSG(dot_file_check(fresh, NULL, NULL, err, sizeof err) == 3, "%s", err);
    CHECK_INT(count_dir_entries(dir), 2);
    CHECK_INT(count_temp_files(dir), 0);

    ircache_free(c);
    free(items);
    free(existing);
    free(fresh);
}

/* RUN takes a function of no arguments: the directory comes through here. */
static const char *mount_dir;

static void dumps_onto_a_full_disk_here(void)
{
    dumps_onto_a_full_disk(mount_dir, BIG);
}

/* Dumps of several output buffers: from the second on, a helper thread
 * writes them (lib/writer_thread.h), and its write error is what fails. */
static void large_dumps_onto_a_full_disk_here(void)
{
    dumps_onto_a_full_disk(mount_dir, BIG_MANY_BUFFERS);
}

/* In the child: the tmpfs, then the case; returns the exit status. */
static int child_main(void)
{
    char why[512];
    if (mount_small_tmpfs(mount_dir, why, sizeof why) != 0) {
        fprintf(stderr, "skip: cannot mount a small tmpfs here (%s)\n", why);
        return SKIP;
    }
    CHECK(is_mounted(mount_dir));
    RUN(dumps_onto_a_full_disk_here);
    RUN(large_dumps_onto_a_full_disk_here);
    return check_exit_code();
}

int main(void)
{
    char *dir = make_temp_dir();
    mount_dir = dir;
    fflush(NULL);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        alarm(60);
        int rc = child_main();
        fflush(NULL);
        _exit(rc);
    }
    int status;
    while (waitpid(child, &status, 0) < 0)
        REQUIRE(errno == EINTR);
    int rc;
    if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP) {
        rc = SKIP;
    } else {
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x)",
                  (unsigned)status);
        rc = check_exit_code();
    }
    /* The mount went with the child's namespace: here the directory was
     * never anything but an empty directory. */
    CHECK_MSG(!is_mounted(dir), "%s is still mounted", dir);
    CHECK_INT(count_dir_entries(dir), 0);
    if (rc != SKIP)
        rc = check_exit_code();
    remove_temp_dir(dir);
    return rc;
}
