/* tests/test_model_file.c — safetensors files and model files: the byte layout, hostile
 * files (every check of the reader, truncations and corruptions, bounded allocations), the
 * bit-exact save → load round trip of weights, optimizer state, generator and metadata
 * (and identical training afterwards), PyTorch names and layout, loading weights into a model
 * built from a spec, and saves that fail midway (a write refused by the file-size limit, an
 * allocation that fails) leaving the previous file intact and no temporary file behind. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <dirent.h>
#include <stdbool.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static void make_tmpdir(void) {
    if (tmpdir[0]) return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla-mf-XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
}

static const char *tmp(const char *name) {
    static char buf[4][160];
    static int k;
    make_tmpdir();
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* Files in tmpdir whose names start with prefix. */
static int count_files(const char *prefix) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (d) closedir(d);
    return n;
}

/* ---- a counting, failing allocator ------------------------------------------------------- */

static atomic_long calls, fail_at;
static atomic_size_t biggest;

static void *test_alloc(size_t size, size_t align, void *user) {
    (void)user;
    long k = atomic_fetch_add(&calls, 1) + 1;
    size_t m = atomic_load(&biggest);
    while (size > m && !atomic_compare_exchange_weak(&biggest, &m, size)) {
    }
    if (k == atomic_load(&fail_at)) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    return p;
}

static void test_free(void *p, void *user) {
    (void)user;
    free(p);
}

static void alloc_on(long fail) {
    atomic_store(&calls, 0);
    atomic_store(&fail_at, fail);
    atomic_store(&biggest, 0);
    nb_set_allocator(&(nb_allocator){test_alloc, test_free, NULL});
}

static void alloc_off(void) {
    nb_set_allocator(NULL);
}

/* ---- safetensors ------------------------------------------------------------------------- */

static void test_st_round_trip(void) {
    float f[6] = {1.5f, -2, 3, 0.25f, -0.0f, 1e-30f};
    int32_t i32[3] = {-1, 7, 1 << 30};
    uint8_t u8[5] = {0, 1, 2, 254, 255};
    double f64[2] = {1.0 / 3.0, -1e300};
    int64_t i64[1] = {-((int64_t)1 << 40)};
    nb_array a[5] = {
        {.type = NB_ELEM_F32, .rank = 2, .shape = {2, 3}, .numel = 6, .data = f},
        {.type = NB_ELEM_I32, .rank = 1, .shape = {3}, .numel = 3, .data = i32},
        {.type = NB_ELEM_U8, .rank = 3, .shape = {1, 5, 1}, .numel = 5, .data = u8},
        {.type = NB_ELEM_F64, .rank = 0, .numel = 1, .data = f64},
        {.type = NB_ELEM_I64, .rank = 2, .shape = {1, 0}, .numel = 0, .data = i64},
    };
    a[3].rank = 1;
    a[3].shape[0] = 2;
    a[3].numel = 2;
    const char *names[5] = {"w", "labels", "bytes", "doubles", "empty"};
    const char *meta[4] = {"k\"ey", "v\nal\\ue", "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac"};
    const char *path = tmp("rt.safetensors");
    CHECK_OK(nb_safetensors_write(path, 5, names, a, 2, meta));

    size_t len;
    unsigned char *raw = slurp(path, &len);
    CHECK(raw && len >= 8);
    if (!raw) return;
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | raw[i];
    CHECK((8 + h) % 8 == 0); /* the data starts 8-aligned */
    CHECK(len == 8 + h + 24 + 12 + 5 + 16 + 0);
    CHECK(raw[8] == '{' && (raw[8 + h - 1] == ' ' || raw[8 + h - 1] == '}'));
    /* the first tensor's bytes come first, little-endian */
    float f0;
    memcpy(&f0, raw + 8 + h, 4);
    CHECK(f0 == 1.5f);
    free(raw);

    nb_safetensors *st = NULL;
    CHECK_OK(nb_safetensors_read(path, &st));
    if (!st) return;
    CHECK(nb_safetensors_count(st) == 5);
    CHECK(!strcmp(nb_safetensors_meta(st, "k\"ey"), "v\nal\\ue"));
    CHECK(!strcmp(nb_safetensors_meta(st, "\xc3\xa9t\xc3\xa9"), "\xe2\x82\xac"));
    CHECK(nb_safetensors_meta_count(st) == 2 && nb_safetensors_meta(st, "x") == NULL);
    for (int i = 0; i < 5; i++) {
        int k = nb_safetensors_find(st, names[i]);
        CHECK(k == i);
        nb_array b;
        CHECK_OK(nb_safetensors_get(st, k, &b));
        CHECK(b.type == a[i].type && b.rank == a[i].rank && b.numel == a[i].numel);
        for (int d = 0; d < b.rank; d++) CHECK(b.shape[d] == a[i].shape[d]);
        if (b.numel) CHECK(!memcmp(b.data, a[i].data, (size_t)b.numel * nb_elem_size(b.type)));
        nb_array_free(&b);
    }
    const char *dt;
    int64_t shape[NB_MAX_RANK];
    CHECK(nb_safetensors_shape(st, 0, &dt, shape) == 2 && !strcmp(dt, "F32") && shape[1] == 3);
    CHECK(nb_safetensors_shape(st, 9, &dt, shape) == -1);
    nb_safetensors_free(st);

    /* halves are written as F16 and read back widened to f32 */
    uint16_t hv[3] = {0x3C00, 0xC100, 0x0001}; /* 1, -2.5, 2^-24 */
    nb_array ha = {.type = NB_ELEM_F16, .rank = 1, .shape = {3}, .numel = 3, .data = hv};
    const char *hname[1] = {"halves"};
    CHECK_OK(nb_safetensors_write(path, 1, hname, &ha, 0, NULL));
    CHECK_OK(nb_safetensors_read(path, &st));
    if (st) {
        CHECK(nb_safetensors_shape(st, 0, &dt, shape) == 1 && !strcmp(dt, "F16") && shape[0] == 3);
        nb_array b;
        CHECK_OK(nb_safetensors_get(st, 0, &b));
        CHECK(b.type == NB_ELEM_F32 && b.numel == 3 && ((float *)b.data)[0] == 1.0f &&
              ((float *)b.data)[1] == -2.5f && ((float *)b.data)[2] == 0x1p-24f);
        nb_array_free(&b);
        nb_safetensors_free(st);
    }

    /* writer checks */
    const char *dup[2] = {"a", "a"};
    CHECK(nb_safetensors_write(path, 2, dup, a, 0, NULL) == NB_ERR_ARG);
    const char *res[1] = {"__metadata__"};
    CHECK(nb_safetensors_write(path, 1, res, a, 0, NULL) == NB_ERR_ARG);
    nb_array bad = a[0];
    bad.numel = 5;
    CHECK(nb_safetensors_write(path, 1, names, &bad, 0, NULL) == NB_ERR_ARG);
}

