/* io/spec_line.c — one line of a spec: splitting it into tokens, and reading its arguments
 * with messages that point at the offending column and say what was expected. */
#include "io/spec.h"
#include "data/data.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

nb_status nbi_line_error(nbi_line *l, int col, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->reported = true;
    return nbi_error(NB_ERR_FORMAT, "%s:%d:%d: %s", l->file, l->line, col, msg);
}

void nbi_line_free(nbi_line *l) {
    if (l->scratch != l->small) nbi_free(l->scratch);
    l->scratch = NULL;
    nbi_num_locale_free(l->c_locale);
    l->c_locale = NULL;
}

/* Keys compare with '-' and '_' alike. */
static bool key_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

/* Reads one token starting at text[*i] into out (unescaping a quoted part); *i ends after it.
 * A token is a run of non-blank characters, in which a double-quoted part may hold blanks. */
static nb_status read_token(nbi_line *l, const char *text, size_t n, size_t *i, char **out) {
    char *o = *out;
    size_t k = *i;
    while (k < n && !is_space(text[k])) {
        if (text[k] == '"') {
            size_t start = k++;
            for (;;) {
                if (k >= n)
                    return nbi_line_error(l, (int)start + 1,
                                          "unterminated quote: a quoted "
                                          "value must end with '\"' on the same line");
                char c = text[k++];
                if (c == '"') break;
                if (c == '\\') {
                    if (k >= n || (text[k] != '"' && text[k] != '\\'))
                        return nbi_line_error(l, (int)k,
                                              "in a quoted value, '\\' may only "
                                              "escape '\"' or '\\'");
                    c = text[k++];
                }
                if (c == 0) return nbi_line_error(l, (int)k, "a NUL byte in a quoted value");
                *o++ = c;
            }
        } else {
            if (text[k] == 0) return nbi_line_error(l, (int)k + 1, "a NUL byte in the text");
            *o++ = text[k++];
        }
    }
    *o++ = 0;
    *out = o;
    *i = k;
    return NB_OK;
}

nb_status nbi_line_split(nbi_line *l, const char *file, int line, const char *text, size_t n) {
    memset(l, 0, sizeof *l);
    l->file = file;
    l->line = line;
    l->end_col = (int)n + 1;
    /* Unescaped tokens are never longer than the text, plus one NUL each. */
    l->scratch = 2 * n + 2 <= sizeof l->small ? l->small : nbi_malloc(2 * n + 2);
    if (!l->scratch)
        return nbi_error(NB_ERR_NOMEM, "%s:%d: out of memory reading the line", file, line);
    char *o = l->scratch;
    size_t i = 0;
    int count = 0;
    for (;;) {
        while (i < n && is_space(text[i])) i++;
        if (i >= n || text[i] == '#') break;
        if (++count > 1 + 2 * NBI_LINE_MAX_TOKENS || l->n_pos >= NBI_LINE_MAX_TOKENS ||
            l->n_opt >= NBI_LINE_MAX_TOKENS)
            return nbi_line_error(l, (int)i + 1, "too many words on one line (at most %d)",
                                  NBI_LINE_MAX_TOKENS);
        int col = (int)i + 1;
        /* key=value: the key is the part before the first '=' outside quotes. */
        size_t eq = i;
        while (eq < n && !is_space(text[eq]) && text[eq] != '=' && text[eq] != '"') eq++;
        if (count > 1 && eq < n && text[eq] == '=') {
            if (eq == i) return nbi_line_error(l, col, "an option needs a name before '='");
            nbi_opt *op = &l->opt[l->n_opt];
            op->key.s = o;
            op->key.col = col;
            memcpy(o, text + i, eq - i);
            o += eq - i;
            *o++ = 0;
            i = eq + 1;
            op->val.col = (int)i + 1;
            op->val.s = o;
            nb_status s = read_token(l, text, n, &i, &o);
            if (s != NB_OK) return s;
            for (int k = 0; k < l->n_opt; k++)
                if (key_eq(l->opt[k].key.s, op->key.s))
                    return nbi_line_error(l, col,
                                          "option '%s' is given twice (first at "
                                          "column %d)",
                                          op->key.s, l->opt[k].key.col);
            l->n_opt++;
        } else {
            nbi_tok *t = count == 1 ? &l->kind : &l->pos[l->n_pos++];
            t->s = o;
            t->col = col;
            nb_status s = read_token(l, text, n, &i, &o);
            if (s != NB_OK) return s;
        }
    }
    return NB_OK;
}

