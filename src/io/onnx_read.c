/* io/onnx_read.c — an ONNX ModelProto read into the plain structures of io/onnx.h, with the
 * wire format of io/protobuf.c.
 *
 * The file is hostile until proven otherwise: every field's wire type is checked (a wrong one
 * is refused naming the field), strings are bounded and NUL-free, node inputs and outputs,
 * attribute values and tensor ranks have fixed caps, and a tensor's dims are overflow-checked
 * and must agree with the bytes it holds — so nothing is ever allocated for a size the file
 * does not back with data. Tensors stay in the caller's buffer; their values are decoded on
 * demand (nbi_onnx_floats). External data, segments and sparse initializers are refused. */
#include "io/onnx.h"
#include "io/protobuf.h"

#include <string.h>

#define MAX_ELEMS ((int64_t)1 << 40)

static nb_status bad(const nbi_onnx_graph *g, const char *fmt, const char *a, const char *b) {
    char msg[600];
    snprintf(msg, sizeof msg, fmt, a, b);
    return nbi_error(NB_ERR_FORMAT, "%s: %s", g->what, msg);
}

/* Room for one more element in *p (n used of *cap). */
static nb_status grow(void **p, int *cap, int n, size_t elem, int limit, const char *what) {
    if (n < *cap) return NB_OK;
    if (n >= limit)
        return nbi_error(NB_ERR_FORMAT, "%s: more than %d of them (the most nabla reads)", what,
                         limit);
    int nc = *cap ? 2 * *cap : 8;
    if (nc > limit) nc = limit;
    void *q = nbi_calloc((size_t)nc, elem);
    if (!q) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    if (*p) memcpy(q, *p, (size_t)n * elem);
    nbi_free(*p);
    *p = q;
    *cap = nc;
    return NB_OK;
}

/* ---- tensors ------------------------------------------------------------------------------ */

/* Packed varints: how many values the bytes end (each ends with a byte below 0x80). */
static int64_t count_varints(const uint8_t *p, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] < 0x80;
    return k;
}

