/* quant/calib.c — calibration: the scale and zero point of every activation, from the float
 * model's values on calibration data.
 *
 * The planned steps run in float (nabla's ops, on the folded weights) over a seeded draw of
 * the data, twice: the first pass records each activation's smallest and largest value, the
 * second its histogram (NBINS bins over [min(m, 0), max(M, 0)]). The range [a, b] (a <= 0 <= b,
 * so that 0 is exact: padding and ReLU need it) is then
 *
 *     minmax       [min(m, 0), max(M, 0)]
 *     percentile   the p-th and (100 − p)-th percentiles (bin edges), default p = 99.99
 *     mse          the range t·[a0, b0], t = k/256 (k = 1..256), of least
 *                  Σ_bins count · (center − dequant(quant(center)))², the histogram's bins
 *                  standing for their values (a step is at least two bins wide for k >= 4)
 *
 * and scale = (b − a) / 127, zero = rne(−a / scale) (nbi_qrange). */
#include "quant/quant.h"
#include "tensor/ctx.h"
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>

#define NBINS 16384

typedef struct act_stats {
    double min, max;
    double lo0, hi0; /* the histogram's range */
    double *hist;    /* NBINS counts */
    int64_t count;
    bool bad; /* a value was NaN or infinite */
} act_stats;

/* Records the n values of x into act's statistics: min/max (pass 0) or the histogram. */
static void record(act_stats *a, const float *x, int64_t n, int pass) {
    if (pass == 0) {
        for (int64_t i = 0; i < n; i++) {
            double v = x[i];
            if (!isfinite(v)) a->bad = true;
            if (v < a->min) a->min = v;
            if (v > a->max) a->max = v;
        }
        a->count += n;
        return;
    }
    double w = a->hi0 - a->lo0;
    if (!(w > 0.0)) return;
    double f = NBINS / w;
    for (int64_t i = 0; i < n; i++) {
        double p = ((double)x[i] - a->lo0) * f;
        int64_t b = p < 0.0 ? 0 : p >= NBINS ? NBINS - 1 : (int64_t)p;
        a->hist[b] += 1.0;
    }
}

/* Σ count · (x − dequant(quant(x)))² over the bins for range [a, b]. */
static double range_error(const act_stats *st, double a, double b) {
    float s;
    int32_t z;
    nbi_qrange(a, b, &s, &z);
    double w = (st->hi0 - st->lo0) / NBINS, err = 0.0, sd = s;
    for (int64_t i = 0; i < NBINS; i++) {
        if (st->hist[i] == 0.0) continue;
        double x = st->lo0 + ((double)i + 0.5) * w;
        double q = nearbyint(x / sd) + z;
        q = q < 0.0 ? 0.0 : q > NBI_Q_ACT_MAX ? NBI_Q_ACT_MAX : q;
        double d = x - (q - z) * sd;
        err += st->hist[i] * d * d;
    }
    return err;
}

/* The value below which a fraction f of the histogram lies (a bin edge). */
static double quantile(const act_stats *st, double f, bool upper) {
    double total = 0.0;
    for (int64_t i = 0; i < NBINS; i++) total += st->hist[i];
    double w = (st->hi0 - st->lo0) / NBINS, want = f * total, cum = 0.0;
    for (int64_t i = 0; i < NBINS; i++) {
        cum += st->hist[i];
        if (cum >= want) return st->lo0 + (double)(upper ? i + 1 : i) * w;
    }
    return st->hi0;
}

static void choose(const act_stats *st, const nb_quant_opts *o, nbi_qact *out) {
    double a = st->lo0, b = st->hi0;
    if (o->method == NB_CALIB_PERCENTILE && st->hi0 > st->lo0) {
        double p = o->percentile / 100.0;
        a = quantile(st, 1.0 - p, false);
        b = quantile(st, p, true);
    } else if (o->method == NB_CALIB_MSE && st->hi0 > st->lo0) {
        double best = INFINITY;
        for (int k = 256; k >= 1; k--) { /* ties keep the wider range */
            double t = k / 256.0, e = range_error(st, st->lo0 * t, st->hi0 * t);
            if (e < best) {
                best = e;
                a = st->lo0 * t;
                b = st->hi0 * t;
            }
        }
    }
    if (a > 0.0) a = 0.0;
    if (b < 0.0) b = 0.0;
    nbi_qrange(a, b, &out->scale, &out->zero);
    out->lo = (float)a;
    out->hi = (float)b;
    out->min = (float)st->min;
    out->max = (float)st->max;
}

