/* nn/nn.h — internals of the nn layer: the parameter store's layout and the layer interface.
 * docs/ADDING_A_LAYER.md walks through writing a layer kind with it.
 *
 * A layer kind is one file under src/nn/ that defines a struct beginning with nbi_layer, a
 * table of functions (nbi_layer_vt) and its public nb_model_<kind>_on function, which fills
 * the struct with the layer's settings and hands it to nbi_model_push together with the
 * nodes it is called on. The model does the rest: naming, shape inference, parameter
 * declaration and initialisation, rollback on failure, forward in topological order with
 * scopes, the summary, the spec text, and the tensors' names in model files.
 *
 * A layer is called on n input nodes and gives n output nodes; a layer may be called again
 * on other nodes (nb_model_reuse), sharing its parameters, so everything that depends on
 * the inputs is given to the functions below rather than stored in the layer:
 *
 *     infer          input shapes → output shapes (per sample; a dimension may be -1, known
 *                    only at run time), or a shape error naming the layer. Called for every
 *                    call; for a layer already built (a reuse) it also checks that the new
 *                    inputs fit the parameters it has.
 *     build          first call only: declares the layer's parameters and state with
 *                    nbi_layer_param / nbi_layer_state, from the input shapes
 *     init           draws the initial values of what build declared, from the model's
 *                    generator (skipped by a model that only checks shapes)
 *     forward        inputs → outputs from ops only (their backward comes with them); reads
 *                    the layer and its parameters and writes neither, except state in
 *                    training mode (batchnorm's running statistics)
 *     describe       its settings in a few words, for the summary ("4 units, sigmoid")
 *     spec           its line of the spec format ("dense 4 sigmoid init=he_normal"): the kind
 *                    and every setting that differs from the default, but neither the name
 *                    nor the inputs, which the model adds (src/nn/spec.c). The spec reader
 *                    (src/io/spec_layers.c) reads the line back: one table entry per kind,
 *                    and a round-trip test checks that the two agree.
 *     activation     the activation the layer ends with, for a caller that must know what an
 *                    output means (nabla predict: probabilities after softmax or sigmoid)
 *     decode_floats  for incremental decoding (nn/decode.c): the state a call keeps between
 *                    steps (an attention layer's KV cache, a recurrent layer's h and c), or
 *                    an error for a layer that cannot run one position at a time
 *     context        the most positions the layer takes (a learned positional embedding's
 *                    table), for generation's window
 *     torch          how the layer maps onto PyTorch, for model files that torch's
 *                    load_state_dict reads directly: the number of nn.Sequential modules it
 *                    stands for in a chain model (a dense layer with an activation is
 *                    nn.Linear then the activation: 2), which of its parameters torch stores
 *                    transposed (a dense weight is [in, out] here and [out, in] in nn.Linear),
 *                    and the integer buffer torch keeps that nabla does not
 *                    (num_batches_tracked). */
#ifndef NBI_NN_H
#define NBI_NN_H

#include "autograd/autograd.h"
#include "nabla/nn.h"

/* ---- the parameter store ------------------------------------------------------------------ */

/* One parameter: its tensor, the view of its gradient, where both start in the flat buffers,
 * the layer that declared it, and its name. Taken from the store's arena, where it never
 * moves, so the tensors' addresses stay valid. */
typedef struct nbi_param {
    nb_tensor value;
    nb_tensor grad;
    int64_t offset;
    int owner;           /* the model's layer index; -1 for nb_params_add */
    nbi_arena_mark mark; /* the arena before it: a rollback releases back to it */
    char name[];         /* NUL-terminated */
} nbi_param;

/* When a store makes its gradient buffer. */
enum {
    NBI_GRAD_EAGER = 0, /* with the values (nb_params_new) */
    NBI_GRAD_LAZY,      /* on first need: nbi_params_need_grad (a model's parameters) */
    NBI_GRAD_NONE,      /* never: non-trainable state (running statistics) */
    NBI_GRAD_DRY,       /* no buffers at all: names and shapes only (a spec's shape check) */
};

