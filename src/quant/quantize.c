/* quant/quantize.c — post-training static quantization (nb_quantize) and what a quantized
 * model tells about itself.
 *
 * After planning (plan.c) and calibration (calib.c), each dense or conv2d layer's folded float
 * weights become int8, one scale per output channel j, symmetric:
 *
 *     s_w[j] = max(max_k |W[j, k]| / 127, |b[j]| / (s_in · 2^29))
 *     Wq[j, k] = clamp(rne(W[j, k] / s_w[j]), −127, 127)
 *     bq[j] = rne(b[j] / (s_in · s_w[j]))                  int32, |bq| <= 2^29
 *
 * (the second term of s_w keeps a large bias of a channel with tiny weights within the
 * kernels' bound, at the cost of those weights' precision; −128 is left out so that the
 * range is symmetric). Then the step is finished as a loaded one is (nbi_qstep_finish). */
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const method_names[NB_CALIB_COUNT] = {"mse", "minmax", "percentile"};

const char *nb_calib_method_name(nb_calib_method m) {
    return (unsigned)m < NB_CALIB_COUNT ? method_names[m] : NULL;
}

int nb_calib_method_from_name(const char *name) {
    for (int i = 0; name && i < NB_CALIB_COUNT; i++)
        if (!strcmp(name, method_names[i])) return i;
    return -1;
}

