/* nabla/nn.h — parameters, initialisers, activations, layers and models.
 *
 * Parameters live in a parameter store (nb_params): all values in ONE flat f32 buffer, all
 * gradients in another, with every parameter a named tensor viewing its slice of each (its
 * `grad` field is the view into the gradient buffer, so nb_backward accumulates straight into
 * it). Zeroing every gradient is one memset; an optimizer step is one loop over the buffers
 * (see optim.h); a checkpoint is one write.
 *
 * A model (nb_model) is a sequence of layers built Keras-style: create it with the shape of
 * one sample and a seed, append layers (each infers its input size from the layer before),
 * then call nb_model_forward in a context:
 *
 *     nb_model *m = nb_model_new(NB_DIMS(2), 42);          // samples are [2]
 *     nb_model_dense(m, 4, NB_ACT_SIGMOID);                // dense_1: [N,2] -> [N,4]
 *     nb_model_dense(m, 1, NB_ACT_SIGMOID);                // dense_2: [N,4] -> [N,1]
 *     nb_model_summary(m, stdout);
 *     nb_tensor *y = nb_model_forward(m, ctx, x);          // x is [N, 2]
 *
 * Adding a layer returns an nb_status; a failed add leaves the model as it was. Forward never
 * writes to the model, so two threads may run one model at once, each with its own context.
 * Pointers into the store (a parameter's data, the flat buffers) stay valid until the next
 * parameter is added. */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include "nabla/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- activations --------------------------------------------------------------------------- */

/* NB_ACT_NONE (identity: a linear layer), then one value per NB_ACT / NB_ACT_OP line of
 * nabla/ops.def, in its order: NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_LEAKY_RELU
 * (alpha 0 means PyTorch's 0.01), NB_ACT_ELU (alpha 0 means 1), NB_ACT_GELU (exact),
 * NB_ACT_SILU, NB_ACT_SOFTPLUS (PyTorch's beta 1, threshold 20), NB_ACT_MISH,
 * NB_ACT_SOFTMAX (along the last axis). Files store activations by name, not number. */
typedef enum nb_activation {
    NB_ACT_NONE = 0,
#define NB_ACT(ID, name, NP, CHECK, ACT) NB_ACT_##ID,
#define NB_ACT_OP(ID, name, GAIN) NB_ACT_##ID,
#include "nabla/ops.def"
    NB_ACT_COUNT
} nb_activation;

/* f(x) for an activation, through the op of the same name in ops.h (recorded on the tape
 * like any op); `alpha` is the slope of leaky_relu or the alpha of elu (0 takes the default)
 * and is ignored by the others. NB_ACT_NONE returns x itself. */
nb_tensor *nb_activate(nb_ctx *ctx, nb_tensor *x, nb_activation act, float alpha);
/* "sigmoid", "relu", ...; "linear" (Keras's word) for NB_ACT_NONE; NULL for an unknown value. */
const char *nb_activation_name(nb_activation act);

/* ---- initialisers (torch.nn.init) ----------------------------------------------------------
 * Each fills a contiguous f32 tensor in place from an explicit generator, in row-major order.
 * fan_in and fan_out are given by the caller because they depend on the layout: a dense
 * weight stored [in, out] has fan_in = in, fan_out = out; nb_init_fans computes PyTorch's rule
 * for its [out, in, k...] layout. The formulas are PyTorch's:
 *   xavier (Glorot)  std = gain * sqrt(2 / (fan_in + fan_out))
 *   kaiming (He)     std = gain / sqrt(fan)          fan = fan_in (or fan_out)
 *   *_uniform        U(-b, b) with b = sqrt(3) std;   *_normal  N(0, std²) */
nb_status nb_init_zeros(nb_tensor *t);
nb_status nb_init_constant(nb_tensor *t, float value);
nb_status nb_init_uniform(nb_tensor *t, float lo, float hi, nb_rng *rng);
nb_status nb_init_normal(nb_tensor *t, float mean, float std, nb_rng *rng);
nb_status nb_init_xavier_uniform(nb_tensor *t, int64_t fan_in, int64_t fan_out, float gain,
                                 nb_rng *rng);
