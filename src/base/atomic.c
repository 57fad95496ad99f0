/* base/atomic.c — atomic file replacement.
 *
 * The data goes to a temporary file in the target's directory (rename is atomic only within
 * one file system), which is flushed, fsync'd and renamed over the target; the directory is
 * then fsync'd so that the rename itself survives a power loss. A reader sees either the old
 * file or the complete new one, never a mix. */
#define _POSIX_C_SOURCE 200809L
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void release(nbi_atomic_file *af) {
    nbi_free(af->path);
    nbi_free(af->tmp);
    af->path = af->tmp = NULL;
    af->f = NULL;
}

nb_status nbi_atomic_open(nbi_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (!path || !*path) return nbi_error(NB_ERR_ARG, "atomic write: the file path is empty");
    size_t n = strlen(path);
    size_t cap = n + 64;
    af->path = nbi_malloc(n + 1);
    af->tmp = nbi_malloc(cap);
    if (!af->path || !af->tmp) {
        release(af);
        return nbi_error(NB_ERR_NOMEM, "atomic write '%s': out of memory", path);
    }
    memcpy(af->path, path, n + 1);
    /* A unique name without global state: pid, a clock reading and a try counter; O_EXCL
     * makes a collision a retry rather than a clobber. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int fd = -1, err = 0;
    for (unsigned attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(af->tmp, cap, "%s.tmp-%ld-%lx%u", path, (long)getpid(),
                 (unsigned long)ts.tv_nsec, attempt);
        fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        err = errno;
        if (fd < 0 && err != EEXIST) break;
    }
    if (fd < 0) {
        nb_status s = nbi_error(NB_ERR_IO, "cannot create a temporary file beside '%s': %s",
                                path, strerror(err));
        release(af);
        return s;
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        err = errno;
        close(fd);
        unlink(af->tmp);
        nb_status s = nbi_error(NB_ERR_IO, "cannot open a stream on '%s': %s", af->tmp,
                                strerror(err));
        release(af);
        return s;
    }
    return NB_OK;
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

static void sync_dir_of(const char *path) {
    /* The directory part of path ("." when there is none). Failure to sync a directory is
     * not an error worth failing the save for (some file systems refuse it). */
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t k = (size_t)(slash - path);
        if (k == 0) k = 1;
        if (k >= sizeof dir) return;
        memcpy(dir, path, k);
        dir[k] = 0;
    }
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

nb_status nbi_atomic_commit(nbi_atomic_file *af) {
    if (!af->tmp) return nbi_error(NB_ERR_STATE, "atomic write: nothing to commit");
    nb_status s = af->err;
    if (s == NB_OK && fflush(af->f) != 0)
        s = nbi_error(NB_ERR_IO, "cannot write '%s': %s", af->tmp, strerror(errno));
    if (s == NB_OK && fsync(fileno(af->f)) != 0)
        s = nbi_error(NB_ERR_IO, "cannot sync '%s' to disk: %s", af->tmp, strerror(errno));
    int rc = fclose(af->f);
    af->f = NULL;
    if (s == NB_OK && rc != 0)
        s = nbi_error(NB_ERR_IO, "cannot close '%s': %s", af->tmp, strerror(errno));
    if (s == NB_OK && rename(af->tmp, af->path) != 0)
        s = nbi_error(NB_ERR_IO, "cannot rename '%s' to '%s': %s", af->tmp, af->path,
                      strerror(errno));
    if (s != NB_OK) {
        unlink(af->tmp);
    } else {
        sync_dir_of(af->path);
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