static nb_status read_tensor(const nbi_pb_reader *parent, const nbi_pb_field *pf, const char *field,
                             nbi_onnx_graph *g, nbi_onnx_tensor *t) {
    nbi_pb_reader r;
    nb_status st = nbi_pb_sub(parent, pf, field, &r);
    if (st != NB_OK) return st;
    memset(t, 0, sizeof *t);
    t->msg = r.p;
    t->msg_len = (size_t)(r.end - r.p);
    size_t n_dims = 0;
    int64_t n_float = 0, n_int64 = 0, raw = -1;
    nbi_pb_field f;
    int k;
    while (st == NB_OK && (k = nbi_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1:
            st = nbi_pb_ints(&r, &f, "TensorProto.dims", t->dims, NBI_ONNX_MAX_RANK, &n_dims);
            break;
        case 2:
            if ((st = nbi_pb_want(&r, &f, NBI_PB_VARINT, "TensorProto.data_type")) == NB_OK)
                t->dtype = f.v > 1000 ? -1 : (int)f.v;
            break;
        case 4:
            if (f.wire == NBI_PB_LEN) {
                if (f.len % 4)
                    st = bad(g, "TensorProto.float_data: %s%s bytes packed, not a multiple of 4",
                             "", "");
                n_float += (int64_t)(f.len / 4);
            } else if ((st = nbi_pb_want(&r, &f, NBI_PB_I32, "TensorProto.float_data")) == NB_OK)
                n_float++;
            break;
        case 7:
            if (f.wire == NBI_PB_LEN)
                n_int64 += count_varints(f.data, f.len);
            else if ((st = nbi_pb_want(&r, &f, NBI_PB_VARINT, "TensorProto.int64_data")) == NB_OK)
                n_int64++;
            break;
        case 8:
            nbi_free(t->name);
            t->name = NULL;
            st = nbi_pb_string(&r, &f, "TensorProto.name", NBI_ONNX_MAX_NAME, &t->name);
            break;
        case 9:
            if ((st = nbi_pb_want(&r, &f, NBI_PB_LEN, "TensorProto.raw_data")) == NB_OK)
                raw = (int64_t)f.len;
            break;
        case 3:
            st = bad(g, "a tensor in segments%s%s is not supported", "", "");
            break;
        case 13:
            st = bad(g, "a tensor with external data%s%s is not supported", "", "");
            break;
        case 14:
            if ((st = nbi_pb_want(&r, &f, NBI_PB_VARINT, "TensorProto.data_location")) == NB_OK &&
                f.v != 0)
                st = bad(g, "a tensor with external data%s%s is not supported", "", "");
            break;
        default:
            break;
        }
    }
    if (st == NB_OK && k < 0) st = (nb_status)-k;
    if (st != NB_OK) return st;
    const char *nm = t->name ? t->name : "(unnamed)";
    t->rank = (int)n_dims;
    t->n = 1;
    for (int d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0) return bad(g, "tensor '%s' has a negative dimension%s", nm, "");
        if (!nbi_mul_i64(t->n, t->dims[d], &t->n) || t->n > MAX_ELEMS)
            return bad(g, "tensor '%s' has dimensions whose product is too large%s", nm, "");
    }
    int64_t have = -1, width = t->dtype == NBI_ONNX_FLOAT ? 4 : 8;
    if (t->dtype == NBI_ONNX_FLOAT || t->dtype == NBI_ONNX_INT64) {
        if (raw >= 0)
            have = raw % width ? -1 : raw / width;
        else
            have = t->dtype == NBI_ONNX_FLOAT ? n_float : n_int64;
        if (have != t->n) {
            char what[96];
            snprintf(what, sizeof what, "%lld values, but its data holds %s", (long long)t->n,
                     have < 0 ? "a partial value" : "");
            if (have >= 0)
                snprintf(what + strlen(what), sizeof what - strlen(what), "%lld", (long long)have);
            return bad(g, "tensor '%s' has dimensions for %s", nm, what);
        }
    }
    return NB_OK;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The last raw_data field of t (protobuf: the last of a repeated scalar wins), or NULL. */
static const uint8_t *raw_data(const nbi_onnx_graph *g, const nbi_onnx_tensor *t) {
    nbi_pb_reader r;
    nbi_pb_reader_init(&r, t->msg, t->msg_len, g->what);
    nbi_pb_field f;
    const uint8_t *raw = NULL;
    while (nbi_pb_next(&r, &f) == 1)
        if (f.number == 9 && f.wire == NBI_PB_LEN) raw = f.data;
    return raw;
}

nb_status nbi_onnx_floats(const nbi_onnx_graph *g, const nbi_onnx_tensor *t, float *out) {
    if (t->dtype != NBI_ONNX_FLOAT)
        return bad(g, "tensor '%s' should hold floats (ONNX type 1)%s",
                   t->name ? t->name : "(unnamed)", "");
    const uint8_t *raw = raw_data(g, t); /* raw_data wins over float_data */
    if (raw) {
        for (int64_t i = 0; i < t->n; i++) {
            uint32_t u = le32(raw + 4 * i);
            memcpy(&out[i], &u, 4);
        }
        return NB_OK;
    }
    nbi_pb_reader r;
    nbi_pb_reader_init(&r, t->msg, t->msg_len, g->what);
    nbi_pb_field f;
    int64_t k = 0;
    int got;
    while ((got = nbi_pb_next(&r, &f)) == 1) {
        if (f.number != 4) continue;
        if (f.wire == NBI_PB_I32) {
            if (k < t->n) out[k] = nbi_pb_as_float(&f);
            k++;
        } else if (f.wire == NBI_PB_LEN) {
            for (size_t i = 0; i + 4 <= f.len; i += 4, k++) {
                uint32_t u = le32(f.data + i);
                if (k < t->n) memcpy(&out[k], &u, 4);
            }
        }
    }
    if (got < 0) return (nb_status)-got;
    return k == t->n ? NB_OK : bad(g, "tensor '%s': its values changed between reads%s", "", "");
}

