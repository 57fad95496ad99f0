/* tests/test_onnx_export.c — the ONNX export of graph models and of the sequence kinds
 * (io/onnx_export_seq.c): for each kind a small model exported, passed through
 * onnx.checker and run in ONNX Runtime on nabla's inputs, every output within 1e-5 of
 * nabla's (support/onnx_ort.c; each tool skips with a note when absent); the language models
 * of examples/specs/char_lstm.spec and char_gpt.spec at a short context; the op types of the
 * recurrent and attention forms read back; and the refusals of what stays unsupported, each
 * naming the layer and the reason. Run from the repository root. */
#define _GNU_SOURCE /* mkdtemp */
#include "nbtest.h"
#include "onnx_ort.h"
#include "io/onnx.h"
#include "io/protobuf.h"
#include "base/file.h"
#include "nn/model_io.h"

#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static const char *tmp(const char *name) {
    static char buf[4][200];
    static int k;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla-onnxexp-XXXXXX");
        if (!mkdtemp(tmpdir)) abort();
    }
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static double check(nb_model *m, const char *name) {
    return nbt_onnx_check(m, tmp(name), name);
}

/* The file `name` (exported by check) read back by nabla's importer: the same outputs as m
 * on a batch of 2 (within 1e-5), the same parameter count, and `attn` attention layers. */
static void read_back(const nb_model *m, const char *name, int attn) {
    nb_model *back = NULL;
    CHECK_MSG(nb_model_load_onnx(tmp(name), &back, NULL) == NB_OK && back, "%s: %s", name,
              nb_last_error());
    if (!back) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    int64_t shape[NB_MAX_RANK + 1];
    nb_dtype dt;
    int rank = nb_model_node_shape(m, nb_model_input_node(m, 0), &dt, shape + 1);
    shape[0] = 2;
    for (int k = 1; k <= rank; k++)
        if (shape[k] < 0) shape[k] = 5;
    nb_tensor *x;
    if (dt == NB_I32) {
        x = nb_tensor_new(ctx, NB_I32, rank + 1, shape);
        for (int64_t k = 0; x && k < x->numel; k++)
            nb_i32(x)[k] = (int32_t)nb_rng_below(&rng, (uint64_t)nbi_model_vocab(m));
    } else {
        x = nb_randn(ctx, rank + 1, shape, 0.0f, 1.0f, &rng);
    }
    nb_tensor *y = nb_contiguous(ctx, nb_model_infer((nb_model *)m, ctx, x));
    nb_tensor *z = nb_contiguous(ctx, nb_model_infer(back, ctx, x));
    CHECK_MSG(y && z && y->numel == z->numel, "%s: forward: %s", name, nb_last_error());
    double maxd = 0;
    for (int64_t k = 0; y && z && k < y->numel && k < z->numel; k++) {
        double d = fabs((double)nb_f32(y)[k] - nb_f32(z)[k]);
        if (!(d <= maxd)) maxd = d;
    }
    CHECK_MSG(maxd <= 1e-5, "%s: read back differs by %g", name, maxd);
    CHECK_MSG(nb_model_param_count(back) == nb_model_param_count(m), "%s: %lld parameters, %lld",
              name, (long long)nb_model_param_count(back), (long long)nb_model_param_count(m));
    int n = 0;
    for (int i = 0; i < nb_model_layer_count(back); i++)
        n += !strncmp(nb_model_layer_name(back, i), "attention_", 10);
    CHECK_MSG(n == attn, "%s: %d attention layers read back, %d expected", name, n, attn);
    nb_ctx_free(ctx);
    nb_model_free(back);
}

/* Every parameter of m drawn again from U(-0.5, 0.5) (biases and norms away from their
 * 0 and 1 starts, so that a swapped or dropped tensor shows). */
static void scramble(nb_model *m, uint64_t seed) {
    nb_rng rng;
    nb_rng_seed(&rng, seed);
    nb_params *ps = nb_model_params(m);
    for (int i = 0; i < nb_params_len(ps); i++) {
        nb_tensor *t = nb_params_at(ps, i);
        for (int64_t k = 0; k < t->numel; k++) nb_f32(t)[k] = nb_rng_uniform(&rng) - 0.5f;
    }
}

