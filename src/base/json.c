/* base/json.c — a small strict JSON reader for safetensors headers, and the writer's string
 * escaping.
 *
 * RFC 8259, as much of it as the header needs: objects, arrays, strings and non-negative
 * integers. A string must be valid UTF-8 with every control character escaped; \uXXXX escapes
 * (surrogate pairs included) are decoded to UTF-8; \u0000 is refused, since names and
 * metadata become C strings. Integers are plain digits without a leading zero, at most
 * 2^64 - 1. Anything else — a fraction, an exponent, true/false/null, a trailing comma — is an
 * error that says what was expected and at which byte of the file. Nesting is bounded by the
 * callers (the header is two levels deep), so nothing here recurses. */
#include "base/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

nb_status nbi_json_error(nbi_json *j, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t at = (size_t)(j->p - j->start) + j->base;
    if (j->p >= j->end)
        return nbi_error(NB_ERR_FORMAT, "%s: %s, but the JSON header ends at byte %zu", j->name,
                         msg, at);
    unsigned char c = (unsigned char)*j->p;
    if (c >= 0x20 && c < 0x7f)
        return nbi_error(NB_ERR_FORMAT, "%s: %s at byte %zu of the file, got '%c'", j->name, msg,
                         at, (char)c);
    return nbi_error(NB_ERR_FORMAT, "%s: %s at byte %zu of the file, got byte 0x%02x", j->name, msg,
                     at, c);
}

void nbi_json_init(nbi_json *j, const char *p, size_t n, size_t base, const char *name) {
    j->start = j->p = p;
    j->end = p + n;
    j->base = base;
    j->name = name;
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int nbi_json_peek(nbi_json *j) {
    while (j->p < j->end && is_ws(*j->p)) j->p++;
    return j->p < j->end ? (unsigned char)*j->p : -1;
}

bool nbi_json_accept(nbi_json *j, char c) {
    if (nbi_json_peek(j) != (unsigned char)c) return false;
    j->p++;
    return true;
}

nb_status nbi_json_expect(nbi_json *j, char c, const char *what) {
    if (nbi_json_accept(j, c)) return NB_OK;
    return nbi_json_error(j, "expected '%c' %s", c, what);
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static void put_utf8(nbi_text *out, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18);
        b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    nbi_text_put(out, b, n);
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid (overlong forms, surrogates
 * and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

nb_status nbi_json_string(nbi_json *j, nbi_text *out, const char *what) {
    if (nbi_json_peek(j) != '"') return nbi_json_error(j, "expected a string (%s)", what);
    j->p++;
    out->len = 0;
    if (out->buf) out->buf[0] = 0;
    for (;;) {
        if (j->p >= j->end) return nbi_json_error(j, "unterminated string (%s)", what);
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return nbi_json_error(j, "a control character must be escaped in a string (%s)", what);
        if (c == '\\') {
            if (j->end - j->p < 2) {
                j->p = j->end;
                return nbi_json_error(j, "unterminated escape (%s)", what);
            }
            char e = j->p[1];
            const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
            const char *hit = NULL;
            for (const char *m = map; *m; m += 2)
                if (*m == e) hit = m;
            if (hit) {
                nbi_text_put(out, hit + 1, 1);
                j->p += 2;
                continue;
            }
            if (e != 'u') {
                j->p++;
                return nbi_json_error(j, "unknown escape in a string (%s)", what);
            }
            int u = j->end - j->p >= 6 ? hex4(j->p + 2) : -1;
            if (u < 0) return nbi_json_error(j, "expected \\u and 4 hex digits (%s)", what);
            uint32_t cp = (uint32_t)u;
            j->p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo =
                    j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' ? hex4(j->p + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return nbi_json_error(j,
                                          "a high surrogate \\u%04X must be followed by a "
                                          "low one (%s)",
                                          (unsigned)cp, what);
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                j->p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                j->p -= 6;
                return nbi_json_error(j, "a lone low surrogate (%s)", what);
            } else if (cp == 0) {
                j->p -= 6;
                return nbi_json_error(j, "\\u0000 is not allowed in a string (%s)", what);
            }
            put_utf8(out, cp);
            continue;
        }
        size_t n = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
        if (!n) return nbi_json_error(j, "invalid UTF-8 in a string (%s)", what);
        nbi_text_put(out, j->p, n);
        j->p += n;
    }
    return nbi_text_status(out, j->name);
}

nb_status nbi_json_u64(nbi_json *j, uint64_t *out, const char *what) {
    int c = nbi_json_peek(j);
    if (c < '0' || c > '9') return nbi_json_error(j, "expected a non-negative integer (%s)", what);
    uint64_t v = 0;
    const char *first = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            j->p = first;
            return nbi_json_error(j, "an integer larger than 2^64 - 1 (%s)", what);
        }
        v = v * 10 + d;
        j->p++;
    }
    if (*first == '0' && j->p - first > 1) {
        j->p = first;
        return nbi_json_error(j, "a number with a leading zero (%s)", what);
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return nbi_json_error(j, "expected an integer, without fraction or exponent (%s)", what);
    *out = v;
    return NB_OK;
}

void nbi_json_put_string(nbi_text *out, const char *s) {
    nbi_text_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char b[2] = {'\\', (char)*p};
            nbi_text_put(out, b, 2);
        } else if (*p < 0x20) {
            nbi_text_printf(out, "\\u%04x", *p);
        } else {
            nbi_text_put(out, (const char *)p, 1);
        }
    }
    nbi_text_puts(out, "\"");
}
