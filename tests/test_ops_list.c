/* test_ops_list — walks the one list of ops (include/nabla/ops.def) and fails when an entry
 * lacks one of its pieces, so that adding an elementwise op cannot be half done in silence:
 *
 *   - every NB_UNARY / NB_ACT line: its registry entry (name, kernel id, infer, forward,
 *     backward, gradient-check cases), its reference kernels, its public function, and
 *     PyTorch's values and derivatives (tests/ref/unary.txt, from tests/ref/gen_unary.py),
 *     which the op must match on every kernel set this machine runs — NaN where PyTorch
 *     gives NaN;
 *   - every NB_BINARY line: registry entry, reference kernel, public function;
 *   - every NB_ACT / NB_ACT_OP line: a unique name, a finite positive initialisation gain,
 *     nb_activate equal to the op, and a dense layer of that activation that a spec names
 *     and writes back. */
#include "nbtest.h"

#include "autograd/autograd.h"
#include "fixture.h"
#include "kernels/kernels.h"
#include "nn/nn.h"

#define UNPACK(...) __VA_ARGS__

/* ---- the unary entries -------------------------------------------------------------------- */

typedef struct unary_entry {
    const char *name;
    int op, kernel, np;
    float a0, a1;
    void (*public_fn)(void); /* the public function: the list does not compile without it */
} unary_entry;

#define ENTRY(ID, NM, NP, ...) ENTRY_(ID, NM, NP, __VA_ARGS__)
#define ENTRY_(ID, NM, NP, LO, HI, NK, K0, K1, A0, A1)                                             \
    {#NM, NBI_OP_##ID, NBI_U_##ID, NP, A0, A1, (void (*)(void))nb_##NM},
static const unary_entry unary[] = {
#define NB_UNARY(ID, NM, NP, CHECK) ENTRY(ID, NM, NP, UNPACK CHECK)
#include "nabla/ops.def"
};
#define N_UNARY ((int)(sizeof unary / sizeof *unary))

static void test_unary_entries(void) {
    CHECK(N_UNARY == NBI_U_COUNT);
    for (int i = 0; i < N_UNARY; i++) {
        const unary_entry *e = &unary[i];
        const nbi_op_def *def = nbi_ops[e->op];
        CHECK_MSG(def && !strcmp(def->name, e->name), "%s: no registry entry of that name",
                  e->name);
        if (!def) continue;
        CHECK_MSG(def->aux == e->kernel, "%s: runs kernel %d, not its own %d", e->name, def->aux,
                  e->kernel);
        CHECK_MSG(def->infer && def->forward && def->backward, "%s: a function is missing",
                  e->name);
        CHECK_MSG(def->check.cases > 0 && def->check.gen, "%s: no gradient check", e->name);
        CHECK_MSG(nbi_ref_unary[e->kernel] && nbi_ref_unary_bwd[e->kernel],
                  "%s: no reference kernel", e->name);
        CHECK_MSG(e->public_fn != NULL, "%s: no public function", e->name);
    }
}

/* ---- the binary entries ------------------------------------------------------------------- */

static void test_binary_entries(void) {
    static const struct {
        const char *name;
        int op, kernel;
        void (*public_fn)(void);
    } binary[] = {
#define NB_BINARY(ID, NM) {#NM, NBI_OP_##ID, NBI_B_##ID, (void (*)(void))nb_##NM},
#include "nabla/ops.def"
    };
    CHECK((int)(sizeof binary / sizeof *binary) == NBI_B_COUNT);
    for (size_t i = 0; i < sizeof binary / sizeof *binary; i++) {
        const nbi_op_def *def = nbi_ops[binary[i].op];
        CHECK_MSG(def && !strcmp(def->name, binary[i].name) && def->aux == binary[i].kernel,
                  "%s: registry entry missing or not running its kernel", binary[i].name);
        CHECK_MSG(def && def->backward && def->check.cases > 0, "%s: no gradient", binary[i].name);
        CHECK_MSG(nbi_ref_binary[binary[i].kernel] != NULL, "%s: no reference kernel",
                  binary[i].name);
        CHECK(binary[i].public_fn != NULL);
    }
}

/* ---- PyTorch's values, on every kernel set -------------------------------------------------- */

static const char *const devices[] = {"cpu:ref", "cpu:c", "cpu:avx2", "cpu:avx512"};

/* The op of entry e on x (requiring a gradient), with the entry's check parameters; then the
 * gradient of sum f(x). Compares both with PyTorch: NaN exactly where PyTorch has NaN,
 * infinities exactly, the rest within a few f32 roundings. */
static void check_against_torch(const char *device, const unary_entry *e, const nbt_fixture *fx) {
    char key[128];
    snprintf(key, sizeof key, "%s_x", e->name);
    const nbt_array *xs = nbt_fixture_get(fx, key);
    snprintf(key, sizeof key, "%s_y", e->name);
    const nbt_array *ys = nbt_fixture_get(fx, key);
    snprintf(key, sizeof key, "%s_dx", e->name);
    const nbt_array *ds = nbt_fixture_get(fx, key);
    CHECK_MSG(xs && ys && ds,
              "%s has no PyTorch reference in tests/ref/unary.txt: add its formula to "
              "tests/ref/gen_unary.py and run it",
              e->name);
    if (!xs || !ys || !ds) return;
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.device = device, .check = -1});
    if (!ctx) return; /* a kernel set this CPU lacks */
    nb_tensor *x = nb_tensor_copy_of(ctx, xs->data, 1, &xs->numel);
    nb_tensor_set_requires_grad(x, 1);
    nbi_attrs a = {.f = {e->a0, e->a1}};
    nb_tensor *y = nbi_apply(ctx, e->op, &x, 1, e->np ? &a : NULL);
    nb_tensor *loss = nb_sum(ctx, y, NB_ALL_AXES, 0);
    CHECK_OK(nb_backward(ctx, loss));
    if (y && x->grad) {
        int bad = 0;
        for (int64_t i = 0; i < xs->numel; i++) {
            float got = nb_f32(y)[i], want = ys->data[i], xv = xs->data[i];
            int ok = isnan(want) ? isnan(got)
                     : isinf(want)
                         ? got == want
                         : fabsf(got - want) <= 1e-6f + 2e-5f * fabsf(want) && !isnan(got);
            if (!ok && bad++ < 4)
                CHECK_MSG(0, "%s %s(%.9g) = %.9g, PyTorch %.9g", device, e->name, xv, got, want);
            float gw = ds->data[i], gg = nb_f32(x->grad)[i];
            /* derivatives where x and PyTorch's derivative are finite */
            if (!isfinite(xv) || !isfinite(gw)) continue;
            if (!(fabsf(gg - gw) <= 2e-6f + 5e-5f * fabsf(gw)) && bad++ < 4)
                CHECK_MSG(0, "%s %s'(%.9g) = %.9g, PyTorch %.9g", device, e->name, xv, gg, gw);
        }
    }
    nb_ctx_free(ctx);
}

