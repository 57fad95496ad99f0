/* data/text_words.c — the small pieces every text routine uses: UTF-8 decoding and encoding,
 * the word splitter that byte-level BPE learns and encodes within, and growing id arrays.
 *
 * The splitter follows GPT-2's pre-tokenisation pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * on bytes instead of Unicode classes: letters are ASCII letters and every byte >= 0x80 (so a
 * UTF-8 character is never cut, and accented words stay whole), digits are 0-9. Merges never
 * cross a word boundary, which keeps tokens meaningful and makes every word encodable on its
 * own (hence cacheable). */
#include "data/text.h"

#include <string.h>

size_t nbi_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp) {
    unsigned c = p[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

size_t nbi_utf8_encode(uint32_t cp, unsigned char *b) {
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- words ---------------------------------------------------------------------------------- */

enum { C_LETTER, C_DIGIT, C_SPACE, C_OTHER };

static int cls(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return C_LETTER;
    if (c >= '0' && c <= '9') return C_DIGIT;
    if (c == ' ' || (c >= '\t' && c <= '\r')) return C_SPACE;
    return C_OTHER;
}

/* The contraction at s[i] (which is '\''), or 0. */
static size_t contraction(const unsigned char *s, size_t n, size_t i) {
    static const char *const forms[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        size_t m = strlen(forms[k]);
        if (n - i >= m && !memcmp(s + i, forms[k], m)) return m;
    }
    return 0;
}

size_t nbi_word_len(const unsigned char *s, size_t n, size_t i) {
    size_t j = i;
    if (s[i] == '\'') {
        size_t m = contraction(s, n, i);
        if (m) return m;
    }
    /* ␣?letters, ␣?digits, ␣?other: an optional single space, then a run of one class. */
    if (s[j] == ' ' && j + 1 < n && cls(s[j + 1]) != C_SPACE) j++;
    int c = cls(s[j]);
    if (c != C_SPACE) {
        while (j < n && cls(s[j]) == c) j++;
        return j - i;
    }
    /* Spaces. At the end of the text, the whole run. Before a word, \s+(?!\S) takes all but
     * the last space, which then starts the next match (" word" when it is ' ', a word of its
     * own by \s+ otherwise); a run of one can only be that lone last space. */
    while (j < n && cls(s[j]) == C_SPACE) j++;
    if (j == n || j - i == 1) return j - i;
    return j - 1 - i;
}

/* ---- growing id arrays ---------------------------------------------------------------------- */

bool nbi_ids_reserve(nbi_ids *a, int64_t more) {
    if (more <= a->cap - a->n) return true;
    if (more > INT64_MAX / 8 - a->n) {
        nbi_error(NB_ERR_NOMEM, "tokens: too many ids");
        return false;
    }
    int64_t cap = a->cap ? a->cap : 256;
    while (cap < a->n + more) cap *= 2;
    size_t bytes;
    if (!nbi_mul_size((size_t)cap, sizeof(int32_t), &bytes)) {
        nbi_error(NB_ERR_NOMEM, "tokens: too many ids");
        return false;
    }
    int32_t *v = nbi_malloc(bytes);
    if (!v) {
        nbi_error(NB_ERR_NOMEM, "tokens: out of memory for %lld ids", (long long)cap);
        return false;
    }
    if (a->n) memcpy(v, a->v, (size_t)a->n * sizeof(int32_t));
    nbi_free(a->v);
    a->v = v;
    a->cap = cap;
    return true;
}
