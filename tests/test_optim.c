/* test_optim — the optimizers, schedules and clipping against torch.optim.
 *
 * tests/ref/gen_optim.py ran every configuration for 10 steps on one parameter vector whose
 * gradient, grad(p) = 2 (p − target) + 0.1 p³, C recomputes bit for bit in f32; here each
 * step's parameters must match PyTorch's. Also: schedules over 20 steps, clipping, the
 * optimizer's bookkeeping and errors, and that a step allocates nothing. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "fixture.h"

#define FIXTURE "tests/ref/optim.txt"
#define NP 7
#define STEPS 10

static nbt_fixture *fx;

static const nbt_array *get(const char *name) {
    if (!fx) fx = nbt_fixture_load(FIXTURE);
    return nbt_fixture_get(fx, name);
}

/* grad(p) = 2 (p − target) + 0.1 p·p·p, in the fixture script's order */
static void grad_fn(const float *p, const float *target, float *g) {
    for (int i = 0; i < NP; i++) g[i] = 2.0f * (p[i] - target[i]) + 0.1f * (p[i] * p[i] * p[i]);
}

/* ---- the configurations of gen_optim.py -------------------------------------------------- */

static nb_optim *sgd_plain(nb_params *ps) { return nb_sgd_new(ps, &(nb_sgd_opts){.lr = 0.1}); }
static nb_optim *sgd_momentum(nb_params *ps) {
    return nb_sgd_new(ps, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .dampening = 0.1});
}
static nb_optim *sgd_nesterov(nb_params *ps) {
    return nb_sgd_new(ps, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .nesterov = 1});
}
static nb_optim *sgd_weight_decay(nb_params *ps) {
    return nb_sgd_new(ps, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.5, .weight_decay = 0.1});
}
/* Adam, AdamW, RMSprop and Adagrad from {.lr = x} alone: every other setting is PyTorch's
 * default because the field was left 0 (gen_optim.py calls the torch class with lr only). */
static nb_optim *adam(nb_params *ps) {
    return nb_adam_new(ps, &(nb_adam_opts){.lr = 0.1});
}
static nb_optim *adam_amsgrad(nb_params *ps) {
    return nb_adam_new(ps, &(nb_adam_opts){.lr = 0.1, .beta1 = 0.8, .beta2 = 0.5, .amsgrad = 1});
}
static nb_optim *adam_weight_decay(nb_params *ps) {
    return nb_adam_new(ps, &(nb_adam_opts){.lr = 0.1, .weight_decay = 0.1});
}
static nb_optim *adamw(nb_params *ps) {
    return nb_adamw_new(ps, &(nb_adam_opts){.lr = 0.1, .weight_decay = 0.1});
}
static nb_optim *adamw_amsgrad(nb_params *ps) {
    return nb_adamw_new(
        ps, &(nb_adam_opts){.lr = 0.05, .beta2 = 0.6, .weight_decay = 0.2, .amsgrad = 1});
}
static nb_optim *adamw_lr_only(nb_params *ps) { /* weight decay: AdamW's default 0.01 */
    return nb_adamw_new(ps, &(nb_adam_opts){.lr = 0.1});
}
static nb_optim *rmsprop(nb_params *ps) {
    return nb_rmsprop_new(ps, &(nb_rmsprop_opts){.lr = 0.01});
}
static nb_optim *rmsprop_centered_momentum(nb_params *ps) {
    return nb_rmsprop_new(
        ps, &(nb_rmsprop_opts){
                .lr = 0.01, .alpha = 0.9, .centered = 1, .momentum = 0.9, .weight_decay = 0.05});
}
static nb_optim *adagrad(nb_params *ps) {
    return nb_adagrad_new(ps, &(nb_adagrad_opts){.lr = 0.1});
}
static nb_optim *adagrad_decay(nb_params *ps) {
    return nb_adagrad_new(ps, &(nb_adagrad_opts){.lr = 0.2,
                                                 .lr_decay = 0.05,
                                                 .initial_accumulator_value = 0.1,
                                                 .eps = 1e-6,
                                                 .weight_decay = 0.01});
}

/* Nothing set at all: the zero struct, NULL and an all-default configuration are each the
 * torch class called with no settings (SGD with PyTorch's lr=1e-3). */