/* ---- numbers ---------------------------------------------------------------------------- */

bool nbi_tok_to_int(const char *s, int64_t *out) {
    bool neg = false;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    if (*s < '0' || *s > '9') return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (*s) return false;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool nbi_tok_to_double(nbi_line *l, const char *s, double *out) {
    return nbi_parse_double(s, strlen(s), out, &l->c_locale) == NBI_NUM_OK;
}

static const char *int_phrase(int64_t lo) {
    return lo == 1 ? "a positive integer" : lo == 0 ? "a non-negative integer" : "an integer";
}

static nb_status bad_int(nbi_line *l, const nbi_tok *t, const char *what, int64_t lo, int64_t hi) {
    if (lo > 1 || lo < 0 || hi > lo) {
        if (hi > lo)
            return nbi_line_error(l, t->col,
                                  "expected an integer in [%lld, %lld] for %s, got "
                                  "'%s'",
                                  (long long)lo, (long long)hi, what, t->s);
        return nbi_line_error(l, t->col, "expected an integer >= %lld for %s, got '%s'",
                              (long long)lo, what, t->s);
    }
    return nbi_line_error(l, t->col, "expected %s for %s, got '%s'", int_phrase(lo), what, t->s);
}

/* ---- positional arguments ---------------------------------------------------------------- */

bool nbi_pos_has(const nbi_line *l, int i) {
    return i >= 0 && i < l->n_pos;
}

nb_status nbi_pos_int(nbi_line *l, int i, const char *what, int64_t lo, int64_t *out) {
    if (!nbi_pos_has(l, i))
        return nbi_line_error(l, l->end_col, "expected %s for %s after '%s'", int_phrase(lo), what,
                              i == 0 ? l->kind.s : l->pos[i - 1].s);
    int64_t v;
    if (!nbi_tok_to_int(l->pos[i].s, &v) || v < lo) return bad_int(l, &l->pos[i], what, lo, 0);
    *out = v;
    return NB_OK;
}

nb_status nbi_pos_word(nbi_line *l, int i, const char *what, const char **out) {
    if (!nbi_pos_has(l, i))
        return nbi_line_error(l, l->end_col, "expected %s after '%s'", what,
                              i == 0 ? l->kind.s : l->pos[i - 1].s);
    *out = l->pos[i].s;
    return NB_OK;
}

nb_status nbi_pos_double(nbi_line *l, int i, const char *what, double lo, double hi, double *out) {
    if (!nbi_pos_has(l, i))
        return nbi_line_error(l, l->end_col, "expected a number for %s after '%s'", what,
                              i == 0 ? l->kind.s : l->pos[i - 1].s);
    double v;
    if (!nbi_tok_to_double(l, l->pos[i].s, &v))
        return nbi_line_error(l, l->pos[i].col, "expected a number for %s, got '%s'", what,
                              l->pos[i].s);
    if (!(v >= lo && v < hi))
        return nbi_line_error(l, l->pos[i].col, "%s must be in [%g, %g), got '%s'", what, lo, hi,
                              l->pos[i].s);
    *out = v;
    return NB_OK;
}

/* "A" or "A,B" (integers >= lo) in s; false otherwise. */
static bool parse_pair(const char *s, int64_t lo, int64_t out[2]) {
    char buf[48];
    const char *c = strchr(s, ',');
    size_t n = c ? (size_t)(c - s) : strlen(s);
    if (n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!nbi_tok_to_int(buf, &out[0]) || out[0] < lo) return false;
    if (!c) {
        out[1] = out[0];
        return true;
    }
    return nbi_tok_to_int(c + 1, &out[1]) && out[1] >= lo;
}

nb_status nbi_pos_pair(nbi_line *l, int i, const char *what, int64_t lo, int64_t out[2]) {
    if (!nbi_pos_has(l, i))
        return nbi_line_error(l, l->end_col, "expected %s (N, or H,W) after '%s'", what,
                              i == 0 ? l->kind.s : l->pos[i - 1].s);
    if (!parse_pair(l->pos[i].s, lo, out))
        return nbi_line_error(l, l->pos[i].col,
                              "expected %s as %s or two of them as H,W, got "
                              "'%s'",
                              what, int_phrase(lo), l->pos[i].s);
    return NB_OK;
}

/* ---- options --------------------------------------------------------------------------- */

/* The option `key`, marked used (NULL when absent); remembers the key for messages. */
static nbi_opt *find_opt(nbi_line *l, const char *key) {
    bool listed = false;
    for (int k = 0; k < l->n_known; k++) listed = listed || strcmp(l->known[k], key) == 0;
    if (!listed && l->n_known < NBI_LINE_MAX_KEYS) l->known[l->n_known++] = key;
    for (int k = 0; k < l->n_opt; k++) {
        if (key_eq(l->opt[k].key.s, key)) {
            l->opt[k].used = true;
            return &l->opt[k];
        }
    }
    return NULL;
}

nb_status nbi_opt_int(nbi_line *l, const char *key, const char *what, int64_t lo, int64_t hi,
                      int64_t *out) {
    nbi_opt *o = find_opt(l, key);
    if (!o) return NB_OK;
    int64_t v;
    if (!nbi_tok_to_int(o->val.s, &v) || v < lo || (hi > lo && v > hi))
        return bad_int(l, &o->val, what, lo, hi);
    *out = v;
    return NB_OK;
}

nb_status nbi_opt_double(nbi_line *l, const char *key, const char *what, double lo, double hi,
                         double *out) {
    nbi_opt *o = find_opt(l, key);
    if (!o) return NB_OK;
    double v;
    if (!nbi_tok_to_double(l, o->val.s, &v))
        return nbi_line_error(l, o->val.col, "expected a number for %s, got '%s'", what, o->val.s);
    if (v < lo || (hi > lo && v > hi)) {
        if (hi > lo)
            return nbi_line_error(l, o->val.col, "%s must be in [%g, %g], got '%s'", what, lo, hi,
                                  o->val.s);
        return nbi_line_error(l, o->val.col, "%s must be >= %g, got '%s'", what, lo, o->val.s);
    }
    *out = v;
    return NB_OK;
}

nb_status nbi_opt_float(nbi_line *l, const char *key, const char *what, double lo, double hi,
                        float *out) {
    double v = *out;
    nb_status s = nbi_opt_double(l, key, what, lo, hi, &v);
    if (s == NB_OK && !isfinite((float)v))
        return nbi_line_error(l, nbi_opt_col(l, key),
                              "%s is out of the range of a float, got "
                              "%g",
                              what, v);
    if (s == NB_OK) *out = (float)v;
    return s;
}

nb_status nbi_opt_bool(nbi_line *l, const char *key, int *out) {
    nbi_opt *o = find_opt(l, key);
    if (!o) return NB_OK;
    const char *v = o->val.s;
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
        *out = 1;
    } else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
        *out = 0;
    } else {
        return nbi_line_error(l, o->val.col, "expected true or false for %s, got '%s'", o->key.s,
                              v);
    }
    return NB_OK;
}

