/* test_data — the data layer: IDX (plain, gzip, every element type, malformed), .npy (every
 * supported dtype, numpy-written files read, our files byte-identical to numpy's, malformed
 * and unsupported ones), CSV (classes, quoting, CRLF, bad cells), datasets, batching,
 * shuffling and split determinism, normalisation against numpy, no allocation in the steady
 * state, allocation-failure paths, and the real Fashion-MNIST when it is installed.
 *
 * The files under tests/data/ and the reference values in data_ref.txt and
 * fashion_mnist_ref.txt there are written by tests/ref/gen_data.py; the arrays it builds by
 * formula are rebuilt here by the same formula. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "fixture.h"

#include <dirent.h>
#include <locale.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#define D "tests/data/"

/* ---- helpers ---------------------------------------------------------------------------- */

static int has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

#define CHECK_ERR(expr, want, text)                                                         \
    do {                                                                                    \
        nb_status s_ = (expr);                                                              \
        CHECK_MSG(s_ == (want), "%s returned %s, expected %s (%s)", #expr,                 \
                  nb_status_str(s_), nb_status_str(want), nb_last_error());                 \
        CHECK_MSG(has(nb_last_error(), text), "%s: message '%s' lacks '%s'", #expr,         \
                  nb_last_error(), text);                                                   \
    } while (0)

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static char tmpdir[256];
static void cleanup(void);

static const char *tmp_path(const char *name) {
    static char buf[400];
    if (!tmpdir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/nabla-test-data-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpdir))
            tmpdir[0] = 0;
        else
            atexit(cleanup); /* also when a single test is run */
    }
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* Files in the temporary directory (to see that atomic writes leave no temporaries). */
static int count_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* The arrays gen_data.py builds by formula. */
static uint8_t image_value(int i) { return (uint8_t)((37 * (i / 12) + 11 * (i % 12)) % 256); }
static const uint8_t labels5[5] = {3, 0, 2, 2, 1};
static double typed_value(nb_elem e, int k) {
    if (e == NB_ELEM_F32 || e == NB_ELEM_F64) return k * 1.5 - 4;
    if (e == NB_ELEM_U8) return k * 3;
    return k * 3 - 7;
}

/* A counting allocator that can fail the Nth call; thread-safe (the prefetch thread). */
static atomic_long alloc_calls;
static atomic_long fail_at;       /* 0: never */
static atomic_size_t alloc_max;   /* largest single request */

static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    long k = atomic_fetch_add(&alloc_calls, 1) + 1;
    size_t m = atomic_load(&alloc_max);
    while (size > m && !atomic_compare_exchange_weak(&alloc_max, &m, size)) {
    }
    if (atomic_load(&fail_at) && k == atomic_load(&fail_at)) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    return p;
}

static void count_free(void *p, void *user) {
    (void)user;
    free(p);
}

static void counting_on(long fail) {
    atomic_store(&alloc_calls, 0);
    atomic_store(&alloc_max, 0);
    atomic_store(&fail_at, fail);
    nb_allocator a = {count_alloc, count_free, NULL};
    nb_set_allocator(&a);
}

static void counting_off(void) { nb_set_allocator(NULL); }

/* ---- IDX -------------------------------------------------------------------------------- */

static void check_images(const nb_array *a) {
    CHECK(a->type == NB_ELEM_U8);
    CHECK(a->rank == 3 && a->shape[0] == 5 && a->shape[1] == 3 && a->shape[2] == 4);
    CHECK(a->numel == 60);
    int bad = 0;
    for (int i = 0; a->data && i < 60; i++) bad += ((uint8_t *)a->data)[i] != image_value(i);
    CHECK_MSG(bad == 0, "%d pixel values differ", bad);
}

static void test_idx_plain(void) {
    nb_array a, l;
    CHECK_OK(nb_idx_read(D "images_u8.idx", &a));
    check_images(&a);
    CHECK_OK(nb_idx_read(D "labels_u8.idx", &l));
    CHECK(l.type == NB_ELEM_U8 && l.rank == 1 && l.shape[0] == 5);
    CHECK(l.data && memcmp(l.data, labels5, 5) == 0);
    nb_array_free(&a);
    nb_array_free(&l);
    nb_array_free(&l); /* freeing twice is harmless: the array is emptied */
}

static void test_idx_gzip(void) {
    nb_array a;
#ifdef NB_HAVE_ZLIB
    const char *files[] = {D "images_u8.idx.gz", D "images_multi.idx.gz"};
    for (int k = 0; k < 2; k++) {
        CHECK_OK(nb_idx_read(files[k], &a));
        check_images(&a);
        nb_array_free(&a);
    }
    CHECK_ERR(nb_idx_read(D "idx_truncated.idx.gz", &a), NB_ERR_FORMAT, "truncated");
    CHECK_ERR(nb_idx_read(D "idx_crc.idx.gz", &a), NB_ERR_FORMAT, "corrupt gzip");
    CHECK_ERR(nb_idx_read(D "idx_garbage_after.idx.gz", &a), NB_ERR_FORMAT, "garbage");
    CHECK_ERR(nb_idx_read(D "idx_lying.idx.gz", &a), NB_ERR_FORMAT, "more than");
    CHECK(a.data == NULL);
#else
    printf("     note: built without zlib; checking the message instead\n");
    CHECK_ERR(nb_idx_read(D "images_u8.idx.gz", &a), NB_ERR_UNSUPPORTED, "zlib1g-dev");
    CHECK(a.data == NULL);
#endif
}

static void test_idx_types(void) {
    const struct {
        const char *file;
        nb_elem e;
    } t[] = {{D "typed_int8.idx", NB_ELEM_I8},       {D "typed_int16.idx", NB_ELEM_I16},
             {D "typed_int32.idx", NB_ELEM_I32},     {D "typed_float32.idx", NB_ELEM_F32},
             {D "typed_float64.idx", NB_ELEM_F64}};
    for (int k = 0; k < 5; k++) {
        nb_array a;
        CHECK_OK(nb_idx_read(t[k].file, &a));
        CHECK_MSG(a.type == t[k].e, "%s: type %s", t[k].file, nb_elem_name(a.type));
        CHECK(a.rank == 2 && a.shape[0] == 2 && a.shape[1] == 3);
        for (int i = 0; a.data && a.type == t[k].e && i < 6; i++) {
            double v = 0;
            switch (a.type) {
            case NB_ELEM_I8: v = ((int8_t *)a.data)[i]; break;
            case NB_ELEM_I16: v = ((int16_t *)a.data)[i]; break;
            case NB_ELEM_I32: v = ((int32_t *)a.data)[i]; break;
            case NB_ELEM_F32: v = ((float *)a.data)[i]; break;
            default: v = ((double *)a.data)[i];
            }
            CHECK_MSG(v == typed_value(a.type, i), "%s[%d] = %g", t[k].file, i, v);
        }
        /* Any array becomes a tensor. */
        nb_tensor *tf = nb_array_to_tensor(NULL, &a, NB_F32);
        CHECK_PTR(tf);
        if (tf) CHECK(tf->rank == 2 && nb_f32(tf)[5] == (float)typed_value(a.type, 5));
        nb_tensor_free(tf);
        nb_array_free(&a);
    }
}

static void test_idx_malformed(void) {
    nb_array a;
    CHECK_ERR(nb_idx_read(D "idx_truncated.idx", &a), NB_ERR_FORMAT, "truncated");
    CHECK_ERR(nb_idx_read(D "idx_truncated.idx", &a), NB_ERR_FORMAT, "idx_truncated.idx");
    CHECK_ERR(nb_idx_read(D "idx_extra.idx", &a), NB_ERR_FORMAT, "unexpected bytes");
    CHECK_ERR(nb_idx_read(D "idx_bad_magic.idx", &a), NB_ERR_FORMAT, "not an IDX file");
    CHECK_ERR(nb_idx_read(D "idx_bad_type.idx", &a), NB_ERR_FORMAT, "element type 0x0a");
    CHECK_ERR(nb_idx_read(D "idx_zero_dims.idx", &a), NB_ERR_FORMAT, "0 dimensions");
    CHECK_ERR(nb_idx_read(D "idx_nine_dims.idx", &a), NB_ERR_UNSUPPORTED, "at most 8");
    CHECK_ERR(nb_idx_read(D "idx_short.idx", &a), NB_ERR_FORMAT, "too short");
    CHECK_ERR(nb_idx_read(D "idx_short_dims.idx", &a), NB_ERR_FORMAT, "truncated IDX header");
    CHECK_ERR(nb_idx_read(D "idx_lying.idx", &a), NB_ERR_FORMAT, "60000x28x28");
    CHECK_ERR(nb_idx_read(D "idx_overflow.idx", &a), NB_ERR_FORMAT, "overflow");
    CHECK_ERR(nb_idx_read(D "no_such_file.idx", &a), NB_ERR_IO, "no_such_file.idx");
    CHECK_ERR(nb_idx_read(D, &a), NB_ERR_IO, "not a regular file");
    CHECK(a.data == NULL && a.numel == 0);
    CHECK_ERR(nb_idx_parse("", 0, "empty", &a), NB_ERR_FORMAT, "empty: too short");
}

