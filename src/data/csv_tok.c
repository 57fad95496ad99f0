/* data/csv_tok.c — the text layer of the CSV reader: fields and records (RFC 4180), the
 * delimiter a file uses, missing-value markers, and short excerpts of file text for messages.
 *
 * A field is quoted or not. Quoted: everything up to the closing quote, "" standing for one
 * quote, delimiters and newlines included; blanks before the opening and after the closing
 * quote are skipped. Unquoted: up to the delimiter or the end of the line, trimmed of blanks.
 * Records end with LF, CRLF or a lone CR (old Mac files). The physical line is tracked across
 * newlines inside quotes, so a message can name the line a field starts on. */
#include "data/data.h"

#include <string.h>

bool nbi_csv_next_record(nbi_csv_tok *t) {
    while (t->i < t->n) {
        if (t->s[t->i] == '\n') {
            t->i++;
            t->line++;
        } else if (t->s[t->i] == '\r' && t->i + 1 < t->n && t->s[t->i + 1] == '\n') {
            t->i += 2;
            t->line++;
        } else {
            return true;
        }
    }
    return false;
}

static nb_status grow_scratch(nbi_csv_tok *t, size_t need) {
    if (need <= t->scap) return NB_OK;
    size_t cap = t->scap ? t->scap : 64;
    while (cap < need) cap *= 2;
    char *p = nbi_malloc(cap);
    if (!p) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", t->name);
    nbi_free(t->scratch);
    t->scratch = p;
    t->scap = cap;
    return NB_OK;
}

/* A quoted field, from the opening quote at t->i. */
static nb_status quoted_field(nbi_csv_tok *t, int64_t col) {
    t->quoted = true;
    size_t start = ++t->i, quotes = 0;
    int64_t lines = 0;
    for (;;) {
        const char *q = memchr(t->s + t->i, '"', t->n - t->i);
        for (const char *c = t->s + t->i; c < (q ? q : t->s + t->n); c++) lines += *c == '\n';
        if (!q)
            return nbi_error(NB_ERR_FORMAT,
                             "%s:%lld: column %lld: a quoted field is never "
                             "closed (a '\"' is missing)",
                             t->name, (long long)t->fline, (long long)col + 1);
        t->i = (size_t)(q - t->s) + 1;
        if (t->i < t->n && t->s[t->i] == '"') { /* "" is a literal quote */
            quotes++;
            t->i++;
            continue;
        }
        break;
    }
    t->line += lines;
    size_t end = t->i - 1; /* the closing quote */
    if (quotes == 0) {
        t->f = t->s + start;
        t->flen = end - start;
    } else {
        nb_status st = grow_scratch(t, end - start);
        if (st) return st;
        size_t k = 0;
        for (size_t j = start; j < end; j++) {
            t->scratch[k++] = t->s[j];
            if (t->s[j] == '"') j++;
        }
        t->f = t->scratch;
        t->flen = k;
    }
    while (t->i < t->n && (t->s[t->i] == ' ' || t->s[t->i] == '\t') && t->delim != t->s[t->i])
        t->i++;
    if (t->i < t->n && t->s[t->i] != t->delim && t->s[t->i] != '\n' && t->s[t->i] != '\r')
        return nbi_error(NB_ERR_FORMAT,
                         "%s:%lld: column %lld: unexpected character '%c' "
                         "after a closing quote (a field is either all quoted or not at "
                         "all)",
                         t->name, (long long)t->line, (long long)col + 1, t->s[t->i]);
    return NB_OK;
}

nb_status nbi_csv_next_field(nbi_csv_tok *t, int64_t col, bool *eor) {
    t->fline = t->line;
    t->quoted = false;
    /* Blanks before an opening quote are skipped (`a, "b"`), as most writers mean them; a
     * tab that is the delimiter is not a blank. */
    size_t lead = t->i;
    while (lead < t->n && (t->s[lead] == ' ' || t->s[lead] == '\t') && t->s[lead] != t->delim)
        lead++;
    if (lead < t->n && t->s[lead] == '"') {
        t->i = lead;
        nb_status st = quoted_field(t, col);
        if (st) return st;
    } else {
        size_t start = t->i;
        while (t->i < t->n && t->s[t->i] != t->delim && t->s[t->i] != '\n' && t->s[t->i] != '\r')
            t->i++;
        t->f = t->s + start;
        t->flen = t->i - start;
        /* Unquoted text is trimmed of blanks, quoted text is kept exactly. */
        while (t->flen && (t->f[0] == ' ' || t->f[0] == '\t')) t->f++, t->flen--;
        while (t->flen && (t->f[t->flen - 1] == ' ' || t->f[t->flen - 1] == '\t')) t->flen--;
    }
    if (t->i >= t->n) {
        *eor = true;
    } else if (t->s[t->i] == t->delim) {
        t->i++;
        *eor = false;
    } else if (t->s[t->i] == '\n') {
        t->i++;
        t->line++;
        *eor = true;
    } else { /* '\r': CRLF, or a lone CR */
        t->i++;
        if (t->i < t->n && t->s[t->i] == '\n') t->i++;
        t->line++;
        *eor = true;
    }
    return NB_OK;
}

char nbi_csv_sniff_delimiter(const char *s, size_t n) {
    static const char cand[4] = {',', ';', '\t', '|'};
    size_t count[4] = {0};
    size_t i = n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < n && (s[i] == '\n' || s[i] == '\r')) i++; /* blank lines */
    bool quoted = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            quoted = !quoted; /* "" inside quotes toggles twice: no change */
            continue;
        }
        if (quoted) continue;
        if (c == '\n' || c == '\r') break;
        for (int k = 0; k < 4; k++) count[k] += c == cand[k];
    }
    int best = 0;
    for (int k = 1; k < 4; k++)
        if (count[k] > count[best]) best = k;
    return cand[best];
}

static bool same_ci(const char *s, size_t n, const char *word) {
    size_t k = strlen(word);
    if (n != k) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[i]) return false;
    }
    return true;
}

bool nbi_csv_is_missing(const char *s, size_t n) {
    while (n && (s[0] == ' ' || s[0] == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return n == 0 || same_ci(s, n, "na") || same_ci(s, n, "n/a") || same_ci(s, n, "nan") ||
           same_ci(s, n, "null") || (n == 1 && s[0] == '?');
}

const char *nbi_csv_excerpt(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++) {
        char c = s[i];
        buf[k++] = (c >= 32 && c < 127) ? c : '?';
    }
    if (n > k) {
        buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    }
    buf[k] = 0;
    return buf;
}
