/* tensor/tensor.c — making, filling, copying and freeing tensors; shape arithmetic. */
#include "tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

char *nbi_dims_str(int rank, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "[");
    for (int i = 0; i < rank; i++)
        k += (size_t)snprintf(buf + k, k < n ? n - k : 0, i ? ",%lld" : "%lld",
                              (long long)shape[i]);
    snprintf(buf + k, k < n ? n - k : 0, "]");
    return buf;
}

char *nb_shape_str(const nb_tensor *t, char *buf, size_t n) {
    if (!t) {
        snprintf(buf, n, "(null)");
        return buf;
    }
    int k = snprintf(buf, n, "%s", nbi_dtype_name(t->dtype));
    if (k < 0 || (size_t)k >= n) return buf;
    nbi_dims_str(t->rank, t->shape, buf + k, n - (size_t)k);
    return buf;
}

nb_status nbi_check_shape(const char *what, int rank, const int64_t *shape, int64_t *numel) {
    if (rank < 0 || rank > NB_MAX_RANK)
        return nbi_error(NB_ERR_SHAPE, "%s: rank %d is out of range (0..%d)", what, rank,
                         NB_MAX_RANK);
    if (rank > 0 && !shape) return nbi_error(NB_ERR_ARG, "%s: shape is NULL", what);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return nbi_error(NB_ERR_SHAPE, "%s: dimension %d is negative (%lld)", what, i,
                             (long long)shape[i]);
        if (shape[i] && n > INT64_MAX / 8 / shape[i])
            return nbi_error(NB_ERR_SHAPE, "%s: shape has too many elements", what);
        n *= shape[i];
    }
    *numel = n;
    return NB_OK;
}

void nbi_set_contiguous(nb_tensor *t) {
    /* Unrolled and branch-free (every op result passes here): dimension i < rank gets the
     * running product as its stride; dimensions past the rank read as size 1, stride 0. */
    _Static_assert(NB_MAX_RANK == 8, "nbi_set_contiguous unrolls eight dimensions");
    const int r = t->rank;
    if (r <= 2) { /* scalars, vectors, matrices: the last six dimensions are padding */
        static const int64_t ones[NB_MAX_RANK - 2] = {1, 1, 1, 1, 1, 1};
        const int64_t d0 = r > 0 ? t->shape[0] : 1, d1 = r > 1 ? t->shape[1] : 1;
        memcpy(t->shape + 2, ones, sizeof ones);
        memset(t->stride + 2, 0, sizeof ones);
        t->shape[0] = d0;
        t->shape[1] = d1;
        t->stride[0] = r == 2 ? d1 : r; /* rank 1: 1; rank 0: 0 */
        t->stride[1] = r == 2;
        t->numel = d0 * d1;
        return;
    }
    int64_t s = 1;
#define DIM(i)                                                                               \
    do {                                                                                     \
        const bool used = (i) < r;                                                           \
        const int64_t d = used ? t->shape[i] : 1;                                            \
        t->shape[i] = d;                                                                     \
        t->stride[i] = used ? s : 0;                                                         \
        s *= d;                                                                              \
    } while (0)
    DIM(7);
    DIM(6);
    DIM(5);
    DIM(4);
    DIM(3);
    DIM(2);
    DIM(1);
    DIM(0);
#undef DIM
    t->numel = s;
}

nb_tensor *nbi_tensor_header(nb_ctx *ctx) {
    nb_tensor *t;
    if (ctx) {
        t = nbi_ctx_alloc(ctx, sizeof *t, "tensor");
        if (!t) return NULL;
        memset(t, 0, sizeof *t);
    } else {
        t = nbi_malloc(sizeof *t);
        if (!t) {
            nbi_error(NB_ERR_NOMEM, "tensor: out of memory");
            return NULL;
        }
        memset(t, 0, sizeof *t);
        t->flags = NB_TF_HEAP | NB_TF_BORROWED;
    }
    return t;
}

#define HDR_BYTES NBI_TENSOR_HDR

/* One block, header then data: one arena bump (or one malloc) per tensor. The shape is
 * trusted (checked by the caller). */