struct nb_params {
    float *data; /* values: numel used of cap (NULL in a dry store) */
    float *grad; /* gradients: the same layout; NULL until needed (NBI_GRAD_LAZY) */
    int64_t numel, cap;
    nbi_param **items; /* in order of addition */
    int n, cap_items;
    nbi_arena mem;    /* the nbi_param records: one allocation per many parameters */
    nbi_strmap index; /* name → position */
    int grad_mode;    /* NBI_GRAD_* */
};

nb_params *nbi_params_new_mode(int grad_mode);
/* nb_params_add with a status (the tensor in *out); owner is the declaring layer's index. */
nb_status nbi_params_add(nb_params *ps, const char *name, int rank, const int64_t *shape,
                         nb_tensor **out);
nb_status nbi_params_add_owned(nb_params *ps, const char *name, int rank, const int64_t *shape,
                               int owner, nb_tensor **out);
/* Removes the parameters added after the first n (rolls back a failed layer). */
void nbi_params_truncate(nb_params *ps, int n);
/* Gives a dry store its buffers, at exactly its size, zero-valued (grad_mode: what it becomes). */
nb_status nbi_params_materialize(nb_params *ps, int grad_mode, const char *what);
/* Makes the gradient buffer if the store has none yet (NBI_GRAD_LAZY); no-op otherwise. */
nb_status nbi_params_need_grad(nb_params *ps);
/* Parameter i of the store with its bookkeeping (NULL out of range). */
const nbi_param *nbi_params_item(const nb_params *ps, int i);

/* ---- shapes --------------------------------------------------------------------------------- */

/* The shape of one sample of a node (no batch dimension). A dimension of -1 is known only at
 * run time (a sequence length). rank -1 marks an optional input that a call did not give. */
typedef struct nbi_shape {
    nb_dtype dtype;
    int rank;
    int64_t dim[NB_MAX_RANK];
} nbi_shape;

/* "(None, 4)"-style text of a per-sample shape with the batch as None (and unknown
 * dimensions as None too). */
void nbi_batch_shape_str(int rank, const int64_t *shape, char *buf, size_t n);
void nbi_shape_str(const nbi_shape *s, char *buf, size_t n);

/* ---- layers -------------------------------------------------------------------------------- */

typedef struct nbi_layer nbi_layer;

/* What a forward call runs with; a struct so that later needs add a field rather than change
 * every layer. rng is the caller's generator for layers that draw in training mode (dropout);
 * NULL when the caller gave none (nb_model_forward), which such a layer reports as an error
 * only if it would draw. */
typedef struct nbi_fwd {
    nb_ctx *ctx;
    int training;
    nb_rng *rng;
    /* Incremental decoding (nb_decoder, nn/decode.c): the inputs are the next positions of
     * sequences already begun, pos of them fed before. state is this call's buffer of
     * decode_floats floats (zero at position 0), kept between steps, which the layer reads
     * and updates (the keys and values seen so far; the recurrent state); NULL when the call
     * keeps none, and in an ordinary forward, where decoding is 0 and pos 0. */
    int decoding;
    int64_t pos, max_len;
    float *state;
} nbi_fwd;

/* What build declares into. */
typedef struct nbi_build {
    nbi_layer *layer;
    nb_params *params; /* trainable parameters */
    nb_params *state;  /* non-trainable state */
} nbi_build;

#define NBI_LAYER_GRAPH                                                                            \
    1u /* a graph-only kind (add, concat, split): spec version 2, and no                           \
          module of a PyTorch nn.Sequential */

/* ---- what a layer is, for the layers above nn (quant/ plans a quantized model from it) ---- */

