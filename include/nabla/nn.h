/* nabla/nn.h — parameters, initialisers, activations, layers and models.
 *
 * Parameters live in a parameter store (nb_params): all values in ONE flat f32 buffer, all
 * gradients in another, with every parameter a named tensor viewing its slice of each (its
 * `grad` field is the view into the gradient buffer, so nb_backward accumulates straight into
 * it). Zeroing every gradient is one memset; an optimizer step is one loop over the buffers
 * (see optim.h); a checkpoint is one write.
 *
 * A model (nb_model) is a graph of layers. The simple case is a sequence, built Keras-style:
 * create it with the shape of one sample and a seed, append layers (each takes the previous
 * one's output), then run it in a context:
 *
 *     nb_model *m = nb_model_new(NB_DIMS(2), 42);          // samples are [2]
 *     nb_model_dense(m, 4, NB_ACT_SIGMOID);                // dense_1: [N,2] -> [N,4]
 *     nb_model_dense(m, 1, NB_ACT_SIGMOID);                // dense_2: [N,4] -> [N,1]
 *     nb_model_summary(m, stdout);
 *     nb_tensor *y = nb_model_forward(m, ctx, x);          // x is [N, 2]
 *
 * Any other graph (Keras's functional API) is built on node handles: every input and every
 * layer output is a node, an int; the _on form of each layer takes the node it is called on
 * and returns its output node; merges take several:
 *
 *     nb_model *m = nb_model_new_graph(42);
 *     int x = nb_model_input(m, "x", NB_F32, NB_DIMS(16));
 *     int h = nb_model_dense_on(m, x, 16, &(nb_dense_opts){.activation = NB_ACT_RELU});
 *     h = nb_model_dense_on(m, h, 16, NULL);
 *     int y = nb_model_add(m, NB_NODES(x, h), NULL);       // a residual connection
 *     nb_model_activation_on(m, y, NB_ACT_RELU, 0, NULL); // the last node is the output
 *
 * A failed add returns a negative handle (minus its nb_status) with nb_last_error() saying
 * why, and leaves the model as it was; a negative handle passed on is returned as it is, so a
 * chain of calls can be checked once at the end. nb_model_reuse calls an existing layer again
 * on other nodes: the two calls share its parameters, and its gradient is the sum of both.
 *
 * Node handles are positive ints (1, 2, ...); 0 means "no node" (an optional input left out:
 * zeroed options do it by themselves).
 *
 * Threads: nb_model_infer takes a const model and never writes to it, so any number of
 * threads may run it on one model at once, each with its own context. nb_model_forward may
 * write: batchnorm's running statistics in training mode, and the gradient buffer on first
 * use. Pointers into the store (a parameter's data, the flat buffers) stay valid until the
 * next parameter is added. */
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
 * NB_ACT_SOFTMAX, NB_ACT_LOG_SOFTMAX (along the last axis; log_softmax is what an "nll" loss
 * reads, PyTorch's nn.LogSoftmax). Files store activations by name, not number. */
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
    NB_INIT_CONSTANT,       /* a */
    NB_INIT_UNIFORM,        /* U(a, b) */
    NB_INIT_NORMAL,         /* N(mean a, std b) */
    NB_INIT_XAVIER_UNIFORM, /* gain (0 means 1) */
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
    float a, b; /* constant value; uniform bounds; normal mean and std */
    float gain; /* xavier and kaiming; 0 = the default described above */
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
/* The parameter with this name ("dense_1.weight"), or NULL. Constant time. */
nb_tensor *nb_params_find(const nb_params *ps, const char *name);
/* Total number of scalars, and the flat buffers (numel floats each; in order of addition).
 * A model's store makes its gradient buffer on first need — a forward that records a tape,
 * an optimizer, or nb_params_grad itself (NULL if that allocation fails) — and until then its
 * parameters do not require gradients: a model loaded only to predict never pays for them. */
int64_t nb_params_numel(const nb_params *ps);
float *nb_params_data(nb_params *ps);
float *nb_params_grad(nb_params *ps);
/* Sets every gradient to 0: one memset over the gradient buffer (nothing to do before it
 * exists: it starts at 0). */
void nb_params_zero_grad(nb_params *ps);

/* ---- models ------------------------------------------------------------------------------- */

typedef struct nb_model nb_model;

/* A model with one f32 input named "input" whose samples have the given shape (without the
 * batch dimension; a dimension may be -1, known only at run time, where the layers after it
 * allow). `seed` seeds the generator that initialises every layer, in order. NULL on error. */
nb_model *nb_model_new(int rank, const int64_t *input_shape, uint64_t seed);
/* A model without inputs yet: add them with nb_model_input. NULL on error. */
nb_model *nb_model_new_graph(uint64_t seed);
void nb_model_free(nb_model *m); /* NULL is a no-op */

/* Node lists: nb_model_add(m, NB_NODES(x, h), NULL) passes the array {x, h} and its length. */
#define NB_NODES(...) (const int[]){__VA_ARGS__}, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))

/* Adds an input of the model: samples of dtype (NB_F32, or NB_I32 for token ids) and the
 * given shape (a dimension may be -1: known at run time). name NULL means "input" for the
 * first, then "input_<k>". Returns its node, or a negative status. */
int nb_model_input(nb_model *m, const char *name, nb_dtype dtype, int rank, const int64_t *shape);

/* Every layer has two forms. nb_model_<kind>(m, ...) appends it after the model's last node
 * (the output of the layer added last, or the input added last) and returns an nb_status;
 * nb_model_<kind>_on(m, x, ...) calls it on node x and returns its output node (or a negative
 * status). Options structs may be NULL (the defaults); their `name` field names the layer
 * (copied; default "<kind>_<k>" for the k-th layer of its kind). A name has 1..63 characters
 * of valid UTF-8, and no control character, '.', ',' or ':'. */

/* Options of a dense layer. Zero-initialised fields take the defaults (Keras's): no
 * activation, a bias, Xavier-uniform weights, zero bias, the name "dense_<k>". */
typedef struct nb_dense_opts {
    nb_activation activation;
    float alpha;         /* leaky_relu slope / elu alpha (0 = default) */
    int no_bias;         /* 1: z = x W only */
    nb_init weight_init; /* default {NB_INIT_XAVIER_UNIFORM} */
    nb_init bias_init;   /* default {NB_INIT_ZEROS} */
    const char *name;    /* copied; default "dense_<k>" for the k-th dense layer */
} nb_dense_opts;

/* A fully connected layer: a = f(x W + b), with W [in, units] and b [units], where `in` is
 * the last dimension of its input (dense acts on the last axis, which must be known). */
nb_status nb_model_dense(nb_model *m, int64_t units, nb_activation act);
nb_status nb_model_dense_with(nb_model *m, int64_t units, const nb_dense_opts *opts);
int nb_model_dense_on(nb_model *m, int x, int64_t units, const nb_dense_opts *opts);

/* An activation on its own (Keras's Activation layer). */
nb_status nb_model_activation(nb_model *m, nb_activation act, float alpha);
int nb_model_activation_on(nb_model *m, int x, nb_activation act, float alpha, const char *name);

/* ---- convolutional layers (samples [C, H, W]; PyTorch's NCHW / OIHW layouts) ----------------
 * Each layer checks its input when added and says, naming itself and the shapes, what does
 * not fit (a kernel larger than its padded input, channels that do not divide by groups, a
 * sample of the wrong rank, sizes whose arithmetic overflows). H and W may be unknown (-1). */

/* Options of a conv2d layer; zero fields take the defaults: stride 1, no padding, dilation 1,
 * one group, a bias, no activation, PyTorch's initialisation (kaiming_uniform with a = √5 for
 * the weight, i.e. U(±1/sqrt(fan_in)), and U(±1/sqrt(fan_in)) for the bias, fan_in =
 * C/groups·KH·KW), the name "conv2d_<k>". The weight is [filters, C/groups, KH, KW]. */
typedef struct nb_conv2d_opts {
    int64_t kernel[2];   /* KH, KW; KW 0 means square */
    int64_t stride[2];   /* 0 means 1 */
    int64_t dilation[2]; /* 0 means 1 */
    int64_t pad[4];      /* top, bottom, left, right */
    int same;            /* 1: padding "same" (stride 1): output size = input size */
    int64_t groups;      /* 0 means 1; filters = groups = C is depthwise */
    nb_activation activation;
    float alpha;
    int no_bias;
    nb_init weight_init; /* default: PyTorch's (see above) */
    nb_init bias_init;   /* default: PyTorch's */
    const char *name;
} nb_conv2d_opts;

/* A square kernel, stride 1, no padding: [C, H, W] → [filters, H−k+1, W−k+1]. */
nb_status nb_model_conv2d(nb_model *m, int64_t filters, int64_t kernel, nb_activation act);
nb_status nb_model_conv2d_with(nb_model *m, int64_t filters, const nb_conv2d_opts *opts);
int nb_model_conv2d_on(nb_model *m, int x, int64_t filters, const nb_conv2d_opts *opts);

/* Pooling layers (the ops nb_max_pool2d and nb_avg_pool2d): window kernel×kernel moved by
 * stride (0: the kernel size), no padding. The _with and _on forms take every option of
 * nb_pool_opts (ops.h) and a name (NULL: default). */
nb_status nb_model_max_pool2d(nb_model *m, int64_t kernel, int64_t stride);
nb_status nb_model_max_pool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name);
int nb_model_max_pool2d_on(nb_model *m, int x, const nb_pool_opts *opts, const char *name);
nb_status nb_model_avg_pool2d(nb_model *m, int64_t kernel, int64_t stride);
nb_status nb_model_avg_pool2d_with(nb_model *m, const nb_pool_opts *opts, const char *name);
int nb_model_avg_pool2d_on(nb_model *m, int x, const nb_pool_opts *opts, const char *name);
/* [C, H, W] → [C]: the mean of each channel. */
nb_status nb_model_global_avg_pool2d(nb_model *m);
int nb_model_global_avg_pool2d_on(nb_model *m, int x, const char *name);
/* [T, C] → [C]: the mean over a sequence's positions (a recurrent layer's outputs over time;
 * nn/timepool.c). */