/* F16, BF16 and BOOL convert; U16 is refused with a message. Written by hand. */
static nb_status parse_text(const char *json, const unsigned char *data, size_t dlen,
                            nb_safetensors **st, unsigned char **keep) {
    size_t h = strlen(json);
    unsigned char *b = malloc(8 + h + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    *keep = b;
    return nb_safetensors_parse(b, 8 + h + dlen, "t.st", st);
}

static void test_st_dtypes(void) {
    /* F16: 1.0 = 0x3C00, -2.5 = 0xC100, 2^-24 = 0x0001, inf = 0x7C00; BF16: 1.0 = 0x3F80 */
    unsigned char d[] = {0x00, 0x3C, 0x00, 0xC1, 0x01, 0x00, 0x00,
                         0x7C, 0x80, 0x3F, 1,    0,    0x34, 0x12};
    const char *j = "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[8,10]},"
                    "\"q\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[10,12]},"
                    "\"u\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[12,14]}}";
    nb_safetensors *st;
    unsigned char *keep;
    CHECK_OK(parse_text(j, d, sizeof d, &st, &keep));
    nb_array a;
    CHECK_OK(nb_safetensors_get(st, 0, &a));
    float *f = a.data;
    CHECK(a.type == NB_ELEM_F32 && f[0] == 1.0f && f[1] == -2.5f && f[2] == ldexpf(1, -24) &&
          isinf(f[3]));
    nb_array_free(&a);
    CHECK_OK(nb_safetensors_get(st, 1, &a));
    CHECK(a.rank == 0 && a.numel == 1 && ((float *)a.data)[0] == 1.0f);
    nb_array_free(&a);
    CHECK_OK(nb_safetensors_get(st, 2, &a));
    CHECK(a.type == NB_ELEM_U8 && ((uint8_t *)a.data)[0] == 1);
    nb_array_free(&a);
    CHECK(nb_safetensors_get(st, 3, &a) == NB_ERR_UNSUPPORTED && !a.data);
    CHECK(strstr(nb_last_error(), "U16") != NULL);
    nb_safetensors_free(st);
    free(keep);
}

typedef struct hostile {
    const char *json; /* NULL: raw bytes below */
    size_t data_len;  /* zero bytes of data after the header */
    nb_status status;
    const char *msg;
} hostile;

static void test_st_hostile(void) {
    static const hostile cases[] = {
        {"", 0, NB_ERR_FORMAT, "expected the JSON header to start with '{'"},
        {"[]", 0, NB_ERR_FORMAT, "start with '{'"},
        {"{", 0, NB_ERR_FORMAT, "expected a string (a tensor name), but the JSON header ends"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, NB_ERR_FORMAT,
         "expected '}' or ',' in the header"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, NB_ERR_FORMAT,
         "expected a string (a tensor name) at byte"},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NB_ERR_UNSUPPORTED,
         "tensor 'a' has dtype 'F33'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, NB_ERR_FORMAT,
         "tensor 'a' (F32, 1 dimensions) needs a different number of bytes but its "
         "data_offsets span 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, NB_ERR_FORMAT,
         "data_offsets [0, 8] outside the data section of 4 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, NB_ERR_FORMAT,
         "data_offsets [4, 0] outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, NB_ERR_FORMAT, "starts at byte 0 of the data, where 4 was expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, NB_ERR_FORMAT,
         "tensor 'a' starts at byte 4 of the data, where 0 was expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6, NB_ERR_FORMAT,
         "the tensors cover 4 bytes of a 6-byte data section"},
        {"{}", 3, NB_ERR_FORMAT, "3 bytes of data follow a header that names no tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, NB_ERR_FORMAT, "tensor 'a' appears twice"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, NB_ERR_FORMAT,
         "metadata key 'k' appears twice"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, NB_ERR_FORMAT,
         "__metadata__ appears twice"},
        {"{\"__metadata__\":{\"k\":1}}", 0, NB_ERR_FORMAT,
         "expected a string value for metadata key 'k'"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,0]}}",
         0, NB_ERR_FORMAT, "needs more than 2^64 bytes"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, NB_ERR_FORMAT,
         "expected a non-negative integer (a dimension of the shape)"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1, NB_ERR_FORMAT,
         "expected an integer, without fraction or exponent"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", 1, NB_ERR_FORMAT,
         "a number with a leading zero"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,1]}}", 1,
         NB_ERR_FORMAT, "an integer larger than 2^64 - 1"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
         NB_ERR_UNSUPPORTED, "more than 8 dimensions"},
        {"{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, NB_ERR_FORMAT,
         "\\u0000 is not allowed"},
        {"{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, NB_ERR_FORMAT,
         "invalid UTF-8"},
        {"{\"\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, NB_ERR_FORMAT,
         "invalid UTF-8"},
        {"{\"a\\ud800\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, NB_ERR_FORMAT,
         "high surrogate"},
        {"{\"a\\q\":{}}", 0, NB_ERR_FORMAT, "unknown escape"},
        {"{\"a\tb\":{}}", 0, NB_ERR_FORMAT, "a control character must be escaped"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[]}}", 0, NB_ERR_FORMAT,
         "the entry of tensor 'a' has no 'data_offsets'"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1],\"x\":1}}", 1, NB_ERR_FORMAT,
         "unknown key 'x' in the entry of tensor 'a'"},
        {"{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\"}}", 0, NB_ERR_FORMAT,
         "key 'dtype' appears twice"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}} x", 1, NB_ERR_FORMAT,
         "expected only padding (spaces) after the header's object"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0 1]}}", 1, NB_ERR_FORMAT,
         "expected ',' between the two offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1,2]}}", 1, NB_ERR_FORMAT,
         "expected ']' after the two offsets"},
        {"{\"a\":null}", 0, NB_ERR_FORMAT, "expected '{' to open a tensor's entry"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char zeros[16] = {0};
        nb_safetensors *st = (nb_safetensors *)1;
        unsigned char *keep;
        alloc_on(0);
        nb_status s = parse_text(cases[i].json, zeros, cases[i].data_len, &st, &keep);
        size_t big = atomic_load(&biggest);
        alloc_off();
        CHECK_MSG(s == cases[i].status, "case %zu: %s, expected %s (%s)", i, nb_status_str(s),
                  nb_status_str(cases[i].status), nb_last_error());
        CHECK_MSG(strstr(nb_last_error(), cases[i].msg) && strstr(nb_last_error(), "t.st"),
                  "case %zu: message\n    %s\n  does not contain\n    %s", i, nb_last_error(),
                  cases[i].msg);
        CHECK(st == NULL);
        CHECK_MSG(big < 4096, "case %zu allocated %zu bytes at once", i, big);
        free(keep);
    }
    /* the length prefix itself */
    unsigned char b[16] = {0};
    nb_safetensors *st;
    CHECK(nb_safetensors_parse(b, 7, "t.st", &st) == NB_ERR_FORMAT);
    CHECK(strstr(nb_last_error(), "7 bytes is too short"));
    b[0] = 9; /* claims 9 bytes of header, 8 follow */
    CHECK(nb_safetensors_parse(b, 16, "t.st", &st) == NB_ERR_FORMAT);
    CHECK(strstr(nb_last_error(), "the header length 9 exceeds the 8 bytes"));
    memset(b, 0xff, 8); /* 2^64 - 1 */
    CHECK(nb_safetensors_parse(b, 16, "t.st", &st) == NB_ERR_FORMAT);
    CHECK(strstr(nb_last_error(), "exceeds"));
    /* the empty file: no header, no tensors */
    unsigned char *keep;
    CHECK_OK(parse_text("{}  ", NULL, 0, &st, &keep));
    CHECK(nb_safetensors_count(st) == 0);
    nb_safetensors_free(st);
    free(keep);
}

