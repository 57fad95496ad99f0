/* audio/manifest.c — manifests of labelled clips: CSV with a header naming `path`, `label` and
 * optionally `group` (or `speaker`) columns (see nabla/audio.h), and the split by group that
 * keeps a speaker's clips on one side.
 *
 * The reader is a small RFC 4180 tokenizer (quoted fields, doubled quotes, delimiters and
 * newlines inside quotes, LF or CRLF, a UTF-8 byte-order mark, blank lines skipped) that
 * copies each needed field; arrays grow with the rows actually present, so a hostile file
 * costs memory in proportion to its size only. Errors name the file and line. */
#include "audio/audio.h"
#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELD 4096
#define MAX_ROWS (INT64_C(1) << 31)
#define MAX_NAMES 65536

void nb_manifest_free(nb_manifest *m) {
    if (!m) return;
    for (int64_t i = 0; m->paths && i < m->n; i++) nbi_free(m->paths[i]);
    nbi_free(m->paths);
    nbi_free(m->labels);
    nbi_free(m->groups);
    for (int i = 0; m->classes && i < m->num_classes; i++) nbi_free(m->classes[i]);
    nbi_free(m->classes);
    for (int i = 0; m->group_names && i < m->num_groups; i++) nbi_free(m->group_names[i]);
    nbi_free(m->group_names);
    memset(m, 0, sizeof *m);
}

