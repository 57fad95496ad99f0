/* io/onnx_export.h — the ONNX writer's internals, shared by io/onnx_export.c (the model's
 * walk, the protobuf of nodes, initializers and values, the image and dense kinds) and
 * io/onnx_export_seq.c (the sequence kinds: embedding, positions, norms, recurrent layers,
 * attention and the transformer block). */
#ifndef NBI_ONNX_EXPORT_H
#define NBI_ONNX_EXPORT_H

#include "io/protobuf.h"
#include "nn/nn.h"

enum { NBI_OX_FLOAT = 1, NBI_OX_INT32 = 6, NBI_OX_INT64 = 7, NBI_OX_BOOL = 9 };
enum {
    NBI_OX_A_FLOAT = 1,
    NBI_OX_A_INT = 2,
    NBI_OX_A_STRING = 3,
    NBI_OX_A_INTS = 7,
    NBI_OX_A_STRINGS = 8
};

typedef struct nbi_ox_attr {
    const char *name;
    int type; /* NBI_OX_A_* */
    int64_t i;
    float f;
    const int64_t *ints; /* n of them */
    int n;
    const char *s; /* a string; strings: n copies of it */
} nbi_ox_attr;

typedef struct nbi_ox {
    const nb_model *m;
    nbi_text graph;     /* GraphProto fields */
    const char *layer;  /* the layer being written, for messages */
    const char *kind;   /* its kind ("LSTM") */
    const char *prefix; /* its call's first output: the stem of the names of its parts */
    char **pool;        /* every name made, freed at the end */
    int n_pool, cap_pool;
    bool oom;
    bool named;             /* the refusal of the current call has its message */
    bool *used;             /* by node handle: read by a call or given out by the model */
    const nb_tensor **done; /* the tensors written as initializers (shared ones once) */
    int n_done, cap_done;
} nbi_ox;

/* The inputs and outputs of one call as ONNX values, and its first input's per-sample shape
 * (the batch not counted) and dtype. */
typedef struct nbi_ox_call {
    const nbi_layer_view *v;
    const char *in[NBI_VIEW_MAX_IN]; /* "" for an optional input not given */
    int n_in;
    const char *out[NBI_MAX_OUT];
    bool out_used[NBI_MAX_OUT]; /* read by a later call or a model output */
    int n_out;
    bool in_i32[NBI_VIEW_MAX_IN];  /* input i holds i32 values (ids, lengths, a mask) */
    int in_ranks[NBI_VIEW_MAX_IN]; /* its per-sample rank (-1 not given) */
    int in_rank, out_rank;
    int64_t in_shape[NB_MAX_RANK];
} nbi_ox_call;

/* "<prefix>/<fmt ...>", kept until the export ends ("" and e->oom when out of memory). */
const char *nbi_ox_name(nbi_ox *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A node op(in...) → out... named as its first output, with attributes. */
void nbi_ox_node(nbi_ox *e, const char *op, const char *const *in, int n_in, const char *const *out,
                 int n_out, const nbi_ox_attr *a, int n_a);
/* One-output node without attributes: NBI_OX1(e, "Add", out, a, b). */
#define NBI_OX1(e, op, out, ...)                                                                   \
    nbi_ox_node(e, op, (const char *const[]){__VA_ARGS__},                                         \
                (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)),          \
                (const char *const[]){out}, 1, NULL, 0)
/* One-output node with one attribute. */
#define NBI_OX1A(e, op, out, attr, ...)                                                            \
    nbi_ox_node(e, op, (const char *const[]){__VA_ARGS__},                                         \
                (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)),          \
                (const char *const[]){out}, 1, attr, 1)

/* Initializers: f32 values with dims, an int64 vector, an f32 scalar, an int64 scalar. */
void nbi_ox_floats(nbi_ox *e, const char *name, const float *v, int rank, const int64_t *dims);
void nbi_ox_int64s(nbi_ox *e, const char *name, const int64_t *v, int64_t n);
void nbi_ox_scalar(nbi_ox *e, const char *name, float v);
void nbi_ox_int64_scalar(nbi_ox *e, const char *name, int64_t v);
/* A parameter of the model as an initializer under its own name, written once however often
 * it is used (a tied head, a reused layer); NULL with the error set for a tensor without data. */
const char *nbi_ox_param(nbi_ox *e, const nb_tensor *t);

/* An error naming the layer and its kind: "nb_model_export_onnx: layer 'x' of kind K: <why>". */
nb_status nbi_ox_unsupported(nbi_ox *e, const char *why);
/* The activation act on x into out (GELU as its Erf form: Gelu is opset 20). */
nb_status nbi_ox_activation(nbi_ox *e, nb_activation act, float alpha, const char *x,
                            const char *out);

/* The sequence kinds (io/onnx_export_seq.c); NB_ERR_UNSUPPORTED without a message for a kind
 * they do not write. */
nb_status nbi_ox_seq_call(nbi_ox *e, const nbi_ox_call *c);

#endif