/* Every prefix of a good file is refused cleanly; every single-byte change either parses
 * or is refused, and never reads outside the buffer (ASan) or allocates much. */
static void test_st_truncations_and_flips(void) {
    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i;
    nb_array a[2] = {{.type = NB_ELEM_F32, .rank = 2, .shape = {3, 4}, .numel = 12, .data = w},
                     {.type = NB_ELEM_F32, .rank = 1, .shape = {2}, .numel = 2, .data = w}};
    const char *names[2] = {"0.weight", "0.bias"};
    const char *meta[2] = {"format", "pt"};
    const char *path = tmp("flip.safetensors");
    CHECK_OK(nb_safetensors_write(path, 2, names, a, 1, meta));
    size_t len;
    unsigned char *good = slurp(path, &len);
    if (!good) return;
    for (size_t n = 0; n < len; n++) {
        unsigned char *b = malloc(n ? n : 1);
        memcpy(b, good, n);
        nb_safetensors *st = NULL;
        nb_status s = nb_safetensors_parse(b, n, "cut", &st);
        CHECK_MSG(s == NB_ERR_FORMAT && !st, "prefix of %zu bytes: %s", n, nb_status_str(s));
        free(b);
    }
    nb_rng r;
    nb_rng_seed(&r, 11);
    for (int k = 0; k < 3000; k++) {
        unsigned char *b = malloc(len);
        memcpy(b, good, len);
        size_t at = (size_t)nb_rng_below(&r, len);
        b[at] = (unsigned char)nb_rng_below(&r, 256);
        nb_safetensors *st = NULL;
        alloc_on(0);
        nb_status s = nb_safetensors_parse(b, len, "flip", &st);
        size_t big = atomic_load(&biggest);
        alloc_off();
        CHECK(s == NB_OK || s == NB_ERR_FORMAT || s == NB_ERR_UNSUPPORTED);
        CHECK((s == NB_OK) == (st != NULL));
        CHECK_MSG(big <= 2 * len + 4096, "allocated %zu bytes at once for a %zu-byte file", big,
                  len);
        for (int i = 0; st && i < nb_safetensors_count(st); i++) {
            nb_array x;
            if (nb_safetensors_get(st, i, &x) == NB_OK) nb_array_free(&x);
        }
        nb_safetensors_free(st);
        free(b);
    }
    free(good);
}

/* ---- model files ---------------------------------------------------------------------- */

static const char mlp_spec[] =
    "nabla-spec 1\ninput 6\ndense 5 tanh\ndense 4\nactivation relu\ndense 3 sigmoid "
    "name=head\nloss mse\n";

static nb_spec *spec_of(const char *text) {
    nb_spec *s = NULL;
    CHECK_OK(nb_spec_parse(text, strlen(text), "mlp.spec", NULL, &s));
    return s;
}

/* k steps of full-batch MSE training on fixed data. */
static void train(nb_model *m, nb_optim *o, int k) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    float x[4 * 6], y[4 * 3];
    for (int i = 0; i < 24; i++) x[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
    for (int i = 0; i < 12; i++) y[i] = (float)(i % 3) / 3.0f;
    for (int s = 0; s < k; s++) {
        nb_tensor *xt = nb_tensor_from(ctx, NB_F32, x, 2, (int64_t[]){4, 6});
        nb_tensor *yt = nb_tensor_from(ctx, NB_F32, y, 2, (int64_t[]){4, 3});
        nb_optim_zero_grad(o);
        nb_tensor *loss = nb_mse_loss(ctx, nb_model_forward(m, ctx, xt), yt, NB_REDUCE_MEAN);
        CHECK_OK(nb_backward(ctx, loss));
        CHECK_OK(nb_optim_step(o));
        nb_ctx_reset(ctx);
    }
    nb_ctx_free(ctx);
}

static bool same_floats(const float *a, const float *b, int64_t n) {
    return n == 0 || !memcmp(a, b, sizeof(float) * (size_t)n);
}

static void check_same_optim(nb_optim *a, nb_optim *b) {
    CHECK(a && b);
    if (!a || !b) return;
    nb_optim_config ca = nb_optim_get_config(a), cb = nb_optim_get_config(b);
    CHECK(ca.kind == cb.kind && !memcmp(&ca.u, &cb.u, sizeof ca.u) && ca.decay == cb.decay);
    CHECK(nb_optim_step_count(a) == nb_optim_step_count(b));
    CHECK(nb_optim_lr(a) == nb_optim_lr(b));
    CHECK(nb_optim_state_slots(a) == nb_optim_state_slots(b));
    for (int k = 0; k < nb_optim_state_slots(a); k++) {
        int64_t na, nb;
        float *sa = nb_optim_state_buffer(a, k, &na), *sb = nb_optim_state_buffer(b, k, &nb);
        CHECK(na == nb && same_floats(sa, sb, na));
        CHECK(!strcmp(nb_optim_state_name(a, k), nb_optim_state_name(b, k)));
    }
    nb_schedule sa, sb;
    CHECK(nb_optim_get_schedule(a, &sa) == nb_optim_get_schedule(b, &sb));
}