static char *dup_n(const char *s, size_t n) {
    char *d = nbi_malloc(n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* ---- the tokenizer --------------------------------------------------------------------------- */

typedef struct tok {
    const char *s;
    size_t n, i;
    int64_t line; /* the line at i */
    const char *name;
    char *field; /* the last field, unescaped, NUL-terminated (MAX_FIELD + 1 bytes) */
    size_t flen;
    bool end_of_record; /* the field just read ended its record */
} tok;

/* Reads one field; NB_OK with end_of_record set after the last field of a line. */
static nb_status next_field(tok *t) {
    t->flen = 0;
    const int64_t start_line = t->line;
    bool quoted = t->i < t->n && t->s[t->i] == '"';
    if (quoted) t->i++;
    for (;;) {
        if (t->i >= t->n) {
            if (quoted)
                return nbi_error(NB_ERR_FORMAT, "%s:%lld: a quoted field is not closed", t->name,
                                 (long long)start_line);
            t->end_of_record = true;
            break;
        }
        char c = t->s[t->i];
        if (quoted) {
            if (c == '"') {
                if (t->i + 1 < t->n && t->s[t->i + 1] == '"') {
                    t->i += 2;
                    c = '"';
                } else {
                    t->i++;
                    quoted = false;
                    /* after a closing quote: a delimiter, a newline or the end */
                    if (t->i < t->n && t->s[t->i] != ',' && t->s[t->i] != '\n' &&
                        t->s[t->i] != '\r')
                        return nbi_error(NB_ERR_FORMAT, "%s:%lld: text after a closing quote",
                                         t->name, (long long)t->line);
                    continue;
                }
            } else {
                if (c == '\n') t->line++;
                t->i++;
            }
        } else {
            if (c == ',') {
                t->i++;
                t->end_of_record = false;
                break;
            }
            if (c == '\n' || c == '\r') {
                t->i += c == '\r' && t->i + 1 < t->n && t->s[t->i + 1] == '\n' ? 2 : 1;
                t->line++;
                t->end_of_record = true;
                break;
            }
            if (c == '"')
                return nbi_error(NB_ERR_FORMAT, "%s:%lld: a quote inside an unquoted field",
                                 t->name, (long long)t->line);
            t->i++;
        }
        if (t->flen == MAX_FIELD)
            return nbi_error(NB_ERR_FORMAT, "%s:%lld: a field longer than %d bytes", t->name,
                             (long long)start_line, MAX_FIELD);
        if (c == 0)
            return nbi_error(NB_ERR_FORMAT, "%s:%lld: a NUL byte in a field", t->name,
                             (long long)start_line);
        t->field[t->flen++] = c;
    }
    t->field[t->flen] = 0;
    return NB_OK;
}

/* skips blank lines; false at the end of the text */
static bool next_record(tok *t) {
    while (t->i < t->n && (t->s[t->i] == '\n' || t->s[t->i] == '\r')) {
        if (t->s[t->i] == '\n') t->line++;
        t->i++;
    }
    return t->i < t->n;
}

static bool name_is(const char *f, const char *name) {
    for (; *f && *name; f++, name++) {
        char c = *f >= 'A' && *f <= 'Z' ? (char)(*f - 'A' + 'a') : *f;
        if (c != *name) return false;
    }
    return *f == 0 && *name == 0;
}

/* ---- labels and groups ----------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* integer label text: digits only, at most 2^31 − 2 */
static bool int_label(const char *s, int32_t *v) {
    if (!*s) return false;
    int64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        x = 10 * x + (*s - '0');
        if (x > INT32_MAX - 1) return false;
    }
    *v = (int32_t)x;
    return true;
}

/* the labels from their texts (taken over: freed here) */
static nb_status resolve_labels(nb_manifest *m, char **texts, const char *name) {
    bool all_int = true;
    int32_t v, maxl = -1;
    for (int64_t i = 0; i < m->n && all_int; i++) all_int = int_label(texts[i], &v);
    nb_status st = NB_OK;
    if (all_int) {
        for (int64_t i = 0; i < m->n; i++) {
            int_label(texts[i], &m->labels[i]);
            if (m->labels[i] > maxl) maxl = m->labels[i];
        }
        m->num_classes = (int)(maxl + 1);
    } else {
        /* names: the sorted distinct texts */
        char **sorted = nbi_malloc_for("manifest", sizeof(char *) * (size_t)(m->n + 1));
        if (!sorted) st = NB_ERR_NOMEM;
        int k = 0;
        if (!st) {
            memcpy(sorted, texts, sizeof(char *) * (size_t)m->n);
            qsort(sorted, (size_t)m->n, sizeof(char *), cmp_str);
            for (int64_t i = 0; i < m->n && !st; i++) {
                if (i && strcmp(sorted[i], sorted[i - 1]) == 0) continue;
                if (k == MAX_NAMES)
                    st = nbi_error(NB_ERR_FORMAT, "%s: more than %d class names", name, MAX_NAMES);
                else
                    sorted[k++] = sorted[i];
            }
        }
        if (!st) m->classes = nbi_calloc((size_t)k + 1, sizeof(char *));
        if (!st && !m->classes) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
        for (int c = 0; !st && c < k; c++) {
            m->classes[c] = dup_n(sorted[c], strlen(sorted[c]));
            if (!m->classes[c]) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
            m->num_classes = c + 1;
        }
        for (int64_t i = 0; !st && i < m->n; i++) {
            char **hit = bsearch(&texts[i], m->classes, (size_t)k, sizeof(char *), cmp_str);
            NBI_ASSERT(hit != NULL);
            m->labels[i] = (int32_t)(hit - m->classes);
        }
        nbi_free(sorted);
    }
    return st;
}

/* ---- the reader ------------------------------------------------------------------------------ */

typedef struct row {
    char *path;
    char *label;
    char *cname; /* the `name` (or `word`) column: the class name of an integer label */
    int32_t group;
} row;

static nb_status free_names(char **cl, int n, nb_status st) {
    for (int c = 0; c < n; c++) nbi_free(cl[c]);
    nbi_free(cl);
    return st;
}

/* Integer labels with a name column: classes[label] = the first name given for it. When some
 * label in 0 .. num_classes − 1 has no name, one label has two names or two labels share
 * one, the labels stay unnamed (the names are ignored, as if the column were absent). */
static nb_status name_classes(nb_manifest *m, const row *rows, const char *name) {
    if (m->num_classes < 1 || m->num_classes > MAX_NAMES) return NB_OK;
    char **cl = nbi_calloc((size_t)m->num_classes, sizeof(char *));
    if (!cl) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    bool ok = true;
    for (int64_t i = 0; i < m->n && ok; i++) {
        const char *nm = rows[i].cname;
        char **slot = &cl[m->labels[i]];
        if (!nm)
            ok = false;
        else if (*slot)
            ok = strcmp(*slot, nm) == 0;
        else if (!(*slot = dup_n(nm, strlen(nm))))
            return free_names(cl, m->num_classes,
                              nbi_error(NB_ERR_NOMEM, "%s: out of memory", name));
    }
    for (int c = 0; c < m->num_classes && ok; c++) ok = cl[c] != NULL;
    if (ok) { /* distinct: sort a copy of the pointers and compare neighbours */
        char **srt = nbi_malloc((size_t)m->num_classes * sizeof(char *));
        if (!srt)
            return free_names(cl, m->num_classes,
                              nbi_error(NB_ERR_NOMEM, "%s: out of memory", name));
        memcpy(srt, cl, (size_t)m->num_classes * sizeof(char *));
        qsort(srt, (size_t)m->num_classes, sizeof(char *), cmp_str);
        for (int c = 1; c < m->num_classes && ok; c++) ok = strcmp(srt[c - 1], srt[c]) != 0;
        nbi_free(srt);
    }
    if (ok) {
        m->classes = cl;
        return NB_OK;
    }
    return free_names(cl, m->num_classes, NB_OK);
}

static char *join_path(const char *dir, const char *p, size_t n) {
    if (!dir || !*dir || (n && p[0] == '/')) return dup_n(p, n);
    size_t dn = strlen(dir);
    char *s = nbi_malloc(dn + 1 + n + 1);
    if (!s) return NULL;
    memcpy(s, dir, dn);
    s[dn] = '/';
    memcpy(s + dn + 1, p, n);
    s[dn + 1 + n] = 0;
    return s;
}

/* the index of group text g (added when new) */
static nb_status group_index(nb_manifest *m, int *cap, const char *g, const char *name,
                             int32_t *out) {
    for (int i = m->num_groups - 1; i >= 0; i--) /* recent groups first: rows come grouped */
        if (strcmp(m->group_names[i], g) == 0) {
            *out = i;
            return NB_OK;
        }
    if (m->num_groups == MAX_NAMES)
        return nbi_error(NB_ERR_FORMAT, "%s: more than %d groups", name, MAX_NAMES);
    if (m->num_groups == *cap) {
        int c = *cap ? 2 * *cap : 16;
        char **q = nbi_malloc(sizeof(char *) * (size_t)c);
        if (!q) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
        if (m->group_names) memcpy(q, m->group_names, sizeof(char *) * (size_t)m->num_groups);
        nbi_free(m->group_names);
        m->group_names = q;
        *cap = c;
    }
    char *d = dup_n(g, strlen(g));
    if (!d) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    m->group_names[m->num_groups] = d;
    *out = m->num_groups++;
    return NB_OK;
}

nb_status nb_manifest_parse(const void *buf, size_t len, const char *name, const char *dir,
                            nb_manifest *out) {
    memset(out, 0, sizeof *out);
    if (!name) name = "manifest";
    if (!buf && len) return nbi_error(NB_ERR_ARG, "%s: the buffer is NULL", name);
    tok t = {buf, len, 0, 1, name, NULL, 0, false};
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) t.i = 3;
    t.field = nbi_malloc_for("manifest", MAX_FIELD + 1);
    if (!t.field) return NB_ERR_NOMEM;
    nb_manifest m;
    memset(&m, 0, sizeof m);
    row *rows = NULL;
    int64_t cap = 0;
    int gcap = 0;
    nb_status st = NB_OK;
    /* the header */
    int cols = 0, c_path = -1, c_label = -1, c_group = -1, c_name = -1;
    if (!next_record(&t))
        st = nbi_error(NB_ERR_FORMAT, "%s: empty (a header naming path and label is needed)", name);
    while (!st) {
        st = next_field(&t);
        if (st) break;
        int *slot = name_is(t.field, "path")                                   ? &c_path
                    : name_is(t.field, "label")                                ? &c_label
                    : name_is(t.field, "group") || name_is(t.field, "speaker") ? &c_group
                    : name_is(t.field, "name") || name_is(t.field, "word")     ? &c_name
                                                                               : NULL;
        if (slot && *slot >= 0)
            st = nbi_error(NB_ERR_FORMAT,
                           "%s:1: column '%s' appears twice (group and speaker "
                           "are one column, name and word another)",
                           name, t.field);
        else if (slot)
            *slot = cols;
        if (++cols > 1024) st = nbi_error(NB_ERR_FORMAT, "%s:1: more than 1024 columns", name);
        if (t.end_of_record) break;
    }
    if (!st && (c_path < 0 || c_label < 0))
        st = nbi_error(NB_ERR_FORMAT,
                       "%s:1: the header must name a 'path' and a 'label' column "
                       "(and may name 'group' or 'speaker')",
                       name);
    /* the rows */
    while (!st && next_record(&t)) {
        const int64_t line = t.line;
        if (m.n == MAX_ROWS) {
            st = nbi_error(NB_ERR_FORMAT, "%s: more than 2^31 rows", name);
            break;
        }
        if (m.n == cap) {
            int64_t c = cap ? 2 * cap : 64;
            row *q = nbi_malloc(sizeof(row) * (size_t)c);
            if (!q) {
                st = nbi_error(NB_ERR_NOMEM, "%s: out of memory at line %lld", name,
                               (long long)line);
                break;
            }
            if (rows) memcpy(q, rows, sizeof(row) * (size_t)m.n);
            nbi_free(rows);
            rows = q;
            cap = c;
        }
        row *r = &rows[m.n];
        memset(r, 0, sizeof *r);
        m.n++;
        int col = 0;
        for (;; col++) {
            st = next_field(&t);
            if (st) break;
            if (col == c_path) {
                if (t.flen == 0) {
                    st = nbi_error(NB_ERR_FORMAT, "%s:%lld: the path is empty", name,
                                   (long long)line);
                    break;
                }
                r->path = join_path(dir, t.field, t.flen);
                if (!r->path) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
            } else if (col == c_label) {
                if (t.flen == 0) {
                    st = nbi_error(NB_ERR_FORMAT, "%s:%lld: the label is empty", name,
                                   (long long)line);
                    break;
                }
                r->label = dup_n(t.field, t.flen);
                if (!r->label) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
            } else if (col == c_group) {
                st = group_index(&m, &gcap, t.field, name, &r->group);
            } else if (col == c_name && t.flen > 0) {
                r->cname = dup_n(t.field, t.flen);
                if (!r->cname) st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
            }
            if (st || t.end_of_record) break;
        }
        if (!st && col + 1 != cols)
            st = nbi_error(NB_ERR_FORMAT, "%s:%lld: %d fields, but the header has %d", name,
                           (long long)line, col + 1, cols);
    }
    nbi_free(t.field);
    if (!st && m.n == 0) st = nbi_error(NB_ERR_FORMAT, "%s: no rows after the header", name);
    /* the columns as arrays */
    char **texts = NULL;
    if (!st) {
        m.paths = nbi_calloc((size_t)m.n, sizeof(char *));
        m.labels = nbi_calloc((size_t)m.n, sizeof(int32_t));
        m.groups = c_group >= 0 ? nbi_calloc((size_t)m.n, sizeof(int32_t)) : NULL;
        texts = nbi_calloc((size_t)m.n, sizeof(char *));
        if (!m.paths || !m.labels || !texts || (c_group >= 0 && !m.groups))
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    }
    if (!st) {
        for (int64_t i = 0; i < m.n; i++) {
            m.paths[i] = rows[i].path;
            texts[i] = rows[i].label;
            if (m.groups) m.groups[i] = rows[i].group;
            rows[i].path = NULL;
        }
        st = resolve_labels(&m, texts, name);
    }
    if (!st && c_name >= 0 && !m.classes) st = name_classes(&m, rows, name);
    for (int64_t i = 0; i < m.n && rows; i++) nbi_free(rows[i].path);
    for (int64_t i = 0; i < m.n && rows; i++) nbi_free(rows[i].label);
    for (int64_t i = 0; i < m.n && rows; i++) nbi_free(rows[i].cname);
    nbi_free(rows);
    nbi_free(texts);
    if (!st && !m.groups) { /* no group column: no group names either */
        for (int i = 0; i < m.num_groups; i++) nbi_free(m.group_names[i]);
        nbi_free(m.group_names);
        m.group_names = NULL;
        m.num_groups = 0;
    }
    if (st) {
        if (!m.paths) m.n = 0; /* the rows own the paths */
        nb_manifest_free(&m);
        return st;
    }
    *out = m;
    return NB_OK;
}

