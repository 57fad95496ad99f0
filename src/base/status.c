/* base/status.c — status names and the per-thread error message. */
#include "base/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[NB_STATUS_COUNT] = {
    [NB_OK] = "ok",
    [NB_ERR_NOMEM] = "out of memory",
    [NB_ERR_ARG] = "invalid argument",
    [NB_ERR_SHAPE] = "shape mismatch",
    [NB_ERR_STATE] = "invalid state",
    [NB_ERR_NUMERIC] = "non-finite value",
    [NB_ERR_SINGULAR] = "singular matrix",
    [NB_ERR_IO] = "i/o error",
    [NB_ERR_FORMAT] = "bad format",
    [NB_ERR_UNSUPPORTED] = "unsupported",
};

const char *nb_status_str(nb_status s) {
    if ((unsigned)s >= NB_STATUS_COUNT) return "unknown status";
    return status_names[s];
}

static _Thread_local char last_error[1024];

const char *nb_last_error(void) {
    return last_error;
}

void nb_clear_error(void) {
    last_error[0] = '\0';
}

/* The message is formatted into a buffer of its own and then copied, because an argument may
 * point into last_error itself — `nbi_error(s, "nb_fit: %s", nb_last_error())` wraps the
 * message of a call that failed underneath — and vsnprintf with a destination that overlaps
 * a source is undefined (in practice, the prefix repeated over the text it is reading). */
nb_status nbi_error(nb_status s, const char *fmt, ...) {
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    msg[len] = '\0';
    memcpy(last_error, msg, len + 1);
    return s;
}

void nbi_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "nabla: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}
