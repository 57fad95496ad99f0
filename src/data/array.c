/* data/array.c — nb_array: element types, sizes, conversion to f32, and conversion of an
 * array into a tensor. */
#include "data/data.h"
#include "autograd/autograd.h"
#include "base/half.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static const size_t elem_sizes[NB_ELEM_COUNT] = {1, 1, 2, 4, 8, 4, 8, 2};
static const char *const elem_names[NB_ELEM_COUNT] = {"u8",  "i8",  "i16", "i32",
                                                       "i64", "f32", "f64", "f16"};

size_t nb_elem_size(nb_elem e) { return (unsigned)e < NB_ELEM_COUNT ? elem_sizes[e] : 0; }

const char *nb_elem_name(nb_elem e) {
    return (unsigned)e < NB_ELEM_COUNT ? elem_names[e] : "unknown";
}

void nb_array_free(nb_array *a) {
    if (!a) return;
    nbi_free(a->data);
    memset(a, 0, sizeof *a);
}

bool nbi_shape_bytes(int rank, const int64_t *shape, size_t es, int64_t *numel, size_t *bytes) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || !nbi_mul_size(n, (size_t)shape[i], &n)) return false;
    }
    size_t b;
    if (!nbi_mul_size(n, es, &b) || n > (size_t)INT64_MAX / 8) return false;
    *numel = (int64_t)n;
    *bytes = b;
    return true;
}

double nbi_elem_get(nb_elem t, const void *src, int64_t i) {
    switch (t) {
    case NB_ELEM_U8: return ((const uint8_t *)src)[i];
    case NB_ELEM_I8: return ((const int8_t *)src)[i];
    case NB_ELEM_I16: return ((const int16_t *)src)[i];
    case NB_ELEM_I32: return ((const int32_t *)src)[i];
    case NB_ELEM_I64: return (double)((const int64_t *)src)[i];
    case NB_ELEM_F32: return ((const float *)src)[i];
    case NB_ELEM_F64: return ((const double *)src)[i];
    case NB_ELEM_F16: return nbi_half_to_float(((const uint16_t *)src)[i]);
    default: NBI_ASSERT(0 && "bad element type");
    }
}

void nbi_elem_to_f32(nb_elem t, const void *src, int64_t n, float *dst) {
    switch (t) {
    case NB_ELEM_U8:
        for (int64_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)src)[i];
        break;
    case NB_ELEM_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case NB_ELEM_F16: nbi_kernel_set(nbi_best_isa())->half_to_f32(n, src, dst); break;
    default:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)nbi_elem_get(t, src, i);
    }
}

nb_tensor *nb_array_to_tensor(nb_ctx *ctx, const nb_array *a, nb_dtype dt) {
    if (!a || (a->numel > 0 && !a->data) || (unsigned)a->type >= NB_ELEM_COUNT) {
        nbi_error(NB_ERR_ARG, "nb_array_to_tensor: empty or invalid array");
        return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
    }
    if (dt != NB_F32 && dt != NB_I32) {
        nbi_error(NB_ERR_ARG, "nb_array_to_tensor: unknown dtype %d", (int)dt);
        return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
    }
    if (dt == NB_I32) {
        /* Refuse values an int32 cannot hold exactly rather than wrap them. */
        for (int64_t i = 0; i < a->numel; i++) {
            double v = nbi_elem_get(a->type, a->data, i);
            if (!(v >= -2147483648.0 && v <= 2147483647.0) || v != floor(v)) {
                nbi_error(NB_ERR_ARG, "nb_array_to_tensor: element %lld (%g) of a %s array is "
                          "not an int32", (long long)i, v, nb_elem_name(a->type));
                return ctx ? nbi_fail(ctx, NB_ERR_ARG) : NULL;
            }
        }
    }
    nb_tensor *t = nb_tensor_new(ctx, dt, a->rank, a->shape);
    if (!t) return NULL;
    if (dt == NB_F32) {
        nbi_elem_to_f32(a->type, a->data, a->numel, t->data);
    } else {
        int32_t *d = t->data;
        for (int64_t i = 0; i < a->numel; i++) d[i] = (int32_t)nbi_elem_get(a->type, a->data, i);
    }
    return t;
}