nb_status nbi_onnx_int64s(const nbi_onnx_graph *g, const nbi_onnx_tensor *t, int64_t *out,
                          int64_t cap) {
    const char *nm = t->name ? t->name : "(unnamed)";
    if (t->dtype != NBI_ONNX_INT64)
        return bad(g, "tensor '%s' should hold int64 values (ONNX type 7)%s", nm, "");
    if (t->n > cap) return bad(g, "tensor '%s' has more values than expected%s", nm, "");
    const uint8_t *raw = raw_data(g, t);
    if (raw) {
        for (int64_t i = 0; i < t->n; i++)
            out[i] = (int64_t)((uint64_t)le32(raw + 8 * i) | (uint64_t)le32(raw + 8 * i + 4) << 32);
        return NB_OK;
    }
    nbi_pb_reader r;
    nbi_pb_reader_init(&r, t->msg, t->msg_len, g->what);
    nbi_pb_field f;
    size_t k = 0;
    int got;
    nb_status st = NB_OK;
    while (st == NB_OK && (got = nbi_pb_next(&r, &f)) == 1) {
        if (f.number == 7) st = nbi_pb_ints(&r, &f, "TensorProto.int64_data", out, (size_t)cap, &k);
    }
    if (st != NB_OK) return st;
    if (got < 0) return (nb_status)-got;
    return (int64_t)k == t->n ? NB_OK : bad(g, "tensor '%s' holds the wrong count%s", nm, "");
}

/* ---- attributes and nodes ---------------------------------------------------------------- */

static nb_status read_attr(const nbi_pb_reader *parent, const nbi_pb_field *pf, nbi_onnx_graph *g,
                           nbi_onnx_attr *a) {
    nbi_pb_reader r;
    nb_status st = nbi_pb_sub(parent, pf, "NodeProto.attribute", &r);
    if (st != NB_OK) return st;
    nbi_pb_field f;
    size_t n_ints = 0;
    int k;
    while (st == NB_OK && (k = nbi_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1:
            nbi_free(a->name);
            a->name = NULL;
            st = nbi_pb_string(&r, &f, "AttributeProto.name", 256, &a->name);
            break;
        case 2:
            if ((st = nbi_pb_want(&r, &f, NBI_PB_I32, "AttributeProto.f")) == NB_OK)
                a->f = nbi_pb_as_float(&f), a->has_f = 1;
            break;
        case 3:
            if ((st = nbi_pb_want(&r, &f, NBI_PB_VARINT, "AttributeProto.i")) == NB_OK)
                a->i = (int64_t)f.v, a->has_i = 1;
            break;
        case 4:
            nbi_free(a->s);
            a->s = NULL;
            st = nbi_pb_string(&r, &f, "AttributeProto.s", 256, &a->s);
            a->has_s = st == NB_OK;
            break;
        case 5:
            if (a->has_t) nbi_free(a->t.name);
            st = read_tensor(&r, &f, "AttributeProto.t", g, &a->t);
            a->has_t = 1;
            break;
        case 8:
            st = nbi_pb_ints(&r, &f, "AttributeProto.ints", a->ints, NBI_ONNX_MAX_INTS, &n_ints);
            a->n_ints = (int)n_ints;
            a->has_ints = 1;
            break;
        case 9:
            if (a->n_strs == NBI_ONNX_MAX_STRS)
                st = bad(g, "an attribute with more than 8 strings%s%s", "", "");
            else
                st = nbi_pb_string(&r, &f, "AttributeProto.strings", 256, &a->strs[a->n_strs++]);
            break;
        case 20:
            if ((st = nbi_pb_want(&r, &f, NBI_PB_VARINT, "AttributeProto.type")) == NB_OK)
                a->type = f.v > 100 ? -1 : (int)f.v;
            break;
        default:
            break;
        }
    }
    if (st == NB_OK && k < 0) st = (nb_status)-k;
    if (st == NB_OK && !a->name) st = bad(g, "an attribute without a name%s%s", "", "");
    return st;
}