nb_status nb_model_global_avg_pool1d(nb_model *m);
int nb_model_global_avg_pool1d_on(nb_model *m, int x, const char *name);
/* [d1, d2, ...] → [d1·d2·...] (every dimension known) */
nb_status nb_model_flatten(nb_model *m);
int nb_model_flatten_on(nb_model *m, int x, const char *name);

/* Batch normalisation over axis 1 of the batch (samples [C] or [C, ...]: BatchNorm1d/2d).
 * Parameters "<name>.weight" (ones) and "<name>.bias" (zeros) unless no_affine; state
 * "<name>.running_mean" (zeros) and "<name>.running_var" (ones), updated by training-mode
 * forwards (see nb_batch_norm in ops.h) and used in inference mode. */
typedef struct nb_batch_norm_opts {
    float momentum; /* 0 means PyTorch's 0.1; use a tiny value for "almost none" */
    float eps;      /* 0 means 1e-5 */
    int no_affine;
    const char *name;
} nb_batch_norm_opts;
nb_status nb_model_batch_norm(nb_model *m);
nb_status nb_model_batch_norm_with(nb_model *m, const nb_batch_norm_opts *opts);
int nb_model_batch_norm_on(nb_model *m, int x, const nb_batch_norm_opts *opts);

/* Inverted dropout with probability p in training mode (needs a generator: the _rng forward
 * forms), the identity in inference mode. */