/* Save a trained model with everything, load it, compare bit for bit, train both on. */
static void round_trip_with(const nb_optim_config *cfg, bool sched) {
    nb_spec *spec = spec_of(mlp_spec);
    nb_model *m = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) {
        nb_spec_free(spec);
        return;
    }
    nb_optim *o = nb_optim_new(nb_model_params(m), cfg);
    CHECK_PTR(o);
    if (sched) {
        nb_schedule s = nb_schedule_warmup(nb_schedule_cosine(0.01, 50, 1e-4), 4, 0.2);
        CHECK_OK(nb_optim_set_schedule(o, &s));
    }
    train(m, o, 7);
    nb_rng rng;
    nb_rng_seed(&rng, 99);
    nb_rng_normal(&rng, 0, 1); /* leaves a spare normal */
    nb_norm norm = {0};
    float shift[6] = {0.1f, -0.2f, 0.3f, 1e-7f, 5, 0}, div[6] = {1, 2, 3, 0.1f, 7, 1.0f / 3};
    CHECK_OK(nb_norm_set(&norm, NB_NORM_STANDARD, 1, 6, shift, div));
    const char *classes[3] = {"cat", "dog", "a b"};
    const char *meta[2] = {"author", "test"};
    nb_rng drng;
    nb_rng_seed(&drng, 5);
    nb_train_state run = {.epoch = 3,
                          .step = 21,
                          .shuffle_rng = rng,
                          .dropout_rng = drng,
                          .best = 0.1 + 0.2,
                          .best_epoch = 2,
                          .wait = 1,
                          .stopped = 1};
    nb_save_opts so = {.spec = spec,
                       .norm = &norm,
                       .optim = o,
                       .run = &run,
                       .monitor = "val_loss",
                       .meta = meta,
                       .n_meta = 1};
    CHECK_OK(nb_model_set_classes(m, classes, 3));
    const char *path = tmp("ckpt.safetensors");
    CHECK_OK(nb_model_save(m, path, &so));

    nb_model *m2 = NULL;
    nb_model_file info;
    CHECK_OK(nb_model_load(path, &m2, &info));
    if (m2) {
        nb_params *p1 = nb_model_params(m), *p2 = nb_model_params(m2);
        CHECK(nb_params_numel(p1) == nb_params_numel(p2));
        CHECK(same_floats(nb_params_data(p1), nb_params_data(p2), nb_params_numel(p1)));
        for (int i = 0; i < nb_model_layer_count(m); i++)
            CHECK(!strcmp(nb_model_layer_name(m, i), nb_model_layer_name(m2, i)));
        CHECK(info.format_version == 1);
        const nb_train_state *r = &info.run;
        CHECK(info.has_run && r->epoch == 3 && r->step == 21 && r->best_epoch == 2);
        CHECK(r->wait == 1 && r->stopped == 1);
        CHECK(!memcmp(r->shuffle_rng.s, rng.s, sizeof rng.s));
        CHECK(r->shuffle_rng.has_spare == rng.has_spare && r->shuffle_rng.spare == rng.spare);
        CHECK(!memcmp(&r->dropout_rng, &drng, sizeof drng));
        nb_rng r2 = r->shuffle_rng;
        CHECK(nb_rng_normal(&r2, 0, 1) == nb_rng_normal(&rng, 0, 1));
        CHECK(r->best == 0.1 + 0.2 && !strcmp(info.monitor, "val_loss"));
        CHECK(nb_model_class_count(m2) == 3 && !strcmp(nb_model_class_name(m2, 2), "a b"));
        CHECK(info.norm.kind == NB_NORM_STANDARD && info.norm.per_feature && info.norm.n == 6);
        CHECK(same_floats(info.norm.shift, shift, 6) && same_floats(info.norm.div, div, 6));
        CHECK(info.spec && info.spec->has_loss && !strcmp(info.spec->loss, "mse"));
        CHECK(info.spec_text && strstr(info.spec_text, "dense 3 sigmoid name=head\n"));
        check_same_optim(o, info.optim);
        /* training on from both gives the same weights, bit for bit */
        if (info.optim) {
            train(m, o, 5);
            train(m2, info.optim, 5);
            CHECK(same_floats(nb_params_data(p1), nb_params_data(p2), nb_params_numel(p1)));
            check_same_optim(o, info.optim);
        }
        nb_safetensors *st;
        CHECK_OK(nb_safetensors_read(path, &st));
        CHECK(!strcmp(nb_safetensors_meta(st, "author"), "test"));
        CHECK(!strcmp(nb_safetensors_meta(st, "format"), "pt"));
        nb_safetensors_free(st);
    }
    nb_model_file_free(&info);
    nb_model_free(m2);
    nb_norm_free(&norm);
    nb_optim_free(o);
    nb_model_free(m);
    nb_spec_free(spec);
}

static void test_round_trip_bit_exact(void) {
    nb_optim_config c = {.kind = NB_OPTIM_ADAM, .u.adam.lr = 0.01};
    c.u.adam.amsgrad = 1;
    round_trip_with(&c, true);
    c = (nb_optim_config){.kind = NB_OPTIM_SGD, .u.sgd.lr = 0.05};
    c.u.sgd.momentum = 0.9;
    c.u.sgd.nesterov = 1;
    round_trip_with(&c, false);
    c = (nb_optim_config){.kind = NB_OPTIM_RMSPROP, .u.rmsprop.lr = 0.003};
    c.u.rmsprop.centered = 1;
    c.u.rmsprop.momentum = 0.3;
    round_trip_with(&c, true);
    c = (nb_optim_config){.kind = NB_OPTIM_ADAGRAD, .u.adagrad.lr = 0.1};
    c.u.adagrad.lr_decay = 0.01;
    round_trip_with(&c, false);
    c = (nb_optim_config){.kind = NB_OPTIM_ADAMW, .u.adam.lr = 1.0 / 3.0};
    round_trip_with(&c, false);
    c.decay = NB_DECAY_MATRICES; /* weight decay on the matrices only: kept by the checkpoint */
    c.u.adam.weight_decay = 0.1;
    round_trip_with(&c, false);
    c = (nb_optim_config){.kind = NB_OPTIM_SGD, .u.sgd.lr = 0.1}; /* no state slots at all */
    round_trip_with(&c, false);
}

/* A CNN with batch normalisation: the running statistics (the model's state) are saved under
 * PyTorch's buffer names, with num_batches_tracked, and come back bit for bit. */
