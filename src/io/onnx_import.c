/* io/onnx_import.c — an ONNX file as a nabla model (nb_model_load_onnx).
 *
 * The graph read by io/onnx_read.c is checked as a whole before a layer is built: every value
 * is produced once (by an initializer, a Constant node, the one graph input or one node), every
 * node input names a value that exists, and the nodes are put in an order where each comes
 * after the values it reads (Kahn's algorithm; what is left over is a cycle, refused naming a
 * node on it). Then each node becomes a layer, called on the node of its input
 * (nb_model_<kind>_on): a graph that is a chain gives a chain (nb_model_is_sequential, like a
 * torch nn.Sequential), any other graph a graph model. Initializers are copied into the
 * layers' parameters and state after the layer is made; every tensor's size was checked
 * against its bytes by the reader, and every shape against its layer.
 *
 * Op by op (the handlers are in io/onnx_ops.c) (docs/onnx.md has the table): Gemm (transA 0, alpha
 * and beta 1, transB either way) and MatMul (with the Add of a bias that follows it) are dense
 * layers; Conv, MaxPool, AveragePool, GlobalAveragePool, BatchNormalization (inference form),
 * Flatten (axis 1) and a Reshape to [batch, features] are their layers; Relu, Sigmoid, Tanh,
 * LeakyRelu, Elu, Softplus, Softmax and LogSoftmax (on the last axis) are activations, and so is
 * the exact GELU that torch.onnx.export writes as Div, Erf, Add, Mul, Mul; Dropout and Identity
 * pass their input on; Add of two computed values is nb_model_add. Sequence models (io/onnx_rnn.c,
 * io/onnx_seq.c): LSTM, GRU and RNN nodes (a stack of them one layer of several) with the
 * Transposes, Squeezes and Reshapes around them, Gather of a weight by token ids (an embedding:
 * an int64 or int32 graph input comes in as nabla's i32), LayerNormalization, steps picked by
 * Gather or Slice, and shape computations worked out at import; nabla's attention, tied heads and
 * learned positions (io/onnx_attn.c). Anything else is refused with a
 * message naming the op type and the node. */
#define _POSIX_C_SOURCE 200809L /* open, fstat */
#include "io/onnx_import.h"
#include "nabla/file.h"
#include "nabla/io.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef nbi_onnx_importer importer;
typedef nbi_onnx_val val;

/* ---- values by name ----------------------------------------------------------------------- */

static size_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

val *nbi_onnx_find(const importer *im, const char *name) {
    for (size_t k = hash(name) & (im->n_slots - 1);; k = (k + 1) & (im->n_slots - 1)) {
        int i = im->slot[k];
        if (i < 0) return NULL;
        if (!strcmp(im->vals[i].name, name)) return &im->vals[i];
    }
}

static nb_status add_val(importer *im, const char *name, int kind, int producer, val **out) {
    val *old = nbi_onnx_find(im, name);
    if (old)
        return nbi_error(NB_ERR_FORMAT, "%s: the value '%s' is given twice (by %s and again)",
                         im->g->what, name,
                         old->producer >= 0     ? "a node"
                         : old->kind == V_CONST ? "an initializer"
                                                : "the input");
    size_t k = hash(name) & (im->n_slots - 1);
    while (im->slot[k] >= 0) k = (k + 1) & (im->n_slots - 1);
    im->slot[k] = im->n_vals;
    val *v = &im->vals[im->n_vals++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->kind = kind;
    v->producer = producer;
    v->nb = -1;
    v->consumer = -1;
    v->emb = -1;
    if (out) *out = v;
    return NB_OK;
}

/* ---- messages and attributes ---------------------------------------------------------------- */

static const char *node_name(const nbi_onnx_node *nd) {
    return nd->name && *nd->name ? nd->name : "(unnamed)";
}

nb_status nbi_onnx_refuse(const importer *im, const nbi_onnx_node *nd, nb_status code,
                          const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nbi_error(code, "%s: node '%s' (%s): %s", im->g->what, node_name(nd), nd->op, msg);
}

const nbi_onnx_attr *nbi_onnx_get_attr(const nbi_onnx_node *nd, const char *name) {
    for (int k = 0; k < nd->n_attrs; k++)
        if (!strcmp(nd->attrs[k].name, name)) return &nd->attrs[k];
    return NULL;
}

nb_status nbi_onnx_take(importer *im, const nbi_onnx_node *nd, int64_t n) {
    if (n > im->budget)
        return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                               "its weights would take nabla past twice "
                               "the weights the file holds (initializers shared by many nodes)");
    im->budget -= n;
    return NB_OK;
}

/* ---- the graph ---------------------------------------------------------------------------- */

