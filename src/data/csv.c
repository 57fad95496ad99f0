/* data/csv.c — CSV files into a feature matrix and labels or targets.
 *
 * The first record may be a header of column names or already data (header=auto looks at it
 * and the record below, see decide_header). Rows go into buffers that grow geometrically, so
 * memory follows the data actually present rather than any count a hostile file might
 * suggest; every error names the file, line and column and shows the cell. Columns are
 * features (numbers; a missing value is an error, or NaN when the caller will impute it),
 * categorical features (text, kept as category indices, the categories listed in sorted
 * order), or label columns: class labels (non-negative integers used as they are, otherwise
 * class names numbered in sorted order or in the order of the caller's known classes) or
 * numeric targets, one column or several. The tokenizer is csv_tok.c. */
#include "data/data.h"
#include "base/file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASSES 65536 /* distinct class names, and categories of one column */
#define SKIP INT32_MIN    /* the role of a column that is not read (opts.columns) */

typedef struct parser {
    nbi_csv_tok t;
    nb_csv_opts o;
    int64_t ncols;   /* columns of a record */
    char *names;     /* the columns' names, one after another, each NUL-terminated */
    size_t *name_at; /* ncols offsets into names */
    size_t names_len, names_cap;
    bool header;      /* the first record was the names */
    int32_t *role;    /* per column: >= 0 its feature slot, -1 - k label column k, SKIP */
    int64_t *lab_col; /* the label columns, in the order asked for */
    int nlab;
    int32_t *cat_of; /* per column: its category set in cats, or -1 (NULL: none) */
    nbi_names *cats; /* one set per categorical column */
    int ncat;
    int64_t rows, cap; /* rows parsed and allocated */
    float *x;
    float *target;    /* rows x nlab */
    int32_t *lab_int; /* the label as an integer, or -1 */
    int32_t *lab_id;  /* the label's id in nm */
    bool all_int, names_full;
    int32_t max_int;
    nbi_names nm; /* class names */
    void *locale;
} parser;

