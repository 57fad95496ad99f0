/* io/model_load.c — loading model files and checkpoints (see model_file.c for the layout).
 *
 * The file's header is read and checked first, without its data (nbi_st_open). Its
 * "nabla.spec" metadata says what to build: the spec is checked on a model that only counts
 * (so a spec asking for more parameters than the file holds is refused before anything is
 * allocated), then built with its stores allocated once at their final size, and every
 * tensor is read from the file straight into its place in them — found under its PyTorch
 * name (or its nabla name), checked for dtype and shape, transposed back where nabla's layout
 * differs from torch's. Loading a model so costs about the file's size in memory, and no
 * gradient buffer until training needs one. The rest of the metadata — class names,
 * normalisation, progress, generator, optimizer — is read back exactly, so that a run resumed
 * from a checkpoint continues bit for bit. Every malformed entry is an NB_ERR_FORMAT naming
 * the file and the key. */
#include "io/model_file.h"
#include "io/spec.h"
#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- tensors --------------------------------------------------------------------------- */

static void shape_text(int rank, const int64_t *shape, char *buf, size_t n) {
    size_t w = 0;
    w += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && w < n; i++)
        w += (size_t)snprintf(buf + w, n - w, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (w < n) snprintf(buf + w, n - w, "]");
}

/* Reads tensor t of the file into dst (the buffer of mt's tensor, nabla's layout), transposing
 * when the tensor is stored transposed. f32_only: optimizer state, which must be exact. */
static nb_status fill(const nb_safetensors *st, const nbi_st_tensor *t, const nb_model_tensor *mt,
                      float *dst, bool f32_only) {
    const char *nm = mt->nabla_name;
    if (f32_only ? t->dtype != NBI_ST_F32 : !nbi_st_is_float(t->dtype))
        return nbi_error(NB_ERR_FORMAT, "%s: tensor '%s' has dtype %s; expected %s", st->name,
                         t->name, nbi_st_dtype_name(t->dtype),
                         f32_only ? "F32" : "a float dtype (F32, F64, F16, BF16)");
    bool same = t->rank == mt->rank;
    for (int i = 0; same && i < t->rank; i++) same = t->shape[i] == mt->shape[i];
    if (!same) {
        char got[160], want[160];
        shape_text(t->rank, t->shape, got, sizeof got);
        shape_text(mt->rank, mt->shape, want, sizeof want);
        return nbi_error(NB_ERR_SHAPE,
                         "%s: tensor '%s' has shape %s, but parameter %s needs "
                         "%s%s",
                         st->name, t->name, got, nm, want,
                         mt->transposed ? " (PyTorch's layout: [out, in])" : "");
    }
    if (!mt->transposed) return nbi_st_read_f32(st, t, 0, t->numel, dst);
    /* the file's [c, r], read in order, into ours [r, c] */
    int64_t r = mt->tensor->shape[0], c = mt->tensor->shape[1];
    float buf[2048];
    for (int64_t k = 0; k < t->numel;) {
        int64_t m = t->numel - k < 2048 ? t->numel - k : 2048;
        nb_status s = nbi_st_read_f32(st, t, k, m, buf);
        if (s != NB_OK) return s;
        for (int64_t q = 0; q < m; q++) {
            int64_t j = (k + q) / r, i = (k + q) % r;
            dst[i * c + j] = buf[q];
        }
        k += m;
    }
    return NB_OK;
}

static const nbi_st_tensor *find(const nb_safetensors *st, const char *name) {
    int i = nb_safetensors_find(st, name);
    return i < 0 ? NULL : &st->t[i];
}

static nb_status missing(const nb_safetensors *st, const nb_model_tensor *mt) {
    char have[256] = "";
    size_t w = 0;
    for (int i = 0; i < st->n && i < 6 && w < sizeof have; i++) {
        int r = snprintf(have + w, sizeof have - w, "%s'%s'", i ? ", " : "", st->t[i].name);
        if (r > 0) w += (size_t)r;
    }
    return nbi_error(NB_ERR_FORMAT,
                     "%s: no tensor '%s' (nor '%s') for parameter %s; the file "
                     "has %d tensor%s%s%s%s",
                     st->name, mt->name, mt->nabla_name, mt->nabla_name, st->n,
                     st->n == 1 ? "" : "s", st->n ? ": " : "", have, st->n > 6 ? ", ..." : "");
}

