/* train/step_replay.c — nb_step: a training step that is recorded once and then replayed.
 *
 * The eager step (nb_ctx_reset, forward, loss, zero_grad, backward, the update) builds a graph,
 * infers shapes, allocates and records a tape every time, though on inputs of fixed shapes it
 * calls the same kernels on the same arena blocks each time. nb_step runs its first step
 * eagerly in a context of its own while autograd/replay.c records the kernel calls of the
 * forward, loss and backward; later steps copy the new batch into the recorded input buffers,
 * zero the gradients, replay the calls and run the optimizer (live: its state and step count
 * change every step). The result is the eager step's, bit for bit: the same kernels on the
 * same numbers in the same order (tests/test_step_replay.c).
 *
 * A replay needs what the recording assumed: the same input shapes and dtypes (else the step
 * records again), the same parameter buffers (a model that grew) and mode, inputs that need
 * no gradient of their own, and a step made only of replayable ops (autograd/replay.h: no
 * dropout, batch norm, convolution, sequence op; no check mode). A step that cannot be
 * replayed runs eagerly, and nb_step_eager_reason says why (or, with require_replay, it is
 * an error before the update). */
#include "autograd/replay.h"
#include "kernels/gemm/tiny.h"
#include "nn/model.h"
#include "optim/optim.h"
#include "tensor/ctx.h"
#include "tensor/tensor.h"
#include "train/train.h"

#include <string.h>

/* A recording of one pair of input shapes, in a context of its own. Two of them: fit's epoch
 * is full batches and a last, smaller one, and both are replayed without recording again. */
#define NBI_STEP_SLOTS 2
typedef struct step_slot {
    nb_ctx *ctx;
    nb_tensor *x, *y; /* the slot's own inputs (heap): the recorded buffers read them */
    nbi_rec *rec;     /* the recording's storage, kept and recorded again into */
    int valid;        /* rec holds a replayable recording of x and y's shapes */
    int pending;      /* recording: between an eager forward and its backward */
    int64_t split;    /* the recording's calls [0, split) are the forward and loss */
    nb_tensor *out, *loss;
    uint64_t used; /* when last used: the least recent is replaced */
    char why[320]; /* "": the recording replays (or none was tried yet) */
} step_slot;

struct nb_step {
    nb_model *model;
    nb_params *ps; /* the model's store (the object stays; its buffers may move) */
    nb_optim *opt;
    nb_step_def def;
    step_slot slot[NBI_STEP_SLOTS];
    step_slot *cur;     /* the last run's */
    step_slot *pending; /* the slot recording between an eager forward and its backward */
    int replaying;      /* cur's forward just run was a replay */
    uint64_t clock;
    /* what the recordings assumed of the model */
    const float *p_data, *p_grad;
    int64_t p_numel;
    int training;
    int64_t replays;
};

nb_step *nb_step_new(nb_model *model, nb_optim *opt, const nb_step_def *def) {
    if (!model || !opt) {
        nbi_error(NB_ERR_ARG, "nb_step_new: %s is NULL", !model ? "the model" : "the optimizer");
        return NULL;
    }
    nb_step_def d;
    if (def)
        d = *def;
    else
        memset(&d, 0, sizeof d);
    if (!d.loss_fn && !nb_loss_name(d.loss)) {
        nbi_error(NB_ERR_ARG, "nb_step_new: unknown loss kind %d", (int)d.loss);
        return NULL;
    }
    nb_step *s = nbi_malloc(sizeof *s);
    if (!s) {
        nbi_error(NB_ERR_NOMEM, "nb_step_new: out of memory");
        return NULL;
    }
    memset(s, 0, sizeof *s);
    s->model = model;
    s->ps = nb_model_params(model);
    s->opt = opt;
    s->def = d;
    s->def.ctx = NULL; /* used here only */
    s->cur = &s->slot[0];
    for (int i = 0; i < NBI_STEP_SLOTS; i++)
        if (!(s->slot[i].ctx = nb_ctx_new(d.ctx))) {
            nb_step_free(s);
            return NULL;
        }
    return s;
}

