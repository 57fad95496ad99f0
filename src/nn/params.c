/* nn/params.c — the parameter store: every parameter value in one flat f32 buffer, every
 * gradient in another of the same layout, and each parameter a named tensor viewing its
 * slice of both (llm.c's layout). Optimizers, clipping and checkpoints work on the buffers;
 * ops see ordinary tensors whose grad is already set, so nb_backward accumulates into the
 * gradient buffer directly.
 *
 * Growth. The buffers grow geometrically as parameters are added one by one (growing moves
 * them, so every view is re-pointed). A model built from a spec or a file is first built
 * "dry" — names and shapes only, no buffers (NBI_GRAD_DRY) — and then its buffers are
 * allocated once, at their exact size (nbi_params_materialize). An add that fails changes
 * nothing.
 *
 * Gradients on demand. A model's store (nbi_params_new_for_model) makes its gradient buffer
 * only when something needs it (nbi_params_need_grad: a forward that records a tape, an
 * optimizer, nb_params_grad): a model loaded to predict never pays for it. Until
 * then its parameters do not require gradients (they act as constants on a tape), so nothing
 * can write a gradient anywhere else. A store made by nb_params_new has its gradients from
 * the start.
 *
 * Names are indexed (base/strmap.c), so adding or finding a parameter costs the same with
 * 10 parameters or 100 000. */
#include "nn/nn.h"
#include "kernels/backend.h"
#include "tensor/tensor.h"

#include <stdio.h>
#include <string.h>

static nb_params *store_new(int grad_mode) {
    nb_params *ps = nbi_malloc_for("nb_params_new", sizeof *ps);
    if (!ps) return NULL;
    memset(ps, 0, sizeof *ps);
    nbi_strmap_init(&ps->index);
    nbi_arena_init(&ps->mem, 16384);
    ps->grad_mode = grad_mode;
    return ps;
}

nb_params *nb_params_new(void) {
    return store_new(NBI_GRAD_EAGER);
}
nb_params *nbi_params_new_mode(int grad_mode) {
    return store_new(grad_mode);
}

void nb_params_free(nb_params *ps) {
    if (!ps) return;
    nbi_arena_free(&ps->mem);
    nbi_free(ps->items);
    nbi_free(ps->data);
    nbi_free(ps->grad);
    nbi_strmap_free(&ps->index);
    nbi_free(ps);
}

/* Points parameter p's value and gradient views into the buffers; the gradient (and with it
 * NB_TF_REQUIRES_GRAD) only when the store has its gradient buffer. */
static void attach(nb_params *ps, nbi_param *p) {
    nb_tensor *v = &p->value, *g = &p->grad;
    v->data = ps->data ? ps->data + p->offset : NULL;
    if (ps->grad) {
        g->data = ps->grad + p->offset;
        v->grad = g;
        v->flags |= NB_TF_REQUIRES_GRAD;
    } else {
        g->data = NULL;
        v->grad = NULL;
        v->flags &= ~(unsigned)NB_TF_REQUIRES_GRAD;
    }
}

static void repoint(nb_params *ps) {
    for (int i = 0; i < ps->n; i++) attach(ps, ps->items[i]);
}

nb_tensor *nb_params_find(const nb_params *ps, const char *name) {
    if (!ps || !name) return NULL;
    int i = nbi_strmap_get(&ps->index, name);
    return i < 0 ? NULL : &ps->items[i]->value;
}

/* New buffers of cap floats holding the first numel of the old ones; the gradient buffer too
 * when the store has one (or wants one from the start). Nothing changes on failure. */