/* A header that lies about its size never gets the allocation it asks for. */
static void test_lying_headers_allocate_little(void) {
    const char *files[] = {D "idx_lying.idx", D "idx_lying.idx.gz", D "idx_overflow.idx",
                           D "npy_overflow.npy", D "npy_lying_hlen.npy"};
    for (int k = 0; k < 5; k++) {
        size_t len;
        unsigned char *buf = slurp(files[k], &len);
        CHECK_PTR(buf);
        if (!buf) continue;
        nb_array a;
        counting_on(0);
        nb_status s = strstr(files[k], ".npy") ? nb_npy_parse(buf, len, files[k], &a)
                                               : nb_idx_parse(buf, len, files[k], &a);
        size_t biggest = atomic_load(&alloc_max);
        counting_off();
#ifndef NB_HAVE_ZLIB
        if (strstr(files[k], ".gz")) s = s == NB_ERR_UNSUPPORTED ? NB_ERR_FORMAT : s;
#endif
        CHECK_MSG(s == NB_ERR_FORMAT, "%s: %s", files[k], nb_status_str(s));
        CHECK_MSG(biggest < 65536, "%s: allocated %zu bytes at once", files[k], biggest);
        free(buf);
    }
}

/* ---- .npy ------------------------------------------------------------------------------- */

static const struct {
    const char *file;
    nb_elem e;
} npy_types[] = {{D "float32.npy", NB_ELEM_F32}, {D "float64.npy", NB_ELEM_F64},
                 {D "int8.npy", NB_ELEM_I8},     {D "int16.npy", NB_ELEM_I16},
                 {D "int32.npy", NB_ELEM_I32},   {D "int64.npy", NB_ELEM_I64},
                 {D "uint8.npy", NB_ELEM_U8}};

/* The typed 2 x 3 array of gen_data.py as an nb_array (data malloc'd). */
static nb_array typed_array(nb_elem e) {
    nb_array a;
    memset(&a, 0, sizeof a);
    a.type = e;
    a.rank = 2;
    a.shape[0] = 2;
    a.shape[1] = 3;
    a.numel = 6;
    a.data = nb_malloc(6 * nb_elem_size(e));
    for (int i = 0; i < 6; i++) {
        double v = typed_value(e, i);
        switch (e) {
        case NB_ELEM_U8: ((uint8_t *)a.data)[i] = (uint8_t)v; break;
        case NB_ELEM_I8: ((int8_t *)a.data)[i] = (int8_t)v; break;
        case NB_ELEM_I16: ((int16_t *)a.data)[i] = (int16_t)v; break;
        case NB_ELEM_I32: ((int32_t *)a.data)[i] = (int32_t)v; break;
        case NB_ELEM_I64: ((int64_t *)a.data)[i] = (int64_t)v; break;
        case NB_ELEM_F32: ((float *)a.data)[i] = (float)v; break;
        default: ((double *)a.data)[i] = v;
        }
    }
    return a;
}

static int same_array(const nb_array *a, const nb_array *b) {
    if (a->type != b->type || a->rank != b->rank || a->numel != b->numel) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return a->numel == 0 || memcmp(a->data, b->data, (size_t)a->numel * nb_elem_size(a->type)) == 0;
}

static void test_npy_read(void) {
    for (int k = 0; k < 7; k++) {
        nb_array a;
        CHECK_OK(nb_npy_read(npy_types[k].file, &a));
        nb_array want = typed_array(npy_types[k].e);
        CHECK_MSG(same_array(&a, &want), "%s differs from the formula", npy_types[k].file);
        nb_array_free(&a);
        nb_array_free(&want);
    }
    const char *f32s[] = {D "v2.npy", D "v3.npy", D "big_endian.npy"};
    nb_array want = typed_array(NB_ELEM_F32), a;
    for (int k = 0; k < 3; k++) {
        CHECK_OK(nb_npy_read(f32s[k], &a));
        CHECK_MSG(same_array(&a, &want), "%s differs", f32s[k]);
        nb_array_free(&a);
    }
    nb_array_free(&want);
    want = typed_array(NB_ELEM_I64);
    CHECK_OK(nb_npy_read(D "big_endian_i8.npy", &a));
    CHECK(same_array(&a, &want));
    nb_array_free(&a);
    nb_array_free(&want);

    CHECK_OK(nb_npy_read(D "bool.npy", &a));
    CHECK(a.type == NB_ELEM_U8 && a.numel == 3 && memcmp(a.data, "\1\0\1", 3) == 0);
    nb_array_free(&a);
    CHECK_OK(nb_npy_read(D "scalar.npy", &a));
    CHECK(a.rank == 0 && a.numel == 1 && a.data && *(float *)a.data == 2.5f);
    nb_array_free(&a);
    CHECK_OK(nb_npy_read(D "empty.npy", &a));
    CHECK(a.rank == 2 && a.shape[0] == 0 && a.shape[1] == 3 && a.numel == 0);
    nb_array_free(&a);
    CHECK_OK(nb_npy_read(D "fortran_1d.npy", &a)); /* 1-D: Fortran order is C order */
    CHECK(a.numel == 4 && ((float *)a.data)[3] == 3.0f);
    nb_array_free(&a);
    CHECK_OK(nb_npy_read(D "float16.npy", &a)); /* halves, kept as halves */
    CHECK(a.type == NB_ELEM_F16 && a.rank == 1 && a.numel == 3 && nb_elem_size(a.type) == 2);
    CHECK(!strcmp(nb_elem_name(a.type), "f16") && ((uint16_t *)a.data)[2] == 0);
    nb_array_free(&a);
    CHECK_OK(nb_npy_read(D "rank3.npy", &a));
    CHECK(a.rank == 3 && a.shape[2] == 4 && ((int32_t *)a.data)[23] == 23);
    nb_array_free(&a);
}

static void test_npy_unsupported_and_malformed(void) {
    nb_array a;
    CHECK_ERR(nb_npy_read(D "fortran.npy", &a), NB_ERR_UNSUPPORTED, "Fortran");
    CHECK_ERR(nb_npy_read(D "complex.npy", &a), NB_ERR_UNSUPPORTED, "'<c8' is not supported");
    CHECK_ERR(nb_npy_read(D "unicode.npy", &a), NB_ERR_UNSUPPORTED, "'<U2'");
    CHECK_ERR(nb_npy_read(D "uint16.npy", &a), NB_ERR_UNSUPPORTED, "'<u2'");
    CHECK_ERR(nb_npy_read(D "structured.npy", &a), NB_ERR_UNSUPPORTED, "structured");
    CHECK_ERR(nb_npy_read(D "npy_bad_version.npy", &a), NB_ERR_UNSUPPORTED, "version 4.0");
    CHECK_ERR(nb_npy_read(D "npy_truncated.npy", &a), NB_ERR_FORMAT, "truncated");
    CHECK_ERR(nb_npy_read(D "npy_extra.npy", &a), NB_ERR_FORMAT, "25 bytes follow");
    CHECK_ERR(nb_npy_read(D "npy_bad_magic.npy", &a), NB_ERR_FORMAT, "not a .npy file");
    CHECK_ERR(nb_npy_read(D "npy_lying_hlen.npy", &a), NB_ERR_FORMAT, "60000 bytes");
    CHECK_ERR(nb_npy_read(D "npy_overflow.npy", &a), NB_ERR_FORMAT, "overflows");
    CHECK_ERR(nb_npy_read(D "npy_missing_key.npy", &a), NB_ERR_FORMAT, "missing");
    CHECK_ERR(nb_npy_read(D "npy_extra_key.npy", &a), NB_ERR_FORMAT, "unexpected or repeated");
    CHECK_ERR(nb_npy_read(D "npy_bad_shape.npy", &a), NB_ERR_FORMAT,
              "byte 56: expected a non-negative integer in 'shape'");
    CHECK(a.data == NULL);
}

/* What we write is byte for byte what numpy.save wrote for the same array, and reads back
 * bit-exactly. */
