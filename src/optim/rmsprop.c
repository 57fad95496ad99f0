/* optim/rmsprop.c — RMSprop (Hinton's lecture 6e), plain or centered, with momentum and L2
 * weight decay, as torch.optim.RMSprop computes it (in f32, in its order):
 *
 *     g = g + wd·p
 *     v = α·v + (1 − α)·g·g                 running average of squared gradients
 *     centered:  ḡ = α·ḡ + (1 − α)·g,  s = sqrt(v − ḡ·ḡ) + eps   (a variance estimate)
 *     else:      s = sqrt(v) + eps
 *     momentum:  b = μ·b + g/s,  p = p − lr·b
 *     else:      p = p − lr·g/s */
#include "optim/optim.h"

#include <math.h>
#include <string.h>

static void rmsprop_step(nb_optim *o, int64_t i0, int64_t i1, double lr, double weight_decay) {
    const nb_rmsprop_opts *s = &o->opt.rmsprop;
    nbi_update u = {.kind = NBI_UPDATE_RMSPROP,
                    .nlr = (float)(-lr),
                    .wd = (float)weight_decay,
                    .eps = (float)s->eps,
                    .mu = (float)s->momentum,
                    .a = (float)s->alpha,
                    .ca = (float)(1.0 - s->alpha),
                    .centered = s->centered != 0};
    const nbi_backend *be = nbi_backend_default();
    be->optim_update(be, &u, i1 - i0, o->ps->data + i0, o->ps->grad + i0, nbi_optim_slot(o, 0, i0),
                     nbi_optim_slot(o, 1, i0), nbi_optim_slot(o, 2, i0));
}

static const nbi_optim_vt rmsprop_vt = {
    "rmsprop", NB_OPTIM_RMSPROP, {"square_avg", "momentum_buffer", "grad_avg"}, rmsprop_step};

nb_optim *nb_rmsprop_new(nb_params *ps, const nb_rmsprop_opts *opts) {
    const char *fn = "nb_rmsprop_new";
    nb_optim_config c = {.kind = NB_OPTIM_RMSPROP};
    if (opts) c.u.rmsprop = *opts;
    nbi_optim_resolve(&c); /* zero fields: PyTorch's defaults */
    const nb_rmsprop_opts o = c.u.rmsprop;
    if (nbi_check_hyper(fn, "alpha", o.alpha, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "eps", o.eps, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "weight_decay", o.weight_decay, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "momentum", o.momentum, 0.0, 0.0) != NB_OK)
        return NULL;
    /* slots: square average, momentum buffer, gradient average (centered) */
    int slots = o.centered ? 3 : (o.momentum > 0.0 ? 2 : 1);
    nb_optim *opt = nbi_optim_new(fn, &rmsprop_vt, ps, o.lr, slots);
    if (opt) opt->opt.rmsprop = o;
    return opt;
}