/* The op types of m's export, space-separated, into ops. */
static void op_types(nb_model *m, char *ops, size_t cap) {
    nbi_text t;
    nbi_text_init(&t);
    CHECK_OK(nbi_model_onnx_bytes(m, &t));
    ops[0] = 0;
    nbi_pb_reader r, g;
    nbi_pb_field f, h;
    nbi_pb_reader_init(&r, t.buf, t.len, "export");
    while (nbi_pb_next(&r, &f) == 1) {
        if (f.number != 7) continue;
        CHECK_OK(nbi_pb_sub(&r, &f, "graph", &g));
        while (nbi_pb_next(&g, &f) == 1) {
            if (f.number != 1) continue;
            nbi_pb_reader s;
            CHECK_OK(nbi_pb_sub(&g, &f, "node", &s));
            while (nbi_pb_next(&s, &h) == 1)
                if (h.number == 4 && strlen(ops) + h.len + 2 < cap) {
                    strncat(ops, (const char *)h.data, h.len);
                    strcat(ops, " ");
                }
        }
    }
    nbi_text_free(&t);
}

/* ---- graph models ----------------------------------------------------------------------- */

/* Two inputs; dense on each; add of three; concat on the last and a middle axis; split into
 * three parts, two of them outputs; a reused dense layer (one set of initializers). */
static void test_graph(void) {
    nb_model *m = nb_model_new_graph(3);
    int a = nb_model_input(m, "a", NB_F32, NB_DIMS(4, 6));
    int b = nb_model_input(m, "b", NB_F32, NB_DIMS(4, 6));
    int da = nb_model_dense_on(m, a, 5, &(nb_dense_opts){.activation = NB_ACT_TANH});
    int db = nb_model_dense_on(m, b, 5, &(nb_dense_opts){.name = "shared"});
    int db2 = nb_model_reuse(m, "shared", &a, 1, NULL);
    int s = nb_model_add(m, (int[]){da, db, db2}, 3, "sum");
    int c = nb_model_concat(m, (int[]){s, da}, 2, -1, "join"); /* [4, 10] */
    int c0 = nb_model_concat(m, (int[]){c, c}, 2, 0, "rows");  /* [8, 10] */
    int sp = nb_model_split(m, c0, (const int64_t[]){3, 3, 4}, 3, 1, "parts");
    CHECK(sp > 0);
    int p2 = nb_model_find_node(m, "parts:2");
    int out = nb_model_dense_on(m, p2, 2, &(nb_dense_opts){.name = "head"});
    CHECK_OK(nb_model_set_outputs(m, (int[]){out, sp}, 2));
    scramble(m, 1);
    check(m, "graph.onnx");
    char ops[1024];
    op_types(m, ops, sizeof ops);
    CHECK_MSG(strstr(ops, "Add Add Concat Concat Split") != NULL, "ops: %s", ops);
    nb_model_free(m);
}

/* ---- token and sequence kinds ----------------------------------------------------------- */

/* ids → embedding (with a padding index) → learned positions (a table longer than the
 * input: a slice) → layer norm → RMS norm → a tied head with a bias. */
