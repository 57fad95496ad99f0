/* test_onnx_examples — every model of examples/specs goes through ONNX: exported, checked by
 * onnx.checker, run by ONNX Runtime on a random batch (every output within 1e-5 of nabla's;
 * tests/support/onnx_ort.c, each tool skipping with a note when absent), and read back by
 * nabla's importer to the same outputs on another batch (within 1e-5): the char-GPTs too
 * (tied head, learned positions, attention inside the transformer blocks). Run from the
 * repository root. */
#define _GNU_SOURCE /* mkdtemp, strdup */
#include "nbtest.h"
#include "onnx_ort.h"
#include "nn/model_io.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the .spec files in examples/specs (at most 64). */
static int spec_names(char **names) {
    DIR *d = opendir("examples/specs");
    CHECK_MSG(d != NULL, "examples/specs: run from the repository root");
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 64;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".spec")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    return n;
}

/* A batch of 2 for the model's first input: token ids below the vocabulary, or N(0, 1). */
static nb_tensor *batch_for(const nb_model *m, nb_ctx *ctx, nb_rng *rng) {
    int64_t shape[NB_MAX_RANK + 1];
    nb_dtype dt;
    int rank = nb_model_node_shape(m, nb_model_input_node(m, 0), &dt, shape + 1);
    shape[0] = 2;
    for (int k = 1; k <= rank; k++)
        if (shape[k] < 0) shape[k] = 7;
    if (dt != NB_I32) return nb_randn(ctx, rank + 1, shape, 0.0f, 1.0f, rng);
    nb_tensor *x = nb_tensor_new(ctx, NB_I32, rank + 1, shape);
    int64_t vocab = nbi_model_vocab(m);
    for (int64_t k = 0; x && k < x->numel; k++)
        nb_i32(x)[k] = (int32_t)nb_rng_below(rng, (uint64_t)(vocab > 0 ? vocab : 1));
    return x;
}

/* The layers of m whose (default) name starts with `stem`. */
static int count_layers(const nb_model *m, const char *stem) {
    int n = 0;
    for (int i = 0; i < nb_model_layer_count(m); i++)
        n += !strncmp(nb_model_layer_name(m, i), stem, strlen(stem));
    return n;
}

static void read_back(const nb_model *m, const char *path, const char *name) {
    nb_model *back = NULL;
    nb_status s = nb_model_load_onnx(path, &back, NULL);
    CHECK_MSG(s == NB_OK && back, "%s: read back: %s", name, nb_last_error());
    if (!back) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_tensor *x = batch_for(m, ctx, &rng);
    nb_tensor *y = x ? nb_model_infer(m, ctx, x) : NULL;
    nb_tensor *z = x ? nb_model_infer(back, ctx, x) : NULL;
    CHECK_MSG(y && z, "%s: forward: %s", name, nb_last_error());
    if (y && z) {
        y = nb_contiguous(ctx, y);
        z = nb_contiguous(ctx, z);
        CHECK_MSG(y->numel == z->numel, "%s: %lld values read back, %lld before", name,
                  (long long)z->numel, (long long)y->numel);
        double maxd = 0;
        for (int64_t k = 0; k < y->numel && k < z->numel; k++) {
            double d = fabs((double)nb_f32(y)[k] - nb_f32(z)[k]);
            if (!(d <= maxd)) maxd = d;
        }
        printf("  %s: read back, max |before - after| = %.3g\n", name, maxd);
        CHECK_MSG(maxd <= 1e-5, "%s: read back differs by %g", name, maxd);
    }
    /* the same parameters (a tied head shares its embedding's weight: not counted twice),
     * and attention read back as attention layers (a transformer block as its parts) */
    CHECK_MSG(nb_model_param_count(back) == nb_model_param_count(m),
              "%s: %lld parameters read back, %lld before", name,
              (long long)nb_model_param_count(back), (long long)nb_model_param_count(m));
    int blocks = count_layers(m, "transformer_") + count_layers(m, "attention_");
    CHECK_MSG(count_layers(back, "attention_") == blocks, "%s: %d attention layers, %d before",
              name, count_layers(back, "attention_"), blocks);
    CHECK_MSG(count_layers(back, "tied_dense_") == count_layers(m, "tied_dense_"),
              "%s: tied heads not read back as tied_dense", name);
    nb_ctx_free(ctx);
    nb_model_free(back);
}

static void test_every_example_spec(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla-onnxex-XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
    char *names[64];
    int n = spec_names(names);
    CHECK_MSG(n >= 10, "%d specs in examples/specs", n);
    for (int i = 0; i < n; i++) {
        char path[300], file[300];
        snprintf(path, sizeof path, "examples/specs/%s", names[i]);
        snprintf(file, sizeof file, "%s/%.*s.onnx", tmpdir, (int)strlen(names[i]) - 5, names[i]);
        nb_spec *spec = NULL;
        nb_model *m = NULL;
        CHECK_OK(nb_spec_read(path, &spec));
        /* a table's width comes from its data: 5 features here */
        if (spec && spec->input_auto) CHECK_OK(nb_spec_set_input_width(spec, 5));
        if (spec) CHECK_OK(nb_spec_build(spec, &m));
        if (m) {
            nbt_onnx_check(m, file, names[i]); /* exports, checks, runs ORT */
            read_back(m, file, names[i]);
        }
        nb_model_free(m);
        nb_spec_free(spec);
        unlink(file);
        free(names[i]);
    }
    rmdir(tmpdir);
}

static const nbt_case cases[] = {
    {"every_example_spec", test_every_example_spec},
};

NBT_MAIN(cases)
