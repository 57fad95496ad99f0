/* test_backend — back ends chosen per context: device names (nb_ctx_opts.device), the thread
 * budget (nb_ctx_opts.threads), the errors for a device that does not exist or that this CPU
 * cannot run, and the CPU back end's memory entries; then, like ggml's test-backend-ops:
 *
 *   - parity: every op of the registry, on each of its gradient-check cases, run forward and
 *     backward on every kernel set this machine runs (cpu:ref, cpu:c, cpu:avx2, cpu:avx512)
 *     at 1 and 2 threads, against the reference back end (cpu:ref): the same NaNs, values
 *     and gradients within float rounding, and bit for bit the same at 1 and 2 threads;
 *   - NaN propagation: NaN in gives NaN out wherever PyTorch gives NaN (max, argmax, pooling,
 *     softmax, relu fused into a convolution, losses, batch norm, dropout, sums), on every
 *     kernel set. */
#include "nbtest.h"

#include "autograd/autograd.h"
#include "kernels/backend.h"
#include "tensor/tensor.h"

static const char *const devices[] = {"cpu:ref", "cpu:c", "cpu:avx2", "cpu:avx512"};

static void test_devices(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    CHECK_PTR(ctx);
    const char *d = nb_ctx_device(ctx);
    CHECK(d && !strncmp(d, "cpu:", 4));
    /* "cpu" is the set nb_kernel_isa names */
    CHECK_MSG(d && !strcmp(d + 4, nb_kernel_isa()), "device %s, isa %s", d, nb_kernel_isa());
    nb_ctx_free(ctx);
    int made = 0;
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
        ctx = nb_ctx_new(&(nb_ctx_opts){.device = devices[i]});
        if (!ctx) { /* only a kernel set this CPU lacks may be refused */
            CHECK_MSG(strstr(nb_last_error(), devices[i]) != NULL, "%s: %s", devices[i],
                      nb_last_error());
            CHECK(strstr(devices[i], "avx") != NULL);
            continue;
        }
        made++;
        CHECK_MSG(!strncmp(nb_ctx_device(ctx), devices[i], strlen(devices[i])), "%s gave %s",
                  devices[i], nb_ctx_device(ctx));
        nb_ctx_free(ctx);
    }
    CHECK(made >= 2); /* ref and c run everywhere */
}

static void test_bad_devices(void) {
    nb_clear_error();
    CHECK(nb_ctx_new(&(nb_ctx_opts){.device = "gpu"}) == NULL);
    CHECK_MSG(strstr(nb_last_error(), "unknown device 'gpu'") && strstr(nb_last_error(), "cpu:ref"),
              "%s", nb_last_error());
    CHECK(nb_ctx_new(&(nb_ctx_opts){.device = "cpu:"}) == NULL);
    CHECK(nb_ctx_new(&(nb_ctx_opts){.threads = -1}) == NULL);
    CHECK(strstr(nb_last_error(), "threads=-1") != NULL);
    nbi_backend be;
    CHECK(nbi_backend_init(&be, "cpu:fast", 0, "test") == NB_ERR_ARG);
#if !NBI_X86
    CHECK(nbi_backend_init(&be, "cpu:avx2", 0, "test") == NB_ERR_UNSUPPORTED);
#endif
}

/* The same op on every kernel set and thread budget: relu and softmax are IEEE arithmetic
 * plus exp, so relu agrees bit for bit everywhere and softmax to a few ulp. */
static void test_same_op_every_device(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_tensor *x = nb_randn(NULL, NB_DIMS(37, 129), 0.0f, 2.0f, &rng);
    CHECK_PTR(x);
    nb_ctx *ref = nb_ctx_new(&(nb_ctx_opts){.device = "cpu:ref"});
    nb_tensor *r0 = nb_relu(ref, x), *s0 = nb_softmax(ref, x, -1);
    CHECK_PTR(r0);
    CHECK_PTR(s0);
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++)
        for (int threads = 0; threads <= 2; threads++) {
            nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.device = devices[i], .threads = threads});
            if (!ctx) continue;
            nb_tensor *r = nb_relu(ctx, x), *s = nb_softmax(ctx, x, -1);
            CHECK_PTR(r);
            CHECK_PTR(s);
            if (r && r0) CHECK(memcmp(r->data, r0->data, (size_t)x->numel * 4) == 0);
            for (int64_t k = 0; s && s0 && k < x->numel; k++)
                CHECK_CLOSE(nb_f32(s)[k], nb_f32(s0)[k], 1e-7, 1e-5);
            nb_ctx_free(ctx);
        }
    nb_ctx_free(ref);
    nb_tensor_free(x);
}