static void test_npy_write_matches_numpy(void) {
    for (int k = 0; k < 7; k++) {
        nb_array a = typed_array(npy_types[k].e), back;
        const char *out = tmp_path("w.npy");
        CHECK_OK(nb_npy_write(out, &a));
        size_t n1, n2;
        unsigned char *ours = slurp(out, &n1), *theirs = slurp(npy_types[k].file, &n2);
        CHECK_MSG(ours && theirs && n1 == n2 && memcmp(ours, theirs, n1) == 0,
                  "%s: our bytes differ from numpy's", npy_types[k].file);
        CHECK_OK(nb_npy_read(out, &back));
        CHECK(same_array(&a, &back));
        free(ours);
        free(theirs);
        nb_array_free(&a);
        nb_array_free(&back);
    }
    /* A scalar and an empty array, also as numpy writes them. */
    float two_and_half = 2.5f;
    nb_array s = {NB_ELEM_F32, 0, {0}, 1, &two_and_half};
    nb_array e = {NB_ELEM_F32, 2, {0, 3}, 0, NULL};
    const nb_array *arrs[] = {&s, &e};
    const char *ref[] = {D "scalar.npy", D "empty.npy"};
    for (int k = 0; k < 2; k++) {
        const char *out = tmp_path("w2.npy");
        CHECK_OK(nb_npy_write(out, arrs[k]));
        size_t n1, n2;
        unsigned char *ours = slurp(out, &n1), *theirs = slurp(ref[k], &n2);
        CHECK_MSG(ours && theirs && n1 == n2 && memcmp(ours, theirs, n1) == 0,
                  "%s: our bytes differ from numpy's", ref[k]);
        free(ours);
        free(theirs);
    }
    /* Bit-exact round trip of awkward floats. */
    float vals[6] = {-0.0f, 1e-45f, 3.4028235e38f, 0.1f, -7.25f, 1.0f / 3.0f};
    nb_array v = {NB_ELEM_F32, 1, {6}, 6, vals}, back;
    CHECK_OK(nb_npy_write(tmp_path("v.npy"), &v));
    CHECK_OK(nb_npy_read(tmp_path("v.npy"), &back));
    CHECK(same_array(&v, &back));
    nb_array_free(&back);
    nb_array bad = {NB_ELEM_F32, 2, {2, 3}, 5, vals};
    CHECK_ERR(nb_npy_write(tmp_path("bad.npy"), &bad), NB_ERR_ARG, "numel");
}

static void test_npy_write_tensor(void) {
    /* A strided view: the transpose of a 2 x 3 matrix, written in logical order. */
    float m[6] = {0, 1, 2, 3, 4, 5};
    nb_tensor *t = nb_tensor_from(NULL, NB_F32, m, NB_DIMS(3, 2));
    CHECK_PTR(t);
    if (!t) return;
    t->stride[0] = 1;
    t->stride[1] = 3;
    CHECK_OK(nb_npy_write_tensor(tmp_path("t.npy"), t));
    nb_array a;
    CHECK_OK(nb_npy_read(tmp_path("t.npy"), &a));
    const float want[6] = {0, 3, 1, 4, 2, 5};
    CHECK(a.type == NB_ELEM_F32 && a.rank == 2 && a.shape[0] == 3 && a.shape[1] == 2);
    CHECK(a.data && memcmp(a.data, want, sizeof want) == 0);
    nb_array_free(&a);
    nb_tensor_free(t);
    nb_tensor *l = nb_tensor_new(NULL, NB_I32, NB_DIMS(4));
    for (int i = 0; i < 4; i++) nb_i32(l)[i] = 7 - 3 * i;
    CHECK_OK(nb_npy_write_tensor(tmp_path("l.npy"), l));
    CHECK_OK(nb_npy_read(tmp_path("l.npy"), &a));
    CHECK(a.type == NB_ELEM_I32 && a.numel == 4 && ((int32_t *)a.data)[3] == -2);
    nb_array_free(&a);
    nb_tensor_free(l);
}

/* Atomic writes replace the file whole and leave no temporary behind; a failed write leaves
 * the previous file as it was. */
static void test_atomic_write(void) {
    nb_array a = typed_array(NB_ELEM_F64), b = typed_array(NB_ELEM_U8), r;
    char p[400];
    snprintf(p, sizeof p, "%s", tmp_path("atomic.npy"));
    unlink(p);
    int before = count_files();
    CHECK_OK(nb_npy_write(p, &a));
    CHECK_OK(nb_npy_write(p, &b)); /* replaces it */
    CHECK_OK(nb_npy_read(p, &r));
    CHECK(same_array(&r, &b));
    nb_array_free(&r);
    CHECK_MSG(count_files() == before + 1, "%d files, expected %d: a temporary was left",
              count_files(), before + 1);
    CHECK_ERR(nb_npy_write(tmp_path("no/such/dir/x.npy"), &a), NB_ERR_IO, "temporary file");
    /* Out of memory in the middle of a save: the old file survives intact. */
    for (long k = 1; k < 8; k++) {
        counting_on(k);
        nb_status s = nb_npy_write(p, &a);
        counting_off();
        if (s == NB_OK) break;
        CHECK_OK(nb_npy_read(p, &r));
        CHECK(same_array(&r, &b));
        nb_array_free(&r);
    }
    CHECK(count_files() == before + 1);
    nb_array_free(&a);
    nb_array_free(&b);
}

/* ---- CSV -------------------------------------------------------------------------------- */

static const float iris_x[5][4] = {{5.1f, 3.5f, 1.4f, 0.2f}, {7.0f, 3.2f, 4.7f, 1.4f},
                                   {6.3f, 3.3f, 6.0f, 2.5f}, {4.9f, 3.0f, 1.4f, 0.2f},
                                   {6.4f, 3.2f, 4.5f, 1.5f}};

static void check_iris(const nb_csv *c) {
    CHECK(c->rows == 5 && c->cols == 4);
    CHECK(c->x && memcmp(c->x, iris_x, sizeof iris_x) == 0);
    CHECK(c->num_classes == 3 && c->classes);
    if (c->classes && c->num_classes == 3) {
        CHECK(strcmp(c->classes[0], "setosa") == 0);
        CHECK(strcmp(c->classes[1], "versicolor") == 0);
        CHECK(strcmp(c->classes[2], "virginica") == 0);
    }
    const int32_t want[5] = {0, 1, 2, 0, 1};
    CHECK(c->labels && memcmp(c->labels, want, sizeof want) == 0);
    CHECK(c->label_name && strcmp(c->label_name, "species") == 0);
    CHECK(c->col_names && strcmp(c->col_names[3], "petal_width") == 0);
}

static void test_csv_classes(void) {
    nb_csv c;
    CHECK_OK(nb_csv_read(D "iris.csv", NULL, &c));
    check_iris(&c);
    nb_csv_free(&c);
    CHECK_OK(nb_csv_read(D "iris_crlf.csv", NULL, &c));
    check_iris(&c);
    nb_csv_free(&c);
    nb_csv_opts o = {0}; /* zeroed: the defaults, as NULL (the last column is the label) */
    CHECK_OK(nb_csv_read(D "iris.csv", &o, &c));
    check_iris(&c);
    nb_csv_free(&c);
    o.label_column = -1;
    CHECK_OK(nb_csv_read(D "iris.csv", &o, &c));
    check_iris(&c);
    nb_csv_free(&c);
    o = (nb_csv_opts){0};
    o.label_name = "species";
    CHECK_OK(nb_csv_read(D "iris.csv", &o, &c));
    check_iris(&c);
    nb_csv_free(&c);
    /* Known classes keep the caller's numbering; an unknown one is an error. */
    const char *known[] = {"virginica", "setosa", "versicolor"};
    o.classes = known;
    o.num_classes = 3;
    CHECK_OK(nb_csv_read(D "iris.csv", &o, &c));
    const int32_t want[5] = {1, 2, 0, 1, 2};
    CHECK(c.labels && memcmp(c.labels, want, sizeof want) == 0);
    CHECK(c.num_classes == 3 && strcmp(c.classes[0], "virginica") == 0);
    nb_csv_free(&c);
    o.num_classes = 2;
    CHECK_ERR(nb_csv_read(D "iris.csv", &o, &c), NB_ERR_FORMAT,
              "iris.csv:3: column 5 ('species'): the label is not one of the 2 known classes: "
              "\"versicolor\"");
    o = (nb_csv_opts){0};
    o.label_name = "colour";
    CHECK_ERR(nb_csv_read(D "iris.csv", &o, &c), NB_ERR_ARG, "no column is named 'colour'");
    o = (nb_csv_opts){0};
    o.label_column = 6;
    CHECK_ERR(nb_csv_read(D "iris.csv", &o, &c), NB_ERR_ARG, "out of range");
    o.label_column = -6;
    CHECK_ERR(nb_csv_read(D "iris.csv", &o, &c), NB_ERR_ARG, "label column -6 (from the end: 6)");
    o.label_column = 1; /* sepal_length as label: numbers with fractions are class names */
    CHECK_ERR(nb_csv_read(D "iris.csv", &o, &c), NB_ERR_FORMAT, "cannot read as a number");
    o.no_label = 1;
    CHECK_ERR(nb_csv_read(D "iris.csv", &o, &c), NB_ERR_FORMAT,
              "column 5 ('species'): cannot read as a number: \"setosa\"");
}