/* The place of a model tensor in its store's flat buffer. */
static float *place(nb_model *m, const nb_model_tensor *mt) {
    nb_params *ps = mt->role == NB_ROLE_PARAM ? nb_model_params(m) : nb_model_state(m);
    return nb_params_data(ps) + mt->offset;
}

/* The parameters and the state (running statistics); counters (num_batches_tracked) are
 * not read. */
static nb_status load_tensors(nb_model *m, const nb_safetensors *st) {
    for (int i = 0; i < nb_model_tensor_count(m); i++) {
        nb_model_tensor mt;
        nb_status s = nb_model_tensor_at(m, i, &mt);
        if (s != NB_OK) return s;
        if (mt.role == NB_ROLE_COUNTER) continue;
        const nbi_st_tensor *t = find(st, mt.name);
        if (!t) t = find(st, mt.nabla_name);
        if (!t) return missing(st, &mt);
        if ((s = fill(st, t, &mt, place(m, &mt), false)) != NB_OK) return s;
    }
    return NB_OK;
}

nb_status nb_model_load_weights(nb_model *m, const char *path) {
    if (!m) return nbi_error(NB_ERR_ARG, "nb_model_load_weights: model is NULL");
    nb_safetensors *st;
    nb_status s = nbi_st_open(path, &st);
    if (s != NB_OK) return s;
    /* into a copy first, so that a failure leaves the model as it was */
    nb_params *ps = nb_model_params(m), *sts = nb_model_state(m);
    size_t pb = (size_t)nb_params_numel(ps) * sizeof(float);
    size_t sb = (size_t)nb_params_numel(sts) * sizeof(float);
    float *keep = nbi_malloc(pb + sb + 1);
    if (!keep) {
        nb_safetensors_free(st);
        return nbi_error(NB_ERR_NOMEM, "nb_model_load_weights: out of memory");
    }
    if (pb) memcpy(keep, nb_params_data(ps), pb);
    if (sb) memcpy((char *)keep + pb, nb_params_data(sts), sb);
    s = load_tensors(m, st);
    if (s != NB_OK && pb) memcpy(nb_params_data(ps), keep, pb);
    if (s != NB_OK && sb) memcpy(nb_params_data(sts), (char *)keep + pb, sb);
    nbi_free(keep);
    nb_safetensors_free(st);
    return s;
}

/* ---- metadata ------------------------------------------------------------------------------ */

static nb_status bad_meta(const nb_safetensors *st, const char *key, const char *expected) {
    return nbi_error(NB_ERR_FORMAT, "%s: metadata '%s' is malformed: expected %s", st->name, key,
                     expected);
}

static nb_status meta_int(const nb_safetensors *st, const char *key, int64_t *out, bool *has) {
    const char *v = nb_safetensors_meta(st, key);
    *has = v != NULL;
    if (!v) return NB_OK;
    if (!nbi_tok_to_int(v, out) || *out < 0) return bad_meta(st, key, "a non-negative integer");
    return NB_OK;
}

static bool to_double(const char *s, size_t n, double *out) {
    void *loc = NULL;
    bool ok = nbi_parse_double(s, n, out, &loc) == NBI_NUM_OK;
    nbi_num_locale_free(loc);
    return ok;
}

/* "v,v,v" into n floats (allocated). */
static nb_status meta_floats(const nb_safetensors *st, const char *key, float **out, int64_t *n) {
    const char *v = nb_safetensors_meta(st, key);
    if (!v) return bad_meta(st, key, "a comma-separated list of numbers (the key is missing)");
    int64_t count = 1;
    for (const char *p = v; *p; p++) count += *p == ',';
    float *f = nbi_malloc(sizeof *f * (size_t)count);
    if (!f) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", st->name);
    const char *p = v;
    for (int64_t i = 0; i < count; i++) {
        size_t len = strcspn(p, ",");
        double d;
        if (!len || !to_double(p, len, &d)) {
            nbi_free(f);
            return bad_meta(st, key, "a comma-separated list of numbers");
        }
        f[i] = (float)d;
        p += len + (p[len] == ',');
    }
    *out = f;
    *n = count;
    return NB_OK;
}

