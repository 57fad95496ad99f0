/* optim/adagrad.c — Adagrad (Duchi, Hazan & Singer, 2011), as torch.optim.Adagrad computes
 * it (in f32, in its order; the decayed rate in double):
 *
 *     g = g + wd·p
 *     clr = lr / (1 + (t − 1)·lr_decay)        t = 1, 2, ...
 *     S = S + g·g                              every squared gradient so far
 *     p = p − clr·g / (sqrt(S) + eps)
 *
 * Each coordinate's step shrinks with the gradient it has already seen. */
#include "optim/optim.h"

#include <math.h>
#include <string.h>

static void adagrad_step(nb_optim *o, int64_t i0, int64_t i1, double lr, double weight_decay) {
    const nb_adagrad_opts *s = &o->opt.adagrad;
    const double t = (double)(o->t + 1);
    nbi_update u = {.kind = NBI_UPDATE_ADAGRAD,
                    .nlr = (float)(-(lr / (1.0 + (t - 1.0) * s->lr_decay))),
                    .wd = (float)weight_decay,
                    .eps = (float)s->eps};
    const nbi_backend *be = nbi_backend_default();
    be->optim_update(be, &u, i1 - i0, o->ps->data + i0, o->ps->grad + i0, nbi_optim_slot(o, 0, i0),
                     NULL, NULL);
}

static const nbi_optim_vt adagrad_vt = {"adagrad", NB_OPTIM_ADAGRAD, {"sum"}, adagrad_step};

nb_optim *nb_adagrad_new(nb_params *ps, const nb_adagrad_opts *opts) {
    const char *fn = "nb_adagrad_new";
    nb_optim_config c = {.kind = NB_OPTIM_ADAGRAD};
    if (opts) c.u.adagrad = *opts;
    nbi_optim_resolve(&c); /* zero fields: PyTorch's defaults */
    const nb_adagrad_opts o = c.u.adagrad;
    if (nbi_check_hyper(fn, "lr_decay", o.lr_decay, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "weight_decay", o.weight_decay, 0.0, 0.0) != NB_OK ||
        nbi_check_hyper(fn, "initial_accumulator_value", o.initial_accumulator_value, 0.0, 0.0) !=
            NB_OK ||
        nbi_check_hyper(fn, "eps", o.eps, 0.0, 0.0) != NB_OK)
        return NULL;
    nb_optim *opt = nbi_optim_new(fn, &adagrad_vt, ps, o.lr, 1);
    if (!opt) return NULL;
    opt->opt.adagrad = o;
    const float init = (float)o.initial_accumulator_value;
    for (int64_t i = 0; i < opt->n; i++) opt->slot[0][i] = init;
    return opt;
}