static char *dup_text(const char *s, size_t n) {
    char *p = nbi_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static const char *col_name(const parser *p, int64_t col) {
    return p->names + p->name_at[col];
}

/* The name of a column as an excerpt. */
static const char *col_text(const parser *p, int64_t col, char *buf, size_t cap) {
    const char *s = col_name(p, col);
    return nbi_csv_excerpt(s, strlen(s), buf, cap);
}

static int64_t features(const parser *p) {
    return p->o.columns && p->header ? p->o.num_columns : p->ncols - p->nlab;
}

/* "file:line: column c ('name'): what "cell"hint" */
static nb_status cell_error(parser *p, int64_t col, const char *what, const char *hint) {
    char txt[48], cn[40];
    return nbi_error(NB_ERR_FORMAT, "%s:%lld: column %lld ('%s'): %s \"%s\"%s", p->t.name,
                     (long long)p->t.fline, (long long)col + 1, col_text(p, col, cn, sizeof cn),
                     what, nbi_csv_excerpt(p->t.f, p->t.flen, txt, sizeof txt), hint ? hint : "");
}

/* What text in a number column may mean: another delimiter, a decimal comma, a category. */
static const char *text_hint(const parser *p, bool feature) {
    const char *f = p->t.f;
    size_t n = p->t.flen;
    static const char *const delims = ";\t|,";
    for (const char *d = delims; *d; d++)
        if (*d != p->t.delim && *d != ',' && memchr(f, *d, n))
            return *d == '\t'  ? " (is the delimiter a tab?)"
                   : *d == ';' ? " (is the delimiter ';'?)"
                               : " (is the delimiter '|'?)";
    const char *comma = memchr(f, ',', n);
    if (comma && comma > f && (size_t)(comma - f) + 1 < n && comma[-1] >= '0' && comma[-1] <= '9' &&
        comma[1] >= '0' && comma[1] <= '9')
        return " (a decimal comma? numbers are read with '.' as the decimal point)";
    return feature ? " (list the column as categorical to one-hot encode its text)" : NULL;
}

static nb_status number_cell(parser *p, int64_t col, bool feature, float *out) {
    double v;
    if (p->o.allow_missing && feature && nbi_csv_is_missing(p->t.f, p->t.flen)) {
        *out = NAN;
        return NB_OK;
    }
    switch (nbi_parse_double(p->t.f, p->t.flen, &v, &p->locale)) {
    case NBI_NUM_OK:
        break;
    case NBI_NUM_EMPTY:
        return cell_error(p, col,
                          feature ? "the cell is empty (a missing value: fill or drop it, or "
                                    "impute it with missing=mean, median or zero):"
                                  : "the cell is empty (every row needs its label):",
                          NULL);
    case NBI_NUM_NONFINITE:
        return cell_error(p, col,
                          feature && nbi_csv_is_missing(p->t.f, p->t.flen)
                              ? "NaN and infinity are not supported (a missing value? impute "
                                "it with missing=mean, median or zero):"
                              : "NaN and infinity are not supported:",
                          NULL);
    case NBI_NUM_RANGE:
        return cell_error(p, col, "the number is out of range:", NULL);
    default:
        if (feature && nbi_csv_is_missing(p->t.f, p->t.flen))
            return cell_error(p, col,
                              "a missing value (fill or drop it, or impute it with "
                              "missing=mean, median or zero):",
                              NULL);
        return cell_error(p, col,
                          p->nlab == 0 || p->o.label_is_target
                              ? "cannot read as a number:"
                              : "cannot read as a number (only the label column may hold "
                                "text):",
                          text_hint(p, feature));
    }
    float f = (float)v;
    if (!isfinite(f)) return cell_error(p, col, "the number is too large for float32:", NULL);
    *out = f;
    return NB_OK;
}

/* A text category: its index in the column's set (numbered in order of appearance for now,
 * renumbered in sorted order at the end). */
static nb_status category_cell(parser *p, int64_t col, nbi_names *set, float *out) {
    if (nbi_csv_is_missing(p->t.f, p->t.flen)) {
        if (!p->o.allow_missing)
            return cell_error(p, col,
                              "a missing category (fill or drop it, or allow missing "
                              "values: missing=...):",
                              NULL);
        *out = NAN;
        return NB_OK;
    }
    if (memchr(p->t.f, 0, p->t.flen)) return cell_error(p, col, "the cell holds a NUL byte:", NULL);
    if (set->count >= MAX_CLASSES && nbi_names_find(set, p->t.f, p->t.flen) < 0) {
        char cn[40];
        return nbi_error(NB_ERR_FORMAT,
                         "%s:%lld: the categorical column '%s' holds more than %d "
                         "distinct values; is it an identifier rather than a category?",
                         p->t.name, (long long)p->t.fline, col_text(p, col, cn, sizeof cn),
                         MAX_CLASSES);
    }
    int id = nbi_names_add(set, p->t.f, p->t.flen);
    if (id < 0) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    *out = (float)id;
    return NB_OK;
}

/* Rows the rest of the buffer can hold at most: no more than its line ends (+1), and no more
 * than its bytes allow, since a valid row of n non-empty cells takes at least 2n - 1 bytes
 * (empty cells are refused unless missing values are allowed, when n bytes suffice). Both
 * bounds follow the data itself, so a lying header cannot inflate them; for an ordinary file
 * the first is exact and the buffers never grow (or move) afterwards. */
static int64_t row_bound(const parser *p) {
    const char *s = p->t.s + p->t.i, *end = p->t.s + p->t.n;
    size_t lf = 0, cr = 0;
    for (const char *q = s; (q = memchr(q, '\n', (size_t)(end - q))); q++) lf++;
    for (const char *q = s; (q = memchr(q, '\r', (size_t)(end - q))); q++) cr++;
    size_t by_lines = (lf > cr ? lf : cr) + 1;
    size_t per = p->o.allow_missing ? (size_t)p->ncols : 2 * (size_t)p->ncols - 1;
    size_t by_size = (size_t)(end - s) / (per ? per : 1) + 1;
    size_t b = by_lines < by_size ? by_lines : by_size;
    return b > (size_t)INT64_MAX / 8 ? INT64_MAX / 8 : (int64_t)b;
}

static nb_status grow_rows(parser *p) {
    if (p->rows < p->cap) return NB_OK;
    int64_t cap = p->cap ? p->cap * 2 : row_bound(p);
    int64_t feat = features(p), nl = p->nlab ? p->nlab : 1;
    size_t xb, tb;
    if (!nbi_mul_size((size_t)cap, (size_t)feat * sizeof(float), &xb) ||
        !nbi_mul_size((size_t)cap, (size_t)nl * sizeof(float), &tb))
        return nbi_error(NB_ERR_NOMEM, "%s: too many rows", p->t.name);
    float *x = nbi_malloc(xb);
    int32_t *li = nbi_malloc((size_t)cap * sizeof(int32_t));
    int32_t *ld = nbi_malloc((size_t)cap * sizeof(int32_t));
    float *tg = nbi_malloc(tb);
    if (!x || !li || !ld || !tg) {
        nbi_free(x), nbi_free(li), nbi_free(ld), nbi_free(tg);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory after %lld rows", p->t.name,
                         (long long)p->rows);
    }
    if (p->rows) {
        memcpy(x, p->x, (size_t)p->rows * (size_t)feat * sizeof(float));
        memcpy(li, p->lab_int, (size_t)p->rows * sizeof(int32_t));
        memcpy(ld, p->lab_id, (size_t)p->rows * sizeof(int32_t));
        memcpy(tg, p->target, (size_t)p->rows * (size_t)nl * sizeof(float));
    }
    nbi_free(p->x), nbi_free(p->lab_int), nbi_free(p->lab_id), nbi_free(p->target);
    p->x = x, p->lab_int = li, p->lab_id = ld, p->target = tg;
    p->cap = cap;
    return NB_OK;
}

