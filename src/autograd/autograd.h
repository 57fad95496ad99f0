/* autograd/autograd.h — the tape and the op registry.
 *
 * Every op is one nbi_op_def: a shape rule (infer), a forward, a backward and a gradient-check
 * spec, defined together in its src/ops/ file and listed once in ops.def. nbi_apply is the one
 * path every op call takes: it validates (through infer), allocates the result, runs forward,
 * applies check mode, and records a tape node when a gradient is wanted. */
#ifndef NBI_AUTOGRAD_H
#define NBI_AUTOGRAD_H

#include "base/base.h"
#include "nabla/ops.h"
#include "tensor/tensor.h"

/* ---- op identifiers, from the one list --------------------------------------------------- */
typedef enum nbi_op_id {
#define NB_OP(ID, name) NBI_OP_##ID,
#include "nabla/ops.def"
#undef NB_OP
    NBI_OP_COUNT
} nbi_op_id;

/* ---- attributes: the non-tensor arguments of an op ---------------------------------------- */
#define NBI_MAX_IATTR 16
typedef struct nbi_attrs {
    int64_t i[NBI_MAX_IATTR]; /* axes, permutations, slice bounds, flags */
    float f[4];               /* scalars: slopes, bounds, exponents */
} nbi_attrs;

/* ---- a tape node --------------------------------------------------------------------------- */
#define NBI_INLINE_IN 3
typedef struct nb_node nbi_node; /* public and opaque as nb_node (nabla/tensor.h) */
struct nb_node {
    int op;                          /* nbi_op_id */
    int n_in;
    nb_tensor **in;                  /* inputs: in_inline or an arena array */
    nb_tensor *out;
    const nbi_attrs *attrs;          /* NULL when the op has none */
    void *saved;                     /* op-specific data forward keeps for backward */
    const char *scope;               /* the model part that ran it (nb_ctx_set_scope) */
    struct nb_node *prev;            /* the node recorded before this one */
    nb_tensor *in_inline[NBI_INLINE_IN];
    int recording;                   /* forward may keep `saved` only when set */
};

/* ---- gradient-check spec ------------------------------------------------------------------ */
/* One test case: inputs made by the spec's generator, attributes to apply them with. */
#define NBI_CHECK_MAX_IN 8
typedef struct nbi_check_case {
    nb_tensor *in[NBI_CHECK_MAX_IN];
    int n_in;
    nbi_attrs attrs;
    int has_attrs;
    int op_id;      /* set by the checker */
} nbi_check_case;

typedef struct nbi_op_def nbi_op_def;
typedef struct nbi_check_spec {
    /* Builds case k (k = 0, 1, ... < cases) in ctx from rng. Inputs that are f32 and have
     * NB_TF_REQUIRES_GRAD set are checked. Returns NB_OK or an error. */
    nb_status (*gen)(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k, nbi_check_case *c);
    int cases;                /* how many; 0 means the op is not differentiable (skipped) */
    float atol, rtol;         /* |analytic - numeric| <= atol + rtol |numeric| */
    /* For the shared generators: the input domain [lo, hi), points where the derivative
     * jumps (kept clear of), and the float attributes to apply the op with. */
    float lo, hi;
    float kink[2];
    int nkink;
    float attr_f[4];
} nbi_check_spec;

/* ---- the op definition -------------------------------------------------------------------- */
struct nbi_op_def {
    const char *name;
    /* Validates the inputs and attributes and fills out's dtype, rank and shape (and for a
     * view, data and strides). Errors name the op and the shapes. */
    nb_status (*infer)(const nbi_node *n, nb_tensor *out);
    /* Computes n->out from n->in. out->data is allocated (contiguous) unless is_view. */
    nb_status (*forward)(nb_ctx *ctx, nbi_node *n);
    /* Accumulates dL/d(in[i]) += ... for each input that requires a gradient, from
     * n->out->grad. NULL for ops without a gradient. */
    nb_status (*backward)(nb_ctx *ctx, nbi_node *n);
    int is_view;              /* out shares in[0]'s storage */
    int aux;                  /* family-specific: e.g. the kernel an elementwise op calls */
    nbi_check_spec check;
};

#define NB_OP(ID, name) extern const nbi_op_def nbi_op_##name;
#include "nabla/ops.def"
#undef NB_OP

