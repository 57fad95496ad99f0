/* io/onnx.h — ONNX files: the export (io/onnx_export.c), the reader of a ModelProto into the
 * plain structures below (io/onnx_read.c) and the import that builds a model from them
 * (io/onnx_import.c); shared with the tests and the fuzz harness. */
#ifndef NBI_ONNX_H
#define NBI_ONNX_H

#include "base/base.h"
#include "nabla/nn.h"

#include <stdint.h>

/* The ModelProto bytes of model m appended to out. */
nb_status nbi_model_onnx_bytes(const nb_model *m, nbi_text *out);

/* ---- a ModelProto as read (every string nbi_malloc'd and NUL-free; every size checked) ----- */

enum { NBI_ONNX_FLOAT = 1, NBI_ONNX_INT32 = 6, NBI_ONNX_INT64 = 7 };

#define NBI_ONNX_MAX_RANK 8
#define NBI_ONNX_MAX_IO 16   /* inputs or outputs of one node */
#define NBI_ONNX_MAX_INTS 16 /* values of one ints attribute */
#define NBI_ONNX_MAX_STRS 8  /* values of one strings attribute (an RNN's activations) */
#define NBI_ONNX_MAX_NODES 100000
#define NBI_ONNX_MAX_NAME 4096

/* A tensor (an initializer, or a Constant node's value): its bytes stay in the file's buffer.
 * The element count n is checked against the bytes present, so that nothing is allocated for
 * a size the file does not hold. */
typedef struct nbi_onnx_tensor {
    char *name;
    int dtype; /* NBI_ONNX_FLOAT, NBI_ONNX_INT64, or another ONNX type (refused where used) */
    int rank;
    int64_t dims[NBI_ONNX_MAX_RANK];
    int64_t n;          /* elements */
    const uint8_t *msg; /* the TensorProto's bytes (decoded again by nbi_onnx_floats) */
    size_t msg_len;
} nbi_onnx_tensor;

typedef struct nbi_onnx_attr {
    char *name;
    int type; /* AttributeProto.type: 1 float, 2 int, 3 string, 4 tensor, 7 ints, 8 strings */
    int has_f, has_i, has_ints, has_s, has_t;
    float f;
    int64_t i;
    int64_t ints[NBI_ONNX_MAX_INTS];
    int n_ints;
    char *s;
    char *strs[NBI_ONNX_MAX_STRS]; /* a strings attribute's values */
    int n_strs;
    nbi_onnx_tensor t;
} nbi_onnx_attr;

typedef struct nbi_onnx_node {
    char *name, *op, *domain;
    char *in[NBI_ONNX_MAX_IO], *out[NBI_ONNX_MAX_IO];
    int n_in, n_out;
    nbi_onnx_attr *attrs;
    int n_attrs;
} nbi_onnx_node;

/* A graph input or output: an f32 tensor's shape, -1 for a dimension given by name (or not
 * at all). */
typedef struct nbi_onnx_value {
    char *name;
    int elem_type; /* 0 when not given */
    int has_shape;
    int rank;
    int64_t dims[NBI_ONNX_MAX_RANK];
} nbi_onnx_value;

typedef struct nbi_onnx_graph {
    const char *what;          /* the file, for messages */
    int64_t ir_version, opset; /* opset: of the default domain (0: not given) */
    nbi_onnx_node *nodes;
    int n_nodes;
    nbi_onnx_tensor *inits;
    int n_inits;
    nbi_onnx_value *inputs, *outputs;
    int n_inputs, n_outputs;
} nbi_onnx_graph;

/* Reads the ModelProto in buf (which must outlive g). Refuses, naming the file and field,
 * any malformed bytes, external data, more than NBI_ONNX_MAX_NODES nodes, a tensor whose
 * dims overflow or disagree with its data. */
nb_status nbi_onnx_read(const void *buf, size_t n, const char *what, nbi_onnx_graph *g);
void nbi_onnx_graph_free(nbi_onnx_graph *g);
/* A float tensor's t->n values into out (little-endian raw_data or float_data). */
nb_status nbi_onnx_floats(const nbi_onnx_graph *g, const nbi_onnx_tensor *t, float *out);
/* An int64 tensor's values (at most cap). */
nb_status nbi_onnx_int64s(const nbi_onnx_graph *g, const nbi_onnx_tensor *t, int64_t *out,
                          int64_t cap);

/* The model of a parsed graph (io/onnx_import.c; nb_model_load_onnx reads the file first). */
nb_status nbi_onnx_build(const nbi_onnx_graph *g, nb_model **out);
/* Both, from bytes in memory (the fuzz harness). */
nb_status nbi_model_from_onnx(const void *buf, size_t n, const char *what, nb_model **out);

#endif
