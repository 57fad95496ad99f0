/* data/csv.c — CSV files with a header row, into a feature matrix and labels.
 *
 * A tokenizer walks the buffer field by field (RFC 4180: quoted fields with doubled quotes,
 * delimiters and newlines inside quotes, LF or CRLF records), tracking the physical line so
 * that an error can name the file, line and column and show the cell. Rows go into buffers
 * that grow geometrically, so memory follows the data actually present rather than any count
 * a hostile file might suggest. The label column is decided at the end: all non-negative
 * integers are used as they are; otherwise the distinct texts are class names, numbered in
 * sorted order (or looked up in the caller's list of known classes). */
#include "data/data.h"
#include "base/file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASSES 65536

/* ---- the tokenizer ---------------------------------------------------------------------- */

typedef struct tok {
    const char *s;
    size_t n, i;
    char delim;
    int64_t line;      /* physical line at position i (1-based) */
    /* the field just read */
    const char *f;
    size_t flen;
    bool quoted;
    int64_t fline;     /* the line it started on */
    char *scratch;     /* unescaped text of quoted fields with doubled quotes */
    size_t scap;
    const char *name;
} tok;

/* Skips blank lines; false at the end of the data. */
static bool next_record(tok *t) {
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

static nb_status grow_scratch(tok *t, size_t need) {
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

/* Reads one field; *eor is set when it ends its record (newline or end of data). */
static nb_status next_field(tok *t, int64_t col, bool *eor) {
    t->fline = t->line;
    t->quoted = false;
    /* Blanks before an opening quote are skipped (`a, "b"`), as most writers mean them. */
    size_t lead = t->i;
    while (lead < t->n && (t->s[lead] == ' ' || t->s[lead] == '\t')) lead++;
    if (lead < t->n && t->s[lead] == '"') {
        t->i = lead;
        t->quoted = true;
        size_t start = ++t->i, quotes = 0;
        int64_t lines = 0;
        for (;;) {
            const char *q = memchr(t->s + t->i, '"', t->n - t->i);
            for (const char *c = t->s + t->i; c < (q ? q : t->s + t->n); c++) lines += *c == '\n';
            if (!q)
                return nbi_error(NB_ERR_FORMAT, "%s:%lld: column %lld: a quoted field is never "
                                 "closed (a '\"' is missing)", t->name, (long long)t->fline,
                                 (long long)col + 1);
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
        while (t->i < t->n && (t->s[t->i] == ' ' || t->s[t->i] == '\t')) t->i++;
        if (t->i < t->n && t->s[t->i] != t->delim && t->s[t->i] != '\n' && t->s[t->i] != '\r')
            return nbi_error(NB_ERR_FORMAT, "%s:%lld: column %lld: unexpected character '%c' "
                             "after a closing quote (a field is either all quoted or not at "
                             "all)", t->name, (long long)t->line, (long long)col + 1,
                             t->s[t->i]);
    } else {
        size_t start = t->i;
        while (t->i < t->n && t->s[t->i] != t->delim && t->s[t->i] != '\n' &&
               t->s[t->i] != '\r')
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
    } else { /* '\r': CRLF, or a lone CR (old Mac files) */
        t->i++;
        if (t->i < t->n && t->s[t->i] == '\n') t->i++;
        t->line++;
        *eor = true;
    }
    return NB_OK;
}

/* ---- class names: an open-addressing hash set ------------------------------------------ */

typedef struct names {
    char **name;        /* by id */
    size_t *len;
    int count, cap;
    int32_t *slot;      /* hash table of ids, -1 empty */
    size_t nslots;
} names;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void names_free(names *nm) {
    for (int i = 0; i < nm->count; i++) nbi_free(nm->name[i]);
    nbi_free(nm->name);
    nbi_free(nm->len);
    nbi_free(nm->slot);
    memset(nm, 0, sizeof *nm);
}

static int names_find(const names *nm, const char *s, size_t n) {
    if (!nm->nslots) return -1;
    for (size_t h = fnv1a(s, n) & (nm->nslots - 1);; h = (h + 1) & (nm->nslots - 1)) {
        int32_t id = nm->slot[h];
        if (id < 0) return -1;
        if (nm->len[id] == n && memcmp(nm->name[id], s, n) == 0) return id;
    }
}

static bool names_rehash(names *nm, size_t nslots) {
    int32_t *slot = nbi_malloc(nslots * sizeof *slot);
    if (!slot) return false;
    for (size_t i = 0; i < nslots; i++) slot[i] = -1;
    for (int id = 0; id < nm->count; id++) {
        size_t h = fnv1a(nm->name[id], nm->len[id]) & (nslots - 1);
        while (slot[h] >= 0) h = (h + 1) & (nslots - 1);
        slot[h] = id;
    }
    nbi_free(nm->slot);
    nm->slot = slot;
    nm->nslots = nslots;
    return true;
}

/* The id of s, adding it if new; -1 when out of memory. */
static int names_add(names *nm, const char *s, size_t n) {
    int id = names_find(nm, s, n);
    if (id >= 0) return id;
    if (nm->count == nm->cap) {
        int cap = nm->cap ? nm->cap * 2 : 16;
        char **nn = nbi_malloc((size_t)cap * sizeof *nn);
        size_t *nl = nbi_malloc((size_t)cap * sizeof *nl);
        if (!nn || !nl) {
            nbi_free(nn);
            nbi_free(nl);
            return -1;
        }
        if (nm->count) {
            memcpy(nn, nm->name, (size_t)nm->count * sizeof *nn);
            memcpy(nl, nm->len, (size_t)nm->count * sizeof *nl);
        }
        nbi_free(nm->name);
        nbi_free(nm->len);
        nm->name = nn;
        nm->len = nl;
        nm->cap = cap;
    }
    char *copy = nbi_malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, s, n);
    copy[n] = 0;
    nm->name[nm->count] = copy;
    nm->len[nm->count] = n;
    nm->count++;
    if ((size_t)nm->count * 2 > nm->nslots) {
        if (!names_rehash(nm, nm->nslots ? nm->nslots * 2 : 64)) {
            nbi_free(copy);
            nm->count--;
            return -1;
        }
    } else {
        size_t h = fnv1a(s, n) & (nm->nslots - 1);
        while (nm->slot[h] >= 0) h = (h + 1) & (nm->nslots - 1);
        nm->slot[h] = nm->count - 1;
    }
    return nm->count - 1;
}

/* ---- the parser ------------------------------------------------------------------------- */

typedef struct parser {
    tok t;
    nb_csv_opts o;
    int64_t ncols;   /* columns in the header */
    int64_t label;   /* the label column, -1 for none */
    char *names;     /* the header's names, one after another, each NUL-terminated */
    size_t *name_at; /* ncols offsets into names */
    size_t names_len, names_cap;
    int64_t rows, cap;    /* rows parsed and allocated */
    float *x;
    float *target;
    int32_t *lab_int;     /* the label as an integer, or -1 */
    int32_t *lab_id;      /* the label's id in `nm` */
    bool all_int, names_full;
    int32_t max_int;
    names nm;
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

/* Text of the file, shortened and made printable, for messages: the file's contents never
 * reach a message (or a terminal) beyond a short excerpt with its control bytes replaced. */
static const char *excerpt(const char *s, size_t n, char *buf, size_t cap) {
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

static const char *col_name(const parser *p, int64_t col) {
    return p->names + p->name_at[col];
}

/* The name of a column as an excerpt. */
static const char *col_text(const parser *p, int64_t col, char *buf, size_t cap) {
    const char *s = col_name(p, col);
    return excerpt(s, strlen(s), buf, cap);
}

static nb_status cell_error(parser *p, int64_t col, const char *what) {
    char txt[48], cn[40];
    return nbi_error(NB_ERR_FORMAT, "%s:%lld: column %lld ('%s'): %s \"%s\"", p->t.name,
                     (long long)p->t.fline, (long long)col + 1, col_text(p, col, cn, sizeof cn),
                     what, excerpt(p->t.f, p->t.flen, txt, sizeof txt));
}

static nb_status number_cell(parser *p, int64_t col, float *out) {
    double v;
    switch (nbi_parse_double(p->t.f, p->t.flen, &v, &p->locale)) {
    case NBI_NUM_OK: break;
    case NBI_NUM_EMPTY:
        return cell_error(p, col, "the cell is empty (missing values are not supported; fill "
                          "or drop them first):");
    case NBI_NUM_NONFINITE:
        return cell_error(p, col, "NaN and infinity are not supported:");
    case NBI_NUM_RANGE: return cell_error(p, col, "the number is out of range:");
    default:
        return cell_error(p, col, p->label < 0 || p->o.label_is_target
                                      ? "cannot read as a number:"
                                      : "cannot read as a number (only the label column may "
                                        "hold text):");
    }
    float f = (float)v;
    if (!isfinite(f)) return cell_error(p, col, "the number is too large for float32:");
    *out = f;
    return NB_OK;
}

/* Rows the rest of the buffer can hold at most: no more than its line ends (+1), and no more
 * than its bytes allow, since a valid row of n non-empty cells takes at least 2n - 1 bytes.
 * Both bounds follow the data itself, so a lying header cannot inflate them; for an ordinary
 * file the first is exact and the buffers never grow (or move) afterwards. */
static int64_t row_bound(const parser *p) {
    const char *s = p->t.s + p->t.i, *end = p->t.s + p->t.n;
    size_t lf = 0, cr = 0;
    for (const char *q = s; (q = memchr(q, '\n', (size_t)(end - q))); q++) lf++;
    for (const char *q = s; (q = memchr(q, '\r', (size_t)(end - q))); q++) cr++;
    size_t by_lines = (lf > cr ? lf : cr) + 1;
    size_t by_size = (size_t)(end - s) / (2 * (size_t)p->ncols - 1) + 1;
    size_t b = by_lines < by_size ? by_lines : by_size;
    return b > (size_t)INT64_MAX / 8 ? INT64_MAX / 8 : (int64_t)b;
}

static nb_status grow_rows(parser *p) {
    if (p->rows < p->cap) return NB_OK;
    int64_t cap = p->cap ? p->cap * 2 : row_bound(p);
    int64_t feat = p->ncols - (p->label >= 0);
    size_t xb;
    if (!nbi_mul_size((size_t)cap, (size_t)feat * sizeof(float), &xb))
        return nbi_error(NB_ERR_NOMEM, "%s: too many rows", p->t.name);
    float *x = nbi_malloc(xb);
    int32_t *li = nbi_malloc((size_t)cap * sizeof(int32_t));
    int32_t *ld = nbi_malloc((size_t)cap * sizeof(int32_t));
    float *tg = nbi_malloc((size_t)cap * sizeof(float));
    if (!x || !li || !ld || !tg) {
        nbi_free(x), nbi_free(li), nbi_free(ld), nbi_free(tg);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory after %lld rows", p->t.name,
                         (long long)p->rows);
    }
    if (p->rows) {
        memcpy(x, p->x, (size_t)p->rows * (size_t)feat * sizeof(float));
        memcpy(li, p->lab_int, (size_t)p->rows * sizeof(int32_t));
        memcpy(ld, p->lab_id, (size_t)p->rows * sizeof(int32_t));
        memcpy(tg, p->target, (size_t)p->rows * sizeof(float));
    }
    nbi_free(p->x), nbi_free(p->lab_int), nbi_free(p->lab_id), nbi_free(p->target);
    p->x = x, p->lab_int = li, p->lab_id = ld, p->target = tg;
    p->cap = cap;
    return NB_OK;
}

static nb_status label_cell(parser *p, int64_t col) {
    int64_t r = p->rows;
    if (p->o.label_is_target) return number_cell(p, col, &p->target[r]);
    if (p->t.flen == 0) return cell_error(p, col, "the label is empty:");
    if (memchr(p->t.f, 0, p->t.flen)) return cell_error(p, col, "the label holds a NUL byte:");
    if (p->o.classes) {
        int id = names_find(&p->nm, p->t.f, p->t.flen);
        if (id < 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "the label is not one of the %d known classes:",
                     p->o.num_classes);
            return cell_error(p, col, msg);
        }
        p->lab_id[r] = id;
        return NB_OK;
    }
    double v;
    bool is_int = nbi_parse_double(p->t.f, p->t.flen, &v, &p->locale) == NBI_NUM_OK &&
                  v >= 0 && v <= 2147483646.0 && v == floor(v);
    p->lab_int[r] = is_int ? (int32_t)v : -1;
    if (is_int && (int32_t)v > p->max_int) p->max_int = (int32_t)v;
    if (!is_int) p->all_int = false;
    p->lab_id[r] = -1;
    if (!p->names_full) {
        if (p->nm.count >= MAX_CLASSES && names_find(&p->nm, p->t.f, p->t.flen) < 0) {
            p->names_full = true;
        } else {
            int id = names_add(&p->nm, p->t.f, p->t.flen);
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

static nb_status parse_header_row(parser *p) {
    tok *t = &p->t;
    if (t->n >= 3 && memcmp(t->s, "\xEF\xBB\xBF", 3) == 0) t->i = 3; /* UTF-8 BOM */
    if (!next_record(t))
        return nbi_error(NB_ERR_FORMAT, "%s: the file is empty (a CSV file needs a header row "
                         "naming its columns)", t->name);
    /* The names go one after another into one growing block, with an offset per column:
     * a header of a million short names costs their bytes, not a million allocations. */
    int64_t cap = 0;
    for (bool eor = false; !eor;) {
        nb_status st = next_field(t, p->ncols, &eor);
        if (st) return st;
        if (p->ncols == cap) {
            int64_t nc = cap ? cap * 2 : 16;
            size_t *h = nbi_malloc((size_t)nc * sizeof *h);
            if (!h) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", t->name);
            if (p->ncols) memcpy(h, p->name_at, (size_t)p->ncols * sizeof *h);
            nbi_free(p->name_at);
            p->name_at = h;
            cap = nc;
        }
        if (memchr(t->f, 0, t->flen))
            return nbi_error(NB_ERR_FORMAT, "%s:%lld: column %lld: the header holds a NUL byte",
                             t->name, (long long)t->fline, (long long)p->ncols + 1);
        if (p->names_cap - p->names_len < t->flen + 1) {
            size_t nc = p->names_cap ? p->names_cap : 256;
            while (nc - p->names_len < t->flen + 1) nc *= 2;
            char *nb = nbi_malloc(nc);
            if (!nb) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", t->name);
            if (p->names_len) memcpy(nb, p->names, p->names_len);
            nbi_free(p->names);
            p->names = nb;
            p->names_cap = nc;
        }
        memcpy(p->names + p->names_len, t->f, t->flen);
        p->names[p->names_len + t->flen] = 0;
        p->name_at[p->ncols++] = p->names_len;
        p->names_len += t->flen + 1;
    }
    /* The label column. */
    p->label = -1;
    if (p->o.no_label) {
        /* none */
    } else if (p->o.label_name) {
        for (int64_t c = 0; c < p->ncols && p->label < 0; c++)
            if (strcmp(col_name(p, c), p->o.label_name) == 0) p->label = c;
        if (p->label < 0) {
            char cols[200], cn[40], want[40];
            size_t k = 0;
            for (int64_t c = 0; c < p->ncols && k + 40 < sizeof cols; c++)
                k += (size_t)snprintf(cols + k, sizeof cols - k, "%s'%s'", c ? ", " : "",
                                      col_text(p, c, cn, sizeof cn));
            return nbi_error(NB_ERR_ARG,
                             "%s: no column is named '%s' (the header has %lld "
                             "columns: %s%s)",
                             t->name,
                             excerpt(p->o.label_name, strlen(p->o.label_name), want, sizeof want),
                             (long long)p->ncols, cols, k + 40 >= sizeof cols ? ", ..." : "");
        }
    } else {
        /* 1, 2, ... from the first column; -1, -2, ... from the last; 0: the last */
        const int col = p->o.label_column ? p->o.label_column : -1;
        int64_t li = col < 0 ? p->ncols + col : (int64_t)col - 1;
        if (li < 0 || li >= p->ncols)
            return nbi_error(
                NB_ERR_ARG, "%s: label column %d (%s %lld) is out of range for %lld columns",
                t->name, col, col < 0 ? "from the end:" : "index from 0:",
                (long long)(col < 0 ? -(int64_t)col : (int64_t)col - 1), (long long)p->ncols);
        p->label = li;
    }
    char cn[40];
    if (p->ncols - (p->label >= 0) < 1)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: no feature columns: the header has only the "
                         "label column '%s'",
                         t->name, col_text(p, p->label, cn, sizeof cn));
    return NB_OK;
}

static nb_status parse_rows(parser *p) {
    tok *t = &p->t;
    int64_t feat = p->ncols - (p->label >= 0);
    while (next_record(t)) {
        nb_status st = grow_rows(p);
        if (st) return st;
        float *xr = p->x + p->rows * feat;
        int64_t col = 0, fi = 0;
        int64_t line = t->line;
        for (bool eor = false; !eor; col++) {
            if (col == p->ncols)
                return nbi_error(NB_ERR_FORMAT, "%s:%lld: the row has more than %lld fields, "
                                 "the header's count (a stray delimiter or an unquoted "
                                 "'%c' in a value?)", t->name, (long long)line,
                                 (long long)p->ncols, t->delim);
            st = next_field(t, col, &eor);
            if (st) return st;
            st = col == p->label ? label_cell(p, col) : number_cell(p, col, &xr[fi++]);
            if (st) return st;
        }
        if (col < p->ncols)
            return nbi_error(NB_ERR_FORMAT, "%s:%lld: the row has %lld fields, the header has "
                             "%lld", t->name, (long long)line, (long long)col,
                             (long long)p->ncols);
        p->rows++;
    }
    return NB_OK;
}

static int cmp_names_by_id(const void *a, const void *b, const names *nm) {
    int ia = *(const int *)a, ib = *(const int *)b;
    size_t la = nm->len[ia], lb = nm->len[ib];
    int c = memcmp(nm->name[ia], nm->name[ib], la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* qsort has no user pointer in C11: sort with a small insertion-merge of our own. */
static void sort_ids(int *ids, int *tmp, int n, const names *nm) {
    if (n < 2) return;
    int h = n / 2;
    sort_ids(ids, tmp, h, nm);
    sort_ids(ids + h, tmp, n - h, nm);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_names_by_id(&ids[j], &ids[i], nm) < 0 ? ids[j++] : ids[i++];
    while (i < h) tmp[k++] = ids[i++];
    while (j < n) tmp[k++] = ids[j++];
    memcpy(ids, tmp, (size_t)n * sizeof *ids);
}

/* Moves the parse into out. */
static nb_status finish(parser *p, nb_csv *out) {
    int64_t feat = p->ncols - (p->label >= 0);
    size_t xb = (size_t)p->rows * (size_t)feat * sizeof(float);
    out->rows = p->rows;
    out->cols = feat;
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
    if (p->label >= 0) {
        const char *ln = col_name(p, p->label);
        out->label_name = dup_text(ln, strlen(ln));
    }
    if (!out->x || !out->col_names || (p->label >= 0 && !out->label_name))
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    char *text = (char *)out->col_names + pb;
    memcpy(text, p->names, p->names_len);
    for (int64_t c = 0, k = 0; c < p->ncols; c++)
        if (c != p->label) out->col_names[k++] = text + p->name_at[c];
    if (p->label < 0) return NB_OK;
    size_t rb = (size_t)(p->rows ? p->rows : 1);
    if (p->o.label_is_target) {
        out->targets = nbi_malloc(rb * sizeof(float));
        if (!out->targets) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
        if (p->rows) memcpy(out->targets, p->target, (size_t)p->rows * sizeof(float));
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
    int *order = nbi_malloc((size_t)(k ? k : 1) * sizeof(int));
    int *tmp = nbi_malloc((size_t)(k ? k : 1) * sizeof(int));
    out->classes = nbi_calloc((size_t)(k ? k : 1), sizeof(char *));
    if (!rank || !order || !tmp || !out->classes) {
        nbi_free(rank), nbi_free(order), nbi_free(tmp);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", p->t.name);
    }
    for (int i = 0; i < k; i++) order[i] = i;
    if (!p->o.classes) sort_ids(order, tmp, k, &p->nm); /* known classes keep their order */
    for (int i = 0; i < k; i++) {
        rank[order[i]] = i;
        out->classes[i] = p->nm.name[order[i]];
        p->nm.name[order[i]] = NULL;
    }
    out->num_classes = k;
    for (int64_t r = 0; r < p->rows; r++) out->labels[r] = rank[p->lab_id[r]];
    nbi_free(rank), nbi_free(order), nbi_free(tmp);
    return NB_OK;
}

void nb_csv_free(nb_csv *c) {
    if (!c) return;
    if (c->classes)
        for (int i = 0; i < c->num_classes; i++) nbi_free(c->classes[i]);
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
    if (!p.o.delimiter) p.o.delimiter = ',';
    if (p.o.delimiter == '"' || p.o.delimiter == '\n' || p.o.delimiter == '\r')
        return nbi_error(NB_ERR_ARG, "%s: the delimiter cannot be a quote or a newline", name);
    if (p.o.classes && (p.o.num_classes <= 0 || p.o.num_classes > MAX_CLASSES))
        return nbi_error(NB_ERR_ARG, "%s: num_classes %d is out of range (1..%d)", name,
                         p.o.num_classes, MAX_CLASSES);
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
        if (!c || names_find(&p.nm, c, strlen(c)) >= 0)
            st = nbi_error(NB_ERR_ARG, "%s: known class %d is NULL or repeated", name, i);
        else if (names_add(&p.nm, c, strlen(c)) < 0)
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    }
    if (!st) st = parse_header_row(&p);
    if (!st) st = parse_rows(&p);
    if (!st) st = finish(&p, out);
    if (st) nb_csv_free(out);
    nbi_free(p.names);
    nbi_free(p.name_at);
    nbi_free(p.x), nbi_free(p.target), nbi_free(p.lab_int), nbi_free(p.lab_id);
    nbi_free(p.t.scratch);
    names_free(&p.nm);
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