nb_status nbi_opt_str(nbi_line *l, const char *key, const char **out) {
    nbi_opt *o = find_opt(l, key);
    if (!o) return NB_OK;
    if (!o->val.s[0]) return nbi_line_error(l, o->val.col, "option '%s' has an empty value", key);
    *out = o->val.s;
    return NB_OK;
}

nb_status nbi_opt_pair(nbi_line *l, const char *key, const char *what, int64_t lo, int64_t out[2]) {
    nbi_opt *o = find_opt(l, key);
    if (!o) return NB_OK;
    if (!parse_pair(o->val.s, lo, out))
        return nbi_line_error(l, o->val.col, "expected %s as %s or two of them as H,W, got '%s'",
                              what, int_phrase(lo), o->val.s);
    return NB_OK;
}

/* "2,3,4" in v (at column col): at most max integers >= lo into out, their number in *count. */
static nb_status parse_ints(nbi_line *l, const char *v, int col, const char *what, int64_t lo,
                            int64_t *out, int max, int *count) {
    int n = 0;
    const char *p = v;
    char buf[32];
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        int64_t x;
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, p, len);
        buf[len] = 0;
        if (n >= max)
            return nbi_line_error(l, col, "%s takes at most %d values, got '%s'", what, max, v);
        if (!nbi_tok_to_int(buf, &x) || x < lo)
            return nbi_line_error(l, col + (int)(p - v),
                                  "expected %s for %s "
                                  "(comma-separated), got '%s'",
                                  int_phrase(lo), what, buf);
        out[n++] = x;
        if (!c) break;
        p = c + 1;
    }
    *count = n;
    return NB_OK;
}

