/* nn/decode.c — incremental decoding: a model run on a sequence a few positions at a time
 * (a prompt, then one token per step), each layer keeping what it needs of the positions
 * already seen in a buffer of its own, so that position t costs O(t) instead of the O(t²) of
 * running the whole prefix again:
 *
 *     attention (and the transformer block): the keys and values of every position so far, a
 *         KV cache [B, H, max_len, d] of each; the new queries attend to all of it;
 *     rnn, lstm, gru: the state h (and c) of every layer after the last position;
 *     positional embeddings: nothing but the position of the first new element;
 *     every other layer acts on each position alone and needs nothing.
 *
 * A decoder asks each call of the model for the size of its state (the layer table's
 * decode_floats: a layer that needs the whole sequence — a bidirectional recurrent layer,
 * attention that is not causal — refuses there, by name), allocates the buffer once, and
 * runs each step through the model's own forward (nbi_model_run) with the buffer, in
 * inference mode and without a tape (the caches are written as the step runs; no gradient
 * flows through them). The model is never written: one model can serve many decoders. */
#include "nn/model.h"
#include "tensor/ctx.h"

#include <string.h>

struct nb_decoder {
    const nb_model *m;
    int64_t B, max_len, pos;
    float *buf;
    int64_t floats;
    int64_t *offset; /* per call: where its state starts, -1 for none */
};

nb_status nb_decoder_new(const nb_model *m, int64_t batch, int64_t max_len, nb_decoder **out) {
    const char *fn = "nb_decoder_new";
    if (!out) return nbi_error(NB_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!m) return nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (batch < 1 || max_len < 1) {
        return nbi_error(NB_ERR_ARG,
                         "%s: need a batch and a length of at least 1, got %lld and %lld", fn,
                         (long long)batch, (long long)max_len);
    }
    if (m->dry) {
        return nbi_error(NB_ERR_STATE, "%s: this model only checks shapes; it cannot run", fn);
    }
    if (m->n_inputs != 1 || m->nodes[m->inputs[0]].shape.dtype != NB_I32 ||
        m->nodes[m->inputs[0]].shape.rank != 1) {
        return nbi_error(
            NB_ERR_ARG,
            "%s: the model must take one input of token ids, i32 [T] (it has %d input%s)", fn,
            m->n_inputs, m->n_inputs == 1 ? " of another kind" : "s");
    }
    const int64_t ctx_len = nb_model_context_length(m);
    if (ctx_len > 0 && max_len > ctx_len) {
        return nbi_error(
            NB_ERR_ARG,
            "%s: %lld positions asked for; the model takes at most %lld (its positional "
            "table)",
            fn, (long long)max_len, (long long)ctx_len);
    }
    nb_decoder *d = nbi_malloc_for(fn, sizeof *d);
    int64_t *off = nbi_malloc_for(fn, sizeof *off * (size_t)(m->n_calls ? m->n_calls : 1));
    if (!d || !off) {
        nbi_free(d);
        nbi_free(off);
        return NB_ERR_NOMEM;
    }
    memset(d, 0, sizeof *d);
    d->m = m;
    d->B = batch;
    d->max_len = max_len;
    d->offset = off;
    int64_t total = 0;
    for (int c = 0; c < m->n_calls; c++) {
        const nbi_call *call = &m->calls[c];
        const nbi_layer *l = m->layers[call->layer];
        off[c] = -1;
        if (!l->vt->decode_floats) continue;
        nbi_shape in[NBI_MAX_IN];
        for (int i = 0; i < call->n_in; i++) {
            int node = nbi_call_in(call)[i];
            if (node >= 0) {
                in[i] = m->nodes[node].shape;
            } else {
                memset(&in[i], 0, sizeof in[i]);
                in[i].rank = -1;
            }
        }
        int64_t n = l->vt->decode_floats(l, in, call->n_in, batch, max_len);
        if (n < 0) {
            nb_decoder_free(d);
            return NB_ERR_ARG; /* the layer's message says why */
        }
        if (!nbi_add_i64(total, n, &total) || total > INT64_MAX / 8) {
            nb_decoder_free(d);
            return nbi_error(NB_ERR_NOMEM, "%s: the decoding state's size overflows", fn);
        }
        if (n > 0) off[c] = total - n;
    }
    if (total > 0) {
        d->buf = nbi_malloc_for(fn, sizeof(float) * (size_t)total);
        if (!d->buf) {
            nb_decoder_free(d);
            return NB_ERR_NOMEM;
        }
        memset(d->buf, 0, sizeof(float) * (size_t)total);
    }
    d->floats = total;
    *out = d;
    return NB_OK;
}

void nb_decoder_free(nb_decoder *d) {
    if (!d) return;
    nbi_free(d->buf);
    nbi_free(d->offset);
    nbi_free(d);
}

void nb_decoder_reset(nb_decoder *d) {
    if (!d) return;
    d->pos = 0;
    if (d->buf) memset(d->buf, 0, sizeof(float) * (size_t)d->floats);
}

int64_t nb_decoder_position(const nb_decoder *d) {
    return d ? d->pos : 0;
}

int64_t nb_decoder_capacity(const nb_decoder *d) {
    return d ? d->max_len : 0;
}

nb_tensor *nb_decoder_step(nb_decoder *d, nb_ctx *ctx, nb_tensor *ids) {
    const char *fn = "nb_decoder_step";
    if (!ctx) {
        nbi_error(NB_ERR_ARG, "%s: context is NULL", fn);
        return NULL;
    }
    if (!d || !ids) {
        nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, d ? "ids" : "the decoder");
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    if (ids->dtype != NB_I32 || ids->rank != 2 || ids->shape[0] != d->B || ids->shape[1] < 1) {
        char b[96];
        nbi_error(NB_ERR_SHAPE, "%s: ids %s must be i32 [%lld, n] (the decoder's batch, n >= 1)",
                  fn, nb_shape_str(ids, b, sizeof b), (long long)d->B);
        return nbi_fail(ctx, NB_ERR_SHAPE);
    }
    const int64_t n = ids->shape[1];
    if (n > d->max_len - d->pos) {
        nbi_error(NB_ERR_ARG,
                  "%s: %lld more positions after %lld exceed the decoder's %lld (reset it, or "
                  "make it longer)",
                  fn, (long long)n, (long long)d->pos, (long long)d->max_len);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    const int n_out = nb_model_output_count(d->m);
    nb_tensor *outs[NBI_MAX_OUT] = {NULL};
    if (n_out < 1 || n_out > NBI_MAX_OUT) {
        nbi_error(NB_ERR_ARG, "%s: the model has %d outputs", fn, n_out);
        return nbi_fail(ctx, NB_ERR_ARG);
    }
    nbi_decode dec = {d->buf, d->offset, d->pos, d->max_len};
    const int grad = ctx->grad_enabled;
    ctx->grad_enabled = 0; /* the caches are written in place: no tape through them */
    nb_status s = nbi_model_run(d->m, ctx, 0, NULL, &ids, 1, outs, n_out, &dec, fn);
    ctx->grad_enabled = grad;
    if (s != NB_OK) return NULL;
    d->pos += n;
    return outs[0];
}

int64_t nb_model_context_length(const nb_model *m) {
    int64_t best = -1;
    for (int i = 0; m && i < m->n_layers; i++) {
        const nbi_layer *l = m->layers[i];
        const int64_t c = l->vt->context ? l->vt->context(l) : -1;
        if (c > 0 && (best < 0 || c < best)) best = c;
    }
    return best;
}
