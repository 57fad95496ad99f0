/* examples/lm_common.h — what examples/char_lstm.c and examples/char_gpt.c share: reading a
 * text, turning it into windows of bytes, the training loop (nb_train_step on next-byte
 * prediction), the validation loss, and generation streamed to the terminal.
 *
 * The language-model task: a window of T bytes x = w[0..T) is the input, the same window
 * shifted by one, y = w[1..T], the targets; the loss is the softmax cross-entropy of the
 * logits [B, T, 256] at every position, its mean over the B·T positions. A model that has
 * learned nothing scores ln 256 = 5.55; English text at a byte per token goes below 2. */
#ifndef LM_COMMON_H
#define LM_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LM_DEFAULT_TEXT "/usr/share/games/fortunes" /* Debian's fortunes-min */

/* When no text is at hand, a few lines to learn from (the example still runs). */
static const char lm_builtin_text[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was "
    "the season of Light, it was the season of Darkness, it was the spring of hope, it was the "
    "winter of despair, we had everything before us, we had nothing before us, we were all "
    "going direct to Heaven, we were all going direct the other way.\n";

typedef struct lm_args {
    const char *text, *out, *prompt;
    int steps, sample, every;
    double temperature;
} lm_args;

static void lm_die(const char *who, const char *what) {
    fprintf(stderr, "%s: %s: %s\n", who, what, nb_last_error());
    exit(1);
}

static void lm_parse_args(const char *who, int argc, char **argv, lm_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--text") && v)
            a->text = argv[++i];
        else if (!strcmp(argv[i], "--steps") && v)
            a->steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sample") && v)
            a->sample = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--temperature") && v)
            a->temperature = atof(argv[++i]);
        else if (!strcmp(argv[i], "--prompt") && v)
            a->prompt = argv[++i];
        else if (!strcmp(argv[i], "--out") && v)
            a->out = argv[++i];
        else if (!strcmp(argv[i], "--threads") && v) {
            if (nb_set_threads(atoi(argv[++i])) != NB_OK) lm_die(who, "--threads");
        } else {
            fprintf(stderr,
                    "usage: %s [--text FILE|DIR] [--steps N] [--sample N] [--temperature T] "
                    "[--prompt TEXT] [--out MODEL.safetensors] [--threads T]\n",
                    who);
            exit(2);
        }
    }
    if (a->steps < 0 || a->sample < 0 || !(a->temperature >= 0)) {
        fprintf(stderr, "%s: --steps, --sample and --temperature must not be negative\n", who);
        exit(2);
    }
}

/* The text (a file, or a folder of files) as byte ids, a tenth held out for validation. */
static nb_lm_data *lm_load(const char *who, const char *path, const nb_tokenizer *tok) {
    nb_corpus c = {0};
    struct stat sb;
    const char *src = path ? path : stat(LM_DEFAULT_TEXT, &sb) == 0 ? LM_DEFAULT_TEXT : NULL;
    if (src && nb_corpus_read(src, &c) != NB_OK) lm_die(who, src);
    const char *text = src ? c.data : lm_builtin_text;
    size_t len = src ? c.len : sizeof lm_builtin_text - 1;
    printf("text: %s, %zu bytes\n",
           src ? src
               : "the built-in paragraph (no --text, and no " LM_DEFAULT_TEXT
                 ": apt-get install fortunes-min)",
           len);
    nb_lm_data *d;
    if (nb_lm_data_encode(tok, text, len, 0, 0.1, &d) != NB_OK) lm_die(who, "encoding the text");
    nb_corpus_free(&c);
    return d;
}

/* The mean cross-entropy over (at most 16 batches of) the held-out windows. */
static double lm_val_loss(nb_model *m, nb_ctx *ctx, const nb_lm_data *d, nb_tensor *x,
                          nb_tensor *y) {
    const int64_t B = x->shape[0];
    double sum = 0;
    int64_t n = 0;
    for (int64_t b = 0; b < 16; b++) {
        int64_t rows = 0;
        if (nb_lm_data_val_batch(d, b, x, y, &rows) != NB_OK || rows < B) break;
        nb_tensor *l =
            nb_cross_entropy_ex(ctx, nb_model_infer(m, ctx, x), y, NB_REDUCE_MEAN, -100, 0.0f);
        if (l) {
            sum += nb_item(l);
            n++;
        }
        nb_ctx_reset(ctx);
    }
    return n ? sum / (double)n : NAN;
}

/* steps of nb_train_step on random windows, the loss every `every` steps. */
static void lm_train(const char *who, nb_model *m, nb_optim *o, const nb_lm_data *d, int64_t B,
                     int64_t T, int steps, int every, float clip) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_new(NULL, NB_I32, 2, (int64_t[]){B, T});
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, 2, (int64_t[]){B, T});
    if (!ctx || !x || !y) lm_die(who, "memory");
    nb_rng pick, drop;
    nb_rng_seed(&pick, 1);
    nb_rng_seed(&drop, 2);
    nb_step_opts so = {.loss = NB_LOSS_CROSS_ENTROPY, .dropout_rng = &drop, .clip_grad_norm = clip};
    nb_model_set_training(m, 1);
    double t0 = nb_time(), sum = 0;
    for (int s = 1; s <= steps; s++) {
        if (nb_lm_data_batch(d, &pick, x, y) != NB_OK) lm_die(who, "a batch");
        nb_step_result r;
        if (nb_train_step(m, o, ctx, x, y, &so, &r) != NB_OK) lm_die(who, "training");
        nb_ctx_reset(ctx);
        sum += r.loss;
        if (s % every == 0 || s == steps) {
            double dt = nb_time() - t0;
            printf("step %5d  loss %.4f  %.0f tokens/s\n", s, sum / (s % every ? s % every : every),
                   (double)(s * B * T) / dt);
            fflush(stdout);
            sum = 0;
        }
    }
    nb_model_set_training(m, 0);
    if (steps > 0) printf("validation loss %.4f\n", lm_val_loss(m, ctx, d, x, y));
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
}

/* Prints each byte as it is drawn. */
static int lm_print_token(int32_t token, void *user) {
    const nb_tokenizer *tok = user;
    char buf[64];
    size_t n;
    if (nb_tokenizer_token(tok, token, buf, sizeof buf, &n) == NB_OK)
        fwrite(buf, 1, n < sizeof buf ? n : sizeof buf, stdout);
    fflush(stdout);
    return 0;
}

/* `count` bytes after the prompt, at the given temperature, streamed to stdout. */
static void lm_generate(const char *who, const nb_model *m, const nb_tokenizer *tok,
                        const char *prompt, int count, double temperature) {
    int32_t *ids;
    int64_t n;
    if (nb_tokenizer_encode(tok, prompt, strlen(prompt), 0, &ids, &n) != NB_OK || n < 1)
        lm_die(who, "the prompt");
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 7);
    nb_sample_opts so = nb_sample_opts_default();
    so.temperature = temperature;
    nb_generate_opts go = {
        .max_tokens = count, .sample = &so, .on_token = lm_print_token, .user = (void *)tok};
    printf("--- %d bytes at temperature %g:\n%s", count, temperature, prompt);
    if (nb_generate(m, ctx, ids, n, &go, &rng, NULL, NULL) != NB_OK) lm_die(who, "generating");
    printf("\n---\n");
    nb_free(ids);
    nb_ctx_free(ctx);
}

#endif
