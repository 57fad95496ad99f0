/* io/onnx_import.h — what the ONNX importer's two files share: the values of a graph by name
 * and the node handlers (io/onnx_import.c builds the graph's order and the model,
 * io/onnx_ops.c turns each node into layers). */
#ifndef NBI_ONNX_IMPORT_H
#define NBI_ONNX_IMPORT_H

#include "io/onnx.h"

/* V_SHAPE: an int64 vector (or scalar) computed from shapes (Shape, Gather, Unsqueeze, Concat
 * of them), known symbolically in sym[]; V_ZEROS: a ConstantOfShape of zeros (an RNN's initial
 * state): neither becomes a layer. V_TRANSPOSED: a Transpose of a weight [r, c] (t), which
 * only a MatMul may read (a tied head, or a dense layer). */
enum { V_CONST, V_PENDING, V_NODE, V_UNCOMPUTED, V_SHAPE, V_ZEROS, V_TRANSPOSED };

/* How a computed ONNX value lies over its nabla node, whose samples come first ([N, ...]):
 * as it is; time-major [T, N, F] over nabla's [T, F] (a Transpose of it, what an ONNX RNN
 * reads); an ONNX RNN's output Y [T, D, N, H] over nabla's y [T, D·H]; and that transposed to
 * [T, N, D, H]. */
enum { NBI_LAY_BATCH, NBI_LAY_TNF, NBI_LAY_TDNH, NBI_LAY_TNDH };

#define NBI_SYM_BATCH INT64_MIN         /* in sym[]: the batch dimension */
#define NBI_SYM_UNKNOWN (INT64_MIN + 1) /* in sym[]: a dimension known only at run time */

typedef struct nbi_onnx_val {
    const char *name;
    int kind;
    const nbi_onnx_tensor *t; /* V_CONST, V_TRANSPOSED */
    int emb;                  /* V_CONST: the nabla embedding made from it, or -1 */
    int producer;             /* the node index; -1 for an initializer or the input */
    int nb;                   /* V_NODE: the nabla node */
    int gap;                  /* the ONNX value is the nabla node's shape plus [1, 1] */
    int uses;                 /* node inputs reading it, plus 1 if it is the graph output */
    int consumer;             /* the last node reading it */
    int layout;               /* V_NODE: NBI_LAY_* */
    int dirs;                 /* NBI_LAY_TDNH, NBI_LAY_TNDH: D */
    int sym_rank;             /* V_SHAPE: 0 (a scalar) or 1; V_ZEROS: n_sym */
    int n_sym;                /* V_SHAPE, V_ZEROS: the values (the zeros' shape) */
    int64_t sym[NBI_ONNX_MAX_RANK];
} nbi_onnx_val;

typedef struct nbi_onnx_importer {
    const nbi_onnx_graph *g;
    nb_model *m;
    nbi_onnx_val *vals;
    int n_vals;
    int *slot; /* open addressing: name hash → index in vals, -1 empty */
    size_t n_slots;
    char *skip;        /* per node: consumed by a pattern */
    int64_t (*pad)[4]; /* per node: the zero padding of a Pad before an AveragePool (t, l, b, r) */
    int64_t budget;    /* weights the layers may still take: twice those the file holds (an
                          initializer shared by many nodes must not multiply memory) */
} nbi_onnx_importer;

