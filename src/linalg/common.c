/* linalg/common.c — what the raw routines share: argument checks, workspaces, names of
 * matrices in messages. */
#include "linalg/linalg.h"

#include <stdio.h>

nb_status nbi_check_mat(const char *fn, const char *name, int64_t rows, int64_t cols, const void *p,
                        int64_t ld) {
    if (rows < 0 || cols < 0)
        return nbi_error(NB_ERR_ARG, "%s: %s has negative size %lldx%lld", fn, name,
                         (long long)rows, (long long)cols);
    if (rows > 0 && cols > 0 && !p) return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, name);
    if (rows > 0 && ld < cols)
        return nbi_error(NB_ERR_ARG,
                         "%s: leading dimension of %s is %lld, less than its %lld "
                         "columns",
                         fn, name, (long long)ld, (long long)cols);
    return NB_OK;
}

double *nbi_la_alloc(const char *fn, size_t count) {
    size_t bytes;
    if (!nbi_mul_size(count ? count : 1, sizeof(double), &bytes)) {
        nbi_error(NB_ERR_NOMEM, "%s: the workspace size overflows", fn);
        return NULL;
    }
    return nbi_malloc_for(fn, bytes);
}

void nbi_la_what(char *buf, size_t cap, int64_t rows, int64_t cols, const char *noun) {
    snprintf(buf, cap, "the %lldx%lld %s", (long long)rows, (long long)cols, noun);
}