/* The CPU back end's memory entries: host buffers, copies both ways. */
static void test_cpu_memory(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    const nbi_backend *be = ctx->be;
    float host[5] = {1, 2, 3, 4, 5}, back[5] = {0};
    float *dev = be->alloc(be, sizeof host);
    CHECK_PTR(dev);
    CHECK(((uintptr_t)dev & (NBI_ALIGN - 1)) == 0);
    float *dev2 = be->alloc(be, sizeof host);
    be->from_host(be, dev, host, sizeof host);
    be->copy(be, dev2, dev, sizeof host);
    be->to_host(be, back, dev2, sizeof host);
    CHECK(memcmp(back, host, sizeof host) == 0);
    be->free(be, dev);
    be->free(be, dev2);
    be->free(be, NULL);
    nb_ctx_free(ctx);
}

/* ---- parity --------------------------------------------------------------------------------- */

/* One run of an op: its output and every f32 input's gradient, copied to the host. */
typedef struct run_out {
    int ok;
    int64_t n_out, n_grad[NBI_CHECK_MAX_IN];
    float *out, *grad[NBI_CHECK_MAX_IN];
} run_out;

static void run_free(run_out *r) {
    free(r->out);
    for (int i = 0; i < NBI_CHECK_MAX_IN; i++) free(r->grad[i]);
    memset(r, 0, sizeof *r);
}

static float *host_copy(const nbi_backend *be, const nb_tensor *t) {
    float *p = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *p);
    be->to_host(be, p, t->data, (size_t)t->numel * sizeof *p);
    return p;
}

/* Runs case c of op on `device` with `threads`; the upstream gradient is w (a fixed draw). */
static void run_case(const char *device, int threads, int op, nbi_check_case *c, run_out *r) {
    memset(r, 0, sizeof *r);
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.device = device, .threads = threads, .check = -1});
    if (!ctx) return;
    nb_tensor *y = nbi_apply(ctx, op, c->in, c->n_in, c->has_attrs ? &c->attrs : NULL);
    if (!y) {
        nb_ctx_free(ctx);
        return;
    }
    nb_tensor *cy = nbi_contig(ctx, y);
    r->n_out = y->numel;
    if (y->dtype == NB_F32) {
        r->out = host_copy(ctx->be, cy);
    } else { /* argmax: i32, compared as its bits */
        r->out = malloc((size_t)(y->numel ? y->numel : 1) * 4);
        ctx->be->to_host(ctx->be, r->out, cy->data, (size_t)y->numel * 4);
    }
    if (y->flags & NB_TF_REQUIRES_GRAD) {
        nb_rng wr;
        nb_rng_seed(&wr, 99);
        nb_tensor *w = nb_rand(ctx, y->rank, y->shape, -1.0f, 1.0f, &wr);
        if (nb_backward_with(ctx, y, w) != NB_OK) {
            nb_ctx_free(ctx);
            return;
        }
        for (int i = 0; i < c->n_in; i++) {
            if (!c->in[i]->grad) continue;
            r->n_grad[i] = c->in[i]->grad->numel;
            r->grad[i] = host_copy(ctx->be, c->in[i]->grad);
            c->in[i]->grad = NULL; /* it lived in ctx */
        }
    }
    r->ok = 1;
    nb_ctx_free(ctx);
}

/* got and want agree: NaN where want has NaN, infinities equal, values within the tolerance;
 * with exact, bit for bit. Returns the number of mismatches (reported up to a few). */