static void test_cnn_state(void) {
    const char *text = "nabla-spec 1\ninput 1 6 6\nconv2d 3 3 relu pad=1\nbatchnorm\n"
                       "maxpool2d 2\nflatten\ndense 2\n";
    nb_spec *spec = spec_of(text);
    nb_model *m = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    /* a few training forwards move the running statistics */
    nb_ctx *ctx = nb_ctx_new(NULL);
    float x[4 * 36];
    for (int i = 0; i < 4 * 36; i++) x[i] = (float)((i * 13) % 17) / 8.0f - 1.0f;
    for (int k = 0; k < 3; k++) {
        nb_tensor *xt = nb_tensor_from(ctx, NB_F32, x, 4, (int64_t[]){4, 1, 6, 6});
        CHECK_PTR(nb_model_forward(m, ctx, xt));
        nb_ctx_reset(ctx);
    }
    nb_params *state = nb_model_state(m);
    CHECK(nb_params_len(state) == 2 && ((float *)nb_params_data(state))[0] != 0.0f);
    const char *path = tmp("cnn.safetensors");
    CHECK_OK(nb_model_save(m, path, NULL));
    nb_safetensors *st = NULL;
    CHECK_OK(nb_safetensors_read(path, &st));
    /* Conv2d 0, ReLU 1, BatchNorm2d 2, MaxPool2d 3, Flatten 4, Linear 5 */
    static const char *const want[] = {"0.weight",       "0.bias",        "2.weight", "2.bias",
                                       "2.running_mean", "2.running_var", "5.weight", "5.bias"};
    for (int i = 0; st && i < 8; i++)
        CHECK_MSG(nb_safetensors_find(st, want[i]) >= 0, "no tensor %s", want[i]);
    int k = nb_safetensors_find(st, "2.num_batches_tracked");
    const char *dt;
    int64_t shape[NB_MAX_RANK];
    CHECK(k >= 0 && nb_safetensors_shape(st, k, &dt, shape) == 0 && !strcmp(dt, "I64"));
    CHECK(nb_safetensors_count(st) == 9);
    nb_safetensors_free(st);
    nb_model *m2 = NULL;
    CHECK_OK(nb_model_load(path, &m2, NULL));
    if (m2) {
        nb_params *s2 = nb_model_state(m2);
        CHECK(same_floats(nb_params_data(state), nb_params_data(s2), nb_params_numel(state)));
        CHECK(same_floats(nb_params_data(nb_model_params(m)), nb_params_data(nb_model_params(m2)),
                          nb_model_param_count(m)));
        /* and the same outputs in inference mode */
        nb_model_set_training(m, 0);
        nb_model_set_training(m2, 0);
        nb_tensor *xt = nb_tensor_from(ctx, NB_F32, x, 4, (int64_t[]){4, 1, 6, 6});
        nb_tensor *y1 = nb_contiguous(ctx, nb_model_forward(m, ctx, xt));
        nb_tensor *y2 = nb_contiguous(ctx, nb_model_forward(m2, ctx, xt));
        CHECK(y1 && y2 && same_floats(y1->data, y2->data, 8));
    }
    nb_ctx_free(ctx);
    nb_model_free(m2);
    nb_model_free(m);
    nb_spec_free(spec);
}

/* Names and layout are PyTorch's: Sequential indices, Linear weights [out, in]. */
static void test_torch_names_and_layout(void) {
    nb_spec *spec = spec_of(mlp_spec);
    nb_model *m = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    const char *path = tmp("plain.safetensors");
    CHECK_OK(nb_model_save(m, path, NULL));
    static const char *const want[] = {"0.weight", "0.bias",   "2.weight",
                                       "2.bias",   "4.weight", "4.bias"};
    /* dense_1 tanh = Linear, Tanh (0, 1); dense_2 = Linear (2); activation relu (3);
     * head sigmoid = Linear, Sigmoid (4, 5) */
    nb_safetensors *st = NULL;
    CHECK_OK(nb_safetensors_read(path, &st));
    nb_params *ps = nb_model_params(m);
    for (int i = 0; st && i < 6; i++) {
        char name[64];
        CHECK_OK(nb_model_torch_name(m, i, name, sizeof name));
        CHECK_MSG(!strcmp(name, want[i]), "parameter %d: %s, expected %s", i, name, want[i]);
        int k = nb_safetensors_find(st, want[i]);
        CHECK(k == i);
        nb_array a;
        CHECK_OK(nb_safetensors_get(st, k, &a));
        nb_tensor *p = nb_params_at(ps, i);
        if (p->rank == 2) {
            CHECK(a.rank == 2 && a.shape[0] == p->shape[1] && a.shape[1] == p->shape[0]);
            const float *f = a.data, *v = p->data;
            for (int64_t r = 0; r < p->shape[0]; r++)
                for (int64_t c = 0; c < p->shape[1]; c++)
                    CHECK(f[c * p->shape[0] + r] == v[r * p->shape[1] + c]);
        } else {
            CHECK(a.rank == 1 && a.shape[0] == p->shape[0]);
            CHECK(same_floats(a.data, p->data, p->numel));
        }
        nb_array_free(&a);
    }
    CHECK(nb_safetensors_count(st) == 6);
    CHECK(nb_safetensors_meta(st, "nabla.optim") == NULL);
    CHECK(nb_safetensors_meta(st, "nabla.rng") == NULL);
    nb_safetensors_free(st);

    /* no training state stored: load says so */
    nb_model *m2;
    nb_model_file info;
    CHECK_OK(nb_model_load(path, &m2, &info));
    CHECK(!info.optim && !info.has_run && !info.monitor);
    CHECK(info.norm.kind == NB_NORM_NONE && nb_model_class_count(m2) == 0);
    nb_model_file_free(&info);
    nb_model_free(m2);
    /* info NULL: the model only */
    CHECK_OK(nb_model_load(path, &m2, NULL));
    nb_model_free(m2);
    nb_model_free(m);
    nb_spec_free(spec);
}

/* Weights written without nabla's metadata (as PyTorch would) load into a model built from a
 * spec, by torch name or by nabla name; what does not fit is refused and changes nothing. */
