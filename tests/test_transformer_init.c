/* tests/test_transformer_init.c — the transformer block's init= and proj_init= (GPT-2's
 * initialisation): which weights each draws and at what spread, the biases at 0, the default
 * (PyTorch's modules') left as it was, the spec line written back, and the refusals. */
#include "nbtest.h"

#include <math.h>

static nb_model *build(const char *text) {
    nb_spec *s = NULL;
    nb_model *m = NULL;
    if (nb_spec_parse(text, strlen(text), "t.spec", NULL, &s) == NB_OK) nb_spec_build(s, &m);
    nb_spec_free(s);
    return m;
}

/* mean and standard deviation of a parameter's values */
static void moments(nb_model *m, const char *name, double *mean, double *sd, double *maxabs) {
    nb_tensor *t = nb_params_find(nb_model_params(m), name);
    CHECK_MSG(t != NULL, "no parameter %s", name);
    *mean = *sd = *maxabs = 0;
    if (!t) return;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = nb_f32(t)[i];
        s += v;
        s2 += v * v;
        if (fabs(v) > *maxabs) *maxabs = fabs(v);
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}

static void test_gpt2_init(void) {
    const char *text = "nabla-spec 2\ninput 16 dtype=i32 name=tokens\nembedding 50 64\n"
                       "transformer 64 heads=4 causal=true init=normal:0:0.02 "
                       "proj_init=normal:0:0.005\n";
    nb_model *m = build(text);
    CHECK_MSG(m != NULL, "build: %s", nb_last_error());
    if (!m) return;
    double mean, sd, mx;
    /* in_proj 192 x 64 and fc 256 x 64 from init; out_proj 64 x 64 and proj 64 x 256 from
     * proj_init; the standard error of a sample sd of n normals is sd/sqrt(2n) */
    const char *wide[] = {"transformer_1.attn.in_proj_weight", "transformer_1.mlp.fc.weight"};
    for (int i = 0; i < 2; i++) {
        moments(m, wide[i], &mean, &sd, &mx);
        CHECK_MSG(fabs(sd - 0.02) < 0.001 && fabs(mean) < 0.001, "%s: mean %g sd %g", wide[i], mean,
                  sd);
    }
    const char *proj[] = {"transformer_1.attn.out_proj.weight", "transformer_1.mlp.proj.weight"};
    for (int i = 0; i < 2; i++) {
        moments(m, proj[i], &mean, &sd, &mx);
        CHECK_MSG(fabs(sd - 0.005) < 0.0003 && fabs(mean) < 0.0005, "%s: mean %g sd %g", proj[i],
                  mean, sd);
    }
    const char *bias[] = {"transformer_1.attn.in_proj_bias", "transformer_1.attn.out_proj.bias",
                          "transformer_1.mlp.fc.bias", "transformer_1.mlp.proj.bias",
                          "transformer_1.ln_1.bias"};
    for (int i = 0; i < 5; i++) {
        moments(m, bias[i], &mean, &sd, &mx);
        CHECK_MSG(mx == 0.0, "%s: max |value| %g, expected 0", bias[i], mx);
    }
    moments(m, "transformer_1.ln_2.weight", &mean, &sd, &mx);
    CHECK(mean == 1.0 && sd == 0.0);
    /* the spec written back keeps both */
    char buf[2048];
    nb_model_spec(m, buf, sizeof buf);
    CHECK_MSG(strstr(buf, "init=normal:0:0.02") && strstr(buf, "proj_init=normal:0:0.005"),
              "the spec: %s", buf);
    nb_model_free(m);

    /* without proj_init, init draws all four */
    m = build("nabla-spec 2\ninput 16 64\ntransformer 64 heads=2 init=normal:0:0.1\n");
    CHECK_PTR(m);
    if (m) {
        moments(m, "transformer_1.mlp.proj.weight", &mean, &sd, &mx);
        CHECK_MSG(fabs(sd - 0.1) < 0.005, "proj sd %g", sd);
        nb_model_free(m);
    }
}

/* Without init=: PyTorch's modules' initialisation (the MLP's biases nonzero, U(±1/√fan_in)). */
static void test_default_init(void) {
    nb_model *m = build("nabla-spec 2\ninput 16 64\ntransformer 64 heads=2\n");
    CHECK_PTR(m);
    if (!m) return;
    double mean, sd, mx;
    moments(m, "transformer_1.mlp.fc.bias", &mean, &sd, &mx);
    CHECK(mx > 0.05 && mx <= 1.0 / 8.0); /* U(±1/√64) */
    moments(m, "transformer_1.mlp.proj.weight", &mean, &sd, &mx);
    CHECK(mx <= 1.0 / 16.0 && mx > 0.05); /* U(±1/√256) */
    char buf[2048];
    nb_model_spec(m, buf, sizeof buf);
    CHECK_MSG(!strstr(buf, "init="), "the spec: %s", buf);
    nb_model_free(m);
}

static void test_refusals(void) {
    nb_spec *s = NULL;
    const char *bad = "nabla-spec 2\ninput 16 64\ntransformer 64 proj_init=normal:0:0.01\n";
    CHECK(nb_spec_parse(bad, strlen(bad), "t.spec", NULL, &s) != NB_OK ||
          nb_spec_build(s, &(nb_model *){NULL}) != NB_OK);
    CHECK_MSG(strstr(nb_last_error(), "proj_init"), "%s", nb_last_error());
    nb_spec_free(s);
    s = NULL;
    const char *bad2 = "nabla-spec 2\ninput 16 64\ntransformer 64 init=sideways\n";
    CHECK(nb_spec_parse(bad2, strlen(bad2), "t.spec", NULL, &s) != NB_OK ||
          nb_spec_build(s, &(nb_model *){NULL}) != NB_OK);
    CHECK_MSG(strstr(nb_last_error(), "sideways"), "%s", nb_last_error());
    nb_spec_free(s);
    /* the C API refuses proj_init alone too */
    nb_model *m = nb_model_new_graph(1);
    int x = nb_model_input(m, "x", NB_F32, NB_DIMS(8, 16));
    nb_transformer_opts o = {.heads = 2, .proj_init = {NB_INIT_NORMAL, 0, 0.01f, 0}};
    CHECK(nb_model_transformer_on(m, x, 16, &o) < 0);
    CHECK_MSG(strstr(nb_last_error(), "proj_init"), "%s", nb_last_error());
    nb_model_free(m);
}

static const nbt_case cases[] = {
    {"gpt2_init", test_gpt2_init},
    {"default_init", test_default_init},
    {"refusals", test_refusals},
};

NBT_MAIN(cases)