static void test_embedding_norms_tied(void) {
    nb_model *m = nb_model_new_graph(4);
    int x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(7));
    int e =
        nb_model_embedding_on(m, x, 13, 8, &(nb_embedding_opts){.padding = 1, .padding_idx = 2});
    int p = nb_model_positional_on(m, e, 10, NULL, NULL);
    int ln = nb_model_layer_norm_on(m, p, &(nb_norm_layer_opts){.eps = 1e-3f});
    int rn = nb_model_rms_norm_on(m, ln, &(nb_norm_layer_opts){.eps = 1e-2f});
    int y = nb_model_tied_dense_on(m, rn, "embedding_1", 1, NULL);
    CHECK(y > 0);
    scramble(m, 2);
    check(m, "tokens.onnx");
    char ops[1024];
    op_types(m, ops, sizeof ops);
    CHECK_MSG(strstr(ops, "Gather Shape Slice Add LayerNormalization Mul ReduceMean Add Sqrt "
                          "Div Mul Transpose MatMul Add") != NULL,
              "ops: %s", ops);
    nb_model_free(m);
    /* read back (the importer has no RMS norm): the tied head one layer of the embedding's
     * weight, with and without its bias; the positions over a table longer than the input */
    for (int bias = 0; bias < 2; bias++) {
        m = nb_model_new_graph(5);
        x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(7));
        e = nb_model_embedding_on(m, x, 13, 8, NULL);
        p = nb_model_positional_on(m, e, 10, NULL, NULL);
        ln = nb_model_layer_norm_on(m, p, NULL);
        CHECK(nb_model_tied_dense_on(m, ln, "embedding_1", bias, NULL) > 0);
        scramble(m, 3 + (uint64_t)bias);
        check(m, "tied.onnx");
        read_back(m, "tied.onnx", 0);
        nb_model_free(m);
    }
}

/* Sinusoidal positions, norms without affine parameters, global average pooling over time. */
static void test_sinusoidal_pool(void) {
    nb_model *m = nb_model_new(NB_DIMS(6, 10), 5);
    int x = nb_model_input_node(m, 0);
    int s = nb_model_sinusoidal_on(m, x, NULL);
    int ln = nb_model_layer_norm_on(m, s, &(nb_norm_layer_opts){.no_affine = 1});
    int rn = nb_model_rms_norm_on(m, ln, &(nb_norm_layer_opts){.no_affine = 1});
    int g = nb_model_global_avg_pool1d_on(m, rn, NULL);
    CHECK(g > 0);
    check(m, "sinusoidal.onnx");
    nb_model_free(m);
}

/* ---- recurrent layers ------------------------------------------------------------------- */

/* A recurrent layer of `kind` on x [5, 4]: its three (two) outputs are the model's. */
static void recurrent(const char *kind, const nb_rnn_layer_opts *o, int state_inputs,
                      const char *file) {
    nb_model *m = nb_model_new_graph(6);
    int x = nb_model_input(m, "x", NB_F32, NB_DIMS(5, 4));
    nb_rnn_layer_opts opts = *o;
    const int64_t LD = (o->layers ? o->layers : 1) * (o->bidirectional ? 2 : 1);
    if (state_inputs) {
        opts.h0 = nb_model_input(m, "h0", NB_F32, NB_DIMS(LD, 3));
        if (!strcmp(kind, "lstm")) opts.c0 = nb_model_input(m, "c0", NB_F32, NB_DIMS(LD, 3));
    }
    int y = !strcmp(kind, "lstm")  ? nb_model_lstm_on(m, x, 3, &opts)
            : !strcmp(kind, "gru") ? nb_model_gru_on(m, x, 3, &opts)
                                   : nb_model_rnn_on(m, x, 3, &opts);
    CHECK(y > 0);
    int outs[3] = {y, nb_model_find_node(m, !strcmp(kind, "lstm") ? "lstm_1:1" : "x"), 0};
    char nm[32];
    snprintf(nm, sizeof nm, "%s_1:1", kind);
    outs[1] = nb_model_find_node(m, nm);
    snprintf(nm, sizeof nm, "%s_1:2", kind);
    outs[2] = nb_model_find_node(m, nm);
    CHECK_OK(nb_model_set_outputs(m, outs, !strcmp(kind, "lstm") ? 3 : 2));
    scramble(m, 3);
    check(m, file);
    nb_model_free(m);
}

