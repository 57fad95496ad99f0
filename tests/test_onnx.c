/* tests/test_onnx.c — ONNX files: the protobuf wire format (io/protobuf.c) written and read
 * back, the reader refusing hostile bytes (truncations, lengths past the end, bad varints,
 * groups, wrong wire types, nesting too deep); the export (nb_model_export_onnx) of a model of
 * every exported layer kind, read back with our reader (IR version, opset, op types, a dynamic
 * batch dimension, initializer names); refusals (a graph model, a layer kind without a
 * mapping). Then, when the tools are here: onnx.checker.check_model(full_check=True) on each
 * exported file (/usr/bin/python3 with python3-onnx; tests/scripts/onnx_check.py), and ONNX
 * Runtime (onnxruntime-node in tests/onnx/node_modules; tests/onnx/run_ort.js) run on the
 * same input as nabla, outputs within 1e-5. Each of those skips with a note when its tool is
 * absent.
 *
 * The import (nb_model_load_onnx): the PyTorch fixtures of tests/data/onnx (written by
 * tests/scripts/make_onnx_fixtures.py) run to PyTorch's outputs within 1e-5 and save as nabla
 * model files; every exported model comes back giving the very same outputs; hand-made
 * hostile graphs (unknown op, missing initializer, cycle, giant and negative dims, short data,
 * a value given twice, an initializer shared past the weight budget, wrong wire types) and
 * every truncation of a real file are handled cleanly; a residual graph is a graph model.
 * Run from the repository root. */
#define _GNU_SOURCE /* memmem */
#include "nbtest.h"
#include "io/onnx.h"
#include "io/protobuf.h"
#include "base/file.h"
#include "onnx_ort.h"
#include "nn/model_io.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static const char *tmp(const char *name) {
    static char buf[4][200];
    static int k;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla-onnx-XXXXXX");
        if (!mkdtemp(tmpdir)) abort();
    }
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* ---- the wire format -------------------------------------------------------------------- */

static void test_pb_round_trip(void) {
    nbi_text t;
    nbi_text_init(&t);
    const int64_t ints[] = {0, 1, 127, 128, 300, -1, INT64_MAX, INT64_MIN};
    const float fl[] = {0.0f, -1.5f, 3.25e-7f};
    nbi_pb_int(&t, 1, 150);
    nbi_pb_str(&t, 2, "testing");
    nbi_pb_float(&t, 3, 2.5f);
    nbi_pb_packed_ints(&t, 4, ints, 8);
    nbi_pb_packed_floats(&t, 5, fl, 3);
    nbi_text sub;
    nbi_text_init(&sub);
    nbi_pb_int(&sub, 7, -2);
    nbi_pb_msg(&t, 6, &sub);
    nbi_text_free(&sub);
    CHECK_OK(nbi_text_status(&t, "test"));
    /* the protobuf documentation's own example: field 1 = 150 is 08 96 01 */
    CHECK(t.len > 3 && (uint8_t)t.buf[0] == 0x08 && (uint8_t)t.buf[1] == 0x96 &&
          (uint8_t)t.buf[2] == 0x01);
    nbi_pb_reader r;
    nbi_pb_reader_init(&r, t.buf, t.len, "mem");
    nbi_pb_field f;
    int got = 0;
    int64_t back[16];
    size_t nb = 0;
    int g;
    while ((g = nbi_pb_next(&r, &f)) == 1) {
        got++;
        if (f.number == 1) CHECK(f.wire == NBI_PB_VARINT && f.v == 150);
        if (f.number == 2) {
            char *s;
            CHECK_OK(nbi_pb_string(&r, &f, "s", 100, &s));
            CHECK(s && !strcmp(s, "testing"));
            nbi_free(s);
            CHECK(nbi_pb_string(&r, &f, "s", 3, &s) == NB_ERR_FORMAT); /* too long */
        }
        if (f.number == 3) CHECK(f.wire == NBI_PB_I32 && nbi_pb_as_float(&f) == 2.5f);
        if (f.number == 4) {
            CHECK_OK(nbi_pb_ints(&r, &f, "ints", back, 16, &nb));
            CHECK(nb == 8);
            for (size_t i = 0; i < nb && i < 8; i++) CHECK(back[i] == ints[i]);
            size_t n2 = 0;
            CHECK(nbi_pb_ints(&r, &f, "ints", back, 7, &n2) == NB_ERR_FORMAT);
        }
        if (f.number == 5) {
            CHECK(f.len == 12);
            for (int i = 0; i < 3 && f.len == 12; i++) {
                uint32_t u = 0;
                for (int b = 0; b < 4; b++) u |= (uint32_t)f.data[4 * i + b] << (8 * b);
                float x;
                memcpy(&x, &u, 4);
                CHECK(x == fl[i]);
            }
        }
        if (f.number == 6) {
            nbi_pb_reader s;
            CHECK_OK(nbi_pb_sub(&r, &f, "sub", &s));
            nbi_pb_field h;
            CHECK(nbi_pb_next(&s, &h) == 1 && h.number == 7 && (int64_t)h.v == -2);
            CHECK(nbi_pb_next(&s, &h) == 0);
            /* the wrong wire type, named */
            CHECK(nbi_pb_want(&s, &h, NBI_PB_I32, "Sub.field") == NB_ERR_FORMAT);
            CHECK(strstr(nb_last_error(), "Sub.field") != NULL);
        }
    }
    CHECK(g == 0 && got == 6);
    nbi_text_free(&t);
}