nb_status nb_init_xavier_normal(nb_tensor *t, int64_t fan_in, int64_t fan_out, float gain,
                                nb_rng *rng);
nb_status nb_init_kaiming_uniform(nb_tensor *t, int64_t fan, float gain, nb_rng *rng);
nb_status nb_init_kaiming_normal(nb_tensor *t, int64_t fan, float gain, nb_rng *rng);

/* PyTorch's calculate_gain for the activation that follows: 1 for none/sigmoid/softmax, 5/3
 * for tanh, sqrt(2) for relu (and, as PyTorch has no entry, for gelu/silu/softplus/elu),
 * sqrt(2 / (1 + alpha²)) for leaky_relu (alpha 0 means 0.01). */
float nb_init_gain(nb_activation act, float alpha);
/* PyTorch's fan rule for a weight laid out [out, in, k1, k2, ...] (rank >= 2):
 * fan_in = in · Πk, fan_out = out · Πk. */
nb_status nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out);

/* An initialiser as a value, for layer options: {.kind = NB_INIT_HE_NORMAL} or
 * {.kind = NB_INIT_UNIFORM, .a = -0.1f, .b = 0.1f}. NB_INIT_DEFAULT lets the layer choose. */
typedef enum nb_init_kind {
    NB_INIT_DEFAULT = 0,
    NB_INIT_ZEROS,
    NB_INIT_CONSTANT,        /* a */
    NB_INIT_UNIFORM,         /* U(a, b) */
    NB_INIT_NORMAL,          /* N(mean a, std b) */
    NB_INIT_XAVIER_UNIFORM,  /* gain (0 means 1) */
    NB_INIT_XAVIER_NORMAL,
    NB_INIT_KAIMING_UNIFORM, /* gain (0 means nb_init_gain of the layer's activation), fan_in */
    NB_INIT_KAIMING_NORMAL,
} nb_init_kind;
#define NB_INIT_GLOROT_UNIFORM NB_INIT_XAVIER_UNIFORM
#define NB_INIT_GLOROT_NORMAL NB_INIT_XAVIER_NORMAL
#define NB_INIT_HE_UNIFORM NB_INIT_KAIMING_UNIFORM
#define NB_INIT_HE_NORMAL NB_INIT_KAIMING_NORMAL

typedef struct nb_init {
    nb_init_kind kind;
    float a, b;   /* constant value; uniform bounds; normal mean and std */
    float gain;   /* xavier and kaiming; 0 = the default described above */
} nb_init;

/* Applies an initialiser value. A zero gain means 1 for Xavier and `kaiming_gain` for Kaiming
 * (pass nb_init_gain of the activation that follows). Kaiming uses fan_in, as PyTorch's
 * default mode. NB_INIT_DEFAULT is an error here (a layer resolves it first). */
nb_status nb_init_apply(nb_tensor *t, const nb_init *init, int64_t fan_in, int64_t fan_out,
                        float kaiming_gain, nb_rng *rng);

/* ---- the parameter store ------------------------------------------------------------------ */

typedef struct nb_params nb_params;

nb_params *nb_params_new(void);
void nb_params_free(nb_params *ps); /* frees every parameter tensor too; NULL is a no-op */

/* Adds a parameter named `name` (copied; unique in the store) of the given shape, zero-valued,
 * with a zero gradient. The tensor belongs to the store (flags NB_TF_PARAM |
 * NB_TF_REQUIRES_GRAD); its grad views the gradient buffer. NULL on error. */
nb_tensor *nb_params_add(nb_params *ps, const char *name, int rank, const int64_t *shape);
/* Number of parameter tensors, and the i-th in order of addition (NULL out of range). */
int nb_params_len(const nb_params *ps);
nb_tensor *nb_params_at(const nb_params *ps, int i);
/* The parameter with this name ("dense_1.weight"), or NULL. */
nb_tensor *nb_params_find(const nb_params *ps, const char *name);
/* Total number of scalars, and the flat buffers (numel floats each; in order of addition). */
int64_t nb_params_numel(const nb_params *ps);
float *nb_params_data(nb_params *ps);
float *nb_params_grad(nb_params *ps);
/* Sets every gradient to 0: one memset over the gradient buffer. */
void nb_params_zero_grad(nb_params *ps);