/* ---- the float forward ------------------------------------------------------------------- */

typedef struct fplan {
    float **wt; /* per step: a dense step's weights in nabla's layout [K, N] */
} fplan;

static nb_tensor *as_tensor(nb_ctx *ctx, float *p, int rank, const int64_t *shape) {
    return nb_tensor_from(ctx, NB_F32, p, rank, shape);
}

/* Runs steps [0, upto) on x [b, input shape] and records each new activation. */
static nb_status forward(const nb_qmodel *q, const fplan *fp, nb_ctx *ctx, nb_tensor *x, int upto,
                         act_stats *st, int pass) {
    for (int i = 0; i < upto && x; i++) {
        const nbi_qstep *s = &q->steps[i];
        switch (s->op) {
        case NBI_QOP_DENSE: {
            if (x->rank != 2) x = nb_flatten(ctx, x);
            nb_tensor *W = as_tensor(ctx, fp->wt[i], 2, (int64_t[]){s->K, s->N});
            nb_tensor *b = as_tensor(ctx, s->bf, 1, &s->N);
            x = nb_linear(ctx, x, W, b);
            if (s->relu) x = nb_relu(ctx, x);
            break;
        }
        case NBI_QOP_CONV: {
            nb_tensor *W = as_tensor(ctx, s->wf, 4, (int64_t[]){s->N, s->g.C, s->g.KH, s->g.KW});
            nb_tensor *b = as_tensor(ctx, s->bf, 1, &s->N);
            nb_conv_opts op;
            memset(&op, 0, sizeof op);
            op.stride[0] = s->g.sh;
            op.stride[1] = s->g.sw;
            op.dilation[0] = s->g.dh;
            op.dilation[1] = s->g.dw;
            op.pad[0] = s->g.pt;
            op.pad[1] = s->g.pb;
            op.pad[2] = s->g.pl;
            op.pad[3] = s->g.pr;
            op.groups = 1;
            op.relu = s->relu;
            x = nb_conv2d(ctx, x, W, b, &op);
            break;
        }
        case NBI_QOP_MAXPOOL: {
            nb_pool_opts po;
            memset(&po, 0, sizeof po);
            po.kernel[0] = s->g.KH;
            po.kernel[1] = s->g.KW;
            po.stride[0] = s->g.sh;
            po.stride[1] = s->g.sw;
            po.dilation[0] = s->g.dh;
            po.dilation[1] = s->g.dw;
            po.pad[0] = s->g.pt;
            po.pad[1] = s->g.pb;
            po.pad[2] = s->g.pl;
            po.pad[3] = s->g.pr;
            x = nb_max_pool2d(ctx, x, &po);
            break;
        }
        case NBI_QOP_RELU:
            x = nb_relu(ctx, x);
            break;
        case NBI_QOP_FLATTEN:
            x = nb_flatten(ctx, x);
            break;
        }
        if (x && s->act_out >= 1 && s->op != NBI_QOP_RELU && s->op != NBI_QOP_MAXPOOL &&
            s->op != NBI_QOP_FLATTEN) {
            x = nbi_contig(ctx, x);
            if (x) record(&st[s->act_out], x->data, x->numel, pass);
        }
    }
    return x ? NB_OK : nb_ctx_status(ctx);
}

