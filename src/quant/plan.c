/* quant/plan.c — from a float model's layers to the steps of its quantized model, and from a
 * step's quantized tensors to what the kernels run.
 *
 * Planning walks the chain of layers (their views, nn/nn.h) once:
 *
 *     dense, conv2d        a product step; a ReLU right after it (its own activation, or an
 *                          activation layer) is fused into its requantization, a batchnorm
 *                          right after it (before any activation) folded into its weights:
 *                          W' = W γ / sqrt(σ² + ε), b' = (b − μ) γ / sqrt(σ² + ε) + β
 *     max pooling, ReLU    u8 steps (max and max(q, z) commute with q = x / s + z)
 *     flatten              a shape change; data stays [H, W, C], and the dense layer after it
 *                          takes its weights in that order
 *     dropout              nothing (inference)
 *
 * The last dense or conv2d layer dequantizes to f32; activations after it are the float
 * tail. Anything else — a layer kind without an integer form, an activation other than ReLU
 * between layers, a batchnorm that does not follow a product — is refused, naming the layer. */
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static nb_status unsupported(const char *name, const char *why) {
    return nbi_error(NB_ERR_UNSUPPORTED, "nb_quantize: layer '%s': %s", name, why);
}

static nb_status not_relu(const char *name, nb_activation a, float alpha) {
    char act[48], why[160];
    nbi_activation_text(a, alpha, act, sizeof act);
    snprintf(why, sizeof why, "activation %s between layers has no int8 form (only relu)", act);
    return unsupported(name, why);
}

/* The name prefix of a layer's tensors in model files: its first parameter's PyTorch name
 * without ".<what>" ("0.weight" → "0"). */
static nb_status tensor_prefix(const nb_model *m, int first_param, const char *layer, char *out,
                               size_t n) {
    nb_model_tensor mt;
    nb_status s = nb_model_tensor_at(m, first_param, &mt);
    if (s != NB_OK) return s;
    char *dot = strrchr(mt.name, '.');
    if (!dot) return nbi_error(NB_ERR_ARG, "nb_quantize: layer '%s': tensor '%s'", layer, mt.name);
    *dot = 0;
    snprintf(out, n, "%s", mt.name);
    return NB_OK;
}

