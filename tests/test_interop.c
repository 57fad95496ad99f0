/* tests/test_interop.c — model files shared with PyTorch, both ways.
 *
 * PyTorch → nabla: tests/ref/gen_interop.py built two PyTorch MLPs and wrote their weights
 * as safetensors (one with a spec beside it, one with nabla.spec in its metadata), with inputs
 * and PyTorch's outputs; nabla loads each and must agree within 1e-5 relative + 1e-6 absolute.
 *
 * nabla → PyTorch: a model trained here is saved (a checkpoint, optimizer state included) with
 * its inputs and predictions; tests/ref/check_nabla_file.py rebuilds it in PyTorch from the
 * file alone and must reproduce the predictions. That part runs when /usr/bin/python3 has
 * torch, and is skipped with a note otherwise. Five nabla-written files (an MLP, a CNN with
 * batch normalisation and dropout, two graphs: a convolutional residual block with a
 * reused layer and a concatenation, and a dense residual block; and a GRU over a sequence
 * averaged over time by global_avgpool1d, the spoken-digit recogniser's shape) and their
 * outputs are also
 * committed (tests/ref/nabla_*),
 * so that the format stays readable by both sides: nabla checks them here on every run.
 * NABLA_REGEN_INTEROP=1 rewrites them. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "fixture.h"

#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#define REF "tests/ref/"

/* Runs n samples of x through the model in inference mode; y gets n * out floats. */
static bool predict(nb_model *m, const float *x, int64_t n, int64_t in, float *y, int64_t out) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_model_set_training(m, 0);
    int64_t shape[NB_MAX_RANK + 1], features = 1;
    int rank = nb_model_input_shape(m, shape + 1);
    for (int i = 1; i <= rank; i++) features *= shape[i];
    CHECK(features == in);
    shape[0] = n;
    nb_tensor *xt = nb_tensor_from(ctx, NB_F32, (void *)x, rank + 1, shape);
    nb_tensor *yt = nb_model_forward(m, ctx, xt);
    bool ok = yt && yt->numel == n * out;
    CHECK_MSG(ok, "forward failed: %s", nb_last_error());
    if (ok) {
        nb_tensor *c = nb_contiguous(ctx, yt);
        memcpy(y, c->data, sizeof(float) * (size_t)(n * out));
    }
    nb_ctx_free(ctx);
    return ok;
}

static void compare_model(nb_model *m, const nbt_fixture *fx, const char *xn, const char *yn) {
    const nbt_array *x = nbt_fixture_get(fx, xn), *y = nbt_fixture_get(fx, yn);
    CHECK(x && y);
    if (!x || !y) return;
    float *got = malloc(sizeof(float) * (size_t)y->numel);
    if (predict(m, x->data, x->shape[0], x->numel / x->shape[0], got, y->shape[1]))
        nbt_compare(yn, got, y->data, y->numel, 1e-6, 1e-5);
    free(got);
}

/* Weights written by PyTorch + a spec given alongside. */
static void test_torch_weights_with_spec(void) {
    nbt_fixture *fx = nbt_fixture_load(REF "interop.txt");
    CHECK_PTR(fx);
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_read(REF "interop_a.spec", &spec));
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (m) CHECK_OK(nb_model_load_weights(m, REF "interop_a.safetensors"));
    if (m && fx) compare_model(m, fx, "a.x", "a.y");
    /* without its nabla metadata, the file alone is not enough, and says so */
    nb_model *m2 = NULL;
    CHECK(nb_model_load(REF "interop_a.safetensors", &m2, NULL) == NB_ERR_FORMAT && !m2);
    CHECK(strstr(nb_last_error(), "build the model from its spec"));
    nb_model_free(m);
    nb_spec_free(spec);
    nbt_fixture_free(fx);
}

/* A file written by PyTorch whose metadata carries the architecture. */
static void test_torch_file_with_metadata(void) {
    nbt_fixture *fx = nbt_fixture_load(REF "interop.txt");
    CHECK_PTR(fx);
    nb_model *m = NULL;
    CHECK_OK(nb_model_load(REF "interop_b.safetensors", &m, NULL));
    if (m && fx) compare_model(m, fx, "b.x", "b.y");
    nb_model_free(m);
    nbt_fixture_free(fx);
}