static nb_status regrow(nb_params *ps, int64_t cap, const char *what) {
    if (ps->grad_mode == NBI_GRAD_DRY) {
        ps->cap = cap;
        return NB_OK;
    }
    size_t bytes;
    if (cap > INT64_MAX / 8 || !nbi_mul_size((size_t)cap, sizeof(float), &bytes))
        return nbi_error(NB_ERR_NOMEM, "%s: %lld parameters do not fit in memory", what,
                         (long long)cap);
    bool with_grad = ps->grad || ps->grad_mode == NBI_GRAD_EAGER;
    float *data = nbi_malloc_for(what, bytes ? bytes : 1);
    float *grad = data && with_grad ? nbi_malloc_for(what, bytes ? bytes : 1) : NULL;
    if (!data || (with_grad && !grad)) {
        nbi_free(data);
        return NB_ERR_NOMEM;
    }
    if (ps->numel && ps->data) {
        memcpy(data, ps->data, (size_t)ps->numel * sizeof(float));
        if (grad && ps->grad) memcpy(grad, ps->grad, (size_t)ps->numel * sizeof(float));
    } else if (ps->numel) { /* a dry store made real: every parameter starts at 0 */
        memset(data, 0, (size_t)ps->numel * sizeof(float));
        if (grad) memset(grad, 0, (size_t)ps->numel * sizeof(float));
    }
    nbi_free(ps->data);
    nbi_free(ps->grad);
    ps->data = data;
    ps->grad = grad;
    ps->cap = cap;
    repoint(ps);
    return NB_OK;
}

nb_status nbi_params_materialize(nb_params *ps, int grad_mode, const char *what) {
    NBI_ASSERT(ps->grad_mode == NBI_GRAD_DRY && grad_mode != NBI_GRAD_DRY);
    ps->grad_mode = grad_mode;
    ps->cap = 0;
    nb_status s = regrow(ps, ps->numel, what); /* exactly: the size is known */
    if (s != NB_OK) ps->grad_mode = NBI_GRAD_DRY;
    return s;
}

nb_status nbi_params_need_grad(nb_params *ps) {
    if (ps->grad || ps->grad_mode == NBI_GRAD_NONE || ps->grad_mode == NBI_GRAD_DRY) return NB_OK;
    size_t bytes = (size_t)(ps->cap > 0 ? ps->cap : 1) * sizeof(float);
    float *g = nbi_malloc_for("the parameters' gradient buffer", bytes);
    if (!g) return NB_ERR_NOMEM;
    memset(g, 0, bytes);
    ps->grad = g;
    repoint(ps);
    return NB_OK;
}