static nb_optim *sgd_all_default(nb_params *ps) {
    return nb_sgd_new(ps, &(nb_sgd_opts){0});
}
static nb_optim *adam_all_default(nb_params *ps) {
    return nb_adam_new(ps, NULL);
}
static nb_optim *adamw_all_default(nb_params *ps) {
    return nb_optim_new(ps, &(nb_optim_config){.kind = NB_OPTIM_ADAMW});
}
static nb_optim *rmsprop_all_default(nb_params *ps) {
    return nb_rmsprop_new(ps, &(nb_rmsprop_opts){0});
}
static nb_optim *adagrad_all_default(nb_params *ps) {
    return nb_adagrad_new(ps, NULL);
}

/* A real zero where the default is not zero: NB_ZERO. */
static nb_optim *adam_beta1_zero(nb_params *ps) {
    return nb_adam_new(ps, &(nb_adam_opts){.lr = 0.1, .beta1 = NB_ZERO});
}
static nb_optim *adamw_no_decay(nb_params *ps) {
    return nb_adamw_new(ps, &(nb_adam_opts){.lr = 0.1, .weight_decay = NB_ZERO});
}
static nb_optim *rmsprop_alpha_zero(nb_params *ps) {
    return nb_optim_new(ps, &(nb_optim_config){.kind = NB_OPTIM_RMSPROP,
                                               .u.rmsprop = {.lr = 0.01, .alpha = NB_ZERO}});
}

typedef struct config {
    const char *name;
    nb_optim *(*make)(nb_params *);
} config;

static const config configs[] = {
    {"sgd_plain", sgd_plain},
    {"sgd_momentum", sgd_momentum},
    {"sgd_nesterov", sgd_nesterov},
    {"sgd_weight_decay", sgd_weight_decay},
    {"adam", adam},
    {"adam_amsgrad", adam_amsgrad},
    {"adam_weight_decay", adam_weight_decay},
    {"adamw", adamw},
    {"adamw_amsgrad", adamw_amsgrad},
    {"adamw_lr_only", adamw_lr_only},
    {"rmsprop", rmsprop},
    {"rmsprop_centered_momentum", rmsprop_centered_momentum},
    {"adagrad", adagrad},
    {"adagrad_decay", adagrad_decay},
    {"sgd_all_default", sgd_all_default},
    {"adam_all_default", adam_all_default},
    {"adamw_all_default", adamw_all_default},
    {"rmsprop_all_default", rmsprop_all_default},
    {"adagrad_all_default", adagrad_all_default},
    {"adam_beta1_zero", adam_beta1_zero},
    {"adamw_no_decay", adamw_no_decay},
    {"rmsprop_alpha_zero", rmsprop_alpha_zero},
};

/* A store holding one parameter vector "p" = p0. */
static nb_params *store_with_p0(nb_tensor **p) {
    nb_params *ps = nb_params_new();
    CHECK_PTR(ps);
    if (!ps) return NULL;
    *p = nb_params_add(ps, "p", NB_DIMS(NP));
    CHECK_PTR(*p);
    const nbt_array *p0 = get("p0");
    CHECK(p0 && p0->numel == NP);
    if (!*p || !p0) {
        nb_params_free(ps);
        return NULL;
    }
    memcpy(nb_f32(*p), p0->data, sizeof(float) * NP);
    return ps;
}

/* The tolerance of the comparison: |a − b| <= ATOL + RTOL |b|. Both sides compute in f32 in
 * the same order; what is left is PyTorch's kernels contracting a·b + c into one fused
 * multiply-add where C rounds twice, a few ulps over 10 steps. */
#define RTOL 2e-6
#define ATOL 1e-7

