/* optim/sgd.c — stochastic gradient descent with momentum, dampening, Nesterov momentum
 * and L2 weight decay, as torch.optim.SGD computes it (in f32, in its order):
 *
 *     d = g + wd·p
 *     b = d                          on the first step
 *     b = μ·b + (1 − dampening)·d    after
 *     d = d + μ·b  (Nesterov)   or   d = b  (classical momentum)
 *     p = p − lr·d
 *
 * With μ = 0 this is plain gradient descent, p ← p − lr·∂L/∂p, the method's update. */
#include "optim/optim.h"

#include <string.h>

static void sgd_step(nb_optim *o, int64_t i0, int64_t i1, double lr, double weight_decay) {
    const nb_sgd_opts *s = &o->opt.sgd;
    nbi_update u = {.kind = NBI_UPDATE_SGD,
                    .nlr = (float)(-lr),
                    .wd = (float)weight_decay,
                    .mu = (float)s->momentum,
                    .keep = (float)(1.0 - s->dampening),
                    .nesterov = s->nesterov != 0,
                    .first = o->t == 0};
    const nbi_backend *be = nbi_backend_default();
    be->optim_update(be, &u, i1 - i0, o->ps->data + i0, o->ps->grad + i0, nbi_optim_slot(o, 0, i0),
                     NULL, NULL);
}

static const nbi_optim_vt sgd_vt = {"sgd", NB_OPTIM_SGD, {"momentum_buffer"}, sgd_step};

nb_optim *nb_sgd_new(nb_params *ps, const nb_sgd_opts *opts) {
    const char *fn = "nb_sgd_new";
    nb_optim_config c = {.kind = NB_OPTIM_SGD};
    if (opts) c.u.sgd = *opts;
    nbi_optim_resolve(&c); /* zero fields: PyTorch's defaults */
    const nb_sgd_opts o = c.u.sgd;
    if (nbi_check_hyper(fn, "momentum", o.momentum, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "dampening", o.dampening, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "weight_decay", o.weight_decay, 0.0, 0.0) != NB_OK)
        return NULL;
    if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0)) {
        nbi_error(NB_ERR_ARG,
                  "%s: Nesterov momentum needs momentum > 0 and dampening 0 (got "
                  "momentum %g, dampening %g)",
                  fn, o.momentum, o.dampening);
        return NULL;
    }
    nb_optim *opt = nbi_optim_new(fn, &sgd_vt, ps, o.lr, o.momentum != 0.0 ? 1 : 0);
    if (opt) opt->opt.sgd = o;
    return opt;
}