nb_status nbi_opt_ints(nbi_line *l, const char *key, const char *what, int64_t lo, int64_t *out,
                       int max, int *count) {
    nbi_opt *o = find_opt(l, key);
    if (!o) return NB_OK;
    return parse_ints(l, o->val.s, o->val.col, what, lo, out, max, count);
}

nb_status nbi_pos_ints(nbi_line *l, int i, const char *what, int64_t lo, int64_t *out, int max,
                       int *count) {
    if (!nbi_pos_has(l, i))
        return nbi_line_error(l, l->end_col, "expected %s (comma-separated) after '%s'", what,
                              i == 0 ? l->kind.s : l->pos[i - 1].s);
    return parse_ints(l, l->pos[i].s, l->pos[i].col, what, lo, out, max, count);
}

static const struct {
    const char *name;
    nb_init_kind kind;
    int n_args; /* required numbers after ':' (-1: an optional gain) */
} init_names[] = {
    {"zeros", NB_INIT_ZEROS, 0},
    {"constant", NB_INIT_CONSTANT, 1},
    {"uniform", NB_INIT_UNIFORM, 2},
    {"normal", NB_INIT_NORMAL, 2},
    {"xavier_uniform", NB_INIT_XAVIER_UNIFORM, -1},
    {"glorot_uniform", NB_INIT_XAVIER_UNIFORM, -1},
    {"xavier_normal", NB_INIT_XAVIER_NORMAL, -1},
    {"glorot_normal", NB_INIT_XAVIER_NORMAL, -1},
    {"kaiming_uniform", NB_INIT_KAIMING_UNIFORM, -1},
    {"he_uniform", NB_INIT_KAIMING_UNIFORM, -1},
    {"kaiming_normal", NB_INIT_KAIMING_NORMAL, -1},
    {"he_normal", NB_INIT_KAIMING_NORMAL, -1},
};

