/* quant/qfile.c — int8 model files: safetensors with I8, I32 and F32 tensors and the scheme
 * in the metadata (docs/quantization.md, "The file"), so that PyTorch and NumPy read them.
 *
 * For each dense or conv2d layer, under its float model's PyTorch name prefix P ("0" for
 * the first module of an nn.Sequential):
 *
 *     P.weight            I8  [out, in] / [out, C, KH, KW]   (PyTorch's layout)
 *     P.weight_scale      F32 [out]                           per output channel
 *     P.bias              I32 [out]                           at scale input · weight_scale
 *     P.input_scale       F32 []     P.input_zero_point  I32 []   its input's quantization
 *     P.scale             F32 []     P.zero_point        I32 []   its output's (not for the
 *                                                                 last layer: f32 output)
 *
 * Metadata: "format" "pt", "nabla.quant.format_version" "1", "nabla.quant.scheme" (the
 * scheme in words), "nabla.quant.calibration", "nabla.spec" (the float model's spec, which
 * says what the steps are), "nabla.classes", the normalisation ("nabla.norm*", as float
 * model files store it). There is no "nabla.format_version": a float-model reader refuses the
 * file with a message saying what it is.
 *
 * Loading rebuilds the steps from the stored spec on a dry model (shapes only, nothing
 * allocated: quant/plan.c), then reads every tensor, checks its dtype and shape against the
 * plan, every scale for range and every zero point for [0, 127], and finishes each step as
 * nb_quantize does (nbi_qstep_finish: packing and the bounds the kernels rely on). Two layers
 * that see the same activation must store the same scale and zero point for it. */
#include "io/model_file.h"
#include "io/spec.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SCHEME                                                                                     \
    "int8 static: weights int8 symmetric per output channel [-127, 127]; activations uint8 "       \
    "affine per tensor in [0, 127]; bias int32 at input_scale * weight_scale; "                    \
    "requantization q = clamp(rne(float(acc) * m) + zero), m = input_scale * weight_scale / "      \
    "scale in float32, round half to even"

/* ---- saving ---------------------------------------------------------------------------------- */

typedef struct entries {
    char (*names)[160];
    nb_array *arr;
    int n, cap;
} entries;

static void add(entries *e, const char *prefix, const char *what, nb_elem type, int rank,
                const int64_t *shape, const void *data) {
    NBI_ASSERT(e->n < e->cap);
    snprintf(e->names[e->n], sizeof e->names[0], "%s.%s", prefix, what);
    nb_array *a = &e->arr[e->n++];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->rank = rank;
    a->numel = 1;
    for (int d = 0; d < rank; d++) {
        a->shape[d] = shape[d];
        a->numel *= shape[d];
    }
    a->data = (void *)data;
}