static int read_all(const void *b, size_t n) {
    nbi_pb_reader r;
    nbi_pb_reader_init(&r, b, n, "hostile");
    nbi_pb_field f;
    int g;
    while ((g = nbi_pb_next(&r, &f)) == 1) {
    }
    return g;
}

static void test_pb_hostile(void) {
    const uint8_t trunc_key[] = {0x88};
    const uint8_t trunc_varint[] = {0x08, 0x96};
    const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0x7f};
    const uint8_t over64[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    const uint8_t past_end[] = {0x12, 0x05, 'a', 'b'};
    const uint8_t huge_len[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    const uint8_t group[] = {0x0b, 0x0c};
    const uint8_t field0[] = {0x00, 0x01};
    const uint8_t trunc_fixed[] = {0x0d, 0x01, 0x02};
    const struct {
        const uint8_t *b;
        size_t n;
    } bad[] = {{trunc_key, 1}, {trunc_varint, 2}, {long_varint, 11}, {over64, 11},    {past_end, 4},
               {huge_len, 10}, {group, 2},        {field0, 2},       {trunc_fixed, 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int g = read_all(bad[i].b, bad[i].n);
        CHECK_MSG(g == -(int)NB_ERR_FORMAT, "case %zu: %d", i, g);
        CHECK(strstr(nb_last_error(), "hostile") != NULL);
    }
    const uint8_t max_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK(read_all(max_varint, 11) == 0);
    /* nesting: 40 levels of field 1 holding the next */
    uint8_t deep[200];
    size_t n = 0;
    for (int d = 0; d < 40; d++) deep[n++] = 0x0a, deep[n++] = (uint8_t)(2 * (40 - d - 1));
    nbi_pb_reader r;
    nbi_pb_reader_init(&r, deep, n, "deep");
    nb_status st = NB_OK;
    int depth = 0;
    for (;;) {
        nbi_pb_field f;
        if (nbi_pb_next(&r, &f) != 1) break;
        nbi_pb_reader s;
        st = nbi_pb_sub(&r, &f, "Deep.next", &s);
        if (st != NB_OK) break;
        r = s;
        depth++;
    }
    CHECK(st == NB_ERR_FORMAT && depth == NBI_PB_MAX_DEPTH);
}

/* ---- export ----------------------------------------------------------------------------- */

/* A CNN of every exported image kind, with running statistics that are not the defaults. */
static nb_model *cnn(void) {
    nb_model *m = nb_model_new(NB_DIMS(3, 9, 9), 11);
    CHECK_OK(nb_model_conv2d_with(
        m, 4, &(nb_conv2d_opts){.kernel = {3, 3}, .pad = {1, 1, 1, 1}, .activation = NB_ACT_RELU}));
    CHECK_OK(nb_model_batch_norm_with(m, &(nb_batch_norm_opts){.eps = 1e-3f}));
    CHECK_OK(nb_model_conv2d_with(m, 4,
                                  &(nb_conv2d_opts){.kernel = {3, 2},
                                                    .stride = {2, 1},
                                                    .dilation = {1, 2},
                                                    .pad = {0, 1, 2, 0},
                                                    .groups = 2,
                                                    .activation = NB_ACT_LEAKY_RELU,
                                                    .alpha = 0.2f}));
    CHECK_OK(
        nb_model_max_pool2d_with(m, &(nb_pool_opts){.kernel = {2, 2}, .stride = {1, 1}}, NULL));
    CHECK_OK(nb_model_avg_pool2d_with(
        m,
        &(nb_pool_opts){.kernel = {2, 2}, .stride = {1, 1}, .pad = {1, 1, 1, 1}, .exclude_pad = 1},
        NULL));
    CHECK_OK(nb_model_batch_norm_with(m, &(nb_batch_norm_opts){.no_affine = 1}));
    CHECK_OK(nb_model_dropout(m, 0.3f));
    CHECK_OK(nb_model_flatten(m));
    CHECK_OK(nb_model_dense(m, 5, NB_ACT_SOFTMAX));
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_params *st = nb_model_state(m);
    for (int i = 0; i < nb_params_len(st); i++) {
        nb_tensor *t = nb_params_at(st, i);
        for (int64_t k = 0; k < t->numel; k++)
            nb_f32(t)[k] =
                strstr(t->name, "var") ? 0.5f + nb_rng_uniform(&rng) : nb_rng_uniform(&rng) - 0.5f;
    }
    nb_params *ps = nb_model_params(m);
    for (int i = 0; i < nb_params_len(ps); i++) {
        nb_tensor *t = nb_params_at(ps, i);
        if (strstr(t->name, "batch_norm"))
            for (int64_t k = 0; k < t->numel; k++) nb_f32(t)[k] += nb_rng_uniform(&rng) - 0.5f;
    }
    return m;
}

/* An MLP with every activation (each as a dense layer's and as a layer of its own). */
static nb_model *mlp(void) {
    nb_model *m = nb_model_new(NB_DIMS(6), 3);
    const nb_activation acts[] = {NB_ACT_SIGMOID,    NB_ACT_TANH,     NB_ACT_RELU,
                                  NB_ACT_LEAKY_RELU, NB_ACT_ELU,      NB_ACT_GELU,
                                  NB_ACT_SILU,       NB_ACT_SOFTPLUS, NB_ACT_MISH};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        CHECK_OK(nb_model_dense_with(
            m, 7, &(nb_dense_opts){.activation = acts[i], .alpha = i == 4 ? 0.7f : 0.0f}));
        CHECK_OK(nb_model_activation(m, acts[(i + 3) % 9], 0.0f));
    }
    CHECK_OK(nb_model_dense_with(m, 3, &(nb_dense_opts){.no_bias = 1}));
    CHECK_OK(nb_model_activation(m, NB_ACT_SOFTMAX, 0.0f));
    return m;
}

/* Dense on samples [T, F] (MatMul + Add, then MatMul alone), then a flatten. */
static nb_model *seq_dense(void) {
    nb_model *m = nb_model_new(NB_DIMS(4, 5), 9);
    CHECK_OK(nb_model_dense(m, 3, NB_ACT_TANH));
    CHECK_OK(nb_model_dense_with(m, 2, &(nb_dense_opts){.no_bias = 1}));
    CHECK_OK(nb_model_flatten(m));
    return m;
}

/* A chain of log_softmax (which export writes as LogSoftmax). */
static nb_model *logsm(void) {
    nb_model *m = nb_model_new(NB_DIMS(5), 4);
    CHECK_OK(nb_model_dense(m, 4, NB_ACT_ELU));
    CHECK_OK(nb_model_dense(m, 3, NB_ACT_LOG_SOFTMAX));
    return m;
}

/* Small language models for the fuzz seeds: a char-LSTM (ids → embedding → LSTM → dense) and
 * a char-GPT (ids → embedding + positions → a causal block → layer norm → tied head), a few
 * KB each (tests/test_onnx_export.c checks the full-size ones in ONNX Runtime). */
static nb_model *tiny_lstm_lm(void) {
    nb_model *m = nb_model_new_graph(12);
    int x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(6));
    int e = nb_model_embedding_on(m, x, 16, 8, NULL);
    int h = nb_model_lstm_on(m, e, 8, NULL);
    CHECK(nb_model_dense_on(m, h, 16, NULL) > 0);
    return m;
}