void nb_step_free(nb_step *s) {
    if (!s) return;
    for (int i = 0; i < NBI_STEP_SLOTS; i++) {
        step_slot *k = &s->slot[i];
        if (k->pending) nbi_rec_end(k->ctx, k->rec);
        nbi_rec_free(k->rec);
        nb_tensor_free(k->x);
        nb_tensor_free(k->y);
        nb_ctx_free(k->ctx);
    }
    nbi_free(s);
}

/* Does t (may be NULL) have own's dtype and shape, contiguous? One pass, inlined: this is
 * the check every replayed step makes. */
static inline int fits(const nb_tensor *own, const nb_tensor *t) {
    if (!own || !t) return own == t;
    if (own->dtype != t->dtype || own->rank != t->rank) return 0;
    int64_t st = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        if (t->shape[i] != own->shape[i] || (t->shape[i] != 1 && t->stride[i] != st)) return 0;
        st *= t->shape[i];
    }
    return 1;
}

/* The slot's own copy of an input t into *own, (re)made when t's shape or dtype differs
 * (known_fit: the caller knows it does not). */
static nb_status take_input(step_slot *k, nb_tensor **own, const nb_tensor *t, int known_fit) {
    if (!t) {
        nb_tensor_free(*own);
        *own = NULL;
        return NB_OK;
    }
    if (!known_fit && !fits(*own, t)) {
        nb_tensor_free(*own);
        *own = nb_tensor_new(NULL, t->dtype, t->rank, t->shape);
        if (!*own) return NB_ERR_NOMEM; /* the message is nb_tensor_new's */
    }
    const nbi_backend *be = k->ctx->be;
    const size_t bytes = (size_t)t->numel * nbi_dtype_size(t->dtype);
    if (be->k) /* a CPU back end (host memory): its copy is this memcpy, without the call */
        memcpy((*own)->data, t->data, bytes);
    else
        be->copy(be, (*own)->data, t->data, bytes);
    return NB_OK;
}

static nb_tensor *step_loss(nb_step *s, step_slot *k, nb_tensor *out) {
    if (s->def.loss_fn) return s->def.loss_fn(k->ctx, out, k->y, s->def.user);
    return nb_loss_apply(k->ctx, s->def.loss, out, k->y);
}

static float read_loss(const step_slot *k) {
    const nbi_backend *be = k->ctx->be;
    if (be->k) return *(const float *)k->loss->data; /* a CPU back end: host memory */
    float v;
    be->to_host(be, &v, k->loss->data, sizeof v);
    return v;
}

/* Is the model as the recordings found it: the same parameter buffers and mode? The fields
 * read in place, as every replayed step asks (nb_params_grad would make a missing gradient
 * buffer: then the pointers differ either way, and the step records again). */
static int same_model(const nb_step *s) {
    const nb_params *ps = s->ps;
    return s->p_data == ps->data && s->p_grad == ps->grad && s->p_numel == ps->numel &&
           s->training == s->model->training;
}

static void note_model(nb_step *s) {
    nb_params *ps = s->ps;
    s->p_data = nb_params_data(ps);
    s->p_grad = nb_params_grad(ps);
    s->p_numel = nb_params_numel(ps);
    s->training = nb_model_training(s->model);
}

/* Ends a recording left between a forward and its backward (an error between them). */
static void drop_pending(step_slot *k) {
    if (!k->pending) return;
    nbi_rec_end(k->ctx, k->rec);
    k->pending = 0;
}

/* ---- the two halves: forward and loss, then zero_grad and backward ------------------------
 * nb_train_step checks the loss between them (a loss that is not finite stops the step before
 * the gradients are touched), so a step is recorded, and replayed, in two parts. */