nb_status nb_model_dropout(nb_model *m, float p);
int nb_model_dropout_on(nb_model *m, int x, float p, const char *name);

/* ---- sequence layers (language models) -----------------------------------------------------
 * Samples are sequences: token ids, i32 [T], or vectors [T, E], where T may be known only at
 * run time (-1). Every layer here is the PyTorch module of the same name parameter for
 * parameter (names and layouts: docs/model-files.md), so model files load into torch with
 * load_state_dict(strict=True). Their optional inputs (initial states, lengths, masks) are
 * node handles in the options (0: none). The dense layer acts on the last axis, so
 * nb_model_dense_on on [T, E] is the per-position projection (a language model's head:
 * logits [T, V]). */

/* An embedding (nn.Embedding): ids i32 [...] → [..., dim]; weight [vocab, dim], N(0, 1). */
typedef struct nb_embedding_opts {
    int padding;         /* 1: row padding_idx starts at 0 and gets no gradient */
    int64_t padding_idx; /* in [0, vocab) */
    nb_init init;        /* default {NB_INIT_NORMAL, 0, 1} */
    const char *name;
} nb_embedding_opts;
nb_status nb_model_embedding(nb_model *m, int64_t vocab, int64_t dim);
int nb_model_embedding_on(nb_model *m, int x, int64_t vocab, int64_t dim,
                          const nb_embedding_opts *opts);