/* Appends a step (the array grows by doubling). */
static nbi_qstep *push(nb_qmodel *q, int *cap, nbi_qop op, const char *name) {
    if (q->n_steps == *cap) {
        int nc = *cap ? 2 * *cap : 8;
        nbi_qstep *ns = nbi_malloc_for("nb_quantize", sizeof *ns * (size_t)nc);
        if (!ns) return NULL;
        if (q->n_steps) memcpy(ns, q->steps, sizeof *ns * (size_t)q->n_steps);
        nbi_free(q->steps);
        q->steps = ns;
        *cap = nc;
    }
    nbi_qstep *s = &q->steps[q->n_steps++];
    memset(s, 0, sizeof *s);
    s->op = op;
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

/* A product step's float weights, torch layout [N, K], and bias (zeros when the layer has
 * none). */
static nb_status copy_weights(nbi_qstep *s, const nbi_layer_view *v) {
    s->wf = nbi_malloc_for("nb_quantize", sizeof(float) * (size_t)(s->N * s->K));
    s->bf = nbi_malloc_for("nb_quantize", sizeof(float) * (size_t)s->N);
    if (!s->wf || !s->bf) return NB_ERR_NOMEM;
    const float *w = v->weight->data;
    if (s->op == NBI_QOP_DENSE) /* nabla's [K, N] */
        for (int64_t k = 0; k < s->K; k++)
            for (int64_t j = 0; j < s->N; j++) s->wf[j * s->K + k] = w[k * s->N + j];
    else
        memcpy(s->wf, w, sizeof(float) * (size_t)(s->N * s->K));
    for (int64_t j = 0; j < s->N; j++)
        s->bf[j] = v->bias ? ((const float *)v->bias->data)[j] : 0.0f;
    return NB_OK;
}

/* Folds batchnorm view b into product step s. */
static void fold_bn(nbi_qstep *s, const nbi_layer_view *b) {
    const float *mean = b->mean->data, *var = b->var->data;
    const float *g = b->weight ? b->weight->data : NULL, *be = b->bias ? b->bias->data : NULL;
    for (int64_t j = 0; j < s->N; j++) {
        double f = (g ? (double)g[j] : 1.0) / sqrt((double)var[j] + (double)b->eps);
        for (int64_t k = 0; k < s->K; k++)
            s->wf[j * s->K + k] = (float)((double)s->wf[j * s->K + k] * f);
        s->bf[j] = (float)(((double)s->bf[j] - (double)mean[j]) * f + (be ? (double)be[j] : 0.0));
    }
}

static nb_status want_map(const nbi_qshape *x, const char *name, const char *what) {
    if (x->rank == 3) return NB_OK;
    char why[160];
    snprintf(why, sizeof why, "%s needs samples [C, H, W], and its input has rank %d", what,
             x->rank);
    return unsupported(name, why);
}

/* The geometry of a window over map x. */
static nb_status window(const nbi_layer_view *v, const nbi_qshape *x, const char *name,
                        nbi_q_geom *g) {
    memset(g, 0, sizeof *g);
    g->C = x->c;
    g->H = x->h;
    g->W = x->w;
    g->KH = v->kernel[0];
    g->KW = v->kernel[1];
    g->sh = v->stride[0];
    g->sw = v->stride[1];
    g->dh = v->dilation[0];
    g->dw = v->dilation[1];
    g->pt = v->pad[0];
    g->pb = v->pad[1];
    g->pl = v->pad[2];
    g->pr = v->pad[3];
    int64_t eh = g->dh * (g->KH - 1) + 1, ew = g->dw * (g->KW - 1) + 1;
    int64_t ph = g->H + g->pt + g->pb, pw = g->W + g->pl + g->pr;
    if (eh > ph || ew > pw) return unsupported(name, "the window is larger than its input");
    g->OH = (ph - eh) / g->sh + 1;
    g->OW = (pw - ew) / g->sw + 1;
    return NB_OK;
}

nb_status nbi_qplan(const nb_model *m, bool copy, nb_qmodel *q) {
    if (!nb_model_is_sequential(m))
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "nb_quantize: only a chain of layers (a version-1 spec, a torch "
                         "nn.Sequential) can be quantized; this model is a graph");
    q->in_rank = nb_model_input_shape(m, q->in_shape);
    q->out_rank = nb_model_output_shape(m, q->out_shape);
    nbi_qshape x = {0, 1, 1, 1};
    x.rank = q->in_rank == 3 ? 3 : 1;
    if (q->in_rank == 1) {
        x.c = q->in_shape[0];
    } else if (q->in_rank == 3) {
        x.c = q->in_shape[0];
        x.h = q->in_shape[1];
        x.w = q->in_shape[2];
    } else {
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "nb_quantize: the model's samples have rank %d; int8 models take "
                         "vectors [F] or images [C, H, W]",
                         q->in_rank);
    }
    q->in = x;
    int n_layers = nb_model_layer_count(m), last = -1, cap = 0, n_compute = 0;
    for (int i = 0; i < n_layers; i++) {
        nbi_layer_view v;
        nb_status s = nbi_model_layer_view(m, i, &v, NULL, NULL);
        if (s != NB_OK) return s;
        if (v.kind == NBI_VIEW_DENSE || v.kind == NBI_VIEW_CONV2D) last = i, n_compute++;
    }
    if (last < 0)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "nb_quantize: the model has no dense or conv2d layer to quantize");
    q->acts = nbi_malloc_for("nb_quantize", sizeof *q->acts * (size_t)n_compute);
    if (!q->acts) return NB_ERR_NOMEM;
    memset(q->acts, 0, sizeof *q->acts * (size_t)n_compute);
    q->n_acts = 1; /* the input */
    int act = 0;
    nbi_qstep *open = NULL;        /* a product step that a batchnorm or a ReLU may still join */
    nbi_qshape map = {0, 0, 0, 0}; /* the map [C, H, W] that the vector x is the flattening of */
    bool open_relu = false;
    for (int i = 0; i < n_layers; i++) {
        nbi_layer_view v;
        const char *name;
        int first;
        nb_status st = nbi_model_layer_view(m, i, &v, &name, &first);
        if (st != NB_OK) return st;
        char why[200];
        switch (v.kind) {
        case NBI_VIEW_DENSE:
        case NBI_VIEW_CONV2D: {
            bool conv = v.kind == NBI_VIEW_CONV2D;
            if (conv && (st = want_map(&x, name, "conv2d")) != NB_OK) return st;
            if (!conv && x.rank != 1)
                return unsupported(name, "a dense layer on samples [C, H, W] (acting on their "
                                         "last axis) has no int8 form: flatten first");
            if (conv && v.groups != 1) return unsupported(name, "grouped convolution");
            nbi_qstep *s = push(q, &cap, conv ? NBI_QOP_CONV : NBI_QOP_DENSE, name);
            if (!s) return NB_ERR_NOMEM;
            if ((st = tensor_prefix(m, first, name, s->prefix, sizeof s->prefix)) != NB_OK)
                return st;
            s->in = x;
            if (conv) {
                if ((st = window(&v, &x, name, &s->g)) != NB_OK) return st;
                s->N = v.weight->shape[0];
                s->K = s->g.KH * s->g.KW * x.c;
                x = (nbi_qshape){3, s->N, s->g.OH, s->g.OW};
            } else {
                s->N = v.weight->shape[1];
                s->K = x.c;
                s->from_map = map.rank == 3;
                if (s->from_map) s->in = map;
                map.rank = 0;
                x = (nbi_qshape){1, s->N, 1, 1};
            }
            s->K4 = nbi_q_k4(s->K);
            if (s->K > NBI_Q_MAX_K) {
                snprintf(why, sizeof why,
                         "%lld inputs per output; the int8 kernels take at most %d",
                         (long long)s->K, NBI_Q_MAX_K);
                return unsupported(name, why);
            }
            s->out = x;
            s->act_in = act;
            if (copy && (st = copy_weights(s, &v)) != NB_OK) return st;
            if (i == last) {
                s->act_out = -1;
                if (v.act != NB_ACT_NONE) {
                    q->tail[q->n_tail] = v.act;
                    q->tail_alpha[q->n_tail++] = v.alpha;
                }
            } else {
                s->act_out = act = q->n_acts++;
                if (v.act == NB_ACT_RELU) {
                    s->relu = 1;
                } else if (v.act != NB_ACT_NONE) {
                    return not_relu(name, v.act, v.alpha);
                }
            }
            q->out = x;
            open = v.act == NB_ACT_NONE ? s : NULL;
            open_relu = false;
            break;
        }
        case NBI_VIEW_BATCHNORM:
            if (!open || open_relu)
                return unsupported(name, "a batchnorm is quantized only folded into the dense or "
                                         "conv2d layer right before it (with no activation of "
                                         "its own)");
            if (v.mean->shape[0] != open->N) return unsupported(name, "channels do not match");
            if (copy) fold_bn(open, &v);
            break;
        case NBI_VIEW_ACTIVATION:
            if (v.act == NB_ACT_NONE) break;
            if (i > last) {
                if (q->n_tail == NBI_QMAX_TAIL)
                    return unsupported(name, "too many activations after the last layer");
                q->tail[q->n_tail] = v.act;
                q->tail_alpha[q->n_tail++] = v.alpha;
                break;
            }
            if (v.act != NB_ACT_RELU) return not_relu(name, v.act, v.alpha);
            if (open && !open_relu) {
                open->relu = 1;
                open_relu = true;
                break;
            }
            if (!push(q, &cap, NBI_QOP_RELU, name)) return NB_ERR_NOMEM;
            q->steps[q->n_steps - 1].in = q->steps[q->n_steps - 1].out = x;
            q->steps[q->n_steps - 1].act_in = q->steps[q->n_steps - 1].act_out = act;
            open = NULL;
            break;
        case NBI_VIEW_DROPOUT:
            break;
        case NBI_VIEW_MAXPOOL2D: {
            if (i > last)
                return unsupported(name, "max pooling after the last dense or conv2d layer");
            if ((st = want_map(&x, name, "max pooling")) != NB_OK) return st;
            nbi_qstep *s = push(q, &cap, NBI_QOP_MAXPOOL, name);
            if (!s) return NB_ERR_NOMEM;
            s->in = x;
            if ((st = window(&v, &x, name, &s->g)) != NB_OK) return st;
            x = (nbi_qshape){3, x.c, s->g.OH, s->g.OW};
            s->out = x;
            s->act_in = s->act_out = act;
            open = NULL;
            break;
        }
        case NBI_VIEW_FLATTEN: {
            if (i > last) { /* after the last layer: the output's shape only */
                x = (nbi_qshape){1, nbi_qshape_size(&x), 1, 1};
                break;
            }
            if (x.rank == 1) break;
            nbi_qstep *s = push(q, &cap, NBI_QOP_FLATTEN, name);
            if (!s) return NB_ERR_NOMEM;
            s->in = map = x;
            x = (nbi_qshape){1, nbi_qshape_size(&x), 1, 1};
            s->out = x;
            s->act_in = s->act_out = act;
            open = NULL;
            break;
        }
        case NBI_VIEW_AVGPOOL2D:
        case NBI_VIEW_GLOBAL_AVGPOOL2D:
            return unsupported(name, "average pooling has no int8 form here (max pooling has)");
        default:
            return unsupported(name, "this kind of layer has no int8 form");
        }
    }
    return NB_OK;
}