/* Registers every value and counts its uses; refuses dangling inputs. */
static nb_status link_values(importer *im, const nbi_onnx_value **in) {
    const nbi_onnx_graph *g = im->g;
    nb_status st = NB_OK;
    im->budget = 1 << 16;
    for (int i = 0; i < g->n_inits; i++) im->budget += 2 * g->inits[i].n;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_attrs; k++)
            if (g->nodes[i].attrs[k].has_t) im->budget += 2 * g->nodes[i].attrs[k].t.n;
    for (int i = 0; i < g->n_inits && st == NB_OK; i++) {
        val *v;
        if ((st = add_val(im, g->inits[i].name, V_CONST, -1, &v)) == NB_OK) v->t = &g->inits[i];
    }
    *in = NULL;
    for (int i = 0; i < g->n_inputs && st == NB_OK; i++) {
        if (nbi_onnx_find(im, g->inputs[i].name)) continue; /* an initializer listed as an input */
        if (*in)
            return nbi_error(NB_ERR_UNSUPPORTED,
                             "%s: the graph has several inputs ('%s', '%s'); "
                             "nabla imports models with one",
                             g->what, (*in)->name, g->inputs[i].name);
        *in = &g->inputs[i];
        st = add_val(im, g->inputs[i].name, V_NODE, -1, NULL);
    }
    if (st == NB_OK && !*in) return nbi_error(NB_ERR_FORMAT, "%s: the graph has no input", g->what);
    for (int i = 0; i < g->n_nodes && st == NB_OK; i++) {
        const nbi_onnx_node *nd = &g->nodes[i];
        bool konst = !strcmp(nd->op, "Constant");
        if (konst) {
            const nbi_onnx_attr *a = nbi_onnx_get_attr(nd, "value");
            if (!a || !a->has_t || nd->n_out != 1 || nd->n_attrs != 1)
                return nbi_onnx_refuse(im, nd, NB_ERR_UNSUPPORTED,
                                       "only a Constant with a tensor "
                                       "'value' is supported");
            val *v;
            if ((st = add_val(im, nd->out[0], V_CONST, i, &v)) == NB_OK) v->t = &a->t;
            continue;
        }
        for (int k = 0; k < nd->n_out && st == NB_OK; k++)
            if (nd->out[k][0]) st = add_val(im, nd->out[k], k ? V_UNCOMPUTED : V_PENDING, i, NULL);
    }
    for (int i = 0; i < g->n_nodes && st == NB_OK; i++) {
        const nbi_onnx_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_in; k++) {
            if (!nd->in[k][0]) continue;
            val *v = nbi_onnx_find(im, nd->in[k]);
            if (!v)
                return nbi_onnx_refuse(im, nd, NB_ERR_FORMAT,
                                       "reads '%s', which no node, initializer "
                                       "or input gives",
                                       nd->in[k]);
            v->uses++;
            v->consumer = i;
        }
    }
    return st;
}

/* The nodes in an order where each comes after the nodes whose outputs it reads (Kahn). */
static nb_status order_nodes(importer *im, int *order) {
    const nbi_onnx_graph *g = im->g;
    int n = g->n_nodes, edges = 0;
    int *deg = nbi_calloc((size_t)n + 1, sizeof(int));
    int *start = nbi_calloc((size_t)n + 2, sizeof(int));
    nb_status st = deg && start ? NB_OK : NB_ERR_NOMEM;
    /* edges producer → consumer, in CSR form */
    for (int pass = 0; pass < 2 && st == NB_OK; pass++) {
        int *adj = NULL;
        if (pass == 1) {
            for (int i = 0; i < n; i++) start[i + 1] += start[i];
            adj = nbi_calloc((size_t)edges + 1, sizeof(int));
            if (!adj) {
                st = NB_ERR_NOMEM;
                break;
            }
        }
        int *fillp = pass == 1 ? nbi_calloc((size_t)n + 1, sizeof(int)) : NULL;
        if (pass == 1 && !fillp) {
            nbi_free(adj);
            st = NB_ERR_NOMEM;
            break;
        }
        for (int i = 0; i < n; i++) {
            const nbi_onnx_node *nd = &g->nodes[i];
            for (int k = 0; k < nd->n_in; k++) {
                const val *v = nd->in[k][0] ? nbi_onnx_find(im, nd->in[k]) : NULL;
                if (!v || v->producer < 0 || v->kind == V_CONST) continue;
                if (pass == 0) {
                    start[v->producer + 1]++;
                    deg[i]++;
                    edges++;
                } else {
                    adj[start[v->producer] + fillp[v->producer]++] = i;
                }
            }
        }
        if (pass == 1) {
            int head = 0, tail = 0;
            for (int i = 0; i < n; i++)
                if (!deg[i]) order[tail++] = i;
            while (head < tail) {
                int u = order[head++];
                for (int e = start[u]; e < start[u + 1]; e++)
                    if (--deg[adj[e]] == 0) order[tail++] = adj[e];
            }
            if (tail < n)
                for (int i = 0; i < n; i++)
                    if (deg[i]) {
                        st = nbi_onnx_refuse(im, &g->nodes[i], NB_ERR_FORMAT,
                                             "the graph has a cycle "
                                             "through this node");
                        break;
                    }
            nbi_free(adj);
            nbi_free(fillp);
        }
    }
    nbi_free(deg);
    nbi_free(start);
    return st;
}

