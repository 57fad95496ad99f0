/* io/output.c — output paths checked before long work, the public face of the atomic writer
 * (io/atomic.c), and syncing a directory of files written without a sync each.
 *
 * A check creates (and removes) a temporary file where the real one will go, so "the
 * directory exists", "it is writable", "the file system is not read-only" and "the name is not
 * too long" are all answered by the system itself, the same way the real write will ask. */
#define _GNU_SOURCE /* syncfs */
#include "base/file.h"
#include "nabla/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct nb_atomic_file {
    nbi_atomic_file af;
};

nb_status nb_atomic_open(const char *path, unsigned flags, nb_atomic_file **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_atomic_open: out is NULL");
    *out = NULL;
    if (flags & ~(unsigned)(NB_ATOMIC_NO_SYNC | NB_ATOMIC_NO_CLEAN))
        return nbi_error(NB_ERR_ARG, "nb_atomic_open: unknown flags 0x%x", flags);
    nb_atomic_file *a = nbi_malloc_for("nb_atomic_open", sizeof *a);
    if (!a) return NB_ERR_NOMEM;
    nb_status s = nbi_atomic_open_flags(&a->af, path, flags);
    if (s != NB_OK) {
        nbi_free(a);
        return s;
    }
    *out = a;
    return NB_OK;
}

FILE *nb_atomic_stream(nb_atomic_file *af) {
    return af ? af->af.f : NULL;
}

nb_status nb_atomic_commit(nb_atomic_file *af) {
    if (!af) return nbi_error(NB_ERR_ARG, "nb_atomic_commit: the file is NULL");
    nb_status s = af->af.f && ferror(af->af.f)
                      ? nbi_error(NB_ERR_IO,
                                  "cannot write '%s': a write to it failed (is the "
                                  "disk full?)",
                                  af->af.path)
                      : NB_OK;
    if (s != NB_OK)
        nbi_atomic_abort(&af->af);
    else
        s = nbi_atomic_commit(&af->af);
    nbi_free(af);
    return s;
}

void nb_atomic_abort(nb_atomic_file *af) {
    if (!af) return;
    nbi_atomic_abort(&af->af);
    nbi_free(af);
}

nb_status nb_output_check(const char *path) {
    nbi_atomic_file af;
    nb_status s = nbi_atomic_open_flags(&af, path, 0);
    if (s != NB_OK) return s;
    nbi_atomic_abort(&af);
    return NB_OK;
}

nb_status nb_output_dir(const char *dir) {
    if (!dir || !*dir) return nbi_error(NB_ERR_ARG, "the output directory is empty");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT)
            return nbi_error(NB_ERR_IO, "cannot use the directory '%s': %s", dir, strerror(errno));
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return nbi_error(NB_ERR_IO, "cannot create the directory '%s': %s", dir,
                             strerror(errno));
        if (stat(dir, &st) != 0)
            return nbi_error(NB_ERR_IO, "cannot use the directory '%s': %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return nbi_error(NB_ERR_IO, "cannot write into '%s': it is %s, not a directory", dir,
                         nbi_file_kind(st.st_mode));
    nbi_atomic_clean_stale(dir, NULL);
    /* a probe: a file of our naming, created and removed */
    size_t n = strlen(dir);
    char *probe = nbi_malloc_for("nb_output_dir", n + 16);
    if (!probe) return NB_ERR_NOMEM;
    snprintf(probe, n + 16, "%s/.nabla-probe", dir);
    nbi_atomic_file af;
    nb_status s = nbi_atomic_open_flags(&af, probe, NBI_ATOMIC_NO_CLEAN);
    if (s == NB_OK) nbi_atomic_abort(&af);
    nbi_free(probe);
    return s;
}

nb_status nb_sync_dir(const char *dir) {
    if (!dir) return nbi_error(NB_ERR_ARG, "nb_sync_dir: the directory is NULL");
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nbi_error(NB_ERR_IO, "cannot open the directory '%s': %s", dir, strerror(errno));
#ifdef __linux__
    int rc = syncfs(fd);
#else
    sync();
    int rc = 0;
#endif
    int e = errno;
    fsync(fd); /* the directory's entries; some file systems refuse, which syncfs covered */
    close(fd);
    if (rc != 0)
        return nbi_error(NB_ERR_IO, "cannot sync the files in '%s' to disk: %s", dir, strerror(e));
    return NB_OK;
}
