/* nabla/optim.h — optimizers, learning-rate schedules and gradient clipping.
 *
 * An optimizer works on a parameter store (nb_params, see nn.h): one loop over the flat
 * parameter and gradient buffers, with its own state (momenta, running averages) in one more
 * flat buffer allocated when the optimizer is made. A step allocates nothing. The update
 * rules are torch.optim's, operation for operation in f32 (the tests compare with PyTorch):
 *
 *     nb_optim *opt = nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 1e-2});
 *     for (...) {
 *         nb_optim_zero_grad(opt);
 *         ... forward, loss, nb_backward(ctx, loss) ...
 *         nb_optim_step(opt);
 *         nb_ctx_reset(ctx);
 *     }
 *
 * Options structs are zero-initialised and every field left 0 takes PyTorch's default (the
 * table below), so the line above is torch.optim.Adam(params, lr=1e-2): betas (0.9, 0.999),
 * eps 1e-8. A NULL options pointer is the all-zero struct. Where a real 0 differs from the
 * default (beta1 = 0, AdamW's weight_decay = 0, eps = 0, lr = 0), write NB_ZERO (base.h):
 *
 *     nb_adamw_new(ps, &(nb_adam_opts){.lr = 1e-2, .weight_decay = NB_ZERO});
 *
 * Hyperparameters are doubles, as in Python, so that 0.999 means what PyTorch means by it;
 * the per-element arithmetic is f32. Unlike PyTorch, which skips parameters whose .grad is
 * None, every parameter of the store is updated (a parameter no loss touched has a zero
 * gradient, which still meets weight decay and momentum). */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "nabla/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_optim nb_optim;

/* ---- SGD: torch.optim.SGD ------------------------------------------------------------------
 *   g ← g + wd·p;   b ← g (first step), μ·b + (1 − dampening)·g (after);
 *   d ← g + μ·b (Nesterov) or b (momentum) or g (plain);   p ← p − lr·d
 * Every other field zero is plain gradient descent, so {.lr = 0.1} is a complete setting. */
typedef struct nb_sgd_opts {
    double lr;
    double momentum;
    double dampening;
    double weight_decay;
    int nesterov; /* needs momentum > 0 and dampening 0 */
} nb_sgd_opts;

/* ---- Adam and AdamW: torch.optim.Adam / AdamW ----------------------------------------------
 *   (Adam)  g ← g + wd·p                (AdamW)  p ← p·(1 − lr·wd)
 *   m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²;   v̂ ← max(v̂, v) with amsgrad
 *   p ← p − lr/(1 − β1^t) · m / (sqrt(v or v̂) / sqrt(1 − β2^t) + eps) */
typedef struct nb_adam_opts {
    double lr;
    double beta1, beta2;
    double eps;
    double weight_decay;
    int amsgrad;
} nb_adam_opts;

/* ---- RMSprop: torch.optim.RMSprop ----------------------------------------------------------
 *   g ← g + wd·p;   v ← α·v + (1 − α)·g²;   centered: ḡ ← α·ḡ + (1 − α)·g, v' = v − ḡ²
 *   s = sqrt(v or v') + eps;   momentum: b ← μ·b + g/s, p ← p − lr·b;   else p ← p − lr·g/s */
typedef struct nb_rmsprop_opts {
    double lr;
    double alpha;
    double eps;
    double weight_decay;
    double momentum;
    int centered;
} nb_rmsprop_opts;

/* ---- Adagrad: torch.optim.Adagrad ----------------------------------------------------------
 *   g ← g + wd·p;   clr = lr / (1 + (t − 1)·lr_decay);   S ← S + g²;   p ← p − clr·g/(sqrt(S) + eps)
 * S starts at initial_accumulator_value. */
typedef struct nb_adagrad_opts {
    double lr;
    double lr_decay;
    double weight_decay;
    double initial_accumulator_value;
    double eps;
} nb_adagrad_opts;

/* The defaults of a field left 0 (torch.optim's):
 *   SGD      lr 1e-3, momentum 0, dampening 0, weight decay 0, no Nesterov
 *   Adam     lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, no amsgrad
 *   AdamW    the same with weight decay 0.01
 *   RMSprop  lr 1e-2, alpha 0.99, eps 1e-8, weight decay 0, momentum 0, not centered
 *   Adagrad  lr 1e-2, lr_decay 0, weight decay 0, initial accumulator 0, eps 1e-10
 * (PyTorch's SGD had no default lr before 2.2; it is 1e-3 since.) */

/* Optimizers over every parameter now in `ps` (add no parameters afterwards: the next step
 * reports it). opts NULL is the all-zero struct: every default. Settings are validated here;
 * NULL on error. */
