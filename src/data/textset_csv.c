/* data/textset_csv.c — labelled text from a CSV file: a header row, a text column and a label
 * column.
 *
 * The numeric CSV reader (csv.c) wants numbers in every feature column; text columns need the
 * fields themselves, so this file has its own small RFC 4180 field reader: fields separated by
 * the delimiter, records by LF or CRLF, a field in double quotes may hold delimiters, newlines
 * and doubled quotes; blank lines and a UTF-8 byte-order mark are skipped, unquoted fields are
 * trimmed of blanks. The file is read twice: first to learn the classes (their names sorted,
 * or integers used as they are), then to encode the records. */
#include "data/textset.h"
#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct csvr {
    const char *s;
    size_t n, i;
    char delim;
    int64_t line;
    const char *name;
    nbi_text field;
} csvr;

/* Skips blank lines; false at the end of the data. */
static bool more(csvr *r) {
    while (r->i < r->n) {
        if (r->s[r->i] == '\n')
            r->i++, r->line++;
        else if (r->s[r->i] == '\r' && r->i + 1 < r->n && r->s[r->i + 1] == '\n')
            r->i += 2, r->line++;
        else
            return true;
    }
    return false;
}

static bool blank(char c) {
    return c == ' ' || c == '\t';
}

/* The next field into r->field; *eor when it ends its record. */
static nb_status field(csvr *r, int64_t col, bool *eor) {
    r->field.len = 0;
    nbi_text_put(&r->field, "", 0);
    size_t k = r->i;
    while (k < r->n && blank(r->s[k])) k++;
    if (k < r->n && r->s[k] == '"') {
        int64_t first = r->line;
        for (r->i = k + 1;; r->i++) {
            if (r->i >= r->n)
                return nbi_error(NB_ERR_FORMAT,
                                 "%s:%lld: column %lld: a quoted field is never "
                                 "closed (a '\"' is missing)",
                                 r->name, (long long)first, (long long)col + 1);
            char c = r->s[r->i];
            if (c == '"' && r->i + 1 < r->n && r->s[r->i + 1] == '"') {
                nbi_text_put(&r->field, "\"", 1);
                r->i++;
            } else if (c == '"') {
                r->i++;
                break;
            } else {
                r->line += c == '\n';
                nbi_text_put(&r->field, &c, 1);
            }
        }
        while (r->i < r->n && blank(r->s[r->i])) r->i++;
        if (r->i < r->n && r->s[r->i] != r->delim && r->s[r->i] != '\n' && r->s[r->i] != '\r')
            return nbi_error(NB_ERR_FORMAT,
                             "%s:%lld: column %lld: unexpected character '%c' after "
                             "a closing quote",
                             r->name, (long long)r->line, (long long)col + 1, r->s[r->i]);
    } else {
        size_t a = r->i;
        while (r->i < r->n && r->s[r->i] != r->delim && r->s[r->i] != '\n' && r->s[r->i] != '\r')
            r->i++;
        size_t b = r->i;
        while (a < b && blank(r->s[a])) a++;
        while (b > a && blank(r->s[b - 1])) b--;
        nbi_text_put(&r->field, r->s + a, b - a);
    }
    nb_status st = nbi_text_status(&r->field, r->name);
    if (st) return st;
    if (r->i >= r->n) {
        *eor = true;
    } else if (r->s[r->i] == r->delim) {
        r->i++;
        *eor = false;
    } else if (r->s[r->i] == '\n' ||
               (r->s[r->i] == '\r' && r->i + 1 < r->n && r->s[r->i + 1] == '\n')) {
        r->i += r->s[r->i] == '\r' ? 2 : 1;
        r->line++;
        *eor = true;
    } else {
        return nbi_error(NB_ERR_FORMAT, "%s:%lld: a carriage return without a line feed", r->name,
                         (long long)r->line);
    }
    return NB_OK;
}