static nb_model *tiny_gpt_lm(void) {
    nb_model *m = nb_model_new_graph(13);
    int x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(6));
    int e = nb_model_embedding_on(m, x, 16, 8, NULL);
    int p = nb_model_positional_on(m, e, 6, NULL, NULL);
    int b = nb_model_transformer_on(m, p, 8, &(nb_transformer_opts){.heads = 2, .causal = 1});
    int n = nb_model_layer_norm_on(m, b, NULL);
    CHECK(nb_model_tied_dense_on(m, n, "embedding_1", 0, NULL) > 0);
    return m;
}

static void test_export_read_back(void) {
    nb_model *m = cnn();
    nbi_text t;
    nbi_text_init(&t);
    CHECK_OK(nbi_model_onnx_bytes(m, &t));
    nbi_pb_reader r, g;
    nbi_pb_reader_init(&r, t.buf, t.len, "export");
    nbi_pb_field f;
    int64_t ir = 0, opset = 0;
    int have_graph = 0;
    while (nbi_pb_next(&r, &f) == 1) {
        if (f.number == 1) ir = (int64_t)f.v;
        if (f.number == 8) {
            nbi_pb_reader o;
            nbi_pb_field h;
            CHECK_OK(nbi_pb_sub(&r, &f, "opset_import", &o));
            while (nbi_pb_next(&o, &h) == 1)
                if (h.number == 2) opset = (int64_t)h.v;
        }
        if (f.number == 7) {
            CHECK_OK(nbi_pb_sub(&r, &f, "graph", &g));
            have_graph = 1;
        }
    }
    CHECK(ir == 8 && opset == 17 && have_graph);
    char ops[512] = "";
    int inits = 0, saw_weight = 0, saw_n = 0;
    while (have_graph && nbi_pb_next(&g, &f) == 1) {
        nbi_pb_reader s;
        nbi_pb_field h;
        if (f.number == 1) { /* node: op_type */
            CHECK_OK(nbi_pb_sub(&g, &f, "node", &s));
            while (nbi_pb_next(&s, &h) == 1)
                if (h.number == 4 && strlen(ops) + h.len + 2 < sizeof ops) {
                    strncat(ops, (const char *)h.data, h.len);
                    strcat(ops, " ");
                }
        }
        if (f.number == 5) { /* initializer names */
            CHECK_OK(nbi_pb_sub(&g, &f, "initializer", &s));
            inits++;
            while (nbi_pb_next(&s, &h) == 1)
                if (h.number == 8 && h.len == 15 && !memcmp(h.data, "conv2d_1.weight", 15))
                    saw_weight = 1;
        }
        if (f.number == 11 && memmem(f.data, f.len, "\x12\x01N", 3)) saw_n = 1;
    }
    CHECK_MSG(!strcmp(ops, "Conv Relu BatchNormalization Conv LeakyRelu MaxPool AveragePool "
                           "BatchNormalization Identity Flatten Gemm Softmax "),
              "ops: %s", ops);
    CHECK_MSG(inits == 2 + 4 + 2 + 4 + 2, "%d initializers",
              inits); /* conv, bn, conv, bn (mean, var, scale, shift), dense */
    CHECK(saw_weight && saw_n);
    nbi_text_free(&t);
    nb_model_free(m);
}