static nb_status label_cell(parser *p, int64_t col, int k) {
    int64_t r = p->rows;
    if (p->o.label_is_target) return number_cell(p, col, false, &p->target[r * p->nlab + k]);
    if (p->t.flen == 0) return cell_error(p, col, "the label is empty:", NULL);
    if (memchr(p->t.f, 0, p->t.flen))
        return cell_error(p, col, "the label holds a NUL byte:", NULL);
    if (p->o.classes) {
        int id = nbi_names_find(&p->nm, p->t.f, p->t.flen);
        if (id < 0) {
            /* the known classes, or the first two and the last: enough to see what they are */
            char msg[96], list[140], e[24];
            size_t w = (size_t)snprintf(list, sizeof list, " (known: ");
            int n = p->o.num_classes;
            for (int i = 0; i < n && w + 32 < sizeof list; i++) {
                if (n > 4 && i == 2) {
                    w += (size_t)snprintf(list + w, sizeof list - w, ", ...");
                    i = n - 1;
                }
                const char *c = p->o.classes[i];
                w += (size_t)snprintf(list + w, sizeof list - w, "%s%s", i ? ", " : "",
                                      nbi_csv_excerpt(c, strlen(c), e, sizeof e));
            }
            snprintf(list + w, sizeof list - w, ")");
            snprintf(msg, sizeof msg, "the label is not one of the %d known classes:", n);
            return cell_error(p, col, msg, list);
        }
        p->lab_id[r] = id;
        return NB_OK;
    }
    double v;
    bool is_int = nbi_parse_double(p->t.f, p->t.flen, &v, &p->locale) == NBI_NUM_OK && v >= 0 &&
                  v <= 2147483646.0 && v == floor(v);
    p->lab_int[r] = is_int ? (int32_t)v : -1;
    if (is_int && (int32_t)v > p->max_int) p->max_int = (int32_t)v;
    if (!is_int) p->all_int = false;
    p->lab_id[r] = -1;
    if (!p->names_full) {
        if (p->nm.count >= MAX_CLASSES && nbi_names_find(&p->nm, p->t.f, p->t.flen) < 0) {
            p->names_full = true;
        } else {
            int id = nbi_names_add(&p->nm, p->t.f, p->t.flen);
            if (id < 0) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
            p->lab_id[r] = id;
        }
    }
    char cn[40];
    if (p->names_full && !p->all_int)
        return nbi_error(NB_ERR_FORMAT,
                         "%s:%lld: the label column '%s' holds more than %d "
                         "distinct class names; is it the right column? (for a numeric "
                         "target, set label_is_target)",
                         p->t.name, (long long)p->t.fline, col_text(p, col, cn, sizeof cn),
                         MAX_CLASSES);
    return NB_OK;
}

/* ---- the header ---------------------------------------------------------------------------- */

/* Appends a name to the names block. The names go one after another into one growing block,
 * with an offset per column: a header of a million short names costs their bytes, not a
 * million allocations. */
static nb_status add_name(parser *p, const char *s, size_t n, int64_t *cap) {
    if (p->ncols == *cap) {
        int64_t nc = *cap ? *cap * 2 : 16;
        size_t *h = nbi_malloc((size_t)nc * sizeof *h);
        if (!h) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
        if (p->ncols) memcpy(h, p->name_at, (size_t)p->ncols * sizeof *h);
        nbi_free(p->name_at);
        p->name_at = h;
        *cap = nc;
    }
    if (p->names_cap - p->names_len < n + 1) {
        size_t nc = p->names_cap ? p->names_cap : 256;
        while (nc - p->names_len < n + 1) nc *= 2;
        char *nb = nbi_malloc(nc);
        if (!nb) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
        if (p->names_len) memcpy(nb, p->names, p->names_len);
        nbi_free(p->names);
        p->names = nb;
        p->names_cap = nc;
    }
    memcpy(p->names + p->names_len, s, n);
    p->names[p->names_len + n] = 0;
    p->name_at[p->ncols++] = p->names_len;
    p->names_len += n + 1;
    return NB_OK;
}

/* 0: missing (says nothing), 1: a number, 2: text. */
static int cell_kind(parser *p, const char *s, size_t n) {
    if (nbi_csv_is_missing(s, n)) return 0;
    double v;
    nbi_num r = nbi_parse_double(s, n, &v, &p->locale);
    return r == NBI_NUM_OK || r == NBI_NUM_RANGE || r == NBI_NUM_NONFINITE ? 1 : 2;
}