/* A CNN written by PyTorch (batch normalisation's running statistics included). */
static void test_torch_cnn(void) {
    nbt_fixture *fx = nbt_fixture_load(REF "interop.txt");
    CHECK_PTR(fx);
    nb_model *m = NULL;
    CHECK_OK(nb_model_load(REF "interop_c.safetensors", &m, NULL));
    if (m && fx) compare_model(m, fx, "c.x", "c.y");
    nb_model_free(m);
    nbt_fixture_free(fx);
}

/* ---- nabla -> PyTorch ------------------------------------------------------------------------ */

typedef struct nabla_case {
    const char *spec;
    const char *name; /* tests/ref/<name>.safetensors and .txt when regenerated */
    int64_t in, out;  /* features per sample in and out */
} nabla_case;

static const nabla_case nabla_cases[] = {
    {"nabla-spec 1\ninput 8\ndense 16 gelu\ndense 12 leaky_relu alpha=0.1\ndense 6 silu "
     "bias=false\ndense 3\nactivation softmax\nloss mse\noptimizer adam lr=0.01\n",
     "nabla_mlp", 8, 3},
    {"nabla-spec 1\ninput 1 8 8\nconv2d 3 3 relu pad=1\nbatchnorm\nmaxpool2d 2\n"
     "conv2d 4 3 tanh\navgpool2d 2 stride=1\nflatten\ndropout 0.3\ndense 3\nloss mse\n"
     "optimizer adam lr=0.01\n",
     "nabla_cnn", 64, 3},
    /* a graph: a residual block with a 1x1 projection shortcut, a reused layer, a concat */
    {"nabla-spec 2\ninput 2 6 6 name=x\nconv2d 4 3 relu pad=1\nconv2d 4 3 pad=1\nbatchnorm\n"
     "conv2d 4 1 in=x name=proj\nadd in=batchnorm_1,proj\nactivation relu\nglobal_avgpool2d\n"
     "dense 6 relu\ndense 6 tanh name=shared\nreuse shared\nconcat in=dense_1,shared@2\n"
     "dense 3\nloss mse\noptimizer adam lr=0.01\n",
     "nabla_graph", 72, 3},
    /* a dense residual block: dense, relu, dense, batchnorm, added to its input, relu */
    {"nabla-spec 2\ninput 8 name=x\ndense 16 relu\ndense 8\nbatchnorm\nadd in=x,batchnorm_1\n"
     "activation relu\ndense 3\nloss mse\noptimizer adam lr=0.01\n",
     "nabla_graph_dense", 8, 3},
    /* the GRU recogniser's shape: a sequence [T, F] through a GRU, averaged over time */
    {"nabla-spec 2\ninput 7 5\ngru 6\nglobal_avgpool1d\ndense 3\nloss mse\n"
     "optimizer adam lr=0.01\n",
     "nabla_gru_pool", 35, 3},
};

#define NX 24

static void write_fixture(const char *path, const nb_model *m, const float *x, const float *y,
                          int64_t out) {
    FILE *f = fopen(path, "w");
    CHECK_PTR(f);
    if (!f) return;
    fprintf(f, "# inputs and nabla's outputs for the model file beside this one "
               "(tests/test_interop.c)\n");
    int64_t shape[NB_MAX_RANK], in = 1;
    int rank = nb_model_input_shape(m, shape);
    fprintf(f, "x %d %d", rank + 1, NX);
    for (int i = 0; i < rank; i++) {
        fprintf(f, " %lld", (long long)shape[i]);
        in *= shape[i];
    }
    fprintf(f, "\n");
    for (int64_t i = 0; i < NX * in; i++) fprintf(f, "%s%.9g", i ? " " : "", (double)x[i]);
    fprintf(f, "\ny 2 %d %lld\n", NX, (long long)out);
    for (int64_t i = 0; i < NX * out; i++) fprintf(f, "%s%.9g", i ? " " : "", (double)y[i]);
    fprintf(f, "\n");
    fclose(f);
}

