/* test_backend — back ends chosen per context: device names (nb_ctx_opts.device), the thread
 * budget (nb_ctx_opts.threads), the errors for a device that does not exist or that this CPU
 * cannot run, and the CPU back end's memory entries. */
#include "nbtest.h"

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

static const nbt_case cases[] = {
    {"devices", test_devices},
    {"bad_devices", test_bad_devices},
    {"same_op_every_device", test_same_op_every_device},
    {"cpu_memory", test_cpu_memory},
};
NBT_MAIN(cases)
