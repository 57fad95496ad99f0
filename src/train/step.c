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

nb_status nb_train_step(nb_model *model, nb_optim *opt, nb_ctx *ctx, nb_tensor *x, nb_tensor *y,
                        const nb_step_opts *opts, nb_step_result *res) {
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
    const int64_t step = nb_optim_step_count(opt) + 1; /* the step this is, counted from 1 */
    char where[96];
    where_text(&o, where, sizeof where);

    /* forward and loss: an op's error (a shape, check mode's NaN) stands as the op put it */
    nb_tensor *out = nb_model_forward_rng(model, ctx, x, o.dropout_rng);
    nb_tensor *loss = nb_loss_apply(ctx, o.loss, out, y);
    if (!loss) return nb_ctx_status(ctx) != NB_OK ? nb_ctx_status(ctx) : NB_ERR_ARG;
    r->out = out;
    r->loss = (double)nb_item(loss);
    if (!isfinite(r->loss))
        return nbi_error(NB_ERR_NUMERIC,
                         "%s: the loss of step %lld%s is %s; the parameters are those before "
                         "the step (lower the learning rate, or run with NB_CHECK=1 to name the "
                         "op that first made a non-finite value)",
                         fn, (long long)step, where, nonfinite_name(r->loss));

    /* backward, then the seam: the hook (all-reduce), clipping */
    nb_optim_zero_grad(opt);
    nb_status s = nb_backward(ctx, loss);
    if (s != NB_OK) return s;
    nb_params *ps = nb_model_params(model);
    if (o.on_grad) {
        nb_grad_info g = {model, opt, ps, o.epoch, o.batch, step - 1, x->shape[0], r->loss};
        s = o.on_grad(&g, o.user);
        if (s != NB_OK) return s;
    }
    if (o.clip_grad_norm > 0.0f) r->grad_norm = nb_clip_grad_norm(ps, o.clip_grad_norm);
    if (o.clip_grad_value > 0.0f && (s = nb_clip_grad_value(ps, o.clip_grad_value)) != NB_OK)
        return s;
    const float *g = nb_params_grad(ps);
    const int64_t at = ctx->be->find_nonfinite(ctx->be, nb_params_numel(ps), g);
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
    return nb_optim_step(opt);
}