nb_optim *nb_sgd_new(nb_params *ps, const nb_sgd_opts *opts);
nb_optim *nb_adam_new(nb_params *ps, const nb_adam_opts *opts);
nb_optim *nb_adamw_new(nb_params *ps, const nb_adam_opts *opts);
nb_optim *nb_rmsprop_new(nb_params *ps, const nb_rmsprop_opts *opts);
nb_optim *nb_adagrad_new(nb_params *ps, const nb_adagrad_opts *opts);
void nb_optim_free(nb_optim *o); /* NULL is a no-op */

/* One update of every parameter from its gradient. With a schedule attached, the learning
 * rate of step t (t = 0, 1, ...) is the schedule's value at t. */
nb_status nb_optim_step(nb_optim *o);
/* Zeroes the gradients of the optimizer's parameters (nb_params_zero_grad). */
void nb_optim_zero_grad(nb_optim *o);
/* The learning rate of the next step. */
double nb_optim_lr(const nb_optim *o);
/* Sets the learning rate of the next steps (finite, >= 0); detaches any schedule. */
nb_status nb_optim_set_lr(nb_optim *o, double lr);
/* Steps taken so far. */
int64_t nb_optim_step_count(const nb_optim *o);
/* "sgd", "adam", "adamw", "rmsprop", "adagrad". */
const char *nb_optim_name(const nb_optim *o);

/* ---- learning-rate schedules ---------------------------------------------------------------
 * A schedule is a value: a closed-form function from the step number t = 0, 1, 2, ... to a
 * learning rate, equal to what the matching torch.optim.lr_scheduler yields at its t-th
 * step. Make one with a constructor below, then either attach it to an optimizer or ask it
 * for the rate yourself (per epoch, say) and nb_optim_set_lr. */
#define NB_SCHEDULE_MAX_MILESTONES 16

typedef enum nb_schedule_kind {
    NB_SCHED_CONSTANT = 0,
    NB_SCHED_STEP,        /* StepLR */
    NB_SCHED_MULTISTEP,   /* MultiStepLR */
    NB_SCHED_EXPONENTIAL, /* ExponentialLR */
    NB_SCHED_COSINE,      /* CosineAnnealingLR */
    NB_SCHED_LINEAR,      /* LinearLR */
} nb_schedule_kind;

typedef struct nb_schedule {
    nb_schedule_kind kind;
    double base_lr;
    double gamma;                    /* step, multistep, exponential */
    int64_t step_size;               /* step */
    int64_t milestones[NB_SCHEDULE_MAX_MILESTONES]; /* multistep, increasing */
    int n_milestones;
    int64_t t_max;                   /* cosine: half period */
    double eta_min;                  /* cosine: the floor */
    double start_factor, end_factor; /* linear */
    int64_t total_iters;             /* linear */
    int64_t warmup_steps;            /* > 0: a linear warmup comes first (nb_schedule_warmup) */
    double warmup_start_factor;
} nb_schedule;

/*   constant     lr(t) = base
 *   step         base · γ^⌊t / step_size⌋
 *   multistep    base · γ^(number of milestones <= t)
 *   exponential  base · γ^t
 *   cosine       η_min + (base − η_min) · (1 + cos(π t / t_max)) / 2
 *   linear       base · (s + (e − s) · min(t, total_iters) / total_iters) */
nb_schedule nb_schedule_constant(double base_lr);
nb_schedule nb_schedule_step(double base_lr, int64_t step_size, double gamma);
nb_schedule nb_schedule_multistep(double base_lr, const int64_t *milestones, int n,
                                  double gamma);
nb_schedule nb_schedule_exponential(double base_lr, double gamma);
nb_schedule nb_schedule_cosine(double base_lr, int64_t t_max, double eta_min);
nb_schedule nb_schedule_linear(double base_lr, double start_factor, double end_factor,
                               int64_t total_iters);
/* Linear warmup from start_factor·base to base over `steps` steps, then `after` started
 * afresh (its t = 0 at the end of warmup): torch's SequentialLR of a LinearLR and `after`,
 * with the milestone at `steps`. */
nb_schedule nb_schedule_warmup(nb_schedule after, int64_t steps, double start_factor);

/* Checks a schedule's settings; the message names the bad one. */
nb_status nb_schedule_check(const nb_schedule *s);
/* The learning rate at step t >= 0; NaN (with the error set) if the schedule is invalid. */
double nb_schedule_lr(const nb_schedule *s, int64_t t);
/* Attaches a copy of a (checked) schedule: step t then runs at nb_schedule_lr(s, t). */
nb_status nb_optim_set_schedule(nb_optim *o, const nb_schedule *s);

