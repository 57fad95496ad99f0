/* optim/optim.c — what every optimizer shares: creation over a parameter store (the state
 * buffer allocated once, here), the step (learning rate from the schedule, if any, then the
 * algorithm's loop over the flat buffers), the learning rate, zeroing gradients, and which
 * parameters weight decay applies to.
 *
 * Decay on matrices only (nanoGPT's recipe) is torch.optim's two parameter groups — the
 * tensors of rank >= 2 with the weight decay, the others with weight_decay 0 — with every
 * other setting and the step count shared. The store is cut once, when the rule is set, into
 * runs of consecutive parameters on the same side, and a step is one loop per run with the
 * run's decay: the same arithmetic as the two groups, and still no allocation.
 *
 * A sharded optimizer (ZeRO-1, nbi_optim_shard) keeps state for [lo, lo + len) of the store
 * only and updates that part alone: each run's overlap with it. */
#include "optim/optim.h"

#include <math.h>
#include <string.h>

nb_status nbi_check_hyper(const char *fn, const char *what, double v, double lo, double hi) {
    if (!isfinite(v) || v < lo || (hi > lo && v >= hi)) {
        if (hi > lo)
            return nbi_error(NB_ERR_ARG, "%s: %s must be in [%g, %g), got %g", fn, what, lo, hi, v);
        return nbi_error(NB_ERR_ARG, "%s: %s must be finite and >= %g, got %g", fn, what, lo, v);
    }
    return NB_OK;
}

/* The weight decay setting of the optimizer's kind. */
static double weight_decay(const nb_optim *o) {
    switch (o->vt->kind) {
    case NB_OPTIM_SGD:
        return o->opt.sgd.weight_decay;
    case NB_OPTIM_RMSPROP:
        return o->opt.rmsprop.weight_decay;
    case NB_OPTIM_ADAGRAD:
        return o->opt.adagrad.weight_decay;
    default:
        return o->opt.adam.weight_decay;
    }
}

nb_optim *nbi_optim_new(const char *fn, const nbi_optim_vt *vt, nb_params *ps, double lr,
                        int n_slots) {
    NBI_ASSERT(n_slots >= 0 && n_slots <= NBI_OPTIM_MAX_SLOTS);
    if (!ps) {
        nbi_error(NB_ERR_ARG, "%s: the parameter store is NULL (pass nb_model_params(model))", fn);
        return NULL;
    }
    if (nbi_check_hyper(fn, "lr", lr, 0.0, 0.0) != NB_OK) return NULL;
    /* a model's store makes its gradient buffer on first need: the optimizer needs it */
    if (ps->numel > 0 && !nb_params_grad(ps)) return NULL;
    nb_optim *o = nbi_malloc_for(fn, sizeof *o);
    if (!o) return NULL;
    memset(o, 0, sizeof *o);
    o->vt = vt;
    o->ps = ps;
    o->n = ps->numel;
    o->lo = 0;
    o->len = o->n;
    o->lr = lr;
    o->n_slots = n_slots;
    if (n_slots > 0 && o->n > 0) {
        size_t count, bytes;
        if (!nbi_mul_size((size_t)o->n, (size_t)n_slots, &count) ||
            !nbi_mul_size(count, sizeof(float), &bytes)) {
            nbi_error(NB_ERR_NOMEM, "%s: state size overflows", fn);
            nbi_free(o);
            return NULL;
        }
        o->state = nbi_malloc_for(fn, bytes);
        if (!o->state) {
            nbi_free(o);
            return NULL;
        }
        memset(o->state, 0, bytes);
        for (int k = 0; k < n_slots; k++) o->slot[k] = o->state + (size_t)k * (size_t)o->n;
    }
    return o;
}

void nb_optim_free(nb_optim *o) {
    if (!o) return;
    nbi_free(o->runs);
    nbi_free(o->state);
    nbi_free(o);
}

double nb_optim_lr(const nb_optim *o) {
    if (!o) return NAN;
    return o->has_sched ? nb_schedule_lr(&o->sched, o->t) : o->lr;
}

nb_status nb_optim_set_lr(nb_optim *o, double lr) {
    if (!o) return nbi_error(NB_ERR_ARG, "nb_optim_set_lr: optimizer is NULL");
    nb_status s = nbi_check_hyper("nb_optim_set_lr", "lr", lr, 0.0, 0.0);
    if (s != NB_OK) return s;
    o->lr = lr;
    o->has_sched = 0;
    return NB_OK;
}

nb_status nb_optim_set_schedule(nb_optim *o, const nb_schedule *s) {
    if (!o) return nbi_error(NB_ERR_ARG, "nb_optim_set_schedule: optimizer is NULL");
    nb_status st = nb_schedule_check(s);
    if (st != NB_OK) return st;
    o->sched = *s;
    o->has_sched = 1;
    return NB_OK;
}

