/* io/model_file.c — saving models (and checkpoints) as safetensors files; loading is
 * model_load.c.
 *
 * Tensors. Every parameter and state tensor is stored under its PyTorch name, in PyTorch's
 * layout, as the model gives them (nb_model_tensor_at): for a chain of layers, the names of
 * a torch nn.Sequential, each layer standing for as many modules as it needs (a dense layer
 * with an activation is Linear then the activation: 2), and a dense weight transposed to
 * nn.Linear's [out, in]. So for a nabla model 784-256(relu)-10:
 *
 *     dense_1.weight [784, 256]  ->  "0.weight" [256, 784]       nn.Linear(784, 256)
 *     dense_1.bias   [256]       ->  "0.bias"   [256]            nn.ReLU()   (module 1)
 *     dense_2.weight [256, 10]   ->  "2.weight" [10, 256]        nn.Linear(256, 10)
 *
 * and torch.nn.Sequential(Linear(784,256), ReLU(), Linear(256,10)).load_state_dict reads the
 * file as it is. For any other graph the names are the layers' ("conv2d_1.weight"): the
 * torch module with one submodule per layer, named after it. Batch normalisation's
 * num_batches_tracked, which torch keeps and nabla does not, is written as 0. A checkpoint
 * adds the optimizer's state as "optim.<slot>.<name>" tensors in the same layout
 * ("optim.exp_avg.0.weight").
 *
 * Metadata (all strings; docs/model-files.md lists them): "format" = "pt",
 * "nabla.format_version" = "1" for a chain and "2" for a graph, "nabla.spec" the architecture
 * (nb_model_spec) followed by the training lines, "nabla.classes" the model's class names,
 * "nabla.norm*" the normalisation, the run state of a checkpoint ("nabla.epoch", "nabla.step",
 * "nabla.rng", "nabla.rng.dropout", "nabla.best", "nabla.best_epoch", "nabla.wait",
 * "nabla.stopped"), "nabla.monitor", "nabla.tokenizer" (a language model's tokenizer,
 * nb_tokenizer_json's text), "nabla.optim" (the optimizer's spec line),
 * "nabla.optim.step", "nabla.optim.schedule". Numbers are written so that they read back bit
 * for bit. Everything is checked (every string valid UTF-8, names unique) before the file is
 * opened: nabla does not write a file it cannot read. */
#include "io/model_file.h"
#include "io/spec.h"
#include "data/data.h"
#include "nn/model_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nb_status nb_model_torch_name(const nb_model *m, int i, char *buf, size_t n) {
    if (!m || !buf || !n) return nbi_error(NB_ERR_ARG, "nb_model_torch_name: NULL argument");
    nb_model_tensor mt;
    nb_status s = nb_model_tensor_at(m, i, &mt); /* parameters come first */
    if (s == NB_OK && mt.role != NB_ROLE_PARAM)
        s = nbi_error(NB_ERR_ARG, "nb_model_torch_name: the model has no parameter %d", i);
    if (s == NB_OK) snprintf(buf, n, "%s", mt.name);
    return s;
}

/* ---- saving ---------------------------------------------------------------------------------- */

/* Writes a parameter-shaped buffer in torch's layout: as it is, or transposed from [r, c]
 * to [c, r] through a small buffer. */
static nb_status write_values(nbi_atomic_file *af, const float *v, const nb_model_tensor *mt) {
    const nb_tensor *t = mt->tensor;
    if (!mt->transposed) return nbi_st_write_le(af, v, (size_t)t->numel, 4);
    int64_t r = t->shape[0], c = t->shape[1];
    float buf[1024];
    size_t k = 0;
    for (int64_t j = 0; j < c; j++) {
        for (int64_t i = 0; i < r; i++) {
            buf[k++] = v[i * c + j];
            if (k == sizeof buf / sizeof buf[0]) {
                nb_status s = nbi_st_write_le(af, buf, k, 4);
                if (s != NB_OK) return s;
                k = 0;
            }
        }
    }
    return k ? nbi_st_write_le(af, buf, k, 4) : NB_OK;
}

