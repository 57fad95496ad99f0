/* optim/adam.c — Adam (Kingma & Ba, 2015), with the AMSGrad variant, L2 weight decay
 * (Adam) or decoupled weight decay (AdamW, Loshchilov & Hutter, 2019), as torch.optim.Adam
 * and AdamW compute them (in f32, in their order; the scalar factors in double):
 *
 *     AdamW:  p = p·(1 − lr·wd)          Adam:  g = g + wd·p
 *     m = β1·m + (1 − β1)·g              first moment, an average of gradients
 *     v = β2·v + (1 − β2)·g·g            second moment, an average of squares
 *     v̂ = max(v̂, v)                      AMSGrad: never let the step size grow back
 *     p = p − lr/(1 − β1^t) · m / (sqrt(v or v̂)/sqrt(1 − β2^t) + eps)
 *
 * The divisions by 1 − β^t undo the bias of averages that start at zero. */
#include "optim/optim.h"

#include <math.h>
#include <string.h>

static void update(nb_optim *o, int64_t i0, int64_t i1, double lr, double weight_decay,
                   bool decoupled) {
    const nb_adam_opts *s = &o->opt.adam;
    const double t = (double)(o->t + 1);
    nbi_update u = {.kind = NBI_UPDATE_ADAM,
                    .nlr = (float)(-(lr / (1.0 - pow(s->beta1, t)))),
                    .wd = (float)weight_decay,
                    .eps = (float)s->eps,
                    .b1 = (float)s->beta1,
                    .c1 = (float)(1.0 - s->beta1),
                    .b2 = (float)s->beta2,
                    .c2 = (float)(1.0 - s->beta2),
                    .bc2 = (float)sqrt(1.0 - pow(s->beta2, t)),
                    /* AdamW decays p by 1 - lr wd first; with wd = 0 nothing decays */
                    .decoupled = decoupled && weight_decay != 0.0,
                    .decay = (float)(1.0 - lr * weight_decay),
                    .amsgrad = s->amsgrad != 0};
    const nbi_backend *be = nbi_backend_default();
    be->optim_update(be, &u, i1 - i0, o->ps->data + i0, o->ps->grad + i0, nbi_optim_slot(o, 0, i0),
                     nbi_optim_slot(o, 1, i0), nbi_optim_slot(o, 2, i0));
}

static void adam_step(nb_optim *o, int64_t i0, int64_t i1, double lr, double wd) {
    update(o, i0, i1, lr, wd, false);
}

static void adamw_step(nb_optim *o, int64_t i0, int64_t i1, double lr, double wd) {
    update(o, i0, i1, lr, wd, true);
}

static const nbi_optim_vt adam_vt = {
    "adam", NB_OPTIM_ADAM, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, adam_step};
static const nbi_optim_vt adamw_vt = {
    "adamw", NB_OPTIM_ADAMW, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, adamw_step};

static nb_optim *make(const char *fn, const nbi_optim_vt *vt, nb_params *ps,
                      const nb_adam_opts *opts) {
    nb_optim_config c = {.kind = vt->kind};
    if (opts) c.u.adam = *opts;
    nbi_optim_resolve(&c); /* zero fields: PyTorch's defaults (AdamW's weight decay 0.01) */
    const nb_adam_opts *o = &c.u.adam;
    if (nbi_check_hyper(fn, "beta1", o->beta1, 0.0, 1.0) != NB_OK ||
        nbi_check_hyper(fn, "beta2", o->beta2, 0.0, 1.0) != NB_OK ||
        nbi_check_hyper(fn, "eps", o->eps, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "weight_decay", o->weight_decay, 0.0, 0.0) != NB_OK)
        return NULL;
    nb_optim *opt = nbi_optim_new(fn, vt, ps, o->lr, o->amsgrad ? 3 : 2);
    if (opt) opt->opt.adam = *o;
    return opt;
}

nb_optim *nb_adam_new(nb_params *ps, const nb_adam_opts *opts) {
    return make("nb_adam_new", &adam_vt, ps, opts);
}

nb_optim *nb_adamw_new(nb_params *ps, const nb_adam_opts *opts) {
    return make("nb_adamw_new", &adamw_vt, ps, opts);
}