static int compare(const char *what, const float *got, const float *want, int64_t n, int exact) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float g = got[i], w = want[i];
        int ok = exact      ? memcmp(&g, &w, sizeof g) == 0
                 : isnan(w) ? isnan(g)
                 : isinf(w) ? g == w
                            : fabsf(g - w) <= 1e-5f + 1e-4f * fabsf(w);
        if (!ok && bad++ < 3)
            CHECK_MSG(0, "%s[%lld] = %.9g, expected %.9g", what, (long long)i, g, w);
    }
    return bad;
}

static void test_parity(void) {
    int saved = nb_get_threads();
    if (saved < 2) CHECK_OK(nb_set_threads(2)); /* so that a budget of 2 means 2 */
    nb_rng rng;
    nb_rng_seed(&rng, 4242);
    int ops = 0, runs = 0;
    for (int op = 0; op < NBI_OP_COUNT; op++) {
        const nbi_op_def *def = nbi_ops[op];
        if (!def->check.cases || !def->check.gen) continue;
        ops++;
        for (int k = 0; k < def->check.cases; k++) {
            nb_ctx *gen = nb_ctx_new(NULL);
            nbi_check_case c;
            memset(&c, 0, sizeof c);
            CHECK_OK(def->check.gen(def, gen, &rng, k, &c));
            run_out ref;
            run_case("cpu:ref", 1, op, &c, &ref);
            CHECK_MSG(ref.ok, "%s case %d failed on cpu:ref: %s", def->name, k, nb_last_error());
            for (size_t d = 0; ref.ok && d < sizeof devices / sizeof *devices; d++) {
                run_out one, two;
                run_case(devices[d], 1, op, &c, &one);
                if (!one.ok) continue; /* a kernel set this CPU lacks */
                run_case(devices[d], 2, op, &c, &two);
                CHECK_MSG(two.ok, "%s case %d failed on %s at 2 threads", def->name, k, devices[d]);
                char what[160];
                snprintf(what, sizeof what, "%s case %d on %s: output", def->name, k, devices[d]);
                compare(what, one.out, ref.out, one.n_out, 0);
                if (two.ok) {
                    snprintf(what, sizeof what, "%s case %d on %s: output at 2 threads", def->name,
                             k, devices[d]);
                    compare(what, two.out, one.out, one.n_out, 1);
                }
                for (int i = 0; i < c.n_in; i++) {
                    if (!ref.grad[i]) continue;
                    CHECK_MSG(one.grad[i] != NULL, "%s case %d on %s: no gradient for input %d",
                              def->name, k, devices[d], i);
                    if (!one.grad[i]) continue;
                    snprintf(what, sizeof what, "%s case %d on %s: gradient %d", def->name, k,
                             devices[d], i);
                    compare(what, one.grad[i], ref.grad[i], ref.n_grad[i], 0);
                    if (two.ok && two.grad[i]) {
                        snprintf(what, sizeof what, "%s case %d on %s: gradient %d at 2 threads",
                                 def->name, k, devices[d], i);
                        compare(what, two.grad[i], one.grad[i], one.n_grad[i], 1);
                    }
                }
                runs += 2;
                run_free(&one);
                run_free(&two);
            }
            run_free(&ref);
            nb_ctx_free(gen);
        }
    }
    printf("     %d ops, %d runs compared with cpu:ref\n", ops, runs);
    CHECK(ops > 50);
    if (saved < 2) CHECK_OK(nb_set_threads(saved));
}

/* ---- the threaded entries on inputs large enough to be split ---------------------------- */

static float *filled(int64_t n, nb_rng *rng, float lo, float hi) {
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = nb_rng_uniform_range(rng, lo, hi);
    return p;
}

/* The optimizer updates and batch norm split their work over the pool: at budgets of 1, 2
 * and 3 threads they give the bits of the single-threaded reference kernels. */