typedef struct csv_job {
    csvr r;
    int64_t cols, text_col, label_col;
    nbi_text text, label;
    /* pass 1: the labels, NUL-separated, and where each starts */
    nbi_text pool;
    int64_t *starts;
    int64_t nrows, scap;
    bool all_int;
    int64_t max_int;
    char **names; /* sorted distinct labels (pointers into pool) */
    int nnames;
    nbi_tsb b;
} csv_job;

/* Reads one record (after the header) into job->text and job->label. */
static nb_status row(csv_job *j) {
    int64_t line = j->r.line, c = 0;
    bool eor = false;
    while (!eor) {
        nb_status st = field(&j->r, c, &eor);
        if (st) return st;
        if (c == j->text_col) {
            j->text.len = 0;
            nbi_text_put(&j->text, j->r.field.buf, j->r.field.len);
        }
        if (c == j->label_col) {
            j->label.len = 0;
            nbi_text_put(&j->label, j->r.field.buf, j->r.field.len);
        }
        c++;
    }
    if (c != j->cols)
        return nbi_error(NB_ERR_FORMAT, "%s:%lld: %lld fields, but the header has %lld", j->r.name,
                         (long long)line, (long long)c, (long long)j->cols);
    nb_status st = nbi_text_status(&j->text, j->r.name);
    return st ? st : nbi_text_status(&j->label, j->r.name);
}

static nb_status header(csv_job *j, const nb_textset_opts *o) {
    const char *tn = o->text_column ? o->text_column : "text";
    const char *ln = o->label_column ? o->label_column : "label";
    j->text_col = j->label_col = -1;
    if (j->r.n >= 3 && !memcmp(j->r.s, "\xEF\xBB\xBF", 3)) j->r.i = 3;
    if (!more(&j->r)) return nbi_error(NB_ERR_FORMAT, "%s: the file is empty", j->r.name);
    bool eor = false;
    for (j->cols = 0; !eor; j->cols++) {
        nb_status st = field(&j->r, j->cols, &eor);
        if (st) return st;
        const char *f = nbi_text_str(&j->r.field);
        if (!strcmp(f, tn) && j->text_col < 0) j->text_col = j->cols;
        if (!strcmp(f, ln) && j->label_col < 0) j->label_col = j->cols;
    }
    if (j->text_col < 0 || j->label_col < 0 || j->text_col == j->label_col)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: the header has no %s column \"%s\" (the text and "
                         "label columns are chosen by name)",
                         j->r.name, j->text_col < 0 ? "text" : "label", j->text_col < 0 ? tn : ln);
    return NB_OK;
}