/* Positional embeddings: x [T, E] → x + P[t] for every position t. Learned: a table P
 * [max_len, E] ("<name>.weight", an nn.Embedding's, N(0, 1) unless init says otherwise; init
 * may be NULL); a sequence longer than max_len is an error. Sinusoidal (Vaswani et al.):
 * P[t, 2i] = sin(t / 10000^(2i/E)), P[t, 2i+1] = cos(...), no parameters. */
int nb_model_positional_on(nb_model *m, int x, int64_t max_len, const nb_init *init,
                           const char *name);
int nb_model_sinusoidal_on(nb_model *m, int x, const char *name);

/* An output head tied to an embedding (weight tying): logits = x Eᵀ (+ b) with E the weight
 * [vocab, dim] of the embedding layer named `embedding`, shared (one parameter, one
 * gradient, stored once); x [..., dim] → [..., vocab]. bias: its own "<name>.bias" [vocab]. */
int nb_model_tied_dense_on(nb_model *m, int x, const char *embedding, int bias, const char *name);

/* Layer normalisation (nn.LayerNorm over the last axis: weight 1, bias 0, eps 1e-5) and RMS
 * normalisation (nn.RMSNorm: weight 1, eps float32's epsilon). opts may be NULL. */
typedef struct nb_norm_layer_opts {
    float eps;     /* 0: the default */
    int no_affine; /* 1: no weight (and bias) */
    const char *name;
} nb_norm_layer_opts;
nb_status nb_model_layer_norm(nb_model *m, const nb_norm_layer_opts *opts);
int nb_model_layer_norm_on(nb_model *m, int x, const nb_norm_layer_opts *opts);
nb_status nb_model_rms_norm(nb_model *m, const nb_norm_layer_opts *opts);
int nb_model_rms_norm_on(nb_model *m, int x, const nb_norm_layer_opts *opts);

/* Recurrent layers: nn.RNN, nn.LSTM, nn.GRU with batch_first=True — `layers` stacked layers,
 * one or two directions, dropout between layers in training, PyTorch's gate order, names
 * (weight_ih_l0, weight_hh_l0_reverse, ...) and initialisation (U(±1/√hidden)). x [T, I] →
 * outputs y [T, D·hidden] (the returned node), h_n [L·D, hidden] (node + 1) and, for LSTM,
 * c_n [L·D, hidden] (node + 2), with D = 2 when bidirectional and L = layers. Optional input
 * nodes: h0 and c0 [L·D, hidden] (zeros when not given; per sample, so a batch holds
 * [B, L·D, hidden], where PyTorch's are [L·D, B, hidden]); lengths, an i32 scalar per sample
 * (positions t >= length keep the state and output 0, as pack_padded_sequence), or a mask
 * [T] (i32 or f32, nonzero at tokens, tokens first) counted into lengths. */
typedef struct nb_rnn_layer_opts {
    int layers; /* 0 means 1 */
    int bidirectional;
    float dropout; /* between layers, in training; [0, 1) */
    int no_bias;
    nb_activation activation; /* rnn: NB_ACT_TANH (0 too) or NB_ACT_RELU; lstm, gru: 0 */
    int h0, c0, lengths;      /* optional input nodes; 0: none */
    const char *name;
} nb_rnn_layer_opts;
int nb_model_rnn_on(nb_model *m, int x, int64_t hidden, const nb_rnn_layer_opts *opts);
int nb_model_lstm_on(nb_model *m, int x, int64_t hidden, const nb_rnn_layer_opts *opts);
int nb_model_gru_on(nb_model *m, int x, int64_t hidden, const nb_rnn_layer_opts *opts);

/* Multi-head self-attention (nn.MultiheadAttention(width, heads, batch_first=True) called on
 * (x, x, x)): x [T, width] → [T, width]. Parameters in_proj_weight [3·width, width],
 * in_proj_bias, out_proj.weight, out_proj.bias (PyTorch's names and layouts). causal: position
 * t attends to positions <= t. key_mask: an optional node [T], i32 (nonzero: ignore that key,
 * as key_padding_mask) or f32 (added to the scores). dropout: on the attention weights. */