static void test_recurrent(void) {
    recurrent("lstm", &(nb_rnn_layer_opts){0}, 0, "lstm.onnx");
    recurrent("lstm", &(nb_rnn_layer_opts){.layers = 2, .bidirectional = 1}, 0, "lstm_bi2.onnx");
    recurrent("lstm", &(nb_rnn_layer_opts){.layers = 2, .bidirectional = 1}, 1, "lstm_h0.onnx");
    recurrent("gru", &(nb_rnn_layer_opts){.layers = 2}, 0, "gru2.onnx");
    recurrent("gru", &(nb_rnn_layer_opts){.bidirectional = 1, .no_bias = 1}, 1, "gru_bi.onnx");
    recurrent("rnn", &(nb_rnn_layer_opts){.layers = 3, .bidirectional = 1}, 0, "rnn_bi3.onnx");
    recurrent("rnn", &(nb_rnn_layer_opts){.activation = NB_ACT_RELU, .bidirectional = 1}, 1,
              "rnn_relu.onnx");
    /* torch's form: Transpose to [T, N, F], one node per layer, Squeeze or Transpose+Reshape;
     * h_n and c_n, which nothing reads here, make no nodes */
    nb_model *m = nb_model_new_graph(1);
    int x = nb_model_input(m, "x", NB_F32, NB_DIMS(5, 4));
    CHECK(nb_model_lstm_on(m, x, 3, &(nb_rnn_layer_opts){.layers = 2}) > 0);
    char ops[1024];
    op_types(m, ops, sizeof ops);
    CHECK_MSG(!strcmp(ops, "Transpose LSTM Squeeze LSTM Squeeze Transpose "), "ops: %s", ops);
    nb_model_free(m);
}

/* ---- attention and the transformer block ------------------------------------------------ */

static void test_attention(void) {
    nb_model *m = nb_model_new(NB_DIMS(6, 8), 7);
    CHECK(nb_model_attention_on(m, nb_model_input_node(m, 0), 8,
                                &(nb_attention_layer_opts){.heads = 2, .causal = 1}) > 0);
    scramble(m, 4);
    check(m, "attention_causal.onnx");
    read_back(m, "attention_causal.onnx", 1);
    nb_model_free(m);
    m = nb_model_new(NB_DIMS(5, 12), 8);
    CHECK(nb_model_attention_on(m, nb_model_input_node(m, 0), 12,
                                &(nb_attention_layer_opts){.heads = 3, .no_bias = 1}) > 0);
    scramble(m, 5);
    check(m, "attention.onnx");
    read_back(m, "attention.onnx", 1);
    nb_model_free(m);
    m = nb_model_new(NB_DIMS(6, 8), 9);
    int y = nb_model_transformer_on(
        m, nb_model_input_node(m, 0), 8,
        &(nb_transformer_opts){.heads = 2, .causal = 1, .ffn = 12, .eps = 1e-4f, .dropout = 0.1f});
    CHECK(nb_model_transformer_on(m, y, 8, &(nb_transformer_opts){.heads = 4, .no_bias = 1}) > 0);
    scramble(m, 6);
    check(m, "transformer.onnx");
    read_back(m, "transformer.onnx", 2);
    char ops[2048];
    op_types(m, ops, sizeof ops);
    CHECK_MSG(strstr(ops, "LayerNormalization MatMul Add Split Reshape Transpose Reshape "
                          "Transpose Reshape Transpose MatMul Mul Add Softmax MatMul Transpose "
                          "Reshape MatMul Add Add LayerNormalization MatMul Add Div Erf Add Mul "
                          "Mul MatMul Add Add") != NULL,
              "ops: %s", ops);
    nb_model_free(m);
}

/* The export of a causal attention (width 6, 2 heads of 3, T 4) with a run of bytes replaced
 * where it occurs (exactly `times` times): a hostile variant of the pattern. */
static void patched(nbi_text *t, const void *from, const void *to, size_t n, int times) {
    nb_model *m = nb_model_new(NB_DIMS(4, 6), 13);
    CHECK(nb_model_attention_on(m, nb_model_input_node(m, 0), 6,
                                &(nb_attention_layer_opts){.heads = 2, .causal = 1}) > 0);
    scramble(m, 13);
    nbi_text_init(t);
    CHECK_OK(nbi_model_onnx_bytes(m, t));
    nb_model_free(m);
    int count = 0;
    for (size_t k = 0; k + n <= t->len; k++)
        if (!memcmp(t->buf + k, from, n)) memcpy((uint8_t *)t->buf + k, to, n), count++;
    CHECK_MSG(count == times, "the bytes to patch occur %d times, not %d", count, times);
}

/* Hostile variants of the attention pattern, each refused naming the node and the reason
 * (with NABLA_ONNX_SEEDS=DIR set, also written there as fuzz seeds, and by test_refusals the
 * model of run-time length). */
