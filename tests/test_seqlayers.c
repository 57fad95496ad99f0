/* tests/test_seqlayers.c — the sequence layers (language models).
 *
 * Against PyTorch (tests/ref/gen_seqlayers.py built each spec with the torch modules of
 * torch_from_spec.py and wrote its weights and a fixture): LSTM, GRU and RNN layers (two
 * layers, bidirectional, given initial states, variable lengths or a mask), multi-head
 * attention with a causal and a key padding mask, layer and RMS norm, a transformer block,
 * and a miniature char-GPT whose head is tied to its embedding — each loaded from the file
 * torch wrote (the spec in its metadata) and built from the spec in C, both giving PyTorch's
 * outputs, every parameter's gradient and every f32 input's.
 *
 * Then: incremental decoding against the full forward (to 1e-5) for GPTs, recurrent stacks
 * and attention, fed a prompt in pieces and one token at a time; the decoder's refusals;
 * gradient checks by finite differences of a small LSTM layer and a transformer block end to
 * end; dropout between recurrent layers as the ops composed by hand; a transformer block
 * equal to the graph of its parts; weight tying; bad input (ids out of range, f32 into an
 * embedding, a sequence longer than the positional table, a mask with a gap); and training
 * steps of a char-LSTM and a char-GPT that allocate nothing once warm. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "fixture.h"

#include <stdbool.h>
#include <unistd.h>

#define REF "tests/ref/"

static char *spec_text(const nb_model *m) {
    size_t n = nb_model_spec(m, NULL, 0);
    char *t = malloc(n + 1);
    if (t) nb_model_spec(m, t, n + 1);
    return t;
}

static nb_model *build_spec(const char *text, uint64_t seed) {
    nb_spec *s = NULL;
    nb_model *m = NULL;
    nb_status st = nb_spec_parse(text, strlen(text), "t.spec", NULL, &s);
    CHECK_MSG(st == NB_OK, "parse: %s", nb_last_error());
    if (s) {
        s->seed = seed;
        st = nb_spec_build(s, &m);
        CHECK_MSG(st == NB_OK, "build: %s", nb_last_error());
    }
    nb_spec_free(s);
    return m;
}

/* The array of that name, or NULL, without a message (nbt_fixture_get reports a missing one). */
static const nbt_array *find(const nbt_fixture *fx, const char *name) {
    for (int i = 0; i < fx->n; i++)
        if (!strcmp(fx->arr[i].name, name)) return &fx->arr[i];
    return NULL;
}

/* A fixture array as a tensor of the model input's dtype (integers were written as floats). */
static nb_tensor *input_from(nb_ctx *ctx, const nbt_array *a, nb_dtype dt) {
    nb_tensor *t = nb_tensor_new(ctx, dt, a->rank, a->shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < a->numel; i++) {
        if (dt == NB_I32)
            nb_i32(t)[i] = (int32_t)a->data[i];
        else
            nb_f32(t)[i] = a->data[i];
    }
    return t;
}

/* A gradient in nabla's layout against PyTorch's. */
static void compare_param(const char *what, const float *got, const nb_model_tensor *mt,
                          const nbt_array *want) {
    CHECK_MSG(want && want->numel == mt->tensor->numel, "%s: missing or of the wrong size", what);
    if (!want || want->numel != mt->tensor->numel) return;
    float *g = malloc(sizeof(float) * (size_t)want->numel);
    if (mt->transposed) {
        int64_t r = mt->tensor->shape[0], c = mt->tensor->shape[1];
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++) g[j * r + i] = got[i * c + j];
    } else {
        memcpy(g, got, sizeof(float) * (size_t)want->numel);
    }
    nbt_compare(what, g, want->data, want->numel, 2e-5, 1e-4);
    free(g);
}