static nb_tensor *alloc_block(nb_ctx *ctx, nb_dtype dt, int rank, const int64_t *shape,
                              size_t bytes) {
    nb_tensor *t;
    size_t total;
    if (!nbi_add_size(HDR_BYTES, bytes, &total)) {
        nbi_error(NB_ERR_NOMEM, "nb_tensor_new: size overflow");
        return ctx ? nbi_fail(ctx, NB_ERR_NOMEM) : NULL;
    }
    if (ctx) {
        t = nbi_ctx_alloc(ctx, total, "tensor");
        if (!t) return NULL;
        memset(t, 0, sizeof *t);
    } else {
        t = nbi_malloc(total);
        if (!t) {
            nbi_error(NB_ERR_NOMEM, "nb_tensor_new: out of memory (%zu bytes)", total);
            return NULL;
        }
        memset(t, 0, sizeof *t);
        t->flags = NB_TF_HEAP;
    }
    t->data = (unsigned char *)t + HDR_BYTES;
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    nbi_set_contiguous(t);
    return t;
}

nb_tensor *nbi_tensor_alloc(nb_ctx *ctx, nb_dtype dt, int rank, const int64_t *shape) {
    int64_t numel;
    if (nbi_check_shape("nb_tensor_new", rank, shape, &numel) != NB_OK) {
        if (ctx) nbi_fail(ctx, NB_ERR_SHAPE);
        return NULL;
    }
    return alloc_block(ctx, dt, rank, shape, (size_t)numel * nbi_dtype_size(dt));
}

nb_tensor *nbi_tensor_like(nb_ctx *ctx, const nb_tensor *t, nb_dtype dt) {
    return alloc_block(ctx, dt, t->rank, t->shape, (size_t)t->numel * nbi_dtype_size(dt));
}

nb_tensor *nb_tensor_new(nb_ctx *ctx, nb_dtype dt, int rank, const int64_t *shape) {
    if (dt != NB_F32 && dt != NB_I32) {
        nbi_error(NB_ERR_ARG, "nb_tensor_new: unknown dtype %d", (int)dt);
        return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
    }
    return nbi_tensor_alloc(ctx, dt, rank, shape);
}

nb_tensor *nb_full(nb_ctx *ctx, int rank, const int64_t *shape, float value) {
    nb_tensor *t = nbi_tensor_alloc(ctx, NB_F32, rank, shape);
    if (!t) return NULL;
    float *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) p[i] = value;
    return t;
}

nb_tensor *nb_zeros(nb_ctx *ctx, int rank, const int64_t *shape) {
    nb_tensor *t = nbi_tensor_alloc(ctx, NB_F32, rank, shape);
    if (t) memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}

nb_tensor *nb_ones(nb_ctx *ctx, int rank, const int64_t *shape) {
    return nb_full(ctx, rank, shape, 1.0f);
}

nb_tensor *nb_scalar(nb_ctx *ctx, float value) { return nb_full(ctx, 0, NULL, value); }

nb_tensor *nb_arange(nb_ctx *ctx, float start, float stop, float step) {
    if (!(step != 0.0f) || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
        nbi_error(NB_ERR_ARG, "nb_arange: need finite start/stop and a non-zero step "
                  "(got %g, %g, %g)", (double)start, (double)stop, (double)step);
        return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
    }
    double len = ceil(((double)stop - (double)start) / (double)step);
    int64_t n = len > 0 ? (int64_t)len : 0;
    nb_tensor *t = nbi_tensor_alloc(ctx, NB_F32, 1, &n);
    if (!t) return NULL;
    float *p = t->data;
    for (int64_t i = 0; i < n; i++) p[i] = (float)((double)start + (double)i * step);
    return t;
}

nb_tensor *nb_rand(nb_ctx *ctx, int rank, const int64_t *shape, float lo, float hi,
                   nb_rng *rng) {
    if (!rng) {
        nbi_error(NB_ERR_ARG, "nb_rand: rng is NULL (pass an nb_rng seeded with nb_rng_seed)");
        return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
    }
    nb_tensor *t = nbi_tensor_alloc(ctx, NB_F32, rank, shape);
    if (!t) return NULL;
    float *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) p[i] = nb_rng_uniform_range(rng, lo, hi);
    return t;
}

