/* io/train_state.c — the state of a training run (nabla/train_state.h): made fresh from a seed,
 * and checked, in one place, wherever one comes from outside — a model file read by
 * model_load.c, a state handed to nb_fit — so that a crafted file cannot drive a count past
 * what the loops and the optimizer's step counter can hold (an epoch of 2^63 − 1 overflowed
 * `epoch + 1`; a step count at INT64_MAX overflowed Adam's t and trained to NaN). It lives in
 * io/ because the model-file reader, which is below train/, needs it. */
#include "base/base.h"
#include "nabla/optim.h"
#include "nabla/train_state.h"

#include <math.h>
#include <string.h>

_Static_assert(NB_TRAIN_MAX_STEPS == NB_OPTIM_MAX_STEPS,
               "a state's step count is the optimizer's: one limit for both");

void nb_train_state_init(nb_train_state *st, uint64_t seed) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    st->version = NB_TRAIN_STATE_VERSION;
    nb_rng root;
    nb_rng_seed(&root, seed);
    st->shuffle_rng = nb_rng_split(&root);
    st->dropout_rng = nb_rng_split(&root);
    st->best = NAN;
}

static bool rng_is_zero(const nb_rng *r) {
    return (r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0;
}

nb_status nb_train_state_check(const nb_train_state *st) {
    const char *fn = "training state";
    if (!st) return nbi_error(NB_ERR_ARG, "%s is NULL", fn);
    if (st->version != 0 && st->version != NB_TRAIN_STATE_VERSION)
        return nbi_error(NB_ERR_ARG, "%s: version %d is not %d (made by another nabla?)", fn,
                         st->version, NB_TRAIN_STATE_VERSION);
    const struct {
        const char *name;
        int64_t v, hi;
    } counts[] = {
        {"epoch", st->epoch, NB_TRAIN_MAX_EPOCHS},
        {"step", st->step, NB_TRAIN_MAX_STEPS},
        {"best_epoch", st->best_epoch, st->epoch},
        {"wait", st->wait, st->epoch},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i].v < 0 || counts[i].v > counts[i].hi)
            return nbi_error(NB_ERR_ARG, "%s: %s %lld is out of range [0, %lld]%s", fn,
                             counts[i].name, (long long)counts[i].v, (long long)counts[i].hi,
                             i >= 2 ? " (the epochs completed)" : "");
    if (st->stopped != 0 && st->stopped != 1)
        return nbi_error(NB_ERR_ARG, "%s: stopped must be 0 or 1, got %d", fn, st->stopped);
    if (st->version == NB_TRAIN_STATE_VERSION &&
        (rng_is_zero(&st->shuffle_rng) || rng_is_zero(&st->dropout_rng)))
        return nbi_error(NB_ERR_ARG,
                         "%s: a generator's state is all zero (not a started run; "
                         "make one with nb_train_state_init)",
                         fn);
    return NB_OK;
}