static void test_parity(void) {
    const nbt_array *target = get("target");
    CHECK(target && target->numel == NP);
    if (!target) return;
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        const nbt_array *want = get(configs[c].name);
        CHECK_MSG(want && want->numel == STEPS * NP, "%s: no reference", configs[c].name);
        if (!want) continue;
        nb_tensor *p;
        nb_params *ps = store_with_p0(&p);
        if (!ps) return;
        nb_optim *opt = configs[c].make(ps);
        CHECK_PTR(opt);
        double worst = 0.0;
        for (int s = 0; opt && s < STEPS; s++) {
            nb_optim_zero_grad(opt);
            grad_fn(nb_f32(p), target->data, nb_params_grad(ps));
            CHECK_OK(nb_optim_step(opt));
            char what[96];
            snprintf(what, sizeof what, "%s step %d", configs[c].name, s + 1);
            nbt_compare(what, nb_f32(p), want->data + s * NP, NP, ATOL, RTOL);
            for (int i = 0; i < NP; i++) {
                /* the share of the tolerance used */
                double w = want->data[s * NP + i];
                double d = fabs(nb_f32(p)[i] - w) / (ATOL + RTOL * fabs(w));
                if (d > worst) worst = d;
            }
        }
        if (getenv("NB_VERBOSE"))
            printf("     %-28s uses %.0f%% of the tolerance\n", configs[c].name, 100.0 * worst);
        if (opt) CHECK(nb_optim_step_count(opt) == STEPS);
        nb_optim_free(opt);
        nb_params_free(ps);
    }
}

/* ---- weight decay on matrices only: torch.optim with two parameter groups ----------------- */

/* gen_optim.py's store: a [2, 3] matrix, a [3] vector, a [3, 2] matrix, a [2] vector, in that
 * order, decay on the matrices only (nanoGPT's two groups); each configuration made both
 * ways, the rule in its configuration and set on a made optimizer. */
static void test_decay_matrices(void) {
    static const int64_t shapes[4][2] = {{2, 3}, {3, 0}, {3, 2}, {2, 0}};
    const nbt_array *p0 = get("groups_p0"), *target = get("groups_target");
    CHECK(p0 && target && p0->numel == 17 && target->numel == 17);
    if (!p0 || !target) return;
    const nb_optim_config cfgs[3] = {
        {.kind = NB_OPTIM_ADAMW,
         .u.adam = {.lr = 0.1, .beta2 = 0.95, .weight_decay = 0.1},
         .decay = NB_DECAY_MATRICES},
        {.kind = NB_OPTIM_ADAM,
         .u.adam = {.lr = 0.1, .weight_decay = 0.2},
         .decay = NB_DECAY_MATRICES},
        {.kind = NB_OPTIM_SGD,
         .u.sgd = {.lr = 0.1, .momentum = 0.5, .weight_decay = 0.3},
         .decay = NB_DECAY_MATRICES},
    };
    const char *names[3] = {"groups_adamw", "groups_adam", "groups_sgd"};
    for (int c = 0; c < 3; c++) {
        for (int way = 0; way < 2; way++) {
            const nbt_array *want = get(names[c]);
            CHECK(want && want->numel == STEPS * 17);
            nb_params *ps = nb_params_new();
            for (int i = 0; i < 4; i++) {
                char nm[16];
                snprintf(nm, sizeof nm, "p%d", i);
                CHECK_PTR(nb_params_add(ps, nm, shapes[i][1] ? 2 : 1, shapes[i]));
            }
            memcpy(nb_params_data(ps), p0->data, sizeof(float) * 17);
            nb_optim_config cf = cfgs[c];
            if (way == 1) cf.decay = NB_DECAY_ALL;
            nb_optim *o = nb_optim_new(ps, &cf);
            CHECK_PTR(o);
            if (o && way == 1) CHECK_OK(nb_optim_set_decay(o, NB_DECAY_MATRICES));
            if (o) CHECK(nb_optim_decay(o) == NB_DECAY_MATRICES);
            if (o) CHECK(nb_optim_get_config(o).decay == NB_DECAY_MATRICES);
            for (int s = 0; o && want && s < STEPS; s++) {
                nb_optim_zero_grad(o);
                const float *p = nb_params_data(ps);
                float *g = nb_params_grad(ps);
                for (int i = 0; i < 17; i++)
                    g[i] = 2.0f * (p[i] - target->data[i]) + 0.1f * (p[i] * p[i] * p[i]);
                CHECK_OK(nb_optim_step(o));
                char what[96];
                snprintf(what, sizeof what, "%s (%s) step %d", names[c],
                         way ? "set_decay" : "config", s + 1);
                nbt_compare(what, p, want->data + s * 17, 17, ATOL, RTOL);
            }
            nb_optim_free(o);
            nb_params_free(ps);
        }
    }
    /* the spec's optimizer line carries the rule, both ways */
    nb_spec *sp = NULL;
    const char *text = "nabla-spec 1\ninput 2\ndense 1\n"
                       "optimizer adamw lr=0.001 beta2=0.95 weight_decay=0.1 decay=matrices\n";
    CHECK_OK(nb_spec_parse(text, strlen(text), "t", NULL, &sp));
    if (sp) {
        CHECK(sp->optim.decay == NB_DECAY_MATRICES);
        char buf[512];
        CHECK(nb_spec_training_text(sp, buf, sizeof buf) > 0);
        CHECK_MSG(strstr(buf, " decay=matrices"), "%s", buf);
    }
    nb_spec_free(sp);
    text = "nabla-spec 1\ninput 2\ndense 1\noptimizer adamw decay=vectors\n";
    CHECK(nb_spec_parse(text, strlen(text), "t", NULL, &sp) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(nb_last_error(), "t:4:23: expected decay=all"), "%s", nb_last_error());
    CHECK(nb_optim_set_decay(NULL, NB_DECAY_ALL) == NB_ERR_ARG);
}