nb_tensor *nb_randn(nb_ctx *ctx, int rank, const int64_t *shape, float mean, float std,
                    nb_rng *rng) {
    if (!rng) {
        nbi_error(NB_ERR_ARG, "nb_randn: rng is NULL (pass an nb_rng seeded with nb_rng_seed)");
        return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
    }
    nb_tensor *t = nbi_tensor_alloc(ctx, NB_F32, rank, shape);
    if (!t) return NULL;
    float *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) p[i] = nb_rng_normal(rng, mean, std);
    return t;
}

nb_tensor *nb_tensor_from(nb_ctx *ctx, nb_dtype dt, void *data, int rank, const int64_t *shape) {
    int64_t numel;
    nb_status s = nbi_check_shape("nb_tensor_from", rank, shape, &numel);
    if (s == NB_OK && !data && numel > 0) s = nbi_error(NB_ERR_ARG, "nb_tensor_from: data is NULL");
    if (s == NB_OK && dt != NB_F32 && dt != NB_I32)
        s = nbi_error(NB_ERR_ARG, "nb_tensor_from: unknown dtype %d", (int)dt);
    if (s != NB_OK) return ctx ? nbi_fail(ctx, s) : NULL;
    nb_tensor *t = nbi_tensor_header(ctx);
    if (!t) return NULL;
    t->data = data;
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    nbi_set_contiguous(t);
    t->flags |= NB_TF_BORROWED;
    return t;
}

nb_tensor *nb_tensor_copy_of(nb_ctx *ctx, const float *src, int rank, const int64_t *shape) {
    nb_tensor *t = nbi_tensor_alloc(ctx, NB_F32, rank, shape);
    if (!t) return NULL;
    if (t->numel) {
        if (!src) {
            nbi_error(NB_ERR_ARG, "nb_tensor_copy_of: src is NULL");
            nb_tensor_free(t);
            return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
        }
        memcpy(t->data, src, (size_t)t->numel * sizeof(float));
    }
    return t;
}

nb_tensor *nb_tensor_clone(nb_ctx *ctx, const nb_tensor *src) {
    if (!src) return NULL;
    nb_tensor *t = nbi_tensor_alloc(ctx, src->dtype, src->rank, src->shape);
    if (!t) return NULL;
    nb_tensor_copy(t, src);
    return t;
}

void nb_tensor_free(nb_tensor *t) {
    if (!t || !(t->flags & NB_TF_HEAP)) return;
    if (t->grad && (t->flags & NB_TF_GRAD_HEAP)) nbi_free(t->grad);
    nbi_free(t);
}