/* The eager forward and loss in slot k, recorded when they can be (until the backward). */
static nb_status eager_forward(nb_step *s, step_slot *k, nb_rng *rng) {
    static const char fn[] = "nb_step_run";
    k->valid = 0;
    k->out = k->loss = NULL;
    nb_ctx_reset(k->ctx);
    if (!k->why[0]) {
        nb_status r = nbi_rec_begin(k->ctx, &k->rec);
        if (r == NB_ERR_NOMEM) return r;
        if (r != NB_OK) snprintf(k->why, sizeof k->why, "%s", nb_last_error());
        k->pending = r == NB_OK;
    }
    nb_tensor *out = nb_model_forward_rng(s->model, k->ctx, k->x, rng);
    nb_tensor *l = step_loss(s, k, out);
    nb_status st = NB_OK;
    if (!l) {
        st = nb_ctx_status(k->ctx);
        if (st == NB_OK) st = nbi_error(NB_ERR_ARG, "%s: the loss function returned NULL", fn);
    } else if (l->numel != 1 || l->dtype != NB_F32) {
        char b[96];
        st = nbi_error(NB_ERR_SHAPE, "%s: the loss must be one f32 element, got %s", fn,
                       nb_shape_str(l, b, sizeof b));
    }
    if (st != NB_OK) {
        if (k->pending) {
            char msg[320];
            snprintf(msg, sizeof msg, "%s", nb_last_error()); /* the step's error stands */
            drop_pending(k);
            nbi_error(st, "%s", msg);
        }
        return st;
    }
    k->split = k->pending ? nbi_rec_calls(k->rec) : 0;
    if (k->pending) s->pending = k;
    k->out = out;
    k->loss = l;
    return NB_OK;
}

/* The eager zero_grad and backward; the recording, if any, is kept when it can be replayed. */
static nb_status eager_backward(nb_step *s, step_slot *k) {
    nb_optim_zero_grad(s->opt);
    nb_status st = nb_backward(k->ctx, k->loss);
    if (k->pending) {
        char msg[320];
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        k->pending = 0;
        s->pending = NULL;
        nb_status r = nbi_rec_end(k->ctx, k->rec);
        if (st != NB_OK) return nbi_error(st, "%s", msg);
        if (r == NB_ERR_NOMEM) return r;
        if (r != NB_OK)
            snprintf(k->why, sizeof k->why, "%s", nb_last_error());
        else
            k->valid = 1;
    }
    note_model(s); /* after the forward: it makes the gradient buffer on first use */
    return st;
}

/* The slot for inputs like x and y: the one that holds their shapes, else the least recently
 * used (its recording dropped). */
static step_slot *slot_for(nb_step *s, const nb_tensor *x, const nb_tensor *y) {
    step_slot *best = &s->slot[0];
    for (int i = 0; i < NBI_STEP_SLOTS; i++) {
        step_slot *k = &s->slot[i];
        if (k->x && fits(k->x, x) && fits(k->y, y)) return k;
        if (k->used < best->used) best = k;
    }
    best->valid = 0;
    best->why[0] = '\0';
    return best;
}