nb_status nbi_qcalibrate(nb_qmodel *q, const nb_dataset *ds, const nb_quant_opts *o) {
    const char *fn = "nb_quantize";
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    int64_t F = nbi_qshape_size(&q->in);
    if (info.features != F)
        return nbi_error(NB_ERR_SHAPE,
                         "%s: the calibration data's samples have %lld values; the model takes "
                         "%lld",
                         fn, (long long)info.features, (long long)F);
    int64_t len = nb_dataset_len(ds);
    if (len < 1) return nbi_error(NB_ERR_ARG, "%s: the calibration data is empty", fn);
    int64_t n = o->samples < len ? o->samples : len, bs = o->batch_size;
    /* the steps that make activations: everything up to the last one that makes one */
    int upto = 0;
    for (int i = 0; i < q->n_steps; i++)
        if (q->steps[i].act_out >= 1) upto = i + 1;
    int64_t *idx = nbi_malloc_for(fn, sizeof *idx * (size_t)len);
    float *xb = nbi_malloc_for(fn, sizeof(float) * (size_t)(bs * F));
    act_stats *st = nbi_malloc_for(fn, sizeof *st * (size_t)q->n_acts);
    fplan fp = {nbi_malloc_for(fn, sizeof(float *) * (size_t)q->n_steps)};
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_status s = idx && xb && st && fp.wt && ctx ? NB_OK : NB_ERR_NOMEM;
    if (st) memset(st, 0, sizeof *st * (size_t)q->n_acts);
    if (fp.wt) memset(fp.wt, 0, sizeof(float *) * (size_t)q->n_steps);
    for (int a = 0; st && a < q->n_acts; a++) {
        st[a].min = INFINITY;
        st[a].max = -INFINITY;
        st[a].hist = nbi_malloc_for(fn, sizeof(double) * NBINS);
        if (!st[a].hist)
            s = NB_ERR_NOMEM;
        else
            memset(st[a].hist, 0, sizeof(double) * NBINS);
    }
    for (int i = 0; s == NB_OK && i < q->n_steps; i++) {
        const nbi_qstep *p = &q->steps[i];
        if (p->op != NBI_QOP_DENSE) continue;
        if (!(fp.wt[i] = nbi_malloc_for(fn, sizeof(float) * (size_t)(p->K * p->N)))) {
            s = NB_ERR_NOMEM;
            break;
        }
        for (int64_t j = 0; j < p->N; j++)
            for (int64_t k = 0; k < p->K; k++) fp.wt[i][k * p->N + j] = p->wf[j * p->K + k];
    }
    if (s == NB_OK) { /* a seeded draw of n samples without replacement (Fisher–Yates) */
        nb_rng rng;
        nb_rng_seed(&rng, o->seed);
        for (int64_t i = 0; i < len; i++) idx[i] = i;
        for (int64_t i = 0; i < n; i++) {
            int64_t j = i + (int64_t)nb_rng_below(&rng, (uint64_t)(len - i)), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
    }
    int passes = o->method == NB_CALIB_MINMAX ? 1 : 2;
    int64_t shape[NB_MAX_RANK + 1];
    for (int d = 0; d < q->in_rank; d++) shape[d + 1] = q->in_shape[d];
    for (int pass = 0; pass < passes && s == NB_OK; pass++) {
        for (int64_t i = 0; i < n && s == NB_OK; i += bs) {
            int64_t b = n - i < bs ? n - i : bs;
            s = nb_dataset_gather(ds, idx + i, b, o->norm, xb, NULL);
            if (s != NB_OK) break;
            for (int64_t k = 0; k < b * F; k++)
                if (!isfinite(xb[k])) {
                    s = nbi_error(NB_ERR_NUMERIC,
                                  "%s: calibration sample %lld has a value that is NaN or "
                                  "infinite (after normalisation)",
                                  fn, (long long)idx[i + k / F]);
                    break;
                }
            if (s != NB_OK) break;
            record(&st[0], xb, b * F, pass);
            nb_ctx_reset(ctx);
            shape[0] = b;
            nb_tensor *x = as_tensor(ctx, xb, q->in_rank + 1, shape);
            s = x ? forward(q, &fp, ctx, x, upto, st, pass) : nb_ctx_status(ctx);
        }
        for (int a = 0; pass == 0 && s == NB_OK && a < q->n_acts; a++) {
            if (st[a].bad || !isfinite(st[a].min) || !isfinite(st[a].max))
                s = nbi_error(NB_ERR_NUMERIC,
                              "%s: activation %d of the float model is NaN or infinite on the "
                              "calibration data",
                              fn, a);
            st[a].lo0 = st[a].min < 0.0 ? st[a].min : 0.0;
            st[a].hi0 = st[a].max > 0.0 ? st[a].max : 0.0;
        }
    }
    for (int a = 0; s == NB_OK && a < q->n_acts; a++) choose(&st[a], o, &q->acts[a]);
    nb_ctx_free(ctx);
    for (int a = 0; st && a < q->n_acts; a++) nbi_free(st[a].hist);
    for (int i = 0; fp.wt && i < q->n_steps; i++) nbi_free(fp.wt[i]);
    nbi_free(fp.wt);
    nbi_free(st);
    nbi_free(xb);
    nbi_free(idx);
    return s;
}