static void test_attention_hostile(void) {
    const float s3 = 1.0f / sqrtf(3.0f), s_bad = 0.5f, ninf = -INFINITY, zero = 0.0f;
    /* the heads' shape [0, 0, 2, 3] as packed varints (int64_data): 4 heads of 1 */
    const uint8_t heads[4] = {0, 0, 2, 3}, heads_bad[4] = {0, 0, 4, 1};
    struct {
        const char *file;
        const void *from, *to;
        size_t n;
        int times;
        const char *node, *why;
    } bad[] = {
        {"attn_scale", &s3, &s_bad, sizeof s3, 1, "(Mul)", "nabla's attention scales by 1/sqrt(3)"},
        /* the mask's 6 entries above the diagonal made 0: not causal */
        {"attn_mask", &ninf, &zero, sizeof ninf, 6, "(Add)", "is not causal"},
        {"attn_heads", heads, heads_bad, sizeof heads, 1, "(Reshape)",
         "with a head count that divides the width 6"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nbi_text t;
        patched(&t, bad[i].from, bad[i].to, bad[i].n, bad[i].times);
        char name[64];
        snprintf(name, sizeof name, "%s.onnx", bad[i].file);
        CHECK_OK(nbi_write_file_atomic(tmp(name), t.buf, t.len));
        const char *dir = getenv("NABLA_ONNX_SEEDS");
        if (dir) {
            char path[400];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            CHECK_OK(nbi_write_file_atomic(path, t.buf, t.len));
        }
        nbi_text_free(&t);
        nb_model *m = NULL;
        nb_status st = nb_model_load_onnx(tmp(name), &m, NULL);
        const char *e = nb_last_error();
        CHECK_MSG(st == NB_ERR_UNSUPPORTED && !m && strstr(e, name) && strstr(e, bad[i].node) &&
                      strstr(e, "attention_1/") && strstr(e, bad[i].why),
                  "%s: status %d: %s", name, (int)st, e);
        nb_model_free(m);
    }
    /* unpatched, it reads back */
    nbi_text t;
    patched(&t, &s3, &s3, sizeof s3, 1);
    nb_model *m = NULL;
    CHECK_OK(nbi_model_from_onnx(t.buf, t.len, "attention", &m));
    CHECK(m && nb_model_param_count(m) == 4 * 6 * 6 + 4 * 6);
    nb_model_free(m);
    nbi_text_free(&t);
}

/* ---- the language models of examples/specs ---------------------------------------------- */

/* The spec at `path` with its context cut to 8 tokens ("input 64" → "input 8"). */
static nb_model *spec_model(const char *path) {
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(nb_file_read(path, &buf, &len));
    if (!buf) return NULL;
    char *text = malloc(len + 1);
    memcpy(text, buf, len);
    text[len] = 0;
    nb_free(buf);
    char *at = strstr(text, "\ninput 64 ");
    CHECK(at != NULL);
    if (at) memcpy(at, "\ninput  8 ", 10);
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_parse(text, strlen(text), path, "examples/specs", &spec));
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    nb_spec_free(spec);
    free(text);
    return m;
}

static void test_language_models(void) {
    nb_model *m = spec_model("examples/specs/char_lstm.spec");
    if (m) check(m, "char_lstm.onnx");
    nb_model_free(m);
    m = spec_model("examples/specs/char_gpt.spec");
    if (m) check(m, "char_gpt.onnx");
    if (m) read_back(m, "char_gpt.onnx", 2);
    nb_model_free(m);
}

/* Lengths (an i32 per sample, or a mask of tokens first) as sequence_lens; key masks (i32:
 * nonzero ignores the key, f32: added) added to the scores, with queries that see no key. */