static nb_status add_string(const nbi_pb_reader *r, const nbi_pb_field *f, const char *field,
                            char **list, int *n) {
    if (*n == NBI_ONNX_MAX_IO)
        return nbi_error(NB_ERR_FORMAT, "%s: a node with more than %d values in %s", r->what,
                         NBI_ONNX_MAX_IO, field);
    nb_status st = nbi_pb_string(r, f, field, NBI_ONNX_MAX_NAME, &list[*n]);
    if (st == NB_OK) (*n)++;
    return st;
}

static nb_status read_node(const nbi_pb_reader *parent, const nbi_pb_field *pf, nbi_onnx_graph *g,
                           nbi_onnx_node *nd) {
    nbi_pb_reader r;
    nb_status st = nbi_pb_sub(parent, pf, "GraphProto.node", &r);
    if (st != NB_OK) return st;
    nbi_pb_field f;
    int k, cap = 0;
    while (st == NB_OK && (k = nbi_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1:
            st = add_string(&r, &f, "NodeProto.input", nd->in, &nd->n_in);
            break;
        case 2:
            st = add_string(&r, &f, "NodeProto.output", nd->out, &nd->n_out);
            break;
        case 3:
            nbi_free(nd->name);
            nd->name = NULL;
            st = nbi_pb_string(&r, &f, "NodeProto.name", NBI_ONNX_MAX_NAME, &nd->name);
            break;
        case 4:
            nbi_free(nd->op);
            nd->op = NULL;
            st = nbi_pb_string(&r, &f, "NodeProto.op_type", 128, &nd->op);
            break;
        case 7:
            nbi_free(nd->domain);
            nd->domain = NULL;
            st = nbi_pb_string(&r, &f, "NodeProto.domain", 256, &nd->domain);
            break;
        case 5:
            if ((st = grow((void **)&nd->attrs, &cap, nd->n_attrs, sizeof(nbi_onnx_attr), 64,
                           "NodeProto.attribute")) == NB_OK)
                st = read_attr(&r, &f, g, &nd->attrs[nd->n_attrs++]);
            break;
        default:
            break;
        }
    }
    if (st == NB_OK && k < 0) st = (nb_status)-k;
    if (st == NB_OK && !nd->op) st = bad(g, "a node without an op_type%s%s", "", "");
    return st;
}

/* ---- value infos, the graph, the model ---------------------------------------------------- */

