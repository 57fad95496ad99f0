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
    if (NBI_UNLIKELY(ctx->op_seen != NULL)) ctx->op_seen[op] = 1; /* a step is recorded */

    /* The result's header, and for a recorded op its node, its copy of the attributes and
     * the inputs array (beyond the inline ones): one arena block of fixed size, built in
     * place, where infer writes the header. A second block, once infer has given the shape,
     * takes the result's data. The result's gradient is not made here: nbi_grad makes it when
     * the backward sweep first reaches it, and the sweep gives it back once it is consumed.
     * An op that is not recorded keeps its node on the stack. */
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

    memset(out, 0, sizeof *out);
    nb_status s = def->infer(n, out);
    if (s != NB_OK) return nbi_fail(ctx, s);
    if (!def->is_view) {
        nbi_set_contiguous(out);
        size_t bytes;
        if (!nbi_mul_size((size_t)out->numel, nbi_dtype_size(out->dtype), &bytes)) {
            nbi_error(NB_ERR_NOMEM, "%s: result size overflows", def->name);
            return nbi_fail(ctx, NB_ERR_NOMEM);
        }
        out->data = nbi_ctx_alloc(ctx, bytes, def->name);
        if (!out->data) return NULL;
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

/* ---- gradients of op results: made when first needed, given back once consumed ---------------
 * A gradient is one block, its header then its data (NBI_TENSOR_HDR + 4 numel bytes). After
 * the sweep has run node n's backward, nothing older reads n->out->grad (a node reads only its
 * own output's gradient and its inputs', and n->out is an input of newer nodes alone), so the
 * sweep puts its block on the context's free list and clears n->out->grad. A later gradient of
 * exactly the same size takes it before the arena is bumped: the shapes of a transformer's or
 * an LSTM's backward repeat, layer after layer and step after step. */

static nb_tensor *reuse_block(nb_ctx *ctx, size_t bytes) {
    for (nbi_free_block **pp = &ctx->free_grads; *pp; pp = &(*pp)->next_bin) {
        nbi_free_block *b = *pp;
        if (b->bytes != bytes) continue;
        if (b->next_same) { /* the next of this size heads the bin */
            b->next_same->next_bin = b->next_bin;
            *pp = b->next_same;
        } else {
            *pp = b->next_bin;
        }
        ctx->grads_reused++;
        return (nb_tensor *)(void *)b;
    }
    return NULL;
}

static void release_block(nb_ctx *ctx, nb_tensor *g, size_t bytes) {
    nbi_free_block *b = (nbi_free_block *)(void *)g;
    b->bytes = bytes;
    b->next_same = NULL;
    b->next_bin = NULL;
    for (nbi_free_block **pp = &ctx->free_grads; *pp; pp = &(*pp)->next_bin)
        if ((*pp)->bytes == bytes) { /* push onto this size's chain */
            b->next_bin = (*pp)->next_bin;
            b->next_same = *pp;
            *pp = b;
            ctx->grads_released++;
            return;
        }
    b->next_bin = ctx->free_grads; /* a new size */
    ctx->free_grads = b;
    ctx->grads_released++;
}

static inline size_t grad_block_bytes(const nb_tensor *t) {
    return NBI_TENSOR_HDR + (size_t)t->numel * sizeof(float); /* t's own block did not overflow */
}

/* After node n's backward: give n->out's gradient back, unless the context keeps them. */
static void release_grad(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *t = n->out, *g = t->grad;
    if (ctx->keep_grads || !g || (t->flags & NB_TF_RETAIN_GRAD)) return;
    NBI_ASSERT(t->node == n && !(t->flags & NB_TF_HEAP));
    NBI_ASSERT(g->data == (unsigned char *)g + NBI_TENSOR_HDR); /* a block of nbi_grad_new */
    t->grad = NULL;
    release_block(ctx, g, grad_block_bytes(t));
}

/* t's new gradient buffer, contents unset (a given-back block or new memory). */
static nb_tensor *grad_make(nb_ctx *ctx, nb_tensor *t) {
    nb_tensor *g = NULL;
    if (t->flags & NB_TF_HEAP) {
        g = nbi_tensor_like(NULL, t, NB_F32);
        if (!g) {
            nbi_fail(ctx, NB_ERR_NOMEM);
            return NULL;
        }
        t->flags |= NB_TF_GRAD_HEAP;
    } else {
        if (ctx->free_grads) g = reuse_block(ctx, grad_block_bytes(t));
        if (g) { /* a released block of the same size: a fresh contiguous header on it */
            memset(g, 0, sizeof *g);
            g->data = (unsigned char *)g + NBI_TENSOR_HDR;
            g->dtype = NB_F32;
            g->rank = t->rank;
            for (int i = 0; i < t->rank; i++) g->shape[i] = t->shape[i];
            nbi_set_contiguous(g);
        } else {
            g = nbi_tensor_like(ctx, t, NB_F32); /* contiguous even when t is a view */
            if (!g) return NULL;
        }
    }
    t->grad = g;
    return g;
}

nb_tensor *nbi_grad_new(nb_ctx *ctx, nb_tensor *t) {
    if (t->grad) return t->grad;
    nb_tensor *g = grad_make(ctx, t);
    if (g) ctx->be->fill(ctx->be, g->numel, g->data, 0.0f);
    return g;
}

nb_tensor *nbi_grad_take(nb_ctx *ctx, nbi_node *n, nb_tensor *t) {
    nb_tensor *o = n->out, *g = o->grad;
    if (t->grad || !g || ctx->keep_grads || (o->flags & NB_TF_RETAIN_GRAD) ||
        (t->flags & NB_TF_HEAP) || !nb_tensor_same_shape(t, o))
        return NULL;
    NBI_ASSERT(o->node == n && !(o->flags & NB_TF_HEAP));
    o->grad = NULL; /* release_grad finds none to give back */
    t->grad = g;    /* a block of o's size and shape, as grad_make would make for t */
    return g;
}

nb_tensor *nbi_grad_write(nb_ctx *ctx, nb_tensor *t, bool *fresh) {
    *fresh = !t->grad;
    return t->grad ? t->grad : grad_make(ctx, t);
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
        release_grad(ctx, n);
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