/* ---- finishing a step: what the kernels run --------------------------------------------- */

/* Weights [N, K] with K in the logical order (c, a, b) of a [C, A, B] block, reordered to the
 * storage order (a, b, c): a conv2d's [C, KH, KW] window and a dense layer's flattened
 * [C, H, W] map both become channels last. */
static void to_channels_last(const int8_t *w, int64_t N, int64_t C, int64_t A, int64_t B,
                             int8_t *out) {
    int64_t K = C * A * B;
    for (int64_t j = 0; j < N; j++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < A * B; p++) out[j * K + p * C + c] = w[j * K + c * A * B + p];
}

nb_status nbi_qstep_finish(nb_qmodel *q, nbi_qstep *s, const char *what) {
    const nbi_qact *in = &q->acts[s->act_in];
    const nbi_qact *out = s->act_out >= 0 ? &q->acts[s->act_out] : NULL;
    int64_t K = s->K, N = s->N;
    /* every sum stays within 32 bits (kernels/qgemm.h): |bias_q| bounded, K <= NBI_Q_MAX_K */
    for (int64_t j = 0; j < N; j++) {
        if (s->bias_q[j] > NBI_Q_MAX_BIAS || s->bias_q[j] < -NBI_Q_MAX_BIAS)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: layer '%s': quantized bias %d of output %lld is beyond "
                             "±2^29 (the int8 kernels' bound)",
                             what, s->name, (int)s->bias_q[j], (long long)j);
        float ws = s->w_scale[j];
        if (!(ws >= 1e-30f && ws <= 1e30f))
            return nbi_error(NB_ERR_FORMAT,
                             "%s: layer '%s': weight scale %g of output %lld is "
                             "not in [1e-30, 1e30]",
                             what, s->name, (double)ws, (long long)j);
    }
    s->packed = nbi_malloc_for(what, (size_t)nbi_q_packed_bytes(K, N));
    s->bias_eff = nbi_malloc_for(what, sizeof(int32_t) * (size_t)N);
    s->mult = nbi_malloc_for(what, sizeof(float) * (size_t)N);
    int8_t *tmp = nbi_malloc_for(what, (size_t)(K * N));
    if (!s->packed || !s->bias_eff || !s->mult || !tmp) {
        nbi_free(tmp);
        return NB_ERR_NOMEM;
    }
    const int8_t *w = s->wq;
    if (s->op == NBI_QOP_CONV) {
        to_channels_last(s->wq, N, s->g.C, s->g.KH, s->g.KW, tmp);
        w = tmp;
    } else if (s->from_map) {
        to_channels_last(s->wq, N, s->in.c, s->in.h, s->in.w, tmp);
        w = tmp;
    }
    nbi_q_pack(K, N, w, K, s->packed);
    nbi_free(tmp);
    for (int64_t j = 0; j < N; j++) {
        int64_t sum = 0;
        for (int64_t k = 0; k < K; k++) sum += s->wq[j * K + k];
        s->bias_eff[j] = (int32_t)(s->bias_q[j] - (int64_t)in->zero * sum);
        /* m = s_in · s_w / s_out (or s_in · s_w): in double, rounded once to float */
        double mj = (double)in->scale * (double)s->w_scale[j];
        if (out) mj /= (double)out->scale;
        s->mult[j] = (float)mj;
        if (!isfinite(s->mult[j]))
            return nbi_error(NB_ERR_FORMAT,
                             "%s: layer '%s': the scales give a multiplier %g for "
                             "output %lld",
                             what, s->name, mj, (long long)j);
    }
    return NB_OK;
}

