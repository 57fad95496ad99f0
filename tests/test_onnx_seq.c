/* tests/test_onnx_seq.c — the ONNX import of sequence models and the conv/pool extras
 * (io/onnx_rnn.c, io/onnx_seq.c, io/onnx_ops.c): the PyTorch fixtures of tests/data/onnx
 * written by tests/scripts/make_onnx_fixtures.py — an embedding into an LSTM with a dense layer
 * on every step (a char-LSTM), 2-layer bidirectional LSTM and GRU ending in x[:, -2:, :] and
 * x[:, -1, :], a 2-layer LSTM ending in h_n[-1], a 2-layer bidirectional GRU after an embedding
 * exported with a dynamic sequence length and run on a longer one, a GRU, a 2-layer relu RNN, a
 * bidirectional tanh RNN after an embedding, MLPs with layer norms (randomised, and as
 * initialised: Identity nodes for equal weights), a CNN with auto_pad SAME_UPPER and ceil_mode
 * pooling (and with SAME_LOWER), a CNN flattened by x.view(x.size(0), -1), ceil_mode pools
 * without padding — each run on its stored input to PyTorch's stored output within 1e-5, and
 * saved as a nabla model file that loads to the very same outputs. Then the hostile files
 * (bad_*.onnx: variants of an LSTM — a non-zero initial state, a time-major graph output, W,
 * hidden_size, activations, clip, reverse, sequence_lens, a GRU's linear_before_reset —, an
 * export without constant folding, x[:, -1, :] of a sequence of unknown length, an average pool
 * whose ceil_mode window PyTorch divides otherwise), each refused with a message naming the node
 * and what is wrong; every truncation of a sequence model refused cleanly; token ids out of the
 * embedding's range refused at run time. Run from the repository root. */