nb_status nb_qmodel_save(const nb_qmodel *q, const char *path, const nb_save_opts *opts) {
    const char *what = "nb_qmodel_save";
    if (!q || !path)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", what, !q ? "the model" : "path");
    nb_save_opts none;
    memset(&none, 0, sizeof none);
    const nb_save_opts *o = opts ? opts : &none;
    int cap = 7 * q->n_steps;
    entries e = {nbi_malloc_for(what, sizeof *e.names * (size_t)(cap ? cap : 1)),
                 nbi_malloc_for(what, sizeof *e.arr * (size_t)(cap ? cap : 1)), 0, cap};
    int n_meta_max = 12 + o->n_meta;
    const char **kv = nbi_malloc_for(what, sizeof(char *) * 2 * (size_t)n_meta_max);
    char *normkv[8] = {0};
    nbi_text spec, classes;
    nbi_text_init(&spec);
    nbi_text_init(&classes);
    nb_status s = e.names && e.arr && kv ? NB_OK : NB_ERR_NOMEM;
    for (int i = 0; s == NB_OK && i < q->n_steps; i++) {
        const nbi_qstep *st = &q->steps[i];
        if (st->op != NBI_QOP_DENSE && st->op != NBI_QOP_CONV) continue;
        int64_t wshape[4] = {st->N, st->K, 0, 0};
        int wrank = 2;
        if (st->op == NBI_QOP_CONV) {
            wshape[1] = st->g.C;
            wshape[2] = st->g.KH;
            wshape[3] = st->g.KW;
            wrank = 4;
        }
        const nbi_qact *ai = &q->acts[st->act_in];
        add(&e, st->prefix, "weight", NB_ELEM_I8, wrank, wshape, st->wq);
        add(&e, st->prefix, "weight_scale", NB_ELEM_F32, 1, &st->N, st->w_scale);
        add(&e, st->prefix, "bias", NB_ELEM_I32, 1, &st->N, st->bias_q);
        add(&e, st->prefix, "input_scale", NB_ELEM_F32, 0, NULL, &ai->scale);
        add(&e, st->prefix, "input_zero_point", NB_ELEM_I32, 0, NULL, &ai->zero);
        if (st->act_out >= 0) {
            const nbi_qact *ao = &q->acts[st->act_out];
            add(&e, st->prefix, "scale", NB_ELEM_F32, 0, NULL, &ao->scale);
            add(&e, st->prefix, "zero_point", NB_ELEM_I32, 0, NULL, &ao->zero);
        }
    }
    int nm = 0;
    char ver[16];
    snprintf(ver, sizeof ver, "%d", NBI_QUANT_FORMAT_VERSION);
    if (s == NB_OK) {
        const char *pairs[][2] = {{"format", "pt"},
                                  {"nabla.quant.format_version", ver},
                                  {"nabla.version", NB_VERSION},
                                  {"nabla.quant.scheme", SCHEME},
                                  {"nabla.quant.calibration", q->calib ? q->calib : ""}};
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++, nm++) {
            kv[2 * nm] = pairs[i][0];
            kv[2 * nm + 1] = pairs[i][1];
        }
        nbi_text_puts(&spec, q->spec ? q->spec : "");
        if (o->spec) nbi_spec_training_text(o->spec, &spec);
        kv[2 * nm] = "nabla.spec";
        kv[2 * nm++ + 1] = nbi_text_str(&spec);
        if (q->n_classes) {
            for (int i = 0; i < q->n_classes; i++) {
                if (i) nbi_text_puts(&classes, "\n");
                nbi_text_puts(&classes, q->classes[i]);
            }
            kv[2 * nm] = "nabla.classes";
            kv[2 * nm++ + 1] = nbi_text_str(&classes);
        }
        if (spec.oom || classes.oom) s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    }
    if (s == NB_OK && o->norm && o->norm->kind != NB_NORM_NONE) {
        s = nbi_meta_norm_write(o->norm, what, normkv);
        for (int i = 0; s == NB_OK && i < 8; i++) kv[2 * nm + i] = normkv[i];
        nm += 4;
    }
    for (int i = 0; s == NB_OK && i < o->n_meta; i++) {
        const char *k = o->meta ? o->meta[2 * i] : NULL, *v = o->meta ? o->meta[2 * i + 1] : NULL;
        if (!k || !v)
            s = nbi_error(NB_ERR_ARG, "%s: metadata pair %d has a NULL key or value", what, i);
        else if (!strcmp(k, "format") || !strncmp(k, "nabla.", 6))
            s = nbi_error(NB_ERR_ARG,
                          "%s: metadata key '%s' is reserved (\"format\" and \"nabla.*\" are "
                          "nabla's own)",
                          what, k);
        else {
            kv[2 * nm] = k;
            kv[2 * nm++ + 1] = v;
        }
    }
    if (s == NB_OK) {
        const char **names = nbi_malloc_for(what, sizeof(char *) * (size_t)(e.n ? e.n : 1));
        if (!names) s = NB_ERR_NOMEM;
        for (int i = 0; names && i < e.n; i++) names[i] = e.names[i];
        if (names) s = nb_safetensors_write(path, e.n, names, e.arr, nm, kv);
        nbi_free(names);
    }
    for (int i = 0; i < 8; i++) nbi_free(normkv[i]);
    nbi_text_free(&spec);
    nbi_text_free(&classes);
    nbi_free(kv);
    nbi_free(e.names);
    nbi_free(e.arr);
    return s;
}

