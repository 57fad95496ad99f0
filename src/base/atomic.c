/* base/atomic.c — atomic file replacement, and what it will and will not replace.
 *
 * The data goes to a temporary file in the target's directory (rename is atomic only within
 * one file system), which is flushed, fsync'd and renamed over the target; the directory is
 * then fsync'd so that the rename itself survives a power loss. A reader sees either the old
 * file or the complete new one, never a mix.
 *
 * The target may be absent, a regular file, or a symbolic link to a regular file (then the
 * file it points to is replaced and the link kept). Anything else — a directory, a device, a
 * FIFO, a socket, a dangling link — is refused before anything is written: renaming over
 * /dev/null would turn the device into a regular file. A replaced file keeps its permission
 * bits, and its owner and group where the process may set them.
 *
 * Temporary files are named "<name>.tmp-<pid>-<hex>" (the name shortened if it would not fit
 * NAME_MAX). One left behind by a process killed mid-write is removed by the next write to the
 * same target, once no process with that pid runs. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef NAME_MAX
#define NAME_MAX 255
#endif

/* Room a temporary name adds to the target's: ".tmp-" + a pid + "-" + 16 hex + 10 digits. */
#define TMP_SUFFIX 56

static void release(nbi_atomic_file *af) {
    nbi_free(af->path);
    nbi_free(af->tmp);
    af->path = af->tmp = NULL;
    af->f = NULL;
}

const char *nbi_file_kind(unsigned mode) {
    return S_ISDIR(mode)    ? "a directory"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISFIFO(mode) ? "a FIFO (named pipe)"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISLNK(mode)  ? "a symbolic link"
           : S_ISREG(mode)  ? "a regular file"
                            : "not a regular file";
}

static char *dup_str(const char *s, size_t n) {
    char *d = nbi_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* The directory part of path ("." when there is none, "/" for a file in the root). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_str(".", 1);
    return dup_str(path, slash == path ? 1 : (size_t)(slash - path));
}

nb_status nbi_output_target(const char *path, char **target, bool *exists, unsigned *mode,
                            long *uid, long *gid) {
    *target = NULL;
    *exists = false;
    if (!path || !*path) return nbi_error(NB_ERR_ARG, "the output path is empty");
    size_t n = strlen(path);
    if (path[n - 1] == '/')
        return nbi_error(NB_ERR_ARG, "cannot write '%s': it names a directory (give a file name)",
                         path);
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return (*target = dup_str(path, n)) ? NB_OK : NB_ERR_NOMEM;
        if (errno == ENAMETOOLONG)
            return nbi_error(NB_ERR_IO,
                             "cannot write '%s': the name is longer than the file "
                             "system allows",
                             path);
        if (errno != ENOTDIR && errno != EACCES && errno != ELOOP)
            return nbi_error(NB_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        /* the directory part is at fault: temp-file creation names it below */
        return (*target = dup_str(path, n)) ? NB_OK : NB_ERR_NOMEM;
    }
    if (S_ISLNK(st.st_mode)) {
        /* Write through the link: replace the file it points to, keep the link. */
        struct stat to;
        if (stat(path, &to) != 0)
            return nbi_error(NB_ERR_IO, "cannot write '%s': it is a symbolic link to %s (%s)", path,
                             errno == ENOENT ? "a missing file" : "a file nabla cannot reach",
                             strerror(errno));
        if (!S_ISREG(to.st_mode))
            return nbi_error(NB_ERR_IO,
                             "cannot write '%s': it is a symbolic link to %s; nabla "
                             "writes only regular files (give a file path)",
                             path, nbi_file_kind(to.st_mode));
        char *real = realpath(path, NULL);
        if (!real)
            return nbi_error(NB_ERR_IO, "cannot write '%s': cannot resolve the link: %s", path,
                             strerror(errno));
        *target = dup_str(real, strlen(real));
        free(real);
        if (!*target) return NB_ERR_NOMEM;
        st = to;
    } else if (!S_ISREG(st.st_mode)) {
        return nbi_error(NB_ERR_IO,
                         "cannot write '%s': it is %s, not a regular file; nabla "
                         "writes only regular files (give a file path)",
                         path, nbi_file_kind(st.st_mode));
    } else if (!(*target = dup_str(path, n))) {
        return NB_ERR_NOMEM;
    }
    *exists = true;
    *mode = (unsigned)(st.st_mode & 07777);
    *uid = (long)st.st_uid;
    *gid = (long)st.st_gid;
    return NB_OK;
}