/* ---- schedules ------------------------------------------------------------------------------ */

static void check_schedule(const char *name, const nb_schedule *s) {
    char key[64];
    snprintf(key, sizeof key, "sched_%s", name);
    const nbt_array *want = get(key);
    CHECK_MSG(want && want->numel == 20, "%s: no reference", key);
    if (!want) return;
    CHECK_OK(nb_schedule_check(s));
    float got[20];
    for (int t = 0; t < 20; t++) got[t] = (float)nb_schedule_lr(s, t);
    /* the fixture stores f32: compare at f32 rounding */
    nbt_compare(key, got, want->data, 20, 0.0, 3e-7);

    /* attached to an optimizer, step t runs at the same rate */
    nb_tensor *p;
    nb_params *ps = store_with_p0(&p);
    if (!ps) return;
    nb_optim *opt = nb_sgd_new(ps, &(nb_sgd_opts){.lr = 123.0});
    CHECK_PTR(opt);
    if (opt) {
        CHECK_OK(nb_optim_set_schedule(opt, s));
        for (int t = 0; t < 20; t++) {
            CHECK_CLOSE(nb_optim_lr(opt), want->data[t], 0.0, 3e-7);
            /* the step moves p by exactly -lr·g with g = 1: p0 - lr in f32 */
            nb_params_grad(ps)[0] = 1.0f;
            float before = nb_f32(p)[0];
            CHECK_OK(nb_optim_step(opt));
            CHECK(nb_f32(p)[0] == before + (float)(-nb_schedule_lr(s, t)) * 1.0f);
        }
        /* set_lr detaches the schedule */
        CHECK_OK(nb_optim_set_lr(opt, 0.5));
        CHECK(nb_optim_lr(opt) == 0.5);
    }
    nb_optim_free(opt);
    nb_params_free(ps);
}

static void test_schedules(void) {
    const double base = 0.1;
    nb_schedule s;
    s = nb_schedule_step(base, 3, 0.5);
    check_schedule("step", &s);
    s = nb_schedule_multistep(base, (int64_t[]){2, 5, 11}, 3, 0.3);
    check_schedule("multistep", &s);
    s = nb_schedule_exponential(base, 0.9);
    check_schedule("exponential", &s);
    s = nb_schedule_cosine(base, 10, 0.001);
    check_schedule("cosine", &s);
    s = nb_schedule_linear(base, 0.25, 1.0, 8);
    check_schedule("linear_warmup", &s);
    s = nb_schedule_linear(base, 1.0, 0.1, 10);
    check_schedule("linear_decay", &s);
    s = nb_schedule_warmup(nb_schedule_cosine(base, 15, 0.0), 5, 0.1);
    check_schedule("warmup_cosine", &s);
    s = nb_schedule_warmup(nb_schedule_step(base, 4, 0.5), 3, 0.5);
    check_schedule("warmup_step", &s);
    s = nb_schedule_constant(base);
    for (int t = 0; t < 5; t++) CHECK(nb_schedule_lr(&s, t) == base);
}