static nb_status make_model(importer *im, const nbi_onnx_value *in) {
    const nbi_onnx_graph *g = im->g;
    /* token ids (int64, or int32) come in as nabla's i32 */
    bool ids = in->elem_type == NBI_ONNX_INT64 || in->elem_type == NBI_ONNX_INT32;
    if (in->elem_type && in->elem_type != NBI_ONNX_FLOAT && !ids)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: the input '%s' has ONNX type %d; nabla imports "
                         "float (1) inputs, and int64 (7) or int32 (6) token ids",
                         g->what, in->name, in->elem_type);
    if (!in->has_shape || in->rank < 2)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: the input '%s' needs a shape [batch, ...] with "
                         "at least 2 dimensions",
                         g->what, in->name);
    int64_t numel = 1;
    for (int d = 1; d < in->rank; d++) {
        if (in->dims[d] == 0 || in->dims[d] > ((int64_t)1 << 24))
            return nbi_error(NB_ERR_FORMAT, "%s: the input '%s' has dimension %d of size %lld",
                             g->what, in->name, d, (long long)in->dims[d]);
        if (in->dims[d] > 0 && (numel *= in->dims[d]) > ((int64_t)1 << 28))
            return nbi_error(NB_ERR_FORMAT,
                             "%s: the input '%s' has samples of more than 2^28 "
                             "values",
                             g->what, in->name);
    }
    if (ids) {
        im->m = nb_model_new_graph(0);
        if (im->m && nb_model_input(im->m, "input", NB_I32, in->rank - 1, in->dims + 1) < 0) {
            char why[400];
            snprintf(why, sizeof why, "%s", nb_last_error());
            nb_model_free(im->m);
            im->m = NULL;
            return nbi_error(NB_ERR_FORMAT, "%s: the input '%s': %s", g->what, in->name, why);
        }
    } else {
        im->m = nb_model_new(in->rank - 1, in->dims + 1, 0);
    }
    if (!im->m) {
        char why[400];
        snprintf(why, sizeof why, "%s", nb_last_error());
        return nbi_error(NB_ERR_FORMAT, "%s: the input '%s': %s", g->what, in->name, why);
    }
    val *v = nbi_onnx_find(im, in->name);
    v->nb = nb_model_input_node(im->m, 0);
    return NB_OK;
}