static void test_lengths_and_masks(void) {
    const nb_dtype mask_types[2] = {NB_I32, NB_F32};
    for (int k = 0; k < 3; k++) {
        nb_model *m = nb_model_new_graph(1);
        int x = nb_model_input(m, "x", NB_F32, NB_DIMS(5, 4));
        int len = k == 0 ? nb_model_input(m, "len", NB_I32, 0, NULL)
                         : nb_model_input(m, "mask", mask_types[k - 1], NB_DIMS(5));
        nb_rnn_layer_opts o = {.lengths = len, .bidirectional = 1, .layers = 2};
        int y = k == 1 ? nb_model_lstm_on(m, x, 3, &o) : nb_model_gru_on(m, x, 3, &o);
        CHECK(y > 0);
        CHECK_OK(nb_model_set_outputs(m, (int[]){y, y + 1}, 2));
        scramble(m, 8 + (uint64_t)k);
        char nm[32];
        snprintf(nm, sizeof nm, "lengths_%d.onnx", k);
        nbt_onnx_check_inputs(m, tmp(nm), nm, k == 0 ? "xl" : "xm");
        nb_model_free(m);
    }
    for (int k = 0; k < 2; k++) {
        nb_model *m = nb_model_new_graph(2);
        int x = nb_model_input(m, "x", NB_F32, NB_DIMS(5, 8));
        int km = nb_model_input(m, "keys", mask_types[k], NB_DIMS(5));
        int a = nb_model_attention_on(
            m, x, 8, &(nb_attention_layer_opts){.heads = 2, .causal = 1, .key_mask = km});
        int y =
            nb_model_transformer_on(m, a, 8, &(nb_transformer_opts){.heads = 4, .key_mask = km});
        CHECK(y > 0);
        scramble(m, 11 + (uint64_t)k);
        char nm[32];
        snprintf(nm, sizeof nm, "key_mask_%d.onnx", k);
        nbt_onnx_check_inputs(m, tmp(nm), nm, "xm");
        nb_model_free(m);
    }
}

/* ---- refusals --------------------------------------------------------------------------- */

static void refused(nb_model *m, const char *file, const char *layer, const char *why) {
    CHECK(nb_model_export_onnx(m, tmp(file)) == NB_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(nb_last_error(), layer) && strstr(nb_last_error(), why), "%s",
              nb_last_error());
    CHECK(access(tmp(file), F_OK) != 0);
}

static void test_refusals(void) {
    nb_model *m;
    int x;
    /* a sinusoidal table over a length known only at run time */
    m = nb_model_new_graph(1);
    x = nb_model_input(m, "x", NB_F32, NB_DIMS(-1, 4));
    CHECK(nb_model_sinusoidal_on(m, x, NULL) > 0);
    refused(m, "sin.onnx", "layer 'sinusoidal_1' of kind Sinusoidal", "run time");
    nb_model_free(m);
    /* without a known length, the rest exports: learned positions (a Slice by the length),
     * attention, a causal block (its mask built from Range) */
    m = nb_model_new_graph(1);
    x = nb_model_input(m, "x", NB_F32, NB_DIMS(-1, 4));
    int p = nb_model_positional_on(m, x, 9, NULL, NULL);
    int a = nb_model_attention_on(m, p, 4, &(nb_attention_layer_opts){.heads = 2});
    CHECK(nb_model_transformer_on(m, a, 4, &(nb_transformer_opts){.causal = 1, .heads = 2}) > 0);
    scramble(m, 7);
    check(m, "dynamic_t.onnx");
    read_back(m, "dynamic_t.onnx", 2);
    if (getenv("NABLA_ONNX_SEEDS")) { /* a fuzz seed of the Range mask and the Slice by T */
        char path[400];
        snprintf(path, sizeof path, "%s/nabla_dynamic_t.onnx", getenv("NABLA_ONNX_SEEDS"));
        CHECK_OK(nb_model_export_onnx(m, path));
    }
    nb_model_free(m);
}

static const nbt_case cases[] = {
    {"graph", test_graph},
    {"embedding_norms_tied", test_embedding_norms_tied},
    {"sinusoidal_pool", test_sinusoidal_pool},
    {"recurrent", test_recurrent},
    {"attention", test_attention},
    {"attention_hostile", test_attention_hostile},
    {"language_models", test_language_models},
    {"lengths_and_masks", test_lengths_and_masks},
    {"refusals", test_refusals},
};

NBT_MAIN(cases)
