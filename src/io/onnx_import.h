/* io/onnx_import.h — what the ONNX importer's two files share: the values of a graph by name
 * and the node handlers (io/onnx_import.c builds the graph's order and the model,
 * io/onnx_ops.c turns each node into layers). */
#ifndef NBI_ONNX_IMPORT_H
#define NBI_ONNX_IMPORT_H

#include "io/onnx.h"

enum { V_CONST, V_PENDING, V_NODE, V_UNCOMPUTED };

typedef struct nbi_onnx_val {
    const char *name;
    int kind;
    const nbi_onnx_tensor *t; /* V_CONST */
    int producer;             /* the node index; -1 for an initializer or the input */
    int nb;                   /* V_NODE: the nabla node */
    int gap;                  /* the ONNX value is the nabla node's shape plus [1, 1] */
    int uses;                 /* node inputs reading it, plus 1 if it is the graph output */
    int consumer;             /* the last node reading it */
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

#endif