static bool is_named(const parser *p, const char *s) {
    if (p->o.label_name && !strcmp(s, p->o.label_name)) return true;
    for (int i = 0; p->o.label_names && i < p->o.num_labels; i++)
        if (p->o.label_names[i] && !strcmp(s, p->o.label_names[i])) return true;
    for (int i = 0; p->o.categorical && i < p->o.num_categorical; i++)
        if (p->o.categorical[i] && !strcmp(s, p->o.categorical[i])) return true;
    for (int i = 0; p->o.columns && i < p->o.num_columns; i++)
        if (p->o.columns[i] && !strcmp(s, p->o.columns[i])) return true;
    return false;
}

/* header=auto: the first record is a header when it names a column the caller asked for, or
 * holds text (a cell that is neither a number nor a missing value) and either everything in
 * it is text, or the record below has a number under one of its texts, or there is no record
 * below. A first record of numbers (and missing values) is data. */
static nb_status decide_header(parser *p, const unsigned char *kind) {
    bool any_text = false, all_text = true;
    for (int64_t c = 0; c < p->ncols; c++) {
        if (is_named(p, col_name(p, c))) {
            p->header = true;
            return NB_OK;
        }
        any_text = any_text || kind[c] == 2;
        all_text = all_text && kind[c] != 1;
    }
    if (!any_text || all_text) {
        p->header = any_text;
        return NB_OK;
    }
    /* look at the record below, then come back */
    nbi_csv_tok *t = &p->t;
    size_t at = t->i;
    int64_t line = t->line;
    p->header = true;
    if (nbi_csv_next_record(t)) {
        p->header = false;
        bool eor = false;
        for (int64_t c = 0; !eor && c < p->ncols; c++) {
            nb_status st = nbi_csv_next_field(t, c, &eor);
            if (st) return st;
            if (kind[c] == 2 && cell_kind(p, t->f, t->flen) == 1) p->header = true;
        }
    }
    t->i = at;
    t->line = line;
    return NB_OK;
}

/* Column list for messages: the first and the last few, so that the end of a long header
 * (where the label usually is) shows. */
static void column_list(const parser *p, char *buf, size_t cap) {
    size_t k = 0;
    char cn[40];
    int64_t n = p->ncols, head = n <= 8 ? n : 4;
    buf[0] = 0;
    for (int64_t c = 0; c < n; c++) {
        if (c == head && n > 8) {
            k += (size_t)snprintf(buf + k, cap - k, ", ...");
            c = n - 4;
        }
        if (k + 50 >= cap) break;
        k += (size_t)snprintf(buf + k, cap - k, "%s'%s'", c ? ", " : "",
                              col_text(p, c, cn, sizeof cn));
    }
}

/* Levenshtein distance of two short strings, capped: for "did you mean". */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            char ca = a[i - 1], cb = b[j - 1];
            if (ca >= 'A' && ca <= 'Z') ca = (char)(ca - 'A' + 'a');
            if (cb >= 'A' && cb <= 'Z') cb = (char)(cb - 'A' + 'a');
            size_t best = diag + (ca != cb);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = row[j];
            row[j] = best;
        }
    }
    return row[lb];
}

/* The column named `want`, or an error listing the columns (and the nearest name). `what`
 * says what the column was asked for. */
static nb_status find_column(parser *p, const char *want, const char *what, int64_t *out) {
    for (int64_t c = 0; c < p->ncols; c++)
        if (!strcmp(col_name(p, c), want)) {
            *out = c;
            return NB_OK;
        }
    char cols[400], w[40], near[80] = "";
    size_t best = 3; /* a name within two edits, case aside */
    for (int64_t c = 0; c < p->ncols; c++) {
        size_t d = distance(col_name(p, c), want);
        if (d < best) {
            char cn[40];
            best = d;
            snprintf(near, sizeof near, "; did you mean '%s'?", col_text(p, c, cn, sizeof cn));
        }
    }
    column_list(p, cols, sizeof cols);
    return nbi_error(NB_ERR_ARG, "%s: no column is named '%s' (%s; the %s has %lld columns: %s)%s",
                     p->t.name, nbi_csv_excerpt(want, strlen(want), w, sizeof w), what,
                     p->header ? "header" : "file, without a header row,", (long long)p->ncols,
                     cols, near);
}

