/* train/step.c — one step of mini-batch gradient descent, the unit fit repeats:
 *
 *     ŷ = model(x)                  forward, recorded on the tape
 *     L = loss(ŷ, y)                the batch mean
 *     ∇ = ∂L/∂θ                     nb_backward into the flat gradient buffer (zeroed first)
 *     hook(∇); clip(∇)              the seam between backward and the update
 *     θ ← update(θ, ∇, lr(t))       the optimizer; t = steps taken so far
 *
 * Divergence is caught before it reaches the parameters: a loss that is not finite stops the
 * step before backward, a gradient that is not finite (after the hook and clipping, i.e. what
 * the update would use) stops it before the update. Either way the parameters are those the
 * step started from, and the message says where. The scan of the gradients is one pass over
 * the flat buffer, small next to the backward pass that filled it. */
#include "train/train.h"
#include "tensor/ctx.h" /* the context's back end: find_nonfinite */

#include <math.h>
#include <string.h>

const char *nbi_param_at(nb_params *ps, int64_t flat, int64_t *index) {
    const float *base = nb_params_data(ps);
    for (int i = 0; i < nb_params_len(ps); i++) {
        const nb_tensor *t = nb_params_at(ps, i);
        const int64_t off = (const float *)t->data - base;
        if (flat >= off && flat < off + t->numel) {
            if (index) *index = flat - off;
            return t->name ? t->name : "(unnamed)";
        }
    }
    if (index) *index = flat;
    return "(unknown)";
}

static const char *nonfinite_name(double v) {
    return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}

/* " (epoch E, batch B)" when the caller said which, else "". */
static void where_text(const nb_step_opts *o, char *buf, size_t n) {
    buf[0] = '\0';
    if (o->epoch > 0)
        snprintf(buf, n, " (epoch %lld, batch %lld)", (long long)o->epoch, (long long)o->batch + 1);
}

/* The seam of a data-parallel step when this replica holds only part of the reduced gradient
 * ([lo, hi): ZeRO-1): clipping by norm takes the norm over every replica's part (a sum of
 * squares summed across them), and whether a gradient is not finite is agreed by all. */
static float clip_norm_part(const nbi_backend *be, const nb_replicas *rp, float *g, int64_t lo,
                            int64_t hi, float max_norm, nb_status *st) {
    double ss = be->sum_squares(be, hi - lo, g + lo);
    *st = rp->sum(&ss, 1, rp->impl);
    const float norm = (float)sqrt(ss);
    const float c = max_norm / (norm + 1e-6f); /* as nb_clip_grad_norm */
    if (c < 1.0f || isnan(c)) be->unary(be, NBI_U_MUL_SCALAR, hi - lo, g + lo, g + lo, &c);
    return norm;
}

/* The step proper (its options checked). With replicas, every replica goes through backward
 * and grad_end even when its own loss is not finite, so that none is left waiting in a
 * collective; the error is then the same on all (the global loss is not finite). */