static void test_threaded_entries(void) {
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(3));
    nb_rng rng;
    nb_rng_seed(&rng, 77);
    const int64_t n = 300007;
    float *p0 = filled(n, &rng, -1, 1), *g = filled(n, &rng, -1, 1), *s0 = filled(n, &rng, 0, 1);
    float *p = malloc((size_t)n * 4), *s[3], *pr = malloc((size_t)n * 4), *sr[3];
    for (int k = 0; k < 3; k++) {
        s[k] = malloc((size_t)n * 4);
        sr[k] = malloc((size_t)n * 4);
    }
    const nbi_update ups[4] = {
        {.kind = NBI_UPDATE_SGD, .nlr = -0.1f, .wd = 0.01f, .mu = 0.9f, .keep = 1.0f},
        {.kind = NBI_UPDATE_ADAM,
         .nlr = -0.01f,
         .eps = 1e-8f,
         .b1 = 0.9f,
         .c1 = 0.1f,
         .b2 = 0.999f,
         .c2 = 0.001f,
         .bc2 = 0.05f,
         .amsgrad = 1},
        {.kind = NBI_UPDATE_RMSPROP,
         .nlr = -0.01f,
         .eps = 1e-8f,
         .mu = 0.5f,
         .a = 0.99f,
         .ca = 0.01f,
         .centered = 1},
        {.kind = NBI_UPDATE_ADAGRAD, .nlr = -0.01f, .eps = 1e-10f, .wd = 0.1f},
    };
    for (int u = 0; u < 4; u++) {
        memcpy(pr, p0, (size_t)n * 4);
        for (int k = 0; k < 3; k++) memcpy(sr[k], s0, (size_t)n * 4);
        nbi_ref_optim_update(&ups[u], n, pr, g, sr[0], sr[1], sr[2]);
        for (int budget = 1; budget <= 3; budget++) {
            nbi_backend be;
            CHECK_OK(nbi_backend_init(&be, "cpu", budget, "test"));
            memcpy(p, p0, (size_t)n * 4);
            for (int k = 0; k < 3; k++) memcpy(s[k], s0, (size_t)n * 4);
            be.optim_update(&be, &ups[u], n, p, g, s[0], s[1], s[2]);
            CHECK_MSG(memcmp(p, pr, (size_t)n * 4) == 0 && memcmp(s[0], sr[0], (size_t)n * 4) == 0,
                      "update kind %d at %d threads differs from the reference", u, budget);
        }
    }
    /* batch norm of x [8, 16, 2500]: statistics, normalisation, backward */
    const nbi_bn geo = {.N = 8, .C = 16, .S = 2500, .training = 1, .eps = 1e-5f};
    const int64_t m = geo.N * geo.C * geo.S;
    float *x = filled(m, &rng, -2, 2), *gy = filled(m, &rng, -1, 1);
    float mean[16], inv[16], meanr[16], invr[16], dw[16], db[16], dwr[16], dbr[16];
    float *y = calloc((size_t)m, 4), *yr = calloc((size_t)m, 4);
    float *dx = calloc((size_t)m, 4), *dxr = calloc((size_t)m, 4);
    nbi_ref_bn_stats(&geo, 0, 16, x, meanr, invr);
    nbi_ref_bn_apply(&geo, 0, 16, x, meanr, invr, NULL, NULL, yr);
    memset(dwr, 0, sizeof dwr);
    memset(dbr, 0, sizeof dbr);
    nbi_ref_bn_backward(&geo, 0, 16, x, gy, meanr, invr, NULL, dxr, dwr, dbr);
    for (int budget = 1; budget <= 3; budget++) {
        nbi_backend be;
        CHECK_OK(nbi_backend_init(&be, "cpu", budget, "test"));
        memset(dx, 0, (size_t)m * 4);
        memset(dw, 0, sizeof dw);
        memset(db, 0, sizeof db);
        be.bn_stats(&be, &geo, x, mean, inv);
        be.bn_apply(&be, &geo, x, mean, inv, NULL, NULL, y);
        be.bn_backward(&be, &geo, x, gy, mean, inv, NULL, dx, dw, db);
        CHECK_MSG(!memcmp(mean, meanr, sizeof mean) && !memcmp(inv, invr, sizeof inv) &&
                      !memcmp(y, yr, (size_t)m * 4) && !memcmp(dx, dxr, (size_t)m * 4) &&
                      !memcmp(dw, dwr, sizeof dw) && !memcmp(db, dbr, sizeof db),
                  "batch norm at %d threads differs from the reference", budget);
    }
    free(p0);
    free(g);
    free(s0);
    free(p);
    free(pr);
    for (int k = 0; k < 3; k++) {
        free(s[k]);
        free(sr[k]);
    }
    free(x);
    free(gy);
    free(y);
    free(yr);
    free(dx);
    free(dxr);
    CHECK_OK(nb_set_threads(saved));
}

