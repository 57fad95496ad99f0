/* optim/config.c — optimizers as values (kind + settings) and access to their state, which
 * is what a spec file describes and what a checkpoint saves and restores: the settings, the
 * step count, the learning rate and schedule, and the per-parameter state slots. Also the one
 * table of default settings (PyTorch's), which every optimizer constructor goes through. */
#include "optim/optim.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[NB_OPTIM_KIND_COUNT] = {
    [NB_OPTIM_SGD] = "sgd",         [NB_OPTIM_ADAM] = "adam",       [NB_OPTIM_ADAMW] = "adamw",
    [NB_OPTIM_RMSPROP] = "rmsprop", [NB_OPTIM_ADAGRAD] = "adagrad",
};

const char *nb_optim_kind_name(nb_optim_kind k) {
    return (unsigned)k < NB_OPTIM_KIND_COUNT ? kind_names[k] : NULL;
}

int nb_optim_kind_from_name(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < NB_OPTIM_KIND_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0) return k;
    return -1;
}

/* ---- defaults ------------------------------------------------------------------------------
 * The one table of defaults: PyTorch's. A field that is +0.0 was not set and takes the
 * default; NB_ZERO (-0.0) is a real zero (see base.h). */

/* v, or def when v is an unset field; a real zero comes out as +0.0 for the arithmetic. */
static double pick(double v, double def) {
    if (v != 0.0 || isnan(v)) return v;
    return signbit(v) ? 0.0 : def;
}

/* A setting as a configuration spells it: a zero becomes NB_ZERO, so it stays a zero. */
static double spell(double v) {
    return v == 0.0 ? NB_ZERO : v;
}

void nbi_optim_resolve(nb_optim_config *c) {
    switch (c->kind) {
    case NB_OPTIM_SGD: { /* torch.optim.SGD (lr=1e-3 since PyTorch 2.2; earlier: required) */
        nb_sgd_opts *o = &c->u.sgd;
        o->lr = pick(o->lr, 1e-3);
        o->momentum = pick(o->momentum, 0.0);
        o->dampening = pick(o->dampening, 0.0);
        o->weight_decay = pick(o->weight_decay, 0.0);
        break;
    }
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW: { /* torch.optim.Adam / AdamW: betas (0.9, 0.999), eps 1e-8 */
        nb_adam_opts *o = &c->u.adam;
        o->lr = pick(o->lr, 1e-3);
        o->beta1 = pick(o->beta1, 0.9);
        o->beta2 = pick(o->beta2, 0.999);
        o->eps = pick(o->eps, 1e-8);
        o->weight_decay = pick(o->weight_decay, c->kind == NB_OPTIM_ADAMW ? 1e-2 : 0.0);
        break;
    }
    case NB_OPTIM_RMSPROP: { /* torch.optim.RMSprop: alpha 0.99, eps 1e-8 */
        nb_rmsprop_opts *o = &c->u.rmsprop;
        o->lr = pick(o->lr, 1e-2);
        o->alpha = pick(o->alpha, 0.99);
        o->eps = pick(o->eps, 1e-8);
        o->weight_decay = pick(o->weight_decay, 0.0);
        o->momentum = pick(o->momentum, 0.0);
        break;
    }
    case NB_OPTIM_ADAGRAD: { /* torch.optim.Adagrad: eps 1e-10 */
        nb_adagrad_opts *o = &c->u.adagrad;
        o->lr = pick(o->lr, 1e-2);
        o->lr_decay = pick(o->lr_decay, 0.0);
        o->weight_decay = pick(o->weight_decay, 0.0);
        o->initial_accumulator_value = pick(o->initial_accumulator_value, 0.0);
        o->eps = pick(o->eps, 1e-10);
        break;
    }
    case NB_OPTIM_KIND_COUNT:
        break;
    }
}

void nbi_optim_spell(nb_optim_config *c) {
    switch (c->kind) {
    case NB_OPTIM_SGD: {
        nb_sgd_opts *o = &c->u.sgd;
        o->lr = spell(o->lr);
        o->momentum = spell(o->momentum);
        o->dampening = spell(o->dampening);
        o->weight_decay = spell(o->weight_decay);
        break;
    }
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW: {
        nb_adam_opts *o = &c->u.adam;
        o->lr = spell(o->lr);
        o->beta1 = spell(o->beta1);
        o->beta2 = spell(o->beta2);
        o->eps = spell(o->eps);
        o->weight_decay = spell(o->weight_decay);
        break;
    }
    case NB_OPTIM_RMSPROP: {
        nb_rmsprop_opts *o = &c->u.rmsprop;
        o->lr = spell(o->lr);
        o->alpha = spell(o->alpha);
        o->eps = spell(o->eps);
        o->weight_decay = spell(o->weight_decay);
        o->momentum = spell(o->momentum);
        break;
    }
    case NB_OPTIM_ADAGRAD: {
        nb_adagrad_opts *o = &c->u.adagrad;
        o->lr = spell(o->lr);
        o->lr_decay = spell(o->lr_decay);
        o->weight_decay = spell(o->weight_decay);
        o->initial_accumulator_value = spell(o->initial_accumulator_value);
        o->eps = spell(o->eps);
        break;
    }
    case NB_OPTIM_KIND_COUNT:
        break;
    }
}

