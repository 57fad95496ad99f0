/* data/textset.c — labelled text for classification: records from class folders or fortune
 * files, encoded, padded or truncated to a fixed length; splits and batches.
 *
 * A classifier over text sees a matrix of token ids [n, T]: each record is encoded, cut to its
 * first T tokens when longer (counted in `truncated`) or filled with the pad id when shorter;
 * lengths[i] remembers where the record ends, and gather turns it into a mask (1 at tokens,
 * 0 at padding) for pooling or attention. The matrix grows with the records actually read.
 * The CSV source is textset_csv.c; both go through the builder here. */
#include "data/textset.h"
#include "base/file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nb_textset_free(nb_textset *s) {
    if (!s) return;
    nbi_free(s->ids);
    nbi_free(s->lengths);
    nbi_free(s->labels);
    nbi_free_names(s->classes, s->num_classes);
    memset(s, 0, sizeof *s);
}

/* ---- the builder -------------------------------------------------------------------------- */

nb_status nbi_tsb_init(nbi_tsb *b, const nb_tokenizer *t, const nb_textset_opts *o,
                       const char *what) {
    memset(b, 0, sizeof *b);
    b->t = t;
    b->what = what;
    if (!t || !o) return nbi_error(NB_ERR_ARG, "%s: need a tokenizer and options", what);
    if (o->len < 1 || o->len > INT32_MAX)
        return nbi_error(NB_ERR_ARG, "%s: len %lld tokens per record must be in [1, 2^31 - 1]",
                         what, (long long)o->len);
    b->o = *o;
    b->pad = o->pad_id;
    if (b->pad < 0) {
        b->pad = nb_tokenizer_special_id(t, "<|pad|>");
        if (b->pad < 0)
            return nbi_error(NB_ERR_ARG,
                             "%s: the tokenizer has no <|pad|> token; give pad_id (or "
                             "train the tokenizer with a <|pad|> special token)",
                             what);
    } else if (b->pad >= nb_tokenizer_vocab_size(t)) {
        return nbi_error(NB_ERR_ARG,
                         "%s: pad_id %d is out of range for a vocabulary of %lld "
                         "tokens",
                         what, b->pad, (long long)nb_tokenizer_vocab_size(t));
    }
    return NB_OK;
}

void nbi_tsb_free(nbi_tsb *b) {
    nbi_free(b->ids.v);
    nbi_free(b->lengths.v);
    nbi_free(b->labels.v);
    nbi_free_names(b->classes, b->num_classes);
    memset(b, 0, sizeof *b);
}

nb_status nbi_tsb_add(nbi_tsb *b, const void *text, size_t len, int32_t label) {
    int32_t *ids;
    int64_t n, T = b->o.len;
    nb_status st = nb_tokenizer_encode(b->t, text, len, b->o.flags, &ids, &n);
    if (st) return st;
    if (n == 0) {
        nbi_free(ids);
        b->skipped++;
        return NB_OK;
    }
    if (n > T) b->truncated++;
    int64_t k = n < T ? n : T;
    if (!nbi_ids_reserve(&b->ids, T) || !nbi_ids_push(&b->lengths, (int32_t)k) ||
        !nbi_ids_push(&b->labels, label)) {
        nbi_free(ids);
        return NB_ERR_NOMEM;
    }
    int32_t *row = b->ids.v + b->ids.n;
    memcpy(row, ids, (size_t)k * sizeof(int32_t));
    for (int64_t i = k; i < T; i++) row[i] = b->pad;
    b->ids.n += T;
    nbi_free(ids);
    return NB_OK;
}

nb_status nbi_tsb_class(nbi_tsb *b, const char *name, size_t len) {
    if (b->num_classes >= NBI_MAX_CLASSES)
        return nbi_error(NB_ERR_ARG, "%s: more than %d classes", b->what, NBI_MAX_CLASSES);
    if (b->num_classes % 16 == 0) {
        char **v = nbi_malloc(((size_t)b->num_classes + 16) * sizeof *v);
        if (!v) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", b->what);
        if (b->num_classes) memcpy(v, b->classes, (size_t)b->num_classes * sizeof *v);
        nbi_free(b->classes);
        b->classes = v;
    }
    char *s = nbi_malloc(len + 1);
    if (!s) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", b->what);
    memcpy(s, name, len);
    s[len] = 0;
    b->classes[b->num_classes++] = s;
    return NB_OK;
}

