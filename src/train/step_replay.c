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
#include "tensor/ctx.h"
#include "tensor/tensor.h"
#include "train/train.h"

#include <string.h>

struct nb_step {
    nb_model *model;
    nb_params *ps; /* the model's store (the object stays; its buffers may move) */
    nb_optim *opt;
    nb_step_def def;
    nb_ctx *ctx;
    nb_tensor *x, *y; /* the step's own inputs (heap): the recorded buffers read them */
    nbi_rec *rec;     /* NULL: none, or the last one could not be replayed */
    nb_tensor *out, *loss;
    /* what the recording assumed */
    const float *p_data, *p_grad;
    int64_t p_numel;
    int training;
    int64_t replays;
    char why[320]; /* "": the recording replays (or none was tried yet) */
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
    s->ctx = nb_ctx_new(d.ctx);
    if (!s->ctx) {
        nbi_free(s);
        return NULL;
    }
    return s;
}

void nb_step_free(nb_step *s) {
    if (!s) return;
    nbi_rec_free(s->rec);
    nb_tensor_free(s->x);
    nb_tensor_free(s->y);
    nb_ctx_free(s->ctx);
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

/* The step's own copy of an input t into *own, (re)made when t's shape or dtype differs. */
static nb_status take_input(nb_step *s, nb_tensor **own, const nb_tensor *t) {
    if (!t) {
        nb_tensor_free(*own);
        *own = NULL;
        return NB_OK;
    }
    if (!fits(*own, t)) {
        nb_tensor_free(*own);
        *own = nb_tensor_new(NULL, t->dtype, t->rank, t->shape);
        if (!*own) return NB_ERR_NOMEM; /* the message is nb_tensor_new's */
    }
    const nbi_backend *be = s->ctx->be;
    be->copy(be, (*own)->data, t->data, (size_t)t->numel * nbi_dtype_size(t->dtype));
    return NB_OK;
}

static nb_tensor *step_loss(nb_step *s, nb_tensor *out) {
    if (s->def.loss_fn) return s->def.loss_fn(s->ctx, out, s->y, s->def.user);
    return nb_loss_apply(s->ctx, s->def.loss, out, s->y);
}

static float read_loss(const nb_step *s) {
    float v;
    s->ctx->be->to_host(s->ctx->be, &v, s->loss->data, sizeof v);
    return v;
}

/* Is the model as the last recording (or attempt) found it: the same parameter buffers and
 * mode? */
static int same_model(const nb_step *s) {
    nb_params *ps = s->ps;
    return s->p_data == nb_params_data(ps) && s->p_grad == nb_params_grad(ps) &&
           s->p_numel == nb_params_numel(ps) && s->training == nb_model_training(s->model);
}

static void note_model(nb_step *s) {
    nb_params *ps = s->ps;
    s->p_data = nb_params_data(ps);
    s->p_grad = nb_params_grad(ps);
    s->p_numel = nb_params_numel(ps);
    s->training = nb_model_training(s->model);
}

/* The eager step, recorded when it can be. */
static nb_status eager_step(nb_step *s, float *loss) {
    static const char fn[] = "nb_step_run";
    nbi_rec_free(s->rec);
    s->rec = NULL;
    s->out = s->loss = NULL;
    nb_ctx_reset(s->ctx);
    nbi_rec *rec = NULL;
    if (!s->why[0]) {
        nb_status r = nbi_rec_begin(s->ctx, &rec);
        if (r == NB_ERR_NOMEM) return r;
        if (r != NB_OK) snprintf(s->why, sizeof s->why, "%s", nb_last_error());
    }
    nb_tensor *out = nb_model_forward_rng(s->model, s->ctx, s->x, s->def.dropout_rng);
    nb_tensor *l = step_loss(s, out);
    nb_status st = NB_OK;
    if (!l) {
        st = nb_ctx_status(s->ctx);
        if (st == NB_OK) st = nbi_error(NB_ERR_ARG, "%s: the loss function returned NULL", fn);
    } else if (l->numel != 1 || l->dtype != NB_F32) {
        char b[96];
        st = nbi_error(NB_ERR_SHAPE, "%s: the loss must be one f32 element, got %s", fn,
                       nb_shape_str(l, b, sizeof b));
    } else {
        nb_optim_zero_grad(s->opt);
        st = nb_backward(s->ctx, l);
    }
    if (rec) {
        char msg[320];
        snprintf(msg, sizeof msg, "%s", nb_last_error()); /* the step's error, if any */
        nb_status r = nbi_rec_end(s->ctx, rec);
        if (st != NB_OK) {
            nbi_rec_free(rec);
            return nbi_error(st, "%s", msg);
        }
        if (r == NB_ERR_NOMEM) {
            nbi_rec_free(rec);
            return r;
        }
        if (r != NB_OK) {
            snprintf(s->why, sizeof s->why, "%s", nb_last_error());
            nbi_rec_free(rec);
        } else {
            s->rec = rec;
        }
    }
    note_model(s); /* after the forward: it makes the gradient buffer on first use */
    if (st != NB_OK) return st;
    if (s->def.require_replay && !s->rec)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: this step cannot be replayed (%s); the parameters are those "
                         "before the step",
                         fn, s->why);
    s->out = out;
    s->loss = l;
    if (loss) *loss = read_loss(s);
    return nb_optim_step(s->opt);
}

nb_status nb_step_run(nb_step *s, const nb_tensor *x, const nb_tensor *y, float *loss) {
    static const char fn[] = "nb_step_run";
    if (!s || !x) return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, !s ? "the step" : "x");
    if ((x->flags & NB_TF_REQUIRES_GRAD) || (y && (y->flags & NB_TF_REQUIRES_GRAD)))
        return nbi_error(NB_ERR_ARG,
                         "%s: %s requires a gradient; a step trains the model's parameters "
                         "only (use the eager path for gradients of inputs)",
                         fn, (x->flags & NB_TF_REQUIRES_GRAD) ? "x" : "y");
    if (!fits(s->x, x) || !fits(s->y, y) || !same_model(s)) {
        if (!nb_tensor_is_contiguous(x) || (y && !nb_tensor_is_contiguous(y)))
            return nbi_error(NB_ERR_ARG, "%s: %s is not contiguous (make it so with nb_contiguous)",
                             fn, !nb_tensor_is_contiguous(x) ? "x" : "y");
        nbi_rec_free(s->rec); /* new shapes, buffers or mode: record again */
        s->rec = NULL;
        s->why[0] = '\0';
    }
    nb_status st = take_input(s, &s->x, x);
    if (st == NB_OK) st = take_input(s, &s->y, y);
    if (st != NB_OK) return st;
    if (!s->rec) return eager_step(s, loss);

    nb_optim_zero_grad(s->opt);
    st = nbi_rec_replay(s->rec);
    if (st == NB_ERR_STATE)
        return eager_step(s, loss); /* a check answered otherwise: the op's error */
    if (st != NB_OK) return st;
    s->replays++;
    if (loss) *loss = read_loss(s);
    return nb_optim_step(s->opt);
}

nb_tensor *nb_step_output(const nb_step *s) {
    return s ? s->out : NULL;
}

int64_t nb_step_replays(const nb_step *s) {
    return s ? s->replays : 0;
}

const char *nb_step_eager_reason(const nb_step *s) {
    return s && s->why[0] ? s->why : NULL;
}
