/* nabla/file.h — how nabla writes files, for programs that write their own beside it: atomic
 * replacement, and checks of output paths made before long work.
 *
 *     if (nb_output_check("model.safetensors") != NB_OK) ...   // before training, not after
 *     nb_atomic_file *af;
 *     nb_atomic_open("pred.txt", 0, &af);
 *     fprintf(nb_atomic_stream(af), "...");
 *     nb_atomic_commit(af);                 // or nb_atomic_abort(af): the old file stays
 *
 * Every file nabla writes (models, checkpoints, .npy, the history CSV, the SVG plot) goes
 * through this writer: the data goes to a temporary file beside the target, which is flushed,
 * fsync'd and renamed over it, so a reader — or a run killed at any moment — sees the old file
 * or the complete new one, never a mix. Only a regular file, an absent path or a symbolic link
 * to a regular file is replaced; a device, a FIFO, a directory or a dangling link is refused
 * before anything is written. docs/reliability.md states the promises in full. */
#ifndef NABLA_FILE_H
#define NABLA_FILE_H

#include "nabla/base.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_atomic_file nb_atomic_file;

enum {
    /* No fsync of the file and its directory at commit: for many small files written in a
     * row, made durable together by one nb_sync_dir at the end. A killed process still leaves
     * each file old or complete; only a power loss before the sync may lose recent ones. */
    NB_ATOMIC_NO_SYNC = 1,
    /* Do not look for stale temporary files of the target (the caller cleaned the directory
     * once, with nb_output_dir). */
    NB_ATOMIC_NO_CLEAN = 2
};

/* Starts an atomic write of path: checks the target, removes temporary files of it left by
 * killed processes, and creates the temporary file. A replaced file keeps its permission
 * bits (and owner and group where the process may set them). */
nb_status nb_atomic_open(const char *path, unsigned flags, nb_atomic_file **out);
/* The stream to write to (binary). Errors on it are reported by nb_atomic_commit. */
FILE *nb_atomic_stream(nb_atomic_file *af);
/* Flushes, syncs and renames over the target; on any failure the target is untouched and the
 * temporary file removed. Always frees af. */
nb_status nb_atomic_commit(nb_atomic_file *af);
/* Gives up: removes the temporary file, leaves the target as it was, frees af. NULL: no-op. */
void nb_atomic_abort(nb_atomic_file *af);

/* Checks, before long work, that path can be written: it is absent, a regular file or a link
 * to one, and its directory exists and takes a new file (one is created and removed). The
 * error names the path and what is wrong with it. */
nb_status nb_output_check(const char *path);
/* A directory for output files: created (mode 0777 less the umask) when missing; it must be
 * a directory (or a link to one) that takes a new file. Temporary files of ours left in it by
 * killed processes are removed. */
nb_status nb_output_dir(const char *dir);
/* Makes every file written into dir durable: syncs its file system (syncfs where the system
 * has it, else sync) and the directory itself. */
nb_status nb_sync_dir(const char *dir);

/* Reads a whole regular file into *buf (nb_free releases it; a NUL follows the *len bytes).
 * A FIFO, a device or a directory is refused at once (never waited on), with a message
 * naming the path. */
nb_status nb_file_read(const char *path, void **buf, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