static void test_load_weights(void) {
    nb_spec *spec = spec_of("nabla-spec 1\ninput 3\ndense 2 relu\ndense 1\n");
    nb_model *m = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    float w1[6] = {1, 2, 3, 4, 5, 6}; /* torch [2, 3]: row o is the weights of output o */
    float b1[2] = {0.5f, -0.5f}, w2[2] = {7, 8}, b2[1] = {9};
    nb_array a[4] = {{.type = NB_ELEM_F32, .rank = 2, .shape = {2, 3}, .numel = 6, .data = w1},
                     {.type = NB_ELEM_F32, .rank = 1, .shape = {2}, .numel = 2, .data = b1},
                     {.type = NB_ELEM_F32, .rank = 2, .shape = {1, 2}, .numel = 2, .data = w2},
                     {.type = NB_ELEM_F32, .rank = 1, .shape = {1}, .numel = 1, .data = b2}};
    const char *torch[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    const char *path = tmp("torch.safetensors");
    CHECK_OK(nb_safetensors_write(path, 4, torch, a, 0, NULL));
    CHECK_OK(nb_model_load_weights(m, path));
    const float *W = nb_params_at(nb_model_params(m), 0)->data; /* ours [3, 2] */
    CHECK(W[0] == 1 && W[1] == 4 && W[2] == 2 && W[3] == 5 && W[4] == 3 && W[5] == 6);
    CHECK(((float *)nb_params_at(nb_model_params(m), 3)->data)[0] == 9.0f);

    /* nabla names work too; F64 converts */
    double w1d[6] = {6, 5, 4, 3, 2, 1};
    nb_array d = {.type = NB_ELEM_F64, .rank = 2, .shape = {2, 3}, .numel = 6, .data = w1d};
    nb_array b[4] = {d, a[1], a[2], a[3]};
    const char *nab[4] = {"dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"};
    CHECK_OK(nb_safetensors_write(path, 4, nab, b, 0, NULL));
    CHECK_OK(nb_model_load_weights(m, path));
    CHECK(W[0] == 6 && W[1] == 3);

    /* missing and misshapen tensors */
    CHECK_OK(nb_safetensors_write(path, 3, torch, a, 0, NULL));
    CHECK(nb_model_load_weights(m, path) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(nb_last_error(), "no tensor '2.bias' (nor 'dense_2.bias')"), "%s",
              nb_last_error());
    nb_array c[4] = {a[0], a[1], a[0], a[3]}; /* 2.weight [2, 3] instead of [1, 2] */
    CHECK_OK(nb_safetensors_write(path, 4, torch, c, 0, NULL));
    CHECK(nb_model_load_weights(m, path) == NB_ERR_SHAPE);
    CHECK_MSG(strstr(nb_last_error(), "tensor '2.weight' has shape [2, 3], but parameter "
                                      "dense_2.weight needs [1, 2] (PyTorch's layout: [out, in])"),
              "%s", nb_last_error());
    CHECK(W[0] == 6 && W[1] == 3); /* unchanged */
    int32_t ints[6] = {0};
    nb_array e[4] = {{.type = NB_ELEM_I32, .rank = 2, .shape = {2, 3}, .numel = 6, .data = ints},
                     a[1],
                     a[2],
                     a[3]};
    CHECK_OK(nb_safetensors_write(path, 4, torch, e, 0, NULL));
    CHECK(nb_model_load_weights(m, path) == NB_ERR_FORMAT);
    CHECK(strstr(nb_last_error(), "dtype I32"));

    /* such a file is not a model file */
    nb_model *m2 = NULL;
    CHECK(nb_model_load(path, &m2, NULL) == NB_ERR_FORMAT && !m2);
    CHECK(strstr(nb_last_error(), "without nabla's metadata"));
    nb_model_free(m);
    nb_spec_free(spec);
}

/* Metadata that lies is refused with the key's name. */
static void test_bad_metadata(void) {
    static const struct {
        const char *key, *value, *msg;
        nb_status status;
    } cases[] = {
        {"nabla.format_version", "3", "model format version 3 is newer", NB_ERR_UNSUPPORTED},
        {"nabla.format_version", "one", "metadata 'nabla.format_version' is malformed",
         NB_ERR_FORMAT},
        {"nabla.spec", "nabla-spec 1\ninput 2\ndense x\n",
         "[nabla.spec]:3:7: expected a positive integer", NB_ERR_FORMAT},
        {"nabla.spec", "nabla-spec 1\ninput 2\ndense 2\n", "parameter dense_1.weight needs [2, 2]",
         NB_ERR_SHAPE},
        {"nabla.spec", "nabla-spec 1\ninput 3\ndense 1 name=a\ndense 1\n",
         "no tensor '1.weight' (nor 'dense_2.weight')", NB_ERR_FORMAT},
        {"nabla.rng", "12 34", "metadata 'nabla.rng' is malformed", NB_ERR_FORMAT},
        {"nabla.rng",
         "0000000000000000 0000000000000000 0000000000000000 0000000000000000 00000000 0",
         "not all zero", NB_ERR_FORMAT},
        {"nabla.rng.dropout",
         "0123456789abcdef 0123456789abcdef 0123456789abcdef 0123456789abcdeg 00000000 0",
         "metadata 'nabla.rng.dropout' is malformed", NB_ERR_FORMAT},
        {"nabla.norm", "zscore", "metadata 'nabla.norm' is malformed", NB_ERR_FORMAT},
        {"nabla.epoch", "-3", "metadata 'nabla.epoch' is malformed", NB_ERR_FORMAT},
        {"nabla.wait", "x", "metadata 'nabla.wait' is malformed", NB_ERR_FORMAT},
        {"nabla.stopped", "2", "metadata 'nabla.stopped' is malformed: expected 0 or 1",
         NB_ERR_FORMAT},
        {"nabla.best", "best", "metadata 'nabla.best' is malformed", NB_ERR_FORMAT},
        {"nabla.extra", "1", "", NB_OK},
        {"nabla.optim", "optimizer adam lr=x",
         "[nabla.optim]:1:19: expected a number for the learning rate", NB_ERR_FORMAT},
        {"nabla.optim", "optimizer sgd lr=0.1 momentum=0.5",
         "optimizer's state tensor 'optim.momentum_buffer.0.weight' is missing", NB_ERR_FORMAT},
        {"nabla.optim.schedule", "schedule cosine base_lr=1", "needs t_max", NB_ERR_FORMAT},
    };
    float w[3] = {1, 2, 3}, b1[1] = {0};
    nb_array a[2] = {{.type = NB_ELEM_F32, .rank = 2, .shape = {1, 3}, .numel = 3, .data = w},
                     {.type = NB_ELEM_F32, .rank = 1, .shape = {1}, .numel = 1, .data = b1}};
    const char *names[2] = {"0.weight", "0.bias"};
    const char *path = tmp("meta.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *rng = "0123456789abcdef 0123456789abcdef 0123456789abcdef "
                          "0123456789abcdef 3f800000 1";
        const char *meta[40] = {"nabla.format_version",
                                "1",
                                "nabla.spec",
                                "nabla-spec 1\ninput 3\ndense 1\n",
                                "nabla.optim",
                                "optimizer sgd lr=0.1",
                                "nabla.epoch",
                                "1",
                                "nabla.step",
                                "2",
                                "nabla.best_epoch",
                                "1",
                                "nabla.wait",
                                "0",
                                "nabla.stopped",
                                "0",
                                "nabla.rng",
                                rng,
                                "nabla.rng.dropout",
                                rng,
                                "nabla.best",
                                "nan"};
        int n = 11;
        for (int k = 0; k < n; k++)
            if (!strcmp(meta[2 * k], cases[i].key)) meta[2 * k + 1] = cases[i].value;
        bool found = false;
        for (int k = 0; k < n; k++) found = found || !strcmp(meta[2 * k], cases[i].key);
        if (!found) {
            meta[2 * n] = cases[i].key;
            meta[2 * n + 1] = cases[i].value;
            n++;
        }
        if (!strcmp(cases[i].key, "nabla.norm")) {
            meta[2 * n] = "nabla.norm.per_feature";
            meta[2 * n + 1] = "0";
            n++;
        }
        CHECK_OK(nb_safetensors_write(path, 2, names, a, n, meta));
        nb_model *m = (nb_model *)1;
        nb_model_file info;
        nb_status s = nb_model_load(path, &m, &info);
        CHECK_MSG(s == cases[i].status, "case %zu: %s (%s)", i, nb_status_str(s), nb_last_error());
        CHECK_MSG(strstr(nb_last_error(), cases[i].msg), "case %zu: %s", i, nb_last_error());
        if (cases[i].status == NB_OK) {
            CHECK(m && info.has_run && isnan(info.run.best) && info.run.step == 2);
            nb_model_file_free(&info);
            nb_model_free(m);
            continue;
        }
        CHECK(m == NULL && info.spec == NULL && info.optim == NULL);
    }
    /* an incomplete run state is refused */
    const char *part[6] = {"nabla.format_version", "1",
                           "nabla.spec",           "nabla-spec 1\ninput 3\ndense 1\n",
                           "nabla.epoch",          "1"};
    CHECK_OK(nb_safetensors_write(path, 2, names, a, 3, part));
    nb_model *m = NULL;
    nb_model_file info;
    CHECK(nb_model_load(path, &m, &info) == NB_ERR_FORMAT && !m);
    CHECK(strstr(nb_last_error(), "'nabla.step' is malformed") &&
          strstr(nb_last_error(), "the run state is incomplete"));
}

/* ---- saves that fail --------------------------------------------------------------------- */

static void test_failed_save_keeps_old_file(void) {
    nb_spec *spec = spec_of("nabla-spec 1\ninput 64\ndense 64 relu\ndense 64\n");
    nb_model *m = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    nb_optim *o = nb_adam_new(nb_model_params(m), NULL);
    const char *path = tmp("keep.safetensors");
    CHECK_OK(nb_model_save(m, path, NULL));
    size_t len0;
    unsigned char *before = slurp(path, &len0);
    CHECK(before && len0 > 16000);
    /* new weights, and a bigger file (the optimizer's state) */
    for (int64_t i = 0; i < nb_model_param_count(m); i++)
        nb_params_data(nb_model_params(m))[i] += 1;
    nb_save_opts so = {.optim = o};

    /* 1. the file system refuses the write midway: RLIMIT_FSIZE (with SIGXFSZ ignored, a
     * write past the limit fails with EFBIG) */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = (rlim_t)(len0 / 2);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    nb_status s = nb_model_save(m, path, &so);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK_MSG(s == NB_ERR_IO, "save past the size limit: %s (%s)", nb_status_str(s),
              nb_last_error());
    CHECK(strstr(nb_last_error(), "keep.safetensors.tmp-") != NULL);
    size_t len1;
    unsigned char *after = slurp(path, &len1);
    CHECK(after && len1 == len0 && !memcmp(before, after, len0));
    free(after);
    CHECK_MSG(count_files("keep.safetensors.tmp") == 0, "a temporary file was left behind");

    /* 2. every allocation failure: an error, the old file as it was, nothing left over */
    bool done = false;
    for (long k = 1; k < 300 && !done; k++) {
        alloc_on(k);
        s = nb_model_save(m, path, &so);
        alloc_off();
        CHECK_MSG(s == NB_OK || s == NB_ERR_NOMEM, "allocation %ld: %s (%s)", k, nb_status_str(s),
                  nb_last_error());
        done = s == NB_OK;
        if (!done) {
            after = slurp(path, &len1);
            CHECK(after && len1 == len0 && !memcmp(before, after, len0));
            free(after);
        }
        CHECK(count_files("keep.safetensors.tmp") == 0);
    }
    CHECK(done);
    /* 3. a directory that does not exist */
    CHECK(nb_model_save(m, "/nonexistent-dir/x.safetensors", NULL) == NB_ERR_IO);
    CHECK(strstr(nb_last_error(), "/nonexistent-dir/x.safetensors"));
    free(before);
    nb_optim_free(o);
    nb_model_free(m);
    nb_spec_free(spec);
}

/* Loading under allocation failures: NOMEM, nothing leaked (ASan checks). */
static void test_load_allocation_failures(void) {
    nb_spec *spec = spec_of(mlp_spec);
    nb_model *m = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    nb_optim *o =
        nb_rmsprop_new(nb_model_params(m),
                       &(nb_rmsprop_opts){.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.5});
    nb_norm norm = {0};
    nb_norm_const(&norm, 1, 2);
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    const char *cls[2] = {"x", "y"};
    nb_train_state run = {
        .epoch = 1, .step = 2, .shuffle_rng = rng, .dropout_rng = rng, .best = NAN};
    nb_save_opts so = {.spec = spec, .optim = o, .norm = &norm, .run = &run, .monitor = "m"};
    CHECK_OK(nb_model_set_classes(m, cls, 2));
    const char *path = tmp("alloc.safetensors");
    CHECK_OK(nb_model_save(m, path, &so));
    bool done = false;
    for (long k = 1; k < 2000 && !done; k++) {
        nb_model *m2 = NULL;
        nb_model_file info;
        alloc_on(k);
        nb_status s = nb_model_load(path, &m2, &info);
        alloc_off();
        CHECK_MSG(s == NB_OK || s == NB_ERR_NOMEM, "allocation %ld: %s (%s)", k, nb_status_str(s),
                  nb_last_error());
        done = s == NB_OK;
        if (done)
            CHECK(info.optim && nb_model_class_count(m2) == 2 && info.norm.kind == NB_NORM_CONST &&
                  info.has_run && isnan(info.run.best) && info.run.step == 2);
        nb_model_file_free(&info);
        nb_model_free(m2);
    }
    CHECK(done);
    nb_norm_free(&norm);
    nb_optim_free(o);
    nb_model_free(m);
    nb_spec_free(spec);
}

/* The longest layer name, in a checkpoint with Adam's longest slot name. */
static void test_long_names(void) {
    char name[64], text[256];
    memset(name, 'n', 63);
    name[63] = 0;
    snprintf(text, sizeof text, "nabla-spec 1\ninput 2\ndense 2 relu\ndense 1 name=%s\n", name);
    nb_spec *spec = spec_of(text);
    nb_model *m = NULL, *m2 = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    nb_adam_opts ao = {.lr = 0.1};
    ao.amsgrad = 1;
    nb_optim *o = nb_adam_new(nb_model_params(m), &ao);
    const char *path = tmp("long.safetensors");
    CHECK_OK(nb_model_save(m, path, &(nb_save_opts){.optim = o}));
    nb_safetensors *st = NULL;
    CHECK_OK(nb_safetensors_read(path, &st));
    CHECK(nb_safetensors_find(st, "optim.max_exp_avg_sq.2.weight") >= 0);
    nb_safetensors_free(st);
    nb_model_file info;
    CHECK_OK(nb_model_load(path, &m2, &info));
    CHECK(m2 && !strcmp(nb_model_layer_name(m2, 1), name) && info.optim);
    nb_model_file_free(&info);
    nb_model_free(m2);
    nb_optim_free(o);
    nb_model_free(m);
    nb_spec_free(spec);
}

static void test_save_arguments(void) {
    nb_spec *spec = spec_of("nabla-spec 1\ninput 2\ndense 1\n");
    nb_model *m = NULL, *other = NULL;
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    const char *path = tmp("args.safetensors");
    const char *meta[2] = {"nabla.x", "1"};
    CHECK(nb_model_save(m, path, &(nb_save_opts){.meta = meta, .n_meta = 1}) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "'nabla.x' is reserved"));
    /* a class name a model file cannot hold is refused when it is set, before any training */
    const char *cls[1] = {"a\nb"};
    CHECK(nb_model_set_classes(m, cls, 1) == NB_ERR_ARG && nb_model_class_count(m) == 0);
    CHECK(strstr(nb_last_error(), "newline"));
    const char *bad[2] = {"ok", "caf\xe9"}; /* Latin-1, not UTF-8 */
    CHECK(nb_model_set_classes(m, bad, 2) == NB_ERR_ARG && nb_model_class_count(m) == 0);
    CHECK(strstr(nb_last_error(), "class name 1 is not valid UTF-8"));
    /* metadata that is not UTF-8: refused before the file is opened */
    const char *latin[2] = {"author", "Ren\xe9"};
    CHECK(nb_model_save(m, path, &(nb_save_opts){.meta = latin, .n_meta = 1}) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "not valid UTF-8"));
    other = nb_model_new(1, (int64_t[]){5}, 0);
    nb_model_dense(other, 5, NB_ACT_NONE);
    nb_optim *o = nb_adam_new(nb_model_params(other), NULL);
    CHECK(nb_model_save(m, path, &(nb_save_opts){.optim = o}) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "the optimizer covers 30 parameters, the model has 3"));
    CHECK(nb_model_save(NULL, path, NULL) == NB_ERR_ARG);
    CHECK(access(path, F_OK) != 0);
    nb_optim_free(o);
    nb_model_free(other);
    nb_model_free(m);
    nb_spec_free(spec);
}