nb_status nbi_opt_init(nbi_line *l, const char *key, nb_init *out) {
    nbi_opt *o = find_opt(l, key);
    if (!o) return NB_OK;
    const char *v = o->val.s;
    size_t nlen = strcspn(v, ":");
    int found = -1;
    for (size_t k = 0; k < sizeof init_names / sizeof init_names[0]; k++)
        if (strlen(init_names[k].name) == nlen && !strncmp(init_names[k].name, v, nlen))
            found = (int)k;
    if (found < 0)
        return nbi_line_error(l, o->val.col,
                              "unknown initialiser '%.*s' (expected zeros, "
                              "constant:A, uniform:A:B, normal:MEAN:STD, xavier_uniform, "
                              "xavier_normal, kaiming_uniform, kaiming_normal, glorot_*, he_*)",
                              (int)nlen, v);
    double num[3];
    int n = 0;
    const char *p = v + nlen;
    char buf[64];
    while (*p == ':') {
        p++;
        size_t len = strcspn(p, ":");
        if (n == 3 || len >= sizeof buf)
            return nbi_line_error(l, o->val.col, "too many numbers in initialiser '%s'", v);
        memcpy(buf, p, len);
        buf[len] = 0;
        if (!nbi_tok_to_double(l, buf, &num[n]) || !isfinite((float)num[n]))
            return nbi_line_error(l, o->val.col + (int)(p - v),
                                  "expected a number (in the "
                                  "range of a float) in initialiser '%s', got '%s'",
                                  v, buf);
        n++;
        p += len;
    }
    int want = init_names[found].n_args;
    if ((want >= 0 && n != want) || (want < 0 && n > 1)) {
        static const char *const forms[] = {"", "constant:A", "uniform:A:B or normal:MEAN:STD"};
        return nbi_line_error(l, o->val.col, "initialiser '%s' takes %s, got '%s'",
                              init_names[found].name,
                              want < 0    ? "at most one number (the gain)"
                              : want == 0 ? "no numbers"
                                          : forms[want],
                              v);
    }
    nb_init in;
    memset(&in, 0, sizeof in);
    in.kind = init_names[found].kind;
    if (want < 0 && n == 1) {
        if (!(num[0] > 0.0))
            return nbi_line_error(l, o->val.col, "the gain of '%s' must be > 0", v);
        in.gain = (float)num[0];
    }
    if (want >= 1) in.a = (float)num[0];
    if (want >= 2) in.b = (float)num[1];
    if (in.kind == NB_INIT_UNIFORM && !(in.a < in.b))
        return nbi_line_error(l, o->val.col, "uniform:A:B needs A < B, got '%s'", v);
    if (in.kind == NB_INIT_NORMAL && !(in.b >= 0.0f))
        return nbi_line_error(l, o->val.col, "normal:MEAN:STD needs STD >= 0, got '%s'", v);
    *out = in;
    return NB_OK;
}

nb_status nbi_tok_activation(nbi_line *l, const nbi_tok *t, nb_activation *out) {
    if (!strcmp(t->s, "none") || !strcmp(t->s, "linear") || !strcmp(t->s, "identity")) {
        *out = NB_ACT_NONE;
        return NB_OK;
    }
    for (int a = 0; a < NB_ACT_COUNT; a++) {
        const char *nm = nb_activation_name((nb_activation)a);
        if (nm && !strcmp(nm, t->s)) {
            *out = (nb_activation)a;
            return NB_OK;
        }
    }
    char list[256] = "";
    size_t k = 0;
    for (int a = 1; a < NB_ACT_COUNT && k < sizeof list; a++) {
        int w = snprintf(list + k, sizeof list - k, "%s, ", nb_activation_name((nb_activation)a));
        if (w > 0) k += (size_t)w;
    }
    return nbi_line_error(l, t->col, "unknown activation '%s' (expected one of: %snone)", t->s,
                          list);
}

int nbi_opt_col(const nbi_line *l, const char *key) {
    for (int k = 0; k < l->n_opt; k++)
        if (key_eq(l->opt[k].key.s, key)) return l->opt[k].val.col;
    return 0;
}

nb_status nbi_line_done(nbi_line *l, int max_pos) {
    if (l->n_pos > max_pos)
        return nbi_line_error(l, l->pos[max_pos].col,
                              "unexpected '%s': '%s' takes %s%d "
                              "positional argument%s",
                              l->pos[max_pos].s, l->kind.s, max_pos ? "at most " : "", max_pos,
                              max_pos == 1 ? "" : "s");
    for (int k = 0; k < l->n_opt; k++) {
        if (l->opt[k].used) continue;
        char list[512] = "";
        size_t w = 0;
        for (int j = 0; j < l->n_known && w < sizeof list; j++) {
            int r = snprintf(list + w, sizeof list - w, "%s%s", j ? ", " : "", l->known[j]);
            if (r > 0) w += (size_t)r;
        }
        if (!l->n_known)
            return nbi_line_error(l, l->opt[k].key.col, "'%s' takes no options, got '%s'",
                                  l->kind.s, l->opt[k].key.s);
        return nbi_line_error(l, l->opt[k].key.col,
                              "unknown option '%s' for '%s' (expected "
                              "one of: %s)",
                              l->opt[k].key.s, l->kind.s, list);
    }
    return NB_OK;
}
