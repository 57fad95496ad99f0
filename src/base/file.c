/* base/file.c — reading a whole file into memory, checked against its real size; byte swaps.
 *
 * Every parser in nabla works on a buffer whose length is the file's true size, so a header
 * that claims more data than the file holds is caught before any allocation it asks for. */
#define _POSIX_C_SOURCE 200809L
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

nb_status nbi_read_file(const char *path, const char *what, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if (!path) return nbi_error(NB_ERR_ARG, "%s: the file path is NULL", what);
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever;
     * fstat then refuses it (and devices) before any read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return nbi_error(NB_ERR_IO, "%s: cannot open '%s': %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return nbi_error(NB_ERR_IO, "%s: cannot stat '%s': %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return nbi_error(NB_ERR_IO, "%s: cannot read '%s': it is %s, not a regular file", what,
                         path, nbi_file_kind(st.st_mode));
    }
    if (st.st_size < 0 || (uint64_t)st.st_size >= (uint64_t)SIZE_MAX) {
        close(fd);
        return nbi_error(NB_ERR_IO, "%s: '%s' is too large to read", what, path);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *p = nbi_malloc(size + 1);
    if (!p) {
        close(fd);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory reading '%s' (%zu bytes)", what, path,
                         size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            nbi_free(p);
            return nbi_error(NB_ERR_IO, "%s: cannot read '%s': %s", what, path, strerror(e));
        }
        if (r == 0) break; /* the file shrank while we read it: parse what is there */
        got += (size_t)r;
    }
    close(fd);
    p[got] = 0;
    *buf = p;
    *len = got;
    return NB_OK;
}

void nbi_swap_bytes(void *data, size_t n, size_t es) {
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}
