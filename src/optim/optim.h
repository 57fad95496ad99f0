/* optim/optim.h — internals of the optimizers: one struct for all of them, with the
 * algorithm's update in a small table (one file per algorithm), its settings in a union, and
 * its state in one flat buffer cut into slots (momentum, first and second moments, ...). */
#ifndef NBI_OPTIM_H
#define NBI_OPTIM_H

#include "kernels/backend.h"
#include "nn/nn.h"
#include "nabla/optim.h"

#define NBI_OPTIM_MAX_SLOTS 3

typedef struct nbi_optim_vt {
    const char *name;
    nb_optim_kind kind;
    const char *slots[NBI_OPTIM_MAX_SLOTS]; /* PyTorch's names of the state slots, in order */
    /* One update of elements [i0, i1) of the store's flat buffers (values, gradients and
     * state slots alike) at learning rate lr with weight decay wd (the setting, or 0 for
     * parameters exempt from decay); o->t is the number of steps taken before this one.
     * Allocates nothing. */
    void (*step)(nb_optim *o, int64_t i0, int64_t i1, double lr, double wd);
} nbi_optim_vt;

/* A run of consecutive parameters that weight decay applies to, or not: elements
 * [begin, end) of the flat buffers. */
typedef struct nbi_decay_run {
    int64_t begin, end;
    bool decay;
} nbi_decay_run;

struct nb_optim {
    const nbi_optim_vt *vt;
    nb_params *ps;
    int64_t n;                        /* parameter count when made */
    float *state;                     /* n_slots * n floats, one allocation */
    float *slot[NBI_OPTIM_MAX_SLOTS]; /* views into state */
    int n_slots;
    int64_t t; /* steps taken */
    double lr;
    nb_schedule sched;
    int has_sched;
    nb_decay decay;      /* which parameters weight decay applies to */
    nbi_decay_run *runs; /* NB_DECAY_MATRICES: the store cut into runs (NULL: all decay) */
    int n_runs;
    union {
        nb_sgd_opts sgd;
        nb_adam_opts adam;
        nb_rmsprop_opts rmsprop;
        nb_adagrad_opts adagrad;
    } opt;
};

/* State slot k from element i0 on, or NULL where the optimizer keeps no such slot. */
static inline float *nbi_optim_slot(const nb_optim *o, int k, int64_t i0) {
    return o->slot[k] ? o->slot[k] + i0 : NULL;
}

/* Makes an optimizer over ps with n_slots zeroed state slots; `fn` names the caller in
 * errors. The caller fills o->opt. */
nb_optim *nbi_optim_new(const char *fn, const nbi_optim_vt *vt, nb_params *ps, double lr,
                        int n_slots);

/* Fills the settings an optimizer runs with: every unset field (+0.0) takes PyTorch's default
 * for the kind, and NB_ZERO becomes a plain 0.0 (config.c holds the one table of defaults). */
void nbi_optim_resolve(nb_optim_config *c);
/* Spells every zero of resolved settings NB_ZERO: the complete, explicit form that
 * nb_optim_get_config returns and nb_optim_new turns back into the same optimizer. */
void nbi_optim_spell(nb_optim_config *c);
/* Checks that a hyperparameter is finite and >= lo (and < hi when hi > lo). */
nb_status nbi_check_hyper(const char *fn, const char *what, double v, double lo, double hi);

#endif