/* The temporary names of a target start with "<base, shortened to fit>.tmp-". */
static size_t tmp_prefix(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t keep = strlen(base), room = NAME_MAX - TMP_SUFFIX;
    if (keep > room) keep = room;
    size_t dir = (size_t)(base - path);
    if (dir + keep + 6 > cap) return 0;
    memcpy(buf, path, dir + keep);
    memcpy(buf + dir + keep, ".tmp-", 6);
    return dir + keep + 5;
}

/* Does name (after the prefix) read "<pid>-<hex digits>", a temporary file of ours? */
static bool stale_pid(const char *rest, long *pid) {
    char *end;
    errno = 0;
    long p = strtol(rest, &end, 10);
    if (end == rest || *end != '-' || errno || p <= 0 || p > 0x7fffffffL) return false;
    const char *h = end + 1;
    if (!*h) return false;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f'))) return false;
    *pid = p;
    return true;
}

void nbi_atomic_clean_stale(const char *dir, const char *base_prefix) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t bl = base_prefix ? strlen(base_prefix) : 0;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name, *rest;
        long pid;
        if (base_prefix) {
            if (strncmp(name, base_prefix, bl) != 0) continue;
            rest = name + bl;
        } else {
            /* any temporary file of ours: the last ".tmp-" in the name */
            const char *t = NULL;
            for (const char *q = strstr(name, ".tmp-"); q; q = strstr(q + 1, ".tmp-")) t = q;
            if (!t || t == name) continue;
            rest = t + 5;
        }
        if (!stale_pid(rest, &pid) || pid == (long)getpid()) continue;
        /* Only when that process is gone (EPERM: it runs, as another user). */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        unlinkat(dfd, name, 0);
    }
    closedir(d);
}

static nb_status create_error(const char *path, const char *target, int err) {
    char *dir = dir_of(target);
    const char *d = dir ? dir : "its directory";
    nb_status s = nbi_error(
        NB_ERR_IO, "cannot write '%s': cannot create a temporary file in '%s': %s", path, d,
        err == ENOENT    ? "the directory does not exist"
        : err == ENOTDIR ? "a part of that path is not a directory"
                         : strerror(err));
    nbi_free(dir);
    return s;
}

nb_status nbi_atomic_open_flags(nbi_atomic_file *af, const char *path, unsigned flags) {
    memset(af, 0, sizeof *af);
    af->flags = flags;
    bool exists;
    unsigned mode = 0;
    long uid = -1, gid = -1;
    nb_status s = nbi_output_target(path, &af->path, &exists, &mode, &uid, &gid);
    if (s == NB_ERR_NOMEM) nbi_error(s, "atomic write '%s': out of memory", path ? path : "");
    if (s != NB_OK) return s;
    size_t cap = strlen(af->path) + TMP_SUFFIX + 8;
    af->tmp = nbi_malloc(cap);
    if (!af->tmp) {
        release(af);
        return nbi_error(NB_ERR_NOMEM, "atomic write '%s': out of memory", path);
    }
    size_t pl = tmp_prefix(af->path, af->tmp, cap);
    NBI_ASSERT(pl > 0);
    if (!(flags & NBI_ATOMIC_NO_CLEAN)) {
        const char *slash = strrchr(af->path, '/');
        char *dir = dir_of(af->path);
        if (dir) nbi_atomic_clean_stale(dir, af->tmp + (slash ? slash - af->path + 1 : 0));
        nbi_free(dir);
    }
    /* A unique name without global state: pid, a clock reading and a try counter; O_EXCL
     * makes a collision a retry rather than a clobber. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int fd = -1, err = 0;
    for (unsigned attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(af->tmp + pl, cap - pl, "%ld-%lx%u", (long)getpid(), (unsigned long)ts.tv_nsec,
                 attempt);
        fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        err = errno;
        if (fd < 0 && err != EEXIST) break;
    }
    if (fd < 0) {
        s = create_error(path, af->path, err);
        release(af);
        return s;
    }
    if (exists) {
        /* chown first: it may clear set-id bits that chmod then restores */
        if ((uid != (long)geteuid() || gid != (long)getegid()) &&
            fchown(fd, (uid_t)uid, (gid_t)gid) != 0)
            (void)!fchown(fd, (uid_t)-1, (gid_t)gid); /* at least the group, where allowed */
        if (fchmod(fd, (mode_t)mode) != 0) {
            err = errno;
            close(fd);
            unlink(af->tmp);
            s = nbi_error(NB_ERR_IO, "cannot give '%s' the mode of '%s': %s", af->tmp, path,
                          strerror(err));
            release(af);
            return s;
        }
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        err = errno;
        close(fd);
        unlink(af->tmp);
        s = nbi_error(NB_ERR_IO, "cannot open a stream on '%s': %s", af->tmp, strerror(err));
        release(af);
        return s;
    }
    return NB_OK;
}