nb_status nbi_onnx_build(const nbi_onnx_graph *g, nb_model **out) {
    *out = NULL;
    if (g->opset && (g->opset < 7 || g->opset > 22))
        return nbi_error(NB_ERR_UNSUPPORTED, "%s: opset %lld; nabla imports opsets 7 to 22",
                         g->what, (long long)g->opset);
    if (g->n_outputs != 1)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: the graph has %d outputs; nabla imports models "
                         "with one",
                         g->what, g->n_outputs);
    importer im;
    memset(&im, 0, sizeof im);
    im.g = g;
    int n_vals = g->n_inits + g->n_inputs + 1;
    for (int i = 0; i < g->n_nodes; i++) n_vals += g->nodes[i].n_out;
    im.n_slots = 16;
    while (im.n_slots < 2 * (size_t)n_vals) im.n_slots *= 2;
    im.vals = nbi_calloc((size_t)n_vals, sizeof(val));
    im.slot = nbi_malloc_for("nb_model_load_onnx", im.n_slots * sizeof(int));
    im.skip = nbi_calloc((size_t)g->n_nodes + 1, 1);
    im.pad = nbi_calloc((size_t)g->n_nodes + 1, sizeof *im.pad);
    int *order = nbi_calloc((size_t)g->n_nodes + 1, sizeof(int));
    nb_status st = im.vals && im.slot && im.skip && im.pad && order ? NB_OK : NB_ERR_NOMEM;
    if (im.slot) memset(im.slot, 0xff, im.n_slots * sizeof(int));
    const nbi_onnx_value *in = NULL;
    if (st == NB_OK) st = link_values(&im, &in);
    val *res = st == NB_OK ? nbi_onnx_find(&im, g->outputs[0].name) : NULL;
    if (st == NB_OK && !res)
        st = nbi_error(NB_ERR_FORMAT, "%s: the graph output '%s' is not given by any node", g->what,
                       g->outputs[0].name);
    if (st == NB_OK) res->uses++; /* a pattern must not swallow the graph's output */
    if (st == NB_OK) st = order_nodes(&im, order);
    if (st == NB_OK) st = make_model(&im, in);
    for (int k = 0; k < g->n_nodes && st == NB_OK; k++) {
        int i = order[k];
        if (!im.skip[i] && strcmp(g->nodes[i].op, "Constant")) st = nbi_onnx_run_node(&im, i);
    }
    if (st == NB_OK && res->kind == V_NODE && res->layout != NBI_LAY_BATCH)
        st = nbi_error(NB_ERR_UNSUPPORTED,
                       "%s: the graph output '%s' is a time-major sequence (a recurrent "
                       "node's output without the Transpose back to batch-first)",
                       g->what, res->name);
    if (st == NB_OK &&
        (res->kind != V_NODE || res->producer < 0 || res->nb == nb_model_input_node(im.m, 0)))
        st = nbi_error(NB_ERR_UNSUPPORTED, "%s: the graph output '%s' is %s", g->what, res->name,
                       res->kind == V_CONST ? "a constant" : "not computed by any layer");
    if (st == NB_OK) { /* the declared output shape, where given, is what the layers compute */
        const nbi_onnx_value *o = &g->outputs[0];
        int64_t shape[NB_MAX_RANK];
        nb_dtype dt;
        int r = nb_model_node_shape(im.m, res->nb, &dt, shape);
        if (res->gap) shape[r++] = 1, shape[r++] = 1;
        bool ok = !o->has_shape || o->rank == r + 1;
        for (int d = 1; ok && o->has_shape && d < o->rank; d++)
            ok = o->dims[d] < 0 || shape[d - 1] < 0 || o->dims[d] == shape[d - 1];
        if (!ok)
            st = nbi_error(NB_ERR_FORMAT,
                           "%s: the graph declares its output '%s' with a shape "
                           "other than its nodes compute",
                           g->what, o->name);
    }
    if (st == NB_OK && res->nb != nb_model_node_count(im.m) - 1)
        st = nb_model_set_outputs(im.m, &res->nb, 1);
    if (st == NB_OK) st = nb_model_set_training(im.m, 0);
    if (st == NB_OK)
        *out = im.m;
    else
        nb_model_free(im.m);
    nbi_free(im.vals);
    nbi_free(im.slot);
    nbi_free(im.skip);
    nbi_free(im.pad);
    nbi_free(order);
    return st;
}

nb_status nbi_model_from_onnx(const void *buf, size_t n, const char *what, nb_model **out) {
    nbi_onnx_graph g;
    nb_status st = nbi_onnx_read(buf, n, what, &g);
    if (st != NB_OK) return st;
    st = nbi_onnx_build(&g, out);
    nbi_onnx_graph_free(&g);
    return st;
}

nb_status nb_model_load_onnx(const char *path, nb_model **model, nb_model_file *info) {
    if (info) memset(info, 0, sizeof *info);
    if (!path || !model) return nbi_error(NB_ERR_ARG, "nb_model_load_onnx: NULL argument");
    *model = NULL;
    void *buf = NULL;
    size_t len = 0;
    nb_status st = nb_file_read(path, &buf, &len);
    if (st == NB_OK) st = nbi_model_from_onnx(buf, len, path, model);
    nb_free(buf);
    return st;
}

int nb_is_onnx_file(const char *path) {
    size_t n = path ? strlen(path) : 0;
    if (n >= 5 && !strcmp(path + n - 5, ".onnx")) return 1;
    /* only a regular file is looked into (O_NONBLOCK: a FIFO is never waited on) */
    int fd = path ? open(path, O_RDONLY | O_NONBLOCK) : -1;
    struct stat sb;
    unsigned char b[3] = {0, 0, 0};
    bool got = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && read(fd, b, 3) == 3;
    if (fd >= 0) close(fd);
    /* a ModelProto starts with ir_version (field 1, a varint 3..12) and then another of its
     * fields (producer_name, graph, opset_import, ...); a safetensors file starts with an
     * 8-byte header length, whose third byte is 0 below 16 MB of header */
    int yes = got && b[0] == 0x08 && b[1] >= 3 && b[1] <= 12 &&
              (b[2] == 0x12 || b[2] == 0x1a || b[2] == 0x22 || b[2] == 0x28 || b[2] == 0x32 ||
               b[2] == 0x3a || b[2] == 0x42);
    return yes;
}
