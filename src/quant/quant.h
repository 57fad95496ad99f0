/* quant/quant.h — internals of int8 quantized inference (nabla/quant.h, docs/quantization.md).
 *
 * A quantized model is a list of steps planned from a float model's layers (plan.c): dense
 * and conv2d with their activation fused, max pooling, ReLU and flatten, each on u8
 * activations; every batchnorm is folded into the layer before it, every dropout dropped.
 * The same planner runs on a trained model (nb_quantize: it also copies the float weights,
 * folded) and on a dry model built from a file's stored spec (nb_qmodel_load: shapes only,
 * the integers come from the file), so a file's tensors always meet the plan that made them.
 *
 * Activations are numbered: act 0 is the input; each dense or conv2d step but the last makes
 * a new one; pooling, ReLU and flatten keep their input's (they commute with the affine map
 * q = x / s + z). Each act has a scale and a zero point, chosen by calibration (calib.c).
 * The last dense or conv2d step dequantizes to f32; the activations after it run in float. */
#ifndef NBI_QUANT_H
#define NBI_QUANT_H

#include "kernels/backend.h"
#include "nabla/quant.h"
#include "nn/nn.h"

#define NBI_QUANT_FORMAT_VERSION 1
#define NBI_QMAX_TAIL 4 /* float activations after the last layer */

typedef enum nbi_qop {
    NBI_QOP_DENSE,
    NBI_QOP_CONV,
    NBI_QOP_MAXPOOL,
    NBI_QOP_RELU,
    NBI_QOP_FLATTEN,
} nbi_qop;

/* The shape of one sample: [F] or [C, H, W] (stored channels last, [H, W, C]). */
typedef struct nbi_qshape {
    int rank;
    int64_t c, h, w; /* rank 1: c = F, h = w = 1 */
} nbi_qshape;

static inline int64_t nbi_qshape_size(const nbi_qshape *s) {
    return s->c * s->h * s->w;
}

typedef struct nbi_qstep {
    nbi_qop op;
    char name[NBI_LAYER_NAME_MAX]; /* the layer that makes it (a fused group: the first) */
    char prefix[128];              /* its tensors' names in files: "<prefix>.weight" */
    nbi_qshape in, out;
    int act_in, act_out; /* activation numbers; act_out -1: f32 output */
    /* dense, conv2d */
    int64_t K, N, K4; /* the product: N outputs of K inputs (conv: K = KH·KW·C) */
    int relu;         /* fused: the requantization clamps at the zero point */
    int from_map;     /* dense after a flatten of [C, H, W]: its input is stored [H, W, C],
                         so the packed weights take their inputs in that order */
    nbi_q_geom g;     /* conv2d, max pooling */
    float *wf, *bf;   /* float weights, torch layout [N, K] (conv: [N, C, KH, KW]) and bias,
                         batchnorm folded (nb_quantize only; freed once quantized) */
    /* the quantized layer: the file's tensors ... */
    int8_t *wq;      /* [N, K], torch layout */
    float *w_scale;  /* [N] */
    int32_t *bias_q; /* [N], at scale in · w_scale[j] */
    /* ... and what the kernels run (nbi_qstep_finish) */
    int8_t *packed;    /* nbi_q_pack of wq, inputs in storage order */
    int32_t *bias_eff; /* bias_q[j] − zero_in · Σ_k wq[j, k] */
    float *mult;       /* [N] the requantization multipliers (or dequantization scales) */
} nbi_qstep;

typedef struct nbi_qact {
    float scale;
    int32_t zero;
    float lo, hi;   /* the range calibration chose, for the summary */
    float min, max; /* the range calibration saw */
} nbi_qact;

struct nb_qmodel {
    nbi_qstep *steps;
    int n_steps;
    nbi_qact *acts;
    int n_acts;
    nbi_qshape in; /* the input sample: rank 1 or 3 */
    int in_rank;   /* the float model's input shape, as it declares it */
    int64_t in_shape[NB_MAX_RANK];
    nbi_qshape out; /* the last step's output, before any flatten after it */
    int out_rank;   /* the float model's output shape */
    int64_t out_shape[NB_MAX_RANK];
    nb_activation tail[NBI_QMAX_TAIL]; /* applied in float to the output, in order */
    float tail_alpha[NBI_QMAX_TAIL];
    int n_tail;
    char *spec;  /* the float model's spec text */
    char *calib; /* how it was calibrated */
    char **classes;
    int n_classes;
    int64_t bytes; /* weights, biases and scales */
};

/* Plans the steps of the chain model m (plan.c). copy: take the float weights (m is real);
 * else only shapes (m may be dry). q gets steps, acts (scales unset), shapes and tail. */
nb_status nbi_qplan(const nb_model *m, bool copy, nb_qmodel *q);
/* Computes what the kernels run for step s from its quantized tensors and the scales of its
 * activations; checks every bound the kernels rely on (NB_ERR_FORMAT naming `what`). */
nb_status nbi_qstep_finish(nb_qmodel *q, nbi_qstep *s, const char *what);
/* The calibration: runs the float plan over the data and sets every act's scale and zero
 * point (calib.c). */
nb_status nbi_qcalibrate(nb_qmodel *q, const nb_dataset *ds, const nb_quant_opts *o);
/* The scale and zero point of range [a, b] (a <= 0 <= b) on [0, NBI_Q_ACT_MAX]. */
void nbi_qrange(double a, double b, float *scale, int32_t *zero);
/* nb_qmodel_load on an opened or parsed file (the fuzzer's entry point). */
struct nb_safetensors;
nb_status nbi_qmodel_from_st(const struct nb_safetensors *st, nb_qmodel **out, nb_model_file *info);
/* Frees the steps' buffers and the model's strings (not q itself). */
void nbi_qmodel_clear(nb_qmodel *q);

#endif