/* The label columns and the categorical ones; the role of every column. */
static nb_status assign_columns(parser *p) {
    nbi_csv_tok *t = &p->t;
    const nb_csv_opts *o = &p->o;
    /* no label: asked for, or columns chosen by name and no label named */
    bool none = o->no_label || (o->columns && !o->label_name && !o->label_column && !o->num_labels);
    int want = none ? 0 : o->label_names && o->num_labels > 0 ? o->num_labels : 1;
    if (want > 1 && !o->label_is_target)
        return nbi_error(NB_ERR_ARG,
                         "%s: %d label columns: several columns are read as targets "
                         "(label_is_target), class labels come from one column",
                         t->name, want);
    p->lab_col = nbi_malloc(sizeof *p->lab_col * (size_t)(want ? want : 1));
    p->role = nbi_malloc(sizeof *p->role * (size_t)p->ncols);
    if (!p->lab_col || !p->role) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", t->name);
    for (int64_t c = 0; c < p->ncols; c++) p->role[c] = 0;
    for (int k = 0; k < want; k++) {
        int64_t li = -1;
        const char *name = o->label_names && o->num_labels > 0 ? o->label_names[k] : o->label_name;
        if (name) {
            nb_status st = find_column(p, name, "the label column", &li);
            if (st) return st;
        } else {
            /* 1, 2, ... from the first column; -1, -2, ... from the last; 0: the last */
            const int col = o->label_column ? o->label_column : -1;
            li = col < 0 ? p->ncols + col : (int64_t)col - 1;
            if (li < 0 || li >= p->ncols)
                return nbi_error(NB_ERR_ARG,
                                 "%s: label column %d (%s %lld) is out of range for %lld "
                                 "columns",
                                 t->name, col, col < 0 ? "from the end:" : "index from 0:",
                                 (long long)(col < 0 ? -(int64_t)col : (int64_t)col - 1),
                                 (long long)p->ncols);
        }
        if (p->role[li] < 0) {
            char cn[40];
            return nbi_error(NB_ERR_ARG, "%s: the label column '%s' is named twice", t->name,
                             col_text(p, li, cn, sizeof cn));
        }
        p->role[li] = -1 - k;
        p->lab_col[k] = li;
        p->nlab = k + 1;
    }
    char cn[40];
    if (features(p) < 1)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: no feature columns: the %s has only the label column%s '%s'", t->name,
                         p->header ? "header" : "file", p->nlab > 1 ? "s" : "",
                         col_text(p, p->lab_col[0], cn, sizeof cn));
    if (!o->columns || !p->header) {
        for (int64_t c = 0, slot = 0; c < p->ncols; c++)
            if (p->role[c] == 0) p->role[c] = (int32_t)slot++;
    } else {
        for (int64_t c = 0; c < p->ncols; c++)
            if (p->role[c] == 0) p->role[c] = SKIP;
        for (int i = 0; i < o->num_columns; i++) {
            int64_t c = -1;
            if (!o->columns[i])
                return nbi_error(NB_ERR_ARG, "%s: column %d of the list is NULL", t->name, i);
            nb_status st = find_column(p, o->columns[i], "a feature column asked for", &c);
            if (st) return st;
            if (p->role[c] != SKIP)
                return nbi_error(NB_ERR_ARG, "%s: the column '%s' is %s", t->name,
                                 col_text(p, c, cn, sizeof cn),
                                 p->role[c] < 0 ? "a label column, and asked for as a feature"
                                                : "asked for twice");
            p->role[c] = i;
        }
    }
    if (o->categorical && o->num_categorical > 0) {
        p->cat_of = nbi_malloc(sizeof *p->cat_of * (size_t)p->ncols);
        p->cats = nbi_calloc((size_t)o->num_categorical, sizeof *p->cats);
        if (!p->cat_of || !p->cats) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", t->name);
        for (int64_t c = 0; c < p->ncols; c++) p->cat_of[c] = -1;
        for (int i = 0; i < o->num_categorical; i++) {
            int64_t c = -1;
            if (!o->categorical[i])
                return nbi_error(NB_ERR_ARG, "%s: categorical column %d is NULL", t->name, i);
            nb_status st = find_column(p, o->categorical[i], "a categorical column", &c);
            if (st) return st;
            if (p->role[c] < 0 && p->role[c] != SKIP)
                return nbi_error(NB_ERR_ARG,
                                 "%s: '%s' is the label column; a categorical "
                                 "column is a feature",
                                 t->name, col_text(p, c, cn, sizeof cn));
            if (p->cat_of[c] >= 0)
                return nbi_error(NB_ERR_ARG, "%s: the categorical column '%s' is named twice",
                                 t->name, col_text(p, c, cn, sizeof cn));
            p->cat_of[c] = p->ncat++;
        }
    }
    return NB_OK;
}