static void test_csv_quotes_and_options(void) {
    nb_csv c;
    nb_csv_opts o = {0};
    o.label_name = "name";
    CHECK_OK(nb_csv_read(D "quoted.csv", &o, &c));
    CHECK(c.rows == 3 && c.cols == 2);
    const float want_x[6] = {1, 2.5f, 2, -1e-3f, 3, 4};
    CHECK(c.x && memcmp(c.x, want_x, sizeof want_x) == 0);
    CHECK(c.col_names && strcmp(c.col_names[0], "id") == 0); /* the BOM is gone */
    CHECK(c.col_names && strcmp(c.col_names[1], "the \"x\" value") == 0);
    CHECK(c.num_classes == 3);
    if (c.num_classes == 3) {
        CHECK(strcmp(c.classes[0], "a \"quoted\"\nname") == 0);
        CHECK(strcmp(c.classes[1], "b, with comma") == 0);
        CHECK(strcmp(c.classes[2], "plain") == 0);
    }
    const int32_t want_l[3] = {1, 0, 2};
    CHECK(c.labels && memcmp(c.labels, want_l, sizeof want_l) == 0);
    nb_csv_free(&c);

    o = (nb_csv_opts){0};
    o.label_column = 1; /* the first column */
    CHECK_OK(nb_csv_read(D "int_labels.csv", &o, &c));
    const int32_t il[3] = {2, 0, 5};
    CHECK(c.labels && memcmp(c.labels, il, sizeof il) == 0);
    CHECK(c.num_classes == 6 && c.classes == NULL);
    CHECK(c.cols == 2 && c.x && c.x[5] == 6.0f);
    nb_csv_free(&c);

    o = (nb_csv_opts){0};
    o.delimiter = ';';
    o.label_is_target = 1;
    CHECK_OK(nb_csv_read(D "target.csv", &o, &c));
    CHECK(c.rows == 2 && c.labels == NULL && c.targets);
    if (c.targets) CHECK(c.targets[0] == 0.5f && c.targets[1] == -1.25f);
    nb_csv_free(&c);

    o = (nb_csv_opts){0};
    o.no_label = 1;
    CHECK_OK(nb_csv_read(D "numbers.csv", &o, &c));
    CHECK(c.cols == 2 && c.labels == NULL && c.label_name == NULL);
    nb_csv_free(&c);

    CHECK_OK(nb_csv_read(D "header_only.csv", NULL, &c));
    CHECK(c.rows == 0 && c.cols == 2);
    nb_csv_free(&c);
}

static void test_csv_errors(void) {
    nb_csv c;
    CHECK_ERR(nb_csv_read(D "bad_cell.csv", NULL, &c), NB_ERR_FORMAT,
              "bad_cell.csv:3: column 2 ('b'): cannot read as a number (only the label column "
              "may hold text): \"abc\"");
    CHECK_ERR(nb_csv_read(D "empty_cell.csv", NULL, &c), NB_ERR_FORMAT,
              "empty_cell.csv:2: column 2 ('b'): the cell is empty");
    CHECK_ERR(nb_csv_read(D "nan_cell.csv", NULL, &c), NB_ERR_FORMAT, "NaN and infinity");
    CHECK_ERR(nb_csv_read(D "ragged.csv", NULL, &c), NB_ERR_FORMAT,
              "ragged.csv:3: the row has 2 fields, the header has 3");
    CHECK_ERR(nb_csv_read(D "too_many.csv", NULL, &c), NB_ERR_FORMAT,
              "too_many.csv:2: the row has more than 3 fields");
    CHECK_ERR(nb_csv_read(D "unclosed.csv", NULL, &c), NB_ERR_FORMAT,
              "unclosed.csv:2: column 3: a quoted field is never closed");
    CHECK_ERR(nb_csv_read(D "after_quote.csv", NULL, &c), NB_ERR_FORMAT,
              "after a closing quote");
    CHECK_ERR(nb_csv_read(D "huge_value.csv", NULL, &c), NB_ERR_FORMAT, "too large for float32");
    CHECK_ERR(nb_csv_read(D "empty.csv", NULL, &c), NB_ERR_FORMAT, "empty");
    CHECK(c.x == NULL && c.rows == 0);
    /* Line numbers count the newlines inside quoted fields. */
    const char *txt = "a,label\n\"1\n\n\",x\n";
    CHECK_ERR(nb_csv_parse(txt, strlen(txt), "mem", NULL, &c), NB_ERR_FORMAT,
              "mem:2: column 1 ('a')");
    txt = "a,label\n1,x\n\n\n2,\"y\n\"\nq,z\n";
    CHECK_ERR(nb_csv_parse(txt, strlen(txt), "mem", NULL, &c), NB_ERR_FORMAT, "mem:7: column 1");
}

/* Decimal text becomes the same float32 numpy makes of it (float64 first, then float32),
 * bit for bit, through every path of the number parser. */
static void test_csv_numbers_exact(void) {
    nbt_fixture *fx = nbt_fixture_load(D "data_ref.txt");
    CHECK_PTR(fx);
    if (!fx) return;
    const nbt_array *want = nbt_fixture_get(fx, "numbers");
    nb_csv c;
    CHECK_OK(nb_csv_read(D "numbers.csv", NULL, &c));
    CHECK(want && c.rows == want->numel && c.cols == 1);
    for (int64_t i = 0; want && i < c.rows && i < want->numel; i++)
        CHECK_MSG(memcmp(&c.x[i], &want->data[i], 4) == 0, "number %lld: %.9g, numpy %.9g",
                  (long long)i, (double)c.x[i], (double)want->data[i]);
    nb_csv_free(&c);
    /* The same under a locale whose decimal point is a comma, when one is installed. */
    const char *locs[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "de_DE"};
    for (int k = 0; k < 4; k++) {
        if (!setlocale(LC_NUMERIC, locs[k])) continue;
        CHECK_OK(nb_csv_read(D "numbers.csv", NULL, &c));
        for (int64_t i = 0; want && i < c.rows && i < want->numel; i++)
            CHECK(memcmp(&c.x[i], &want->data[i], 4) == 0);
        nb_csv_free(&c);
        setlocale(LC_NUMERIC, "C");
        break;
    }
    nbt_fixture_free(fx);
}

/* ---- datasets ----------------------------------------------------------------------- */

