/* nn/params.c — the parameter store: every parameter value in one flat f32 buffer, every
 * gradient in another of the same layout, and each parameter a named tensor viewing its
 * slice of both (llm.c's layout). Optimizers, clipping and checkpoints work on the buffers;
 * ops see ordinary tensors whose grad is already set, so nb_backward accumulates into the
 * gradient buffer directly.
 *
 * The buffers grow geometrically as parameters are added (layers are appended one by one);
 * growing moves them, so every view is re-pointed. An add that fails changes nothing. */
#include "nn/nn.h"
#include "tensor/tensor.h"

#include <stdio.h>
#include <string.h>

nb_params *nb_params_new(void) {
    nb_params *ps = nbi_malloc_for("nb_params_new", sizeof *ps);
    if (!ps) return NULL;
    memset(ps, 0, sizeof *ps);
    return ps;
}

void nb_params_free(nb_params *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) nbi_free(ps->items[i]);
    nbi_free(ps->items);
    nbi_free(ps->data);
    nbi_free(ps->grad);
    nbi_free(ps);
}

static void view_of(nb_tensor *t, float *base, const nbi_param *p) {
    t->data = base + p->offset;
}

static void repoint(nb_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        nbi_param *p = ps->items[i];
        view_of(&p->value, ps->data, p);
        view_of(&p->grad, ps->grad, p);
    }
}

nb_tensor *nb_params_find(const nb_params *ps, const char *name) {
    if (!ps || !name) return NULL;
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->items[i]->name, name) == 0) return &ps->items[i]->value;
    return NULL;
}

nb_status nbi_params_add(nb_params *ps, const char *name, int rank, const int64_t *shape,
                         nb_tensor **out) {
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
        return nbi_error(NB_ERR_ARG, "nb_params_add: a parameter named '%s' is already in the "
                         "store (names must be unique)", name);
    if (ps->n == INT32_MAX || numel > INT64_MAX / 4 - ps->numel)
        return nbi_error(NB_ERR_ARG, "nb_params_add '%s': the store is full", name);
    if (ps->limit > 0 && numel > ps->limit - ps->numel)
        return nbi_error(NB_ERR_ARG, "nb_params_add '%s': %lld more scalars would pass the "
                         "store's limit of %lld", name, (long long)numel, (long long)ps->limit);

    /* Take everything that can fail first; commit only when all of it is in hand. */
    size_t len = strlen(name);
    nbi_param *p = nbi_malloc_for(what, sizeof *p + len + 1);
    if (!p) return NB_ERR_NOMEM;
    nbi_param **items = ps->items;
    int cap_items = ps->cap_items;
    if (ps->n == cap_items) {
        cap_items = cap_items ? 2 * cap_items : 8;
        items = nbi_malloc_for(what, sizeof *items * (size_t)cap_items);
        if (!items) goto fail;
        if (ps->n) memcpy(items, ps->items, sizeof *items * (size_t)ps->n);
    }
    float *data = ps->data, *grad = ps->grad;
    int64_t cap = ps->cap, need = ps->numel + numel;
    if (need > cap || !data) {
        cap = cap > 0 ? 2 * cap : 64;
        if (cap < need) cap = need;
        size_t bytes = (size_t)cap * sizeof(float);
        data = nbi_malloc_for(what, bytes);
        grad = data ? nbi_malloc_for(what, bytes) : NULL;
        if (!grad) {
            nbi_free(data);
            if (items != ps->items) nbi_free(items);
            goto fail;
        }
        if (ps->numel) {
            memcpy(data, ps->data, (size_t)ps->numel * sizeof(float));
            memcpy(grad, ps->grad, (size_t)ps->numel * sizeof(float));
        }
    }

    /* Commit. */
    if (items != ps->items) {
        nbi_free(ps->items);
        ps->items = items;
        ps->cap_items = cap_items;
    }
    if (data != ps->data) {
        nbi_free(ps->data);
        nbi_free(ps->grad);
        ps->data = data;
        ps->grad = grad;
        ps->cap = cap;
        repoint(ps);
    }
    memset(p, 0, sizeof *p);
    memcpy(p->name, name, len + 1);
    p->offset = ps->numel;
    nb_tensor *v = &p->value, *g = &p->grad;
    v->dtype = g->dtype = NB_F32;
    v->rank = g->rank = rank;
    for (int i = 0; i < rank; i++) v->shape[i] = g->shape[i] = shape[i];
    nbi_set_contiguous(v);
    nbi_set_contiguous(g);
    v->flags = NB_TF_PARAM | NB_TF_REQUIRES_GRAD;
    v->grad = g;
    v->name = g->name = p->name;
    view_of(v, ps->data, p);
    view_of(g, ps->grad, p);
    memset(v->data, 0, (size_t)numel * sizeof(float));
    memset(g->data, 0, (size_t)numel * sizeof(float));
    ps->items[ps->n++] = p;
    ps->numel += numel;
    *out = v;
    return NB_OK;

fail:
    nbi_free(p);
    return NB_ERR_NOMEM;
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
        nbi_free(p);
    }
}

int nb_params_len(const nb_params *ps) { return ps ? ps->n : 0; }

nb_tensor *nb_params_at(const nb_params *ps, int i) {
    if (!ps || i < 0 || i >= ps->n) return NULL;
    return &ps->items[i]->value;
}

int64_t nb_params_numel(const nb_params *ps) { return ps ? ps->numel : 0; }
float *nb_params_data(nb_params *ps) { return ps ? ps->data : NULL; }
float *nb_params_grad(nb_params *ps) { return ps ? ps->grad : NULL; }

void nb_params_zero_grad(nb_params *ps) {
    if (ps && ps->numel) memset(ps->grad, 0, (size_t)ps->numel * sizeof(float));
}
