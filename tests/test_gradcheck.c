/* test_gradcheck — walks the op registry and checks every differentiable op's backward
 * against fourth-order central differences (see src/autograd/gradcheck.c), on random shapes,
 * broadcast ones included, with each op's own tolerances. A new op is checked the moment it
 * is listed in ops.def. */
#include "nbtest.h"

#include "autograd/gradcheck.h"
#include "kernels/backend.h"

static void test_every_op(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 2026);
    int ops_checked = 0;
    for (int op = 0; op < NBI_OP_COUNT; op++) {
        const nbi_op_def *def = nbi_ops[op];
        CHECK_MSG(def != NULL, "op %d has no definition", op);
        if (!def || !def->check.cases) continue;
        CHECK_MSG(def->backward != NULL, "%s has check cases but no backward", def->name);
        CHECK_MSG(def->check.gen != NULL, "%s has check cases but no generator", def->name);
        if (!def->backward || !def->check.gen) continue;
        ops_checked++;
        for (int k = 0; k < def->check.cases; k++) {
            nb_ctx *gen = nb_ctx_new(NULL);
            nbi_check_case c;
            memset(&c, 0, sizeof c);
            nb_status s = def->check.gen(def, gen, &rng, k, &c);
            CHECK_MSG(s == NB_OK, "%s case %d: generator failed: %s", def->name, k,
                      nb_last_error());
            nbi_gradcheck_report rep;
            if (s == NB_OK) {
                s = nbi_gradcheck_case(op, &c, &rep);
                CHECK_MSG(s == NB_OK, "%s case %d: op failed: %s", def->name, k, nb_last_error());
            }
            if (s == NB_OK) {
                char sh[96];
                CHECK_MSG(rep.checked > 0, "%s case %d: nothing was checked", def->name, k);
                CHECK_MSG(rep.failures == 0,
                          "%s case %d: %lld of %lld gradient elements off; worst: input %d "
                          "(%s) element %lld analytic %.8g numeric %.8g",
                          def->name, k, (long long)rep.failures, (long long)rep.checked,
                          rep.worst_input, nb_shape_str(c.in[rep.worst_input], sh, sizeof sh),
                          (long long)rep.worst_index, rep.worst_analytic, rep.worst_numeric);
            }
            nb_ctx_free(gen);
        }
    }
    printf("     %d ops gradient-checked\n", ops_checked);
    CHECK(ops_checked > 0);
}

/* The checker itself must fail on a wrong gradient: run exp on a back end whose kernel set
 * has a wrong derivative (exp' = 1.01 exp) and expect the check to report failures. */
static void exp_bwd_wrong(int64_t n, const float *x, const float *y, const float *gy, float *gx,
                          const float *p) {
    (void)x;
    (void)p;
    for (int64_t i = 0; i < n; i++) gx[i] += gy[i] * y[i] * 1.01f;
}

static void test_checker_catches_errors(void) {
    nbi_kernels wrong;
    CHECK(nbi_kernels_for("ref", &wrong));
    wrong.unary_bwd[NBI_U_EXP] = exp_bwd_wrong;
    nbi_backend be;
    nbi_backend_cpu(&be, &wrong, 1);
    be.name = "cpu:wrong-exp";
    nb_rng rng;
    nb_rng_seed(&rng, 7);
    nb_ctx *gen = nb_ctx_new(NULL);
    nbi_check_case c;
    memset(&c, 0, sizeof c);
    const nbi_op_def *def = nbi_ops[NBI_OP_EXP];
    CHECK_OK(def->check.gen(def, gen, &rng, 1, &c));
    nbi_gradcheck_report rep;
    CHECK_OK(nbi_gradcheck_case_on(&be, NBI_OP_EXP, &c, &rep));
    CHECK(rep.checked > 0);
    CHECK_MSG(rep.failures == rep.checked, "a 1%% error went unnoticed in %lld of %lld elements",
              (long long)(rep.checked - rep.failures), (long long)rep.checked);
    nb_ctx_free(gen);
}

static const nbt_case cases[] = {
    {"every_op", test_every_op},
    {"checker_catches_errors", test_checker_catches_errors},
};
NBT_MAIN(cases)
