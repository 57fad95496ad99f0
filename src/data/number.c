/* data/number.c — decimal text to double, correctly rounded and locale-independent.
 *
 * strtod obeys LC_NUMERIC, so a program that set a German locale would read "0.5" as 0; a
 * data loader must not depend on that. The grammar is checked here, and most numbers take
 * Clinger's fast path: a mantissa of at most 19 digits that fits in 53 bits, times a power
 * of ten in [1e-22, 1e22], both exact doubles, so one IEEE multiplication or division gives
 * the correctly rounded result. Anything else (long mantissas, large exponents) goes to
 * strtod_l under an explicit "C" locale. */
#define _GNU_SOURCE
#include "data/data.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static bool word_ci(const char *s, size_t n, const char *w) {
    if (strlen(w) != n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != w[i]) return false;
    }
    return true;
}

nbi_num nbi_parse_double(const char *s, size_t n, double *out, void **c_locale) {
    size_t i = 0;
    while (n > 0 && is_blank(s[n - 1])) n--;
    while (i < n && is_blank(s[i])) i++;
    if (i == n) return NBI_NUM_EMPTY;
    const char *tok = s + i;
    size_t tlen = n - i;
    bool neg = false;
    if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
    if (word_ci(s + i, n - i, "nan") || word_ci(s + i, n - i, "inf") ||
        word_ci(s + i, n - i, "infinity"))
        return NBI_NUM_NONFINITE;
    uint64_t m = 0;
    int nd = 0;           /* significant digits kept in m */
    int64_t e10 = 0;      /* value = m * 10^e10 */
    bool any = false, exact = true;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        int d = s[i] - '0';
        any = true;
        if (m == 0 && d == 0) continue;
        if (nd < 19) {
            m = m * 10 + (uint64_t)d;
            nd++;
        } else {
            e10++;
            if (d) exact = false;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            int d = s[i] - '0';
            any = true;
            if (m == 0 && d == 0) {
                e10--;
            } else if (nd < 19) {
                m = m * 10 + (uint64_t)d;
                nd++;
                e10--;
            } else if (d) {
                exact = false;
            }
        }
    }
    if (!any) return NBI_NUM_BAD;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i >= n || s[i] < '0' || s[i] > '9') return NBI_NUM_BAD;
        int64_t e = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 1000000) e = e * 10 + (s[i] - '0'); /* saturate: 1e1000000 is inf anyway */
        e10 += eneg ? -e : e;
    }
    if (i != n) return NBI_NUM_BAD;
    double v;
    if (m == 0) {
        v = 0.0;
    } else if (exact && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        v = (double)m;
        v = e10 < 0 ? v / pow10_exact[-e10] : v * pow10_exact[e10];
    } else {
        /* The slow path: strtod_l in the "C" locale on a NUL-terminated copy. */
        if (!*c_locale) {
            *c_locale = (void *)newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
            if (!*c_locale) return NBI_NUM_BAD;
        }
        char small[128];
        char *buf = tlen < sizeof small ? small : nbi_malloc(tlen + 1);
        if (!buf) return NBI_NUM_BAD;
        memcpy(buf, tok, tlen);
        buf[tlen] = 0;
        char *end;
        v = strtod_l(buf, &end, (locale_t)*c_locale);
        bool whole = end == buf + tlen;
        if (buf != small) nbi_free(buf);
        if (!whole) return NBI_NUM_BAD;
        if (isinf(v)) return NBI_NUM_RANGE;
        *out = v;
        return NBI_NUM_OK;
    }
    *out = neg ? -v : v;
    return NBI_NUM_OK;
}

void nbi_num_locale_free(void *c_locale) {
    if (c_locale) freelocale((locale_t)c_locale);
}