typedef enum nbi_view_kind {
    NBI_VIEW_OTHER = 0, /* a kind without a view */
    NBI_VIEW_DENSE,
    NBI_VIEW_CONV2D,
    NBI_VIEW_MAXPOOL2D,
    NBI_VIEW_AVGPOOL2D,
    NBI_VIEW_GLOBAL_AVGPOOL2D,
    NBI_VIEW_FLATTEN,
    NBI_VIEW_ACTIVATION,
    NBI_VIEW_DROPOUT,
    NBI_VIEW_BATCHNORM,
    NBI_VIEW_EMBEDDING,        /* weight [vocab, dim] */
    NBI_VIEW_LAYERNORM,        /* weight, bias (NULL without affine), eps */
    NBI_VIEW_RMSNORM,          /* weight (NULL without affine), eps */
    NBI_VIEW_POSITIONAL,       /* weight: the learned table [max_len, E] */
    NBI_VIEW_SINUSOIDAL,       /* no tensor: the table is computed (nn/positional.c) */
    NBI_VIEW_TIED_DENSE,       /* weight: the embedding's [vocab, dim]; bias (NULL) */
    NBI_VIEW_GLOBAL_AVGPOOL1D, /* the mean over the per-sample axis 0 */
    NBI_VIEW_ADD,
    NBI_VIEW_CONCAT, /* axis */
    NBI_VIEW_SPLIT,  /* axis, n_parts, sizes */
    NBI_VIEW_RNN,    /* recurrent layers: hidden, layers, dirs, rec; act tanh or relu */
    NBI_VIEW_LSTM,
    NBI_VIEW_GRU,
    NBI_VIEW_ATTENTION,   /* mha */
    NBI_VIEW_TRANSFORMER, /* mha, block, eps */
} nbi_view_kind;

/* A layer's settings and tensors, as its kind's `view` gives them (fields that do not apply
 * are 0 or NULL). Tensors are the layer's own (in a dry model their data is NULL). */
typedef struct nbi_layer_view {
    nbi_view_kind kind;
    nb_activation act; /* dense, conv2d, activation */
    float alpha;
    /* dense [in, units]; conv2d [filters, C/groups, KH, KW]; batchnorm gamma (NULL without
     * affine) */
    const nb_tensor *weight;
    const nb_tensor *bias;       /* dense, conv2d (NULL without one); batchnorm beta */
    const nb_tensor *mean, *var; /* batchnorm's running statistics */
    float eps;                   /* batchnorm */
    /* conv2d, pooling: resolved (pad: top, bottom, left, right) */
    int64_t kernel[2], stride[2], dilation[2], pad[4], groups;
    int exclude_pad; /* average pooling */
    int axis;        /* concat, split: the per-sample axis as given (negative: from the end) */
    int n_parts;     /* split */
    const int64_t *sizes;
    /* recurrent: hidden units, stacked layers, directions (2: bidirectional) and the
     * parameters, 4 per (layer, direction) in that order: weight_ih, weight_hh, bias_ih,
     * bias_hh in PyTorch's layouts (the biases NULL without) */
    int64_t hidden;
    int layers, dirs;
    nb_tensor *const *rec;
    /* attention, transformer: multi-head self-attention (nn/mha.h) with its width, heads,
     * causal flag and w_in [E, 3E], b_in [3E], w_out [E, E], b_out [E] (biases NULL) */
    int64_t width, heads;
    int causal;
    const nb_tensor *w_in, *b_in, *w_out, *b_out;
    /* transformer: ln_1 weight and bias, ln_2 weight and bias, mlp.fc [E, ffn] and its bias,
     * mlp.proj [ffn, E] and its bias (the projections' biases NULL without) */
    const nb_tensor *block[8];
} nbi_layer_view;