static void test_export_refusals(void) {
    /* a model that only checks shapes has no values to write: named with the layer */
    nb_model *m = nbi_model_new_dry(1);
    int x = nb_model_input(m, "input", NB_F32, NB_DIMS(4));
    CHECK(nb_model_dense_on(m, x, 3, NULL) > 0);
    CHECK(nb_model_export_onnx(m, tmp("dry.onnx")) == NB_ERR_ARG);
    CHECK_MSG(strstr(nb_last_error(), "dense_1") && strstr(nb_last_error(), "without data"), "%s",
              nb_last_error());
    CHECK(access(tmp("dry.onnx"), F_OK) != 0);
    nb_model_free(m);
    CHECK(nb_model_export_onnx(NULL, tmp("x.onnx")) == NB_ERR_ARG);
    /* graph models, the sequence kinds and their refusals: tests/test_onnx_export.c */
}

/* ---- the checker and ONNX Runtime ------------------------------------------------------- */

/* Exports m to tmp(name) and checks it (support/onnx_ort.c). */
static double check_model(nb_model *m, const char *name) {
    return nbt_onnx_check(m, tmp(name), name);
}

static void test_checker_and_ort(void) {
    nb_model *a = mlp(), *b = cnn(), *c = seq_dense(), *d = logsm();
    check_model(a, "mlp.onnx");
    check_model(b, "cnn.onnx");
    check_model(c, "seq.onnx");
    check_model(d, "logsm.onnx");
    nb_model_free(d);
    nb_model *e = tiny_lstm_lm(), *f = tiny_gpt_lm();
    check_model(e, "tiny_lstm_lm.onnx");
    check_model(f, "tiny_gpt_lm.onnx");
    nb_model_free(e);
    nb_model_free(f);
    nb_model_free(a);
    nb_model_free(b);
    nb_model_free(c);
}

/* ---- import ----------------------------------------------------------------------------- */

static nb_array load_npy(const char *path) {
    nb_array a;
    memset(&a, 0, sizeof a);
    CHECK_OK(nb_npy_read(path, &a));
    CHECK(a.type == NB_ELEM_F32);
    return a;
}

/* The PyTorch fixtures (tests/scripts/make_onnx_fixtures.py): each loads as a chain, and runs
 * on the stored input to PyTorch's stored output within 1e-5. */