static void test_dataset_sources(void) {
    nb_dataset *ds;
    nb_dataset_info info;
    const char *pairs[2][2] = {{D "images_u8.idx", D "labels_u8.idx"},
                               {D "images_u8.idx.gz", D "labels_u8.idx.gz"}};
#ifdef NB_HAVE_ZLIB
    int npairs = 2;
#else
    int npairs = 1;
#endif
    for (int k = 0; k < npairs; k++) {
        CHECK_OK(nb_dataset_load_idx(pairs[k][0], pairs[k][1], &ds));
        if (!ds) continue;
        nb_dataset_get_info(ds, &info);
        CHECK(info.n == 5 && info.sample_rank == 2 && info.sample_shape[0] == 3 &&
              info.sample_shape[1] == 4 && info.features == 12);
        CHECK(info.x_type == NB_ELEM_U8); /* images stay bytes */
        CHECK(info.has_y && info.y_dtype == NB_I32 && info.num_classes == 4 && info.y_dim == 1);
        CHECK(nb_dataset_class_name(ds, 0) == NULL);
        nb_dataset_free(ds);
    }
    CHECK_ERR(nb_dataset_load_idx(D "images_u8.idx", D "labels_4.idx", &ds), NB_ERR_SHAPE,
              "images_u8.idx' holds 5 samples but '" D "labels_4.idx' holds 4 labels");
    CHECK(ds == NULL);
    CHECK_OK(nb_dataset_load_idx(D "images_u8.idx", NULL, &ds));
    nb_dataset_get_info(ds, &info);
    CHECK(!info.has_y);
    nb_dataset_free(ds);

    CHECK_OK(nb_dataset_load_npy(D "ds_x.npy", D "ds_y.npy", &ds));
    nb_dataset_get_info(ds, &info);
    CHECK(info.n == 6 && info.features == 4 && info.x_type == NB_ELEM_F32 &&
          info.num_classes == 3);
    nb_dataset_free(ds);
    CHECK_ERR(nb_dataset_load_npy(D "ds_x.npy", D "ds_y5.npy", &ds), NB_ERR_SHAPE, "5 labels");
    CHECK_ERR(nb_dataset_load_npy(D "ds_x.npy", D "ds_neg.npy", &ds), NB_ERR_FORMAT,
              "label 1 is -1");

    CHECK_OK(nb_dataset_load_csv(D "iris.csv", NULL, &ds));
    nb_dataset_get_info(ds, &info);
    CHECK(info.n == 5 && info.features == 4 && info.num_classes == 3);
    CHECK(nb_dataset_class_name(ds, 2) && strcmp(nb_dataset_class_name(ds, 2), "virginica") == 0);
    CHECK(nb_dataset_class_name(ds, 3) == NULL);
    float x[8];
    int32_t y[2];
    int64_t idx[2] = {4, 1};
    CHECK_OK(nb_dataset_gather(ds, idx, 2, NULL, x, y));
    CHECK(memcmp(x, iris_x[4], 16) == 0 && memcmp(x + 4, iris_x[1], 16) == 0);
    CHECK(y[0] == 1 && y[1] == 1);
    idx[1] = 5;
    CHECK_ERR(nb_dataset_gather(ds, idx, 2, NULL, x, y), NB_ERR_ARG, "index 5 is out of range");
    nb_dataset_free(ds);

    nb_csv_opts o = {0};
    o.delimiter = ';';
    o.label_is_target = 1;
    CHECK_OK(nb_dataset_load_csv(D "target.csv", &o, &ds));
    nb_dataset_get_info(ds, &info);
    CHECK(info.y_dtype == NB_F32 && info.y_rank == 1 && info.y_shape[0] == 1 && info.y_dim == 1);
    nb_dataset_free(ds);

    /* From caller's arrays (copied): f64 x becomes f32. */
    double xv[6] = {1, 2, 3, 4, 5, 6};
    int64_t yv[3] = {0, 1, 0};
    nb_array xa = {NB_ELEM_F64, 2, {3, 2}, 6, xv}, ya = {NB_ELEM_I64, 1, {3}, 3, yv};
    CHECK_OK(nb_dataset_from_arrays(&xa, &ya, &ds));
    xv[0] = 99; /* the dataset has its own copy */
    CHECK_OK(nb_dataset_gather(ds, (int64_t[]){0}, 1, NULL, x, y));
    CHECK(x[0] == 1.0f && x[1] == 2.0f && y[0] == 0);
    nb_dataset_free(ds);
    nb_array bad = {NB_ELEM_F64, 0, {0}, 1, xv};
    CHECK_ERR(nb_dataset_from_arrays(&bad, NULL, &ds), NB_ERR_SHAPE, "scalar");

    /* f16 x stays halves (2 bytes a value) and widens in batches, normalised after */
    uint16_t hv[6] = {0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF, 0x8000}; /* 1 -2 ~1/3 2^-24 65504 -0 */
    nb_array ha = {NB_ELEM_F16, 2, {3, 2}, 6, hv};
    CHECK_OK(nb_dataset_from_arrays(&ha, &ya, &ds));
    nb_dataset_get_info(ds, &info);
    CHECK(info.x_type == NB_ELEM_F16 && info.features == 2);
    float h3[6];
    CHECK_OK(nb_dataset_gather(ds, (int64_t[]){2, 0, 1}, 3, NULL, h3, NULL));
    CHECK(h3[0] == 65504.0f && h3[1] == 0.0f && signbit(h3[1]) && h3[2] == 1.0f &&
          h3[3] == -2.0f && h3[4] == 0x1.554p-2f && h3[5] == 0x1p-24f);
    nb_norm nm = {0};
    CHECK_OK(nb_norm_const(&nm, 1.0f, 2.0f));
    CHECK_OK(nb_dataset_gather(ds, (int64_t[]){0}, 1, &nm, h3, NULL));
    CHECK(h3[0] == 0.0f && h3[1] == -1.5f);
    nb_norm_free(&nm);
    nb_dataset_free(ds);
    hv[3] = 0x7C00; /* inf */
    CHECK_ERR(nb_dataset_from_arrays(&ha, &ya, &ds), NB_ERR_FORMAT, "sample 1, value 1 is inf");
    hv[3] = 0xFE00; /* NaN */
    CHECK_ERR(nb_dataset_from_arrays(&ha, &ya, &ds), NB_ERR_FORMAT, "value 1 is NaN");
}

static nb_dataset *image_dataset(void) {
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_load_idx(D "images_u8.idx", D "labels_u8.idx", &ds));
    return ds;
}

/* Sizes, shapes and contents of batches, without shuffling. */
/* gather from bytes: every value 0..255 at odd row lengths (the vector loop's 16-byte blocks
 * and its scalar tail), rows in a shuffled order, with a global (shift, div) and without:
 * the bits of ((float)v - shift) / div computed one at a time */
static void test_gather_u8_exact(void) {
    const int64_t feats[] = {1, 15, 16, 17, 37, 784};
    for (size_t t = 0; t < sizeof feats / sizeof *feats; t++) {
        int64_t F = feats[t], n = 11;
        uint8_t *bytes = malloc((size_t)(n * F));
        for (int64_t i = 0; i < n * F; i++) bytes[i] = (uint8_t)((i * 37 + 11) % 256);
        nb_array xa = {
            .type = NB_ELEM_U8, .rank = 2, .shape = {n, F}, .numel = n * F, .data = bytes};
        nb_dataset *ds = NULL;
        CHECK_OK(nb_dataset_from_arrays(&xa, NULL, &ds));
        nb_dataset_info info = {0};
        if (ds) nb_dataset_get_info(ds, &info);
        CHECK(info.x_type == NB_ELEM_U8); /* bytes stay bytes: the path under test */
        nb_norm norm = {0};
        CHECK_OK(nb_norm_const(&norm, 33.3f, 77.7f));
        int64_t idx[11] = {7, 0, 10, 3, 3, 9, 1, 5, 2, 8, 4};
        float *got = malloc(sizeof(float) * (size_t)(n * F));
        for (int pass = 0; pass < 2 && ds; pass++) {
            const nb_norm *nm = pass ? &norm : NULL;
            CHECK_OK(nb_dataset_gather(ds, idx, n, nm, got, NULL));
            int bad = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t f = 0; f < F; f++) {
                    volatile float v = (float)bytes[idx[i] * F + f];
                    volatile float want = nm ? (v - 33.3f) / 77.7f : v;
                    float w = want;
                    bad += memcmp(&got[i * F + f], &w, sizeof w) != 0;
                }
            CHECK(bad == 0);
        }
        free(got);
        nb_norm_free(&norm);
        nb_dataset_free(ds);
        free(bytes);
    }
}

static void test_loader_batches(void) {
    nb_dataset *ds = image_dataset();
    if (!ds) return;
    for (int drop = 0; drop < 2; drop++) {
        nb_loader_opts o = {.batch_size = 2, .drop_last = drop};
        nb_loader *ld;
        CHECK_OK(nb_loader_new(ds, &o, &ld));
        if (!ld) continue;
        CHECK(nb_loader_num_batches(ld) == (drop ? 2 : 3));
        nb_batch b;
        CHECK_ERR(nb_loader_next(ld, NULL, &b), NB_ERR_STATE, "nb_loader_epoch first");
        CHECK_OK(nb_loader_epoch(ld, NULL));
        int64_t seen = 0;
        for (int k = 0;; k++) {
            CHECK_OK(nb_loader_next(ld, NULL, &b));
            if (!b.size) break;
            CHECK(b.index == k);
            CHECK(b.size == (k < 2 ? 2 : 1));
            CHECK(b.x->rank == 3 && b.x->shape[0] == b.size && b.x->shape[1] == 3 &&
                  b.x->shape[2] == 4);
            CHECK(b.y->rank == 1 && b.y->shape[0] == b.size && b.y->dtype == NB_I32);
            for (int64_t i = 0; i < b.size; i++) {
                int64_t s = seen + i;
                CHECK(nb_i32(b.y)[i] == labels5[s]);
                for (int f = 0; f < 12; f++)
                    CHECK(nb_f32(b.x)[i * 12 + f] == (float)image_value((int)s * 12 + f));
            }
            seen += b.size;
        }
        CHECK(seen == (drop ? 4 : 5));
        CHECK_OK(nb_loader_next(ld, NULL, &b)); /* stays at the end */
        CHECK(b.size == 0 && b.x == NULL);
        nb_loader_free(ld);
    }
    nb_loader_opts o = {.batch_size = 3, .flatten = 1};
    nb_loader *ld;
    CHECK_OK(nb_loader_new(ds, &o, &ld));
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_batch b;
    CHECK_OK(nb_loader_epoch(ld, NULL));
    CHECK_OK(nb_loader_next(ld, ctx, &b));
    CHECK(b.x && b.x->rank == 2 && b.x->shape[0] == 3 && b.x->shape[1] == 12);
    /* Into the caller's tensors: the last batch fills 2 of 3 rows. */
    nb_tensor *x = nb_zeros(NULL, NB_DIMS(3, 12));
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, NB_DIMS(3));
    int64_t n;
    CHECK_OK(nb_loader_next_into(ld, x, y, &n));
    CHECK(n == 2 && nb_i32(y)[0] == labels5[3] && nb_f32(x)[12] == (float)image_value(48));
    CHECK_OK(nb_loader_next_into(ld, x, y, &n));
    CHECK(n == 0);
    nb_tensor *wrong = nb_zeros(NULL, NB_DIMS(2, 12));
    CHECK_ERR(nb_loader_next_into(ld, wrong, y, &n), NB_ERR_SHAPE, "3 x 12");
    nb_tensor_free(wrong);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_loader_free(ld);
    o.batch_size = 0;
    CHECK_ERR(nb_loader_new(ds, &o, &ld), NB_ERR_ARG, "batch_size 0");
    nb_dataset_free(ds);
}

