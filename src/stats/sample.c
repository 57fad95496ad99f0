/* stats/sample.c — samplers that fill tensors from an explicit nb_rng.
 *
 *   uniform      lo + (hi − lo) U,           U uniform on [0, 1) with 24 random bits
 *   normal       mean + std Z,               Z by Box–Muller (base/rng.c)
 *   Bernoulli    [U < p]
 *   categorical  the smallest i with F_i > U·F_k, F the cumulative sums of p (inverse CDF),
 *                found by binary search; a category with p_i = 0 has F_i = F_{i−1} and so is
 *                never chosen
 *   permutation  Fisher–Yates: for i = n−1 … 1 swap v_i with v_j, j uniform on [0, i]; each
 *                of the n! orders comes out with probability 1/n!
 *
 * Elements are written in row-major order whatever the tensor's strides, so a seed gives the
 * same values for a tensor and for a contiguous copy of it. */
#include "base/base.h"
#include "nabla/stats.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Row-major walk over a tensor's element offsets. */
typedef struct odo {
    int rank;
    const int64_t *shape, *stride;
    int64_t idx[NB_MAX_RANK];
    int64_t off;
} odo;

static void odo_init(odo *o, const nb_tensor *t) {
    o->rank = t->rank;
    o->shape = t->shape;
    o->stride = t->stride;
    memset(o->idx, 0, sizeof o->idx);
    o->off = 0;
}

static void odo_next(odo *o) {
    for (int d = o->rank - 1; d >= 0; d--) {
        o->off += o->stride[d];
        if (++o->idx[d] < o->shape[d]) return;
        o->off -= o->stride[d] * o->shape[d];
        o->idx[d] = 0;
    }
}

static nb_status check_target(const char *fn, const nb_tensor *t, const nb_rng *rng,
                              bool allow_i32) {
    if (!t) return nbi_error(NB_ERR_ARG, "%s: tensor is NULL", fn);
    if (!rng) return nbi_error(NB_ERR_ARG, "%s: rng is NULL (seed one with nb_rng_seed)", fn);
    if (t->dtype != NB_F32 && !(allow_i32 && t->dtype == NB_I32)) {
        char s[96];
        return nbi_error(NB_ERR_ARG, "%s: tensor %s must be f32%s", fn,
                         nb_shape_str(t, s, sizeof s), allow_i32 ? " or i32" : "");
    }
    return NB_OK;
}

nb_status nb_sample_uniform(nb_tensor *t, float lo, float hi, nb_rng *rng) {
    const char *fn = "nb_sample_uniform";
    nb_status s = check_target(fn, t, rng, false);
    if (s != NB_OK) return s;
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return nbi_error(NB_ERR_ARG, "%s: need finite lo <= hi, got [%g, %g)", fn, (double)lo,
                         (double)hi);
    float *p = t->data;
    odo o;
    odo_init(&o, t);
    for (int64_t e = 0; e < t->numel; e++, odo_next(&o)) p[o.off] = nb_rng_uniform_range(rng, lo, hi);
    return NB_OK;
}

nb_status nb_sample_normal(nb_tensor *t, float mean, float std, nb_rng *rng) {
    const char *fn = "nb_sample_normal";
    nb_status s = check_target(fn, t, rng, false);
    if (s != NB_OK) return s;
    if (!(std >= 0.0f) || !isfinite(std) || !isfinite(mean))
        return nbi_error(NB_ERR_ARG, "%s: need a finite mean and std >= 0, got mean %g std %g",
                         fn, (double)mean, (double)std);
    float *p = t->data;
    odo o;
    odo_init(&o, t);
    for (int64_t e = 0; e < t->numel; e++, odo_next(&o)) p[o.off] = nb_rng_normal(rng, mean, std);
    return NB_OK;
}

nb_status nb_sample_bernoulli(nb_tensor *t, float prob, nb_rng *rng) {
    const char *fn = "nb_sample_bernoulli";
    nb_status s = check_target(fn, t, rng, true);
    if (s != NB_OK) return s;
    if (!(prob >= 0.0f && prob <= 1.0f))
        return nbi_error(NB_ERR_ARG, "%s: p = %g is not a probability in [0, 1]", fn,
                         (double)prob);
    odo o;
    odo_init(&o, t);
    for (int64_t e = 0; e < t->numel; e++, odo_next(&o)) {
        int b = nb_rng_bernoulli(rng, prob);
        if (t->dtype == NB_I32)
            ((int32_t *)t->data)[o.off] = b;
        else
            ((float *)t->data)[o.off] = (float)b;
    }
    return NB_OK;
}