/* ---- batch norm in phases (synchronised batch norm's entries) ----------------------------- */

/* One geometry: the reference single-pass entries, against the phases (bn_sum_x, bn_sum_sq,
 * bn_var; bn_grad_sums, bn_grad_x) with nothing summed between them, from the reference
 * kernels and from the CPU back end at budgets of 1, 2 and 3 threads: the same bits for the
 * statistics, the running statistics, dx, dγ and dβ. */
static void bn_phases_case(nbi_bn geo, nb_rng *rng) {
    const int64_t C = geo.C, m = geo.N * geo.C * geo.S;
    const double M = (double)(geo.N * geo.S);
    float *x = filled(m, rng, -2, 2), *gy = filled(m, rng, -1, 1), *w = filled(C, rng, 0.5f, 1.5f);
    float *rm0 = filled(C, rng, -0.5f, 0.5f), *rv0 = filled(C, rng, 0.5f, 2.0f);
    /* per channel: mean, invstd, running mean, running var, dγ, dβ (want, got) */
    float *f = calloc((size_t)(12 * C), sizeof *f);
    float *mr = f, *ir = f + C, *rmr = f + 2 * C, *rvr = f + 3 * C, *dwr = f + 4 * C,
          *dbr = f + 5 * C;
    float *mg = f + 6 * C, *ig = f + 7 * C, *rmg = f + 8 * C, *rvg = f + 9 * C, *dwg = f + 10 * C,
          *dbg = f + 11 * C;
    double *sx = calloc((size_t)(4 * C), sizeof *sx), *sq = sx + C, *sums = sx + 2 * C;
    float *dxr = calloc((size_t)m, 4), *dxg = calloc((size_t)m, 4);
    memcpy(rmr, rm0, (size_t)C * 4);
    memcpy(rvr, rv0, (size_t)C * 4);
    nbi_bn gr = geo;
    gr.run_mean = rmr;
    gr.run_var = rvr;
    nbi_ref_bn_stats(&gr, 0, C, x, mr, ir);
    nbi_ref_bn_backward(&gr, 0, C, x, gy, mr, ir, w, dxr, dwr, dbr);
    for (int budget = 0; budget <= 3; budget++) { /* 0: the reference phases themselves */
        nbi_backend be;
        CHECK_OK(nbi_backend_init(&be, "cpu", budget ? budget : 1, "test"));
        memcpy(rmg, rm0, (size_t)C * 4);
        memcpy(rvg, rv0, (size_t)C * 4);
        memset(dwg, 0, (size_t)C * 4);
        memset(dbg, 0, (size_t)C * 4);
        memset(dxg, 0, (size_t)m * 4);
        nbi_bn gg = geo;
        gg.run_mean = rmg;
        gg.run_var = rvg;
        if (budget == 0) {
            nbi_ref_bn_sum_x(&gg, 0, C, x, sx);
            nbi_ref_bn_sum_sq(&gg, 0, C, x, sx, M, mg, sq);
            nbi_ref_bn_var(&gg, 0, C, sq, M, mg, ig);
            nbi_ref_bn_grad_sums(&gg, 0, C, x, gy, mg, ig, dwg, dbg, sums);
            nbi_ref_bn_grad_x(&gg, 0, C, x, gy, mg, ig, w, sums, M, dxg);
        } else {
            be.bn_sum_x(&be, &gg, x, sx);
            be.bn_sum_sq(&be, &gg, x, sx, M, mg, sq);
            be.bn_var(&be, &gg, sq, M, mg, ig);
            be.bn_grad_sums(&be, &gg, x, gy, mg, ig, dwg, dbg, sums);
            be.bn_grad_x(&be, &gg, x, gy, mg, ig, w, sums, M, dxg);
        }
        CHECK_MSG(!memcmp(mg, mr, (size_t)(6 * C) * 4) && !memcmp(dxg, dxr, (size_t)m * 4),
                  "batch norm [%lld, %lld, %lld] in phases (%s, %d threads) differs from the "
                  "single-pass reference",
                  (long long)geo.N, (long long)C, (long long)geo.S, budget ? "cpu" : "ref",
                  budget ? budget : 1);
    }
    free(x);
    free(gy);
    free(w);
    free(rm0);
    free(rv0);
    free(f);
    free(sx);
    free(dxr);
    free(dxg);
}

