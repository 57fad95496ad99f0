/* autograd/replay.h — recording the kernel calls of a forward and backward pass, and replaying
 * them.
 *
 * A training step on tensors of fixed shapes does the same thing every time: the same ops on
 * the same shapes, the same arena blocks (the arena is bump-allocated in a fixed order, and the
 * sweep's free list reuses blocks in a fixed order), hence the same kernel calls with the same
 * pointers and sizes. Only the numbers in the buffers change. A recording installs a back end
 * in the context that passes every call on to the real one and keeps it (entry, arguments,
 * and the value it returned); replaying calls the real back end's entries again in that order,
 * with no graph, no shape inference, no tape and no allocation — or, for a small call on the
 * CPU back end, the kernel its entry would run, with the same bits (replay.c, resolve).
 *
 * It is exact as long as everything the pass writes is written by a recorded kernel call,
 * which the recording checks: every op applied while recording must be one whose forward and
 * backward reach memory through the recorded entries alone and draw nothing at random
 * (nbi_rec_end names the first that is not: dropout, batch norm, convolutions, ...), check mode
 * must be off and no gradient-ready hook set. The arena must not be reset between the
 * recording and its replays: the recorded pointers are its blocks. */
#ifndef NBI_REPLAY_H
#define NBI_REPLAY_H

#include "base/base.h"
#include "tensor/ctx.h"

typedef struct nbi_rec nbi_rec;

/* Starts recording ctx's kernel calls: installs the recording back end. *io NULL: a new
 * recording is made (*io set); else that one is recorded again, in its storage (a steady
 * state allocates nothing). NB_ERR_NOMEM, or NB_ERR_UNSUPPORTED (message set) when ctx
 * cannot be recorded (check mode, a gradient-ready hook, a recording already on). */
nb_status nbi_rec_begin(nb_ctx *ctx, nbi_rec **io);

/* Stops recording and gives ctx its back end again. NB_OK when the recording can be
 * replayed; otherwise NB_ERR_UNSUPPORTED with a message naming what cannot be (an op, an
 * entry), or NB_ERR_NOMEM. The recording is kept either way (free it with nbi_rec_free, or
 * record again into it). */
nb_status nbi_rec_end(nb_ctx *ctx, nbi_rec *r);

/* Replays recorded calls [from, to) in order on the real back end (a pass is replayed in
 * parts when something happens between them: the step checks its loss before backward, as
 * the eager step does). NB_OK; NB_ERR_STATE (no message)
 * when a validating entry (a probability outside [0, 1], a label outside the classes) answered
 * otherwise than while recording, so that the caller can run the step eagerly instead, which
 * stops with the op's own error; or a GEMM's error. */
nb_status nbi_rec_replay(const nbi_rec *r, int64_t from, int64_t to);

/* How many kernel calls were recorded (so far, while recording). */
int64_t nbi_rec_calls(const nbi_rec *r);

void nbi_rec_free(nbi_rec *r);

#endif