nb_status nbi_step_forward(nb_step *s, const nb_tensor *x, const nb_tensor *y, nb_rng *rng,
                           nb_tensor **out, float *loss) {
    static const char fn[] = "nb_step_run";
    if (!s || !x) return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, !s ? "the step" : "x");
    if ((x->flags & NB_TF_REQUIRES_GRAD) || (y && (y->flags & NB_TF_REQUIRES_GRAD)))
        return nbi_error(NB_ERR_ARG,
                         "%s: %s requires a gradient; a step trains the model's parameters "
                         "only (use the eager path for gradients of inputs)",
                         fn, (x->flags & NB_TF_REQUIRES_GRAD) ? "x" : "y");
    if (s->pending) drop_pending(s->pending);
    s->pending = NULL;
    if (!same_model(s)) /* new buffers or mode: every recording is made again */
        for (int i = 0; i < NBI_STEP_SLOTS; i++) {
            s->slot[i].valid = 0;
            s->slot[i].why[0] = '\0';
        }
    step_slot *k = s->cur; /* the last run's slot, most often the one */
    const int same = fits(k->x, x) && fits(k->y, y);
    if (!same) {
        if (!nb_tensor_is_contiguous(x) || (y && !nb_tensor_is_contiguous(y)))
            return nbi_error(NB_ERR_ARG, "%s: %s is not contiguous (make it so with nb_contiguous)",
                             fn, !nb_tensor_is_contiguous(x) ? "x" : "y");
        k = s->cur = slot_for(s, x, y);
    }
    k->used = ++s->clock;
    s->replaying = 0;
    nb_status st = NB_OK;
    if (same && k->ctx->be->k) { /* the usual step: the batch into the same inputs, host memory */
        memcpy(k->x->data, x->data, (size_t)x->numel * nbi_dtype_size(x->dtype));
        if (y) memcpy(k->y->data, y->data, (size_t)y->numel * nbi_dtype_size(y->dtype));
    } else {
        st = take_input(k, &k->x, x, same);
        if (st == NB_OK) st = take_input(k, &k->y, y, same);
    }
    if (st != NB_OK) {
        k->valid = 0;
        return st;
    }
    st = NB_ERR_STATE;
    if (k->valid) {
        st = nbi_rec_replay(k->rec, 0, k->split);
        if (st != NB_OK && st != NB_ERR_STATE) return st;
        s->replaying = st == NB_OK;
    }
    /* no recording, or a check answered otherwise than recorded: eager (the op's error) */
    if (st == NB_ERR_STATE && (st = eager_forward(s, k, rng)) != NB_OK) return st;
    if (out) *out = k->out;
    if (loss) *loss = read_loss(k);
    return NB_OK;
}

/* nb_optim_zero_grad before a replayed backward: a tiny store's gradient (host memory, the
 * default back end's, always a CPU one; the forward just checked the buffer is the recorded
 * one) cleared here, the back end's fill of zeros costing more than the stores; any other
 * through the optimizer. */
static void zero_grad(nb_step *s) {
    if (s->opt->ps == s->ps && s->p_grad && s->p_numel <= 64)
        nbi_tiny_fill(s->p_numel, (float *)s->p_grad, 0.0f);
    else
        nb_optim_zero_grad(s->opt);
}

nb_status nbi_step_backward(nb_step *s) {
    step_slot *k = s->cur;
    if (!s->replaying) return eager_backward(s, k);
    s->replaying = 0;
    zero_grad(s);
    nb_status st = nbi_rec_replay(k->rec, k->split, nbi_rec_calls(k->rec));
    if (st == NB_ERR_STATE) /* only the forward validates; kept for safety */
        st = nbi_error(st, "nb_step_run: a replayed backward's check answered otherwise");
    if (st == NB_OK) s->replays++;
    return st;
}

nb_status nb_step_run(nb_step *s, const nb_tensor *x, const nb_tensor *y, float *loss) {
    nb_status st = nbi_step_forward(s, x, y, s ? s->def.dropout_rng : NULL, NULL, loss);
    if (st == NB_OK) st = nbi_step_backward(s);
    if (st != NB_OK) return st;
    if (s->def.require_replay && !s->cur->valid)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "nb_step_run: this step cannot be replayed (%s); the parameters are "
                         "those before the step",
                         s->cur->why);
    return nb_optim_step(s->opt);
}

nb_loss_kind nbi_step_loss(const nb_step *s) {
    return s->def.loss_fn ? (nb_loss_kind)-1 : s->def.loss;
}

nb_tensor *nb_step_output(const nb_step *s) {
    return s ? s->cur->out : NULL;
}

int64_t nb_step_replays(const nb_step *s) {
    return s ? s->replays : 0;
}

const char *nb_step_eager_reason(const nb_step *s) {
    return s && s->cur->why[0] ? s->cur->why : NULL;
}
