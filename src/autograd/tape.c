/* autograd/tape.c — the op call path (nbi_apply) and the reverse sweep (nb_backward).
 *
 * Forward: validate → allocate → compute → (check mode) scan → record.
 * Backward: seed dL/dL = 1, then for each node from newest to oldest whose output received a
 * gradient, call its backward, which accumulates into its inputs' gradients. Because ops run
 * eagerly, the tape order is a topological order of the graph: by the time a node is reached,
 * every use of its output (all newer nodes) has already contributed to its gradient. */
#include "autograd/autograd.h"
#include "tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* "f32[2,3], f32[3]" */
static void inputs_str(const nbi_node *n, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n->n_in && k + 1 < cap; i++) {
        char s[96];
        int w = snprintf(buf + k, cap - k, "%s%s", i ? ", " : "",
                         nb_shape_str(n->in[i], s, sizeof s));
        if (w < 0) break;
        k += (size_t)w;
    }
}

static void index_str(const nb_tensor *t, int64_t flat, char *buf, size_t cap) {
    int64_t idx[NB_MAX_RANK];
    for (int d = t->rank - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? flat % t->shape[d] : 0;
        flat = t->shape[d] ? flat / t->shape[d] : 0;
    }
    nbi_dims_str(t->rank, idx, buf, cap);
}

nb_status nbi_shape_error(const nbi_node *n, const char *what) {
    char ins[400];
    inputs_str(n, ins, sizeof ins);
    const char *name = nbi_ops[n->op]->name;
    if (n->scope)
        return nbi_error(NB_ERR_SHAPE, "%s: %s (inputs %s; in '%s')", name, what, ins, n->scope);
    return nbi_error(NB_ERR_SHAPE, "%s: %s (inputs %s)", name, what, ins);
}

static nb_status nonfinite_error(const nbi_backend *be, const nbi_node *n, const nb_tensor *t,
                                 int64_t at, const char *where) {
    char ins[400], idx[96], sh[96];
    inputs_str(n, ins, sizeof ins);
    index_str(t, at, idx, sizeof idx);
    float v;
    be->to_host(be, &v, (const float *)t->data + at, sizeof v);
    return nbi_error(NB_ERR_NUMERIC,
                     "check mode: op '%s' produced %s in %s at index %s of %s; inputs %s%s%s%s",
                     nbi_ops[n->op]->name, isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"), where,
                     idx, nb_shape_str(t, sh, sizeof sh), ins, n->scope ? "; in '" : "",
                     n->scope ? n->scope : "", n->scope ? "'" : "");
}

/* Round a byte count up to the arena's alignment. */
static inline size_t align_up(size_t n) { return (n + NBI_ALIGN - 1) & ~(size_t)(NBI_ALIGN - 1); }