/* ---- loading --------------------------------------------------------------------------------- */

/* Reads tensor "<prefix>.<what>" of the given dtype and shape into a new buffer (*out), or
 * for rank 0 into `scalar` (4 bytes). */
static nb_status read_tensor(const nb_safetensors *st, const char *prefix, const char *what,
                             const char *dtype, int rank, const int64_t *shape, void **out,
                             void *scalar) {
    char name[192];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    int i = nb_safetensors_find(st, name);
    if (i < 0)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: tensor '%s' is missing (an int8 model file has "
                         "weight, weight_scale, bias and the scales and zero points of every "
                         "dense and conv2d layer)",
                         st->name, name);
    const char *dt;
    int64_t sh[NB_MAX_RANK];
    int r = nb_safetensors_shape(st, i, &dt, sh);
    bool same = r == rank && !strcmp(dt, dtype);
    for (int d = 0; same && d < rank; d++) same = sh[d] == shape[d];
    if (!same) {
        char want[96] = "[", got[96] = "[";
        for (int d = 0; d < rank; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? ", " : "",
                     (long long)shape[d]);
        for (int d = 0; d < r && d < NB_MAX_RANK; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                     (long long)sh[d]);
        return nbi_error(NB_ERR_FORMAT,
                         "%s: tensor '%s' is %s %s]; the stored architecture "
                         "needs %s %s]",
                         st->name, name, dt, got, dtype, want);
    }
    nb_array a;
    nb_status s = nb_safetensors_get(st, i, &a);
    if (s != NB_OK) return s;
    if (rank == 0) {
        memcpy(scalar, a.data, 4);
        nb_array_free(&a);
    } else {
        *out = a.data; /* nabla's allocator: nbi_free frees it */
    }
    return NB_OK;
}

