/* nn/forward.c — running a model: its calls in the order they were added (a topological
 * order), each on the values of its input nodes, with the context's scope set to the layer's
 * name so that check mode and shape errors name it.
 *
 * Only the calls an output depends on run (a walk back from the outputs). The node values
 * live in the context's arena, so a steady-state training step allocates nothing. A conv2d
 * whose only consumer is the max pooling right after it runs with it as one fused op.
 *
 * nb_model_infer is the const path: inference mode, nothing written to the model. The
 * nb_model_forward family runs in the model's mode, writes batchnorm's running statistics in
 * training mode, and makes the gradient buffer when the context records a tape. A decoder's
 * step (nn/decode.c) is the const path with each call given its state buffer and the
 * position of the inputs' first element. */
#include "nn/model.h"

#include <string.h>

/* Whether x [batch, ...] fits node g; from_dim 1 leaves the sequence axis free (a decoding
 * step feeds a few positions of a sequence whose length the node may fix). */
static bool fits(const nbi_gnode *g, const nb_tensor *x, int from_dim) {
    if (x->dtype != g->shape.dtype || x->rank != g->shape.rank + 1) return false;
    for (int i = from_dim; i < g->shape.rank; i++)
        if (g->shape.dim[i] >= 0 && x->shape[i + 1] != g->shape.dim[i]) return false;
    return true;
}

static nb_status check_inputs(const nb_model *m, nb_ctx *ctx, nb_tensor *const *in, int n_in,
                              bool decoding, const char *fn) {
    for (int i = 0; i < n_in; i++) {
        if (in[i]) continue;
        /* an earlier op failed (its message stands), or the caller passed NULL */
        if (ctx->status == NB_OK)
            nbi_fail(ctx, n_in > 1 ? nbi_error(NB_ERR_ARG, "%s: input %d is NULL", fn, i)
                                   : nbi_error(NB_ERR_ARG, "%s: input is NULL", fn));
        return ctx->status;
    }
    for (int i = 0; i < n_in; i++) {
        const nbi_gnode *g = &m->nodes[m->inputs[i]];
        if (!fits(g, in[i], decoding ? 1 : 0)) {
            char got[96], want[128];
            nbi_batch_shape_str(g->shape.rank, g->shape.dim, want, sizeof want);
            char which[96] = "";
            if (m->n_inputs > 1) snprintf(which, sizeof which, " '%s'", g->name);
            nbi_error(NB_ERR_SHAPE,
                      "%s: input %s does not fit the model's input%s %s: "
                      "expected %s [batch, ...] with the sample shape after the batch",
                      fn, nb_shape_str(in[i], got, sizeof got), which, want,
                      g->shape.dtype == NB_F32 ? "f32" : "i32");
            nbi_fail(ctx, NB_ERR_SHAPE);
            return NB_ERR_SHAPE;
        }
        if (i > 0 && in[i]->shape[0] != in[0]->shape[0]) {
            nbi_error(NB_ERR_SHAPE,
                      "%s: input '%s' has a batch of %lld, input '%s' of %lld: "
                      "every input needs the same batch",
                      fn, g->name, (long long)in[i]->shape[0], m->nodes[m->inputs[0]].name,
                      (long long)in[0]->shape[0]);
            nbi_fail(ctx, NB_ERR_SHAPE);
            return NB_ERR_SHAPE;
        }
    }
    return NB_OK;
}

static bool is_output(const int *outs, int n, int node) {
    for (int k = 0; k < n; k++)
        if (outs[k] == node) return true;
    return false;
}

