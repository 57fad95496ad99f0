/* optim/config.c — optimizers as values (kind + settings) and access to their state, which
 * is what a spec file describes and what a checkpoint saves and restores: the settings, the
 * step count, the learning rate and schedule, and the per-parameter state slots. */
#include "optim/optim.h"

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

nb_optim_config nb_optim_config_default(nb_optim_kind k, double lr) {
    nb_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = k;
    switch (k) {
    case NB_OPTIM_SGD:
        c.u.sgd = nb_sgd_defaults(lr);
        break;
    case NB_OPTIM_ADAM:
        c.u.adam = nb_adam_defaults(lr);
        break;
    case NB_OPTIM_ADAMW:
        c.u.adam = nb_adamw_defaults(lr);
        break;
    case NB_OPTIM_RMSPROP:
        c.u.rmsprop = nb_rmsprop_defaults(lr);
        break;
    case NB_OPTIM_ADAGRAD:
        c.u.adagrad = nb_adagrad_defaults(lr);
        break;
    case NB_OPTIM_KIND_COUNT:
        break;
    }
    return c;
}

nb_optim *nb_optim_new(nb_params *ps, const nb_optim_config *c) {
    if (!c) {
        nbi_error(NB_ERR_ARG, "nb_optim_new: the configuration is NULL");
        return NULL;
    }
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
    if (t < 0)
        return nbi_error(NB_ERR_ARG,
                         "nb_optim_set_step_count: the step count must be >= 0, "
                         "got %lld",
                         (long long)t);
    o->t = t;
    return NB_OK;
}