typedef struct nb_attention_layer_opts {
    int64_t heads; /* 0 means 1; must divide the width */
    int causal;
    float dropout;
    int no_bias;
    int key_mask; /* optional node; 0: none */
    const char *name;
} nb_attention_layer_opts;
int nb_model_attention_on(nb_model *m, int x, int64_t width, const nb_attention_layer_opts *opts);

/* A pre-LN transformer block (GPT-2's): h = x + dropout(attn(ln_1(x))),
 * y = h + dropout(mlp.proj(gelu(mlp.fc(ln_2(h))))); x [T, width] → [T, width]. Parameters
 * named as the TransformerBlock module of tests/ref/torch_from_spec.py (ln_1, attn — an
 * nn.MultiheadAttention —, ln_2, mlp.fc, mlp.proj). dropout: on the attention weights and
 * after each branch. */
typedef struct nb_transformer_opts {
    int64_t heads; /* 0 means 1; must divide the width */
    int64_t ffn;   /* the MLP's width; 0 means 4·width */
    int causal;
    float dropout;
    float eps;    /* the layer norms'; 0 means 1e-5 */
    int no_bias;  /* 1: the four projections without biases */
    int key_mask; /* optional node, as the attention layer's */
    /* The weights of the four projections. init NB_INIT_DEFAULT (zeroed options): PyTorch's
     * modules' (in_proj Xavier-uniform, the linears U(±1/√fan_in), weight and bias). Any other
     * init draws in_proj and mlp.fc from it, and the two residual projections (attn.out_proj,
     * mlp.proj) from proj_init (NB_INIT_DEFAULT: init too); the four biases then start at 0.
     * GPT-2's (nanoGPT's) recipe for L blocks is init N(0, 0.02), proj_init
     * N(0, 0.02/√(2L)). */
    nb_init init, proj_init;
    const char *name;
} nb_transformer_opts;
int nb_model_transformer_on(nb_model *m, int x, int64_t width, const nb_transformer_opts *opts);

/* ---- incremental decoding -------------------------------------------------------------------
 * A decoder runs a model on a sequence a few positions at a time — a prompt, then one token
 * per step — keeping what each layer needs of the positions already seen: an attention
 * layer's keys and values (a KV cache, so a step costs O(T), not O(T²)), a recurrent layer's
 * h and c. The model's first input must be token ids i32 [T]; its first output is the
 * logits [T, V]. Every step gives the same logits, to rounding, as a forward over the whole
 * sequence so far would at those positions. Layers that need the whole sequence refuse (a
 * bidirectional recurrent layer, attention that is not causal). Runs in inference mode
 * without a tape and writes nothing to the model: threads may each decode with their own
 * decoder and context. */
typedef struct nb_decoder nb_decoder;

/* A decoder for `batch` sequences of at most max_len positions (its caches are allocated
 * here, once) into *out; the message of an error names the layer that cannot decode. */
nb_status nb_decoder_new(const nb_model *m, int64_t batch, int64_t max_len, nb_decoder **out);
void nb_decoder_free(nb_decoder *d); /* NULL is a no-op */
/* Back to position 0 (the caches forgotten). */
void nb_decoder_reset(nb_decoder *d);
/* Positions fed so far, and the most it takes. */
int64_t nb_decoder_position(const nb_decoder *d);
int64_t nb_decoder_capacity(const nb_decoder *d);
/* Feeds the next n positions of every sequence: ids i32 [batch, n] → the model's first output
 * at those positions, [batch, n, V], in ctx (until nb_ctx_reset). NULL on error, with the
 * position unchanged (but caches possibly written: reset the decoder before going on). */
nb_tensor *nb_decoder_step(nb_decoder *d, nb_ctx *ctx, nb_tensor *ids);
/* The most positions the model takes (the smallest learned positional table), or -1 when
 * nothing limits it. */
int64_t nb_model_context_length(const nb_model *m);

/* ---- graphs ------------------------------------------------------------------------------ */

/* The elementwise sum of n >= 2 nodes of one shape (a residual connection; Keras's Add). */
int nb_model_add(nb_model *m, const int *in, int n, const char *name);
/* n >= 1 nodes joined along a per-sample axis (negative counts from the end); every other
 * dimension must match (Keras's Concatenate). */