nb_status nbi_tsb_finish(nbi_tsb *b, nb_textset *out) {
    if (b->lengths.n == 0) {
        nb_status st = nbi_error(NB_ERR_FORMAT, "%s: no records (%lld empty ones skipped)", b->what,
                                 (long long)b->skipped);
        nbi_tsb_free(b);
        return st;
    }
    out->n = b->lengths.n;
    out->len = b->o.len;
    out->ids = b->ids.v;
    out->lengths = b->lengths.v;
    out->labels = b->labels.v;
    out->num_classes = b->num_classes;
    out->classes = b->classes;
    out->pad_id = b->pad;
    out->truncated = b->truncated;
    out->skipped = b->skipped;
    memset(b, 0, sizeof *b);
    return NB_OK;
}

/* The current error message with "<path>: " before it. */
static nb_status prefix_error(nb_status st, const char *path) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    return nbi_error(st, "%s: %s", path, msg);
}

/* ---- fortune files ------------------------------------------------------------------------ */

void nbi_fortune_records(const char *s, size_t n,
                         nb_status (*fn)(void *user, const char *rec, size_t len), void *user,
                         nb_status *st) {
    *st = NB_OK;
    size_t start = 0, i = 0;
    while (i <= n && !*st) {
        /* The line [i, e), e at its '\n' or the end. */
        const char *nl = i < n ? memchr(s + i, '\n', n - i) : NULL;
        size_t e = nl ? (size_t)(nl - s) : n;
        size_t le = e > i && s[e - 1] == '\r' ? e - 1 : e;
        bool sep = le == i + 1 && s[i] == '%';
        if (sep || e == n) {
            size_t end = sep ? i : n;
            /* Without the newline that ends the record's last line. */
            if (end > start && s[end - 1] == '\n') end--;
            if (end > start && s[end - 1] == '\r') end--;
            *st = fn(user, s + start, end - start);
            start = e + 1;
        }
        if (e == n) break;
        i = e + 1;
    }
}

typedef struct fortune_ctx {
    nbi_tsb *b;
    int32_t label;
} fortune_ctx;