/* The metadata being built: keys and values owned here. */
typedef struct meta {
    char **kv; /* 2 * n strings */
    int n, cap;
    bool oom;
} meta;

static void meta_add(meta *md, const char *k, const char *v) {
    if (md->oom) return;
    if (md->n == md->cap) {
        int cap = md->cap ? 2 * md->cap : 32;
        char **kv = nbi_malloc(sizeof *kv * 2 * (size_t)cap);
        if (!kv) {
            md->oom = true;
            return;
        }
        if (md->n) memcpy(kv, md->kv, sizeof *kv * 2 * (size_t)md->n);
        nbi_free(md->kv);
        md->kv = kv;
        md->cap = cap;
    }
    size_t kl = strlen(k), vl = strlen(v);
    char *a = nbi_malloc(kl + 1), *b = nbi_malloc(vl + 1);
    if (!a || !b) {
        nbi_free(a);
        nbi_free(b);
        md->oom = true;
        return;
    }
    memcpy(a, k, kl + 1);
    memcpy(b, v, vl + 1);
    md->kv[2 * md->n] = a;
    md->kv[2 * md->n + 1] = b;
    md->n++;
}

static void meta_add_text(meta *md, const char *k, nbi_text *t) {
    if (t->oom) md->oom = true;
    meta_add(md, k, nbi_text_str(t));
    nbi_text_free(t);
}

static void meta_free(meta *md) {
    for (int i = 0; i < 2 * md->n; i++) nbi_free(md->kv[i]);
    nbi_free(md->kv);
}

static const char *norm_kind_name(nb_norm_kind k) {
    return k == NB_NORM_CONST      ? "const"
           : k == NB_NORM_STANDARD ? "standard"
           : k == NB_NORM_MINMAX   ? "minmax"
                                   : "none";
}

static void floats_text(nbi_text *t, const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (i) nbi_text_puts(t, ",");
        nbi_text_float(t, v[i]);
    }
}

/* A generator's state: four 64-bit words, the spare normal's bits, whether it is there. */
static void rng_text(const nb_rng *r, char *buf, size_t n) {
    uint32_t spare;
    memcpy(&spare, &r->spare, 4);
    snprintf(buf, n, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %08" PRIx32 " %d",
             r->s[0], r->s[1], r->s[2], r->s[3], spare, r->has_spare ? 1 : 0);
}

