/* bench_seq — per-op timings of the sequence ops at the sizes of the two language
 * models, forward alone and forward + backward, in the line format of bench/torch/seq_ops.py:
 *
 *   char-LSTM  embedding 100 → 64, LSTM 64 → 256 (and GRU, RNN of the same size), the loss
 *              over 100 classes; batch 32, 64 steps
 *   char-GPT   embedding 100 → 128, layer norm and RMS norm over 128, causal attention with
 *              4 heads of 32 (with and without dropout 0.1); batch 32, context 64
 *
 *     build/bench/bench_seq [--threads N] [--reps R] [--only NAME]
 *
 * Without --threads it runs at 1 and at 2 threads. Each time is the best of R repetitions
 * (after warm-up) in milliseconds. Parameters keep their gradient buffers across repetitions,
 * as a model's do, so a repetition allocates nothing but arena memory. bench/compare_seq.sh
 * runs this and the PyTorch twin interleaved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

typedef struct bench {
    nb_ctx *ctx;
    nb_rng rng;
    nb_tensor *leaves[16];
    int n_leaves;
} bench;

/* A heap tensor with values from N(0, std), optionally a parameter with its own gradient
 * buffer (kept across repetitions). */
static nb_tensor *param(bench *b, int rank, const int64_t *shape, float std, int grad) {
    nb_tensor *t = nb_randn(NULL, rank, shape, 0.0f, std, &b->rng);
    if (!t) return NULL;
    if (grad) {
        nb_tensor_set_requires_grad(t, 1);
        t->grad = nb_zeros(NULL, rank, shape);
    }
    b->leaves[b->n_leaves++] = t;
    return t;
}

static nb_tensor *ids_of(bench *b, int64_t B, int64_t T, int64_t V) {
    nb_tensor *t = nb_tensor_new(NULL, NB_I32, NB_DIMS(B, T));
    for (int64_t i = 0; t && i < B * T; i++)
        nb_i32(t)[i] = (int32_t)nb_rng_below(&b->rng, (uint64_t)V);
    if (t) b->leaves[b->n_leaves++] = t;
    return t;
}

static void release(bench *b) {
    for (int i = 0; i < b->n_leaves; i++) {
        if (b->leaves[i]->grad) nb_tensor_free(b->leaves[i]->grad);
        b->leaves[i]->grad = NULL;
        nb_tensor_free(b->leaves[i]);
    }
    b->n_leaves = 0;
}

/* One op's forward: returns the output whose gradient is seeded. */
typedef nb_tensor *(*fwd_fn)(bench *b, nb_tensor *const *in);

static int reps = 10;

/* Best-of-reps times of fwd alone and of fwd + backward (seeded with a fixed gradient). */
static int time_op(bench *b, const char *name, const char *cfg, fwd_fn f, nb_tensor *const *in,
                   int threads) {
    double best_f = 1e30, best_fb = 1e30;
    nb_tensor *seed = NULL;
    for (int r = 0; r < reps + 3; r++) {
        nb_ctx_reset(b->ctx);
        double t0 = nb_time();
        nb_tensor *y = f(b, in);
        double t1 = nb_time();
        if (!y) {
            fprintf(stderr, "bench_seq: %s: %s\n", name, nb_last_error());
            return 1;
        }
        if (!seed) seed = nb_randn(NULL, y->rank, y->shape, 0.0f, 1.0f, &b->rng);
        double t2 = nb_time();
        nb_status s = nb_backward_with(b->ctx, y, seed);
        double t3 = nb_time();
        if (s != NB_OK) {
            fprintf(stderr, "bench_seq: %s backward: %s\n", name, nb_last_error());
            nb_tensor_free(seed);
            return 1;
        }
        if (r < 3) continue; /* warm-up: arena chunks, GEMM buffers, the pool */
        if (t1 - t0 < best_f) best_f = t1 - t0;
        if ((t1 - t0) + (t3 - t2) < best_fb) best_fb = (t1 - t0) + (t3 - t2);
    }
    nb_tensor_free(seed);
    printf("nabla seq threads %d: %-16s %-34s fwd %8.3f ms  fwd+bwd %8.3f ms\n", threads, name, cfg,
           best_f * 1e3, best_fb * 1e3);
    fflush(stdout);
    return 0;
}

/* ---- the ops ------------------------------------------------------------------------------- */

static nb_tensor *f_embedding(bench *b, nb_tensor *const *in) {
    return nb_embedding(b->ctx, in[0], in[1], NB_NO_PADDING);
}
static nb_tensor *f_lstm(bench *b, nb_tensor *const *in) {
    return nb_lstm(b->ctx, in[0], NULL, NULL, in[1], in[2], in[3], in[4], NULL).y;
}
static nb_tensor *f_gru(bench *b, nb_tensor *const *in) {
    return nb_gru(b->ctx, in[0], NULL, in[1], in[2], in[3], in[4], NULL).y;
}
static nb_tensor *f_rnn(bench *b, nb_tensor *const *in) {
    return nb_rnn(b->ctx, in[0], NULL, in[1], in[2], in[3], in[4], NULL).y;
}
static nb_tensor *f_xent(bench *b, nb_tensor *const *in) {
    return nb_cross_entropy_ex(b->ctx, in[0], in[1], NB_REDUCE_MEAN, -100, 0.0f);
}
static nb_tensor *f_layer_norm(bench *b, nb_tensor *const *in) {
    return nb_layer_norm(b->ctx, in[0], in[1], in[2], 1e-5f);
}
static nb_tensor *f_rms_norm(bench *b, nb_tensor *const *in) {
    return nb_rms_norm(b->ctx, in[0], in[1], 1e-6f);
}
static nb_tensor *f_attention(bench *b, nb_tensor *const *in) {
    nb_attention_opts o = {.causal = 1};
    return nb_attention(b->ctx, in[0], in[1], in[2], NULL, &o);
}
static nb_tensor *f_attention_drop(bench *b, nb_tensor *const *in) {
    nb_attention_opts o = {.causal = 1, .dropout = 0.1f, .training = 1, .rng = &b->rng};
    return nb_attention(b->ctx, in[0], in[1], in[2], NULL, &o);
}