nb_status nbi_params_add_owned(nb_params *ps, const char *name, int rank, const int64_t *shape,
                               int owner, nb_tensor **out) {
    *out = NULL;
    if (!ps || !name || !name[0])
        return nbi_error(NB_ERR_ARG, "nb_params_add: %s",
                         !ps ? "the store is NULL" : "a parameter needs a non-empty name");
    int64_t numel;
    char what[160];
    snprintf(what, sizeof what, "nb_params_add '%s'", name);
    nb_status s = nbi_check_shape(what, rank, shape, &numel);
    if (s != NB_OK) return s;
    if (nb_params_find(ps, name))
        return nbi_error(NB_ERR_ARG,
                         "nb_params_add: a parameter named '%s' is already in the "
                         "store (names must be unique)",
                         name);
    if (ps->n == INT32_MAX - 1 || numel > INT64_MAX / 8 - ps->numel)
        return nbi_error(NB_ERR_ARG, "nb_params_add '%s': the store is full", name);

    /* Take everything that can fail first; commit only when all of it is in hand. */
    size_t len = strlen(name);
    nbi_arena_mark mark = nbi_arena_mark_get(&ps->mem);
    nbi_param *p = nbi_arena_alloc(&ps->mem, sizeof *p + len + 1, 16);
    if (!p) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    memset(p, 0, sizeof *p);
    p->mark = mark;
    memcpy(p->name, name, len + 1);
    if (ps->n == ps->cap_items) {
        int cap_items = ps->cap_items ? 2 * ps->cap_items : 8;
        if (ps->cap_items > INT32_MAX / 2) cap_items = INT32_MAX;
        nbi_param **items = nbi_malloc_for(what, sizeof *items * (size_t)cap_items);
        if (!items) goto fail;
        if (ps->n) memcpy(items, ps->items, sizeof *items * (size_t)ps->n);
        nbi_free(ps->items);
        ps->items = items;
        ps->cap_items = cap_items;
    }
    if (!nbi_strmap_put(&ps->index, p->name, ps->n)) {
        nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    int64_t need = ps->numel + numel;
    if (need > ps->cap || (!ps->data && ps->grad_mode != NBI_GRAD_DRY)) {
        int64_t cap = ps->cap > 0 ? 2 * ps->cap : 64;
        if (cap < need) cap = need;
        if ((s = regrow(ps, cap, what)) != NB_OK) {
            nbi_strmap_remove(&ps->index, p->name);
            nbi_arena_release(&ps->mem, mark);
            return s;
        }
    }

    /* Commit. */
    p->offset = ps->numel;
    p->owner = owner;
    nb_tensor *v = &p->value, *g = &p->grad;
    v->dtype = g->dtype = NB_F32;
    v->rank = g->rank = rank;
    for (int i = 0; i < rank; i++) v->shape[i] = g->shape[i] = shape[i];
    nbi_set_contiguous(v);
    nbi_set_contiguous(g);
    v->flags = NB_TF_PARAM;
    v->name = g->name = p->name;
    attach(ps, p);
    if (v->data) memset(v->data, 0, (size_t)numel * sizeof(float));
    if (g->data) memset(g->data, 0, (size_t)numel * sizeof(float));
    ps->items[ps->n++] = p;
    ps->numel += numel;
    *out = v;
    return NB_OK;

fail:
    nbi_arena_release(&ps->mem, mark);
    return NB_ERR_NOMEM;
}

nb_status nbi_params_add(nb_params *ps, const char *name, int rank, const int64_t *shape,
                         nb_tensor **out) {
    return nbi_params_add_owned(ps, name, rank, shape, -1, out);
}

nb_tensor *nb_params_add(nb_params *ps, const char *name, int rank, const int64_t *shape) {
    nb_tensor *t;
    return nbi_params_add(ps, name, rank, shape, &t) == NB_OK ? t : NULL;
}

void nbi_params_truncate(nb_params *ps, int n) {
    NBI_ASSERT(n >= 0 && n <= ps->n);
    while (ps->n > n) {
        nbi_param *p = ps->items[--ps->n];
        ps->numel = p->offset;
        nbi_strmap_remove(&ps->index, p->name);
        nbi_arena_release(&ps->mem, p->mark);
    }
}

const nbi_param *nbi_params_item(const nb_params *ps, int i) {
    return ps && i >= 0 && i < ps->n ? ps->items[i] : NULL;
}

int nb_params_len(const nb_params *ps) {
    return ps ? ps->n : 0;
}

nb_tensor *nb_params_at(const nb_params *ps, int i) {
    if (!ps || i < 0 || i >= ps->n) return NULL;
    return &ps->items[i]->value;
}

int64_t nb_params_numel(const nb_params *ps) {
    return ps ? ps->numel : 0;
}
float *nb_params_data(nb_params *ps) {
    return ps ? ps->data : NULL;
}

float *nb_params_grad(nb_params *ps) {
    if (!ps || nbi_params_need_grad(ps) != NB_OK) return NULL;
    return ps->grad;
}

void nb_params_zero_grad(nb_params *ps) {
    /* a store without its gradient buffer has no gradient to clear: the buffer starts at 0.
     * Through the back end's fill, on the pool when large: serial, zeroing the MLP's 235 k
     * gradients was 11 us of a 2-thread step, and its lines then sat in one core's cache
     * for the other's backward to pull over */
    if (ps && ps->grad && ps->numel) {
        const nbi_backend *be = nbi_backend_default();
        be->fill(be, ps->numel, ps->grad, 0.0f);
    }
}