static nb_status read_value(const nbi_pb_reader *parent, const nbi_pb_field *pf, const char *field,
                            nbi_onnx_value *v) {
    nbi_pb_reader r, tp, tt, sh, dm;
    nb_status st = nbi_pb_sub(parent, pf, field, &r);
    nbi_pb_field f, h, e, d, x;
    int k = 0;
    while (st == NB_OK && (k = nbi_pb_next(&r, &f)) == 1) {
        if (f.number == 1) {
            nbi_free(v->name);
            v->name = NULL;
            st = nbi_pb_string(&r, &f, "ValueInfoProto.name", NBI_ONNX_MAX_NAME, &v->name);
        }
        if (f.number != 2 || st != NB_OK) continue;
        if ((st = nbi_pb_sub(&r, &f, "ValueInfoProto.type", &tp)) != NB_OK) break;
        while (st == NB_OK && (k = nbi_pb_next(&tp, &h)) == 1) {
            if (h.number != 1) continue; /* tensor_type */
            if ((st = nbi_pb_sub(&tp, &h, "TypeProto.tensor_type", &tt)) != NB_OK) break;
            while (st == NB_OK && (k = nbi_pb_next(&tt, &e)) == 1) {
                if (e.number == 1 && (st = nbi_pb_want(&tt, &e, NBI_PB_VARINT,
                                                       "TypeProto.Tensor.elem_type")) == NB_OK)
                    v->elem_type = e.v > 1000 ? -1 : (int)e.v;
                if (e.number != 2 || st != NB_OK) continue;
                if ((st = nbi_pb_sub(&tt, &e, "TypeProto.Tensor.shape", &sh)) != NB_OK) break;
                v->has_shape = 1;
                v->rank = 0;
                while (st == NB_OK && (k = nbi_pb_next(&sh, &d)) == 1) {
                    if (d.number != 1) continue;
                    if (v->rank == NBI_ONNX_MAX_RANK) {
                        st = nbi_error(NB_ERR_FORMAT,
                                       "%s: value '%s' has more than %d "
                                       "dimensions",
                                       r.what, v->name ? v->name : "?", NBI_ONNX_MAX_RANK);
                        break;
                    }
                    int64_t dim = -1;
                    if ((st = nbi_pb_sub(&sh, &d, "TensorShapeProto.dim", &dm)) != NB_OK) break;
                    while (st == NB_OK && (k = nbi_pb_next(&dm, &x)) == 1)
                        if (x.number == 1 && (st = nbi_pb_want(&dm, &x, NBI_PB_VARINT,
                                                               "Dimension.dim_value")) == NB_OK)
                            dim = (int64_t)x.v < 0 ? -2 : (int64_t)x.v;
                    if (st == NB_OK && k < 0) st = (nb_status)-k;
                    if (dim == -2)
                        st = nbi_error(NB_ERR_FORMAT, "%s: value '%s' has a negative dimension",
                                       r.what, v->name ? v->name : "?");
                    v->dims[v->rank++] = dim;
                }
                if (st == NB_OK && k < 0) st = (nb_status)-k;
            }
            if (st == NB_OK && k < 0) st = (nb_status)-k;
        }
        if (st == NB_OK && k < 0) st = (nb_status)-k;
    }
    if (st == NB_OK && k < 0) st = (nb_status)-k;
    if (st == NB_OK && !v->name)
        st = nbi_error(NB_ERR_FORMAT, "%s: %s without a name", r.what, field);
    return st;
}

static nb_status read_graph(const nbi_pb_reader *parent, const nbi_pb_field *pf,
                            nbi_onnx_graph *g) {
    nbi_pb_reader r;
    nb_status st = nbi_pb_sub(parent, pf, "ModelProto.graph", &r);
    nbi_pb_field f;
    int k = 0, c_nodes = 0, c_inits = 0, c_in = 0, c_out = 0;
    while (st == NB_OK && (k = nbi_pb_next(&r, &f)) == 1) {
        switch (f.number) {
        case 1:
            if ((st = grow((void **)&g->nodes, &c_nodes, g->n_nodes, sizeof(nbi_onnx_node),
                           NBI_ONNX_MAX_NODES, "GraphProto.node")) == NB_OK) {
                st = read_node(&r, &f, g, &g->nodes[g->n_nodes]);
                g->n_nodes++; /* freed on failure as well */
            }
            break;
        case 5:
            if ((st = grow((void **)&g->inits, &c_inits, g->n_inits, sizeof(nbi_onnx_tensor),
                           NBI_ONNX_MAX_NODES, "GraphProto.initializer")) == NB_OK) {
                st = read_tensor(&r, &f, "GraphProto.initializer", g, &g->inits[g->n_inits]);
                g->n_inits++;
                if (st == NB_OK && !g->inits[g->n_inits - 1].name)
                    st = bad(g, "an initializer without a name%s%s", "", "");
            }
            break;
        case 11:
        case 12: {
            bool in = f.number == 11;
            if ((st = grow(in ? (void **)&g->inputs : (void **)&g->outputs, in ? &c_in : &c_out,
                           in ? g->n_inputs : g->n_outputs, sizeof(nbi_onnx_value), 4096,
                           in ? "GraphProto.input" : "GraphProto.output")) != NB_OK)
                break;
            nbi_onnx_value *v = in ? &g->inputs[g->n_inputs++] : &g->outputs[g->n_outputs++];
            st = read_value(&r, &f, in ? "GraphProto.input" : "GraphProto.output", v);
            break;
        }
        case 15:
            st = bad(g, "sparse initializers%s%s are not supported", "", "");
            break;
        default:
            break;
        }
    }
    if (st == NB_OK && k < 0) st = (nb_status)-k;
    return st;
}