static void cleanup(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

/* ---- memory ---------------------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#ifndef SANITIZED
/* A line "<key>: <n> kB" of /proc/self/status, in bytes; -1 if unreadable. */
static long long status_bytes(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = atoll(line + n + 1) * 1024;
    fclose(f);
    return v;
}
#endif

/* Loading a model file costs about the file's size in memory, not two or three times it: the
 * tensors are read from the file straight into the parameters, allocated once, and there is
 * no gradient buffer until training needs one. The peak resident size is measured (Linux:
 * /proc/self/clear_refs resets it, /proc/self/status reports it); elsewhere, and under
 * sanitizers, whose shadow memory would be counted, the measure is skipped. */
static void test_load_memory(void) {
#ifdef SANITIZED
    printf("     skipped under a sanitizer\n");
#else
    nb_model *m = nb_model_new(NB_DIMS(1024), 1);
    CHECK_OK(nb_model_dense(m, 4096, NB_ACT_RELU));
    CHECK_OK(nb_model_dense(m, 2048, NB_ACT_NONE)); /* 12.6 M parameters: 50 MB */
    const char *path = tmp("big.safetensors");
    CHECK_OK(nb_model_save(m, path, NULL));
    nb_model_free(m);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    bool reset = f && fputs("5", f) >= 0;
    if (f) reset = fclose(f) == 0 && reset;
    long long before = status_bytes("VmRSS");
    if (!reset || before < 0) {
        printf("     skipped: no /proc/self/clear_refs to reset the peak\n");
        unlink(path);
        return;
    }
    nb_model *back = NULL;
    CHECK_OK(nb_model_load(path, &back, NULL));
    long long peak = status_bytes("VmHWM") - before, size = (long long)sb.st_size;
    printf("     a %.1f MB file loaded with a peak of %.1f MB more resident memory (%.2fx)\n",
           (double)size / 1e6, (double)peak / 1e6, (double)peak / (double)size);
    CHECK_MSG(peak <= size + size / 5, "loading a %lld-byte file took %lld bytes at its peak", size,
              peak);
    CHECK(back && nb_model_param_count(back) == 1024LL * 4096 + 4096 + 4096LL * 2048 + 2048);
    nb_model_free(back);
    unlink(path);
#endif
}

static void test_cleanup(void) {
    if (tmpdir[0]) cleanup();
    CHECK(1);
}

static const nbt_case cases[] = {
    {"st_round_trip", test_st_round_trip},
    {"st_dtypes", test_st_dtypes},
    {"st_hostile", test_st_hostile},
    {"st_truncations_and_flips", test_st_truncations_and_flips},
    {"round_trip_bit_exact", test_round_trip_bit_exact},
    {"torch_names_and_layout", test_torch_names_and_layout},
    {"cnn_state", test_cnn_state},
    {"load_weights", test_load_weights},
    {"bad_metadata", test_bad_metadata},
    {"failed_save_keeps_old_file", test_failed_save_keeps_old_file},
    {"load_allocation_failures", test_load_allocation_failures},
    {"long_names", test_long_names},
    {"save_arguments", test_save_arguments},
    {"load_memory", test_load_memory},
    {"cleanup", test_cleanup},
};

NBT_MAIN(cases)
