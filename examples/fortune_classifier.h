/* examples/fortune_classifier.h — the parts of examples/fortune_classifier.c, shared with its
 * test (tests/test_fortune_classifier.c): which fortune file (category) a fortune comes from.
 *
 * The data: the k largest fortune files of a folder (one class each; records separated by
 * lines holding only "%"), read twice with nb_textset_load_fortunes — once as bytes, for the
 * words of the baseline and the corpus of the tokenizer, once as byte-level BPE tokens for the
 * network — and split by record with nb_textset_split and a fixed seed: both reads have the
 * same records in the same order, so the same seed gives the same test set to both models.
 *
 * Two classifiers, both trained by nabla with Adam on the softmax cross-entropy:
 *   - the baseline, bag-of-words softmax (multinomial logistic) regression: a record is the
 *     vector of the counts of the words it holds (lower-cased runs of letters and digits, the
 *     words seen in at least 2 training records), and one dense layer maps it to the class
 *     scores;
 *   - the network: BPE tokens → embedding → GRU over the record's tokens (its length given,
 *     so padding never enters the state) → the last state → dense → class scores.
 * Everything the models learn from — the vocabulary of words, the BPE merges — comes from the
 * training records only. */
#ifndef FORTUNE_CLASSIFIER_H
#define FORTUNE_CLASSIFIER_H

#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <dirent.h>
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the k largest fortune files of a folder ------------------------------------------------ */

typedef struct fc_file {
    char *path;
    long long size;
} fc_file;

static int fc_by_size(const void *a, const void *b) {
    const fc_file *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1; /* larger first */
    return strcmp(x->path, y->path);
}

/* The paths (malloc'd, *n of them, at most k) of the k largest regular files of dir, skipping
 * hidden files, symbolic links and the fortune program's ".dat" indexes; ties go to the name.
 * Returns 0, or -1 when dir cannot be read. */
static int fc_largest_files(const char *dir, int k, char ***paths, int *n) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    fc_file *f = NULL;
    int nf = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        if (name[0] == '.' || (len > 4 && !strcmp(name + len - 4, ".dat"))) continue;
        char *p = malloc(strlen(dir) + len + 2);
        if (!p) break;
        sprintf(p, "%s/%s", dir, name);
        struct stat sb;
        if (lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(p);
            continue;
        }
        if (nf == cap) {
            cap = cap ? 2 * cap : 64;
            fc_file *g = realloc(f, (size_t)cap * sizeof *f);
            if (!g) {
                free(p);
                break;
            }
            f = g;
        }
        f[nf].path = p;
        f[nf++].size = (long long)sb.st_size;
    }
    closedir(d);
    qsort(f, (size_t)nf, sizeof *f, fc_by_size);
    *n = nf < k ? nf : k;
    *paths = malloc((size_t)(*n ? *n : 1) * sizeof **paths);
    for (int i = 0; i < nf; i++) {
        if (i < *n && *paths)
            (*paths)[i] = f[i].path;
        else
            free(f[i].path);
    }
    free(f);
    return *paths ? 0 : -1;
}