#define _GNU_SOURCE /* mkdtemp */
#include "nbtest.h"
#include "onnx_ort.h"
#include "io/onnx.h"
#include "base/file.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* A file in this run's temporary folder. */
static const char *tmp(const char *name) {
    static char dir[64], buf[200];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nabla-onnx-seq-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static nb_array load_npy(const char *path) {
    nb_array a;
    memset(&a, 0, sizeof a);
    CHECK_OK(nb_npy_read(path, &a));
    return a;
}

/* Max |nabla − PyTorch| of fixture `name` (or a negative number when it did not run). */
static double run_fixture(const char *name) {
    char path[200];
    snprintf(path, sizeof path, "tests/data/onnx/%s.onnx", name);
    nb_model *m = NULL;
    CHECK_OK(nb_model_load_onnx(path, &m, NULL));
    if (!m) {
        printf("  %s: %s\n", name, nb_last_error());
        return -1;
    }
    snprintf(path, sizeof path, "tests/data/onnx/%s.input.npy", name);
    nb_array x = load_npy(path);
    snprintf(path, sizeof path, "tests/data/onnx/%s.output.npy", name);
    nb_array want = load_npy(path);
    CHECK(want.type == NB_ELEM_F32);
    nb_ctx *ctx = nb_ctx_new(NULL);
    bool ids = x.type == NB_ELEM_I32;
    nb_tensor *y = nb_model_infer(m, ctx, nb_array_to_tensor(ctx, &x, ids ? NB_I32 : NB_F32));
    CHECK_MSG(y != NULL, "%s: %s", name, nb_last_error());
    double maxd = -1;
    if (y) {
        CHECK_MSG(y->numel == want.numel, "%s: %lld outputs, torch %lld", name, (long long)y->numel,
                  (long long)want.numel);
        maxd = 0;
        for (int64_t k = 0; k < y->numel && k < want.numel; k++) {
            double d = fabs((double)nb_f32(y)[k] - ((const float *)want.data)[k]);
            if (!(d <= maxd)) maxd = d;
        }
        printf("  %s: max |nabla - PyTorch| = %.3g over %lld values (%d layers)\n", name, maxd,
               (long long)y->numel, nb_model_layer_count(m));
        /* the imported model saves as a nabla model file that loads to the same outputs */
        nb_model *back = NULL;
        const char *file = tmp("imported.safetensors");
        CHECK_OK(nb_model_save(m, file, NULL));
        CHECK_OK(nb_model_load(file, &back, NULL));
        nb_tensor *z =
            back ? nb_model_infer(back, ctx, nb_array_to_tensor(ctx, &x, ids ? NB_I32 : NB_F32))
                 : NULL;
        CHECK_MSG(z && z->numel == y->numel &&
                      !memcmp(z->data, y->data, sizeof(float) * (size_t)y->numel),
                  "%s: saved and loaded, the outputs differ", name);
        nb_model_free(back);
        unlink(file);
    }
    nb_ctx_free(ctx);
    nb_array_free(&x);
    nb_array_free(&want);
    nb_model_free(m);
    return maxd;
}

static void test_import_torch_seq(void) {
    const char *names[] = {"torch_char_lstm",     "torch_lstm2_bi", "torch_gru2_bi",
                           "torch_gru",           "torch_rnn_relu", "torch_rnn_tanh_bi",
                           "torch_layernorm_mlp", "torch_same_cnn", "torch_view_cnn",
                           "torch_avg_ceil",      "torch_lstm2_hn", "torch_same_lower_cnn",
                           "torch_ln_fresh",      "torch_gru2_dyn"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        double d = run_fixture(names[i]);
        CHECK_MSG(d >= 0 && d <= 1e-5, "%s: max difference %g", names[i], d);
    }
}

/* The layers each fixture becomes: a stack of recurrent nodes as one recurrent layer of as many
 * layers (or, where torch's h_n is read, one layer per node), x[:, -1, :] as a split and a
 * flatten (a graph: the split has several outputs), the chains as chains. */
static void test_import_layers(void) {
    const struct {
        const char *file;
        int sequential;
        const char *layers[6];
    } want[] = {
        {"torch_char_lstm", 0, {"embedding_1", "lstm_1", "dense_1"}},
        {"torch_gru2_bi", 0, {"gru_1", "split_1", "flatten_1", "dense_1"}},
        {"torch_rnn_relu", 0, {"rnn_1", "split_1", "flatten_1", "dense_1"}},
        {"torch_lstm2_bi", 0, {"lstm_1", "split_1", "dense_1"}},
        {"torch_lstm2_hn", 0, {"lstm_1", "lstm_2", "concat_1", "split_1", "flatten_1"}},
        {"torch_layernorm_mlp", 1, {"dense_1", "layernorm_1", "activation_1", "dense_2"}},
        {"torch_view_cnn", 1, {"conv2d_1", "activation_1", "flatten_1", "dense_1"}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[200];
        snprintf(path, sizeof path, "tests/data/onnx/%s.onnx", want[i].file);
        nb_model *m = NULL;
        CHECK_OK(nb_model_load_onnx(path, &m, NULL));
        if (!m) continue;
        CHECK_MSG(nb_model_is_sequential(m) == want[i].sequential, "%s: sequential %d",
                  want[i].file, nb_model_is_sequential(m));
        for (int k = 0; k < 6 && want[i].layers[k]; k++) {
            const char *got = nb_model_layer_name(m, k);
            CHECK_MSG(got && !strcmp(got, want[i].layers[k]), "%s: layer %d is %s, not %s",
                      want[i].file, k, got ? got : "(none)", want[i].layers[k]);
        }
        /* a stack of two recurrent nodes is one layer of two, named as torch's module */
        if (!strcmp(want[i].file, "torch_gru2_bi"))
            CHECK(nb_params_find(nb_model_params(m), "gru_1.weight_ih_l1_reverse") != NULL &&
                  nb_params_find(nb_model_params(m), "gru_1.bias_hh_l1") != NULL);
        nb_model_free(m);
    }
}

/* Hostile variants of a small LSTM: each refused, naming the node and the problem. */
static void test_import_seq_hostile(void) {
    const struct {
        const char *file;
        nb_status st;
        const char *node, *msg;
    } bad[] = {
        {"bad_h0_ones", NB_ERR_UNSUPPORTED, "'/rnn/LSTM' (LSTM)", "initial_h 'h0' is not zeros"},
        {"bad_y_out", NB_ERR_UNSUPPORTED, "graph output '/rnn/LSTM_output_0'",
         "a time-major sequence"},
        {"bad_w_dims", NB_ERR_FORMAT, "'/rnn/LSTM' (LSTM)", "has rank 2, not 3"},
        {"bad_hidden", NB_ERR_FORMAT, "'/rnn/LSTM' (LSTM)", "hidden_size 3"},
        {"bad_acts", NB_ERR_UNSUPPORTED, "'/rnn/LSTM' (LSTM)", "activations other than PyTorch's"},
        {"bad_clip", NB_ERR_UNSUPPORTED, "'/rnn/LSTM' (LSTM)",
         "the attribute clip is not supported"},
        {"bad_reverse", NB_ERR_UNSUPPORTED, "'/rnn/LSTM' (LSTM)",
         "direction 'reverse' is not supported"},
        {"bad_seq_lens", NB_ERR_UNSUPPORTED, "'/rnn/LSTM' (LSTM)",
         "sequence_lens is not supported"},
        {"bad_gru_lbr0", NB_ERR_UNSUPPORTED, "(GRU)", "linear_before_reset = 0"},
        {"bad_unfolded", NB_ERR_UNSUPPORTED, "'/rnn/Slice' (Slice)",
         "export with constant folding"},
        {"bad_dyn_last", NB_ERR_UNSUPPORTED, "'/Gather' (Gather)", "known only at run time"},
        /* a fuzz finding: a Softplus → Tanh (Mish's start) whose Tanh has no output (it was
         * read past its outputs) */
        {"bad_tanh_no_output", NB_ERR_FORMAT, "'activation_8/tanh' (Tanh)", "no output"},
        /* torch's attention forms (nabla imports its own) */
        {"torch_mha", NB_ERR_UNSUPPORTED, "'/attn/MatMul' (MatMul)",
         "torch.onnx.export's nn.MultiheadAttention form"},
        {"torch_encoder", NB_ERR_UNSUPPORTED, "'/self_attn/MatMul' (MatMul)",
         "torch.onnx.export's nn.MultiheadAttention form"},
        {"bad_avg_ceil", NB_ERR_UNSUPPORTED, "'/0/AveragePool' (AveragePool)",
         "ceil_mode = 1 with count_include_pad = 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[200];
        snprintf(path, sizeof path, "tests/data/onnx/%s.onnx", bad[i].file);
        nb_model *m = NULL;
        nb_status st = nb_model_load_onnx(path, &m, NULL);
        const char *e = nb_last_error();
        CHECK_MSG(st == bad[i].st && !m && strstr(e, bad[i].msg) && strstr(e, bad[i].file) &&
                      strstr(e, bad[i].node),
                  "%s: status %d, %s", bad[i].file, (int)st, e);
        nb_model_free(m);
    }
    /* every prefix of a sequence model is refused cleanly or gives a model */
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(nb_file_read("tests/data/onnx/torch_gru2_bi.onnx", &buf, &len));
    int refused = nbt_onnx_prefixes_refused(buf, len);
    CHECK_MSG(refused >= (int)len - 40, "%d of %zu prefixes refused", refused, len);
    nb_free(buf);
    /* a token id past the embedding's vocabulary: an error at run time, not a crash */
    nb_model *m = NULL;
    CHECK_OK(nb_model_load_onnx("tests/data/onnx/torch_char_lstm.onnx", &m, NULL));
    if (m) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        int32_t ids[7] = {1, 2, 3, 99, 0, 1, 2};
        nb_tensor *y =
            nb_model_infer(m, ctx, nb_tensor_from(ctx, NB_I32, ids, 2, (int64_t[]){1, 7}));
        CHECK_MSG(!y && strstr(nb_last_error(), "99"), "%s", nb_last_error());
        nb_ctx_free(ctx);
        nb_model_free(m);
    }
}

static const nbt_case cases[] = {
    {"import_torch_seq", test_import_torch_seq},
    {"import_layers", test_import_layers},
    {"import_seq_hostile", test_import_seq_hostile},
};

NBT_MAIN(cases)