nb_status nbi_atomic_open(nbi_atomic_file *af, const char *path) {
    return nbi_atomic_open_flags(af, path, 0);
}

nb_status nbi_atomic_write(nbi_atomic_file *af, const void *buf, size_t n) {
    if (af->err) return af->err;
    if (!af->f) return nbi_error(NB_ERR_STATE, "atomic write: the file is not open");
    if (n && fwrite(buf, 1, n, af->f) != n)
        af->err = nbi_error(NB_ERR_IO, "cannot write '%s': %s", af->tmp, strerror(errno));
    return af->err;
}

void nbi_atomic_abort(nbi_atomic_file *af) {
    if (!af->tmp) return;
    if (af->f) fclose(af->f);
    unlink(af->tmp);
    release(af);
}

void nbi_sync_dir_of(const char *path) {
    /* Failure to sync a directory is not an error worth failing the save for (some file
     * systems refuse it). */
    char *dir = dir_of(path);
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    nbi_free(dir);
}

nb_status nbi_atomic_commit(nbi_atomic_file *af) {
    if (!af->tmp) return nbi_error(NB_ERR_STATE, "atomic write: nothing to commit");
    bool sync = !(af->flags & NBI_ATOMIC_NO_SYNC);
    nb_status s = af->err;
    if (s == NB_OK && fflush(af->f) != 0)
        s = nbi_error(NB_ERR_IO, "cannot write '%s': %s", af->tmp, strerror(errno));
    if (s == NB_OK && sync && fsync(fileno(af->f)) != 0)
        s = nbi_error(NB_ERR_IO, "cannot sync '%s' to disk: %s", af->tmp, strerror(errno));
    int rc = fclose(af->f);
    af->f = NULL;
    if (s == NB_OK && rc != 0)
        s = nbi_error(NB_ERR_IO, "cannot close '%s': %s", af->tmp, strerror(errno));
    /* The target may have changed since open (a device put in its place): check again. */
    struct stat st;
    if (s == NB_OK && lstat(af->path, &st) == 0 && !S_ISREG(st.st_mode))
        s = nbi_error(NB_ERR_IO,
                      "cannot write '%s': it became %s while it was being written; "
                      "nabla writes only regular files",
                      af->path, nbi_file_kind(st.st_mode));
    if (s == NB_OK && rename(af->tmp, af->path) != 0)
        s = nbi_error(NB_ERR_IO, "cannot rename '%s' to '%s': %s", af->tmp, af->path,
                      strerror(errno));
    if (s != NB_OK) {
        unlink(af->tmp);
    } else if (sync) {
        nbi_sync_dir_of(af->path);
    }
    release(af);
    return s;
}

nb_status nbi_write_file_atomic(const char *path, const void *buf, size_t n) {
    nbi_atomic_file af;
    nb_status s = nbi_atomic_open(&af, path);
    if (s != NB_OK) return s;
    s = nbi_atomic_write(&af, buf, n);
    if (s != NB_OK) {
        nbi_atomic_abort(&af);
        return s;
    }
    return nbi_atomic_commit(&af);
}