static void test_import_torch(void) {
    const char *names[] = {"torch_mlp", "torch_cnn", "torch_gap_cnn"};
    for (int i = 0; i < 3; i++) {
        char path[200];
        snprintf(path, sizeof path, "tests/data/onnx/%s.onnx", names[i]);
        nb_model *m = NULL;
        CHECK(nb_is_onnx_file(path));
        CHECK_OK(nb_model_load_onnx(path, &m, NULL));
        if (!m) continue;
        CHECK_MSG(nb_model_is_sequential(m), "%s is not a chain", names[i]);
        snprintf(path, sizeof path, "tests/data/onnx/%s.input.npy", names[i]);
        nb_array x = load_npy(path);
        snprintf(path, sizeof path, "tests/data/onnx/%s.output.npy", names[i]);
        nb_array want = load_npy(path);
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *y = nb_model_infer(m, ctx, nb_array_to_tensor(ctx, &x, NB_F32));
        CHECK_PTR(y);
        if (y) {
            CHECK_MSG(y->numel == want.numel, "%s: %lld outputs, torch %lld", names[i],
                      (long long)y->numel, (long long)want.numel);
            double maxd = 0;
            for (int64_t k = 0; k < y->numel && k < want.numel; k++) {
                double d = fabs((double)nb_f32(y)[k] - ((const float *)want.data)[k]);
                if (!(d <= maxd)) maxd = d;
            }
            printf("  %s: max |nabla - PyTorch| = %.3g over %lld values\n", names[i], maxd,
                   (long long)y->numel);
            CHECK_MSG(maxd <= 1e-5, "%s: max difference %g", names[i], maxd);
            /* an imported chain saves as a nabla model file that loads to the same outputs */
            nb_model *back = NULL;
            CHECK_OK(nb_model_save(m, tmp("imported.safetensors"), NULL));
            CHECK_OK(nb_model_load(tmp("imported.safetensors"), &back, NULL));
            nb_tensor *z =
                back ? nb_model_infer(back, ctx, nb_array_to_tensor(ctx, &x, NB_F32)) : NULL;
            CHECK(z && z->numel == y->numel &&
                  !memcmp(z->data, y->data, sizeof(float) * (size_t)y->numel));
            nb_model_free(back);
        }
        nb_ctx_free(ctx);
        nb_array_free(&x);
        nb_array_free(&want);
        nb_model_free(m);
    }
}

/* nabla → ONNX → nabla: every exported layer kind comes back as a chain giving the very same
 * outputs (a dense layer's activation as a layer of its own; SiLU, Mish and GELU from their
 * compositions). */
static void test_import_round_trip(void) {
    nb_model *(*makers[])(void) = {mlp, cnn, seq_dense, logsm};
    for (int i = 0; i < 4; i++) {
        nb_model *m = makers[i]();
        nbi_text t;
        nbi_text_init(&t);
        CHECK_OK(nbi_model_onnx_bytes(m, &t));
        nb_model *back = NULL;
        CHECK_OK(nbi_model_from_onnx(t.buf, t.len, "round trip", &back));
        nbi_text_free(&t);
        if (!back) {
            nb_model_free(m);
            continue;
        }
        CHECK(nb_model_is_sequential(back));
        /* a batchnorm without affine comes back with scale 1 and shift 0 as parameters */
        CHECK_MSG(nb_model_param_count(back) == nb_model_param_count(m) + (i == 1 ? 8 : 0),
                  "model %d: %lld params, %lld before", i, (long long)nb_model_param_count(back),
                  (long long)nb_model_param_count(m));
        int64_t shape[NB_MAX_RANK + 1];
        int rank = nb_model_input_shape(m, shape + 1);
        shape[0] = 3;
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_rng rng;
        nb_rng_seed(&rng, 8);
        nb_tensor *x = nb_randn(ctx, rank + 1, shape, 0.0f, 1.5f, &rng);
        nb_tensor *a = nb_model_infer(m, ctx, x), *b = nb_model_infer(back, ctx, x);
        CHECK(a && b && a->numel == b->numel &&
              !memcmp(a->data, b->data, sizeof(float) * (size_t)a->numel));
        nb_ctx_free(ctx);
        nb_model_free(back);
        nb_model_free(m);
    }
}

/* ---- hostile files -------------------------------------------------------------------------- */

static void t_node(nbi_text *g, const char *op, const char *name, const char *in0, const char *in1,
                   const char *in2, const char *out, const char *attr, int64_t v) {
    nbi_text n;
    nbi_text_init(&n);
    const char *ins[3] = {in0, in1, in2};
    for (int k = 0; k < 3 && ins[k]; k++) nbi_pb_str(&n, 1, ins[k]);
    nbi_pb_str(&n, 2, out);
    nbi_pb_str(&n, 3, name);
    nbi_pb_str(&n, 4, op);
    if (attr) {
        nbi_text a;
        nbi_text_init(&a);
        nbi_pb_str(&a, 1, attr);
        nbi_pb_int(&a, 3, v);
        nbi_pb_int(&a, 20, 2);
        nbi_pb_msg(&n, 5, &a);
        nbi_text_free(&a);
    }
    nbi_pb_msg(g, 1, &n);
    nbi_text_free(&n);
}