static void fc_free_paths(char **paths, int n) {
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

/* ---- the bag of words -------------------------------------------------------------------------
 * A word is a maximal run of ASCII letters and digits, lower-cased, at most 63 bytes (longer
 * runs are cut). The vocabulary is an open-addressing hash table of the words of the training
 * records, each with the number of records it appears in; the words of at least min_df
 * records get the feature indices 0, 1, ... in order of first appearance. */

typedef struct fc_vocab {
    char (*word)[64];
    int *df, *index; /* per slot: records holding the word, its feature (-1: none) */
    int *last;       /* per slot: the last record counted (a word counts once per record) */
    size_t slots;
    int n_words, n_features;
} fc_vocab;

static size_t fc_hash(const char *w) {
    size_t h = 1469598103934665603u;
    for (; *w; w++) h = (h ^ (unsigned char)*w) * 1099511628211u;
    return h;
}

/* The slot of w: where it is, or the empty one where it would go. */
static size_t fc_slot(const fc_vocab *v, const char *w) {
    size_t i = fc_hash(w) & (v->slots - 1);
    while (v->word[i][0] && strcmp(v->word[i], w)) i = (i + 1) & (v->slots - 1);
    return i;
}

/* Calls fn(word, user) for each word of text[0..n). */
static void fc_words(const int32_t *text, int64_t n, void (*fn)(const char *, void *), void *user) {
    char w[64];
    int k = 0;
    for (int64_t i = 0; i <= n; i++) {
        int c = i < n && text[i] < 128 ? (int)text[i] : 0;
        if (c && isalnum(c)) {
            if (k < 63) w[k++] = (char)tolower(c);
        } else if (k) {
            w[k] = 0;
            fn(w, user);
            k = 0;
        }
    }
}

typedef struct fc_count_ctx {
    fc_vocab *v;
    int record, grow_failed;
} fc_count_ctx;

static void fc_count_word(const char *w, void *user) {
    fc_count_ctx *c = user;
    fc_vocab *v = c->v;
    if ((size_t)(v->n_words + 1) * 2 > v->slots) { /* keep the table at most half full */
        c->grow_failed = 1;
        return;
    }
    size_t i = fc_slot(v, w);
    if (!v->word[i][0]) {
        strcpy(v->word[i], w);
        v->n_words++;
    }
    if (v->last[i] != c->record) {
        v->last[i] = c->record;
        v->df[i]++;
    }
}

/* The vocabulary of the byte records s (ids are bytes), words of at least min_df records.
 * Returns 0, or -1 out of memory. */
static int fc_vocab_build(const nb_textset *s, int min_df, fc_vocab *v) {
    memset(v, 0, sizeof *v);
    v->slots = 1u << 18; /* 262144: room for 131072 distinct words */
    v->word = calloc(v->slots, sizeof *v->word);
    v->df = calloc(v->slots, sizeof *v->df);
    v->index = malloc(v->slots * sizeof *v->index);
    v->last = malloc(v->slots * sizeof *v->last);
    if (!v->word || !v->df || !v->index || !v->last) return -1;
    for (size_t i = 0; i < v->slots; i++) v->index[i] = v->last[i] = -1;
    fc_count_ctx c = {v, 0, 0};
    for (int64_t r = 0; r < s->n; r++) {
        c.record = (int)r;
        fc_words(s->ids + r * s->len, s->lengths[r], fc_count_word, &c);
    }
    for (size_t i = 0; i < v->slots; i++)
        if (v->word[i][0] && v->df[i] >= min_df) v->index[i] = v->n_features++;
    return c.grow_failed ? -1 : 0;
}

static void fc_vocab_free(fc_vocab *v) {
    free(v->word);
    free(v->df);
    free(v->index);
    free(v->last);
}

typedef struct fc_row_ctx {
    const fc_vocab *v;
    float *row;
} fc_row_ctx;

static void fc_add_word(const char *w, void *user) {
    fc_row_ctx *c = user;
    size_t i = fc_slot(c->v, w);
    if (c->v->word[i][0] && c->v->index[i] >= 0) c->row[c->v->index[i]] += 1.0f;
}

/* Rows idx[0..n) of the byte records s as word counts into x [n, n_features] (zeroed here). */
static void fc_bow_rows(const fc_vocab *v, const nb_textset *s, const int64_t *idx, int64_t n,
                        nb_tensor *x) {
    memset(nb_f32(x), 0, (size_t)(n * v->n_features) * sizeof(float));
    for (int64_t b = 0; b < n; b++) {
        fc_row_ctx c = {v, nb_f32(x) + b * v->n_features};
        fc_words(s->ids + idx[b] * s->len, s->lengths[idx[b]], fc_add_word, &c);
    }
}

/* ---- training and testing ----------------------------------------------------------------- */

typedef struct fc_opts {
    int epochs, batch;
    double lr, weight_decay;
    uint64_t seed;
    int verbose; /* a line per epoch to stdout */
} fc_opts;

/* The inputs of records idx[0..n): for the baseline (bow != NULL) the counts [n, features];
 * for the network the token ids [n, T] and the lengths [n]. y gets the labels. */
static nb_status fc_inputs(nb_ctx *ctx, const nb_textset *s, const fc_vocab *bow,
                           const int64_t *idx, int64_t n, nb_tensor **in, nb_tensor **y) {
    *y = nb_tensor_new(ctx, NB_I32, 1, &n);
    if (bow) {
        in[0] = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){n, bow->n_features});
        if (!in[0] || !*y) return NB_ERR_NOMEM;
        fc_bow_rows(bow, s, idx, n, in[0]);
        for (int64_t b = 0; b < n; b++) nb_i32(*y)[b] = s->labels[idx[b]];
        return NB_OK;
    }
    in[0] = nb_tensor_new(ctx, NB_I32, 2, (int64_t[]){n, s->len});
    in[1] = nb_tensor_new(ctx, NB_I32, 1, &n);
    if (!in[0] || !in[1] || !*y) return NB_ERR_NOMEM;
    for (int64_t b = 0; b < n; b++) nb_i32(in[1])[b] = s->lengths[idx[b]];
    return nb_textset_gather(s, idx, n, in[0], *y, NULL);
}

/* The accuracy of m on every record of s (n_in: 1 for the baseline, 2 for the network). */
static double fc_accuracy(const nb_model *m, const nb_textset *s, const fc_vocab *bow) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    int64_t *idx = malloc((size_t)(s->n ? s->n : 1) * sizeof *idx);
    if (!ctx || !idx) {
        nb_ctx_free(ctx);
        free(idx);
        return -1;
    }
    for (int64_t i = 0; i < s->n; i++) idx[i] = i;
    int64_t right = 0;
    for (int64_t at = 0; at < s->n; at += 256) {
        int64_t n = s->n - at < 256 ? s->n - at : 256;
        nb_tensor *in[2], *y, *out = NULL;
        if (fc_inputs(ctx, s, bow, idx + at, n, in, &y) != NB_OK ||
            nb_model_infer_multi(m, ctx, in, bow ? 1 : 2, &out, 1) != NB_OK) {
            right = -1;
            break;
        }
        nb_tensor *p = nb_argmax(ctx, out, 1, 0);
        for (int64_t b = 0; p && b < n; b++) right += nb_i32(p)[b] == nb_i32(y)[b];
        nb_ctx_reset(ctx);
    }
    free(idx);
    nb_ctx_free(ctx);
    return right < 0 || !s->n ? -1 : (double)right / (double)s->n;
}