/* ---- optimizers as values, and their state (for model files and resuming) ----------------
 * A configuration names the algorithm and holds its settings, so that a spec file or a
 * checkpoint can describe an optimizer and make it again. The state of an optimizer is its
 * step count, its learning rate (and schedule) and a few slots of per-parameter floats
 * (PyTorch's names: "exp_avg", "exp_avg_sq", "max_exp_avg_sq" for Adam; "momentum_buffer"
 * for SGD; "square_avg", "momentum_buffer", "grad_avg" for RMSprop; "sum" for Adagrad), each
 * slot laid out like the parameter store's flat buffer. Copying all of it into a fresh
 * optimizer of the same configuration over the same store makes the next steps bit-identical. */
typedef enum nb_optim_kind {
    NB_OPTIM_SGD = 0,
    NB_OPTIM_ADAM,
    NB_OPTIM_ADAMW,
    NB_OPTIM_RMSPROP,
    NB_OPTIM_ADAGRAD,
    NB_OPTIM_KIND_COUNT
} nb_optim_kind;

/* Which parameters weight decay applies to. NB_DECAY_MATRICES: only tensors of rank >= 2 —
 * the weights of dense, embedding, recurrent and attention layers — and not biases nor
 * normalisation gains (nanoGPT's recipe: torch.optim with two parameter groups, the second
 * with weight_decay 0). The rule is fixed when set: set it after the last layer is added. */
typedef enum nb_decay {
    NB_DECAY_ALL = 0, /* every parameter (torch.optim's single group) */
    NB_DECAY_MATRICES
} nb_decay;
nb_status nb_optim_set_decay(nb_optim *o, nb_decay which);
nb_decay nb_optim_decay(const nb_optim *o);

typedef struct nb_optim_config {
    nb_optim_kind kind;
    union { /* the member of the kind (adam for NB_OPTIM_ADAMW too) */
        nb_sgd_opts sgd;
        nb_adam_opts adam;
        nb_rmsprop_opts rmsprop;
        nb_adagrad_opts adagrad;
    } u;
    nb_decay decay; /* which parameters the weight decay applies to (default: all) */
} nb_optim_config;

/* "sgd", "adam", "adamw", "rmsprop", "adagrad" (NULL out of range), and back (-1 if unknown). */
const char *nb_optim_kind_name(nb_optim_kind k);
int nb_optim_kind_from_name(const char *name);
/* An optimizer from a configuration (nb_sgd_new, nb_adam_new, ... by kind): zero fields take
 * the defaults, as everywhere, so (nb_optim_config){.kind = NB_OPTIM_ADAM} is a complete
 * Adam. NULL on error. */
nb_optim *nb_optim_new(nb_params *ps, const nb_optim_config *c);
/* The learning rate of a configuration (the member of its kind; 0 when left to the default). */
double nb_optim_config_lr(const nb_optim_config *c);
/* Sets it, whatever the kind: finite and >= 0, and 0 is a real zero (stored as NB_ZERO). */
nb_status nb_optim_config_set_lr(nb_optim_config *c, double lr);
/* The configuration of an optimizer, complete: every default filled in and every zero spelled
 * NB_ZERO, so nb_optim_new(ps, &c) makes the same optimizer. Its lr is the current fixed
 * learning rate (the one it was made with, or the last nb_optim_set_lr), which a schedule,
 * when attached, overrides. */
nb_optim_config nb_optim_get_config(const nb_optim *o);
/* 1 and a copy of the attached schedule in *s, or 0 when none is attached. */
int nb_optim_get_schedule(const nb_optim *o, nb_schedule *s);

/* Number of state slots (0 for plain SGD), a slot's PyTorch name, and its buffer: *n gets the
 * number of floats (the store's parameter count). NULL out of range. */
int nb_optim_state_slots(const nb_optim *o);
const char *nb_optim_state_name(const nb_optim *o, int k);
float *nb_optim_state_buffer(nb_optim *o, int k, int64_t *n);
/* Sets the number of steps taken (what bias corrections and schedules count from), as a
 * checkpoint restores it; 0 <= t <= NB_OPTIM_MAX_STEPS. */
nb_status nb_optim_set_step_count(nb_optim *o, int64_t t);
/* The most steps an optimizer takes (2^53: step counts stay exact in the double arithmetic of
 * bias corrections and schedules, and nowhere near int64 overflow); nb_optim_step refuses the
 * step after it. */
#define NB_OPTIM_MAX_STEPS ((int64_t)1 << 53)

/* ---- gradient clipping (torch.nn.utils) ----------------------------------------------------
 * By global L2 norm, over all gradients of the store as one vector: if norm > max_norm the
 * gradients are scaled by max_norm / (norm + 1e-6). Returns the norm before clipping (NaN,
 * with the error set, on bad arguments). */
float nb_clip_grad_norm(nb_params *ps, float max_norm);
/* By value: every gradient element clamped to [-clip, clip]. */
nb_status nb_clip_grad_value(nb_params *ps, float clip);

#ifdef __cplusplus
}
#endif
#endif