static void test_schedule_errors(void) {
    nb_schedule s = nb_schedule_step(0.1, 0, 0.5);
    CHECK(nb_schedule_check(&s) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "step_size") != NULL);
    CHECK(isnan(nb_schedule_lr(&s, 3)));
    s = nb_schedule_multistep(0.1, (int64_t[]){5, 2}, 2, 0.1);
    CHECK(nb_schedule_check(&s) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "increase") != NULL);
    s = nb_schedule_multistep(0.1, NULL, 3, 0.1);
    CHECK(nb_schedule_check(&s) == NB_ERR_ARG);
    s = nb_schedule_cosine(0.1, 0, 0.0);
    CHECK(nb_schedule_check(&s) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "t_max") != NULL);
    s = nb_schedule_linear(0.1, 0.0, 1.0, 5);
    CHECK(nb_schedule_check(&s) == NB_ERR_ARG);
    s = nb_schedule_warmup(nb_schedule_constant(0.1), 0, 0.5);
    CHECK(nb_schedule_check(&s) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "warmup") != NULL);
    s = nb_schedule_constant(-1.0);
    CHECK(nb_schedule_check(&s) == NB_ERR_ARG);
    s = nb_schedule_constant(0.1);
    CHECK(isnan(nb_schedule_lr(&s, -1)));

    nb_tensor *p;
    nb_params *ps = store_with_p0(&p);
    if (!ps) return;
    nb_optim *opt = nb_sgd_new(ps, NULL);
    CHECK_PTR(opt);
    s = nb_schedule_cosine(0.1, 0, 0.0);
    CHECK(nb_optim_set_schedule(opt, &s) == NB_ERR_ARG);
    CHECK(nb_optim_lr(opt) == 1e-3); /* unchanged: PyTorch's default lr */
    nb_optim_free(opt);
    nb_params_free(ps);
}

/* ---- clipping ------------------------------------------------------------------------------- */

static void test_clipping(void) {
    const nbt_array *g = get("clip_grad");
    CHECK(g && g->numel == NP);
    if (!g) return;
    nb_tensor *p;
    nb_params *ps = store_with_p0(&p);
    if (!ps) return;
    static const struct {
        float max_norm;
        const char *key, *norm_key;
    } cases[] = {{1.0f, "clip_norm_1", "clip_norm_1_norm"},
                 {100.0f, "clip_norm_100", "clip_norm_100_norm"}};
    for (int c = 0; c < 2; c++) {
        memcpy(nb_params_grad(ps), g->data, sizeof(float) * NP);
        float norm = nb_clip_grad_norm(ps, cases[c].max_norm);
        const nbt_array *wn = get(cases[c].norm_key), *wg = get(cases[c].key);
        CHECK(wn && wg);
        if (!wn || !wg) continue;
        CHECK_CLOSE(norm, wn->data[0], 0.0, 1e-6);
        nbt_compare(cases[c].key, nb_params_grad(ps), wg->data, NP, 1e-7, 1e-6);
    }
    /* 100 is above the norm: the gradients are left exactly as they were */
    CHECK(memcmp(nb_params_grad(ps), g->data, sizeof(float) * NP) == 0);

    memcpy(nb_params_grad(ps), g->data, sizeof(float) * NP);
    CHECK_OK(nb_clip_grad_value(ps, 0.5f));
    const nbt_array *wv = get("clip_value_0.5");
    if (wv) nbt_compare("clip_value", nb_params_grad(ps), wv->data, NP, 0.0, 0.0);

    CHECK(isnan(nb_clip_grad_norm(ps, -1.0f)));
    CHECK(strstr(nb_last_error(), "max_norm") != NULL);
    CHECK(isnan(nb_clip_grad_norm(NULL, 1.0f)));
    CHECK(nb_clip_grad_value(ps, NAN) == NB_ERR_ARG);
    nb_params_free(ps);
}

/* ---- bookkeeping and errors ----------------------------------------------------------------- */