/* The first record: the names (or column_1, ...) and whether it was a header. */
static nb_status parse_header(parser *p) {
    nbi_csv_tok *t = &p->t;
    if (t->n >= 3 && memcmp(t->s, "\xEF\xBB\xBF", 3) == 0) t->i = 3; /* UTF-8 BOM */
    if (!nbi_csv_next_record(t))
        return nbi_error(NB_ERR_FORMAT,
                         "%s: the file is empty (a CSV file needs a row of data, "
                         "after a header row naming its columns or not)",
                         t->name);
    size_t first = t->i;
    int64_t first_line = t->line, cap = 0;
    unsigned char *kind = NULL;
    size_t kcap = 0;
    nb_status st = NB_OK;
    for (bool eor = false; !eor && !st;) {
        st = nbi_csv_next_field(t, p->ncols, &eor);
        if (st) break;
        if (p->o.header != NB_CSV_HEADER_NO && memchr(t->f, 0, t->flen))
            st = nbi_error(NB_ERR_FORMAT, "%s:%lld: column %lld: the header holds a NUL byte",
                           t->name, (long long)t->fline, (long long)p->ncols + 1);
        if (!st && p->o.header == NB_CSV_HEADER_AUTO) {
            if ((size_t)p->ncols == kcap) {
                size_t nc = kcap ? 2 * kcap : 64;
                unsigned char *k = nbi_malloc(nc);
                if (!k) {
                    st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", t->name);
                    break;
                }
                if (kcap) memcpy(k, kind, kcap);
                nbi_free(kind);
                kind = k;
                kcap = nc;
            }
            kind[p->ncols] = (unsigned char)cell_kind(p, t->f, t->flen);
        }
        if (!st) st = add_name(p, t->f, t->flen, &cap);
    }
    if (!st) {
        if (p->o.header == NB_CSV_HEADER_AUTO)
            st = decide_header(p, kind);
        else
            p->header = p->o.header == NB_CSV_HEADER_YES;
    }
    nbi_free(kind);
    if (st) return st;
    if (!p->header) { /* the names are column_1, column_2, ...; the first record is data */
        int64_t n = p->ncols;
        p->ncols = 0;
        p->names_len = 0;
        char nm[32];
        for (int64_t c = 0; c < n && !st; c++) {
            int k = snprintf(nm, sizeof nm, "column_%lld", (long long)c + 1);
            st = add_name(p, nm, (size_t)k, &cap);
        }
        t->i = first;
        t->line = first_line;
        if (st) return st;
    }
    return NB_OK;
}

/* ---- rows ---------------------------------------------------------------------------------- */

static nb_status parse_rows(parser *p) {
    nbi_csv_tok *t = &p->t;
    int64_t feat = features(p);
    while (nbi_csv_next_record(t)) {
        nb_status st = grow_rows(p);
        if (st) return st;
        float *xr = p->x + p->rows * feat;
        int64_t col = 0;
        int64_t line = t->line;
        for (bool eor = false; !eor; col++) {
            if (col == p->ncols)
                return nbi_error(NB_ERR_FORMAT,
                                 "%s:%lld: the row has more than %lld fields, "
                                 "the %s's count (a stray delimiter or an unquoted "
                                 "'%c' in a value?)",
                                 t->name, (long long)line, (long long)p->ncols,
                                 p->header ? "header" : "first row", t->delim);
            st = nbi_csv_next_field(t, col, &eor);
            if (st) return st;
            int32_t r = p->role[col];
            if (r == SKIP) continue;
            if (r < 0)
                st = label_cell(p, col, -1 - r);
            else if (p->cat_of && p->cat_of[col] >= 0)
                st = category_cell(p, col, &p->cats[p->cat_of[col]], &xr[r]);
            else
                st = number_cell(p, col, true, &xr[r]);
            if (st) return st;
        }
        if (col < p->ncols)
            return nbi_error(NB_ERR_FORMAT, "%s:%lld: the row has %lld fields, the %s has %lld",
                             t->name, (long long)line, (long long)col,
                             p->header ? "header" : "first row", (long long)p->ncols);
        p->rows++;
    }
    return NB_OK;
}

/* ---- the result ---------------------------------------------------------------------------- */

/* n strings sorted by nbi_names_sorted, moved out of the set into a new array; rank[id] gets
 * each id's place. */
static nb_status take_sorted(nbi_names *set, bool sort, char ***out, int *rank, const char *name) {
    int k = set->count;
    int *order = nbi_malloc((size_t)(k ? k : 1) * sizeof *order);
    char **names = nbi_calloc((size_t)(k ? k : 1), sizeof *names);
    nb_status st = order && names ? NB_OK : nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    if (!st && sort) st = nbi_names_sorted(set, order);
    if (!st && !sort)
        for (int i = 0; i < k; i++) order[i] = i;
    if (st) {
        nbi_free(order);
        nbi_free(names);
        return st;
    }
    for (int i = 0; i < k; i++) {
        rank[order[i]] = i;
        names[i] = set->name[order[i]];
        set->name[order[i]] = NULL;
    }
    nbi_free(order);
    *out = names;
    return NB_OK;
}