void nbi_qrange(double a, double b, float *scale, int32_t *zero) {
    if (a > 0.0) a = 0.0;
    if (b < 0.0) b = 0.0;
    double s = (b - a) / NBI_Q_ACT_MAX;
    float sf = (float)s;
    if (!(sf >= 1e-30f)) sf = s > 0.0 ? 1e-30f : 1.0f; /* an empty range: any scale is exact */
    if (!(sf <= 1e30f)) sf = 1e30f;
    double z = nearbyint(-a / (double)sf);
    *scale = sf;
    *zero = (int32_t)(z < 0.0 ? 0.0 : z > NBI_Q_ACT_MAX ? NBI_Q_ACT_MAX : z);
}

void nbi_qmodel_clear(nb_qmodel *q) {
    for (int i = 0; i < q->n_steps; i++) {
        nbi_qstep *s = &q->steps[i];
        nbi_free(s->wf);
        nbi_free(s->bf);
        nbi_free(s->wq);
        nbi_free(s->w_scale);
        nbi_free(s->bias_q);
        nbi_free(s->packed);
        nbi_free(s->bias_eff);
        nbi_free(s->mult);
    }
    nbi_free(q->steps);
    nbi_free(q->acts);
    nbi_free(q->spec);
    nbi_free(q->calib);
    for (int i = 0; i < q->n_classes; i++) nbi_free(q->classes[i]);
    nbi_free(q->classes);
    memset(q, 0, sizeof *q);
}

void nb_qmodel_free(nb_qmodel *q) {
    if (!q) return;
    nbi_qmodel_clear(q);
    nbi_free(q);
}