int nb_model_concat(nb_model *m, const int *in, int n, int axis, const char *name);
/* Node x cut along a per-sample axis into n parts of the given sizes, which must add up to
 * the axis (torch.split): n outputs, the returned node and the n − 1 after it. */
int nb_model_split(nb_model *m, int x, const int64_t *sizes, int n, int axis, const char *name);
/* Calls the layer named `layer` again, on the nodes in[] (as many as its first call had): the
 * calls share its parameters, and its gradient is the sum over them. Returns the call's first
 * output node; a call with k outputs gives the returned node and the k − 1 after it. name
 * names that node (NULL: "<layer>@<k>" for the k-th call). */
int nb_model_reuse(nb_model *m, const char *layer, const int *in, int n, const char *name);

/* The model's outputs, in order (default: its last node). */
nb_status nb_model_set_outputs(nb_model *m, const int *nodes, int n);

/* ---- running a model ----------------------------------------------------------------------- */

/* Training mode (the default) or inference mode: layers such as dropout and batchnorm behave
 * differently in each. Like PyTorch's model.train(on) / model.eval(). */
nb_status nb_model_set_training(nb_model *m, int on);
int nb_model_training(const nb_model *m); /* 1 in training mode, 0 in inference mode */

/* Runs a model with one input and one output on x, shaped [batch, <input shape>], in ctx;
 * returns the output (NULL on error, with the message naming the layer). Each layer runs
 * with nb_ctx_set_scope set to its name, so check mode and shape errors name it too. In training
 * mode it writes the running statistics of batchnorm layers (as PyTorch does); when ctx
 * records a tape, it makes the store's gradient buffer on first use. */
nb_tensor *nb_model_forward(nb_model *m, nb_ctx *ctx, nb_tensor *x);
/* The same with a generator for the layers that draw in training mode (dropout masks): a
 * model with active dropout needs this form to train. The generator advances; the same
 * state gives the same masks. rng may be NULL (then it is nb_model_forward). */
nb_tensor *nb_model_forward_rng(nb_model *m, nb_ctx *ctx, nb_tensor *x, nb_rng *rng);
/* Any model: in[i] for the i-th input (n_in of them, as many as the model has), out[k] gets
 * the k-th output (n_out of them, as many as the model has). rng may be NULL. */
nb_status nb_model_forward_multi(nb_model *m, nb_ctx *ctx, nb_tensor *const *in, int n_in,
                                 nb_tensor **out, int n_out, nb_rng *rng);
/* Inference: the model in inference mode whatever its mode, writing nothing to it, so that
 * threads may share one model, each with its own context. Parameters whose gradient buffer
 * does not exist yet enter the tape as constants; once it exists (after training), a backward
 * through the result accumulates into it, which threads sharing the model must not do. */
nb_tensor *nb_model_infer(const nb_model *m, nb_ctx *ctx, nb_tensor *x);
nb_status nb_model_infer_multi(const nb_model *m, nb_ctx *ctx, nb_tensor *const *in, int n_in,
                               nb_tensor **out, int n_out);

/* ---- what a model is ------------------------------------------------------------------------ */

/* The parameter store (for an optimizer, clipping, saving). */
nb_params *nb_model_params(nb_model *m);
/* The store of non-trainable state: batchnorm's "<layer>.running_mean" and
 * "<layer>.running_var" (PyTorch's buffers). Saved and loaded with the model; never given to
 * an optimizer (it has no gradients: nb_params_grad gives NULL). Counted as "Non-trainable
 * params" in the summary; nb_model_param_count counts trainable parameters only. */
nb_params *nb_model_state(nb_model *m);
int64_t nb_model_param_count(const nb_model *m);
int64_t nb_model_state_count(const nb_model *m);
void nb_model_zero_grad(nb_model *m);

int nb_model_layer_count(const nb_model *m);
/* The name of layer i ("dense_1"), NULL out of range. */
const char *nb_model_layer_name(const nb_model *m, int i);

/* Nodes: how many there are (handles are 0 .. count − 1), and each one's name ("dense_1",
 * "split_1:1" for output 1 of a call), dtype and per-sample shape (shape holds NB_MAX_RANK
 * entries, -1 for a dimension known at run time; returns the rank, -1 for a bad handle). */