nb_tensor *nbi_apply(nb_ctx *ctx, int op, nb_tensor *const *in, int n_in, const nbi_attrs *attrs) {
    const nbi_op_def *def = nbi_ops[op];
    if (NBI_UNLIKELY(!ctx)) {
        nbi_error(NB_ERR_ARG, "%s: context is NULL (create one with nb_ctx_new)", def->name);
        return NULL;
    }
    bool grad = false;
    for (int i = 0; i < n_in; i++) {
        if (NBI_UNLIKELY(!in[i])) {
            /* An earlier op failed (its message stands), or the caller passed NULL. */
            if (ctx->status == NB_OK)
                nbi_fail(ctx, nbi_error(NB_ERR_ARG, "%s: input %d is NULL", def->name, i));
            return NULL;
        }
        if (in[i]->flags & NB_TF_REQUIRES_GRAD) grad = true;
    }
    bool rec = grad && ctx->grad_enabled && def->backward;

    /* The node and the result are first built on the stack; once infer has given the shape,
     * one arena block takes the node (when recorded), its copy of the attributes, the inputs
     * array (beyond the inline ones), the result's header and its data: a single bump per op. */
    nbi_node local;
    local.op = op;
    local.n_in = n_in;
    local.out = NULL;
    local.saved = NULL;
    local.scope = ctx->scope;
    local.prev = NULL;
    local.recording = rec;
    local.in = n_in <= NBI_INLINE_IN ? local.in_inline : (nb_tensor **)in;
    if (n_in <= NBI_INLINE_IN)
        for (int i = 0; i < n_in; i++) local.in_inline[i] = in[i];
    local.attrs = attrs;

    nb_tensor tmp;
    memset(&tmp, 0, sizeof tmp);
    nb_status s = def->infer(&local, &tmp);
    if (s != NB_OK) return nbi_fail(ctx, s);
    size_t data_bytes = 0;
    if (!def->is_view) {
        nbi_set_contiguous(&tmp);
        data_bytes = (size_t)tmp.numel * nbi_dtype_size(tmp.dtype);
    }
    size_t node_sz = rec ? align_up(sizeof(nbi_node)) : 0;
    size_t attr_sz = rec && attrs ? align_up(sizeof(nbi_attrs)) : 0;
    size_t in_sz = rec && n_in > NBI_INLINE_IN ? align_up(sizeof(nb_tensor *) * (size_t)n_in) : 0;
    size_t out_sz = align_up(sizeof(nb_tensor));
    /* A recorded result will almost surely receive a gradient: its room (header and data)
     * comes in the same block, and nbi_grad takes it instead of allocating. */
    size_t grad_bytes = 0;
    if (rec && tmp.dtype == NB_F32) {
        int64_t numel = tmp.numel;
        if (def->is_view) { /* infer set a view's strides; its count is the shape's product */
            numel = 1;
            for (int i = 0; i < tmp.rank; i++) numel *= tmp.shape[i];
        }
        if (!nbi_add_size(out_sz, (size_t)numel * sizeof(float), &grad_bytes)) {
            nbi_error(NB_ERR_NOMEM, "%s: result size overflows", def->name);
            return nbi_fail(ctx, NB_ERR_NOMEM);
        }
    }
    size_t data_room = align_up(data_bytes);
    if (data_room < data_bytes) {
        nbi_error(NB_ERR_NOMEM, "%s: result size overflows", def->name);
        return nbi_fail(ctx, NB_ERR_NOMEM);
    }
    size_t total = node_sz + attr_sz + in_sz + out_sz;
    if (!nbi_add_size(total, grad_bytes ? data_room : data_bytes, &total) ||
        !nbi_add_size(total, grad_bytes, &total)) {
        nbi_error(NB_ERR_NOMEM, "%s: result size overflows", def->name);
        return nbi_fail(ctx, NB_ERR_NOMEM);
    }
    unsigned char *block = nbi_ctx_alloc(ctx, total, def->name);
    if (!block) return NULL;

    nbi_node *n = &local;
    local.grad_space = NULL;
    if (rec) {
        n = (nbi_node *)block;
        *n = local;
        if (grad_bytes) {
            unsigned char *gs = block + node_sz + attr_sz + in_sz + out_sz + data_room;
            n->grad_space = (nb_tensor *)gs;
            n->grad_space->data = gs + out_sz;
        }
        if (n_in <= NBI_INLINE_IN) {
            n->in = n->in_inline;
        } else {
            n->in = (nb_tensor **)(block + node_sz + attr_sz);
            for (int i = 0; i < n_in; i++) n->in[i] = in[i];
        }
        if (attrs) {
            nbi_attrs *a = (nbi_attrs *)(block + node_sz);
            *a = *attrs;
            n->attrs = a;
        }
    }
    nb_tensor *out = (nb_tensor *)(block + node_sz + attr_sz + in_sz);
    *out = tmp;
    if (!def->is_view) out->data = block + node_sz + attr_sz + in_sz + out_sz;
    n->out = out;
    s = def->forward(ctx, n);
    if (s != NB_OK) return nbi_fail(ctx, s);

    if (ctx->check && out->dtype == NB_F32) {
        nb_tensor *c = def->is_view ? nbi_contig(ctx, out) : out;
        if (!c) return NULL;
        int64_t at = ctx->be->find_nonfinite(ctx->be, c->numel, c->data);
        if (at >= 0) return nbi_fail(ctx, nonfinite_error(ctx->be, n, c, at, "its output"));
    }
    if (rec) {
        out->flags |= NB_TF_REQUIRES_GRAD;
        out->node = n;
        n->prev = ctx->tape;
        ctx->tape = n;
        ctx->n_nodes++;
    }
    return out;
}