int nb_tensor_is_contiguous(const nb_tensor *t) {
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

int nb_tensor_same_shape(const nb_tensor *a, const nb_tensor *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

static int64_t offset_of(const nb_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int i = 0; i < t->rank; i++) {
        if (idx[i] < 0 || idx[i] >= t->shape[i]) return -1;
        off += idx[i] * t->stride[i];
    }
    return off;
}

float nb_tensor_get(const nb_tensor *t, const int64_t *idx) {
    if (!t || (t->rank && !idx)) return NAN;
    int64_t off = offset_of(t, idx);
    if (off < 0) {
        nbi_error(NB_ERR_ARG, "nb_tensor_get: index out of range");
        return NAN;
    }
    return t->dtype == NB_I32 ? (float)((int32_t *)t->data)[off] : ((float *)t->data)[off];
}

nb_status nb_tensor_set(nb_tensor *t, const int64_t *idx, float v) {
    if (!t || (t->rank && !idx)) return nbi_error(NB_ERR_ARG, "nb_tensor_set: NULL argument");
    int64_t off = offset_of(t, idx);
    if (off < 0) {
        char b[96];
        return nbi_error(NB_ERR_ARG, "nb_tensor_set: index out of range for %s",
                         nb_shape_str(t, b, sizeof b));
    }
    if (t->dtype == NB_I32)
        ((int32_t *)t->data)[off] = (int32_t)v;
    else
        ((float *)t->data)[off] = v;
    return NB_OK;
}

float nb_item(const nb_tensor *t) {
    if (!t || t->numel != 1) {
        char b[96];
        nbi_error(NB_ERR_SHAPE, "nb_item: need a one-element tensor, got %s",
                  nb_shape_str(t, b, sizeof b));
        return NAN;
    }
    return t->dtype == NB_I32 ? (float)*(int32_t *)t->data : *(float *)t->data;
}

/* Copy with arbitrary strides on both sides: the back end's strided copy. */
nb_status nbi_tensor_copy_on(const nbi_backend *be, nb_tensor *dst, const nb_tensor *src) {
    if (!dst || !src) return nbi_error(NB_ERR_ARG, "nb_tensor_copy: NULL tensor");
    if (!nb_tensor_same_shape(dst, src) || dst->dtype != src->dtype) {
        char a[96], b[96];
        return nbi_error(NB_ERR_SHAPE, "nb_tensor_copy: destination %s and source %s differ",
                         nb_shape_str(dst, a, sizeof a), nb_shape_str(src, b, sizeof b));
    }
    if (dst->numel == 0) return NB_OK;
    nbi_iter it;
    const int64_t *st[2] = {dst->stride, src->stride};
    nbi_iter_init(&it, dst->rank, dst->shape, 2, st);
    be->copy_strided(be, &it, dst->data, src->data);
    return NB_OK;
}

nb_status nb_tensor_copy(nb_tensor *dst, const nb_tensor *src) {
    return nbi_tensor_copy_on(nbi_backend_default(), dst, src);
}

nb_status nb_tensor_fill(nb_tensor *t, float v) {
    if (!t) return nbi_error(NB_ERR_ARG, "nb_tensor_fill: NULL tensor");
    if (!nb_tensor_is_contiguous(t)) {
        /* Fill element by element through the multi-index. */
        int64_t idx[NB_MAX_RANK] = {0};
        for (int64_t k = 0; k < t->numel; k++) {
            nb_tensor_set(t, idx, v);
            for (int d = t->rank - 1; d >= 0; d--) {
                if (++idx[d] < t->shape[d]) break;
                idx[d] = 0;
            }
        }
        return NB_OK;
    }
    if (t->dtype == NB_I32) {
        int32_t *p = t->data;
        for (int64_t i = 0; i < t->numel; i++) p[i] = (int32_t)v;
    } else {
        float *p = t->data;
        for (int64_t i = 0; i < t->numel; i++) p[i] = v;
    }
    return NB_OK;
}

void nb_tensor_set_requires_grad(nb_tensor *t, int on) {
    if (!t || t->dtype != NB_F32) return;
    if (on)
        t->flags |= NB_TF_REQUIRES_GRAD;
    else
        t->flags &= ~(unsigned)NB_TF_REQUIRES_GRAD;
}

void nb_tensor_set_retain_grad(nb_tensor *t, int on) {
    if (!t) return;
    if (on)
        t->flags |= NB_TF_RETAIN_GRAD;
    else
        t->flags &= ~(unsigned)NB_TF_RETAIN_GRAD;
}

nb_tensor *nbi_contig_any(nb_ctx *ctx, nb_tensor *t) {
    if (nb_tensor_is_contiguous(t)) return t;
    nb_tensor *c = nbi_tensor_like(ctx, t, t->dtype);
    if (!c) return NULL;
    nbi_tensor_copy_on(ctx->be, c, t);
    return c;
}

/* ---- broadcasting ------------------------------------------------------------------------ */

bool nbi_broadcast_shape(int ra, const int64_t *sa, int rb, const int64_t *sb, int *out_rank,
                         int64_t *out) {
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        int ia = ra - r + i, ib = rb - r + i;
        int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
        if (da == db || db == 1)
            out[i] = da;
        else if (da == 1)
            out[i] = db;
        else
            return false;
    }
    *out_rank = r;
    return true;
}

void nbi_broadcast_strides(const nb_tensor *t, int r, const int64_t *shape, int64_t *strides) {
    for (int i = 0; i < r; i++) {
        int it = t->rank - r + i;
        if (it < 0 || (t->shape[it] == 1 && shape[i] != 1))
            strides[i] = 0;
        else
            strides[i] = t->shape[it] == 1 ? 0 : t->stride[it];
    }
}