static nb_status data_parallel_step(nb_model *model, nb_optim *opt, nb_ctx *ctx, nb_tensor *x,
                                    nb_tensor *y, const nb_step_opts *op, nb_step_result *r,
                                    nb_step *rs) {
    static const char fn[] = "nb_train_step";
    const nb_step_opts o = *op;
    const nb_replicas *rp = o.replicas;
    int64_t global = o.global_size ? o.global_size : x->shape[0];
    nb_status s;
    if (rp) {
        global = o.global_size;
        if ((s = rp->step_begin(rp->impl, x->shape[0], &global)) != NB_OK) return s;
        nb_ctx_set_sum(ctx, rp->sync_bn ? rp->sum : NULL, rp->impl);
        nb_ctx_on_grad_ready(ctx, rp->grad_ready, rp->impl);
    }
    const int64_t step = nb_optim_step_count(opt) + 1; /* the step this is, counted from 1 */
    char where[96];
    where_text(&o, where, sizeof where);

    /* forward and loss: an op's error (a shape, check mode's NaN) stands as the op put it.
     * With a recorded step (fit's; train/step_replay.c) where one applies, they are its
     * forward half, replayed when it holds a recording of these shapes. */
    nb_tensor *loss = NULL;
    if (rs && (rp || o.class_weight || nbi_step_loss(rs) != o.loss || !nb_tensor_is_contiguous(x) ||
               (y && !nb_tensor_is_contiguous(y))))
        rs = NULL; /* the eager step: a step of replicas, weighted, or views */
    if (rs) {
        float lv;
        nb_status fs = nbi_step_forward(rs, x, y, o.dropout_rng, &r->out, &lv);
        if (fs != NB_OK) return fs;
        r->loss = (double)lv;
    } else {
        nb_tensor *out = nb_model_forward_rng(model, ctx, x, o.dropout_rng);
        loss = nb_loss_apply_weighted(ctx, o.loss, out, y, o.class_weight, o.num_class_weights);
        if (!loss) return nb_ctx_status(ctx) != NB_OK ? nb_ctx_status(ctx) : NB_ERR_ARG;
        r->out = out;
        r->loss = (double)nb_item(loss);
    }
    if (!isfinite(r->loss) && !rp)
        return nbi_error(NB_ERR_NUMERIC,
                         "%s: the loss of step %lld%s is %s; the parameters are those before "
                         "the step (lower the learning rate, or run with NB_CHECK=1 to name the "
                         "op that first made a non-finite value)",
                         fn, (long long)step, where, nonfinite_name(r->loss));

    /* backward, then the seam: the replicas' sum, the hook, clipping. A replica's backward is
     * seeded with its share of the global batch, local/global: the sum of the replicas'
     * gradients is then the global batch's mean gradient. */
    if (rs) {
        s = nbi_step_backward(rs); /* zero_grad, then backward */
    } else if (!rp) {
        nb_optim_zero_grad(opt);
        s = nb_backward(ctx, loss);
    } else {
        nb_optim_zero_grad(opt);
        nb_tensor *seed =
            nb_full(ctx, loss->rank, loss->shape, (float)((double)x->shape[0] / (double)global));
        s = seed ? nb_backward_with(ctx, loss, seed) : nb_ctx_status(ctx);
    }
    if (s != NB_OK) return s;
    nb_params *ps = nb_model_params(model);
    int64_t lo = 0, hi = nb_params_numel(ps); /* the part of the gradient this step holds */
    if (rp) {
        const double mine = r->loss;
        if ((s = rp->grad_end(rp->impl, &r->loss)) != NB_OK) return s;
        if (!isfinite(mine) || !isfinite(r->loss))
            return nbi_error(NB_ERR_NUMERIC,
                             "%s: the loss of step %lld%s is %s (on replica %d of %d: %s); "
                             "the parameters are those before the step (lower the learning "
                             "rate, or run with NB_CHECK=1 to name the op that first made a "
                             "non-finite value)",
                             fn, (long long)step, where, nonfinite_name(r->loss), rp->rank,
                             rp->size, isfinite(mine) ? "finite here" : nonfinite_name(mine));
        if (rp->grad_hi > rp->grad_lo) {
            lo = rp->grad_lo;
            hi = rp->grad_hi;
        }
    }
    const int part = hi - lo != nb_params_numel(ps); /* ZeRO-1: a shard of it */
    if (o.on_grad) {
        nb_grad_info g = {model, opt, ps, o.epoch, o.batch, step - 1, x->shape[0], r->loss};
        s = o.on_grad(&g, o.user);
        if (s != NB_OK) return s;
    }
    float *g = nb_params_grad(ps);
    if (o.clip_grad_norm > 0.0f) {
        r->grad_norm = part ? clip_norm_part(ctx->be, rp, g, lo, hi, o.clip_grad_norm, &s)
                            : nb_clip_grad_norm(ps, o.clip_grad_norm);
        if (part && s != NB_OK) return s;
    }
    if (o.clip_grad_value > 0.0f && (s = nb_clip_grad_value(ps, o.clip_grad_value)) != NB_OK)
        return s;
    int64_t at = ctx->be->find_nonfinite(ctx->be, hi - lo, g + lo);
    if (at >= 0) at += lo;
    if (part && (s = rp->agree(rp->impl, at >= 0 ? NB_ERR_NUMERIC : NB_OK)) != NB_OK && at < 0)
        return nbi_error(s,
                         "%s: the gradient of step %lld%s is not finite on another replica "
                         "(loss %g); the parameters are those before the step",
                         fn, (long long)step, where, r->loss);
    if (at >= 0) {
        int64_t i;
        const char *name = nbi_param_at(ps, at, &i);
        return nbi_error(NB_ERR_NUMERIC,
                         "%s: the gradient of step %lld%s is %s at element %lld of '%s' (loss "
                         "%g); the parameters are those before the step (lower the learning "
                         "rate, clip the gradients, or run with NB_CHECK=1 to name the op)",
                         fn, (long long)step, where, nonfinite_name(g[at]), (long long)i, name,
                         r->loss);
    }

    /* the update */
    r->lr = nb_optim_lr(opt);
    return rp && rp->update ? rp->update(rp->impl, opt) : nb_optim_step(opt);
}

nb_status nb_train_step(nb_model *model, nb_optim *opt, nb_ctx *ctx, nb_tensor *x, nb_tensor *y,
                        const nb_step_opts *opts, nb_step_result *res) {
    return nbi_train_step_with(model, opt, ctx, x, y, opts, res, NULL);
}

nb_status nbi_train_step_with(nb_model *model, nb_optim *opt, nb_ctx *ctx, nb_tensor *x,
                              nb_tensor *y, const nb_step_opts *opts, nb_step_result *res,
                              nb_step *rs) {
    static const char fn[] = "nb_train_step";
    nb_step_result local;
    nb_step_result *r = res ? res : &local;
    r->loss = NAN;
    r->lr = NAN;
    r->grad_norm = NAN;
    r->out = NULL;
    if (!model || !opt || !ctx || !x)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn,
                         !model ? "the model"
                         : !opt ? "the optimizer"
                         : !ctx ? "ctx"
                                : "x");
    nb_step_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o); /* NULL: every default */
    if (!nb_loss_name(o.loss))
        return nbi_error(NB_ERR_ARG, "%s: unknown loss kind %d", fn, (int)o.loss);
    if (!(o.clip_grad_norm >= 0.0f) || isinf(o.clip_grad_norm) || !(o.clip_grad_value >= 0.0f) ||
        isinf(o.clip_grad_value))
        return nbi_error(NB_ERR_ARG,
                         "%s: clip_grad_norm and clip_grad_value must be finite and >= 0 (0: "
                         "no clipping), got %g and %g",
                         fn, (double)o.clip_grad_norm, (double)o.clip_grad_value);
    if (o.global_size < 0)
        return nbi_error(NB_ERR_ARG, "%s: global_size must be >= 0, got %lld", fn,
                         (long long)o.global_size);
    nb_status s = data_parallel_step(model, opt, ctx, x, y, &o, r, rs);
    nb_ctx_on_grad_ready(ctx, NULL, NULL); /* the replicas' hooks were for this step */
    nb_ctx_set_sum(ctx, NULL, NULL);
    return s;
}