/* The registry (ops/registry.c): nbi_ops[NBI_OP_ID] = &nbi_op_name for every op. */
extern const nbi_op_def *const nbi_ops[NBI_OP_COUNT];

/* The op call path. `attrs` may be NULL; it is copied when the node is recorded. */
nb_tensor *nbi_apply(nb_ctx *ctx, int op, nb_tensor *const *in, int n_in, const nbi_attrs *attrs);

/* The gradient buffer of t (contiguous, same shape), allocated zeroed on first use: for a
 * context tensor a block of exactly its size that the sweep gave back (see tape.c), else new
 * arena memory; on the heap for heap leaves. NULL on allocation failure. A backward calls it
 * before taking an arena mark, never between a mark and its release (the release would take
 * back a gradient that must outlive the backward). The result's gradient it reads
 * (n->out->grad) is given back after it returns: a backward keeps no pointer to it. */
nb_tensor *nbi_grad_new(nb_ctx *ctx, nb_tensor *t);
static inline nb_tensor *nbi_grad(nb_ctx *ctx, nb_tensor *t) {
    return t->grad ? t->grad : nbi_grad_new(ctx, t); /* parameters' are views made once */
}

/* The gradient buffer of t for a backward that writes every one of its elements: when this
 * call makes the buffer, *fresh is true and its contents are unset — the caller stores its
 * contribution (GEMM with beta = 0, a copy) instead of adding it to zeros, which saves the
 * zero fill and a read of the buffer; when t already has a gradient, *fresh is false and the
 * caller accumulates as it would into nbi_grad's. A caller that does not write every element
 * uses nbi_grad. The same rules for arena marks as nbi_grad_new. */
nb_tensor *nbi_grad_write(nb_ctx *ctx, nb_tensor *t, bool *fresh);

/* For a backward whose contribution to input t is n->out's gradient itself (d(a + b)/da = 1,
 * same shapes): when t has no gradient yet, hands n->out's gradient block to t — the sweep
 * would give it back right after n, and nothing but n's backward reads it — and returns it;
 * NULL (nothing changed) when t has a gradient, the shapes differ, t lives on the heap, or
 * n->out's gradient must stay readable (nb_ctx_set_keep_grads, nb_tensor_set_retain_grad).
 * The backward keeps reading the block through the pointer it took before the call. */
nb_tensor *nbi_grad_take(nb_ctx *ctx, nbi_node *n, nb_tensor *t);

/* Does input i of node n need its gradient? */
static inline bool nbi_needs_grad(const nbi_node *n, int i) {
    return (n->in[i]->flags & NB_TF_REQUIRES_GRAD) != 0;
}

/* "op: " prefixed error about shapes: "add: cannot broadcast f32[2,3] and f32[4]". */
nb_status nbi_shape_error(const nbi_node *n, const char *what);


/* ---- helpers for check-spec generators ---------------------------------------------------- */
/* Shared generators: one input of a random shape (unary), or two broadcasting inputs. Values
 * come from def->check's domain, clear of its kinks; attrs.f from check.attr_f. */
nb_status nbi_gen_unary(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k, nbi_check_case *c);
nb_status nbi_gen_binary(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                         nbi_check_case *c);
/* A leaf f32 tensor requiring a gradient, values uniform on a 2^-10 grid in [lo, hi), kept
 * at least `gap` away from each of the nk kinks (so finite differences do not straddle
 * them). */
nb_tensor *nbi_gen_input(nb_ctx *ctx, nb_rng *rng, int rank, const int64_t *shape, float lo,
                           float hi, const float *kinks, int nk, float gap);
/* Fills x (contiguous f32) with start, start + step, ... in a random order: distinct values
 * far enough apart that no finite-difference step changes which one is largest. */
void nbi_gen_ladder(nb_tensor *x, float start, float step, nb_rng *rng);
/* Random shape of rank r with dims in [1, maxd]. */
void nbi_gen_shape(nb_rng *rng, int r, int64_t maxd, int64_t *shape);
/* Broadcast partner shapes for case k: k=0 same shape, k=1 b broadcast along rows, k=2 a
 * broadcast, k=3 different ranks, k=4 scalar b. Fills ra, sa, rb, sb. */
void nbi_gen_broadcast_pair(nb_rng *rng, int k, int *ra, int64_t *sa, int *rb, int64_t *sb);

#endif