/* A label that is a small non-negative integer: its value, else -1. */
static int64_t small_int(const char *s, size_t n) {
    if (n == 0 || n > 5) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < NBI_MAX_CLASSES ? v : -1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pass 1: every label, then the classes. */
static nb_status learn_classes(csv_job *j) {
    j->all_int = true;
    j->max_int = -1;
    while (more(&j->r)) {
        nb_status st = row(j);
        if (st) return st;
        if (memchr(j->label.buf, 0, j->label.len))
            return nbi_error(NB_ERR_FORMAT, "%s:%lld: a label holds a zero byte", j->r.name,
                             (long long)j->r.line - 1);
        int64_t v = small_int(j->label.buf, j->label.len);
        j->all_int = j->all_int && v >= 0;
        if (v > j->max_int) j->max_int = v;
        if (j->nrows == j->scap) {
            int64_t cap = j->scap ? 2 * j->scap : 256;
            int64_t *s = nbi_malloc((size_t)cap * sizeof *s);
            if (!s) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", j->r.name);
            if (j->nrows) memcpy(s, j->starts, (size_t)j->nrows * sizeof *s);
            nbi_free(j->starts);
            j->starts = s;
            j->scap = cap;
        }
        j->starts[j->nrows++] = (int64_t)j->pool.len;
        nbi_text_put(&j->pool, j->label.buf, j->label.len);
        nbi_text_put(&j->pool, "", 1);
        if ((st = nbi_text_status(&j->pool, j->r.name))) return st;
    }
    if (j->nrows == 0)
        return nbi_error(NB_ERR_FORMAT, "%s: no records after the header", j->r.name);
    if (j->all_int) {
        for (int64_t k = 0; k <= j->max_int; k++) {
            char name[16];
            int len = snprintf(name, sizeof name, "%lld", (long long)k);
            nb_status st = nbi_tsb_class(&j->b, name, (size_t)len);
            if (st) return st;
        }
        return NB_OK;
    }
    j->names = nbi_malloc((size_t)j->nrows * sizeof(char *));
    if (!j->names) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", j->r.name);
    for (int64_t i = 0; i < j->nrows; i++) j->names[i] = j->pool.buf + j->starts[i];
    qsort(j->names, (size_t)j->nrows, sizeof(char *), cmp_str);
    for (int64_t i = 0; i < j->nrows; i++) {
        if (i && !strcmp(j->names[i], j->names[i - 1])) continue;
        nb_status st = nbi_tsb_class(&j->b, j->names[i], strlen(j->names[i]));
        if (st) return st;
    }
    return NB_OK;
}

/* Pass 2: the records. */
static nb_status encode_rows(csv_job *j) {
    for (int64_t i = 0; more(&j->r); i++) {
        nb_status st = row(j);
        if (st) return st;
        int32_t label;
        if (j->all_int) {
            label = (int32_t)small_int(j->label.buf, j->label.len);
        } else {
            const char *key = j->pool.buf + j->starts[i];
            int lo = 0, hi = j->b.num_classes;
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (strcmp(j->b.classes[mid], key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            label = lo;
        }
        if ((st = nbi_tsb_add(&j->b, j->text.buf ? j->text.buf : "", j->text.len, label))) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", nb_last_error());
            return nbi_error(st, "%s: record %lld: %s", j->r.name, (long long)i + 1, msg);
        }
    }
    return NB_OK;
}

nb_status nb_textset_parse_csv(const void *buf, size_t len, const char *name, const nb_tokenizer *t,
                               const nb_textset_opts *o, nb_textset *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_textset_parse_csv: out is NULL");
    memset(out, 0, sizeof *out);
    if (!buf && len) return nbi_error(NB_ERR_ARG, "nb_textset_parse_csv: the buffer is NULL");
    if (!name) name = "CSV";
    csv_job j;
    memset(&j, 0, sizeof j);
    nb_status st = nbi_tsb_init(&j.b, t, o, name);
    j.r = (csvr){buf ? buf : "", len, 0, o && o->delimiter ? o->delimiter : ',', 1, name, {0}};
    nbi_text_init(&j.r.field);
    nbi_text_init(&j.text);
    nbi_text_init(&j.label);
    nbi_text_init(&j.pool);
    if (!st && (j.r.delim == '"' || j.r.delim == '\n' || j.r.delim == '\r'))
        st = nbi_error(NB_ERR_ARG, "%s: the delimiter cannot be a quote or a newline", name);
    if (!st) st = header(&j, o);
    size_t body = j.r.i;
    int64_t body_line = j.r.line;
    if (!st) st = learn_classes(&j);
    j.r.i = body;
    j.r.line = body_line;
    if (!st) st = encode_rows(&j);
    nbi_text_free(&j.r.field), nbi_text_free(&j.text), nbi_text_free(&j.label);
    nbi_text_free(&j.pool);
    nbi_free(j.starts);
    nbi_free(j.names);
    if (st) {
        nbi_tsb_free(&j.b);
        return st;
    }
    return nbi_tsb_finish(&j.b, out);
}

nb_status nb_textset_load_csv(const char *path, const nb_tokenizer *t, const nb_textset_opts *o,
                              nb_textset *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_textset_load_csv: out is NULL");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t len;
    nb_status st = nbi_read_file(path, "CSV", &buf, &len);
    if (st) return st;
    st = nb_textset_parse_csv(buf, len, path, t, o, out);
    nbi_free(buf);
    return st;
}