static nb_status add_fortune(void *user, const char *rec, size_t len) {
    fortune_ctx *c = user;
    size_t k = 0;
    while (k < len && (rec[k] == ' ' || (rec[k] >= '\t' && rec[k] <= '\r'))) k++;
    if (k == len) { /* blank: counted as skipped unless it is nothing at all (the end) */
        if (len) c->b->skipped++;
        return NB_OK;
    }
    return nbi_tsb_add(c->b, rec, len, c->label);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

typedef struct file_ref {
    const char *base;
    int index;
} file_ref;

static int cmp_ref(const void *a, const void *b) {
    const file_ref *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

nb_status nb_textset_load_fortunes(const char *const *paths, int n_paths, const nb_tokenizer *t,
                                   const nb_textset_opts *o, nb_textset *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_textset_load_fortunes: out is NULL");
    memset(out, 0, sizeof *out);
    if (n_paths < 1 || !paths)
        return nbi_error(NB_ERR_ARG, "nb_textset_load_fortunes: need at least one path");
    nbi_tsb b;
    nb_status st = nbi_tsb_init(&b, t, o, "fortunes");
    /* The files of every path (a folder gives its files), then one class each. */
    nb_corpus files;
    memset(&files, 0, sizeof files);
    for (int i = 0; !st && i < n_paths; i++) st = nb_corpus_add(&files, paths[i]);
    /* Classes are numbered in byte order of their names, so sort the files by base name. */
    file_ref *order = st ? NULL : nbi_malloc((size_t)files.n_files * sizeof *order);
    if (!st && !order) st = nbi_error(NB_ERR_NOMEM, "fortunes: out of memory");
    for (int i = 0; !st && i < files.n_files; i++)
        order[i] = (file_ref){base_name(files.files[i]), i};
    if (!st) qsort(order, (size_t)files.n_files, sizeof *order, cmp_ref);
    for (int i = 1; !st && i < files.n_files; i++)
        if (!strcmp(order[i - 1].base, order[i].base))
            st = nbi_error(NB_ERR_ARG,
                           "fortunes: two files are named '%s' (%s and %s); each "
                           "file is a class named after it",
                           order[i].base, files.files[order[i - 1].index],
                           files.files[order[i].index]);
    for (int i = 0; !st && i < files.n_files; i++) {
        int f = order[i].index;
        st = nbi_tsb_class(&b, order[i].base, strlen(order[i].base));
        size_t a = files.offsets[f], e = files.offsets[f + 1];
        fortune_ctx c = {&b, i};
        if (!st) nbi_fortune_records(files.data + a, e - a, add_fortune, &c, &st);
        if (st == NB_ERR_ARG || st == NB_ERR_FORMAT) st = prefix_error(st, files.files[f]);
    }
    nbi_free(order);
    nb_corpus_free(&files);
    if (st) {
        nbi_tsb_free(&b);
        return st;
    }
    return nbi_tsb_finish(&b, out);
}

/* ---- class folders ------------------------------------------------------------------------ */

nb_status nb_textset_load_folders(const char *dir, const nb_tokenizer *t, const nb_textset_opts *o,
                                  nb_textset *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_textset_load_folders: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir) return nbi_error(NB_ERR_ARG, "nb_textset_load_folders: the folder is NULL");
    nbi_tsb b;
    nb_status st = nbi_tsb_init(&b, t, o, dir);
    char **classes = NULL;
    int nc = 0;
    if (!st) st = nbi_list_dir(dir, true, &classes, &nc);
    if (!st && nc == 0)
        st = nbi_error(NB_ERR_FORMAT,
                       "%s: no class folders (expected %s/<class>/<file>: one "
                       "folder per class, one file per record)",
                       dir, dir);
    for (int k = 0; !st && k < nc; k++) {
        char *sub = nbi_path_join(dir, classes[k]);
        char **files = NULL;
        int nf = 0;
        st = sub ? nbi_tsb_class(&b, classes[k], strlen(classes[k])) : NB_ERR_NOMEM;
        if (!st) st = nbi_list_dir(sub, false, &files, &nf);
        for (int i = 0; !st && i < nf; i++) {
            char *path = nbi_path_join(sub, files[i]);
            unsigned char *buf = NULL;
            size_t len;
            st = path ? nbi_read_file(path, "text", &buf, &len) : NB_ERR_NOMEM;
            if (!st) st = nbi_tsb_add(&b, buf, len, k);
            if (st == NB_ERR_ARG) st = prefix_error(st, path);
            nbi_free(buf);
            nbi_free(path);
        }
        nbi_free_names(files, nf);
        nbi_free(sub);
    }
    nbi_free_names(classes, nc);
    if (st) {
        nbi_tsb_free(&b);
        return st;
    }
    return nbi_tsb_finish(&b, out);
}

/* ---- splits and batches ------------------------------------------------------------------- */

/* A copy of records rows[0..n) of s into out. */
static nb_status select_rows(const nb_textset *s, const int64_t *rows, int64_t n, nb_textset *out) {
    memset(out, 0, sizeof *out);
    size_t T = (size_t)s->len;
    out->ids = nbi_malloc((size_t)n * T * sizeof(int32_t) + 1);
    out->lengths = nbi_malloc((size_t)n * sizeof(int32_t) + 1);
    out->labels = nbi_malloc((size_t)n * sizeof(int32_t) + 1);
    out->classes = nbi_calloc((size_t)s->num_classes + 1, sizeof(char *));
    if (!out->ids || !out->lengths || !out->labels || !out->classes) {
        nb_textset_free(out);
        return nbi_error(NB_ERR_NOMEM, "nb_textset_split: out of memory");
    }
    for (int k = 0; k < s->num_classes; k++) {
        char *c = nbi_str_dup(s->classes[k]);
        if (!c) {
            nb_textset_free(out);
            return NB_ERR_NOMEM;
        }
        out->classes[out->num_classes++] = c;
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(out->ids + (size_t)i * T, s->ids + (size_t)rows[i] * T, T * sizeof(int32_t));
        out->lengths[i] = s->lengths[rows[i]];
        out->labels[i] = s->labels[rows[i]];
    }
    out->n = n;
    out->len = s->len;
    out->pad_id = s->pad_id;
    return NB_OK;
}

nb_status nb_textset_split(const nb_textset *s, double val_fraction, uint64_t seed,
                           nb_textset *train, nb_textset *val) {
    if (!train || !val) return nbi_error(NB_ERR_ARG, "nb_textset_split: train or val is NULL");
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (!s || s->n < 1 || !s->ids)
        return nbi_error(NB_ERR_ARG, "nb_textset_split: the text set is empty");
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
        return nbi_error(NB_ERR_ARG, "nb_textset_split: val_fraction %g is not in (0, 1)",
                         val_fraction);
    int64_t n = s->n, nv = (int64_t)floor(val_fraction * (double)n + 0.5);
    if (nv < 1 || nv >= n)
        return nbi_error(NB_ERR_ARG,
                         "nb_textset_split: a validation fraction of %g of %lld "
                         "records leaves one part empty",
                         val_fraction, (long long)n);
    /* nb_dataset_split's rule: the first nv places of a seeded Fisher-Yates permutation. */
    int64_t *perm = nbi_malloc((size_t)n * sizeof(int64_t));
    unsigned char *in_val = nbi_calloc((size_t)n, 1);
    int64_t *rows = nbi_malloc((size_t)n * sizeof(int64_t));
    nb_status st =
        perm && in_val && rows ? NB_OK : nbi_error(NB_ERR_NOMEM, "nb_textset_split: out of memory");
    if (!st) {
        nb_rng rng;
        nb_rng_seed(&rng, seed);
        for (int64_t i = 0; i < n; i++) perm[i] = i;
        nb_rng_shuffle_i64(&rng, perm, n);
        for (int64_t i = 0; i < nv; i++) in_val[perm[i]] = 1;
        int64_t a = 0, b = n - nv;
        for (int64_t i = 0; i < n; i++) rows[in_val[i] ? b++ : a++] = i;
        st = select_rows(s, rows, n - nv, train);
        if (!st) st = select_rows(s, rows + (n - nv), nv, val);
        if (st) nb_textset_free(train);
    }
    nbi_free(perm), nbi_free(in_val), nbi_free(rows);
    return st;
}

nb_status nb_textset_gather(const nb_textset *s, const int64_t *idx, int64_t n, nb_tensor *x,
                            nb_tensor *y, nb_tensor *mask) {
    if (!s || !x || n < 0 || (n && !idx) || s->len < 1)
        return nbi_error(NB_ERR_ARG, "nb_textset_gather: need a text set, indices and x");
    int64_t T = s->len;
    if (n > INT64_MAX / T)
        return nbi_error(NB_ERR_ARG, "nb_textset_gather: %lld records is too many", (long long)n);
    if (x->dtype != NB_I32 || x->numel != n * T || !nb_tensor_is_contiguous(x) ||
        (y && (y->dtype != NB_I32 || y->numel != n || !nb_tensor_is_contiguous(y))) ||
        (mask && (mask->dtype != NB_F32 || mask->numel != n * T || !nb_tensor_is_contiguous(mask))))
        return nbi_error(NB_ERR_SHAPE,
                         "nb_textset_gather: for %lld records of %lld tokens, x "
                         "must be i32 with %lld elements, y i32 with %lld, mask f32 with %lld "
                         "(all contiguous)",
                         (long long)n, (long long)T, (long long)(n * T), (long long)n,
                         (long long)(n * T));
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= s->n)
            return nbi_error(NB_ERR_ARG,
                             "nb_textset_gather: index %lld is out of range for %lld "
                             "records",
                             (long long)idx[i], (long long)s->n);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = idx[i];
        memcpy(nb_i32(x) + i * T, s->ids + r * T, (size_t)T * sizeof(int32_t));
        if (y) nb_i32(y)[i] = s->labels[r];
        if (mask)
            for (int64_t k = 0; k < T; k++)
                nb_f32(mask)[i * T + k] = k < s->lengths[r] ? 1.0f : 0.0f;
    }
    return NB_OK;
}