static const char *only;

static int want(const char *name) {
    return !only || !strcmp(only, name);
}

static int run_all(int threads) {
    bench b;
    memset(&b, 0, sizeof b);
    nb_rng_seed(&b.rng, 1);
    b.ctx = nb_ctx_new(&(nb_ctx_opts){.threads = threads});
    if (!b.ctx) {
        fprintf(stderr, "bench_seq: %s\n", nb_last_error());
        return 1;
    }
    const int64_t B = 32, T = 64, V = 100, E = 64, H = 256, C = 128, NH = 4;
    int err = 0;
    /* char-LSTM */
    if (want("embedding")) {
        nb_tensor *in[2] = {ids_of(&b, B, T, V), param(&b, NB_DIMS(V, E), 1.0f, 1)};
        err |= time_op(&b, "embedding", "V=100 D=64 ids [32,64]", f_embedding, in, threads);
        release(&b);
    }
    static const struct {
        const char *name;
        int64_t G;
        fwd_fn f;
    } cells[] = {{"lstm", 4, f_lstm}, {"gru", 3, f_gru}, {"rnn_tanh", 1, f_rnn}};
    for (int c = 0; c < 3; c++) {
        if (!want(cells[c].name)) continue;
        nb_tensor *in[5] = {param(&b, NB_DIMS(B, T, E), 1.0f, 1),
                            param(&b, NB_DIMS(cells[c].G * H, E), 0.06f, 1),
                            param(&b, NB_DIMS(cells[c].G * H, H), 0.06f, 1),
                            param(&b, NB_DIMS(cells[c].G * H), 0.06f, 1),
                            param(&b, NB_DIMS(cells[c].G * H), 0.06f, 1)};
        err |= time_op(&b, cells[c].name, "I=64 H=256 x [32,64,64]", cells[c].f, in, threads);
        release(&b);
    }
    if (want("cross_entropy")) {
        nb_tensor *in[2] = {param(&b, NB_DIMS(B, T, V), 2.0f, 1), ids_of(&b, B, T, V)};
        err |= time_op(&b, "cross_entropy", "logits [32,64,100]", f_xent, in, threads);
        release(&b);
    }
    /* char-GPT */
    if (want("embedding")) {
        nb_tensor *in[2] = {ids_of(&b, B, T, V), param(&b, NB_DIMS(V, C), 1.0f, 1)};
        err |= time_op(&b, "embedding", "V=100 D=128 ids [32,64]", f_embedding, in, threads);
        release(&b);
    }
    if (want("layer_norm")) {
        nb_tensor *in[3] = {param(&b, NB_DIMS(B, T, C), 1.0f, 1), param(&b, NB_DIMS(C), 1.0f, 1),
                            param(&b, NB_DIMS(C), 1.0f, 1)};
        err |= time_op(&b, "layer_norm", "x [32,64,128]", f_layer_norm, in, threads);
        release(&b);
    }
    if (want("rms_norm")) {
        nb_tensor *in[2] = {param(&b, NB_DIMS(B, T, C), 1.0f, 1), param(&b, NB_DIMS(C), 1.0f, 1)};
        err |= time_op(&b, "rms_norm", "x [32,64,128]", f_rms_norm, in, threads);
        release(&b);
    }
    if (want("attention") || want("attention_drop")) {
        nb_tensor *in[3] = {param(&b, NB_DIMS(B, NH, T, C / NH), 1.0f, 1),
                            param(&b, NB_DIMS(B, NH, T, C / NH), 1.0f, 1),
                            param(&b, NB_DIMS(B, NH, T, C / NH), 1.0f, 1)};
        if (want("attention"))
            err |= time_op(&b, "attention", "causal q,k,v [32,4,64,32]", f_attention, in, threads);
        if (want("attention_drop"))
            err |= time_op(&b, "attention_drop", "causal p=0.1 q,k,v [32,4,64,32]",
                           f_attention_drop, in, threads);
        release(&b);
    }
    nb_ctx_free(b.ctx);
    return err;
}

int main(int argc, char **argv) {
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_seq [--threads N] [--reps R] [--only NAME]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (threads > 0) {
        if (nb_get_threads() < threads && nb_set_threads(threads) != NB_OK) {
            fprintf(stderr, "bench_seq: %s\n", nb_last_error());
            return 1;
        }
        return run_all(threads);
    }
    int err = run_all(1);
    if (nb_get_threads() >= 2) err |= run_all(2);
    return err;
}