static void t_init(nbi_text *g, const char *name, int rank, const int64_t *dims, const float *v,
                   size_t n) {
    nbi_text t;
    nbi_text_init(&t);
    for (int k = 0; k < rank; k++) nbi_pb_int(&t, 1, dims[k]);
    nbi_pb_int(&t, 2, 1);
    nbi_pb_str(&t, 8, name);
    nbi_pb_packed_floats(&t, 4, v, n);
    nbi_pb_msg(g, 5, &t);
    nbi_text_free(&t);
}

/* A value info [N, dims...] into field 11 (input) or 12 (output). */
static void t_value(nbi_text *g, int field, const char *name, int64_t d1) {
    nbi_text d, shape, tt, type, vi;
    nbi_text_init(&d);
    nbi_text_init(&shape);
    nbi_text_init(&tt);
    nbi_text_init(&type);
    nbi_text_init(&vi);
    nbi_pb_str(&d, 2, "N");
    nbi_pb_msg(&shape, 1, &d);
    d.len = 0;
    nbi_pb_int(&d, 1, d1);
    nbi_pb_msg(&shape, 1, &d);
    nbi_pb_int(&tt, 1, 1);
    nbi_pb_msg(&tt, 2, &shape);
    nbi_pb_msg(&type, 1, &tt);
    nbi_pb_str(&vi, 1, name);
    nbi_pb_msg(&vi, 2, &type);
    nbi_pb_msg(g, field, &vi);
    nbi_text_free(&d);
    nbi_text_free(&shape);
    nbi_text_free(&tt);
    nbi_text_free(&type);
    nbi_text_free(&vi);
}

/* Model bytes around graph g into out. */
static void t_model(nbi_text *out, const nbi_text *g) {
    nbi_text op;
    nbi_text_init(&op);
    nbi_pb_int(&op, 2, 17);
    out->len = 0;
    nbi_pb_int(out, 1, 8);
    nbi_pb_msg(out, 7, g);
    nbi_pb_msg(out, 8, &op);
    nbi_text_free(&op);
}

/* Builds the graph the case asks for, imports it; returns the status (the model is freed). */
enum {
    G_OK,
    G_UNKNOWN_OP,
    G_MISSING_INIT,
    G_CYCLE,
    G_GIANT_INIT,
    G_SHORT_INIT,
    G_NEG_DIM,
    G_GIANT_INPUT,
    G_NEG_INPUT,
    G_TWO_PRODUCERS,
    G_WRONG_WIDTH,
    G_RESIDUAL,
    G_COUNT
};