nb_status nb_sample_categorical(nb_tensor *t, const float *p, int64_t k, nb_rng *rng) {
    const char *fn = "nb_sample_categorical";
    nb_status s = check_target(fn, t, rng, true);
    if (s != NB_OK) return s;
    if ((s = nb_stats_check_dist("nb_sample_categorical: p", p, k)) != NB_OK) return s;
    if (k > INT32_MAX || (t->dtype == NB_F32 && k > (1 << 24)))
        return nbi_error(NB_ERR_ARG, "%s: %lld categories do not fit the tensor's dtype", fn,
                         (long long)k);
    double *cdf = nbi_malloc_for(fn, sizeof(double) * (size_t)k);
    if (!cdf) return NB_ERR_NOMEM;
    double acc = 0.0;
    int64_t last = 0;
    for (int64_t i = 0; i < k; i++) {
        acc += p[i];
        cdf[i] = acc;
        if (p[i] > 0.0f) last = i;
    }
    odo o;
    odo_init(&o, t);
    for (int64_t e = 0; e < t->numel; e++, odo_next(&o)) {
        double u = (double)(nb_rng_u64(rng) >> 11) * 0x1.0p-53 * acc;
        int64_t lo = 0, hi = k; /* the answer is in [lo, hi): smallest i with cdf[i] > u */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo >= k) lo = last; /* u rounded up onto the total: the last possible category */
        if (t->dtype == NB_I32)
            ((int32_t *)t->data)[o.off] = (int32_t)lo;
        else
            ((float *)t->data)[o.off] = (float)lo;
    }
    nbi_free(cdf);
    return NB_OK;
}

nb_status nb_sample_permutation(nb_tensor *t, nb_rng *rng) {
    const char *fn = "nb_sample_permutation";
    nb_status s = check_target(fn, t, rng, true);
    if (s != NB_OK) return s;
    if (t->rank != 1) {
        char sh[96];
        return nbi_error(NB_ERR_SHAPE, "%s: needs a 1-D tensor [n], got %s", fn,
                         nb_shape_str(t, sh, sizeof sh));
    }
    int64_t n = t->shape[0], st = t->stride[0];
    if (n > INT32_MAX || (t->dtype == NB_F32 && n > (1 << 24)))
        return nbi_error(NB_ERR_ARG, "%s: %lld indices do not fit the tensor's dtype", fn,
                         (long long)n);
    if (t->dtype == NB_I32) {
        int32_t *v = t->data;
        for (int64_t i = 0; i < n; i++) v[i * st] = (int32_t)i;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)nb_rng_below(rng, (uint64_t)i + 1);
            int32_t x = v[i * st];
            v[i * st] = v[j * st];
            v[j * st] = x;
        }
    } else {
        float *v = t->data;
        for (int64_t i = 0; i < n; i++) v[i * st] = (float)i;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)nb_rng_below(rng, (uint64_t)i + 1);
            float x = v[i * st];
            v[i * st] = v[j * st];
            v[j * st] = x;
        }
    }
    return NB_OK;
}

nb_status nb_sample_shuffle(nb_tensor *t, nb_rng *rng) {
    const char *fn = "nb_sample_shuffle";
    nb_status s = check_target(fn, t, rng, true);
    if (s != NB_OK) return s;
    if (t->rank < 1) return nbi_error(NB_ERR_SHAPE, "%s: a scalar has no rows to shuffle", fn);
    int64_t rows = t->shape[0], rs = t->stride[0];
    if (rows < 2) return NB_OK;
    /* the element offsets of one row (the sub-tensor t[0]), in row-major order */
    int64_t per = t->numel / rows;
    if (per == 0) return NB_OK;
    int64_t *offs = nbi_malloc_for(fn, sizeof(int64_t) * (size_t)per);
    if (!offs) return NB_ERR_NOMEM;
    nb_tensor row = *t;
    row.rank = t->rank - 1;
    memmove(row.shape, t->shape + 1, sizeof(int64_t) * (size_t)row.rank);
    memmove(row.stride, t->stride + 1, sizeof(int64_t) * (size_t)row.rank);
    odo o;
    odo_init(&o, &row);
    for (int64_t e = 0; e < per; e++, odo_next(&o)) offs[e] = o.off;
    /* f32 and i32 are both 4 bytes: move the bytes (memcpy keeps this free of aliasing) */
    unsigned char *d = t->data;
    for (int64_t i = rows - 1; i > 0; i--) {
        int64_t j = (int64_t)nb_rng_below(rng, (uint64_t)i + 1);
        if (j == i) continue;
        for (int64_t e = 0; e < per; e++) {
            unsigned char *a = d + 4 * (i * rs + offs[e]), *b = d + 4 * (j * rs + offs[e]), x[4];
            memcpy(x, a, 4);
            memcpy(a, b, 4);
            memcpy(b, x, 4);
        }
    }
    nbi_free(offs);
    return NB_OK;
}