/* Reads a step's activation parameters into act (first sight) or checks them (again). */
static nb_status read_act(const nb_safetensors *st, const nbi_qstep *s, bool input, nbi_qact *act,
                          bool *seen) {
    float scale;
    int32_t zero;
    nb_status r =
        read_tensor(st, s->prefix, input ? "input_scale" : "scale", "F32", 0, NULL, NULL, &scale);
    if (r == NB_OK)
        r = read_tensor(st, s->prefix, input ? "input_zero_point" : "zero_point", "I32", 0, NULL,
                        NULL, &zero);
    if (r != NB_OK) return r;
    if (!(scale >= 1e-30f && scale <= 1e30f))
        return nbi_error(NB_ERR_FORMAT, "%s: layer '%s': %s %g is not in [1e-30, 1e30]", st->name,
                         s->name, input ? "input_scale" : "scale", (double)scale);
    if (zero < 0 || zero > NBI_Q_ACT_MAX)
        return nbi_error(NB_ERR_FORMAT, "%s: layer '%s': %s %d is not in [0, %d]", st->name,
                         s->name, input ? "input_zero_point" : "zero_point", (int)zero,
                         NBI_Q_ACT_MAX);
    if (*seen && (act->scale != scale || act->zero != zero))
        return nbi_error(NB_ERR_FORMAT,
                         "%s: layer '%s' quantizes its input with scale %g, zero "
                         "point %d, but the layer before it wrote scale %g, zero point %d",
                         st->name, s->name, (double)scale, (int)zero, (double)act->scale,
                         (int)act->zero);
    act->scale = scale;
    act->zero = zero;
    act->lo = act->hi = act->min = act->max = NAN; /* not stored */
    *seen = true;
    return NB_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = nbi_malloc_for("nb_qmodel_load", n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static nb_status read_classes(const nb_safetensors *st, nb_qmodel *q) {
    const char *v = nb_safetensors_meta(st, "nabla.classes");
    if (!v) return NB_OK;
    int n = 1;
    for (const char *p = v; *p; p++) n += *p == '\n';
    int64_t outs = 1;
    for (int d = 0; d < q->out_rank; d++) outs *= q->out_shape[d];
    if (n > (outs == 1 ? 2 : outs))
        return nbi_error(NB_ERR_FORMAT,
                         "%s: metadata 'nabla.classes' names %d classes but the "
                         "model has %lld output%s",
                         st->name, n, (long long)outs, outs == 1 ? "" : "s");
    q->classes = nbi_malloc_for("nb_qmodel_load", sizeof(char *) * (size_t)n);
    if (!q->classes) return NB_ERR_NOMEM;
    for (const char *p = v; q->n_classes < n; q->n_classes++) {
        size_t len = strcspn(p, "\n");
        char *c = nbi_malloc_for("nb_qmodel_load", len + 1);
        if (!c) return NB_ERR_NOMEM;
        memcpy(c, p, len);
        c[len] = 0;
        q->classes[q->n_classes] = c;
        p += len + (p[len] == '\n');
    }
    return NB_OK;
}

static nb_status load_from(const nb_safetensors *st, nb_qmodel *q, nb_model_file *info) {
    const char *ver = nb_safetensors_meta(st, "nabla.quant.format_version");
    const char *text = nb_safetensors_meta(st, "nabla.spec");
    int64_t version = 0;
    if (!ver)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: not an int8 model file (no metadata "
                         "'nabla.quant.format_version'; make one with nabla quantize)",
                         st->name);
    if (!nbi_tok_to_int(ver, &version) || version < 1)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: metadata 'nabla.quant.format_version' is malformed: "
                         "expected a positive integer",
                         st->name);
    if (version > NBI_QUANT_FORMAT_VERSION)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: int8 model format version %lld is newer than "
                         "this nabla's (%d): update nabla",
                         st->name, (long long)version, NBI_QUANT_FORMAT_VERSION);
    if (!text)
        return nbi_error(NB_ERR_FORMAT, "%s: metadata 'nabla.spec' (the architecture) is missing",
                         st->name);
    /* the architecture: parsed and built dry (nothing allocated), then planned */
    char name[512];
    snprintf(name, sizeof name, "%s [nabla.spec]", st->name);
    nb_spec *spec = NULL;
    nb_model *dry = NULL;
    int64_t limit = (int64_t)st->data_len + 1; /* every weight is in the file, at 1 byte */
    nb_status s = nbi_spec_parse(text, strlen(text), name, NULL, limit, &spec);
    if (s == NB_OK) s = nbi_arch_dry(spec->arch, 0, &dry);
    if (s == NB_OK) {
        s = nbi_qplan(dry, false, q);
        if (s != NB_OK) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s", nb_last_error());
            s = nbi_error(s == NB_ERR_NOMEM ? s : NB_ERR_FORMAT,
                          "%s: the stored architecture "
                          "cannot be an int8 model: %s",
                          st->name, msg);
        }
    }
    nb_model_free(dry);
    bool *seen =
        s == NB_OK ? nbi_malloc_for("nb_qmodel_load", sizeof(bool) * (size_t)q->n_acts) : NULL;
    if (s == NB_OK && !seen) s = NB_ERR_NOMEM;
    if (seen) memset(seen, 0, sizeof(bool) * (size_t)q->n_acts);
    for (int i = 0; s == NB_OK && i < q->n_steps; i++) {
        nbi_qstep *p = &q->steps[i];
        if (p->op != NBI_QOP_DENSE && p->op != NBI_QOP_CONV) continue;
        int64_t wshape[4] = {p->N, p->K, 0, 0};
        int wrank = 2;
        if (p->op == NBI_QOP_CONV) {
            wshape[1] = p->g.C;
            wshape[2] = p->g.KH;
            wshape[3] = p->g.KW;
            wrank = 4;
        }
        s = read_tensor(st, p->prefix, "weight", "I8", wrank, wshape, (void **)&p->wq, NULL);
        if (s == NB_OK)
            s = read_tensor(st, p->prefix, "weight_scale", "F32", 1, &p->N, (void **)&p->w_scale,
                            NULL);
        if (s == NB_OK)
            s = read_tensor(st, p->prefix, "bias", "I32", 1, &p->N, (void **)&p->bias_q, NULL);
        if (s == NB_OK) s = read_act(st, p, true, &q->acts[p->act_in], &seen[p->act_in]);
        if (s == NB_OK && p->act_out >= 0)
            s = read_act(st, p, false, &q->acts[p->act_out], &seen[p->act_out]);
    }
    for (int i = 0; s == NB_OK && i < q->n_steps; i++)
        if (q->steps[i].op == NBI_QOP_DENSE || q->steps[i].op == NBI_QOP_CONV)
            s = nbi_qstep_finish(q, &q->steps[i], st->name);
    nbi_free(seen);
    const char *cal = nb_safetensors_meta(st, "nabla.quant.calibration");
    if (s == NB_OK && (!(q->spec = dup_str(text)) || !(q->calib = dup_str(cal ? cal : ""))))
        s = NB_ERR_NOMEM;
    if (s == NB_OK) s = read_classes(st, q);
    if (s == NB_OK && info) {
        info->format_version = (int)version;
        info->spec = spec;
        spec = NULL;
        if (!(info->spec_text = dup_str(text))) s = NB_ERR_NOMEM;
        if (s == NB_OK) s = nbi_meta_norm_read(st, &info->norm);
    }
    nb_spec_free(spec);
    if (s == NB_OK) {
        int64_t b = 0;
        for (int i = 0; i < q->n_steps; i++)
            if (q->steps[i].op == NBI_QOP_DENSE || q->steps[i].op == NBI_QOP_CONV)
                b += q->steps[i].N * q->steps[i].K + 8 * q->steps[i].N + 16;
        q->bytes = b;
    }
    return s;
}