static void case_bytes(int c, nbi_text *mb) {
    static const float w[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[4] = {1, -1, 0.5f, 0};
    nbi_text g;
    nbi_text_init(&g);
    int64_t wd[2] = {4, 3}, bd[1] = {4};
    if (c == G_GIANT_INIT) wd[0] = wd[1] = (int64_t)1 << 40;
    if (c == G_NEG_DIM) wd[0] = -4;
    t_init(&g, "W", 2, wd, w, c == G_SHORT_INIT ? 11 : 12);
    t_init(&g, "b", 1, bd, b, 4);
    t_value(&g, 11, "x", c == G_GIANT_INPUT ? (int64_t)1 << 40 : c == G_NEG_INPUT ? -3 : 3);
    t_value(&g, 12, c == G_RESIDUAL ? "y2" : "y", 4);
    t_node(&g, "Gemm", "gemm_0", c == G_CYCLE ? "r" : "x", c == G_MISSING_INIT ? "W_gone" : "W",
           "b", "h", "transB", 1);
    if (c == G_WRONG_WIDTH) t_node(&g, "Gemm", "gemm_1", "h", "W", NULL, "h2", "transB", 1);
    t_node(&g, c == G_UNKNOWN_OP ? "Cos" : "Relu", "act_0", "h", NULL, NULL,
           c == G_CYCLE ? "r" : "y", NULL, 0);
    if (c == G_CYCLE) t_node(&g, "Identity", "id_0", "r", NULL, NULL, "y", NULL, 0);
    if (c == G_TWO_PRODUCERS) t_node(&g, "Relu", "act_1", "h", NULL, NULL, "y", NULL, 0);
    if (c == G_RESIDUAL) t_node(&g, "Add", "add_0", "y", "h", NULL, "y2", NULL, 0);
    t_model(mb, &g);
    CHECK_OK(nbi_text_status(mb, "test"));
    nbi_text_free(&g);
}

static nb_status import_case(int c, nb_model **keep) {
    nbi_text mb;
    nbi_text_init(&mb);
    case_bytes(c, &mb);
    nb_model *m = NULL;
    nb_status st = nbi_model_from_onnx(mb.buf, mb.len, "case.onnx", &m);
    if (keep)
        *keep = m;
    else
        nb_model_free(m);
    nbi_text_free(&mb);
    return st;
}

static void test_import_hostile(void) {
    /* the well-formed case computes relu(x Wᵀ + b) */
    nb_model *m = NULL;
    CHECK_OK(import_case(G_OK, &m));
    if (m) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        float xv[3] = {1, -1, 2};
        nb_tensor *y =
            nb_model_infer(m, ctx, nb_tensor_from(ctx, NB_F32, xv, 2, (int64_t[]){1, 3}));
        CHECK(y && y->numel == 4);
        if (y) {
            for (int u = 0; u < 4; u++) {
                float z = 0;
                for (int i = 0; i < 3; i++) z += (float)(3 * u + i + 1) * xv[i];
                z += (const float[]){1, -1, 0.5f, 0}[u];
                CHECK(nb_f32(y)[u] == (z > 0 ? z : 0));
            }
        }
        nb_ctx_free(ctx);
        nb_model_free(m);
    }
    const struct {
        int c;
        nb_status st;
        const char *msg;
    } bad[] = {
        {G_UNKNOWN_OP, NB_ERR_UNSUPPORTED, "node 'act_0' (Cos): op Cos is not supported"},
        {G_MISSING_INIT, NB_ERR_FORMAT, "reads 'W_gone', which no node"},
        {G_CYCLE, NB_ERR_FORMAT, "cycle"},
        {G_GIANT_INIT, NB_ERR_FORMAT, "product is too large"},
        {G_SHORT_INIT, NB_ERR_FORMAT, "dimensions for 12 values, but its data holds 11"},
        {G_NEG_DIM, NB_ERR_FORMAT, "negative dimension"},
        {G_GIANT_INPUT, NB_ERR_FORMAT, "dimension 1 of size"},
        {G_NEG_INPUT, NB_ERR_FORMAT, "negative dimension"},
        {G_TWO_PRODUCERS, NB_ERR_FORMAT, "the value 'y' is given twice"},
        {G_WRONG_WIDTH, NB_ERR_FORMAT, "the weight 'W' takes 3 features"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nb_status st = import_case(bad[i].c, NULL);
        CHECK_MSG(st == bad[i].st && strstr(nb_last_error(), bad[i].msg) &&
                      strstr(nb_last_error(), "case.onnx"),
                  "case %d: status %d, %s", bad[i].c, (int)st, nb_last_error());
    }
    /* a residual connection: a graph model, relu(h) + h */
    CHECK_OK(import_case(G_RESIDUAL, &m));
    if (m) {
        CHECK(!nb_model_is_sequential(m));
        nb_ctx *ctx = nb_ctx_new(NULL);
        float xv[3] = {1, -1, 2};
        nb_tensor *y =
            nb_model_infer(m, ctx, nb_tensor_from(ctx, NB_F32, xv, 2, (int64_t[]){1, 3}));
        CHECK(y && y->numel == 4);
        for (int u = 0; y && u < 4; u++) {
            float z = (const float[]){1, -1, 0.5f, 0}[u];
            for (int i = 0; i < 3; i++) z += (float)(3 * u + i + 1) * xv[i];
            CHECK(nb_f32(y)[u] == (z > 0 ? z : 0) + z);
        }
        nb_ctx_free(ctx);
        nb_model_free(m);
    }
    /* one initializer shared by many nodes: refused once the layers would hold more than twice
     * the file's weights (3 of its 5 uses fit: the fourth, h3, is refused) */
    {
        nbi_text g, mb;
        nbi_text_init(&g);
        nbi_text_init(&mb);
        float *w = calloc(200 * 200, sizeof(float));
        t_init(&g, "W", 2, (int64_t[]){200, 200}, w, 200 * 200);
        free(w);
        t_value(&g, 11, "x", 200);
        t_value(&g, 12, "h4", 200);
        const char *hs[] = {"x", "h0", "h1", "h2", "h3", "h4"};
        for (int k = 0; k < 5; k++)
            t_node(&g, "Gemm", hs[k + 1], hs[k], "W", NULL, hs[k + 1], NULL, 0);
        t_model(&mb, &g);
        nb_model *s = NULL;
        CHECK(nbi_model_from_onnx(mb.buf, mb.len, "shared.onnx", &s) == NB_ERR_FORMAT && !s);
        CHECK_MSG(strstr(nb_last_error(), "node 'h3'") && strstr(nb_last_error(), "twice"), "%s",
                  nb_last_error());
        nbi_text_free(&g);
        nbi_text_free(&mb);
    }
    /* wrong wire types: the graph as a varint; a node's op_type as a varint */
    const uint8_t graph_varint[] = {0x08, 0x08, 0x38, 0x01};
    nb_model *x = NULL;
    CHECK(nbi_model_from_onnx(graph_varint, sizeof graph_varint, "w.onnx", &x) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(nb_last_error(), "ModelProto.graph") != NULL, "%s", nb_last_error());
    const uint8_t op_varint[] = {0x08, 0x08, 0x3a, 0x04, 0x0a, 0x02, 0x20, 0x05};
    CHECK(nbi_model_from_onnx(op_varint, sizeof op_varint, "w.onnx", &x) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(nb_last_error(), "NodeProto.op_type") != NULL, "%s", nb_last_error());
    CHECK(nbi_model_from_onnx("", 0, "empty.onnx", &x) == NB_ERR_FORMAT);
    CHECK(strstr(nb_last_error(), "no graph") != NULL);
    /* every prefix of a real file is refused cleanly or (cut between top-level fields) gives a
     * model; cut inside the graph, always refused */
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(nb_file_read("tests/data/onnx/torch_cnn.onnx", &buf, &len));
    int refused = nbt_onnx_prefixes_refused(buf, len);
    CHECK_MSG(refused >= (int)len - 40, "%d of %zu prefixes refused", refused, len);
    nb_model *p = NULL;
    CHECK(nbi_model_from_onnx(buf, len / 2, "cut.onnx", &p) == NB_ERR_FORMAT && !p);
    /* a missing file, named */
    CHECK(nb_model_load_onnx("tests/data/onnx/none.onnx", &p, NULL) != NB_OK && !p);
    CHECK(strstr(nb_last_error(), "none.onnx") != NULL);
    nb_free(buf);
}

/* With NABLA_ONNX_SEEDS=DIR set, writes the fuzz seeds (tests/fuzz/corpus/fuzz_onnx/): the
 * hostile cases above, models nabla exports, cut and wire-type-broken files. */
static void test_write_fuzz_seeds(void) {
    const char *dir = getenv("NABLA_ONNX_SEEDS");
    if (!dir) return;
    static const char *const names[G_COUNT] = {
        "gemm_relu", "unknown_op",  "missing_init", "cycle",         "giant_init",  "short_init",
        "neg_dim",   "giant_input", "neg_input",    "two_producers", "wrong_width", "residual"};
    char path[400];
    for (int c = 0; c < G_COUNT; c++) {
        nbi_text t;
        nbi_text_init(&t);
        case_bytes(c, &t);
        snprintf(path, sizeof path, "%s/%s.onnx", dir, names[c]);
        CHECK_OK(nbi_write_file_atomic(path, t.buf, t.len));
        nbi_text_free(&t);
    }
    nb_model *(*makers[])(void) = {mlp, cnn, seq_dense, logsm, tiny_lstm_lm, tiny_gpt_lm};
    const char *mn[] = {"nabla_mlp",   "nabla_cnn",       "nabla_seq",
                        "nabla_logsm", "nabla_char_lstm", "nabla_char_gpt"};
    for (int i = 0; i < 6; i++) {
        nb_model *m = makers[i]();
        snprintf(path, sizeof path, "%s/%s.onnx", dir, mn[i]);
        CHECK_OK(nb_model_export_onnx(m, path));
        nb_model_free(m);
    }
    const uint8_t graph_varint[] = {0x08, 0x08, 0x38, 0x01};
    snprintf(path, sizeof path, "%s/graph_varint.onnx", dir);
    CHECK_OK(nbi_write_file_atomic(path, graph_varint, sizeof graph_varint));
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(nb_file_read("tests/data/onnx/torch_mlp.onnx", &buf, &len));
    snprintf(path, sizeof path, "%s/torch_mlp_cut.onnx", dir);
    CHECK_OK(nbi_write_file_atomic(path, buf, len / 2));
    nb_free(buf);
}

static const nbt_case cases[] = {
    {"pb_round_trip", test_pb_round_trip},         {"pb_hostile", test_pb_hostile},
    {"export_read_back", test_export_read_back},   {"export_refusals", test_export_refusals},
    {"checker_and_ort", test_checker_and_ort},     {"import_torch", test_import_torch},
    {"import_round_trip", test_import_round_trip}, {"import_hostile", test_import_hostile},
    {"write_fuzz_seeds", test_write_fuzz_seeds},
};

NBT_MAIN(cases)
