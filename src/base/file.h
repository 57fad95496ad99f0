/* base/file.h — file helpers shared by the data loaders, the model files and training logs:
 * reading a whole file with its size checked, atomic writes (temporary file in the same
 * directory, flushed, fsync'd, renamed over the target), so that a crash mid-write never
 * leaves a half-written file where a good one was, and the byte order of binary formats. */
#ifndef NBI_FILE_H
#define NBI_FILE_H

#include "base/base.h"

#include <stdio.h>

/* Reads all of the regular file at path into a fresh buffer (nbi_malloc; a zero byte is
 * appended after the data, not counted in *len). `what` names the reader in messages
 * ("IDX", "CSV"). Fails with NB_ERR_IO naming the file and the system's reason. */
nb_status nbi_read_file(const char *path, const char *what, unsigned char **buf, size_t *len);

/* An atomic write in progress. */
typedef struct nbi_atomic_file {
    FILE *f;
    char *path;     /* the target (a symbolic link resolved to the file it points to) */
    char *tmp;      /* the temporary file beside it */
    nb_status err;  /* the first write error, reported by commit */
    unsigned flags; /* NBI_ATOMIC_* */
} nbi_atomic_file;

/* Flags of nbi_atomic_open_flags (the same values as the public NB_ATOMIC_*). */
enum {
    NBI_ATOMIC_NO_SYNC = 1, /* no fsync of the file and its directory at commit */
    NBI_ATOMIC_NO_CLEAN = 2 /* no search for stale temporary files of the target */
};

/* Creates the temporary file "<path>.tmp-<pid>-<n>" beside the target: mode 0666 less the
 * umask for a new file, the mode (and, where allowed, owner and group) of the file it
 * replaces. Refuses a target that is not absent, a regular file or a link to one (a device,
 * a FIFO, a directory, a dangling link), and first removes temporary files of the same target
 * left by processes that no longer run. */
nb_status nbi_atomic_open(nbi_atomic_file *af, const char *path);
nb_status nbi_atomic_open_flags(nbi_atomic_file *af, const char *path, unsigned flags);
/* Appends n bytes; an error is remembered and returned here and by commit. */
nb_status nbi_atomic_write(nbi_atomic_file *af, const void *buf, size_t n);
/* fflush, fsync, close, rename over the target, fsync the directory. On any failure the
 * temporary file is removed and the target is untouched. Always releases af. */
nb_status nbi_atomic_commit(nbi_atomic_file *af);
/* Gives up: closes and removes the temporary file. No-op on a released af. */
void nbi_atomic_abort(nbi_atomic_file *af);

/* The whole of buf written atomically to path. */
nb_status nbi_write_file_atomic(const char *path, const void *buf, size_t n);

/* What an output path really names: the path itself, or the file a symbolic link points to
 * (*target, nbi_malloc'd), whether it exists, and then its permission bits, owner and group.
 * Fails, naming what the path is, for anything but an absent path, a regular file or a link
 * to one. */
nb_status nbi_output_target(const char *path, char **target, bool *exists, unsigned *mode,
                            long *uid, long *gid);
/* "a directory", "a character device", "a FIFO (named pipe)", ... for a st_mode. */
const char *nbi_file_kind(unsigned mode);
/* Removes, in dir, the temporary files of ours whose writer no longer runs: those named
 * "<base_prefix><pid>-<hex>" (base_prefix ends in ".tmp-"), or with base_prefix NULL any
 * "<name>.tmp-<pid>-<hex>". Only regular files owned by this user; errors are ignored. */
void nbi_atomic_clean_stale(const char *dir, const char *base_prefix);
/* fsync of the directory that holds path (errors ignored: some file systems refuse it). */
void nbi_sync_dir_of(const char *path);

/* ---- byte order ------------------------------------------------------------------------- */
static inline uint32_t nbi_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t nbi_le32(const unsigned char *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline uint16_t nbi_le16(const unsigned char *p) { return (uint16_t)(p[1] << 8 | p[0]); }
static inline bool nbi_host_is_le(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}
/* Reverses the bytes of each of n elements of size `es` in place. */
void nbi_swap_bytes(void *data, size_t n, size_t es);

#endif
