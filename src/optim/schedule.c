/* optim/schedule.c — learning-rate schedules as closed forms of the step number t, equal to
 * what torch.optim.lr_scheduler's StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
 * LinearLR and SequentialLR(LinearLR, ·) yield after t calls of scheduler.step() (PyTorch
 * reaches them by recurrences; the closed forms agree to double rounding and need no state,
 * so a schedule is a plain value). */
#include "base/base.h"
#include "nabla/optim.h"

#include <math.h>
#include <string.h>

static nb_schedule blank(nb_schedule_kind kind, double base_lr) {
    nb_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.base_lr = base_lr;
    return s;
}

nb_schedule nb_schedule_constant(double base_lr) {
    return blank(NB_SCHED_CONSTANT, base_lr);
}

nb_schedule nb_schedule_step(double base_lr, int64_t step_size, double gamma) {
    nb_schedule s = blank(NB_SCHED_STEP, base_lr);
    s.step_size = step_size;
    s.gamma = gamma;
    return s;
}

nb_schedule nb_schedule_multistep(double base_lr, const int64_t *milestones, int n, double gamma) {
    nb_schedule s = blank(NB_SCHED_MULTISTEP, base_lr);
    s.gamma = gamma;
    /* n out of range is kept as it is and reported by nb_schedule_check */
    s.n_milestones = n;
    if (milestones && n > 0 && n <= NB_SCHEDULE_MAX_MILESTONES)
        memcpy(s.milestones, milestones, sizeof *milestones * (size_t)n);
    else if (n > 0)
        s.n_milestones = -1;
    return s;
}

nb_schedule nb_schedule_exponential(double base_lr, double gamma) {
    nb_schedule s = blank(NB_SCHED_EXPONENTIAL, base_lr);
    s.gamma = gamma;
    return s;
}

nb_schedule nb_schedule_cosine(double base_lr, int64_t t_max, double eta_min) {
    nb_schedule s = blank(NB_SCHED_COSINE, base_lr);
    s.t_max = t_max;
    s.eta_min = eta_min;
    return s;
}

nb_schedule nb_schedule_linear(double base_lr, double start_factor, double end_factor,
                               int64_t total_iters) {
    nb_schedule s = blank(NB_SCHED_LINEAR, base_lr);
    s.start_factor = start_factor;
    s.end_factor = end_factor;
    s.total_iters = total_iters;
    return s;
}

nb_schedule nb_schedule_warmup(nb_schedule after, int64_t steps, double start_factor) {
    after.warmup_steps = steps;
    after.warmup_start_factor = start_factor;
    /* steps <= 0 is recorded as invalid, for nb_schedule_check to report */
    if (steps <= 0) after.warmup_steps = -1;
    return after;
}

#define BAD(...) nbi_error(NB_ERR_ARG, "nb_schedule: " __VA_ARGS__)

nb_status nb_schedule_check(const nb_schedule *s) {
    if (!s) return BAD("schedule is NULL");
    if (!isfinite(s->base_lr) || s->base_lr < 0.0)
        return BAD("base_lr must be finite and >= 0, got %g", s->base_lr);
    if (s->warmup_steps < 0) return BAD("warmup needs at least 1 step");
    if (s->warmup_steps > 0 && !(s->warmup_start_factor > 0.0 && s->warmup_start_factor <= 1.0))
        return BAD("the warmup's start_factor must be in (0, 1], got %g", s->warmup_start_factor);
    switch (s->kind) {
    case NB_SCHED_CONSTANT:
        return NB_OK;
    case NB_SCHED_STEP:
        if (s->step_size < 1)
            return BAD("step: step_size must be >= 1, got %lld", (long long)s->step_size);
        if (!isfinite(s->gamma) || s->gamma < 0.0)
            return BAD("gamma must be finite and >= 0, got %g", s->gamma);
        return NB_OK;
    case NB_SCHED_EXPONENTIAL:
        if (!isfinite(s->gamma) || s->gamma < 0.0)
            return BAD("gamma must be finite and >= 0, got %g", s->gamma);
        return NB_OK;
    case NB_SCHED_MULTISTEP:
        if (s->n_milestones < 0 || s->n_milestones > NB_SCHEDULE_MAX_MILESTONES)
            return BAD("multistep: need 0..%d milestones (and a non-NULL array)",
                       NB_SCHEDULE_MAX_MILESTONES);
        for (int i = 1; i < s->n_milestones; i++)
            if (s->milestones[i] <= s->milestones[i - 1])
                return BAD("multistep: milestones must increase (milestone %d is %lld after "
                           "%lld)",
                           i, (long long)s->milestones[i], (long long)s->milestones[i - 1]);
        if (!isfinite(s->gamma) || s->gamma < 0.0)
            return BAD("gamma must be finite and >= 0, got %g", s->gamma);
        return NB_OK;
    case NB_SCHED_COSINE:
        if (s->t_max < 1) return BAD("cosine: t_max must be >= 1, got %lld", (long long)s->t_max);
        if (!isfinite(s->eta_min) || s->eta_min < 0.0)
            return BAD("cosine: eta_min must be finite and >= 0, got %g", s->eta_min);
        return NB_OK;
    case NB_SCHED_LINEAR:
        if (!(s->start_factor > 0.0 && s->start_factor <= 1.0))
            return BAD("linear: start_factor must be in (0, 1], got %g", s->start_factor);
        if (!(s->end_factor >= 0.0 && s->end_factor <= 1.0))
            return BAD("linear: end_factor must be in [0, 1], got %g", s->end_factor);
        if (s->total_iters < 1)
            return BAD("linear: total_iters must be >= 1, got %lld", (long long)s->total_iters);
        return NB_OK;
    }
    return BAD("unknown kind %d", (int)s->kind);
}

double nb_schedule_lr(const nb_schedule *s, int64_t t) {
    if (nb_schedule_check(s) != NB_OK) return NAN;
    if (t < 0) {
        nbi_error(NB_ERR_ARG, "nb_schedule_lr: step %lld is negative", (long long)t);
        return NAN;
    }
    const double base = s->base_lr;
    if (s->warmup_steps > 0) {
        /* LinearLR from start_factor to 1, then the schedule restarted at 0 */
        if (t < s->warmup_steps) {
            double f = s->warmup_start_factor;
            return base * (f + (1.0 - f) * (double)t / (double)s->warmup_steps);
        }
        t -= s->warmup_steps;
    }
    switch (s->kind) {
    case NB_SCHED_CONSTANT:
        return base;
    case NB_SCHED_STEP: /* base · γ^⌊t / step_size⌋ */
        return base * pow(s->gamma, (double)(t / s->step_size));
    case NB_SCHED_MULTISTEP: { /* base · γ^(milestones passed) */
        int k = 0;
        while (k < s->n_milestones && s->milestones[k] <= t) k++;
        return base * pow(s->gamma, (double)k);
    }
    case NB_SCHED_EXPONENTIAL:
        return base * pow(s->gamma, (double)t);
    case NB_SCHED_COSINE: { /* η_min + (base − η_min)(1 + cos(π t / T))/2 */
        const double pi = 3.14159265358979323846;
        return s->eta_min +
               (base - s->eta_min) * (1.0 + cos(pi * (double)t / (double)s->t_max)) / 2.0;
    }
    case NB_SCHED_LINEAR: {
        double tt = (double)(t < s->total_iters ? t : s->total_iters);
        return base *
               (s->start_factor + (s->end_factor - s->start_factor) * tt / (double)s->total_iters);
    }
    }
    return NAN;
}