/* A model trained for 20 Adam steps on fixed data (dropout drawing from a fixed generator). */
static nb_model *trained_model(const nabla_case *c, nb_optim **opt) {
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_parse(c->spec, strlen(c->spec), c->name, NULL, &spec));
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) {
        nb_spec_free(spec);
        return NULL;
    }
    *opt = nb_spec_optim(spec, nb_model_params(m));
    nb_spec_free(spec);
    nb_rng r, drop;
    nb_rng_seed(&r, 3);
    nb_rng_seed(&drop, 4);
    int64_t shape[NB_MAX_RANK + 1];
    int rank = nb_model_input_shape(m, shape + 1);
    shape[0] = 32;
    float *x = malloc(sizeof(float) * (size_t)(32 * c->in)), t[32 * 3];
    for (int64_t i = 0; i < 32 * c->in; i++) x[i] = nb_rng_normal(&r, 0, 1.5f);
    for (int i = 0; i < 32 * 3; i++) t[i] = nb_rng_uniform(&r);
    nb_ctx *ctx = nb_ctx_new(NULL);
    for (int s = 0; s < 20; s++) {
        nb_tensor *xt = nb_tensor_from(ctx, NB_F32, x, rank + 1, shape);
        nb_tensor *tt = nb_tensor_from(ctx, NB_F32, t, 2, (int64_t[]){32, 3});
        nb_optim_zero_grad(*opt);
        nb_tensor *y = nb_model_forward_rng(m, ctx, xt, &drop);
        nb_tensor *loss = nb_mse_loss(ctx, y, tt, NB_REDUCE_MEAN);
        CHECK_OK(nb_backward(ctx, loss));
        CHECK_OK(nb_optim_step(*opt));
        nb_ctx_reset(ctx);
    }
    nb_ctx_free(ctx);
    free(x);
    return m;
}

/* Runs the PyTorch check on model/expected pairs: 1 passed, 0 failed, -1 skipped. */
static int run_torch_check(const char *const *args, int n) {
    if (access("/usr/bin/python3", X_OK) != 0) return -1;
    char cmd[4096];
    size_t w = (size_t)snprintf(cmd, sizeof cmd, "/usr/bin/python3 " REF "check_nabla_file.py");
    for (int i = 0; i < n && w < sizeof cmd; i++)
        w += (size_t)snprintf(cmd + w, sizeof cmd - w, " '%s'", args[i]);
    fflush(stdout);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return 0;
    if (WEXITSTATUS(rc) == 77) return -1;
    return WEXITSTATUS(rc) == 0;
}

