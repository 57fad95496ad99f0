/* autograd/tape.c — the op call path (nbi_apply) and the reverse sweep (nb_backward).
 *
 * Forward: validate → allocate → compute → (check mode) scan → record.
 * Backward: seed dL/dL = 1, then for each node from newest to oldest whose output received a
 * gradient, call its backward, which accumulates into its inputs' gradients. Because ops run
 * eagerly, the tape order is a topological order of the graph: by the time a node is reached,
 * every use of its output (all newer nodes) has already contributed to its gradient. With a
 * gradient-ready hook (nb_ctx_on_grad_ready), each leaf is announced right after the sweep
 * passes the oldest node that reads it. */
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

    /* The result's header, and for a recorded op its node, its copy of the attributes and
     * the inputs array (beyond the inline ones): one arena block of fixed size, built in
     * place, where infer writes the header. A second block, once infer has given the shape,
     * takes the result's data and, for a recorded op, the room for its gradient. An op that
     * is not recorded keeps its node on the stack. */
    const size_t node_sz = rec ? align_up(sizeof(nbi_node)) : 0;
    const size_t attr_sz = rec && attrs ? align_up(sizeof(nbi_attrs)) : 0;
    const size_t in_sz =
        rec && n_in > NBI_INLINE_IN ? align_up(sizeof(nb_tensor *) * (size_t)n_in) : 0;
    const size_t out_sz = align_up(sizeof(nb_tensor));
    unsigned char *head = nbi_ctx_alloc(ctx, node_sz + attr_sz + in_sz + out_sz, def->name);
    if (!head) return NULL;
    nb_tensor *out = (nb_tensor *)(void *)(head + node_sz + attr_sz + in_sz);
    nbi_node local, *n = &local;
    if (rec) {
        n = (nbi_node *)(void *)head;
        if (attrs) {
            nbi_attrs *a = (nbi_attrs *)(void *)(head + node_sz);
            *a = *attrs;
            attrs = a;
        }
    }
    if (n_in <= NBI_INLINE_IN) {
        n->in = n->in_inline;
        for (int i = 0; i < n_in; i++) n->in_inline[i] = in[i];
    } else if (rec) {
        n->in = (nb_tensor **)(void *)(head + node_sz + attr_sz);
        for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    } else {
        n->in = (nb_tensor **)in;
    }
    n->op = op;
    n->n_in = n_in;
    n->out = NULL;
    n->attrs = attrs;
    n->saved = NULL;
    n->scope = ctx->scope;
    n->prev = NULL;
    n->recording = rec;
    n->grad_space = NULL;

    memset(out, 0, sizeof *out);
    nb_status s = def->infer(n, out);
    if (s != NB_OK) return nbi_fail(ctx, s);
    size_t data_bytes = 0;
    if (!def->is_view) {
        nbi_set_contiguous(out);
        data_bytes = (size_t)out->numel * nbi_dtype_size(out->dtype);
    }
    /* A recorded result will almost surely receive a gradient: its room (header and data)
     * comes in the data's block, and nbi_grad takes it instead of allocating. */
    size_t grad_bytes = 0;
    if (rec && out->dtype == NB_F32) {
        int64_t numel = out->numel;
        if (def->is_view) { /* infer set a view's strides; its count is the shape's product */
            numel = 1;
            for (int i = 0; i < out->rank; i++) numel *= out->shape[i];
        }
        if (!nbi_add_size(out_sz, (size_t)numel * sizeof(float), &grad_bytes)) {
            nbi_error(NB_ERR_NOMEM, "%s: result size overflows", def->name);
            return nbi_fail(ctx, NB_ERR_NOMEM);
        }
    }
    size_t data_room = align_up(data_bytes), total;
    if (data_room < data_bytes ||
        !nbi_add_size(grad_bytes ? data_room : data_bytes, grad_bytes, &total)) {
        nbi_error(NB_ERR_NOMEM, "%s: result size overflows", def->name);
        return nbi_fail(ctx, NB_ERR_NOMEM);
    }
    if (total || !def->is_view) { /* the data, and the gradient's room */
        unsigned char *block = nbi_ctx_alloc(ctx, total, def->name);
        if (!block) return NULL;
        if (!def->is_view) out->data = block;
        if (grad_bytes) {
            n->grad_space = (nb_tensor *)(void *)(block + data_room);
            n->grad_space->data = block + data_room + out_sz;
        }
    }
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