/* Outputs, every parameter's gradient and every f32 input's, in training mode. */
static void against_torch(nb_model *m, const nbt_fixture *fx, const char *key) {
    char name[200];
    nb_ctx *ctx = nb_ctx_new(NULL);
    const int n_in = nb_model_input_count(m), n_out = nb_model_output_count(m);
    nb_tensor *x[8] = {NULL}, *out[8] = {NULL};
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "%s.x%d", key, i);
        const nbt_array *a = nbt_fixture_get(fx, name);
        nb_dtype dt;
        nb_model_node_shape(m, nb_model_input_node(m, i), &dt, NULL);
        CHECK_MSG(a != NULL, "%s missing", name);
        if (!a) goto done;
        x[i] = input_from(ctx, a, dt);
        snprintf(name, sizeof name, "%s.grad.x%d", key, i);
        if (find(fx, name)) nb_requires_grad(x[i], 1); /* an f32 input, not a mask */
    }
    CHECK_OK(nb_model_set_training(m, 1));
    nb_model_zero_grad(m);
    CHECK_OK(nb_model_forward_multi(m, ctx, x, n_in, out, n_out, NULL));
    if (!out[0]) goto done;
    nb_tensor *loss = NULL;
    for (int k = 0; k < n_out; k++) {
        snprintf(name, sizeof name, "%s.y%d", key, k);
        const nbt_array *y = nbt_fixture_get(fx, name);
        nb_tensor *c = nb_contiguous(ctx, out[k]);
        CHECK_MSG(y && c && c->numel == y->numel, "%s: missing or of the wrong size", name);
        if (y && c && c->numel == y->numel)
            nbt_compare(name, c->data, y->data, y->numel, 2e-5, 1e-4);
        snprintf(name, sizeof name, "%s.w%d", key, k);
        const nbt_array *wa = nbt_fixture_get(fx, name);
        nb_tensor *w = wa ? input_from(ctx, wa, NB_F32) : NULL;
        nb_tensor *term = nb_sum(ctx, nb_mul(ctx, out[k], w), NB_ALL_AXES, 0);
        loss = loss ? nb_add(ctx, loss, term) : term;
    }
    CHECK_OK(nb_backward(ctx, loss));
    const float *grad = nb_params_grad(nb_model_params(m));
    for (int i = 0; i < nb_model_tensor_count(m); i++) {
        nb_model_tensor mt;
        CHECK_OK(nb_model_tensor_at(m, i, &mt));
        if (mt.role != NB_ROLE_PARAM) continue;
        snprintf(name, sizeof name, "%s.grad.%s", key, mt.name);
        compare_param(name, grad + mt.offset, &mt, nbt_fixture_get(fx, name));
    }
    for (int i = 0; i < n_in; i++) {
        if (!(x[i]->flags & NB_TF_REQUIRES_GRAD)) continue;
        snprintf(name, sizeof name, "%s.grad.x%d", key, i);
        const nbt_array *g = nbt_fixture_get(fx, name);
        CHECK_MSG(g && x[i]->grad, "%s: no gradient", name);
        if (g && x[i]->grad) nbt_compare(name, x[i]->grad->data, g->data, g->numel, 2e-5, 1e-4);
    }
done:
    nb_ctx_free(ctx);
}

/* One case of gen_seqlayers.py: the model from the file torch wrote, and built in C from the
 * same spec with the file's weights; the canonical text is the spec's. */
static void torch_case(const char *key) {
    nbt_fixture *fx = nbt_fixture_load(REF "seqlayers.txt");
    CHECK_PTR(fx);
    char path[128];
    snprintf(path, sizeof path, REF "seqlayers_%s.safetensors", key);
    nb_model *loaded = NULL;
    nb_model_file info;
    CHECK_OK(nb_model_load(path, &loaded, &info));
    if (!loaded || !fx) {
        nbt_fixture_free(fx);
        return;
    }
    char *t = spec_text(loaded);
    CHECK_MSG(t && !strcmp(t, info.spec_text), "canonical text:\n%s---the file's\n%s", t,
              info.spec_text);
    nb_model *c = build_spec(info.spec_text, 5);
    if (c) CHECK_OK(nb_model_load_weights(c, path));
    against_torch(loaded, fx, key);
    if (c) against_torch(c, fx, key);
    free(t);
    nb_model_free(c);
    nb_model_file_free(&info);
    nb_model_free(loaded);
    nbt_fixture_free(fx);
}

static void test_lstm_parity(void) {
    torch_case("lstm");
}
static void test_gru_parity(void) {
    torch_case("gru");
}
static void test_rnn_parity(void) {
    torch_case("rnn");
    torch_case("rnn_tanh");
}
static void test_attention_parity(void) {
    torch_case("attention");
}
static void test_norm_parity(void) {
    torch_case("norms");
}
static void test_transformer_parity(void) {
    torch_case("block");
}
static void test_gpt_tied_parity(void) {
    torch_case("gpt");
}
static void test_embedding_parity(void) {
    torch_case("emb");
}