nb_status nbi_qmodel_from_st(const nb_safetensors *st, nb_qmodel **out, nb_model_file *info) {
    if (info) memset(info, 0, sizeof *info);
    *out = NULL;
    nb_qmodel *q = nbi_malloc_for("nb_qmodel_load", sizeof *q);
    if (!q) return NB_ERR_NOMEM;
    memset(q, 0, sizeof *q);
    nb_status s = load_from(st, q, info);
    if (s != NB_OK) {
        if (info) nb_model_file_free(info);
        nb_qmodel_free(q);
        return s;
    }
    *out = q;
    return NB_OK;
}

nb_status nb_qmodel_load(const char *path, nb_qmodel **out, nb_model_file *info) {
    if (info) memset(info, 0, sizeof *info);
    if (!out) return nbi_error(NB_ERR_ARG, "nb_qmodel_load: out is NULL");
    *out = NULL;
    if (!path) return nbi_error(NB_ERR_ARG, "nb_qmodel_load: path is NULL");
    nb_safetensors *st;
    nb_status s = nbi_st_open(path, &st);
    if (s != NB_OK) return s;
    s = nbi_qmodel_from_st(st, out, info);
    nb_safetensors_free(st);
    return s;
}

int nb_qmodel_is_file(const char *path) {
    if (!path) return 0;
    nb_safetensors *st;
    if (nbi_st_open(path, &st) != NB_OK) return 0;
    int yes = nb_safetensors_meta(st, "nabla.quant.format_version") != NULL;
    nb_safetensors_free(st);
    return yes;
}