nb_status nb_manifest_read(const char *path, nb_manifest *out) {
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t len;
    nb_status st = nbi_read_file(path, "manifest", &buf, &len);
    if (st) return st;
    /* relative paths are relative to the manifest's folder */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? dup_n(path, (size_t)(slash - path) + (slash == path)) : NULL;
    if (slash && !dir) st = nbi_error(NB_ERR_NOMEM, "manifest: out of memory");
    if (!st) st = nb_manifest_parse(buf, len, path, dir, out);
    nbi_free(dir);
    nbi_free(buf);
    return st;
}

/* ---- splitting by group ------------------------------------------------------------------- */

static nb_status copy_rows(const nb_manifest *m, const bool *take, nb_manifest *o) {
    memset(o, 0, sizeof *o);
    int64_t n = 0;
    for (int64_t i = 0; i < m->n; i++) n += take[i];
    o->paths = nbi_calloc((size_t)n + 1, sizeof(char *));
    o->labels = nbi_calloc((size_t)n + 1, sizeof(int32_t));
    o->groups = nbi_calloc((size_t)n + 1, sizeof(int32_t));
    if (!o->paths || !o->labels || !o->groups) goto nomem;
    for (int64_t i = 0; i < m->n; i++) {
        if (!take[i]) continue;
        o->paths[o->n] = dup_n(m->paths[i], strlen(m->paths[i]));
        o->labels[o->n] = m->labels[i];
        o->groups[o->n] = m->groups[i];
        o->n++;
        if (!o->paths[o->n - 1]) goto nomem;
    }
    if (m->classes) {
        o->classes = nbi_calloc((size_t)m->num_classes, sizeof(char *));
        if (!o->classes) goto nomem;
        for (int c = 0; c < m->num_classes; c++) {
            o->classes[c] = dup_n(m->classes[c], strlen(m->classes[c]));
            if (!o->classes[c]) goto nomem;
        }
    }
    o->num_classes = m->num_classes; /* both parts keep the label numbering */
    o->group_names = nbi_calloc((size_t)m->num_groups + 1, sizeof(char *));
    if (!o->group_names) goto nomem;
    o->num_groups = m->num_groups;
    for (int g = 0; g < m->num_groups; g++) {
        o->group_names[g] = dup_n(m->group_names[g], strlen(m->group_names[g]));
        if (!o->group_names[g]) goto nomem;
    }
    return NB_OK;
nomem:
    if (o->classes == NULL) o->num_classes = 0;
    nb_manifest_free(o);
    return nbi_error(NB_ERR_NOMEM, "nb_manifest_split_groups: out of memory");
}