/* The value of this name, or NULL. */
nbi_onnx_val *nbi_onnx_find(const nbi_onnx_importer *im, const char *name);
/* "<file>: node '<name>' (<op>): <message>" with the status code. */
nb_status nbi_onnx_refuse(const nbi_onnx_importer *im, const nbi_onnx_node *nd, nb_status code,
                          const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
const nbi_onnx_attr *nbi_onnx_get_attr(const nbi_onnx_node *nd, const char *name);
/* Takes n weights from the budget, or refuses naming the node. */
nb_status nbi_onnx_take(nbi_onnx_importer *im, const nbi_onnx_node *nd, int64_t n);
/* Node i (not a Constant) as layers of im->m; the values it computes get their nabla nodes. */
nb_status nbi_onnx_run_node(nbi_onnx_importer *im, int i);

/* ---- helpers of the handlers (io/onnx_ops.c) ---- */
int64_t nbi_onnx_attr_i(const nbi_onnx_node *nd, const char *name, int64_t def);
float nbi_onnx_attr_f(const nbi_onnx_node *nd, const char *name, float def);
/* Input k of nd, or NULL when absent. */
nbi_onnx_val *nbi_onnx_input(const nbi_onnx_importer *im, const nbi_onnx_node *nd, int k);
/* Input k as a computed batch-first value (its per-sample rank and shape when asked). */
nb_status nbi_onnx_computed(const nbi_onnx_importer *im, const nbi_onnx_node *nd, int k,
                            nbi_onnx_val **v, int *rank, int64_t *shape);
/* Input k as a float initializer of the given rank (-1: any); NULL when absent and optional. */
nb_status nbi_onnx_constant(const nbi_onnx_importer *im, const nbi_onnx_node *nd, int k, int rank,
                            bool optional, const nbi_onnx_tensor **t);
/* The node's first output is nabla node h (a negative h: the layer's error, naming the node). */
nb_status nbi_onnx_set_out(nbi_onnx_importer *im, const nbi_onnx_node *nd, int h, int gap);
/* The node that alone reads value `name`, has op `op` and a named first output, or -1. */
int nbi_onnx_only_reader(const nbi_onnx_importer *im, const char *name, const char *op);
/* A dense layer on x from weight w ([in, units], or [units, in] when trans) and bias b (NULL:
 * none); its output is value `out`. */
nb_status nbi_onnx_dense(nbi_onnx_importer *im, const nbi_onnx_node *nd, const nbi_onnx_val *x,
                         int rank, const int64_t *shape, const nbi_onnx_tensor *w, bool trans,
                         const nbi_onnx_tensor *b, const char *out);
/* Copies the floats of t (optionally transposed from [r, c] to [c, r]) into the tensor
 * "<layer h>.<what>" of store (parameters or state), refusing a size that differs. */
nb_status nbi_onnx_fill(const nbi_onnx_importer *im, const nbi_onnx_node *nd, nb_params *store,
                        int h, const char *what, const nbi_onnx_tensor *t, bool transpose);

/* ---- attention, tied heads, learned positions (io/onnx_attn.c) ---- */
/* The Add that alone reads value `name` and adds a float constant of n values (*b): its node,
 * or -1. */
int nbi_onnx_bias_add(const nbi_onnx_importer *im, const char *name, int64_t n,
                      const nbi_onnx_tensor **b);
/* MatMul node i as the in-projection of nabla's exported attention: 0 when it is not one (no
 * Split reads its result), 1 when it is (*st: the status, a deviation refused naming the node). */
int nbi_onnx_attention(nbi_onnx_importer *im, int i, nb_status *st);
/* MatMul node i by a V_TRANSPOSED weight: a tied head on the embedding made from that weight,
 * or a dense layer. */
nb_status nbi_onnx_matmul_transposed(nbi_onnx_importer *im, int i);
/* Slice node nd of the float initializer p (start, end, axis, step: its one axis's): learned
 * positions when an Add alone reads it with a sequence. */
nb_status nbi_onnx_positional(nbi_onnx_importer *im, const nbi_onnx_node *nd,
                              const nbi_onnx_tensor *p, int64_t start, int64_t end, int64_t axis,
                              int64_t step);

/* ---- sequences and shapes (io/onnx_seq.c) ---- */
/* LSTM, GRU, RNN; Transpose, Squeeze, Shape, Unsqueeze, Concat, ConstantOfShape, Slice, Gather,
 * LayerNormalization, ReduceMean over time; a Reshape of a recurrent output or by a shape computed
 * from shapes. Returns 0 when op is none of these (*st untouched), 1 when handled (*st its status).
 */
int nbi_onnx_run_seq(nbi_onnx_importer *im, int i, nb_status *st);
/* Output k of nd is nabla node h, lying over it as `layout` (NBI_LAY_*; dirs for TDNH/TNDH). */
void nbi_onnx_set_node(nbi_onnx_importer *im, const nbi_onnx_node *nd, int k, int h, int layout,
                       int dirs);
/* An axes list: input 1 (opset 13 on) or the attribute `axes`; n values into ax. */
nb_status nbi_onnx_axes(const nbi_onnx_importer *im, const nbi_onnx_node *nd, int64_t *ax, int *n);
/* LSTM, GRU, RNN node i, and the nodes stacked on it (io/onnx_rnn.c). */
nb_status nbi_onnx_recurrent(nbi_onnx_importer *im, int i);
/* A Reshape's target shape when it is known (a constant, or computed from shapes): its n
 * values into t (NBI_SYM_* for what is symbolic); 0 when it is neither. */
int nbi_onnx_shape_arg(const nbi_onnx_importer *im, const nbi_onnx_val *s, int64_t *t, int *n);

#endif