nb_tensor *nbi_grad_new(nb_ctx *ctx, nb_tensor *t) {
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

/* ---- gradient-ready notification (nb_ctx_on_grad_ready) --------------------------------------
 * A leaf's gradient is final once the sweep has passed the oldest node that reads it. One
 * pass over the tape, newest to oldest, leaves in an open-addressing table (in the arena) the
 * oldest reader of every leaf; the sweep announces a leaf after that node. */

typedef struct leaf_slot {
    const nb_tensor *leaf;
    const nbi_node *oldest; /* NULL once announced */
} leaf_slot;

typedef struct leaf_table {
    leaf_slot *slot;
    size_t mask; /* capacity − 1, a power of two */
} leaf_table;

static inline bool is_leaf(const nb_tensor *t) {
    return !t->node && (t->flags & NB_TF_REQUIRES_GRAD);
}

static leaf_slot *leaf_find(const leaf_table *lt, const nb_tensor *t) {
    size_t h = ((uintptr_t)t >> 4) * (size_t)0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    for (size_t i = h & lt->mask;; i = (i + 1) & lt->mask)
        if (lt->slot[i].leaf == t || !lt->slot[i].leaf) return &lt->slot[i];
}

static nb_status leaf_table_build(nb_ctx *ctx, leaf_table *lt) {
    size_t reads = 0;
    for (const nbi_node *n = ctx->tape; n; n = n->prev)
        for (int i = 0; i < n->n_in; i++) reads += is_leaf(n->in[i]);
    size_t cap = 16;
    while (cap < 2 * reads) cap *= 2; /* at most half full */
    size_t bytes;
    if (!nbi_mul_size(cap, sizeof(leaf_slot), &bytes))
        return nbi_error(NB_ERR_NOMEM, "nb_backward: leaf table size overflows");
    lt->slot = nbi_ctx_zalloc(ctx, bytes, "nb_backward (gradient-ready table)");
    if (!lt->slot) return ctx->status;
    lt->mask = cap - 1;
    for (const nbi_node *n = ctx->tape; n; n = n->prev) /* newest to oldest: the last wins */
        for (int i = 0; i < n->n_in; i++)
            if (is_leaf(n->in[i])) {
                leaf_slot *s = leaf_find(lt, n->in[i]);
                s->leaf = n->in[i];
                s->oldest = n;
            }
    return NB_OK;
}

/* After node n: announce the leaves whose oldest reader it is. */
static void announce_ready(nb_ctx *ctx, const leaf_table *lt, const nbi_node *n) {
    for (int i = 0; i < n->n_in; i++) {
        if (!is_leaf(n->in[i])) continue;
        leaf_slot *s = leaf_find(lt, n->in[i]);
        if (s->oldest != n) continue;
        s->oldest = NULL; /* once, even when n reads it twice */
        ctx->grad_ready(n->in[i], ctx->grad_ready_user);
    }
}

static nb_status sweep(nb_ctx *ctx) {
    leaf_table lt = {NULL, 0};
    if (ctx->grad_ready) {
        nb_status s = leaf_table_build(ctx, &lt);
        if (s != NB_OK) return s;
    }
    for (nbi_node *n = ctx->tape; n; n = n->prev) {
        if (!n->out->grad) { /* not on a path to the loss */
            if (lt.slot) announce_ready(ctx, &lt, n);
            continue;
        }
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
        if (lt.slot) announce_ready(ctx, &lt, n);
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