static void test_pytorch_values(void) {
    nbt_fixture *fx = nbt_fixture_load("tests/ref/unary.txt");
    CHECK_PTR(fx);
    if (!fx) return;
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++)
        for (int i = 0; i < N_UNARY; i++) check_against_torch(devices[d], &unary[i], fx);
    nbt_fixture_free(fx);
}

/* ---- activations --------------------------------------------------------------------------- */

static void test_activations(void) {
    static const struct {
        nb_activation act;
        const char *name;
        int op, np;
    } acts[] = {
#define NB_ACT(ID, NM, NP, CHECK, ACT) {NB_ACT_##ID, #NM, NBI_OP_##ID, NP},
#define NB_ACT_OP(ID, NM, GAIN) {NB_ACT_##ID, #NM, NBI_OP_##ID, -1},
#include "nabla/ops.def"
    };
    CHECK((int)(sizeof acts / sizeof *acts) == NB_ACT_COUNT - 1);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_randn(ctx, NB_DIMS(3, 5), 0.0f, 2.0f, &rng);
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        const char *nm = nb_activation_name(acts[i].act);
        CHECK_MSG(nm && !strcmp(nm, acts[i].name), "activation %s is named %s", acts[i].name,
                  nm ? nm : "(null)");
        for (size_t j = 0; j < i; j++) CHECK(strcmp(acts[i].name, acts[j].name) != 0);
        float g = nb_init_gain(acts[i].act, 0.0f);
        CHECK_MSG(isfinite(g) && g > 0.0f, "%s: gain %g", acts[i].name, (double)g);
        nb_tensor *y = nb_activate(ctx, x, acts[i].act, 0.0f);
        CHECK_MSG(y && nb_tensor_same_shape(x, y), "%s: nb_activate failed: %s", acts[i].name,
                  nb_last_error());
        /* without parameters, the activation is exactly its op */
        nb_tensor *z = acts[i].np == 0 ? nbi_apply(ctx, acts[i].op, &x, 1, NULL) : NULL;
        if (y && z) CHECK(memcmp(y->data, z->data, (size_t)x->numel * sizeof(float)) == 0);
        /* a dense layer with it, named in a spec, builds and writes the name back */
        char text[256], back[1024];
        snprintf(text, sizeof text, "nabla-spec 1\ninput 4\ndense 3 %s\n", acts[i].name);
        nb_spec *spec = NULL;
        nb_model *m = NULL;
        CHECK_OK(nb_spec_parse(text, strlen(text), "act.spec", NULL, &spec));
        if (spec) CHECK_OK(nb_spec_build(spec, &m));
        if (m) {
            CHECK(nb_model_spec(m, back, sizeof back) > 0);
            CHECK_MSG(strstr(back, acts[i].name) != NULL, "%s: spec gives back %s", acts[i].name,
                      back);
        }
        nb_model_free(m);
        nb_spec_free(spec);
    }
    CHECK(nb_activation_name(NB_ACT_COUNT) == NULL);
    nb_ctx_free(ctx);
}

static const nbt_case cases[] = {
    {"unary_entries", test_unary_entries},
    {"binary_entries", test_binary_entries},
    {"pytorch_values", test_pytorch_values},
    {"activations", test_activations},
};
NBT_MAIN(cases)