static void test_errors(void) {
    nb_tensor *p;
    nb_params *ps = store_with_p0(&p);
    if (!ps) return;

    CHECK(nb_sgd_new(ps, &(nb_sgd_opts){.lr = 0.1, .nesterov = 1}) == NULL);
    CHECK(strstr(nb_last_error(), "Nesterov") != NULL);
    CHECK(nb_sgd_new(ps, &(nb_sgd_opts){.lr = -0.1}) == NULL);
    CHECK(strstr(nb_last_error(), "lr") != NULL);
    CHECK(nb_sgd_new(NULL, NULL) == NULL);
    CHECK(nb_adam_new(ps, &(nb_adam_opts){.lr = 1e-3, .beta2 = 1.0}) == NULL);
    CHECK(strstr(nb_last_error(), "beta2") != NULL);
    CHECK(nb_rmsprop_new(ps, &(nb_rmsprop_opts){.lr = 1e-2, .momentum = -1.0}) == NULL);
    CHECK(nb_adagrad_new(ps, &(nb_adagrad_opts){.lr = 1e-2, .lr_decay = NAN}) == NULL);

    /* defaults */
    nb_optim *opt = nb_adamw_new(ps, NULL);
    CHECK_PTR(opt);
    if (opt) {
        CHECK(strcmp(nb_optim_name(opt), "adamw") == 0);
        CHECK(nb_optim_lr(opt) == 1e-3);
        CHECK(nb_optim_set_lr(opt, NAN) == NB_ERR_ARG);
        CHECK(nb_optim_set_lr(opt, -1.0) == NB_ERR_ARG);
        CHECK(nb_optim_lr(opt) == 1e-3);
        CHECK_OK(nb_optim_set_lr(opt, 0.25));
        CHECK(nb_optim_lr(opt) == 0.25);
        /* a parameter added after the optimizer was made */
        CHECK_PTR(nb_params_add(ps, "late", NB_DIMS(3)));
        CHECK(nb_optim_step(opt) == NB_ERR_STATE);
        CHECK(strstr(nb_last_error(), "after the last layer") != NULL);
        CHECK(nb_optim_step_count(opt) == 0);
    }
    nb_optim_free(opt);
    nb_optim_free(NULL);
    CHECK(nb_optim_step(NULL) == NB_ERR_ARG);
    nb_params_free(ps);
}

/* One way to get defaults: a zero field. A configuration read back is complete (every default
 * filled in, zeros spelled NB_ZERO) and makes the same optimizer again; the spec format
 * writes and reads a real zero as "0". */
static void test_defaults_and_real_zeros(void) {
    nb_tensor *p;
    nb_params *ps = store_with_p0(&p);
    if (!ps) return;
    nb_optim *o = nb_adamw_new(ps, &(nb_adam_opts){.lr = 1e-2});
    nb_optim_config c = nb_optim_get_config(o);
    CHECK(c.kind == NB_OPTIM_ADAMW && c.u.adam.lr == 1e-2 && c.u.adam.beta1 == 0.9 &&
          c.u.adam.beta2 == 0.999 && c.u.adam.eps == 1e-8 && c.u.adam.weight_decay == 1e-2);
    nb_optim_free(o);

    o = nb_adamw_new(ps, &(nb_adam_opts){.lr = 1e-2, .beta1 = NB_ZERO, .weight_decay = NB_ZERO});
    c = nb_optim_get_config(o);
    CHECK(c.u.adam.beta1 == 0.0 && signbit(c.u.adam.beta1)); /* NB_ZERO: stays a zero */
    CHECK(c.u.adam.weight_decay == 0.0 && signbit(c.u.adam.weight_decay));
    CHECK(c.u.adam.beta2 == 0.999 && !c.u.adam.amsgrad);
    nb_optim *o2 = nb_optim_new(ps, &c); /* the read-back configuration: the same optimizer */
    nb_optim_config c2 = nb_optim_get_config(o2);
    CHECK(!memcmp(&c, &c2, sizeof c));
    nb_optim_free(o2);
    nb_optim_free(o);

    /* the learning rate of a configuration: a 0 set is a real zero */
    nb_optim_config r = {.kind = NB_OPTIM_RMSPROP};
    CHECK(nb_optim_config_lr(&r) == 0.0);
    CHECK_OK(nb_optim_config_set_lr(&r, 0.0));
    o = nb_optim_new(ps, &r);
    CHECK(o && nb_optim_lr(o) == 0.0);
    nb_optim_free(o);
    r = (nb_optim_config){.kind = NB_OPTIM_RMSPROP};
    o = nb_optim_new(ps, &r);
    CHECK(o && nb_optim_lr(o) == 1e-2); /* unset: RMSprop's default */
    nb_optim_free(o);
    CHECK(nb_optim_config_set_lr(&r, -1.0) == NB_ERR_ARG);
    CHECK(nb_optim_config_set_lr(&r, NAN) == NB_ERR_ARG);
    CHECK(nb_optim_config_set_lr(NULL, 1.0) == NB_ERR_ARG);

    /* a bad value is still an error, not a default: only +0.0 means "not set" */
    CHECK(nb_adam_new(ps, &(nb_adam_opts){.beta1 = -0.5}) == NULL);
    CHECK(strstr(nb_last_error(), "beta1") != NULL);
    CHECK(nb_adam_new(ps, &(nb_adam_opts){.eps = NAN}) == NULL);

    /* the spec format: "beta1=0" is a real zero; an absent setting is the default; both
     * written back as the text says them */
    const char *text = "nabla-spec 1\ninput 3\ndense 2\noptimizer adamw beta1=0 lr=0.01\n";
    nb_spec *spec = NULL;
    CHECK_OK(nb_spec_parse(text, strlen(text), "z.spec", NULL, &spec));
    if (spec) {
        CHECK(spec->optim.u.adam.beta1 == 0.0 && spec->optim.u.adam.weight_decay == 1e-2);
        nb_optim *so = nb_spec_optim(spec, ps);
        CHECK(so && nb_optim_get_config(so).u.adam.beta1 == 0.0);
        nb_optim_free(so);
        char buf[512];
        nb_spec_training_text(spec, buf, sizeof buf);
        CHECK_MSG(strstr(buf, "optimizer adamw lr=0.01 beta1=0\n") != NULL, "%s", buf);
        CHECK_OK(nb_spec_set_lr(spec, 0.0)); /* --lr 0: a real zero, not Adam's 1e-3 */
        so = nb_spec_optim(spec, ps);
        CHECK(so && nb_optim_lr(so) == 0.0);
        nb_optim_free(so);
        nb_spec_free(spec);
    }
    nb_params_free(ps);
}

