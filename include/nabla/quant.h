/* nabla/quant.h — int8 quantized inference: post-training static quantization of a trained
 * model, the quantized model's file, and running it.
 *
 *     nb_model *m;  nb_model_file info;
 *     nb_model_load("mlp.safetensors", &m, &info);
 *     nb_qmodel *q;
 *     nb_quantize(m, calib, &(nb_quant_opts){.norm = &info.norm}, &q);   // calibration data
 *     nb_qmodel_save(q, "mlp.int8.safetensors", &(nb_save_opts){.norm = &info.norm});
 *     nb_tensor *logits = nb_qmodel_infer(q, ctx, x);                     // x normalised
 *
 * The scheme (docs/quantization.md): weights int8, symmetric, one scale per output channel;
 * activations uint8 in [0, 127] (7 bits), one scale and zero point per tensor, chosen from
 * the model's activations on calibration data; biases int32 at scale input · weight. Dense
 * and conv2d layers (with a ReLU fused), max pooling, flatten and ReLU run in integer
 * arithmetic with a defined requantization, so every kernel set gives the same bits. What
 * stays float: the input normalisation and its quantization, the last layer's output
 * (dequantized) and the activations after it (softmax, ...).
 *
 * A quantized model is inference-only and immutable once made: threads may share one, each
 * running it with its own context. Its file is safetensors (I8, I32 and F32 tensors, readable
 * by PyTorch and NumPy) with the scheme in its metadata. */
#ifndef NABLA_QUANT_H
#define NABLA_QUANT_H

#include "nabla/io.h"
#include "nabla/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_qmodel nb_qmodel;

/* How an activation's range [a, b] is chosen from its calibration values (a <= 0 <= b, so
 * that 0 is exact). */
typedef enum nb_calib_method {
    NB_CALIB_MSE = 0,    /* the clipping range of least squared quantization error (default) */
    NB_CALIB_MINMAX,     /* the smallest and largest values seen */
    NB_CALIB_PERCENTILE, /* the p-th and (100 − p)-th percentiles */
    NB_CALIB_COUNT
} nb_calib_method;

/* "mse", "minmax", "percentile"; NULL for a value out of range. */
const char *nb_calib_method_name(nb_calib_method m);
/* The method with that name, or -1. */
int nb_calib_method_from_name(const char *name);

/* Options of nb_quantize; zero fields take the defaults. */
typedef struct nb_quant_opts {
    nb_calib_method method; /* default NB_CALIB_MSE */
    double percentile;      /* NB_CALIB_PERCENTILE: in (50, 100]; 0 means 99.99 */
    int64_t samples;        /* calibration samples drawn from the data; 0 means 2048 (all
                               of them when the data has fewer) */
    uint64_t seed;          /* which samples: a seeded draw without replacement */
    int64_t batch_size;     /* samples per forward pass while calibrating; 0 means 256 */
    const nb_norm *norm;    /* the normalisation the model was trained with, applied to the
                               calibration data (NULL: none) */
} nb_quant_opts;

/* Quantizes model m, a chain of layers (nb_model_is_sequential) of dense, conv2d (groups 1),
 * max pooling, flatten, activation (ReLU between layers; any activation after the last dense
 * or conv2d layer, which is computed in float), dropout and batchnorm (folded into the
 * dense or conv2d layer before it, when that layer has no activation of its own). Other
 * layers, and layers in other places, give NB_ERR_UNSUPPORTED naming the layer. The data's
 * samples must fit the model's input; labels, if any, are not used. m is not changed. */
nb_status nb_quantize(const nb_model *m, const nb_dataset *calib, const nb_quant_opts *opts,
                      nb_qmodel **out);
void nb_qmodel_free(nb_qmodel *q); /* NULL is a no-op */

/* Saves the quantized model (atomic). Of opts, norm and meta are used (the normalisation to
 * store; more metadata pairs); the spec and class names are the quantized model's own (its
 * float model's). opts may be NULL. */
nb_status nb_qmodel_save(const nb_qmodel *q, const char *path, const nb_save_opts *opts);
/* Loads a file written by nb_qmodel_save; info (may be NULL) receives the stored spec and
 * normalisation (release with nb_model_file_free). Every tensor is checked against the
 * architecture and every scale for range before anything runs. */
nb_status nb_qmodel_load(const char *path, nb_qmodel **out, nb_model_file *info);
/* 1 when path is a readable safetensors file with nabla's int8 metadata, else 0 (it reads
 * the header only). */
int nb_qmodel_is_file(const char *path);

/* Runs the quantized model on x [batch, <input shape>] (normalised as for the float model)
 * in ctx, on ctx's back end (its device picks the int8 kernels; every one gives the same
 * bits); returns the f32 output [batch, <output shape>] (NULL with the error set, e.g. for
 * an input that is NaN or infinite). Writes nothing to q. */
nb_tensor *nb_qmodel_infer(const nb_qmodel *q, nb_ctx *ctx, nb_tensor *x);
/* nb_evaluate for a quantized model: the loss and metrics of mt over ds. */
nb_status nb_qmodel_evaluate(const nb_qmodel *q, const nb_dataset *ds, const nb_eval_opts *opts,
                             nb_metrics *mt);

/* ---- what it is ---------------------------------------------------------------------------- */
int nb_qmodel_input_shape(const nb_qmodel *q, int64_t *shape);  /* per sample; returns rank */
int nb_qmodel_output_shape(const nb_qmodel *q, int64_t *shape); /* per sample; returns rank */
/* The activation the output ends with (the last one applied in float), as
 * nb_model_output_activation. */
nb_activation nb_qmodel_output_activation(const nb_qmodel *q, float *alpha);
int nb_qmodel_class_count(const nb_qmodel *q);
const char *nb_qmodel_class_name(const nb_qmodel *q, int i);
/* The float model's spec (architecture and training lines), as stored. */
const char *nb_qmodel_spec(const nb_qmodel *q);
/* The calibration that made it: "mse, 2048 samples, seed 0" (stored in the file). */
const char *nb_qmodel_calibration(const nb_qmodel *q);
/* Bytes of weights and biases (int8 and int32) and of scales (f32). */
int64_t nb_qmodel_param_bytes(const nb_qmodel *q);
/* A table of the quantized layers: kind, output shape, input and output scale and zero
 * point, weight-scale range, and the steps that stay float. */
void nb_qmodel_summary(const nb_qmodel *q, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
