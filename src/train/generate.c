/* train/generate.c — generating a sequence with a language model: a prompt, then one token
 * at a time, each drawn from the model's next-token distribution,
 *
 *     p(x_{t+1} | x_1..x_t) = softmax(logits_t / τ), filtered by top-k and top-p
 *
 * through an incremental decoder (nn.h: the prompt is fed once, then each drawn token alone,
 * the layers keeping their KV caches and recurrent states, so a token costs O(t), not
 * O(t²)) and nb_sample_logits (text.h). Each token is handed to the caller's function as
 * soon as it is drawn, which is how a command line streams text.
 *
 * A model with a fixed context (a learned positional table of N rows) cannot see more than N
 * positions; when the window is full, it slides: the decoder starts again on the last N/2
 * tokens (positions from 0 again, as a model trained on windows expects) and goes on. So the
 * cost stays O(N) per token, amortised, however long the text. */
#include "train/train.h"

#include <string.h>

static nb_status feed(nb_decoder *d, nb_ctx *ctx, const int32_t *ids, int64_t n, float **last,
                      int64_t *V) {
    nb_tensor *x = nb_tensor_from(ctx, NB_I32, (void *)ids, 2, (int64_t[]){1, n});
    nb_tensor *y = x ? nb_decoder_step(d, ctx, x) : NULL;
    if (y) y = nb_contiguous(ctx, y);
    if (!y) return nb_ctx_status(ctx) != NB_OK ? nb_ctx_status(ctx) : NB_ERR_ARG;
    if (y->rank != 3)
        return nbi_error(NB_ERR_SHAPE,
                         "nb_generate: the model's output has rank %d; a language model gives "
                         "logits [T, V] per sequence",
                         y->rank - 1);
    *V = y->shape[2];
    *last = nb_f32(y) + (n - 1) * *V;
    return NB_OK;
}

nb_status nb_generate(const nb_model *m, nb_ctx *ctx, const int32_t *prompt, int64_t n_prompt,
                      const nb_generate_opts *opts, nb_rng *rng, int32_t *out, int64_t *n_out) {
    const char *fn = "nb_generate";
    if (n_out) *n_out = 0;
    if (!m || !ctx || !prompt || !opts)
        return nbi_error(NB_ERR_ARG, "%s: NULL %s", fn,
                         !m      ? "model"
                         : !ctx  ? "context"
                         : !opts ? "options"
                                 : "prompt");
    if (n_prompt < 1)
        return nbi_error(NB_ERR_ARG, "%s: the prompt needs at least one token, got %lld", fn,
                         (long long)n_prompt);
    if (opts->max_tokens < 0 || (opts->max_tokens > 0 && !out && !opts->on_token))
        return nbi_error(NB_ERR_ARG, "%s: %lld tokens asked for%s", fn, (long long)opts->max_tokens,
                         opts->max_tokens > 0 ? " with nowhere to put them" : "");
    nb_sample_opts so = opts->sample ? *opts->sample : nb_sample_opts_default();
    if (so.temperature != 0.0 && !rng)
        return nbi_error(NB_ERR_ARG,
                         "%s: sampling at temperature %g needs a generator (or "
                         "temperature 0: greedy)",
                         fn, so.temperature);
    /* the window: the model's context, or everything when nothing limits it */
    int64_t cap = nb_model_context_length(m), total;
    if (!nbi_add_i64(n_prompt, opts->max_tokens, &total))
        return nbi_error(NB_ERR_ARG, "%s: the prompt and the tokens asked for overflow", fn);
    if (cap < 0 || cap > total) cap = total;
    /* the window's tokens: the prompt's last cap, then each token drawn */
    int32_t *win = nbi_malloc_for(fn, sizeof *win * (size_t)cap);
    if (!win) return NB_ERR_NOMEM;
    nb_decoder *d;
    nb_status s = nb_decoder_new(m, 1, cap, &d);
    if (s != NB_OK) {
        nbi_free(win);
        return s;
    }
    int64_t w = n_prompt < cap ? n_prompt : cap;
    memcpy(win, prompt + (n_prompt - w), sizeof *win * (size_t)w);
    float *logits;
    int64_t V = 0, made = 0;
    s = feed(d, ctx, win, w, &logits, &V);
    while (s == NB_OK && made < opts->max_tokens) {
        int32_t tok;
        s = nb_sample_logits(logits, V, &so, rng, &tok);
        if (s != NB_OK) break;
        if (opts->stop_at && tok == opts->stop_id) break;
        if (out) out[made] = tok;
        made++;
        if (opts->on_token && opts->on_token(tok, opts->user)) break;
        if (made == opts->max_tokens) break;
        nb_ctx_reset(ctx);
        if (w == cap) { /* the window is full: start again on its last half and the token */
            const int64_t keep = cap / 2;
            memmove(win, win + (cap - keep), sizeof *win * (size_t)keep);
            win[keep] = tok;
            w = keep + 1;
            nb_decoder_reset(d);
            s = feed(d, ctx, win, w, &logits, &V);
        } else {
            win[w++] = tok;
            s = feed(d, ctx, &win[w - 1], 1, &logits, &V);
        }
    }
    if (n_out) *n_out = made;
    nb_decoder_free(d);
    nbi_free(win);
    return s;
}