/* ---- incremental decoding ------------------------------------------------------------------- */

/* A model whose parameters are all moved off their initial values, deterministically. */
static void perturb(nb_model *m, uint64_t seed) {
    nb_rng r;
    nb_rng_seed(&r, seed);
    float *p = nb_params_data(nb_model_params(m));
    for (int64_t i = 0; i < nb_params_numel(nb_model_params(m)); i++)
        p[i] += 0.2f * (float)nb_rng_normal(&r, 0, 1);
}

/* The decoder's logits, fed `chunks` (summing to T) positions at a time, against the full
 * forward's at every position, to 1e-5. */
static void decode_case(const char *body, int64_t B, int64_t T, int64_t V, const int *chunks) {
    char spec[2048];
    snprintf(spec, sizeof spec, "nabla-spec 2\ninput None dtype=i32 name=tokens\n%s", body);
    nb_model *m = build_spec(spec, 3);
    if (!m) return;
    perturb(m, 4);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *ids = nb_tensor_new(ctx, NB_I32, 2, (int64_t[]){B, T});
    nb_rng r;
    nb_rng_seed(&r, 9);
    for (int64_t i = 0; i < B * T; i++) nb_i32(ids)[i] = (int32_t)nb_rng_below(&r, (uint64_t)V);
    nb_tensor *full = nb_model_infer(m, ctx, ids);
    CHECK_MSG(full && full->rank == 3 && full->shape[2] == V, "full forward: %s", nb_last_error());
    nb_decoder *d = nb_decoder_new(m, B, T);
    CHECK_MSG(d != NULL, "decoder: %s", nb_last_error());
    int64_t t = 0;
    double worst = 0;
    for (int c = 0; d && full && t < T; c++) {
        const int64_t n = chunks[c];
        nb_tensor *part = nb_contiguous(ctx, nb_slice(ctx, ids, 1, t, t + n, 1));
        nb_tensor *y = nb_decoder_step(d, ctx, part);
        CHECK_MSG(y && y->shape[1] == n, "step at %lld: %s", (long long)t, nb_last_error());
        if (!y) break;
        y = nb_contiguous(ctx, y);
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < n; i++)
                for (int64_t v = 0; v < V; v++) {
                    double got = nb_f32(y)[(b * n + i) * V + v];
                    double want = nb_f32(full)[(b * T + t + i) * V + v];
                    double e = fabs(got - want) / (1.0 + fabs(want));
                    if (e > worst) worst = e;
                }
        t += n;
        CHECK(nb_decoder_position(d) == t);
    }
    CHECK_MSG(worst <= 1e-5, "%s: decoding differs from the full forward by %.3g", body, worst);
    /* reset: the same again from position 0 */
    if (d && full) {
        nb_decoder_reset(d);
        nb_tensor *y = nb_decoder_step(d, ctx, nb_contiguous(ctx, nb_slice(ctx, ids, 1, 0, 1, 1)));
        CHECK(y && fabs(nb_f32(y)[0] - nb_f32(full)[0]) <= 1e-5 * (1 + fabs(nb_f32(full)[0])));
    }
    nb_decoder_free(d);
    nb_ctx_free(ctx);
    nb_model_free(m);
}

static void test_decode_matches_forward(void) {
    static const int ones[40] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const int prompt[8] = {5, 1, 3, 1, 2, 1, 1, 1}; /* a prompt, then tokens: 15 */
    static const int prompt8[5] = {3, 1, 2, 1, 1};
    /* a char-GPT: two causal blocks, learned positions, a tied head */
    const char *gpt = "embedding 13 16\npositional 15\ntransformer 16 heads=4 causal=true\n"
                      "transformer 16 heads=2 causal=true dropout=0.1\nlayernorm\n"
                      "tied_dense embedding_1\n";
    decode_case(gpt, 2, 15, 13, prompt);
    decode_case(gpt, 1, 15, 13, ones);
    /* long enough for several tiles of keys (the kernel's 32) */
    decode_case("embedding 7 8\nsinusoidal\ntransformer 8 heads=2 causal=true\ndense 7\n", 2, 40, 7,
                ones);
    /* recurrent stacks carry h (and c) */
    decode_case("embedding 9 6\nlstm 8 layers=2 dropout=0.3\ndense 9\n", 3, 8, 9, prompt8);
    decode_case("embedding 9 6\ngru 5 layers=2\nrnn 4 relu\nrnn 6\ndense 9\n", 2, 8, 9, prompt8);
    /* attention and norms as layers, bias-free */
    decode_case("embedding 10 8\nrmsnorm\nattention 8 heads=4 causal=true bias=false\n"
                "layernorm\ndense 10\n",
                2, 8, 10, prompt8);
}