static void test_bn_phases(void) {
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(3));
    nb_rng rng;
    nb_rng_seed(&rng, 78);
    bn_phases_case((nbi_bn){.N = 3, .C = 5, .S = 37, .training = 1, .eps = 1e-5f, .momentum = 0.1f},
                   &rng); /* odd sizes: the blocks of 16 and their tails */
    bn_phases_case(
        (nbi_bn){.N = 8, .C = 16, .S = 2500, .training = 1, .eps = 1e-5f, .momentum = 0.1f},
        &rng); /* large enough to be split over the pool */
    CHECK_OK(nb_set_threads(saved));
}

/* ---- NaN propagation ------------------------------------------------------------------------ */

static int all_nan(const nb_tensor *t) {
    if (!t) return 0;
    for (int64_t i = 0; i < t->numel; i++)
        if (!isnan(nb_f32(t)[i])) return 0;
    return 1;
}

static void test_nan_propagation(void) {
    const float nan = NAN;
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.device = devices[d], .check = -1});
        if (!ctx) continue;
        const char *dev = devices[d];
        float v3[3] = {1.0f, nan, 3.0f};
        nb_tensor *x = nb_tensor_copy_of(ctx, v3, NB_DIMS(1, 3));
        CHECK_MSG(all_nan(nb_max(ctx, x, NB_ALL_AXES, 0)), "%s: max", dev);
        nb_tensor *am = nb_argmax(ctx, x, -1, 0);
        CHECK_MSG(am && nb_i32(am)[0] == 1, "%s: argmax points at the NaN, as PyTorch", dev);
        CHECK_MSG(all_nan(nb_sum(ctx, x, NB_ALL_AXES, 0)), "%s: sum", dev);
        CHECK_MSG(all_nan(nb_softmax(ctx, x, -1)), "%s: softmax", dev);
        CHECK_MSG(all_nan(nb_log_softmax(ctx, x, -1)), "%s: log_softmax", dev);
        nb_tensor *r = nb_relu(ctx, x);
        CHECK_MSG(r && isnan(nb_f32(r)[1]), "%s: relu", dev);
        nb_tensor *cl = nb_clamp(ctx, x, 0.0f, 2.0f);
        CHECK_MSG(cl && isnan(nb_f32(cl)[1]), "%s: clamp", dev);
        CHECK_MSG(all_nan(nb_mse_loss(ctx, x, nb_zeros(ctx, NB_DIMS(1, 3)), NB_REDUCE_MEAN)),
                  "%s: mse", dev);
        CHECK_MSG(all_nan(nb_bce_logits_loss(ctx, x, nb_ones(ctx, NB_DIMS(1, 3)), NB_REDUCE_SUM)),
                  "%s: bce with logits", dev);
        nb_rng rng;
        nb_rng_seed(&rng, 1);
        nb_tensor *nx = nb_full(ctx, NB_DIMS(64), nan);
        CHECK_MSG(all_nan(nb_dropout(ctx, nx, 0.5f, 1, &rng)), "%s: dropout keeps NaN", dev);
        /* pooling: the 2x2 stride-2 path and the general one */
        float img[16];
        for (int i = 0; i < 16; i++) img[i] = (float)i;
        img[5] = nan;
        nb_tensor *im = nb_tensor_copy_of(ctx, img, NB_DIMS(1, 1, 4, 4));
        nb_tensor *p2 = nb_max_pool2d(ctx, im, &(nb_pool_opts){.kernel = {2, 2}});
        CHECK_MSG(p2 && isnan(nb_f32(p2)[0]) && !isnan(nb_f32(p2)[3]), "%s: max_pool2d 2x2", dev);
        nb_tensor *p3 = nb_max_pool2d(ctx, im, &(nb_pool_opts){.kernel = {3, 3}, .stride = {1, 1}});
        CHECK_MSG(all_nan(p3), "%s: max_pool2d 3x3 (every window holds the NaN)", dev);
        CHECK_MSG(all_nan(nb_avg_pool2d(ctx, im, &(nb_pool_opts){.kernel = {4, 4}})),
                  "%s: avg_pool2d", dev);
        /* a convolution with a fused ReLU: NaN reaches every output that reads it */
        nb_tensor *w = nb_ones(ctx, NB_DIMS(1, 1, 2, 2));
        nb_tensor *cv = nb_conv2d(ctx, im, w, NULL, &(nb_conv_opts){.relu = 1});
        CHECK_MSG(cv && isnan(nb_f32(cv)[0]) && isnan(nb_f32(cv)[4]) && !isnan(nb_f32(cv)[8]),
                  "%s: conv2d with fused relu", dev);
        /* batch norm: the NaN poisons its channel's statistics, so the whole channel */
        float bnx[6] = {1.0f, 5.0f, nan, 6.0f, 2.0f, 7.0f};
        nb_tensor *bx = nb_tensor_copy_of(ctx, bnx, NB_DIMS(3, 2));
        nb_tensor *bn = nb_batch_norm(ctx, bx, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f);
        CHECK_MSG(bn && isnan(nb_f32(bn)[0]) && isnan(nb_f32(bn)[4]) && !isnan(nb_f32(bn)[1]),
                  "%s: batch_norm", dev);
        /* attention: a NaN key poisons every query that sees it, a NaN query its own row,
         * as PyTorch's softmax does (the vector kernels masked a NaN score to weight 0, and
         * every kernel set took a row of NaN scores for one that sees no key: output 0).
         * 2 queries, 37 keys (more than one tile of the vector kernels), d = dv = 4. */
        float qa[2 * 4], ka[37 * 4], va[37 * 4];
        for (int i = 0; i < 8; i++) qa[i] = 0.1f * (float)i;
        for (int i = 0; i < 37 * 4; i++) ka[i] = 0.01f * (float)(i % 13), va[i] = (float)(i % 7);
        for (int t = 0; t < 3; t++) {
            float qt[8], kt[37 * 4];
            memcpy(qt, qa, sizeof qt);
            memcpy(kt, ka, sizeof kt);
            if (t == 0) kt[35 * 4 + 2] = nan; /* key 35: in the second tile */
            if (t == 1) kt[1 * 4] = nan;      /* key 1: in the first */
            if (t == 2) qt[4 + 3] = nan;      /* query 1 */
            nb_tensor *aq = nb_tensor_copy_of(ctx, qt, NB_DIMS(1, 1, 2, 4));
            nb_tensor *ak = nb_tensor_copy_of(ctx, kt, NB_DIMS(1, 1, 37, 4));
            nb_tensor *av = nb_tensor_copy_of(ctx, va, NB_DIMS(1, 1, 37, 4));
            nb_tensor *ao = nb_attention(ctx, aq, ak, av, NULL, NULL);
            CHECK_MSG(ao && ao->numel == 8, "%s: attention", dev);
            for (int i = 0; ao && i < 8; i++) {
                bool want_nan = t < 2 || i >= 4;
                CHECK_MSG(isnan(nb_f32(ao)[i]) == want_nan,
                          "%s: attention, NaN in %s: output %d is %g", dev,
                          t == 2 ? "query 1"
                          : t    ? "key 1"
                                 : "key 35",
                          i, (double)nb_f32(ao)[i]);
            }
        }
        CHECK_MSG(nb_ctx_status(ctx) == NB_OK, "%s: %s", dev, nb_last_error());
        nb_ctx_free(ctx);
    }
}

static const nbt_case cases[] = {
    {"devices", test_devices},
    {"bad_devices", test_bad_devices},
    {"same_op_every_device", test_same_op_every_device},
    {"cpu_memory", test_cpu_memory},
    {"parity", test_parity},
    {"threaded_entries", test_threaded_entries},
    {"bn_phases", test_bn_phases},
    {"nan_propagation", test_nan_propagation},
};
NBT_MAIN(cases)