static nb_status read_norm(const nb_safetensors *st, nb_norm *norm) {
    const char *kind = nb_safetensors_meta(st, "nabla.norm");
    if (!kind) return NB_OK;
    nb_norm_kind k = !strcmp(kind, "const")      ? NB_NORM_CONST
                     : !strcmp(kind, "standard") ? NB_NORM_STANDARD
                     : !strcmp(kind, "minmax")   ? NB_NORM_MINMAX
                                                 : NB_NORM_NONE;
    if (k == NB_NORM_NONE) return bad_meta(st, "nabla.norm", "const, standard or minmax");
    const char *pf = nb_safetensors_meta(st, "nabla.norm.per_feature");
    if (!pf || (strcmp(pf, "0") && strcmp(pf, "1")))
        return bad_meta(st, "nabla.norm.per_feature", "0 or 1");
    float *shift = NULL, *div = NULL;
    int64_t ns = 0, nd = 0;
    nb_status s = meta_floats(st, "nabla.norm.shift", &shift, &ns);
    if (s == NB_OK) s = meta_floats(st, "nabla.norm.div", &div, &nd);
    if (s == NB_OK && ns != nd)
        s = bad_meta(st, "nabla.norm.div", "as many values as nabla.norm.shift");
    if (s == NB_OK) {
        s = nb_norm_set(norm, k, pf[0] == '1', ns, shift, div);
        if (s != NB_OK && s != NB_ERR_NOMEM) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", nb_last_error());
            s = nbi_error(NB_ERR_FORMAT, "%s: the stored normalisation is invalid: %s", st->name,
                          msg);
        }
    }
    nbi_free(shift);
    nbi_free(div);
    return s;
}

static bool hex_u64(const char **p, int digits, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *p += digits;
    *out = v;
    return true;
}