typedef struct nbi_layer_vt {
    const char *kind;   /* "Dense": the summary's type column */
    const char *stem;   /* "dense": default names are <stem>_<k> */
    int min_in, max_in; /* inputs a call takes; max_in 0: any number >= min_in. Inputs from
                           min_in on are optional: a call may pass node 0 for them */
    unsigned flags;     /* NBI_LAYER_* */
    nb_status (*infer)(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                       int *n_out); /* at most NBI_MAX_OUT outputs */
    nb_status (*build)(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b);
    nb_status (*init)(nbi_layer *l, nb_rng *rng);
    /* in[i] is NULL for an optional input not given; out[k] NULL on failure (the context
     * holds the error) */
    void (*forward)(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                    nb_tensor **out);
    /* Optional: runs this layer and the next call's layer together when a fused op computes
     * their composition (conv2d + ReLU + max pooling); returns 1 with the result in *y, or 0
     * (and does nothing) to have them run one by one. Only offered when the next call takes
     * this one's only output and nothing else does. */
    int (*forward_pair)(const nbi_layer *l, const nbi_layer *next, const nbi_fwd *f, nb_tensor *x,
                        nb_tensor **y);
    void (*describe)(const nbi_layer *l, char *buf, size_t n);
    void (*spec)(const nbi_layer *l, nbi_text *out);
    nb_activation (*activation)(const nbi_layer *l, float *alpha); /* NULL: none */
    /* Incremental decoding: the floats of state a call on inputs of these per-sample shapes
     * keeps for a batch of B sequences of at most max_len positions (0: none); -1, with the
     * error set, for a layer that cannot decode one position at a time (a bidirectional
     * recurrent layer, attention that is not causal). NULL: a layer that acts on each
     * position alone (dense, norms, activations), which decodes as it runs. */
    int64_t (*decode_floats)(const nbi_layer *l, const nbi_shape *in, int n_in, int64_t B,
                             int64_t max_len);
    /* The most positions the layer takes (a learned positional table's rows); NULL: no limit. */
    int64_t (*context)(const nbi_layer *l);
    int (*torch_modules)(const nbi_layer *l); /* NULL: 1 */
    unsigned torch_transposed; /* bit i: parameter i is the 2-D transpose of torch's */
    const char *torch_counter; /* an I64 buffer torch keeps and nabla does not, stored as 0
                                  ("num_batches_tracked"); NULL: none */
    void (*view)(const nbi_layer *l, nbi_layer_view *v); /* NULL: NBI_VIEW_OTHER */
} nbi_layer_vt;

#define NBI_LAYER_NAME_MAX 64
#define NBI_MAX_OUT 16

struct nbi_layer {
    const nbi_layer_vt *vt;
    char name[NBI_LAYER_NAME_MAX];
    int index;                 /* in the model's list of layers */
    int n_calls;               /* > 1 for a reused layer */
    int first_param, n_params; /* its parameters in the store */
    int first_state, n_state;  /* its state in the state store */
    int64_t param_count;       /* trainable parameters and state, in scalars */
    int torch_index;           /* its first module in a PyTorch nn.Sequential (chain models) */
};

/* Adds layer l (allocated with nbi_malloc, vt set, settings filled; the model takes it over
 * and frees it on failure) called on the n_in node handles in[] (0: an optional input left
 * out). name NULL means "<stem>_<k>". Returns the first output node, or a negative status. An
 * input handle that is negative is an earlier failure: it is returned as it is (the message
 * stands). `fn` names the public function for messages. */
int nbi_model_push(nb_model *m, nbi_layer *l, const int *in, int n_in, const char *name,
                   const char *fn);

/* The layer named `name`, or NULL. */
const nbi_layer *nbi_model_layer_named(const nb_model *m, const char *name);
/* Whether l is an embedding layer (whose one parameter is "<name>.weight" [vocab, dim]). */
bool nbi_is_embedding(const nbi_layer *l);

/* The handle of the model's last node (what the sequential adders append after); 0 if none. */
int nbi_model_last(const nb_model *m);
/* A status from an _on function's result: NB_OK for a node, the status for a negative one. */
static inline nb_status nbi_node_status(int node) {
    return node < 0 ? (nb_status)-node : NB_OK;
}

