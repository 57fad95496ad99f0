/* kernels/ref/strided.c — kernels over strided operands, walked with an iterator
 * (kernels/iter.h): copies of views, accumulation through a view's index map (the backward
 * of reshape, permute, slice, concat and broadcasting), reductions into groups (an output
 * stride of 0 along the reduced axes makes every element of a group land on one output
 * element), and the dense finishing steps of reductions.
 *
 * Element order is the iterator's: row-major over the shape walked, so sums over a group add
 * in row-major order and a maximum's "first" is the first met in that order. */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

/* ---- copies and accumulation: operand 0 is written, operand 1 read ------------------------- */

typedef struct pair {
    char *d;
    const char *s;
    float div;
} pair;

static void copy_run(int64_t len, const int64_t *off, const int64_t *inner, void *user) {
    const pair *c = user;
    uint32_t *d = (uint32_t *)(void *)c->d + off[0];
    const uint32_t *s = (const uint32_t *)(const void *)c->s + off[1];
    if (inner[0] == 1 && inner[1] == 1) {
        memmove(d, s, (size_t)len * 4);
        return;
    }
    for (int64_t i = 0; i < len; i++) d[i * inner[0]] = s[i * inner[1]];
}

/* dst[map_0(i)] = src[map_1(i)], 4-byte elements (f32 or i32) */
void nbi_ref_copy_strided(const nbi_iter *it, void *dst, const void *src) {
    pair c = {dst, src, 0.0f};
    nbi_iter_run(it, copy_run, &c);
}

static void acc_run(int64_t len, const int64_t *off, const int64_t *inner, void *user) {
    const pair *c = user;
    float *d = (float *)(void *)c->d + off[0];
    const float *s = (const float *)(const void *)c->s + off[1];
    int64_t sd = inner[0], ss = inner[1];
    if (sd == 1 && ss == 1) { /* contiguous runs (a bias's gradient, row by row): vectorised */
        for (int64_t i = 0; i < len; i++) d[i] += s[i];
        return;
    }
    for (int64_t i = 0; i < len; i++) d[i * sd] += s[i * ss];
}

/* dst[map_0(i)] += src[map_1(i)]; a stride of 0 in dst sums a group into one element */
void nbi_ref_acc_strided(const nbi_iter *it, float *dst, const float *src) {
    pair c = {(char *)dst, (const char *)src, 0.0f};
    nbi_iter_run(it, acc_run, &c);
}

static void acc_div_run(int64_t len, const int64_t *off, const int64_t *inner, void *user) {
    const pair *c = user;
    float *d = (float *)(void *)c->d + off[0];
    const float *s = (const float *)(const void *)c->s + off[1];
    int64_t sd = inner[0], ss = inner[1];
    for (int64_t i = 0; i < len; i++) d[i * sd] += s[i * ss] / c->div;
}

/* dst[map_0(i)] += src[map_1(i)] / div (the backward of a mean: dx += dy / N) */
void nbi_ref_acc_div_strided(const nbi_iter *it, float *dst, const float *src, float div) {
    pair c = {(char *)dst, (const char *)src, div};
    nbi_iter_run(it, acc_div_run, &c);
}

/* ---- reductions: operand 0 is x, operand 1 the group (stride 0 along reduced axes) ------- */

typedef struct sum_job {
    const float *x;
    double *acc;
} sum_job;

static void sum_run(int64_t len, const int64_t *off, const int64_t *inner, void *user) {
    const sum_job *c = user;
    const float *x = c->x + off[0];
    double *acc = c->acc + off[1];
    int64_t sx = inner[0], sa = inner[1];
    if (sa == 0) { /* the run lies inside one group */
        double s = 0.0;
        for (int64_t i = 0; i < len; i++) s += (double)x[i * sx];
        *acc += s;
    } else {
        for (int64_t i = 0; i < len; i++) acc[i * sa] += (double)x[i * sx];
    }
}

/* y[o] = Σ_{i ∈ group(o)} x[i], or the mean (1/N) Σ (NaN for N = 0, as NumPy and PyTorch),
 * summed in double in acc[0..ngroups) (scratch, any contents) */