nb_status nbi_model_run(const nb_model *m, nb_ctx *ctx, int training, nb_rng *rng,
                        nb_tensor *const *in, int n_in, nb_tensor **out, int n_out,
                        const nbi_decode *dec, const char *fn) {
    for (int k = 0; k < n_out; k++) out[k] = NULL;
    if (!ctx) return nbi_error(NB_ERR_ARG, "%s: context is NULL (create one with nb_ctx_new)", fn);
    if (!m) {
        nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: model is NULL", fn));
        return NB_ERR_ARG;
    }
    const int *outs;
    int n_outs = nbi_model_outputs(m, &outs);
    nb_status s = NB_OK;
    if (m->dry)
        s = nbi_error(NB_ERR_STATE, "%s: this model only checks shapes; it cannot run", fn);
    else if (n_in != m->n_inputs || n_out != n_outs || (n_in > 0 && !in) || (n_out > 0 && !out))
        s = nbi_error(NB_ERR_ARG,
                      "%s: the model has %d input%s and %d output%s; got %d and "
                      "%d%s",
                      fn, m->n_inputs, m->n_inputs == 1 ? "" : "s", n_outs, n_outs == 1 ? "" : "s",
                      n_in, n_out,
                      m->n_inputs != 1 || n_outs != 1 ? " (use nb_model_forward_multi)" : "");
    if (s != NB_OK) {
        nbi_fail(ctx, s);
        return s;
    }
    if ((s = check_inputs(m, ctx, in, n_in, dec != NULL, fn)) != NB_OK) return s;

    /* one block: the node values, then a flag per call (sizes bounded by the model's, which
     * were allocated when it was built) */
    const size_t val_sz = sizeof(nb_tensor *) * (size_t)(m->n_nodes + 1);
    nb_tensor **val = nbi_ctx_alloc(ctx, val_sz + (size_t)m->n_calls + 1, fn);
    if (!val) {
        nbi_fail(ctx, NB_ERR_NOMEM);
        return NB_ERR_NOMEM;
    }
    unsigned char *need = (unsigned char *)val + val_sz;
    memset(val, 0, val_sz + (size_t)m->n_calls);
    for (int i = 0; i < n_in; i++) val[m->inputs[i]] = in[i];
    /* the calls the outputs depend on: a walk back over the topological order */
    for (int k = 0; k < n_outs; k++)
        if (m->nodes[outs[k]].call >= 0) need[m->nodes[outs[k]].call] = 1;
    for (int c = m->n_calls - 1; c >= 0; c--) {
        if (!need[c]) continue;
        const nbi_call *call = &m->calls[c];
        for (int i = 0; i < call->n_in; i++)
            if (nbi_call_in(call)[i] >= 0 && m->nodes[nbi_call_in(call)[i]].call >= 0)
                need[m->nodes[nbi_call_in(call)[i]].call] = 1;
    }

    nbi_fwd f = {.ctx = ctx, .training = training, .rng = rng};
    if (dec) {
        f.decoding = 1;
        f.pos = dec->pos;
        f.max_len = dec->max_len;
    }
    const char *scope = ctx->scope;
    nb_tensor *x[NBI_MAX_IN];
    for (int c = 0; c < m->n_calls; c++) {
        if (!need[c]) continue;
        const nbi_call *call = &m->calls[c];
        const nbi_layer *l = m->layers[call->layer];
        bool ok = true;
        for (int i = 0; i < call->n_in; i++) {
            x[i] = nbi_call_in(call)[i] >= 0 ? val[nbi_call_in(call)[i]] : NULL;
            ok = ok && (nbi_call_in(call)[i] < 0 || x[i]);
        }
        if (!ok) break; /* an earlier call failed: the context holds its error */
        ctx->scope = l->name;
        if (dec) f.state = dec->offset[c] >= 0 ? dec->buf + dec->offset[c] : NULL;
        const nbi_call *next = c + 1 < m->n_calls ? &m->calls[c + 1] : NULL;
        nb_tensor *y;
        if (l->vt->forward_pair && !dec && next && need[c + 1] && call->n_out == 1 &&
            next->n_in == 1 && nbi_call_in(next)[0] == call->first_out &&
            m->nodes[call->first_out].uses == 1 && !is_output(outs, n_outs, call->first_out) &&
            l->vt->forward_pair(l, m->layers[next->layer], &f, x[0], &y)) {
            val[next->first_out] = y; /* this call and the next, as one fused op */
            c++;
            if (!y) break;
            continue;
        }
        l->vt->forward(l, &f, x, call->n_in, &val[call->first_out]);
        for (int k = 0; k < call->n_out; k++) ok = ok && val[call->first_out + k];
        if (!ok) break;
    }
    ctx->scope = scope;
    for (int k = 0; k < n_out; k++) out[k] = val[outs[k]];
    for (int k = 0; k < n_out; k++)
        if (!out[k]) {
            if (ctx->status == NB_OK)
                nbi_fail(ctx, nbi_error(NB_ERR_STATE, "%s: output %d was not computed", fn, k));
            for (int j = 0; j < n_out; j++) out[j] = NULL;
            return ctx->status;
        }
    return NB_OK;
}

/* The gradient buffer, when this forward records a tape for the parameters. */
static nb_status need_grad(nb_model *m, nb_ctx *ctx) {
    if (!m || !ctx || !ctx->grad_enabled || m->dry) return NB_OK;
    nb_status s = nbi_params_need_grad(m->params);
    if (s != NB_OK) nbi_fail(ctx, s);
    return s;
}

nb_status nb_model_forward_multi(nb_model *m, nb_ctx *ctx, nb_tensor *const *in, int n_in,
                                 nb_tensor **out, int n_out, nb_rng *rng) {
    const char *fn = "nb_model_forward_multi";
    nb_status s = need_grad(m, ctx);
    if (s != NB_OK) return s;
    return nbi_model_run(m, ctx, m ? m->training : 0, rng, in, n_in, out, n_out, NULL, fn);
}

nb_tensor *nb_model_forward_rng(nb_model *m, nb_ctx *ctx, nb_tensor *x, nb_rng *rng) {
    nb_tensor *y = NULL;
    if (need_grad(m, ctx) == NB_OK)
        nbi_model_run(m, ctx, m ? m->training : 0, rng, &x, 1, &y, 1, NULL, "nb_model_forward");
    return y;
}

nb_tensor *nb_model_forward(nb_model *m, nb_ctx *ctx, nb_tensor *x) {
    return nb_model_forward_rng(m, ctx, x, NULL);
}

nb_status nb_model_infer_multi(const nb_model *m, nb_ctx *ctx, nb_tensor *const *in, int n_in,
                               nb_tensor **out, int n_out) {
    return nbi_model_run(m, ctx, 0, NULL, in, n_in, out, n_out, NULL, "nb_model_infer_multi");
}

nb_tensor *nb_model_infer(const nb_model *m, nb_ctx *ctx, nb_tensor *x) {
    nb_tensor *y = NULL;
    nbi_model_run(m, ctx, 0, NULL, &x, 1, &y, 1, NULL, "nb_model_infer");
    return y;
}