/* Declares parameter "<layer name>.<what>" of the layer being built, into *out. */
nb_status nbi_layer_param(const nbi_build *b, const char *what, int rank, const int64_t *shape,
                          nb_tensor **out);
/* Declares non-trainable state "<layer name>.<what>" (batchnorm's running statistics:
 * PyTorch's buffers) in the model's state store, zero-valued, without a gradient. Forward
 * may update state in training mode only; optimizers never see it. */
nb_status nbi_layer_state(const nbi_build *b, const char *what, int rank, const int64_t *shape,
                          nb_tensor **out);

/* The input shape as text for a layer's shape errors ("(None, 3, 8, 8)"). */
void nbi_layer_in_str(const nbi_shape *in, char *buf, size_t n);
/* An error naming the layer unless every input given is f32 (not token ids). */
nb_status nbi_layer_want_f32(const nbi_layer *l, const nbi_shape *in, int n_in);

/* Window arithmetic of convolution and pooling, overflow-checked: the effective window
 * dilation·(k − 1) + 1 and the padded size d + pad0 + pad1 of a dimension d (-1: unknown, then
 * *padded is -1). false when a number overflows: a layer reports it as a shape error. The
 * output size is then (padded − eff) / stride + 1 when eff <= padded. */
bool nbi_window_sizes(int64_t d, int64_t pad0, int64_t pad1, int64_t k, int64_t dilation,
                      int64_t *eff, int64_t *padded);

/* The options of a max-pooling layer (stride and dilation resolved), or NULL if l is another
 * kind of layer: for layers that fuse with a pooling after them. */
const nb_pool_opts *nbi_maxpool_layer_opts(const nbi_layer *l);

/* Layer i of the model (in the order they were added) as a view, with its name and the index
 * of its first parameter in the store (-1 when it has none); NB_ERR_ARG out of range. */
nb_status nbi_model_layer_view(const nb_model *m, int i, nbi_layer_view *v, const char **name,
                               int *first_param);

/* The model's calls, in their (topological) order: how many, and call c's layer index, its
 * input node handles (0 for an optional input not given; at most NBI_VIEW_MAX_IN are copied
 * into in[], *n_in is their count) and its output node handles first_out ..
 * first_out + n_out − 1. NB_ERR_ARG out of range. */
#define NBI_VIEW_MAX_IN 256
int nbi_model_call_count(const nb_model *m);
nb_status nbi_model_call_view(const nb_model *m, int c, int *layer, int *in, int *n_in,
                              int *first_out, int *n_out);

/* Spec text of a pair of sizes: "3" when both are equal, else "3,2". */
void nbi_pair_text(const int64_t *v, nbi_text *out);

/* Spec-format text of an initialiser ("xavier_uniform", "uniform:-0.1:0.1", "constant:0.5")
 * and of an activation with its alpha ("relu", "leaky_relu alpha=0.2"), for layers' spec
 * functions. */
void nbi_init_text(const nb_init *init, nbi_text *out);
void nbi_activation_spec(nb_activation act, float alpha, nbi_text *out);

/* An activation for a summary: "sigmoid", "leaky_relu(0.2)". */
void nbi_activation_text(nb_activation act, float alpha, char *buf, size_t n);
/* Does the activation take the layer's alpha (leaky_relu, elu: the ALPHA flag of its line in
 * nabla/ops.def)? */
bool nbi_activation_has_alpha(nb_activation act);
/* The elementwise op of `act` (an NBI_OP_ id) and its parameters; returns the number of
 * parameters + 1, or 0 when act is none or softmax (nn/activation.c). */
int nbi_activation_op(nb_activation act, float alpha, int *op, float p[2]);

/* A name given to a layer or a node: 1..63 characters, valid UTF-8, none of them a control
 * character, '.', ',' or ':' (parameters are "<layer>.<what>"; a spec lists nodes as
 * "a,b" and names output k of a node "a:k"). `who` names the caller for the message. */
nb_status nbi_check_name(const char *who, const char *name);

#include "nn/model_io.h"

#endif