void nbi_ref_sum_strided(const nbi_iter *it, const float *x, double *acc, int64_t ngroups,
                         int64_t count, int mean, float *y) {
    memset(acc, 0, (size_t)ngroups * sizeof *acc);
    sum_job c = {x, acc};
    nbi_iter_run(it, sum_run, &c);
    if (mean) {
        for (int64_t i = 0; i < ngroups; i++) y[i] = count ? (float)(acc[i] / (double)count) : NAN;
    } else {
        for (int64_t i = 0; i < ngroups; i++) y[i] = (float)acc[i];
    }
}

typedef struct max_job {
    const float *x;
    float *best;
    int64_t *pos;
} max_job;

/* operands: 0 = x, 1 = the group (best and pos), 2 = the position recorded for an element */
static void max_run(int64_t len, const int64_t *off, const int64_t *inner, void *user) {
    const max_job *c = user;
    const float *x = c->x + off[0];
    float *best = c->best + off[1];
    int64_t *pos = c->pos + off[1];
    for (int64_t i = 0; i < len; i++) {
        float v = x[i * inner[0]];
        int64_t o = i * inner[1];
        /* strictly greater keeps the first maximum; a NaN beats any number, once */
        if (pos[o] < 0 || v > best[o] || (isnan(v) && !isnan(best[o]))) {
            best[o] = v;
            pos[o] = off[2] + i * inner[2];
        }
    }
}

/* best[o] = max_{i ∈ group(o)} x[i] and pos[o] = operand 2's offset of the first maximum
 * (NaN counts as the largest, so it propagates as in NumPy and PyTorch) */
void nbi_ref_max_strided(const nbi_iter *it, const float *x, float *best, int64_t *pos,
                         int64_t ngroups) {
    for (int64_t o = 0; o < ngroups; o++) pos[o] = -1;
    max_job c = {x, best, pos};
    nbi_iter_run(it, max_run, &c);
}

/* ---- dense steps ------------------------------------------------------------------------- */

/* gx[pos[o]] += gy[o]: the backward of a maximum (each position is hit by one o) */
void nbi_ref_scatter_add(int64_t n, const int64_t *pos, const float *gy, float *gx) {
    for (int64_t o = 0; o < n; o++) gx[pos[o]] += gy[o];
}

/* y[o] = (int32) pos[o]: positions that fit an i32 (argmax) */
void nbi_ref_index_narrow(int64_t n, const int64_t *pos, int32_t *y) {
    for (int64_t o = 0; o < n; o++) y[o] = (int32_t)pos[o];
}

/* y[0..n) = v */
void nbi_ref_fill(int64_t n, float *y, float v) {
    if (v == 0.0f && !signbit(v)) {
        memset(y, 0, (size_t)n * sizeof *y);
        return;
    }
    for (int64_t i = 0; i < n; i++) y[i] = v;
}

/* y[0..n) += x[0..n) */
void nbi_ref_add_into(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* speed: a dense layer's bias. y[r, :] = b for M rows of N */
void nbi_ref_bias_rows(int64_t M, int64_t N, const float *b, float *y) {
    if (N < 16) { /* short rows: a memcpy call per row costs more than the copy */
        for (int64_t j = 0; j < N; j++) {
            const float v = b[j];
            for (int64_t r = 0; r < M; r++) y[r * N + j] = v;
        }
        return;
    }
    for (int64_t r = 0; r < M; r++) memcpy(y + r * N, b, (size_t)N * sizeof(float));
}

/* g[:] += x[r, :] for r = 0..M-1 in order: element j sees ((g + x0) + x1) + ..., the sums of
 * acc_strided with a stride-0 destination, so the bits are those of that composition */
void nbi_ref_acc_rows(int64_t M, int64_t N, const float *x, float *g) {
    if (N < 16) { /* short rows: a column at a time in a register, the same order of sums */
        for (int64_t j = 0; j < N; j++) {
            float s = g[j];
            for (int64_t r = 0; r < M; r++) s += x[r * N + j];
            g[j] = s;
        }
        return;
    }
    for (int64_t r = 0; r < M; r++) {
        const float *row = x + r * N;
        for (int64_t j = 0; j < N; j++) g[j] += row[j];
    }
}

/* the index of the first NaN or infinity in x[0..n), or -1 */
int64_t nbi_ref_find_nonfinite(int64_t n, const float *x) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}
