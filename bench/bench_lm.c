/* bench_lm — whole training steps of the two language models of examples/specs, tokens per
 * second, in the line format of bench/torch/lm.py:
 *
 *   char_lstm       bytes [64] → embedding 64 → LSTM 256 → dense 256; Adam 2e-3; batch 32
 *   char_gpt        embedding 128 + positions, 2 pre-LN blocks (4 heads, causal, no dropout),
 *                   layer norm, a tied head; AdamW 1e-3 (0.9, 0.95), weight decay 0.1 on the
 *                   matrices, clipping at 1; batch 32, context 64
 *   char_gpt_large  4 blocks of width 256, context 128, batch 16 (--large)
 *
 * A step is nb_train_step: forward, cross-entropy over every position, backward, clipping,
 * the optimizer's update — everything fit does per batch, on random windows of bytes. The
 * models are the spec files themselves (read from examples/specs: run from the repository
 * root), so this measures what `nabla train` would run.
 *
 *     build/bench/bench_lm [--threads N] [--steps S] [--only NAME] [--large]
 *
 * Without --threads it runs at 1 and at 2 threads. After 3 warm-up steps it times S steps
 * (default 20) and reports the median step. bench/compare_lm.sh runs this and the PyTorch
 * twin interleaved. The numbers mean something on a quiet machine only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(const char *name, int threads, int steps) {
    char path[128];
    snprintf(path, sizeof path, "examples/specs/%s.spec", name);
    nb_spec *s = NULL;
    nb_model *m = NULL;
    nb_optim *o = NULL;
    if (nb_spec_read(path, &s) != NB_OK || nb_spec_build(s, &m) != NB_OK ||
        !(o = nb_spec_optim(s, nb_model_params(m)))) {
        fprintf(stderr, "bench_lm: %s: %s (run from the repository root)\n", path, nb_last_error());
        nb_model_free(m);
        nb_spec_free(s);
        return 1;
    }
    const int64_t B = s->batch, T = s->in_shape[0];
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = threads});
    nb_tensor *x = nb_tensor_new(NULL, NB_I32, NB_DIMS(B, T));
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, NB_DIMS(B, T));
    nb_rng rng, drop;
    nb_rng_seed(&rng, 1);
    nb_rng_seed(&drop, 2);
    nb_step_opts so = {
        .loss = NB_LOSS_CROSS_ENTROPY, .dropout_rng = &drop, .clip_grad_norm = (float)s->clip_norm};
    double *t = malloc(sizeof *t * (size_t)steps);
    int err = !ctx || !x || !y || !t;
    size_t peak = 0; /* the arena's high-water mark, the largest of any step */
    for (int i = 0; !err && i < steps + 3; i++) {
        for (int64_t k = 0; k < B * T; k++) {
            nb_i32(x)[k] = (int32_t)nb_rng_below(&rng, 256);
            nb_i32(y)[k] = (int32_t)nb_rng_below(&rng, 256);
        }
        double t0 = nb_time();
        err = nb_train_step(m, o, ctx, x, y, &so, NULL) != NB_OK;
        if (nb_ctx_peak(ctx) > peak) peak = nb_ctx_peak(ctx);
        nb_ctx_reset(ctx);
        if (i >= 3) t[i - 3] = nb_time() - t0; /* warm-up: arena, GEMM buffers, the pool */
    }
    if (err) {
        fprintf(stderr, "bench_lm: %s: %s\n", name, nb_last_error());
    } else {
        qsort(t, (size_t)steps, sizeof *t, cmp_double);
        double med = t[steps / 2];
        printf("nabla lm threads %d: %-15s params %8lld  step %9.2f ms  %9.0f tokens/s\n", threads,
               name, (long long)nb_model_param_count(m), med * 1e3, (double)(B * T) / med);
        fflush(stdout);
        /* on stderr: compare_lm.sh reads every stdout line as a timing */
        fprintf(stderr, "nabla lm threads %d: %-15s arena peak %zu bytes, %.1f MiB (nb_ctx_peak)\n",
                threads, name, peak, (double)peak / (1024.0 * 1024.0));
    }
    free(t);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(o);
    nb_model_free(m);
    nb_spec_free(s);
    return err;
}

int main(int argc, char **argv) {
    int threads = 0, steps = 20, large = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--large"))
            large = 1;
        else {
            fprintf(stderr, "usage: bench_lm [--threads N] [--steps S] [--only NAME] [--large]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    static const char *const names[3] = {"char_lstm", "char_gpt", "char_gpt_large"};
    int err = 0;
    for (int th = threads ? threads : 1; th <= (threads ? threads : 2); th++) {
        if (nb_set_threads(th) != NB_OK) return 1;
        for (int k = 0; k < (large ? 3 : 2); k++)
            if (!only || !strcmp(only, names[k])) err |= run(names[k], th, steps);
    }
    return err;
}
