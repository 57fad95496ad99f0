/* nn/nn.h — internals of the nn layer: the parameter store's layout and the layer interface.
 *
 * A layer kind is one file under src/nn/ that defines a struct beginning with nbi_layer, a
 * table of four functions (nbi_layer_vt) and a public nb_model_<kind> function that fills the
 * struct with its settings and hands it to nbi_model_push. The model does the rest: naming,
 * shape inference, parameter declaration, rollback on failure, forward with scopes, summary.
 *
 *     output shape   per-sample input shape → per-sample output shape, or a shape error
 *     build          declares the layer's parameters in the store and initialises them
 *     forward        x → y from ops only (their backward comes with them); reads the layer
 *                    and its parameters, writes neither
 *     describe       its settings in a few words, for the summary ("4 units, sigmoid")
 *     spec           its line of the spec format ("dense 4 sigmoid init=he_normal"): the kind
 *                    and every setting that differs from the default, but not the name,
 *                    which nb_model_spec adds when it is not the default one. The spec
 *                    parser (src/io/spec_layers.c) reads the line back: one table entry per
 *                    kind, and a round-trip test checks that the two agree.
 *     torch          how the layer maps onto a PyTorch nn.Sequential, for model files that
 *                    torch's load_state_dict reads directly: the number of modules it stands
 *                    for (a dense layer with an activation is nn.Linear then the activation:
 *                    2), and which of its parameters torch stores transposed (a dense weight
 *                    is [in, out] here and [out, in] in nn.Linear). */
#ifndef NBI_NN_H
#define NBI_NN_H

#include "autograd/autograd.h"
#include "nabla/nn.h"

/* ---- the parameter store ------------------------------------------------------------------ */

/* One parameter: its tensor, the view of its gradient, where both start in the flat buffers,
 * and its name. One allocation each, so the tensors' addresses never move. */
typedef struct nbi_param {
    nb_tensor value;
    nb_tensor grad;
    int64_t offset;
    char name[]; /* NUL-terminated */
} nbi_param;

struct nb_params {
    float *data;       /* values: numel used of cap */
    float *grad;       /* gradients: the same layout */
    int64_t numel, cap;
    nbi_param **items; /* in order of addition */
    int n, cap_items;
    int64_t limit;     /* > 0: adding past this many scalars fails (a model built from an
                          untrusted file may not be larger than the file) */
};

/* nb_params_add with a status (the tensor in *out). */
nb_status nbi_params_add(nb_params *ps, const char *name, int rank, const int64_t *shape,
                         nb_tensor **out);
/* Removes the parameters added after the first n (rolls back a failed layer). */
void nbi_params_truncate(nb_params *ps, int n);

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
} nbi_fwd;

typedef struct nbi_layer_vt {
    const char *kind; /* "Dense": the summary's type column */
    const char *stem; /* "dense": default names are <stem>_<k> */
    nb_status (*output_shape)(const nbi_layer *l, int *rank, int64_t *shape);
    nb_status (*build)(nbi_layer *l, nb_params *ps, nb_rng *rng);     /* NULL: no parameters */
    nb_tensor *(*forward)(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x);
    void (*describe)(const nbi_layer *l, char *buf, size_t n);
    /* Optional: runs this layer and the next together when a fused op computes their
     * composition (conv2d + ReLU + max pooling); returns 1 with the result in *y, or 0 (and
     * does nothing) to have them run one by one. */
    int (*forward_pair)(const nbi_layer *l, const nbi_layer *next, const nbi_fwd *f,
                        nb_tensor *x, nb_tensor **y);
    void (*spec)(const nbi_layer *l, nbi_text *out);
    int (*torch_modules)(const nbi_layer *l); /* NULL: 1 */
    unsigned torch_transposed;                /* bit i: parameter i is the 2-D transpose of
                                                 torch's */
} nbi_layer_vt;

#define NBI_LAYER_NAME_MAX 64

struct nbi_layer {
    const nbi_layer_vt *vt;
    char name[NBI_LAYER_NAME_MAX];
    int in_rank, out_rank;                 /* per sample (no batch dimension) */
    int64_t in_shape[NB_MAX_RANK];
    int64_t out_shape[NB_MAX_RANK];
    int first_param, n_params;             /* its parameters in the store */
    int64_t param_count;                   /* trainable parameters and state, in scalars */
    nb_params *state;                      /* the model's store of non-trainable state, for
                                              build (see nbi_layer_state) */
};

/* Appends layer l (allocated with nbi_malloc, vt set, settings filled; the model takes it
 * over, and frees it on failure). name NULL means "<stem>_<k>". The model sets l's input
 * shape, asks for its output shape, builds it and, if anything fails, removes what it added. */
nb_status nbi_model_push(nb_model *m, nbi_layer *l, const char *name);

/* Declares parameter "<layer name>.<what>" of a layer being built, into *out. */
nb_status nbi_layer_param(nbi_layer *l, nb_params *ps, const char *what, int rank,
                          const int64_t *shape, nb_tensor **out);

/* Declares non-trainable state "<layer name>.<what>" of a layer being built (batchnorm's
 * running statistics: PyTorch's buffers) in the model's state store, zero-valued, without a
 * gradient. Forward may update state in training mode only; optimizers never see it. */
nb_status nbi_layer_state(nbi_layer *l, const char *what, int rank, const int64_t *shape,
                          nb_tensor **out);

/* The options of a max-pooling layer (stride and dilation resolved), or NULL if l is another
 * kind of layer: for layers that fuse with a pooling after them. */
const nb_pool_opts *nbi_maxpool_layer_opts(const nbi_layer *l);
/* nb_model_spec into a growing text (out of memory is the text's status). */
void nbi_model_spec_text(const nb_model *m, nbi_text *out);

/* Renames the last layer, one without parameters or state (the kinds whose public adder
 * takes no name: dropout, flatten, global pooling), as the spec reader needs. */
nb_status nbi_model_rename_last(nb_model *m, const char *name);

/* Spec text of a pair of sizes: "3" when both are equal, else "3,2". */
void nbi_pair_text(const int64_t *v, nbi_text *out);

/* Layer i of a model (NULL out of range). */
const nbi_layer *nbi_model_layer(const nb_model *m, int i);

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

/* "[N,4]"-style text of a per-sample shape with the batch as None: "(None, 4)". */
void nbi_batch_shape_str(int rank, const int64_t *shape, char *buf, size_t n);

#endif