static nb_status build_meta(const nb_model *m, const nb_save_opts *o, meta *md) {
    const char *what = "nb_model_save";
    char buf[128];
    meta_add(md, "format", "pt");
    /* version 1 is what every nabla reads: a chain; a graph needs version 2 */
    meta_add(md, "nabla.format_version", nb_model_is_sequential(m) ? "1" : "2");
    meta_add(md, "nabla.version", NB_VERSION);

    nbi_text t;
    nbi_text_init(&t);
    nbi_model_spec_text(m, &t);
    if (o->spec) nbi_spec_training_text(o->spec, &t);
    meta_add_text(md, "nabla.spec", &t);

    if (o->norm && o->norm->kind != NB_NORM_NONE) {
        const nb_norm *nm = o->norm;
        if (nm->n < 1 || !nm->shift || !nm->div || (!nm->per_feature && nm->n != 1))
            return nbi_error(NB_ERR_ARG, "%s: the normalisation has %lld parameters%s", what,
                             (long long)nm->n, nm->per_feature ? "" : " (expected 1)");
        meta_add(md, "nabla.norm", norm_kind_name(nm->kind));
        meta_add(md, "nabla.norm.per_feature", nm->per_feature ? "1" : "0");
        nbi_text_init(&t);
        floats_text(&t, nm->shift, nm->n);
        meta_add_text(md, "nabla.norm.shift", &t);
        nbi_text_init(&t);
        floats_text(&t, nm->div, nm->n);
        meta_add_text(md, "nabla.norm.div", &t);
    }
    if (o->run) {
        const nb_train_state *r = o->run;
        if (r->epoch < 0 || r->step < 0 || r->best_epoch < 0 || r->wait < 0)
            return nbi_error(NB_ERR_ARG,
                             "%s: the run state has a negative count (epoch %lld, "
                             "step %lld, best epoch %lld, wait %lld)",
                             what, (long long)r->epoch, (long long)r->step,
                             (long long)r->best_epoch, (long long)r->wait);
        const struct {
            const char *key;
            int64_t v;
        } counts[] = {{"nabla.epoch", r->epoch},
                      {"nabla.step", r->step},
                      {"nabla.best_epoch", r->best_epoch},
                      {"nabla.wait", r->wait},
                      {"nabla.stopped", r->stopped ? 1 : 0}};
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
            snprintf(buf, sizeof buf, "%lld", (long long)counts[i].v);
            meta_add(md, counts[i].key, buf);
        }
        rng_text(&r->shuffle_rng, buf, sizeof buf);
        meta_add(md, "nabla.rng", buf);
        rng_text(&r->dropout_rng, buf, sizeof buf);
        meta_add(md, "nabla.rng.dropout", buf);
        nbi_fmt_double(buf, sizeof buf, r->best);
        meta_add(md, "nabla.best", buf);
    }
    if (o->monitor) meta_add(md, "nabla.monitor", o->monitor);
    if (nb_model_class_count(m) > 0) {
        nbi_text_init(&t);
        for (int i = 0; i < nb_model_class_count(m); i++) {
            if (i) nbi_text_puts(&t, "\n");
            nbi_text_puts(&t, nb_model_class_name(m, i));
        }
        meta_add_text(md, "nabla.classes", &t);
    }
    const char *tok = nbi_model_tokenizer_text(m);
    if (tok) meta_add(md, "nabla.tokenizer", tok);
    if (o->optim) {
        nb_optim_config c = nb_optim_get_config(o->optim);
        nbi_text_init(&t);
        nbi_spec_optim_text(&c, &t);
        meta_add_text(md, "nabla.optim", &t);
        snprintf(buf, sizeof buf, "%lld", (long long)nb_optim_step_count(o->optim));
        meta_add(md, "nabla.optim.step", buf);
        nb_schedule sc;
        if (nb_optim_get_schedule(o->optim, &sc)) {
            nbi_text_init(&t);
            nbi_spec_schedule_text(&sc, &t);
            nbi_text_puts(&t, " base_lr=");
            nbi_text_double(&t, sc.base_lr);
            meta_add_text(md, "nabla.optim.schedule", &t);
        }
    }
    for (int i = 0; i < o->n_meta; i++) {
        const char *k = o->meta ? o->meta[2 * i] : NULL, *v = o->meta ? o->meta[2 * i + 1] : NULL;
        if (!k || !v)
            return nbi_error(NB_ERR_ARG, "%s: metadata pair %d has a NULL key or value", what, i);
        if (!strcmp(k, "format") || !strncmp(k, "nabla.", 6))
            return nbi_error(NB_ERR_ARG,
                             "%s: metadata key '%s' is reserved (\"format\" and "
                             "\"nabla.*\" are nabla's own)",
                             what, k);
        meta_add(md, k, v);
    }
    if (md->oom) return nbi_error(NB_ERR_NOMEM, "%s: out of memory building the metadata", what);
    return NB_OK;
}