/* Trains m with Adam on shuffled batches of s, opts->epochs epochs; the loss of each epoch
 * (and the test accuracy, with test) printed when verbose. Returns the last epoch's mean loss,
 * or NAN on error (nb_last_error says why). */
static double fc_train(nb_model *m, const nb_textset *s, const fc_vocab *bow, const fc_opts *o,
                       const nb_textset *test) {
    nb_optim *opt = nb_adam_new(nb_model_params(m),
                                &(nb_adam_opts){.lr = o->lr, .weight_decay = o->weight_decay});
    nb_ctx *ctx = nb_ctx_new(NULL);
    int64_t *idx = malloc((size_t)(s->n ? s->n : 1) * sizeof *idx);
    double loss = NAN;
    if (!opt || !ctx || !idx) goto done;
    nb_rng rng;
    nb_rng_seed(&rng, o->seed);
    for (int64_t i = 0; i < s->n; i++) idx[i] = i;
    nb_model_set_training(m, 1);
    for (int e = 1; e <= o->epochs; e++) {
        nb_rng_shuffle_i64(&rng, idx, s->n);
        double sum = 0;
        int64_t batches = 0;
        for (int64_t at = 0; at < s->n; at += o->batch) {
            int64_t n = s->n - at < o->batch ? s->n - at : o->batch;
            nb_tensor *in[2], *y, *out = NULL;
            if (fc_inputs(ctx, s, bow, idx + at, n, in, &y) != NB_OK ||
                nb_model_forward_multi(m, ctx, in, bow ? 1 : 2, &out, 1, NULL) != NB_OK)
                goto done;
            nb_tensor *l = nb_cross_entropy_ex(ctx, out, y, NB_REDUCE_MEAN, -100, 0.0f);
            nb_optim_zero_grad(opt);
            if (!l || nb_backward(ctx, l) != NB_OK) goto done;
            nb_clip_grad_norm(nb_model_params(m), 1.0f);
            if (nb_optim_step(opt) != NB_OK) goto done;
            sum += nb_item(l);
            batches++;
            nb_ctx_reset(ctx);
        }
        loss = batches ? sum / (double)batches : NAN;
        if (o->verbose) {
            printf("  epoch %2d  loss %.4f", e, loss);
            if (test) {
                nb_model_set_training(m, 0);
                printf("  test accuracy %.4f", fc_accuracy(m, test, bow));
                nb_model_set_training(m, 1);
            }
            printf("\n");
            fflush(stdout);
        }
    }
    nb_model_set_training(m, 0);
done:
    free(idx);
    nb_ctx_free(ctx);
    nb_optim_free(opt);
    return loss;
}

/* The baseline: counts [features] → dense classes. */
static nb_model *fc_bow_model(int64_t features, int classes, uint64_t seed) {
    nb_model *m = nb_model_new(NB_DIMS(features), seed);
    if (m && nb_model_dense(m, classes, NB_ACT_NONE) != NB_OK) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* The network: tokens [T] and their count → embedding → GRU → last state → dense classes. */
static nb_model *fc_gru_model(int64_t vocab, int32_t pad, int64_t T, int64_t emb, int64_t hidden,
                              int classes, uint64_t seed) {
    nb_model *m = nb_model_new_graph(seed);
    if (!m) return NULL;
    int x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(T));
    int len = nb_model_input(m, "length", NB_I32, 0, NULL);
    int h = nb_model_embedding_on(m, x, vocab, emb,
                                  &(nb_embedding_opts){.padding = 1, .padding_idx = pad});
    h = nb_model_gru_on(m, h, hidden, &(nb_rnn_layer_opts){.lengths = len});
    h = h < 0 ? h : nb_model_flatten_on(m, h + 1, NULL); /* h_n [1, hidden] → [hidden] */
    h = nb_model_dense_on(m, h, classes, NULL);
    if (h < 0) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* The text of the byte records s (ids are bytes), each followed by a newline, into a malloc'd
 * buffer (*len bytes): the corpus the BPE tokenizer is trained on. */
static char *fc_records_text(const nb_textset *s, size_t *len) {
    size_t total = 0;
    for (int64_t r = 0; r < s->n; r++) total += (size_t)s->lengths[r] + 1;
    char *t = malloc(total ? total : 1);
    if (!t) return NULL;
    size_t k = 0;
    for (int64_t r = 0; r < s->n; r++) {
        for (int32_t i = 0; i < s->lengths[r]; i++) t[k++] = (char)s->ids[r * s->len + i];
        t[k++] = '\n';
    }
    *len = k;
    return t;
}

#endif
