/* base/text.c — a growing string for the text nabla writes (spec lines, safetensors JSON
 * headers, metadata), numbers printed so that they read back bit for bit, and the UTF-8
 * check for the strings a file will hold (nbi_utf8_valid).
 *
 * A float is printed with the fewest significant digits (1 to 9 for f32, 1 to 17 for f64)
 * that strtof/strtod turn back into the same value: 0.1f prints "0.1", not "0.100000001".
 * printf and strtod share the process's locale, so the round-trip check holds in any
 * locale; the locale's decimal point is then replaced by '.', so files do not depend on it. */
#include "base/base.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nbi_text_init(nbi_text *t) {
    memset(t, 0, sizeof *t);
}

static bool reserve(nbi_text *t, size_t extra) {
    if (t->oom) return false;
    size_t need;
    if (!nbi_add_size(t->len, extra, &need) || !nbi_add_size(need, 1, &need)) {
        t->oom = true;
        return false;
    }
    if (need <= t->cap) return true;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *b = nbi_malloc(cap);
    if (!b) {
        t->oom = true;
        return false;
    }
    if (t->len) memcpy(b, t->buf, t->len);
    b[t->len] = 0;
    nbi_free(t->buf);
    t->buf = b;
    t->cap = cap;
    return true;
}

void nbi_text_put(nbi_text *t, const char *s, size_t n) {
    if (!reserve(t, n)) return;
    if (n) memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

void nbi_text_puts(nbi_text *t, const char *s) {
    nbi_text_put(t, s, strlen(s));
}

void nbi_text_printf(nbi_text *t, const char *fmt, ...) {
    if (t->oom) return;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        nbi_text_put(t, small, (size_t)n);
        return;
    }
    if (!reserve(t, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

nb_status nbi_text_status(const nbi_text *t, const char *what) {
    if (t->oom) return nbi_error(NB_ERR_NOMEM, "%s: out of memory building text", what);
    return NB_OK;
}

const char *nbi_text_str(const nbi_text *t) {
    return t->buf ? t->buf : "";
}

void nbi_text_free(nbi_text *t) {
    nbi_free(t->buf);
    memset(t, 0, sizeof *t);
}

/* Replaces the locale's decimal point (if it is not '.') by '.'. */
static void fix_point(char *buf) {
    const char *dp = localeconv()->decimal_point;
    if (!dp || !dp[0] || (dp[0] == '.' && !dp[1])) return;
    size_t k = strlen(dp);
    char *p = strstr(buf, dp);
    if (!p) return;
    *p = '.';
    memmove(p + 1, p + k, strlen(p + k) + 1);
}

static bool nonfinite(char *buf, size_t n, double v) {
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return true;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return true;
    }
    return false;
}

void nbi_fmt_float(char *buf, size_t n, float v) {
    if (nonfinite(buf, n, v)) return;
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    fix_point(buf);
}

void nbi_fmt_double(char *buf, size_t n, double v) {
    if (nonfinite(buf, n, v)) return;
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    fix_point(buf);
}

void nbi_text_value(nbi_text *t, const char *v) {
    bool plain = v[0] != 0;
    for (const char *p = v; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '"' || *p == '\\' || *p == '#' || *p == '\r')
            plain = false;
    if (plain) {
        nbi_text_puts(t, v);
        return;
    }
    nbi_text_puts(t, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') nbi_text_puts(t, "\\");
        nbi_text_put(t, p, 1);
    }
    nbi_text_puts(t, "\"");
}

void nbi_text_float(nbi_text *t, float v) {
    char b[48];
    nbi_fmt_float(b, sizeof b, v);
    nbi_text_puts(t, b);
}

void nbi_text_double(nbi_text *t, double v) {
    char b[48];
    nbi_fmt_double(b, sizeof b, v);
    nbi_text_puts(t, b);
}

size_t nbi_text_export(nbi_text *t, const char *what, char *buf, size_t n) {
    if (nbi_text_status(t, what) != NB_OK) {
        nbi_text_free(t);
        return 0;
    }
    size_t len = t->len;
    if (buf && n) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(buf, nbi_text_str(t), k);
        buf[k] = 0;
    }
    nbi_text_free(t);
    return len;
}

bool nbi_utf8_valid(const char *str, size_t n) {
    const unsigned char *p = (const unsigned char *)str, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < len) return false;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += len;
    }
    return true;
}