static nb_status read_rng(const nb_safetensors *st, const char *key, nb_rng *rng) {
    const char *v = nb_safetensors_meta(st, key);
    if (!v) return bad_meta(st, key, "a generator's state (the key is missing)");
    const char *p = v;
    uint64_t x;
    bool ok = true;
    for (int i = 0; i < 4 && ok; i++) {
        ok = hex_u64(&p, 16, &rng->s[i]) && *p++ == ' ';
    }
    ok = ok && hex_u64(&p, 8, &x) && *p++ == ' ' && (p[0] == '0' || p[0] == '1') && !p[1];
    if (!ok || (rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
        return bad_meta(st, key,
                        "four 16-digit hex words (not all zero), an 8-digit hex float "
                        "and 0 or 1");
    uint32_t bits = (uint32_t)x;
    memcpy(&rng->spare, &bits, 4);
    rng->has_spare = p[0] == '1';
    return NB_OK;
}

/* A run state whose values are each well-formed but together impossible (nb_train_state_check
 * says which). */
static nb_status bad_run_state(const nb_safetensors *st) {
    return nbi_error(NB_ERR_FORMAT, "%s: the stored run state is invalid: %s", st->name,
                     nb_last_error());
}

/* The run state: all of its keys or none. */
static nb_status read_run(const nb_safetensors *st, nb_model_file *info) {
    static const char *const keys[] = {"nabla.epoch", "nabla.step", "nabla.best_epoch",
                                       "nabla.wait", "nabla.stopped"};
    nb_train_state *r = &info->run;
    int64_t *vals[] = {&r->epoch, &r->step, &r->best_epoch, &r->wait, NULL};
    bool any = nb_safetensors_meta(st, "nabla.rng") || nb_safetensors_meta(st, "nabla.best");
    for (int i = 0; i < 5; i++) any = any || nb_safetensors_meta(st, keys[i]);
    if (!any) return NB_OK;
    nb_status s = NB_OK;
    for (int i = 0; i < 5 && s == NB_OK; i++) {
        int64_t v;
        bool has;
        s = meta_int(st, keys[i], &v, &has);
        if (s == NB_OK && !has)
            s = bad_meta(st, keys[i],
                         "a non-negative integer (the run "
                         "state is incomplete)");
        if (s == NB_OK && i < 4) *vals[i] = v;
        if (s == NB_OK && i == 4) {
            if (v > 1) s = bad_meta(st, keys[i], "0 or 1");
            r->stopped = (int)v;
        }
    }
    if (s == NB_OK) s = read_rng(st, "nabla.rng", &r->shuffle_rng);
    if (s == NB_OK) s = read_rng(st, "nabla.rng.dropout", &r->dropout_rng);
    const char *best = nb_safetensors_meta(st, "nabla.best");
    if (s == NB_OK) {
        if (best && !strcmp(best, "nan"))
            r->best = NAN;
        else if (!best || !to_double(best, strlen(best), &r->best))
            s = bad_meta(st, "nabla.best", "a number or nan");
    }
    if (s == NB_OK) { /* every count within what a run can reach (train_state.c) */
        r->version = NB_TRAIN_STATE_VERSION;
        if (nb_train_state_check(r) != NB_OK) s = bad_run_state(st);
    }
    info->has_run = s == NB_OK;
    return s;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = nbi_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* The class names, one per line, onto the model. */
static nb_status read_classes(const nb_safetensors *st, nb_model *m) {
    const char *v = nb_safetensors_meta(st, "nabla.classes");
    if (!v) return NB_OK;
    size_t len = strlen(v);
    int n = 1;
    for (const char *p = v; *p; p++) n += *p == '\n';
    char *copy = nbi_malloc(len + 1);
    const char **names = nbi_malloc(sizeof *names * (size_t)n);
    nb_status s = copy && names ? NB_OK : nbi_error(NB_ERR_NOMEM, "%s: out of memory", st->name);
    if (s == NB_OK) {
        memcpy(copy, v, len + 1);
        char *p = copy;
        for (int i = 0; i < n; i++) {
            names[i] = p;
            p += strcspn(p, "\n");
            if (*p) *p++ = 0;
        }
        /* names for more classes than the model can predict: a corrupt or spliced file (one
         * output is a binary classifier's: two classes) */
        int64_t shape[NB_MAX_RANK], outs = 1;
        int r = nb_model_output_shape(m, shape);
        for (int i = 0; i < r; i++) outs *= shape[i];
        if (outs > 0 && n > (outs == 1 ? 2 : outs))
            s = nbi_error(NB_ERR_FORMAT,
                          "%s: metadata 'nabla.classes' names %d classes but the model has "
                          "%lld output%s",
                          st->name, n, (long long)outs, outs == 1 ? "" : "s");
        if (s == NB_OK) s = nb_model_set_classes(m, names, n);
    }
    nbi_free(names);
    nbi_free(copy);
    return s;
}

/* One spec-format line stored in metadata key `key`, split for its reader. */
static nb_status meta_line(const nb_safetensors *st, const char *key, char *name, size_t nn,
                           nbi_line *l) {
    const char *v = nb_safetensors_meta(st, key);
    snprintf(name, nn, "%s [%s]", st->name, key);
    nb_status s = nbi_line_split(l, name, 1, v, strlen(v));
    if (s == NB_OK && !l->kind.s) s = bad_meta(st, key, "a spec line");
    return s;
}

static nb_status read_optim(const nb_safetensors *st, nb_model *m, nb_model_file *info) {
    if (!nb_safetensors_meta(st, "nabla.optim")) return NB_OK;
    char name[512];
    nbi_line l;
    nb_optim_config c;
    nb_status s = meta_line(st, "nabla.optim", name, sizeof name, &l);
    if (s == NB_OK && strcmp(l.kind.s, "optimizer"))
        s = bad_meta(st, "nabla.optim", "an 'optimizer' line");
    if (s == NB_OK) s = nbi_spec_parse_optim(&l, &c);
    nbi_line_free(&l);
    if (s != NB_OK) return s;
    nb_params *ps = nb_model_params(m);
    nb_optim *o = nb_optim_new(ps, &c);
    if (!o) return NB_ERR_NOMEM;
    info->optim = o;
    int64_t t = 0;
    bool has;
    if ((s = meta_int(st, "nabla.optim.step", &t, &has)) != NB_OK) return s;
    if ((s = nb_optim_set_step_count(o, t)) != NB_OK) /* out of range: refused there */
        return nbi_error(NB_ERR_FORMAT, "%s: nabla.optim.step: %s", st->name, nb_last_error());
    if (nb_safetensors_meta(st, "nabla.optim.schedule")) {
        nb_schedule sc;
        double base = 0.0;
        s = meta_line(st, "nabla.optim.schedule", name, sizeof name, &l);
        if (s == NB_OK && strcmp(l.kind.s, "schedule"))
            s = bad_meta(st, "nabla.optim.schedule", "a 'schedule' line");
        if (s == NB_OK) s = nbi_opt_double(&l, "base_lr", "base_lr", 0, 0, &base);
        if (s == NB_OK) s = nbi_spec_parse_schedule(&l, &sc);
        nbi_line_free(&l);
        if (s != NB_OK) return s;
        sc.base_lr = base;
        if ((s = nb_optim_set_schedule(o, &sc)) != NB_OK) return s;
    }
    for (int k = 0; k < nb_optim_state_slots(o); k++) {
        float *buf = nb_optim_state_buffer(o, k, NULL);
        for (int i = 0; i < nb_params_len(ps); i++) { /* parameters are the first tensors */
            nb_model_tensor mt;
            char tn[sizeof mt.name + 64];
            if ((s = nb_model_tensor_at(m, i, &mt)) != NB_OK) return s;
            snprintf(tn, sizeof tn, "optim.%s.%s", nb_optim_state_name(o, k), mt.name);
            const nbi_st_tensor *tt = find(st, tn);
            if (!tt)
                return nbi_error(NB_ERR_FORMAT,
                                 "%s: the optimizer's state tensor '%s' is "
                                 "missing",
                                 st->name, tn);
            if ((s = fill(st, tt, &mt, buf + mt.offset, true)) != NB_OK) return s;
        }
    }
    return NB_OK;
}

static nb_status read_info(const nb_safetensors *st, nb_model *m, nb_model_file *info) {
    nb_status s = read_norm(st, &info->norm);
    if (s == NB_OK) s = read_run(st, info);
    const char *mon = nb_safetensors_meta(st, "nabla.monitor");
    if (s == NB_OK && mon && !(info->monitor = dup_str(mon)))
        s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", st->name);
    if (s == NB_OK) s = read_optim(st, m, info);
    return s;
}

void nb_model_file_free(nb_model_file *info) {
    if (!info) return;
    nb_spec_free(info->spec);
    nbi_free(info->spec_text);
    nb_norm_free(&info->norm);
    nb_optim_free(info->optim);
    nbi_free(info->monitor);
    memset(info, 0, sizeof *info);
}

nb_status nbi_model_from_st(const nb_safetensors *st, nb_model **model, nb_model_file *info) {
    if (info) memset(info, 0, sizeof *info);
    *model = NULL;
    const char *path = st->name;
    const char *ver = nb_safetensors_meta(st, "nabla.format_version");
    const char *text = nb_safetensors_meta(st, "nabla.spec");
    int64_t version = 0;
    nb_status s = NB_OK;
    if (!ver || !text) {
        s = nbi_error(NB_ERR_FORMAT,
                      "%s: a safetensors file without nabla's metadata (%s is "
                      "missing): it holds weights only; build the model from its spec and load "
                      "them with nb_model_load_weights (nabla: --spec SPEC)",
                      path, !ver ? "nabla.format_version" : "nabla.spec");
    } else if (!nbi_tok_to_int(ver, &version) || version < 1) {
        s = bad_meta(st, "nabla.format_version", "a positive integer");
    } else if (version > NB_MODEL_FORMAT_VERSION) {
        s = nbi_error(NB_ERR_UNSUPPORTED,
                      "%s: model format version %lld is newer than this "
                      "nabla's (%d): update nabla",
                      path, (long long)version, NB_MODEL_FORMAT_VERSION);
    }
    /* Every parameter must be in the file, at 2 bytes or more: a spec that asks for more is
     * refused before its parameters are allocated. */
    int64_t limit = (int64_t)(st->data_len / 2) + 1;
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    char name[512];
    snprintf(name, sizeof name, "%s [nabla.spec]", path);
    if (s == NB_OK) s = nbi_spec_parse_build(text, strlen(text), name, limit, false, &spec, &m);
    if (s == NB_OK) s = load_tensors(m, st);
    if (s == NB_OK) s = read_classes(st, m);
    if (s == NB_OK) s = nbi_model_read_tokenizer(st, m);
    if (s == NB_OK && info) {
        info->format_version = (int)version;
        info->spec = spec;
        spec = NULL;
        info->spec_text = dup_str(text);
        if (!info->spec_text) s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", path);
        if (s == NB_OK) s = read_info(st, m, info);
    }
    nb_spec_free(spec);
    if (s != NB_OK) {
        if (info) nb_model_file_free(info);
        nb_model_free(m);
        return s;
    }
    *model = m;
    return NB_OK;
}

nb_status nb_model_load(const char *path, nb_model **model, nb_model_file *info) {
    if (info) memset(info, 0, sizeof *info);
    if (!model) return nbi_error(NB_ERR_ARG, "nb_model_load: model is NULL");
    *model = NULL;
    nb_safetensors *st;
    nb_status s = nbi_st_open(path, &st); /* the header only: tensors are read into place */
    if (s != NB_OK) return s;
    s = nbi_model_from_st(st, model, info);
    nb_safetensors_free(st);
    return s;
}