nb_tensor *nbi_grad(nb_ctx *ctx, nb_tensor *t) {
    if (t->grad) return t->grad;
    nb_tensor *g;
    nbi_node *n = t->node;
    if (n && n->out == t && n->grad_space) { /* the room nbi_apply left for it */
        g = n->grad_space;
        void *data = g->data;
        *g = *t; /* shape, and the strides too unless t is a view */
        g->data = data;
        g->flags = 0;
        g->grad = NULL;
        g->node = NULL;
        g->name = NULL;
        if (nbi_ops[n->op]->is_view) nbi_set_contiguous(g);
        ctx->be->fill(ctx->be, g->numel, g->data, 0.0f);
        n->grad_space = NULL;
        t->grad = g;
        return g;
    }
    if (t->flags & NB_TF_HEAP) {
        g = nbi_tensor_like(NULL, t, NB_F32);
        if (!g) {
            nbi_fail(ctx, NB_ERR_NOMEM);
            return NULL;
        }
        t->flags |= NB_TF_GRAD_HEAP;
    } else {
        g = nbi_tensor_like(ctx, t, NB_F32);
        if (!g) return NULL;
    }
    ctx->be->fill(ctx->be, g->numel, g->data, 0.0f);
    t->grad = g;
    return g;
}

static nb_status sweep(nb_ctx *ctx) {
    for (nbi_node *n = ctx->tape; n; n = n->prev) {
        if (!n->out->grad) continue; /* not on a path to the loss */
        const nbi_op_def *def = nbi_ops[n->op];
        nb_status s = def->backward(ctx, n);
        if (s != NB_OK) return s;
        if (ctx->check) {
            for (int i = 0; i < n->n_in; i++) {
                nb_tensor *g = n->in[i]->grad;
                if (!g || !nbi_needs_grad(n, i)) continue;
                int64_t at = ctx->be->find_nonfinite(ctx->be, g->numel, g->data);
                if (at >= 0) {
                    char what[64];
                    snprintf(what, sizeof what, "the gradient of input %d (backward)", i);
                    return nonfinite_error(ctx->be, n, g, at, what);
                }
            }
        }
    }
    return NB_OK;
}

nb_status nb_backward_with(nb_ctx *ctx, nb_tensor *t, const nb_tensor *grad_of_t) {
    if (!ctx) return nbi_error(NB_ERR_ARG, "nb_backward: context is NULL");
    if (ctx->status != NB_OK) return ctx->status; /* the failing op's message stands */
    if (!t) return nbi_error(NB_ERR_ARG, "nb_backward: tensor is NULL");
    if (ctx->backward_done)
        return nbi_error(NB_ERR_STATE, "nb_backward: this context's tape was already swept; "
                         "call nb_ctx_reset and run the forward pass again");
    if (!(t->flags & NB_TF_REQUIRES_GRAD))
        return nbi_error(NB_ERR_STATE,
                         "nb_backward: the tensor does not depend on anything that requires a "
                         "gradient (grad mode was off, or no parameter took part)");
    nb_tensor *g = nbi_grad(ctx, t);
    if (!g) return ctx->status ? ctx->status : NB_ERR_NOMEM;
    if (grad_of_t) {
        if (!nb_tensor_same_shape(t, grad_of_t) || grad_of_t->dtype != NB_F32) {
            char a[96], b[96];
            return nbi_error(NB_ERR_SHAPE, "nb_backward: gradient %s does not match tensor %s",
                             nb_shape_str(grad_of_t, b, sizeof b), nb_shape_str(t, a, sizeof a));
        }
        /* g += grad_of_t, whatever its strides */
        nb_tensor *c = nbi_contig(ctx, (nb_tensor *)grad_of_t);
        if (!c) return ctx->status;
        ctx->be->add_into(ctx->be, g->numel, c->data, g->data);
    } else {
        if (t->numel != 1) {
            char a[96];
            return nbi_error(NB_ERR_SHAPE,
                             "nb_backward: the loss must have one element, got %s (reduce it "
                             "with nb_sum or nb_mean, or use nb_backward_with)",
                             nb_shape_str(t, a, sizeof a));
        }
        const float one = 1.0f; /* dL/dL += 1, in place */
        ctx->be->unary(ctx->be, NBI_U_ADD_SCALAR, 1, g->data, g->data, &one);
    }
    ctx->backward_done = 1;
    nb_status s = sweep(ctx);
    if (s != NB_OK) nbi_fail(ctx, s);
    return s;
}

nb_status nb_backward(nb_ctx *ctx, nb_tensor *loss) { return nb_backward_with(ctx, loss, NULL); }