/* The order of one epoch as labels of positions: collect the sample numbers. */
static void epoch_order(nb_loader *ld, nb_rng *rng, nb_ctx *ctx, int64_t *order, int64_t n,
                        int into) {
    CHECK_OK(nb_loader_epoch(ld, rng));
    int64_t k = 0;
    nb_tensor *x = into ? nb_zeros(NULL, NB_DIMS(2, 1)) : NULL;
    for (;;) {
        nb_batch b;
        int64_t size;
        const float *xs;
        if (into) {
            CHECK_OK(nb_loader_next_into(ld, x, NULL, &size));
            xs = nb_f32(x);
        } else {
            CHECK_OK(nb_loader_next(ld, ctx, &b));
            size = b.size;
            xs = size ? nb_f32(b.x) : NULL;
        }
        if (!size) break;
        for (int64_t i = 0; i < size && k < n; i++) order[k++] = (int64_t)xs[i];
        if (ctx) nb_ctx_reset(ctx);
    }
    CHECK(k == n);
    nb_tensor_free(x);
}

static nb_dataset *counting_dataset(int64_t n) {
    /* x[i] = i, so a batch's x says which samples it holds. */
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = (float)i;
    nb_array xa = {NB_ELEM_F32, 2, {n, 1}, n, v};
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_from_arrays(&xa, NULL, &ds));
    free(v);
    return ds;
}

/* Shuffling is a permutation each epoch, fixed by the rng's state alone; prefetching and
 * every destination give the same batches. */
static void test_loader_shuffle_determinism(void) {
    enum { N = 103, EPOCHS = 4 };
    nb_dataset *ds = counting_dataset(N);
    if (!ds) return;
    int64_t ref[EPOCHS][N], got[N];
    nb_ctx *ctx = nb_ctx_new(NULL);
    for (int variant = 0; variant < 6; variant++) {
        int prefetch = variant & 1, dest = variant >> 1; /* 0 loader, 1 ctx, 2 into */
        nb_loader_opts o = {.batch_size = 2, .shuffle = 1, .prefetch = prefetch};
        nb_loader *ld;
        CHECK_OK(nb_loader_new(ds, &o, &ld));
        if (!ld) continue;
        nb_rng rng;
        nb_rng_seed(&rng, 42);
        for (int e = 0; e < EPOCHS; e++) {
            epoch_order(ld, &rng, dest == 1 ? ctx : NULL, variant ? got : ref[e], N, dest == 2);
            int64_t *ord = variant ? got : ref[e];
            if (variant)
                CHECK_MSG(memcmp(got, ref[e], sizeof got) == 0,
                          "variant %d (prefetch %d, destination %d), epoch %d differs", variant,
                          prefetch, dest, e);
            unsigned char seen[N] = {0};
            int dup = 0;
            for (int i = 0; i < N; i++) dup += seen[ord[i]]++ != 0;
            CHECK_MSG(dup == 0, "epoch %d is not a permutation", e);
        }
        nb_loader_free(ld);
    }
    int same = 0;
    for (int i = 0; i < N; i++) same += ref[0][i] == ref[1][i];
    CHECK_MSG(same < N / 4, "epochs 0 and 1 agree in %d of %d places", same, N);
    /* Resuming from a saved rng state replays the epoch. */
    nb_loader_opts o = {.batch_size = 5, .shuffle = 1};
    nb_loader *ld;
    CHECK_OK(nb_loader_new(ds, &o, &ld));
    nb_rng rng, saved;
    nb_rng_seed(&rng, 42);
    epoch_order(ld, &rng, NULL, got, N, 0);
    CHECK(memcmp(got, ref[0], sizeof got) == 0);
    saved = rng;
    epoch_order(ld, &rng, NULL, got, N, 0);
    CHECK(memcmp(got, ref[1], sizeof got) == 0);
    epoch_order(ld, &saved, NULL, got, N, 0);
    CHECK(memcmp(got, ref[1], sizeof got) == 0);
    CHECK_ERR(nb_loader_epoch(ld, NULL), NB_ERR_ARG, "needs an rng");
    nb_loader_free(ld);
    /* A prefetching loader stopped mid-epoch, restarted, and freed mid-epoch. */
    o.prefetch = 1;
    CHECK_OK(nb_loader_new(ds, &o, &ld));
    for (int e = 0; e < 3; e++) {
        CHECK_OK(nb_loader_epoch(ld, &rng));
        nb_batch b;
        CHECK_OK(nb_loader_next(ld, NULL, &b));
        CHECK(b.size == 5);
    }
    nb_loader_free(ld);
    nb_ctx_free(ctx);
    nb_dataset_free(ds);
}

/* Once running, a loader makes batches without touching the heap. */
static void test_loader_no_alloc(void) {
    nb_dataset *ds = image_dataset();
    if (!ds) return;
    nb_norm norm;
    CHECK_OK(nb_norm_fit(&norm, ds, NB_NORM_STANDARD, 1));
    for (int variant = 0; variant < 4; variant++) {
        nb_loader_opts o = {.batch_size = 2, .shuffle = 1, .prefetch = variant & 1,
                            .norm = &norm};
        nb_loader *ld;
        CHECK_OK(nb_loader_new(ds, &o, &ld));
        nb_ctx *ctx = (variant & 2) ? nb_ctx_new(NULL) : NULL;
        nb_rng rng;
        nb_rng_seed(&rng, 1);
        long calls = 0;
        for (int e = 0; e < 4; e++) {
            if (e == 1) counting_on(0);
            CHECK_OK(nb_loader_epoch(ld, &rng));
            nb_batch b;
            do {
                CHECK_OK(nb_loader_next(ld, ctx, &b));
                if (ctx) nb_ctx_reset(ctx);
            } while (b.size);
        }
        calls = atomic_load(&alloc_calls);
        counting_off();
        CHECK_MSG(calls == 0, "variant %d: %ld allocations in 3 steady epochs", variant, calls);
        nb_ctx_free(ctx);
        nb_loader_free(ld);
    }
    nb_norm_free(&norm);
    nb_dataset_free(ds);
}