nb_status nbi_onnx_read(const void *buf, size_t n, const char *what, nbi_onnx_graph *g) {
    memset(g, 0, sizeof *g);
    g->what = what;
    nbi_pb_reader r;
    nbi_pb_reader_init(&r, buf, n, what);
    nbi_pb_field f;
    nb_status st = NB_OK;
    int k, graphs = 0;
    while (st == NB_OK && (k = nbi_pb_next(&r, &f)) == 1) {
        if (f.number == 1 &&
            (st = nbi_pb_want(&r, &f, NBI_PB_VARINT, "ModelProto.ir_version")) == NB_OK)
            g->ir_version = (int64_t)f.v;
        if (f.number == 7 && st == NB_OK) {
            if (graphs++)
                st = bad(g, "the model has two graphs%s%s", "", "");
            else
                st = read_graph(&r, &f, g);
        }
        if (f.number == 8 && st == NB_OK) {
            nbi_pb_reader o;
            nbi_pb_field h;
            char *domain = NULL;
            int64_t version = 0;
            int j = 0;
            if ((st = nbi_pb_sub(&r, &f, "ModelProto.opset_import", &o)) != NB_OK) break;
            while (st == NB_OK && (j = nbi_pb_next(&o, &h)) == 1) {
                if (h.number == 1) {
                    nbi_free(domain);
                    domain = NULL;
                    st = nbi_pb_string(&o, &h, "OperatorSetIdProto.domain", 256, &domain);
                }
                if (h.number == 2 && (st = nbi_pb_want(&o, &h, NBI_PB_VARINT,
                                                       "OperatorSetIdProto.version")) == NB_OK)
                    version = (int64_t)h.v;
            }
            if (st == NB_OK && j < 0) st = (nb_status)-j;
            if (st == NB_OK && (!domain || !*domain || !strcmp(domain, "ai.onnx")))
                g->opset = version;
            nbi_free(domain);
        }
    }
    if (st == NB_OK && k < 0) st = (nb_status)-k;
    if (st == NB_OK && !graphs) st = bad(g, "no graph (not an ONNX model file?)%s%s", "", "");
    if (st != NB_OK) nbi_onnx_graph_free(g);
    return st;
}

static void free_tensor(nbi_onnx_tensor *t) {
    nbi_free(t->name);
}

void nbi_onnx_graph_free(nbi_onnx_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        nbi_onnx_node *nd = &g->nodes[i];
        nbi_free(nd->name);
        nbi_free(nd->op);
        nbi_free(nd->domain);
        for (int k = 0; k < nd->n_in; k++) nbi_free(nd->in[k]);
        for (int k = 0; k < nd->n_out; k++) nbi_free(nd->out[k]);
        for (int k = 0; k < nd->n_attrs; k++) {
            nbi_free(nd->attrs[k].name);
            nbi_free(nd->attrs[k].s);
            for (int j = 0; j < nd->attrs[k].n_strs; j++) nbi_free(nd->attrs[k].strs[j]);
            if (nd->attrs[k].has_t) free_tensor(&nd->attrs[k].t);
        }
        nbi_free(nd->attrs);
    }
    for (int i = 0; i < g->n_inits; i++) free_tensor(&g->inits[i]);
    for (int i = 0; i < g->n_inputs; i++) nbi_free(g->inputs[i].name);
    for (int i = 0; i < g->n_outputs; i++) nbi_free(g->outputs[i].name);
    nbi_free(g->nodes);
    nbi_free(g->inits);
    nbi_free(g->inputs);
    nbi_free(g->outputs);
    const char *what = g->what;
    memset(g, 0, sizeof *g);
    g->what = what;
}