int nb_model_node_count(const nb_model *m);
const char *nb_model_node_name(const nb_model *m, int node);
int nb_model_node_shape(const nb_model *m, int node, nb_dtype *dtype, int64_t *shape);
/* The node with this name ("dense_1", "split_1:1"), or -1. Constant time. */
int nb_model_find_node(const nb_model *m, const char *name);
/* The model's inputs and outputs: how many, and the node of the i-th (-1 out of range). */
int nb_model_input_count(const nb_model *m);
int nb_model_input_node(const nb_model *m, int i);
int nb_model_output_count(const nb_model *m);
int nb_model_output_node(const nb_model *m, int i);
/* 1 when the model is a chain of layers — one f32 input named "input" with every dimension
 * known, each layer called once on the output of the one before, its last node the output —
 * which is a PyTorch nn.Sequential and a version-1 spec; 0 for any other graph. */
int nb_model_is_sequential(const nb_model *m);
/* The per-sample shape of the model's first input / first output; shape must hold
 * NB_MAX_RANK entries. Returns the rank. */
int nb_model_input_shape(const nb_model *m, int64_t *shape);
int nb_model_output_shape(const nb_model *m, int64_t *shape);
/* The activation that output k ends with (NB_ACT_NONE when its layer has none), and its
 * alpha (may be NULL): how to read it (probabilities after softmax or sigmoid). */
nb_activation nb_model_output_activation(const nb_model *m, int k, float *alpha);

/* Class names for a classifier's outputs (copied; saved in model files). Each must be
 * valid UTF-8 without a newline — checked here, so that a long training run does not end
 * in a model file that cannot be written. n = 0 removes them. */
nb_status nb_model_set_classes(nb_model *m, const char *const *names, int n);
int nb_model_class_count(const nb_model *m);
const char *nb_model_class_name(const nb_model *m, int i); /* NULL out of range */

/* ---- a model's tensors as files store them (what model files are written from) -------------
 * Every parameter, every state tensor, and the integer buffers PyTorch keeps and nabla does
 * not, each under PyTorch's name: "<module>.<what>" for a model that is a chain of layers (a
 * torch nn.Sequential: "0.weight", "2.running_mean"), "<layer>.<what>" for any other graph
 * (a torch module whose submodules are named after the layers: "conv2d_1.weight"), and in
 * PyTorch's layout (a dense weight is stored [out, in], the transpose of nabla's). */
typedef enum nb_tensor_role {
    NB_ROLE_PARAM,  /* a trainable parameter (nb_model_params) */
    NB_ROLE_STATE,  /* non-trainable state (nb_model_state): PyTorch's buffers */
    NB_ROLE_COUNTER /* an I64 scalar PyTorch keeps and nabla does not (num_batches_tracked):
                       written as 0, ignored when read */
} nb_tensor_role;

typedef struct nb_model_tensor {
    char name[128];         /* PyTorch's name */
    const char *nabla_name; /* "dense_1.weight"; NULL for a counter */
    nb_tensor_role role;
    const nb_tensor *tensor; /* NULL for a counter */
    int64_t offset;          /* its first element in its store's flat buffer */
    int transposed;          /* stored as the 2-D transpose of nabla's layout */
    int rank;
    int64_t shape[NB_MAX_RANK]; /* in PyTorch's layout */
} nb_model_tensor;

/* Parameters first (store order: parameter i of nb_model_params is tensor i), then state,
 * then counters. */
int nb_model_tensor_count(const nb_model *m);
nb_status nb_model_tensor_at(const nb_model *m, int i, nb_model_tensor *out);

/* The model's architecture as text in the spec format (docs/spec.md): a chain of layers as
 * "nabla-spec 1", the input line and one line per layer; any other graph as "nabla-spec 2"
 * with its inputs, the nodes each line is called on, reuses and outputs. Each line has every
 * setting that differs from its default (and the layer's name when it is not the default
 * one), so that parsing the text and building it gives the same model, parameter for
 * parameter. Writes at most n bytes (NUL included) to buf, like snprintf, and returns the
 * length of the whole text; 0 on error (NULL model, out of memory). */
size_t nb_model_spec(const nb_model *m, char *buf, size_t n);

/* A Keras-like table: layer name and kind, output shape, parameter count, configuration (and
 * for a graph, the nodes each call takes); then the totals. */
nb_status nb_model_summary(const nb_model *m, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