int64_t nb_optim_step_count(const nb_optim *o) {
    return o ? o->t : 0;
}
const char *nb_optim_name(const nb_optim *o) {
    return o ? o->vt->name : NULL;
}

void nb_optim_zero_grad(nb_optim *o) {
    if (o) nb_params_zero_grad(o->ps);
}

nb_status nb_optim_step(nb_optim *o) {
    if (!o) return nbi_error(NB_ERR_ARG, "nb_optim_step: optimizer is NULL");
    if (o->ps->numel != o->n)
        return nbi_error(NB_ERR_STATE,
                         "nb_optim_step (%s): the store had %lld parameters when "
                         "the optimizer was made and has %lld now; make the optimizer after "
                         "the last layer is added",
                         o->vt->name, (long long)o->n, (long long)o->ps->numel);
    if (o->t >= NB_OPTIM_MAX_STEPS)
        return nbi_error(NB_ERR_STATE,
                         "nb_optim_step (%s): %lld steps taken, the most an "
                         "optimizer takes",
                         o->vt->name, (long long)o->t);
    double lr = o->lr;
    if (o->has_sched) lr = nb_schedule_lr(&o->sched, o->t);
    const double wd = weight_decay(o);
    /* the part this optimizer updates, [lo, hi): the whole store unless sharded (ZeRO-1) */
    const int64_t lo = o->lo, hi = o->lo + o->len;
    if (!o->runs) {
        if (hi > lo) o->vt->step(o, lo, hi, lr, wd);
    } else {
        for (int r = 0; r < o->n_runs; r++) { /* each run's overlap with [lo, hi) */
            const int64_t b = o->runs[r].begin > lo ? o->runs[r].begin : lo;
            const int64_t e = o->runs[r].end < hi ? o->runs[r].end : hi;
            if (e > b) o->vt->step(o, b, e, lr, o->runs[r].decay ? wd : 0.0);
        }
    }
    o->t++;
    return NB_OK;
}

nb_status nbi_optim_shard(nb_optim *o, int64_t lo, int64_t hi) {
    const char *fn = "nbi_optim_shard";
    if (!o) return nbi_error(NB_ERR_ARG, "%s: optimizer is NULL", fn);
    if (lo < o->lo || hi < lo || hi > o->lo + o->len)
        return nbi_error(NB_ERR_ARG, "%s: [%lld, %lld) is not within [%lld, %lld)", fn,
                         (long long)lo, (long long)hi, (long long)o->lo,
                         (long long)(o->lo + o->len));
    const int64_t len = hi - lo;
    float *state = NULL;
    if (o->n_slots > 0 && len > 0) {
        state = nbi_malloc_for(fn, sizeof(float) * (size_t)len * (size_t)o->n_slots);
        if (!state) return NB_ERR_NOMEM;
        for (int k = 0; k < o->n_slots; k++)
            memcpy(state + (size_t)k * (size_t)len, o->slot[k] + (lo - o->lo),
                   sizeof(float) * (size_t)len);
    }
    nbi_free(o->state);
    o->state = state;
    for (int k = 0; k < o->n_slots; k++) o->slot[k] = state ? state + (size_t)k * (size_t)len : NULL;
    o->lo = lo;
    o->len = len;
    return NB_OK;
}

/* ---- which parameters decay ------------------------------------------------------------------ */

nb_status nb_optim_set_decay(nb_optim *o, nb_decay which) {
    const char *fn = "nb_optim_set_decay";
    if (!o) return nbi_error(NB_ERR_ARG, "%s: optimizer is NULL", fn);
    if (which != NB_DECAY_ALL && which != NB_DECAY_MATRICES)
        return nbi_error(NB_ERR_ARG, "%s: unknown rule %d (NB_DECAY_ALL or NB_DECAY_MATRICES)", fn,
                         (int)which);
    nbi_decay_run *runs = NULL;
    int n = 0;
    const int np = nb_params_len(o->ps);
    if (which == NB_DECAY_MATRICES && np > 0) {
        runs = nbi_malloc_for(fn, sizeof *runs * (size_t)np);
        if (!runs) return NB_ERR_NOMEM;
        for (int i = 0; i < np; i++) { /* parameters lie in the buffer in order, end to end */
            const nbi_param *p = nbi_params_item(o->ps, i);
            const bool decay = p->value.rank >= 2;
            const int64_t end = p->offset + p->value.numel;
            if (n > 0 && runs[n - 1].decay == decay)
                runs[n - 1].end = end;
            else
                runs[n++] = (nbi_decay_run){p->offset, end, decay};
        }
        NBI_ASSERT(runs[0].begin == 0 && runs[n - 1].end == o->ps->numel);
    }
    nbi_free(o->runs);
    o->runs = runs;
    o->n_runs = n;
    o->decay = which;
    return NB_OK;
}

nb_decay nb_optim_decay(const nb_optim *o) {
    return o ? o->decay : NB_DECAY_ALL;
}