static double clampd(double v, double lo, double hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static nb_status quantize_step(nb_qmodel *q, nbi_qstep *s) {
    const char *fn = "nb_quantize";
    int64_t N = s->N, K = s->K;
    s->wq = nbi_malloc_for(fn, (size_t)(N * K));
    s->w_scale = nbi_malloc_for(fn, sizeof(float) * (size_t)N);
    s->bias_q = nbi_malloc_for(fn, sizeof(int32_t) * (size_t)N);
    if (!s->wq || !s->w_scale || !s->bias_q) return NB_ERR_NOMEM;
    double s_in = q->acts[s->act_in].scale;
    for (int64_t j = 0; j < N; j++) {
        const float *w = s->wf + j * K;
        double mx = 0.0;
        for (int64_t k = 0; k < K; k++) mx = fabs((double)w[k]) > mx ? fabs((double)w[k]) : mx;
        double sw = mx / 127.0, need = fabs((double)s->bf[j]) / (s_in * (double)NBI_Q_MAX_BIAS);
        if (need > sw) sw = need;
        float swf = (float)clampd(sw, 1e-30, 1e30);
        if (sw == 0.0) swf = 1.0f; /* a channel of zeros */
        s->w_scale[j] = swf;
        for (int64_t k = 0; k < K; k++)
            s->wq[j * K + k] = (int8_t)clampd(nearbyint((double)w[k] / swf), -127.0, 127.0);
        double bq = nearbyint((double)s->bf[j] / (s_in * (double)swf));
        s->bias_q[j] = (int32_t)clampd(bq, -(double)NBI_Q_MAX_BIAS, (double)NBI_Q_MAX_BIAS);
    }
    nb_status st = nbi_qstep_finish(q, s, fn);
    nbi_free(s->wf);
    nbi_free(s->bf);
    s->wf = s->bf = NULL;
    return st;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = nbi_malloc_for("nb_quantize", n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* Bytes of the file's tensors: int8 weights, int32 biases, f32 scales. */
static int64_t count_bytes(const nb_qmodel *q) {
    int64_t b = 0;
    for (int i = 0; i < q->n_steps; i++) {
        const nbi_qstep *s = &q->steps[i];
        if (s->op == NBI_QOP_DENSE || s->op == NBI_QOP_CONV) b += s->N * s->K + 8 * s->N + 16;
    }
    return b;
}

nb_status nb_quantize(const nb_model *m, const nb_dataset *calib, const nb_quant_opts *opts,
                      nb_qmodel **out) {
    const char *fn = "nb_quantize";
    if (!out) return nbi_error(NB_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!m || !calib)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn,
                         !m ? "the model" : "the calibration data");
    nb_quant_opts o = opts ? *opts : (nb_quant_opts){0};
    if ((unsigned)o.method >= NB_CALIB_COUNT)
        return nbi_error(NB_ERR_ARG, "%s: unknown calibration method %d", fn, (int)o.method);
    if (o.percentile == 0.0) o.percentile = 99.99;
    if (!(o.percentile > 50.0 && o.percentile <= 100.0))
        return nbi_error(NB_ERR_ARG, "%s: percentile %g must be in (50, 100]", fn, o.percentile);
    if (o.samples == 0) o.samples = 2048;
    if (o.batch_size == 0) o.batch_size = 256;
    if (o.samples < 0 || o.batch_size < 0)
        return nbi_error(NB_ERR_ARG, "%s: samples (%lld) and batch_size (%lld) must be > 0", fn,
                         (long long)o.samples, (long long)o.batch_size);
    nb_qmodel *q = nbi_malloc_for(fn, sizeof *q);
    if (!q) return NB_ERR_NOMEM;
    memset(q, 0, sizeof *q);
    nb_status s = nbi_qplan(m, true, q);
    if (s == NB_OK) s = nbi_qcalibrate(q, calib, &o);
    for (int i = 0; s == NB_OK && i < q->n_steps; i++)
        if (q->steps[i].op == NBI_QOP_DENSE || q->steps[i].op == NBI_QOP_CONV)
            s = quantize_step(q, &q->steps[i]);
    if (s == NB_OK) {
        char buf[128];
        int64_t len = nb_dataset_len(calib), n = o.samples < len ? o.samples : len;
        if (o.method == NB_CALIB_PERCENTILE)
            snprintf(buf, sizeof buf, "percentile %g, %lld samples, seed %llu", o.percentile,
                     (long long)n, (unsigned long long)o.seed);
        else
            snprintf(buf, sizeof buf, "%s, %lld samples, seed %llu", method_names[o.method],
                     (long long)n, (unsigned long long)o.seed);
        q->calib = dup_str(buf);
        size_t need = nb_model_spec(m, NULL, 0) + 1;
        q->spec = nbi_malloc_for(fn, need);
        if (!q->calib || !q->spec)
            s = NB_ERR_NOMEM;
        else
            nb_model_spec(m, q->spec, need);
    }
    int nc = nb_model_class_count(m);
    if (s == NB_OK && nc > 0) {
        q->classes = nbi_malloc_for(fn, sizeof(char *) * (size_t)nc);
        if (!q->classes) s = NB_ERR_NOMEM;
        for (int i = 0; s == NB_OK && i < nc; i++, q->n_classes++)
            if (!(q->classes[i] = dup_str(nb_model_class_name(m, i)))) s = NB_ERR_NOMEM;
    }
    if (s != NB_OK) {
        nb_qmodel_free(q);
        return s;
    }
    q->bytes = count_bytes(q);
    *out = q;
    return NB_OK;
}

/* ---- what it is ------------------------------------------------------------------------------ */

int nb_qmodel_input_shape(const nb_qmodel *q, int64_t *shape) {
    if (!q) return -1;
    for (int i = 0; shape && i < q->in_rank; i++) shape[i] = q->in_shape[i];
    return q->in_rank;
}

int nb_qmodel_output_shape(const nb_qmodel *q, int64_t *shape) {
    if (!q) return -1;
    for (int i = 0; shape && i < q->out_rank; i++) shape[i] = q->out_shape[i];
    return q->out_rank;
}

nb_activation nb_qmodel_output_activation(const nb_qmodel *q, float *alpha) {
    if (alpha) *alpha = q && q->n_tail ? q->tail_alpha[q->n_tail - 1] : 0.0f;
    return q && q->n_tail ? q->tail[q->n_tail - 1] : NB_ACT_NONE;
}

int nb_qmodel_class_count(const nb_qmodel *q) {
    return q ? q->n_classes : 0;
}

const char *nb_qmodel_class_name(const nb_qmodel *q, int i) {
    return q && i >= 0 && i < q->n_classes ? q->classes[i] : NULL;
}

const char *nb_qmodel_spec(const nb_qmodel *q) {
    return q ? q->spec : NULL;
}

const char *nb_qmodel_calibration(const nb_qmodel *q) {
    return q ? q->calib : NULL;
}

int64_t nb_qmodel_param_bytes(const nb_qmodel *q) {
    return q ? q->bytes : 0;
}

static void shape_text(const nbi_qshape *s, char *b, size_t n) {
    if (s->rank == 1)
        snprintf(b, n, "[%lld]", (long long)s->c);
    else
        snprintf(b, n, "[%lld, %lld, %lld]", (long long)s->c, (long long)s->h, (long long)s->w);
}

void nb_qmodel_summary(const nb_qmodel *q, FILE *f) {
    if (!q || !f) return;
    static const char *const ops[] = {"dense", "conv2d", "maxpool2d", "relu", "flatten"};
    const char *row = "%-16s %-12s %-15s %-18s %-18s %s\n";
    fprintf(f, row, "layer", "int8 op", "output", "in scale / zero", "out scale / zero",
            "weight scales");
    char sh[64], in[32], out[32], ws[64], op[24];
    shape_text(&q->in, sh, sizeof sh);
    snprintf(out, sizeof out, "%.4g / %d", (double)q->acts[0].scale, (int)q->acts[0].zero);
    fprintf(f, row, "(input)", "quantize", sh, "float", out, "");
    for (int i = 0; i < q->n_steps; i++) {
        const nbi_qstep *s = &q->steps[i];
        shape_text(&s->out, sh, sizeof sh);
        const nbi_qact *ai = &q->acts[s->act_in];
        snprintf(in, sizeof in, "%.4g / %d", (double)ai->scale, (int)ai->zero);
        if (s->act_out >= 0)
            snprintf(out, sizeof out, "%.4g / %d", (double)q->acts[s->act_out].scale,
                     (int)q->acts[s->act_out].zero);
        else
            snprintf(out, sizeof out, "float");
        ws[0] = 0;
        if (s->op == NBI_QOP_DENSE || s->op == NBI_QOP_CONV) {
            float lo = INFINITY, hi = 0.0f;
            for (int64_t j = 0; j < s->N; j++) {
                lo = s->w_scale[j] < lo ? s->w_scale[j] : lo;
                hi = s->w_scale[j] > hi ? s->w_scale[j] : hi;
            }
            snprintf(ws, sizeof ws, "%.3g .. %.3g", (double)lo, (double)hi);
        }
        snprintf(op, sizeof op, "%s%s", ops[s->op], s->relu ? "+relu" : "");
        fprintf(f, row, s->name, op, sh, in, out, ws);
    }
    if (q->n_tail) {
        fprintf(f, "after the last layer, in float:");
        for (int i = 0; i < q->n_tail; i++) {
            char act[48];
            nbi_activation_text(q->tail[i], q->tail_alpha[i], act, sizeof act);
            fprintf(f, " %s", act);
        }
        fprintf(f, "\n");
    }
    if (isnan(q->acts[0].min)) return; /* loaded from a file: the ranges are not stored */
    fprintf(f, "activation ranges (calibration saw -> kept):\n");
    for (int a = 0; a < q->n_acts; a++) {
        const nbi_qact *x = &q->acts[a];
        fprintf(f, "  %d: [%.4g, %.4g] -> [%.4g, %.4g]\n", a, (double)x->min, (double)x->max,
                (double)x->lo, (double)x->hi);
    }
}