nb_status nb_model_save(const nb_model *m, const char *path, const nb_save_opts *opts) {
    const char *what = "nb_model_save";
    if (!m) return nbi_error(NB_ERR_ARG, "%s: model is NULL", what);
    nb_save_opts none;
    memset(&none, 0, sizeof none);
    const nb_save_opts *o = opts ? opts : &none;
    const nb_optim *opt = o->optim;
    int slots = opt ? nb_optim_state_slots(opt) : 0;
    if (slots > 0) {
        int64_t n;
        nb_optim_state_buffer((nb_optim *)opt, 0, &n);
        if (n != nb_model_param_count(m))
            return nbi_error(NB_ERR_ARG,
                             "%s: the optimizer covers %lld parameters, the model "
                             "has %lld: pass the model's own optimizer",
                             what, (long long)n, (long long)nb_model_param_count(m));
    }
    /* The tensors, in this order: the model's (parameters, state, counters), then the
     * optimizer's slots for each parameter. */
    int nm = nb_model_tensor_count(m), np = 0;
    nb_model_tensor *mt = nbi_malloc(sizeof *mt * (size_t)(nm ? nm : 1));
    nb_status s = mt ? NB_OK : nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    for (int i = 0; i < nm && s == NB_OK; i++) {
        s = nb_model_tensor_at(m, i, &mt[i]);
        np += s == NB_OK && mt[i].role == NB_ROLE_PARAM;
    }
    int nt = s == NB_OK ? nm + np * slots : 0;
    /* room for "optim.<slot>.<name>" */
    enum { NAME_MAX_LEN = sizeof(((nb_model_tensor *)0)->name) + 32 };
    meta md;
    memset(&md, 0, sizeof md);
    nbi_st_entry *e = nbi_malloc(sizeof *e * (size_t)(nt ? nt : 1));
    char *names = nbi_malloc((size_t)(nt ? nt : 1) * NAME_MAX_LEN);
    if (s == NB_OK && (!e || !names)) s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    int n = 0;
    for (int i = 0; i < nm && s == NB_OK; i++, n++) {
        e[n] = (nbi_st_entry){.name = mt[i].name,
                              .dtype = mt[i].role == NB_ROLE_COUNTER ? NBI_ST_I64 : NBI_ST_F32,
                              .rank = mt[i].rank};
        memcpy(e[n].shape, mt[i].shape, sizeof e[n].shape);
    }
    for (int k = 0; k < slots && s == NB_OK; k++) {
        for (int i = 0; i < np; i++, n++) {
            snprintf(names + (size_t)n * NAME_MAX_LEN, NAME_MAX_LEN, "optim.%s.%s",
                     nb_optim_state_name(opt, k), mt[i].name);
            e[n] = (nbi_st_entry){
                .name = names + (size_t)n * NAME_MAX_LEN, .dtype = NBI_ST_F32, .rank = mt[i].rank};
            memcpy(e[n].shape, mt[i].shape, sizeof e[n].shape);
        }
    }
    NBI_ASSERT(s != NB_OK || n == nt);
    if (s == NB_OK) s = build_meta(m, o, &md);
    nbi_text json;
    nbi_text_init(&json);
    unsigned char len8[8];
    uint64_t data_len;
    if (s == NB_OK)
        s = nbi_st_header(e, nt, (const char *const *)md.kv, md.n, what, &json, len8, &data_len);
    nbi_atomic_file af;
    if (s == NB_OK) s = nbi_atomic_open(&af, path);
    if (s == NB_OK) {
        static const unsigned char zero[8] = {0};
        s = nbi_atomic_write(&af, len8, 8);
        if (s == NB_OK) s = nbi_atomic_write(&af, json.buf, json.len);
        for (int i = 0; i < nm && s == NB_OK; i++)
            s = mt[i].role == NB_ROLE_COUNTER
                    ? nbi_atomic_write(&af, zero, 8)
                    : write_values(&af, (const float *)mt[i].tensor->data, &mt[i]);
        for (int k = 0; k < slots && s == NB_OK; k++) {
            const float *base = nb_optim_state_buffer((nb_optim *)opt, k, NULL);
            for (int i = 0; i < np && s == NB_OK; i++)
                s = write_values(&af, base + mt[i].offset, &mt[i]);
        }
        if (s == NB_OK)
            s = nbi_atomic_commit(&af);
        else
            nbi_atomic_abort(&af);
    }
    nbi_text_free(&json);
    meta_free(&md);
    nbi_free(names);
    nbi_free(e);
    nbi_free(mt);
    return s;
}