/* zero_grad zeroes the whole gradient buffer */
static void test_zero_grad(void) {
    nb_tensor *p;
    nb_params *ps = store_with_p0(&p);
    if (!ps) return;
    nb_optim *opt = nb_sgd_new(ps, NULL);
    for (int i = 0; i < NP; i++) nb_params_grad(ps)[i] = (float)i + 1.0f;
    nb_optim_zero_grad(opt);
    for (int i = 0; i < NP; i++) CHECK(nb_params_grad(ps)[i] == 0.0f);
    nb_optim_free(opt);
    nb_params_free(ps);
}

/* ---- a step allocates nothing ------------------------------------------------------------- */

static long n_alloc;
static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    n_alloc++;
    void *p = NULL;
    return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1)
               ? NULL
               : p;
}
static void count_free(void *p, void *user) {
    (void)user;
    free(p);
}

static void test_step_allocates_nothing(void) {
    nb_set_allocator(&(nb_allocator){count_alloc, count_free, NULL});
    const nbt_array *target = get("target");
    for (size_t c = 0; target && c < sizeof configs / sizeof configs[0]; c++) {
        nb_tensor *p;
        nb_params *ps = store_with_p0(&p);
        if (!ps) break;
        nb_optim *opt = configs[c].make(ps);
        CHECK_PTR(opt);
        long before = n_alloc;
        nb_schedule s = nb_schedule_warmup(nb_schedule_cosine(0.1, 10, 0.0), 2, 0.5);
        CHECK_OK(nb_optim_set_schedule(opt, &s));
        for (int t = 0; opt && t < 5; t++) {
            nb_optim_zero_grad(opt);
            grad_fn(nb_f32(p), target->data, nb_params_grad(ps));
            nb_clip_grad_norm(ps, 1.0f);
            CHECK_OK(nb_optim_step(opt));
        }
        CHECK_MSG(n_alloc == before, "%s: %ld allocations in 5 steps", configs[c].name,
                  n_alloc - before);
        nb_optim_free(opt);
        nb_params_free(ps);
    }
    nb_set_allocator(NULL);
}

static void test_cleanup(void) {
    nbt_fixture_free(fx);
    fx = NULL;
}

static const nbt_case cases[] = {
    {"parity_with_torch", test_parity},
    {"decay_matrices_as_two_groups", test_decay_matrices},
    {"schedules", test_schedules},
    {"schedule_errors", test_schedule_errors},
    {"clipping", test_clipping},
    {"errors", test_errors},
    {"defaults_and_real_zeros", test_defaults_and_real_zeros},
    {"zero_grad", test_zero_grad},
    {"step_allocates_nothing", test_step_allocates_nothing},
    {"cleanup", test_cleanup},
};
NBT_MAIN(cases)