static void test_decode_refusals(void) {
    nb_model *m = build_spec("nabla-spec 2\ninput None dtype=i32\nembedding 5 4\n"
                             "lstm 3 bidirectional=true\ndense 5\n",
                             1);
    CHECK(m && !nb_decoder_new(m, 1, 4));
    CHECK_MSG(strstr(nb_last_error(), "'lstm_1' is bidirectional"), "%s", nb_last_error());
    nb_model_free(m);
    m = build_spec("nabla-spec 2\ninput None dtype=i32\nembedding 5 4\nattention 4\ndense 5\n", 1);
    CHECK(m && !nb_decoder_new(m, 1, 4));
    CHECK_MSG(strstr(nb_last_error(), "'attention_1' is not causal"), "%s", nb_last_error());
    nb_model_free(m);
    m = build_spec("nabla-spec 2\ninput 6\ndense 2\n", 1);
    CHECK(m && !nb_decoder_new(m, 1, 4));
    CHECK_MSG(strstr(nb_last_error(), "token ids"), "%s", nb_last_error());
    nb_model_free(m);
    m = build_spec("nabla-spec 2\ninput None dtype=i32\nembedding 5 4\npositional 6\n"
                   "transformer 4 causal=true\ndense 5\n",
                   1);
    CHECK(m && nb_model_context_length(m) == 6);
    CHECK(m && !nb_decoder_new(m, 1, 7));
    CHECK_MSG(strstr(nb_last_error(), "at most 6"), "%s", nb_last_error());
    nb_decoder *d = m ? nb_decoder_new(m, 2, 6) : NULL;
    CHECK_PTR(d);
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (d) {
        nb_tensor *ids = nb_zeros(ctx, NB_DIMS(2, 4));
        CHECK(!nb_decoder_step(d, ctx, ids)); /* f32 */
        CHECK_MSG(strstr(nb_last_error(), "must be i32 [2, n]"), "%s", nb_last_error());
        nb_ctx_reset(ctx);
        ids = nb_tensor_new(ctx, NB_I32, 2, (int64_t[]){2, 4});
        memset(ids->data, 0, sizeof(int32_t) * 8);
        CHECK(nb_decoder_step(d, ctx, ids) != NULL);
        CHECK(!nb_decoder_step(d, ctx, ids)); /* 4 more after 4: past 6 */
        CHECK_MSG(strstr(nb_last_error(), "exceed the decoder's 6"), "%s", nb_last_error());
        CHECK(nb_decoder_position(d) == 4 && nb_decoder_capacity(d) == 6);
        nb_ctx_free(ctx);
        ctx = nb_ctx_new(NULL);
        ids = nb_tensor_new(ctx, NB_I32, 2, (int64_t[]){2, 1});
        nb_i32(ids)[0] = 1;
        nb_i32(ids)[1] = 5; /* out of the vocabulary [0, 5) */
        CHECK(!nb_decoder_step(d, ctx, ids));
        CHECK_MSG(strstr(nb_last_error(), "embedding") && strstr(nb_last_error(), "5"), "%s",
                  nb_last_error());
        CHECK(nb_decoder_position(d) == 4);
    }
    nb_ctx_free(ctx);
    nb_decoder_free(d);
    nb_model_free(m);
}

/* ---- the table of tests -----------------------------------------------------------------------
 */

static const nbt_case tests[] = {
    {"lstm_parity", test_lstm_parity},
    {"gru_parity", test_gru_parity},
    {"rnn_parity", test_rnn_parity},
    {"attention_parity", test_attention_parity},
    {"norm_parity", test_norm_parity},
    {"transformer_parity", test_transformer_parity},
    {"gpt_tied_parity", test_gpt_tied_parity},
    {"embedding_parity", test_embedding_parity},
    {"decode_matches_forward", test_decode_matches_forward},
    {"decode_refusals", test_decode_refusals},
};

NBT_MAIN(tests)