/* ---- models ------------------------------------------------------------------------------- */

typedef struct nb_model nb_model;

/* A sequential model whose samples have the given shape (without the batch dimension).
 * `seed` seeds the generator that initialises every layer, in order. NULL on error. */
nb_model *nb_model_new(int rank, const int64_t *input_shape, uint64_t seed);
void nb_model_free(nb_model *m); /* NULL is a no-op */

/* Options of a dense layer. Zero-initialised fields take the defaults (Keras's): no
 * activation, a bias, Xavier-uniform weights, zero bias, the name "dense_<k>". */
typedef struct nb_dense_opts {
    nb_activation activation;
    float alpha;          /* leaky_relu slope / elu alpha (0 = default) */
    int no_bias;          /* 1: z = x W only */
    nb_init weight_init;  /* default {NB_INIT_XAVIER_UNIFORM} */
    nb_init bias_init;    /* default {NB_INIT_ZEROS} */
    const char *name;     /* copied; default "dense_<k>" for the k-th dense layer */
} nb_dense_opts;

/* Appends a fully connected layer: a = f(x W + b), with W [in, units] and b [units], where
 * `in` is the last dimension of the previous layer's output (dense acts on the last axis). */
nb_status nb_model_dense(nb_model *m, int64_t units, nb_activation act);
nb_status nb_model_dense_with(nb_model *m, int64_t units, const nb_dense_opts *opts);

/* Appends an activation on its own (Keras's Activation layer). */
nb_status nb_model_activation(nb_model *m, nb_activation act, float alpha);

/* ---- convolutional layers (samples [C, H, W]; PyTorch's NCHW / OIHW layouts) ----------------
 * Each layer checks its input when appended and says, naming itself and the shapes, what
 * does not fit (a kernel larger than its padded input, channels that do not divide by groups,
 * a sample of the wrong rank). */

/* Options of a conv2d layer; zero fields take the defaults: stride 1, no padding, dilation 1,
 * one group, a bias, no activation, PyTorch's initialisation (kaiming_uniform with a = √5 for
 * the weight, i.e. U(±1/sqrt(fan_in)), and U(±1/sqrt(fan_in)) for the bias, fan_in =
 * C/groups·KH·KW), the name "conv2d_<k>". The weight is [filters, C/groups, KH, KW]. */
typedef struct nb_conv2d_opts {
    int64_t kernel[2];     /* KH, KW; KW 0 means square */
    int64_t stride[2];     /* 0 means 1 */
    int64_t dilation[2];   /* 0 means 1 */
    int64_t pad[4];        /* top, bottom, left, right */
    int same;              /* 1: padding "same" (stride 1): output size = input size */
    int64_t groups;        /* 0 means 1; filters = groups = C is depthwise */
    nb_activation activation;
    float alpha;
    int no_bias;
    nb_init weight_init;   /* default: PyTorch's (see above) */
    nb_init bias_init;     /* default: PyTorch's */
    const char *name;
} nb_conv2d_opts;

/* A square kernel, stride 1, no padding: [C, H, W] → [filters, H−k+1, W−k+1]. */
nb_status nb_model_conv2d(nb_model *m, int64_t filters, int64_t kernel, nb_activation act);
nb_status nb_model_conv2d_with(nb_model *m, int64_t filters, const nb_conv2d_opts *opts);

/* Pooling layers: window kernel×kernel moved by stride (0: the kernel size), no padding.
 * The _with forms take every option of nb_pool_opts (ops.h) and a name (NULL: default). */
nb_status nb_model_maxpool2d(nb_model *m, int64_t kernel, int64_t stride);
nb_status nb_model_maxpool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name);
nb_status nb_model_avgpool2d(nb_model *m, int64_t kernel, int64_t stride);
nb_status nb_model_avgpool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name);
/* [C, H, W] → [C]: the mean of each channel. */
nb_status nb_model_global_avgpool2d(nb_model *m);
/* [d1, d2, ...] → [d1·d2·...] */
nb_status nb_model_flatten(nb_model *m);

