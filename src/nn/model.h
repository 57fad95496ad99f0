/* nn/model.h — the model's graph, shared by the files that make up the model (model.c: nodes,
 * names and the adding of calls; forward.c: running it; summary.c, spec.c, tensors.c: what
 * it is). Layer files do not include this: they see nbi_layer and nbi_model_push only.
 *
 * A model is a list of layers, a list of calls and a list of nodes. A call applies one layer
 * to input nodes and makes its output nodes; a layer called twice (nb_model_reuse) has two
 * calls and one set of parameters. Calls are kept in the order they were added, which is a
 * topological order (a call's inputs exist before it), so forward is one pass over them.
 * Every layer and every node has a name, unique over both, found through a hash map: the
 * first output of a layer's first call is named as the layer, output k of a call is
 * "<node>:<k>", a reuse's first output "<layer>@<k>" unless named. */
#ifndef NBI_NN_MODEL_H
#define NBI_NN_MODEL_H

#include "nn/nn.h"

typedef struct nbi_gnode {
    int call;        /* the call that makes it; -1 for a model input */
    int index;       /* which output of its call; for an input, which input */
    int uses;        /* inputs of calls that take it */
    nbi_shape shape; /* per sample */
    const char *name;
    bool owns_name; /* name is nbi_malloc'd (otherwise it is its layer's) */
} nbi_gnode;

#define NBI_MAX_IN 256 /* inputs of one call (a concat of many nodes) */

#define NBI_CALL_SMALL 3

typedef struct nbi_call {
    int layer;
    int n_in;
    int small[NBI_CALL_SMALL]; /* the inputs of a call with few: node indices (-1: an
                                  optional input not given) */
    int *big;                  /* nbi_malloc'd, for more */
    int first_out, n_out;
} nbi_call;

/* A call's inputs (the array moves with the call list, so it is found, not kept). */
static inline const int *nbi_call_in(const nbi_call *c) {
    return c->big ? c->big : c->small;
}

/* Per layer kind: how many layers of it the model has, and the k of its last default name
 * (default names are "<stem>_<k>" for the k-th of the kind, skipping names taken; see
 * default_name in model.c). */
typedef struct nbi_kind_count {
    const nbi_layer_vt *vt;
    int count, last_k;
} nbi_kind_count;

#define NBI_MAX_KINDS 32

struct nb_model {
    nb_params *params;
    nb_params *state; /* non-trainable state (running statistics), saved but not optimised */
    nb_rng rng;       /* initialises the layers, in order */
    int training;
    bool dry; /* shapes and counts only: nothing allocated, nothing run */

    nbi_layer **layers;
    int n_layers, cap_layers;
    nbi_call *calls;
    int n_calls, cap_calls;
    nbi_gnode *nodes;
    int n_nodes, cap_nodes;
    int *inputs;
    int n_inputs, cap_inputs;
    int *outputs; /* set by nb_model_set_outputs; NULL: the last node */
    int n_outputs;
    int last; /* the node the sequential adders append after; -1: none yet */

    nbi_strmap layer_names; /* name → layer */
    nbi_strmap node_names;  /* name → node */
    nbi_kind_count kinds[NBI_MAX_KINDS];
    int n_kinds;
    int input_k; /* the k of the last default input name */

    /* A chain: one f32 input named "input" with every dimension known, then one new layer
     * per call, each on the output before it, none graph-only, one output each. Such a
     * model is a torch nn.Sequential (tensors "0.weight") and a version-1 spec. */
    bool chain;
    int torch_next; /* the next nn.Sequential module index */

    int *counters; /* the layers with a torch counter (num_batches_tracked), in order */
    int n_counters, cap_counters;

    char **classes;
    int n_classes;

    char *tokenizer; /* its JSON text (io/model_tokenizer.c), saved as "nabla.tokenizer"; NULL */
};

/* A decoding step's extra: per call, where its state starts in buf (-1: it keeps none), and
 * the position of the inputs' first element. */
typedef struct nbi_decode {
    float *buf;
    const int64_t *offset; /* one per call */
    int64_t pos, max_len;
} nbi_decode;

/* Runs the calls the outputs need on in[] (forward.c): in `training` mode with rng for the
 * layers that draw, or as a decoding step when dec is given. */
nb_status nbi_model_run(const nb_model *m, nb_ctx *ctx, int training, nb_rng *rng,
                        nb_tensor *const *in, int n_in, nb_tensor **out, int n_out,
                        const nbi_decode *dec, const char *fn);

/* The model's outputs (the default when none were set): their count, into *nodes. */
int nbi_model_outputs(const nb_model *m, const int **nodes);
/* Whether the model is a chain now (outputs included). */
bool nbi_model_is_chain(const nb_model *m);
/* The node handle that names `ref` ("a", "a:1"), or -1. */
int nbi_model_node_ref(const nb_model *m, const char *ref);

#endif