static nb_status finish_categories(parser *p, nb_csv *out) {
    int64_t feat = features(p);
    out->num_categories = nbi_calloc((size_t)feat, sizeof *out->num_categories);
    out->categories = nbi_calloc((size_t)feat, sizeof *out->categories);
    if (!out->num_categories || !out->categories)
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    for (int64_t c = 0; c < p->ncols; c++) {
        if (p->cat_of[c] < 0 || p->role[c] < 0) continue;
        nbi_names *set = &p->cats[p->cat_of[c]];
        int32_t slot = p->role[c];
        int *rank = nbi_malloc((size_t)(set->count ? set->count : 1) * sizeof *rank);
        if (!rank) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
        nb_status st = take_sorted(set, true, &out->categories[slot], rank, p->t.name);
        if (!st) {
            out->num_categories[slot] = set->count;
            for (int64_t r = 0; r < p->rows; r++) {
                float *v = &out->x[r * feat + slot];
                if (!isnan(*v)) *v = (float)rank[(int)*v];
            }
        }
        nbi_free(rank);
        if (st) return st;
    }
    return NB_OK;
}

/* Moves the parse into out. */
static nb_status finish(parser *p, nb_csv *out) {
    int64_t feat = features(p);
    size_t xb = (size_t)p->rows * (size_t)feat * sizeof(float);
    out->rows = p->rows;
    out->cols = feat;
    out->delimiter = p->t.delim;
    out->header = p->header;
    if (p->rows == p->cap && p->x) { /* the usual case: hand the buffer over as it is */
        out->x = p->x;
        p->x = NULL;
    } else {
        out->x = nbi_malloc(xb ? xb : 1);
        if (out->x && xb) memcpy(out->x, p->x, xb);
    }
    /* col_names: one block, the pointers followed by the names they point to */
    size_t pb = (size_t)feat * sizeof(char *), nb;
    out->col_names = nbi_add_size(pb, p->names_len, &nb) ? nbi_malloc(nb) : NULL;
    if (!out->x || !out->col_names) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    char *text = (char *)out->col_names + pb;
    memcpy(text, p->names, p->names_len);
    for (int64_t c = 0; c < p->ncols; c++)
        if (p->role[c] >= 0) out->col_names[p->role[c]] = text + p->name_at[c];
    if (p->ncat) {
        nb_status st = finish_categories(p, out);
        if (st) return st;
    }
    if (p->nlab == 0) return NB_OK;
    const char *ln = col_name(p, p->lab_col[0]);
    out->label_name = dup_text(ln, strlen(ln));
    if (!out->label_name) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    size_t rb = (size_t)(p->rows ? p->rows : 1);
    if (p->o.label_is_target) {
        out->target_names = nbi_calloc((size_t)p->nlab, sizeof *out->target_names);
        if (!out->target_names) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
        for (int k = 0; k < p->nlab; k++, out->num_targets = k) {
            const char *s = col_name(p, p->lab_col[k]);
            if (!(out->target_names[k] = dup_text(s, strlen(s))))
                return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
        }
        size_t tb = (size_t)p->rows * (size_t)p->nlab * sizeof(float);
        out->targets = nbi_malloc(tb ? tb : 1);
        if (!out->targets) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
        if (tb) memcpy(out->targets, p->target, tb);
        return NB_OK;
    }
    out->labels = nbi_malloc(rb * sizeof(int32_t));
    if (!out->labels) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    if (!p->o.classes && p->all_int) {
        if (p->rows) memcpy(out->labels, p->lab_int, (size_t)p->rows * sizeof(int32_t));
        out->num_classes = p->rows ? p->max_int + 1 : 0;
        return NB_OK;
    }
    int k = p->nm.count;
    int *rank = nbi_malloc((size_t)(k ? k : 1) * sizeof(int));
    if (!rank) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    /* known classes keep their order; a file's own are sorted */
    nb_status st = take_sorted(&p->nm, !p->o.classes, &out->classes, rank, p->t.name);
    if (!st) {
        out->num_classes = k;
        for (int64_t r = 0; r < p->rows; r++) out->labels[r] = rank[p->lab_id[r]];
    }
    nbi_free(rank);
    return st;
}

void nb_csv_free(nb_csv *c) {
    if (!c) return;
    if (c->classes)
        for (int i = 0; i < c->num_classes; i++) nbi_free(c->classes[i]);
    if (c->categories)
        for (int64_t j = 0; j < c->cols; j++) {
            for (int i = 0; c->categories[j] && i < c->num_categories[j]; i++)
                nbi_free(c->categories[j][i]);
            nbi_free(c->categories[j]);
        }
    for (int k = 0; c->target_names && k < c->num_targets; k++) nbi_free(c->target_names[k]);
    nbi_free(c->target_names);
    nbi_free(c->categories);
    nbi_free(c->num_categories);
    nbi_free(c->col_names);
    nbi_free(c->classes);
    nbi_free(c->label_name);
    nbi_free(c->x);
    nbi_free(c->labels);
    nbi_free(c->targets);
    memset(c, 0, sizeof *c);
}