static void test_split(void) {
    enum { N = 50 };
    nb_dataset *ds = counting_dataset(N);
    if (!ds) return;
    nb_dataset *tr, *va, *tr2, *va2;
    CHECK_OK(nb_dataset_split(ds, 0.2, 7, &tr, &va));
    CHECK(nb_dataset_len(tr) == 40 && nb_dataset_len(va) == 10);
    CHECK_OK(nb_dataset_split(ds, 0.2, 7, &tr2, &va2));
    float a[N], b[N];
    int64_t all[N];
    for (int i = 0; i < N; i++) all[i] = i;
    CHECK_OK(nb_dataset_gather(va, all, 10, NULL, a, NULL));
    CHECK_OK(nb_dataset_gather(va2, all, 10, NULL, b, NULL));
    CHECK_MSG(memcmp(a, b, 10 * sizeof(float)) == 0, "the same seed split differently");
    float t[40];
    CHECK_OK(nb_dataset_gather(tr, all, 40, NULL, t, NULL));
    unsigned char seen[N] = {0};
    for (int i = 0; i < 10; i++) seen[(int)a[i]]++;
    for (int i = 0; i < 40; i++) seen[(int)t[i]]++;
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= seen[i] == 1;
    CHECK_MSG(ok, "the parts overlap or miss samples");
    for (int i = 1; i < 10; i++) CHECK(a[i] > a[i - 1]); /* original order */
    for (int i = 1; i < 40; i++) CHECK(t[i] > t[i - 1]);
    nb_dataset_free(tr2);
    nb_dataset_free(va2);
    CHECK_OK(nb_dataset_split(ds, 0.2, 8, &tr2, &va2));
    CHECK_OK(nb_dataset_gather(va2, all, 10, NULL, b, NULL));
    CHECK_MSG(memcmp(a, b, 10 * sizeof(float)) != 0, "seeds 7 and 8 split alike");
    nb_dataset_free(tr2);
    nb_dataset_free(va2);
    /* A split of a split still reads the right samples; the parent may go first. */
    nb_dataset_free(ds);
    CHECK_OK(nb_dataset_split(tr, 0.25, 1, &tr2, &va2));
    CHECK(nb_dataset_len(tr2) == 30 && nb_dataset_len(va2) == 10);
    CHECK_OK(nb_dataset_gather(va2, all, 10, NULL, b, NULL));
    for (int i = 0; i < 10; i++) {
        int found = 0;
        for (int j = 0; j < 40; j++) found |= b[i] == t[j];
        CHECK(found);
    }
    nb_dataset_free(tr2);
    nb_dataset_free(va2);
    CHECK_OK(nb_dataset_split(tr, 0.0, 1, &tr2, &va2));
    CHECK(va2 == NULL && nb_dataset_len(tr2) == 40);
    nb_dataset_free(tr2);
    CHECK_ERR(nb_dataset_split(tr, 0.001, 1, &tr2, &va2), NB_ERR_ARG, "one part empty");
    CHECK_ERR(nb_dataset_split(tr, 1.0, 1, &tr2, &va2), NB_ERR_ARG, "not in [0, 1)");
    nb_dataset *sub;
    CHECK_OK(nb_dataset_subset(tr, (int64_t[]){39, 0}, 2, &sub));
    CHECK_OK(nb_dataset_gather(sub, all, 2, NULL, b, NULL));
    CHECK(b[0] == t[39] && b[1] == t[0]);
    nb_dataset_free(sub);
    CHECK_ERR(nb_dataset_subset(tr, (int64_t[]){40}, 1, &sub), NB_ERR_ARG, "out of range");
    nb_dataset_free(tr);
    nb_dataset_free(va);
}

static void test_normalisation(void) {
    nbt_fixture *fx = nbt_fixture_load(D "data_ref.txt");
    CHECK_PTR(fx);
    nb_dataset *ds = image_dataset();
    if (!fx || !ds) goto out;
    nb_norm n;
    CHECK_OK(nb_norm_fit(&n, ds, NB_NORM_STANDARD, 1));
    CHECK(n.n == 12 && n.per_feature == 1 && n.kind == NB_NORM_STANDARD);
    nbt_compare("mean", n.shift, nbt_fixture_get(fx, "u8_mean")->data, 12, 0, 1e-7);
    nbt_compare("std", n.div, nbt_fixture_get(fx, "u8_std")->data, 12, 0, 1e-7);
    /* A batch is standardised: (x - mean) / std, as nb_norm_apply computes it. */
    float xb[60], xr[60];
    int64_t all[5] = {0, 1, 2, 3, 4};
    CHECK_OK(nb_dataset_gather(ds, all, 5, &n, xb, NULL));
    CHECK_OK(nb_dataset_gather(ds, all, 5, NULL, xr, NULL));
    CHECK_OK(nb_norm_apply(&n, xr, 5, 12));
    CHECK(memcmp(xb, xr, sizeof xb) == 0);
    nb_norm_free(&n);
    CHECK_OK(nb_norm_fit(&n, ds, NB_NORM_STANDARD, 0));
    CHECK(n.n == 1);
    nbt_compare("global mean", n.shift, nbt_fixture_get(fx, "u8_gmean")->data, 1, 0, 1e-7);
    nbt_compare("global std", n.div, nbt_fixture_get(fx, "u8_gstd")->data, 1, 0, 1e-7);
    CHECK_OK(nb_dataset_gather(ds, all, 5, &n, xb, NULL)); /* the byte lookup-table path */
    for (int i = 0; i < 60; i++)
        CHECK(xb[i] == ((float)image_value(i) - n.shift[0]) / n.div[0]);
    nb_norm_free(&n);
    CHECK_OK(nb_norm_fit(&n, ds, NB_NORM_MINMAX, 1));
    const nbt_array *mn = nbt_fixture_get(fx, "u8_min"), *mx = nbt_fixture_get(fx, "u8_max");
    for (int f = 0; f < 12; f++) {
        CHECK(n.shift[f] == mn->data[f]);
        CHECK(n.div[f] == (mx->data[f] > mn->data[f] ? mx->data[f] - mn->data[f] : 1.0f));
    }
    CHECK_OK(nb_dataset_gather(ds, all, 5, &n, xb, NULL));
    for (int i = 0; i < 60; i++) CHECK(xb[i] >= 0.0f && xb[i] <= 1.0f);
    nb_norm_free(&n);
    CHECK_OK(nb_norm_const(&n, 0.0f, 255.0f));
    CHECK_OK(nb_dataset_gather(ds, all, 1, &n, xb, NULL));
    for (int i = 0; i < 12; i++) CHECK(xb[i] == (float)image_value(i) / 255.0f);
    nb_norm_free(&n);
    nb_dataset_free(ds);

    /* Float data against numpy: iris features standardised. */
    CHECK_OK(nb_dataset_load_csv(D "iris.csv", NULL, &ds));
    CHECK_OK(nb_norm_fit(&n, ds, NB_NORM_STANDARD, 1));
    nbt_compare("iris mean", n.shift, nbt_fixture_get(fx, "iris_mean")->data, 4, 0, 1e-7);
    nbt_compare("iris std", n.div, nbt_fixture_get(fx, "iris_std")->data, 4, 0, 1e-7);
    float xi[20];
    CHECK_OK(nb_dataset_gather(ds, all, 5, &n, xi, NULL));
    nbt_compare("iris standardised", xi, nbt_fixture_get(fx, "iris_standardised")->data, 20,
                1e-6, 1e-6);
    /* A constant feature maps to 0, not NaN. */
    nb_dataset *sub;
    CHECK_OK(nb_dataset_subset(ds, (int64_t[]){0, 3}, 2, &sub)); /* petal_length 1.4, 1.4 */
    nb_norm_free(&n);
    CHECK_OK(nb_norm_fit(&n, sub, NB_NORM_STANDARD, 1));
    CHECK(n.div[2] == 1.0f && n.div[3] == 1.0f);
    nb_dataset_free(sub);
    /* Parameters that do not fit the data are refused. */
    nb_loader *ld;
    nb_norm wrong;
    float sh[3] = {0, 0, 0}, dv[3] = {1, 1, 1};
    CHECK_OK(nb_norm_set(&wrong, NB_NORM_STANDARD, 1, 3, sh, dv));
    nb_loader_opts o = {.batch_size = 2, .norm = &wrong};
    CHECK_ERR(nb_loader_new(ds, &o, &ld), NB_ERR_SHAPE, "3 parameters but the data has 4");
    nb_norm_free(&wrong);
    dv[1] = 0;
    CHECK_ERR(nb_norm_set(&wrong, NB_NORM_STANDARD, 1, 3, sh, dv), NB_ERR_ARG, "non-zero");
    nb_norm_free(&n);
    nb_dataset_free(ds);
    ds = NULL;
out:
    nb_dataset_free(ds);
    nbt_fixture_free(fx);
}

/* Every allocation failure on the way in is reported as an error and leaks nothing (the ASan
 * build checks the leaks). */
static void test_allocation_failures(void) {
    int gz = 0;
#ifdef NB_HAVE_ZLIB
    gz = 1;
#endif
    for (int what = 0; what < 5; what++) {
        if (what == 1 && !gz) continue;
        int done = 0;
        for (long k = 1; k < 400 && !done; k++) {
            counting_on(k);
            nb_status s = NB_OK;
            nb_dataset *ds = NULL, *tr = NULL, *va = NULL;
            nb_loader *ld = NULL;
            nb_norm n = {0};
            nb_array a;
            nb_csv c;
            switch (what) {
            case 0: s = nb_dataset_load_idx(D "images_u8.idx", D "labels_u8.idx", &ds); break;
            case 1: s = nb_dataset_load_idx(D "images_u8.idx.gz", D "labels_u8.idx.gz", &ds); break;
            case 2:
                s = nb_npy_read(D "float64.npy", &a);
                if (!s) nb_array_free(&a);
                break;
            case 3:
                s = nb_csv_read(D "quoted.csv", NULL, &c);
                if (!s) nb_csv_free(&c);
                break;
            default:
                s = nb_dataset_load_csv(D "iris.csv", NULL, &ds);
                if (!s) s = nb_dataset_split(ds, 0.4, 3, &tr, &va);
                if (!s) s = nb_norm_fit(&n, tr, NB_NORM_STANDARD, 1);
                if (!s) {
                    nb_loader_opts o = {.batch_size = 2, .shuffle = 1, .prefetch = 1, .norm = &n};
                    s = nb_loader_new(tr, &o, &ld);
                }
            }
            counting_off();
            done = s == NB_OK;
            CHECK_MSG(s == NB_OK || s == NB_ERR_NOMEM, "case %d, failing allocation %ld: %s (%s)",
                      what, k, nb_status_str(s), nb_last_error());
            nb_loader_free(ld);
            nb_norm_free(&n);
            nb_dataset_free(tr);
            nb_dataset_free(va);
            nb_dataset_free(ds);
        }
        CHECK_MSG(done, "case %d never succeeded", what);
    }
}