double nb_optim_config_lr(const nb_optim_config *c) {
    if (!c) return NAN;
    switch (c->kind) {
    case NB_OPTIM_SGD:
        return c->u.sgd.lr;
    case NB_OPTIM_RMSPROP:
        return c->u.rmsprop.lr;
    case NB_OPTIM_ADAGRAD:
        return c->u.adagrad.lr;
    default:
        return c->u.adam.lr;
    }
}

nb_status nb_optim_config_set_lr(nb_optim_config *c, double lr) {
    if (!c) return nbi_error(NB_ERR_ARG, "nb_optim_config_set_lr: the configuration is NULL");
    if (!isfinite(lr) || lr < 0.0)
        return nbi_error(NB_ERR_ARG,
                         "nb_optim_config_set_lr: the learning rate must be finite and >= 0, "
                         "got %g",
                         lr);
    if ((unsigned)c->kind >= NB_OPTIM_KIND_COUNT)
        return nbi_error(NB_ERR_ARG, "nb_optim_config_set_lr: unknown optimizer kind %d",
                         (int)c->kind);
    lr = spell(lr); /* a rate set to 0 is a real zero, not "the default" */
    switch (c->kind) {
    case NB_OPTIM_SGD:
        c->u.sgd.lr = lr;
        break;
    case NB_OPTIM_RMSPROP:
        c->u.rmsprop.lr = lr;
        break;
    case NB_OPTIM_ADAGRAD:
        c->u.adagrad.lr = lr;
        break;
    default:
        c->u.adam.lr = lr;
        break;
    }
    return NB_OK;
}

static nb_optim *make_kind(nb_params *ps, const nb_optim_config *c) {
    switch (c->kind) {
    case NB_OPTIM_SGD:
        return nb_sgd_new(ps, &c->u.sgd);
    case NB_OPTIM_ADAM:
        return nb_adam_new(ps, &c->u.adam);
    case NB_OPTIM_ADAMW:
        return nb_adamw_new(ps, &c->u.adam);
    case NB_OPTIM_RMSPROP:
        return nb_rmsprop_new(ps, &c->u.rmsprop);
    case NB_OPTIM_ADAGRAD:
        return nb_adagrad_new(ps, &c->u.adagrad);
    case NB_OPTIM_KIND_COUNT:
        break;
    }
    nbi_error(NB_ERR_ARG, "nb_optim_new: unknown optimizer kind %d (use an NB_OPTIM_* value)",
              (int)c->kind);
    return NULL;
}

nb_optim *nb_optim_new(nb_params *ps, const nb_optim_config *c) {
    if (!c) {
        nbi_error(NB_ERR_ARG, "nb_optim_new: the configuration is NULL");
        return NULL;
    }
    if (c->decay != NB_DECAY_ALL && c->decay != NB_DECAY_MATRICES) {
        nbi_error(NB_ERR_ARG,
                  "nb_optim_new: unknown decay rule %d (NB_DECAY_ALL or "
                  "NB_DECAY_MATRICES)",
                  (int)c->decay);
        return NULL;
    }
    nb_optim *o = make_kind(ps, c);
    if (o && c->decay != NB_DECAY_ALL && nb_optim_set_decay(o, c->decay) != NB_OK) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}

nb_optim_config nb_optim_get_config(const nb_optim *o) {
    nb_optim_config c;
    memset(&c, 0, sizeof c);
    if (!o) return c;
    c.kind = o->vt->kind;
    switch (c.kind) {
    case NB_OPTIM_SGD:
        c.u.sgd = o->opt.sgd;
        c.u.sgd.lr = o->lr;
        break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW:
        c.u.adam = o->opt.adam;
        c.u.adam.lr = o->lr;
        break;
    case NB_OPTIM_RMSPROP:
        c.u.rmsprop = o->opt.rmsprop;
        c.u.rmsprop.lr = o->lr;
        break;
    case NB_OPTIM_ADAGRAD:
        c.u.adagrad = o->opt.adagrad;
        c.u.adagrad.lr = o->lr;
        break;
    case NB_OPTIM_KIND_COUNT:
        break;
    }
    nbi_optim_spell(&c); /* the optimizer's settings are plain numbers: zeros -> NB_ZERO */
    c.decay = o->decay;
    return c;
}

int nb_optim_get_schedule(const nb_optim *o, nb_schedule *s) {
    if (!o || !o->has_sched) return 0;
    if (s) *s = o->sched;
    return 1;
}

int nb_optim_state_slots(const nb_optim *o) {
    return o ? o->n_slots : 0;
}

const char *nb_optim_state_name(const nb_optim *o, int k) {
    if (!o || k < 0 || k >= o->n_slots) return NULL;
    return o->vt->slots[k];
}

float *nb_optim_state_buffer(nb_optim *o, int k, int64_t *n) {
    if (n) *n = 0;
    if (!o || k < 0 || k >= o->n_slots) return NULL;
    if (n) *n = o->n;
    return o->slot[k];
}

nb_status nb_optim_set_step_count(nb_optim *o, int64_t t) {
    if (!o) return nbi_error(NB_ERR_ARG, "nb_optim_set_step_count: optimizer is NULL");
    if (t < 0 || t > NB_OPTIM_MAX_STEPS)
        return nbi_error(NB_ERR_ARG,
                         "nb_optim_set_step_count: the step count must be in [0, %lld], "
                         "got %lld",
                         (long long)NB_OPTIM_MAX_STEPS, (long long)t);
    o->t = t;
    return NB_OK;
}