nb_status nb_csv_parse(const void *buf, size_t len, const char *name, const nb_csv_opts *opts,
                       nb_csv *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_csv_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "CSV data";
    if (!buf && len) return nbi_error(NB_ERR_ARG, "%s: the buffer is NULL", name);
    parser p;
    memset(&p, 0, sizeof p);
    if (opts) p.o = *opts; /* else every field 0: the defaults */
    if (!p.o.delimiter) p.o.delimiter = nbi_csv_sniff_delimiter(buf ? buf : "", len);
    if (p.o.delimiter == '"' || p.o.delimiter == '\n' || p.o.delimiter == '\r' ||
        p.o.delimiter == ' ')
        return nbi_error(NB_ERR_ARG, "%s: the delimiter cannot be a quote, a space or a newline",
                         name);
    if ((unsigned)p.o.header > NB_CSV_HEADER_NO)
        return nbi_error(NB_ERR_ARG, "%s: unknown header mode %d", name, (int)p.o.header);
    if (p.o.classes && (p.o.num_classes <= 0 || p.o.num_classes > MAX_CLASSES))
        return nbi_error(NB_ERR_ARG, "%s: num_classes %d is out of range (1..%d)", name,
                         p.o.num_classes, MAX_CLASSES);
    if (p.o.num_labels < 0 || p.o.num_categorical < 0 || p.o.num_columns < 0 ||
        (p.o.num_columns && !p.o.columns) || (p.o.columns && p.o.num_columns < 1) ||
        (p.o.num_labels && !p.o.label_names) || (p.o.num_categorical && !p.o.categorical))
        return nbi_error(NB_ERR_ARG,
                         "%s: a list of label or categorical columns is NULL or has "
                         "a negative count",
                         name);
    p.t.s = buf ? buf : "";
    p.t.n = len;
    p.t.delim = p.o.delimiter;
    p.t.line = 1;
    p.t.name = name;
    p.all_int = true;
    p.max_int = -1;
    nb_status st = NB_OK;
    for (int i = 0; p.o.classes && i < p.o.num_classes && !st; i++) {
        const char *c = p.o.classes[i];
        if (!c || nbi_names_find(&p.nm, c, strlen(c)) >= 0)
            st = nbi_error(NB_ERR_ARG, "%s: known class %d is NULL or repeated", name, i);
        else if (nbi_names_add(&p.nm, c, strlen(c)) < 0)
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    }
    if (!st) st = parse_header(&p);
    if (!st) st = assign_columns(&p);
    if (!st) st = parse_rows(&p);
    if (!st) st = finish(&p, out);
    if (st) nb_csv_free(out);
    nbi_free(p.names);
    nbi_free(p.name_at);
    nbi_free(p.role);
    nbi_free(p.lab_col);
    nbi_free(p.cat_of);
    for (int i = 0; p.cats && i < p.ncat; i++) nbi_names_free(&p.cats[i]);
    nbi_free(p.cats);
    nbi_free(p.x), nbi_free(p.target), nbi_free(p.lab_int), nbi_free(p.lab_id);
    nbi_free(p.t.scratch);
    nbi_names_free(&p.nm);
    nbi_num_locale_free(p.locale);
    return st;
}

nb_status nb_csv_sniff(const void *buf, size_t len, const char *name, const nb_csv_opts *opts,
                       char *delimiter, int *header, int64_t *columns) {
    if (!name) name = "CSV data";
    if (!buf && len) return nbi_error(NB_ERR_ARG, "%s: the buffer is NULL", name);
    parser p;
    memset(&p, 0, sizeof p);
    if (opts) p.o = *opts;
    if (!p.o.delimiter) p.o.delimiter = nbi_csv_sniff_delimiter(buf ? buf : "", len);
    if (p.o.delimiter == '"' || p.o.delimiter == '\n' || p.o.delimiter == '\r' ||
        p.o.delimiter == ' ' || (unsigned)p.o.header > NB_CSV_HEADER_NO)
        return nbi_error(NB_ERR_ARG, "%s: a bad delimiter or header mode", name);
    p.t.s = buf ? buf : "";
    p.t.n = len;
    p.t.delim = p.o.delimiter;
    p.t.line = 1;
    p.t.name = name;
    nb_status st = parse_header(&p);
    if (!st) {
        if (delimiter) *delimiter = p.o.delimiter;
        if (header) *header = p.header;
        if (columns) *columns = p.ncols;
    }
    nbi_free(p.names);
    nbi_free(p.name_at);
    nbi_free(p.t.scratch);
    nbi_num_locale_free(p.locale);
    return st;
}

nb_status nb_csv_read(const char *path, const nb_csv_opts *opts, nb_csv *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_csv_read: out is NULL");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t len;
    nb_status st = nbi_read_file(path, "CSV", &buf, &len);
    if (st) return st;
    st = nb_csv_parse(buf, len, path, opts, out);
    nbi_free(buf);
    return st;
}