/* ---- the real thing ------------------------------------------------------------------- */

static void test_fashion_mnist(void) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("     note: %s not found (Debian package dataset-fashion-mnist); skipped\n", dir);
        return;
    }
#ifndef NB_HAVE_ZLIB
    printf("     note: built without zlib; the gzip files of Fashion-MNIST cannot be read\n");
    return;
#endif
    nbt_fixture *fx = nbt_fixture_load(D "fashion_mnist_ref.txt");
    CHECK_PTR(fx);
    if (!fx) return;
    nb_dataset *ds;
    char im[256], lb[256];
    snprintf(im, sizeof im, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lb, sizeof lb, "%s/train-labels-idx1-ubyte.gz", dir);
    CHECK_OK(nb_dataset_load_idx(im, lb, &ds));
    if (!ds) {
        nbt_fixture_free(fx);
        return;
    }
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    CHECK(info.n == 60000 && info.sample_rank == 2 && info.sample_shape[0] == 28 &&
          info.sample_shape[1] == 28 && info.x_type == NB_ELEM_U8 && info.num_classes == 10);
    /* Every label, the first and last images, and the pixel sum of all 47 million. */
    nb_loader_opts o = {.batch_size = 1000, .flatten = 1};
    nb_loader *ld;
    CHECK_OK(nb_loader_new(ds, &o, &ld));
    CHECK_OK(nb_loader_epoch(ld, NULL));
    int64_t counts[10] = {0}, sum = 0;
    int32_t first[20];
    nb_batch b;
    for (int k = 0;; k++) {
        CHECK_OK(nb_loader_next(ld, NULL, &b));
        if (!b.size) break;
        const float *x = nb_f32(b.x);
        for (int64_t i = 0; i < b.size * 784; i++) sum += (int64_t)x[i];
        for (int64_t i = 0; i < b.size; i++) {
            int32_t l = nb_i32(b.y)[i];
            CHECK(l >= 0 && l < 10);
            if (l >= 0 && l < 10) counts[l]++;
            if (k == 0 && i < 20) first[i] = l;
        }
        if (k == 0) nbt_compare("first image", x, nbt_fixture_get(fx, "first_image")->data, 784, 0, 0);
        if (b.index == 59) nbt_compare("last image", x + 999 * 784,
                                       nbt_fixture_get(fx, "last_image")->data, 784, 0, 0);
    }
    const float *wc = nbt_fixture_get(fx, "label_counts")->data;
    const float *fl = nbt_fixture_get(fx, "first_labels")->data;
    const float *ps = nbt_fixture_get(fx, "pixel_sum_hi_lo")->data;
    for (int c = 0; c < 10; c++) CHECK(counts[c] == (int64_t)wc[c]);
    for (int i = 0; i < 20; i++) CHECK(first[i] == (int32_t)fl[i]);
    CHECK_MSG(sum == (int64_t)ps[0] * 65536 + (int64_t)ps[1], "pixel sum %lld", (long long)sum);
    nb_loader_free(ld);
    nb_dataset_free(ds);
    nbt_fixture_free(fx);
}

static void cleanup(void) {
    if (!tmpdir[0]) return;
    DIR *d = opendir(tmpdir);
    if (d) {
        char p[600];
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}



/* Sharded loaders (data-parallel runs): N loaders with batch B and the same rng state yield,
 * between them and in shard order, exactly the batches of one loader with batch N·B; a last
 * global batch of L < N·B samples is cut into near-equal parts, and one smaller than N is
 * left out. */
static void test_loader_shards(void) {
    enum { N = 103, F = 2 };
    static float xv[N * F];
    static int32_t yv[N];
    for (int i = 0; i < N; i++) {
        xv[i * F] = (float)i;
        xv[i * F + 1] = -(float)i;
        yv[i] = i % 7;
    }
    nb_array xa = {NB_ELEM_F32, 2, {N, F}, N * F, xv}, ya = {NB_ELEM_I32, 1, {N}, N, yv};
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_from_arrays(&xa, &ya, &ds));
    if (!ds) return;
    for (int shards = 2; shards <= 4; shards += 2) {
        const int64_t B = 5, G = B * shards;
        nb_loader *whole, *part[4];
        CHECK_OK(nb_loader_new(ds, &(nb_loader_opts){.batch_size = G, .shuffle = 1}, &whole));
        for (int r = 0; r < shards; r++)
            CHECK_OK(nb_loader_new(
                ds, &(nb_loader_opts){.batch_size = B, .shuffle = 1, .shards = shards, .shard = r},
                &part[r]));
        /* 103 = 10·10 + 3 (2 shards: the 3 are split 1 + 2); 103 = 5·20 + 3 < 4 (4 shards:
         * left out) */
        const int64_t want = shards == 2 ? 11 : 5;
        CHECK(nb_loader_num_batches(part[0]) == want);
        nb_rng g;
        nb_rng_seed(&g, 9);
        nb_rng keep = g;
        CHECK_OK(nb_loader_epoch(whole, &g));
        for (int r = 0; r < shards; r++) {
            nb_rng c = keep;
            CHECK_OK(nb_loader_epoch(part[r], &c));
        }
        int64_t seen = 0;
        for (int64_t k = 0; k < want; k++) {
            nb_batch w, p;
            CHECK_OK(nb_loader_next(whole, NULL, &w));
            int64_t at = 0;
            for (int r = 0; r < shards; r++) {
                CHECK_OK(nb_loader_next(part[r], NULL, &p));
                CHECK(p.global == w.size && p.index == k);
                CHECK(p.size == w.size * (r + 1) / shards - w.size * r / shards);
                for (int64_t i = 0; i < p.size; i++) {
                    CHECK(nb_i32(p.y)[i] == nb_i32(w.y)[at + i]);
                    CHECK(nb_f32(p.x)[i * F] == nb_f32(w.x)[(at + i) * F]);
                }
                at += p.size;
            }
            CHECK(at == w.size);
            seen += at;
        }
        CHECK(seen == (shards == 2 ? N : 100));
        nb_batch end;
        CHECK_OK(nb_loader_next(part[shards - 1], NULL, &end));
        CHECK(end.size == 0);
        nb_loader_free(whole);
        for (int r = 0; r < shards; r++) nb_loader_free(part[r]);
    }
    nb_loader *ld;
    CHECK_ERR(nb_loader_new(ds, &(nb_loader_opts){.batch_size = 4, .shards = 2, .shard = 2}, &ld),
              NB_ERR_ARG, "shard 2 of 2");
    nb_dataset_free(ds);
}

static const nbt_case cases[] = {
    {"idx_plain", test_idx_plain},
    {"loader_shards", test_loader_shards},
    {"idx_gzip", test_idx_gzip},
    {"idx_types", test_idx_types},
    {"idx_malformed", test_idx_malformed},
    {"lying_headers_allocate_little", test_lying_headers_allocate_little},
    {"npy_read", test_npy_read},
    {"npy_unsupported_and_malformed", test_npy_unsupported_and_malformed},
    {"npy_write_matches_numpy", test_npy_write_matches_numpy},
    {"npy_write_tensor", test_npy_write_tensor},
    {"atomic_write", test_atomic_write},
    {"csv_classes", test_csv_classes},
    {"csv_quotes_and_options", test_csv_quotes_and_options},
    {"csv_errors", test_csv_errors},
    {"csv_numbers_exact", test_csv_numbers_exact},
    {"dataset_sources", test_dataset_sources},
    {"gather_u8_exact", test_gather_u8_exact},
    {"loader_batches", test_loader_batches},
    {"loader_shuffle_determinism", test_loader_shuffle_determinism},
    {"loader_no_alloc", test_loader_no_alloc},
    {"split", test_split},
    {"normalisation", test_normalisation},
    {"allocation_failures", test_allocation_failures},
    {"fashion_mnist", test_fashion_mnist},
};

NBT_MAIN(cases)