static void test_nabla_to_torch(void) {
    bool regen = getenv("NABLA_REGEN_INTEROP") != NULL;
    char dir[] = "/tmp/nabla-interop-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    enum { NC = sizeof nabla_cases / sizeof nabla_cases[0] };
    char paths[2 * NC][160], committed[2 * NC][160];
    const char *args[4 * NC];
    float *first_x = NULL, first_y[NX * 3];
    for (int c = 0; c < NC; c++) {
        const nabla_case *nc = &nabla_cases[c];
        char *model = paths[2 * c], *expect = paths[2 * c + 1];
        snprintf(committed[2 * c], 160, REF "%s.safetensors", nc->name);
        snprintf(committed[2 * c + 1], 160, REF "%s.txt", nc->name);
        snprintf(model, 160, "%s/%s.safetensors", dir, nc->name);
        snprintf(expect, 160, "%s/%s.txt", dir, nc->name);
        if (regen) {
            memcpy(model, committed[2 * c], 160);
            memcpy(expect, committed[2 * c + 1], 160);
        }
        args[2 * c] = model;
        args[2 * c + 1] = expect;
        args[2 * NC + 2 * c] = committed[2 * c];
        args[2 * NC + 2 * c + 1] = committed[2 * c + 1];

        nb_optim *opt = NULL;
        nb_model *m = trained_model(nc, &opt);
        if (!m) continue;
        nb_rng r;
        nb_rng_seed(&r, 4);
        float *x = malloc(sizeof(float) * (size_t)(NX * nc->in)), y[NX * 3];
        for (int64_t i = 0; i < NX * nc->in; i++) x[i] = nb_rng_normal(&r, 0, 2);
        CHECK(predict(m, x, NX, nc->in, y, nc->out));
        nb_train_state run = {.epoch = 1, .step = 20, .best = NAN};
        nb_rng_seed(&run.shuffle_rng, 1);
        nb_rng_seed(&run.dropout_rng, 2);
        nb_save_opts so = {.optim = opt, .run = &run};
        CHECK_OK(nb_model_save(m, model, &so));
        write_fixture(expect, m, x, y, nc->out);

        /* nabla reads back what it wrote and predicts the same, bit for bit */
        nb_model *back = NULL;
        CHECK_OK(nb_model_load(model, &back, NULL));
        float y2[NX * 3];
        if (back && predict(back, x, NX, nc->in, y2, nc->out))
            CHECK(!memcmp(y, y2, sizeof(float) * (size_t)(NX * nc->out)));
        nb_model_free(back);
        if (c == 0) {
            first_x = x;
            memcpy(first_y, y, sizeof first_y);
        } else {
            free(x);
        }
        nb_optim_free(opt);
        nb_model_free(m);
    }

    int ok = run_torch_check(args, 4 * NC);
    if (ok < 0) {
        printf("     note: /usr/bin/python3 with torch not found; the PyTorch side was skipped\n");
    } else {
        CHECK_MSG(ok == 1, "PyTorch did not reproduce nabla's predictions (see above)");
        /* and the check can fail: one prediction off by 1e-4 */
        if (!regen && first_x) {
            nb_model *m = NULL;
            CHECK_OK(nb_model_load(paths[0], &m, NULL));
            first_y[7] += 1e-4f;
            if (m) write_fixture(paths[1], m, first_x, first_y, 3);
            nb_model_free(m);
            printf("     (a wrong prediction, which PyTorch must refuse:)\n");
            CHECK(run_torch_check(args, 2) == 0);
        }
    }
    free(first_x);
    if (!regen)
        for (int i = 0; i < 2 * NC; i++) unlink(paths[i]);
    rmdir(dir);
}

/* The committed nabla-written files still load and predict what they predicted. */
static void test_committed_nabla_files(void) {
    for (size_t c = 0; c < sizeof nabla_cases / sizeof nabla_cases[0]; c++) {
        char model[160], txt[160];
        snprintf(model, sizeof model, REF "%s.safetensors", nabla_cases[c].name);
        snprintf(txt, sizeof txt, REF "%s.txt", nabla_cases[c].name);
        nbt_fixture *fx = nbt_fixture_load(txt);
        CHECK_PTR(fx);
        nb_model *m = NULL;
        nb_model_file info;
        CHECK_OK(nb_model_load(model, &m, &info));
        if (m && fx) {
            compare_model(m, fx, "x", "y");
            CHECK(info.optim && nb_optim_step_count(info.optim) == 20);
            CHECK(info.has_run && info.run.epoch == 1 && info.run.step == 20);
            CHECK(nb_optim_state_slots(info.optim) == 2);
        }
        nb_model_file_free(&info);
        nb_model_free(m);
        nbt_fixture_free(fx);
    }
}

/* Any tensor of a model file can go to .npy. */
static void test_export_npy(void) {
    nb_model *m = NULL;
    CHECK_OK(nb_model_load(REF "interop_b.safetensors", &m, NULL));
    if (!m) return;
    char path[] = "/tmp/nabla-npy-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    nb_tensor *w = nb_params_at(nb_model_params(m), 0); /* dense_1.weight [6, 10] */
    CHECK_OK(nb_npy_write_tensor(path, w));
    nb_array a;
    CHECK_OK(nb_npy_read(path, &a));
    CHECK(a.type == NB_ELEM_F32 && a.rank == 2 && a.shape[0] == 6 && a.shape[1] == 10);
    CHECK(a.data && !memcmp(a.data, w->data, sizeof(float) * 60));
    nb_array_free(&a);
    unlink(path);
    nb_model_free(m);
}

static const nbt_case cases[] = {
    {"torch_weights_with_spec", test_torch_weights_with_spec},
    {"torch_file_with_metadata", test_torch_file_with_metadata},
    {"torch_cnn", test_torch_cnn},
    {"nabla_to_torch", test_nabla_to_torch},
    {"committed_nabla_files", test_committed_nabla_files},
    {"export_npy", test_export_npy},
};

NBT_MAIN(cases)