nb_status nb_manifest_split_groups(const nb_manifest *m, double test_fraction, uint64_t seed,
                                   nb_manifest *train, nb_manifest *test) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!m || !m->groups || m->num_groups < 1)
        return nbi_error(NB_ERR_ARG, "nb_manifest_split_groups: the manifest has no group "
                                     "column");
    if (!(test_fraction >= 0.0 && test_fraction <= 1.0))
        return nbi_error(NB_ERR_ARG,
                         "nb_manifest_split_groups: test_fraction %g is not in "
                         "[0, 1]",
                         test_fraction);
    const int G = m->num_groups;
    const int64_t k = (int64_t)(test_fraction * G + 0.5);
    int64_t *perm = nbi_malloc_for("nb_manifest_split_groups", sizeof(int64_t) * (size_t)G);
    bool *in_test = nbi_calloc((size_t)G, sizeof(bool));
    bool *take = nbi_calloc((size_t)m->n + 1, sizeof(bool));
    nb_status st = perm && in_test && take ? NB_OK : NB_ERR_NOMEM;
    if (!st) {
        for (int g = 0; g < G; g++) perm[g] = g;
        nb_rng r;
        nb_rng_seed(&r, seed);
        nb_rng_shuffle_i64(&r, perm, G);
        for (int64_t i = 0; i < k; i++) in_test[perm[i]] = true;
        for (int64_t i = 0; i < m->n; i++) take[i] = !in_test[m->groups[i]];
        st = copy_rows(m, take, train);
        for (int64_t i = 0; i < m->n; i++) take[i] = !take[i];
        if (!st) st = copy_rows(m, take, test);
        if (st) nb_manifest_free(train);
    } else {
        st = nbi_error(NB_ERR_NOMEM, "nb_manifest_split_groups: out of memory");
    }
    nbi_free(perm);
    nbi_free(in_test);
    nbi_free(take);
    return st;
}
