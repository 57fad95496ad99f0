/* nabla/train_state.h — the state of a training run: everything fit needs, besides the model's
 * parameters and the optimizer's state (nb_optim_state_buffer, nb_optim_set_step_count in
 * optim.h), to continue a run bit for bit.
 *
 * One plain struct for every side: fit (train.h) starts and advances it, a checkpoint
 * callback receives it, a model file (io.h: nb_save_opts.run, nb_model_file.run) stores and
 * restores it, so nothing is copied field by field. The schedule's position is `step` for
 * per-step schedules and `epoch` for per-epoch ones.
 *
 *     nb_model_file info;
 *     nb_model_load("ckpt.safetensors", &model, &info);     // info.run: checked on reading
 *     nb_fit_opts fo = {.epochs = 20, .state = &info.run};   // continues after info.run.epoch
 *
 * A state that comes from outside (a file, a caller) is checked by nb_train_state_check
 * before use: counts that would overflow the loop or the optimizer's step counter are refused
 * with a message, not run. */
#ifndef NABLA_TRAIN_STATE_H
#define NABLA_TRAIN_STATE_H

#include "nabla/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_TRAIN_STATE_VERSION 1

/* The largest counts a state may hold: 2^30 epochs (a history record each) and 2^53 steps
 * (the optimizer's limit, NB_OPTIM_MAX_STEPS: exact in a double, far from int64 overflow). */
#define NB_TRAIN_MAX_EPOCHS ((int64_t)1 << 30)
#define NB_TRAIN_MAX_STEPS ((int64_t)1 << 53)

typedef struct nb_train_state {
    int version;        /* 0: fresh (fit seeds it from nb_fit_opts.seed); else 1 */
    int64_t epoch;      /* epochs completed */
    int64_t step;       /* optimizer steps taken (= nb_optim_step_count) */
    nb_rng shuffle_rng; /* draws each epoch's sample order */
    nb_rng dropout_rng; /* draws dropout masks in training forwards */
    double best;        /* the monitored metric's best value (NaN: none yet) */
    int64_t best_epoch; /* the epoch that reached it (0: none) */
    int64_t wait;       /* epochs since then without improvement */
    int stopped;        /* 1: early stopping ended the run */
} nb_train_state;

/* A fresh state: version 1, epoch 0, both generators derived from seed (as fit does). */
void nb_train_state_init(nb_train_state *st, uint64_t seed);

/* Checks every field against the bounds a real run can reach: version 0 or 1; 0 <= epoch <=
 * NB_TRAIN_MAX_EPOCHS; 0 <= step <= NB_TRAIN_MAX_STEPS; 0 <= best_epoch <= epoch and
 * 0 <= wait <= epoch; stopped 0 or 1; generators not all zero (a started state). NB_ERR_ARG
 * with a message naming the field and its value otherwise. nb_fit and nb_model_load call it
 * on every state they are given or read. */
nb_status nb_train_state_check(const nb_train_state *st);

#ifdef __cplusplus
}
#endif
#endif