/* Batch normalisation over axis 1 of the batch (samples [C] or [C, ...]: BatchNorm1d/2d).
 * Parameters "<name>.weight" (ones) and "<name>.bias" (zeros) unless no_affine; state
 * "<name>.running_mean" (zeros) and "<name>.running_var" (ones), updated by training-mode
 * forwards (see nb_batch_norm in ops.h) and used in inference mode. */
typedef struct nb_batchnorm_opts {
    float momentum;   /* 0 means PyTorch's 0.1; use a tiny value for "almost none" */
    float eps;        /* 0 means 1e-5 */
    int no_affine;
    const char *name;
} nb_batchnorm_opts;
nb_status nb_model_batchnorm(nb_model *m);
nb_status nb_model_batchnorm_with(nb_model *m, const nb_batchnorm_opts *opts);

/* Inverted dropout with probability p in training mode (needs nb_model_forward_rng), the
 * identity in inference mode. */
nb_status nb_model_dropout(nb_model *m, float p);

/* Training mode (the default) or inference mode: layers such as dropout and batchnorm behave
 * differently in each. Like PyTorch's model.train() / model.eval(). Returns the previous one. */
int nb_model_train(nb_model *m, int training);

/* Runs the model on x, shaped [batch, <input shape>], in ctx; returns the output (NULL on
 * error, with the message naming the layer). Each layer runs with nb_ctx_set_scope set to its
 * name, so check mode and shape errors name it too. Writes nothing to the model except, in
 * training mode, the running statistics of batchnorm layers (as PyTorch does). */
nb_tensor *nb_model_forward(const nb_model *m, nb_ctx *ctx, nb_tensor *x);
/* The same with a generator for the layers that draw in training mode (dropout masks): a
 * model with active dropout needs this form to train. The generator advances; the same
 * state gives the same masks. rng may be NULL (then it is nb_model_forward). Two threads
 * running one model need two generators. */
nb_tensor *nb_model_forward_rng(const nb_model *m, nb_ctx *ctx, nb_tensor *x, nb_rng *rng);

/* The parameter store (for an optimizer, clipping, saving). */
nb_params *nb_model_params(const nb_model *m);
/* The store of non-trainable state: batchnorm's "<layer>.running_mean" and
 * "<layer>.running_var" (PyTorch's buffers). Saved and loaded with the model; never given to
 * an optimizer (its gradient buffer stays unused). Counted as "Non-trainable params" in the
 * summary; nb_model_param_count counts trainable parameters only. */
nb_params *nb_model_state(const nb_model *m);
int64_t nb_model_param_count(const nb_model *m);
void nb_model_zero_grad(nb_model *m);

int nb_model_layer_count(const nb_model *m);
/* The name of layer i ("dense_1"), NULL out of range. */
const char *nb_model_layer_name(const nb_model *m, int i);
/* The per-sample input shape of the model; shape must hold NB_MAX_RANK entries. Returns the
 * rank. */
int nb_model_input_shape(const nb_model *m, int64_t *shape);
/* The per-sample output shape of the model (of its last layer; the input shape if empty);
 * shape must hold NB_MAX_RANK entries. Returns the rank. */
int nb_model_output_shape(const nb_model *m, int64_t *shape);

/* The model's architecture as text in the spec format (docs/spec.md): "nabla-spec 1", the
 * input line, then one line per layer, each with every setting that differs from its
 * default (and the layer's name when it is not the default one), so that parsing the text
 * and building it gives the same model, parameter for parameter. Writes at most n bytes
 * (NUL included) to buf, like snprintf, and returns the length of the whole text; 0 on
 * error (NULL model, out of memory). */
size_t nb_model_spec(const nb_model *m, char *buf, size_t n);

/* A Keras-like table: layer name and kind, output shape, parameter count, configuration;
 * then the totals. */
nb_status nb_model_summary(const nb_model *m, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
