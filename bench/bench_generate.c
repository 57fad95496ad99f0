/* bench_generate — generation speed of a transformer language model: tokens per second when
 * each new token runs through the incremental decoder (nb_decoder: a KV cache per attention
 * layer, so token t costs O(t) attention and O(1) everything else) against recomputing a whole
 * forward over the sequence so far for every token (what a model without a cache must do:
 * O(t) for every layer, O(t²) attention), after prompts of 64 and 512 tokens.
 *
 * The model is examples/specs/char_gpt.spec's (256 bytes → embedding 128 + learned positions →
 * 2 pre-LN blocks of 4 heads, MLP 512 → layer norm → tied head), built in C with a positional
 * table of 1024 positions so that a 512-token prompt fits; weights are random (speed does not
 * depend on them). One sequence (batch 1), inference mode, greedy: the next token is the
 * argmax of the last logits. Each figure is the median time of the generated tokens.
 *
 *     build/bench/bench_generate [--threads N] [--tokens N]
 *
 * The numbers mean something on a quiet machine only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

enum { V = 256, E = 128, MAX_LEN = 1024 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static nb_model *gpt(void) {
    nb_model *m = nb_model_new_graph(42);
    const nb_init small = {.kind = NB_INIT_NORMAL, .a = 0, .b = 0.02f};
    int x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(-1));
    int h = nb_model_embedding_on(m, x, V, E, &(nb_embedding_opts){.init = small});
    h = nb_model_positional_on(m, h, MAX_LEN, &small, NULL);
    for (int b = 0; b < 2; b++)
        h = nb_model_transformer_on(m, h, E, &(nb_transformer_opts){.heads = 4, .causal = 1});
    h = nb_model_layer_norm_on(m, h, NULL);
    h = nb_model_tied_dense_on(m, h, "embedding_1", 0, NULL);
    if (h < 0) {
        fprintf(stderr, "bench_generate: the model: %s\n", nb_last_error());
        nb_model_free(m);
        return NULL;
    }
    return m;
}

static int32_t argmax_last(const nb_tensor *logits) {
    const float *z = nb_f32(logits) + logits->numel - V;
    int32_t best = 0;
    for (int32_t v = 1; v < V; v++)
        if (z[v] > z[best]) best = v;
    return best;
}

/* Generates n tokens after a prompt of p tokens, with the decoder (cached) or by a whole
 * forward per token; *prefill gets the time of the prompt's first pass. Returns the median
 * seconds per generated token, or -1 on error. */
static double generate(const nb_model *m, nb_ctx *ctx, int64_t p, int n, int cached,
                       double *prefill) {
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)(p + n));
    double *t = malloc(sizeof(double) * (size_t)n);
    nb_decoder *d = NULL;
    double result = -1;
    if (!seq || !t || (cached && nb_decoder_new(m, 1, p + n, &d) != NB_OK)) goto done;
    nb_rng g;
    nb_rng_seed(&g, 7);
    for (int64_t i = 0; i < p; i++) seq[i] = (int32_t)nb_rng_below(&g, V);
    for (int64_t len = p; len < p + n; len++) {
        /* the cached path feeds the prompt once, then one token; the other the whole sequence */
        const int64_t from = cached && len > p ? len - 1 : 0;
        nb_tensor *ids = nb_tensor_new(ctx, NB_I32, NB_DIMS(1, len - from));
        if (!ids) goto done;
        memcpy(nb_i32(ids), seq + from, sizeof(int32_t) * (size_t)(len - from));
        double t0 = nb_time();
        nb_tensor *z = cached ? nb_decoder_step(d, ctx, ids) : nb_model_infer(m, ctx, ids);
        double dt = nb_time() - t0;
        if (!z) goto done;
        seq[len] = argmax_last(z);
        if (len == p) *prefill = dt;
        t[len - p] = dt;
        nb_ctx_reset(ctx);
    }
    /* the first generated token came with the prompt's pass: the median of the others */
    result = n > 1 ? median(t + 1, n - 1) : t[0];
done:
    if (result < 0) fprintf(stderr, "bench_generate: %s\n", nb_last_error());
    nb_decoder_free(d);
    free(t);
    free(seq);
    return result;
}

int main(int argc, char **argv) {
    int threads = 1, n = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            n = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_generate [--threads N] [--tokens N]\n");
            return 2;
        }
    }
    if (threads < 1 || n < 2 || n > 256) {
        fprintf(stderr, "bench_generate: --threads >= 1, --tokens in [2, 256]\n");
        return 2;
    }
    nb_model *m = gpt();
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = threads});
    if (!m || !ctx) return 1;
    printf("char-GPT (width %d, 2 blocks, 4 heads), batch 1, %d thread(s), %d generated tokens; "
           "median per token\n",
           E, threads, n);
    printf("  %7s  %-12s %12s %12s %14s\n", "prompt", "path", "prompt pass", "per token",
           "tokens/s");
    double warm = 0;
    if (generate(m, ctx, 64, 2, 1, &warm) < 0 || generate(m, ctx, 64, 2, 0, &warm) < 0) return 1;
    const int64_t prompts[2] = {64, 512};
    for (int k = 0; k < 2; k++) {
        double rate[2];
        for (int cached = 1; cached >= 0; cached--) {
            double prefill = 0;
            double s = generate(m, ctx, prompts[k], n, cached, &prefill);
            if (s < 0) return 1;
            rate[cached] = 1.0 / s;
            printf("  %7lld  %-12s %9.2f ms %9.3f ms %14.0f\n", (long long)prompts[k],
                   cached ? "KV cache" : "recompute", prefill * 1e3, s * 1e3, rate[cached]);
        }
        printf("  %7lld  the cache is %.1fx faster per token\n", (long long)prompts[k],
               rate[1] / rate[0]);
    }
    nb_ctx_free(ctx);
    nb_model_free(m);
    return 0;
}
