/* tests/test_limits.c — hostile sizes and values at the library level: what small files may
 * make nabla allocate, which values it refuses, and what its writers emit for extreme values.
 *
 *   - a gzip IDX whose header claims far more than its data costs the data, not the claim;
 *   - a CSV header of many columns costs a handful of allocations, not one per column;
 *   - a batch size far above the dataset allocates for the dataset;
 *   - a confusion matrix beyond NB_CONFUSION_MAX_CLASSES is refused before it is allocated;
 *   - NaN and infinity in .npy/IDX features and targets are refused like CSV refuses them,
 *     and a bad labels file is named as the culprit, not the data file;
 *   - a subnormal normalisation divisor is refused;
 *   - the history log reads back the "inf" it writes; the SVG plot writes only finite
 *     coordinates and terminates for values an ulp apart near 1e300;
 *   - CSV messages quote the file only as a short excerpt without control bytes;
 *   - a model built from a spec holds its parameter values once, at their final size.
 * A counting allocator measures allocations (the largest request and the number of calls);
 * a tracking one, the peak of the bytes allocated at once. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <dirent.h>
#include <float.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nabla-limits-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* ---- a counting allocator ------------------------------------------------------------------ */

static atomic_long alloc_calls;
static atomic_size_t alloc_max;

static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    atomic_fetch_add(&alloc_calls, 1);
    size_t m = atomic_load(&alloc_max);
    while (size > m && !atomic_compare_exchange_weak(&alloc_max, &m, size)) {
    }
    /* a regression asking for gigabytes fails here (and is reported) instead of taking them */
    if (size > ((size_t)256 << 20)) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    return p;
}

static void count_free(void *p, void *user) {
    (void)user;
    free(p);
}

static void counting_on(void) {
    atomic_store(&alloc_calls, 0);
    atomic_store(&alloc_max, 0);
    nb_set_allocator(&(nb_allocator){count_alloc, count_free, NULL});
}

static void counting_off(void) {
    nb_set_allocator(NULL);
}

/* ---- a tracking allocator: the peak of the bytes live at once ------------------------------ */

/* Each block's size, by address, in an open-addressing table (a test makes a few thousand
 * blocks at most). A block freed that it does not know was allocated before it was set, by
 * posix_memalign, and is freed as the default allocator would. */
enum { LIVE_SLOTS = 1 << 16 };
static struct {
    void *p;
    size_t size;
} live_slot[LIVE_SLOTS];
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t live_now, live_peak, live_lost;

static size_t live_hash(const void *p) {
    return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull) & (LIVE_SLOTS - 1);
}

static void *live_alloc(size_t size, size_t align, void *user) {
    (void)user;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    pthread_mutex_lock(&live_lock);
    size_t h = live_hash(p), k = 0;
    while (live_slot[h].p && k++ < LIVE_SLOTS) h = (h + 1) & (LIVE_SLOTS - 1);
    if (!live_slot[h].p) {
        live_slot[h].p = p;
        live_slot[h].size = size;
    } else {
        live_lost++; /* the table is full: the measure is void (checked) */
    }
    live_now += size;
    if (live_now > live_peak) live_peak = live_now;
    pthread_mutex_unlock(&live_lock);
    return p;
}

/* Removes slot h and moves back the entries after it that probed past it. */
static void live_remove(size_t h) {
    live_slot[h].p = NULL;
    for (size_t j = (h + 1) & (LIVE_SLOTS - 1); live_slot[j].p; j = (j + 1) & (LIVE_SLOTS - 1)) {
        size_t home = live_hash(live_slot[j].p);
        /* the entry at j may move to h when h lies cyclically in [home, j) */
        if ((j > h && (home <= h || home > j)) || (j < h && home <= h && home > j)) {
            live_slot[h] = live_slot[j];
            live_slot[j].p = NULL;
            h = j;
        }
    }
}

static void live_free(void *p, void *user) {
    (void)user;
    if (!p) return;
    pthread_mutex_lock(&live_lock);
    for (size_t h = live_hash(p), k = 0; live_slot[h].p && k < LIVE_SLOTS;
         h = (h + 1) & (LIVE_SLOTS - 1), k++)
        if (live_slot[h].p == p) {
            live_now -= live_slot[h].size;
            live_remove(h);
            break;
        }
    pthread_mutex_unlock(&live_lock);
    free(p);
}

static void live_on(void) {
    memset(live_slot, 0, sizeof live_slot);
    live_now = live_peak = live_lost = 0;
    nb_set_allocator(&(nb_allocator){live_alloc, live_free, NULL});
}

/* ---- gzip without zlib: stored (uncompressed) deflate blocks and a CRC-32 ------------------ */

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

/* data as a gzip member of stored blocks; returns the length written to out. */
static size_t gzip_stored(const unsigned char *data, size_t n, unsigned char *out) {
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    size_t w = 0;
    memcpy(out, head, 10);
    w = 10;
    size_t at = 0;
    do {
        size_t k = n - at > 65535 ? 65535 : n - at;
        out[w++] = at + k == n; /* BFINAL, BTYPE 00 */
        out[w++] = (unsigned char)k, out[w++] = (unsigned char)(k >> 8);
        out[w++] = (unsigned char)~k, out[w++] = (unsigned char)(~k >> 8);
        memcpy(out + w, data + at, k);
        w += k;
        at += k;
    } while (at < n);
    uint32_t c = crc32_of(data, n), sz = (uint32_t)n;
    for (int i = 0; i < 4; i++) out[w++] = (unsigned char)(c >> (8 * i));
    for (int i = 0; i < 4; i++) out[w++] = (unsigned char)(sz >> (8 * i));
    return w;
}

/* An IDX header that claims 60000 x 28 x 28 bytes (47 MB) followed by 46 000 bytes: as gzip,
 * 1032 times its size still covers the claim, so only the data can give the lie away. */
static void test_gzip_claim_costs_the_data(void) {
    size_t n = 16 + 46000;
    unsigned char *raw = calloc(1, n), *gz = malloc(n + n / 65535 * 5 + 64);
    const unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
    memcpy(raw, hdr, 16);
    for (size_t i = 16; i < n; i++) raw[i] = (unsigned char)(i * 2654435761u >> 24);
    size_t len = gzip_stored(raw, n, gz);
    nb_array a;
    counting_on();
    nb_status s = nb_idx_parse(gz, len, "claim.idx.gz", &a);
    size_t biggest = atomic_load(&alloc_max);
    counting_off();
#ifdef NB_HAVE_ZLIB
    CHECK_MSG(s == NB_ERR_FORMAT && strstr(nb_last_error(), "truncated"), "%s", nb_last_error());
    CHECK_MSG(biggest < ((size_t)1 << 20), "a %zu-byte file made a %zu-byte allocation", len,
              biggest);
#else
    CHECK(s == NB_ERR_UNSUPPORTED);
#endif
    free(raw);
    free(gz);
}

static void test_wide_csv_allocates_little(void) {
    const int cols = 200000;
    size_t cap = (size_t)cols * 16 + 64, w = 0;
    char *text = malloc(cap);
    for (int c = 0; c < cols; c++)
        w += (size_t)snprintf(text + w, cap - w, "%sc%d", c ? "," : "", c);
    text[w++] = '\n';
    for (int c = 0; c < cols; c++) w += (size_t)snprintf(text + w, cap - w, "%s1", c ? "," : "");
    text[w++] = '\n';
    nb_csv c;
    nb_csv_opts o = {0};
    o.no_label = 1;
    counting_on();
    nb_status s = nb_csv_parse(text, w, "wide.csv", &o, &c);
    long calls = atomic_load(&alloc_calls);
    counting_off();
    CHECK_OK(s);
    CHECK(s != NB_OK ||
          (c.cols == cols && c.rows == 1 && !strcmp(c.col_names[cols - 1], "c199999")));
    CHECK_MSG(calls < 200, "%ld allocations for a header of %d columns", calls, cols);
    nb_csv_free(&c);
    free(text);
}

static void test_huge_batch_allocates_for_the_data(void) {
    float x[10 * 4] = {0};
    int32_t y[10] = {0};
    nb_array xa = {.type = NB_ELEM_F32, .rank = 2, .shape = {10, 4}, .numel = 40, .data = x};
    nb_array ya = {.type = NB_ELEM_I32, .rank = 1, .shape = {10}, .numel = 10, .data = y};
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_from_arrays(&xa, &ya, &ds));
    nb_loader *ld = NULL;
    counting_on();
    nb_status s = nb_loader_new(ds, &(nb_loader_opts){.batch_size = (int64_t)1 << 24}, &ld);
    size_t biggest = atomic_load(&alloc_max);
    counting_off();
    CHECK_OK(s);
    CHECK_MSG(biggest < 4096, "batch buffers of %zu bytes for 10 samples", biggest);
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_batch b;
    CHECK_OK(nb_loader_epoch(ld, &rng));
    CHECK_OK(nb_loader_next(ld, NULL, &b));
    CHECK(b.size == 10 && b.x && b.x->numel == 40);
    nb_loader_free(ld);
    nb_dataset_free(ds);
}

static void test_confusion_capped(void) {
    counting_on();
    nb_metrics *mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_CONFUSION, 40000, 0);
    size_t biggest = atomic_load(&alloc_max);
    counting_off();
    CHECK(mt == NULL && strstr(nb_last_error(), "1024") && strstr(nb_last_error(), "40000"));
    CHECK_MSG(biggest < 4096, "%zu bytes allocated before refusing", biggest);
    mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_CONFUSION, NB_CONFUSION_MAX_CLASSES, 0);
    CHECK_PTR(mt);
    nb_metrics_free(mt);
}

/* A model built from a spec holds its parameters once: the values in one buffer allocated at
 * its final size, and no gradient buffer until training asks for one. Issue 16, item 7: the
 * store grew by doubling with eager gradients, about 4x the parameter bytes at its peak (a
 * 627 MB spec peaked at 2.45 GB). Measured: the most bytes live at once while the spec is
 * parsed and the model built, against the 16 MB of its 4 M parameters. */
static void test_spec_build_peak(void) {
    const char *text = "nabla-spec 1\ninput 1000\ndense 2000 relu\ndense 1000 relu\ndense 10\n";
    const size_t params = 1000 * 2000 + 2000 + 2000 * 1000 + 1000 + 1000 * 10 + 10;
    const size_t bytes = params * sizeof(float);
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    live_on();
    nb_status s = nb_spec_parse(text, strlen(text), "peak.spec", NULL, &spec);
    if (s == NB_OK) s = nb_spec_build(spec, &m);
    size_t peak = live_peak, lost = live_lost;
    nb_model_free(m);
    nb_spec_free(spec);
    size_t after = live_now;
    counting_off();
    CHECK_OK(s);
    CHECK(lost == 0);
    printf("     %zu parameters (%.1f MB): a peak of %.1f MB live while built (%.2fx)\n", params,
           (double)bytes / 1e6, (double)peak / 1e6, (double)peak / (double)bytes);
    CHECK_MSG(peak >= bytes, "a peak of %zu bytes for %zu bytes of parameters", peak, bytes);
    CHECK_MSG(peak <= bytes + bytes / 10, "a peak of %zu bytes for %zu bytes of parameters (%.2fx)",
              peak, bytes, (double)peak / (double)bytes);
    CHECK_MSG(after == 0, "%zu bytes still allocated after the model and spec were freed", after);
}

/* ---- non-finite values ---------------------------------------------------------------------- */

static void test_nonfinite_npy_refused(void) {
    float x[6] = {1, 2, 3, 4, NAN, 6};
    nb_array xa = {.type = NB_ELEM_F32, .rank = 2, .shape = {3, 2}, .numel = 6, .data = x};
    CHECK_OK(nb_npy_write(tmp("nan_x.npy"), &xa));
    float y[3] = {0, 1, 2};
    nb_array ya = {.type = NB_ELEM_F32, .rank = 1, .shape = {3}, .numel = 3, .data = y};
    CHECK_OK(nb_npy_write(tmp("y.npy"), &ya));
    nb_dataset *ds = NULL;
    nb_status s = nb_dataset_load_npy(tmp("nan_x.npy"), tmp("y.npy"), &ds);
    CHECK_MSG(s == NB_ERR_FORMAT && strstr(nb_last_error(), "nan_x.npy: sample 2, value 0 is NaN"),
              "%s", nb_last_error());
    CHECK(ds == NULL);
    /* a float64 beyond float32 */
    double big[2] = {1.0, 1e300};
    nb_array ba = {.type = NB_ELEM_F64, .rank = 2, .shape = {1, 2}, .numel = 2, .data = big};
    CHECK_OK(nb_npy_write(tmp("big.npy"), &ba));
    s = nb_dataset_load_npy(tmp("big.npy"), NULL, &ds);
    CHECK_MSG(s == NB_ERR_FORMAT && strstr(nb_last_error(), "too large for float32"), "%s",
              nb_last_error());
    /* targets: the y file is named */
    float xs[6] = {1, 2, 3, 4, 5, 6}, yt[3] = {0, INFINITY, 2};
    xa.data = xs;
    ya.data = yt;
    CHECK_OK(nb_npy_write(tmp("x.npy"), &xa));
    CHECK_OK(nb_npy_write(tmp("inf_y.npy"), &ya));
    s = nb_dataset_load_npy(tmp("x.npy"), tmp("inf_y.npy"), &ds);
    CHECK_MSG(s == NB_ERR_FORMAT && strstr(nb_last_error(), "inf_y.npy: the target of sample 1") &&
                  strstr(nb_last_error(), "inf"),
              "%s", nb_last_error());
    /* arrays in memory too */
    xa.data = x;
    s = nb_dataset_from_arrays(&xa, NULL, &ds);
    CHECK(s == NB_ERR_FORMAT && strstr(nb_last_error(), "NaN"));
}

/* An IDX file: magic, dims, data (big-endian). */
static void write_idx(const char *path, unsigned char type, int rank, const uint32_t *dims,
                      const void *data, size_t bytes) {
    unsigned char buf[4096];
    size_t w = 0;
    buf[w++] = 0, buf[w++] = 0, buf[w++] = type, buf[w++] = (unsigned char)rank;
    for (int i = 0; i < rank; i++)
        for (int k = 3; k >= 0; k--) buf[w++] = (unsigned char)(dims[i] >> (8 * k));
    memcpy(buf + w, data, bytes);
    write_bytes(path, buf, w + bytes);
}

static void test_idx_labels_blamed(void) {
    unsigned char img[3 * 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    write_idx(tmp("images.idx"), 0x08, 2, (const uint32_t[]){3, 4}, img, sizeof img);
    /* i8 labels with a negative one */
    signed char lab[3] = {0, -4, 1};
    write_idx(tmp("bad-labels.idx"), 0x09, 1, (const uint32_t[]){3}, lab, 3);
    nb_dataset *ds = NULL;
    nb_status s = nb_dataset_load_idx(tmp("images.idx"), tmp("bad-labels.idx"), &ds);
    CHECK_MSG(s == NB_ERR_FORMAT && strstr(nb_last_error(), "bad-labels.idx: label 1 is -4") &&
                  !strstr(nb_last_error(), "images.idx"),
              "%s", nb_last_error());
    /* f32 targets (big-endian) holding NaN */
    unsigned char t[12] = {0x3f, 0x80, 0, 0, 0x7f, 0xc0, 0, 0, 0x40, 0, 0, 0};
    write_idx(tmp("nan-targets.idx"), 0x0D, 1, (const uint32_t[]){3}, t, sizeof t);
    s = nb_dataset_load_idx(tmp("images.idx"), tmp("nan-targets.idx"), &ds);
    CHECK_MSG(
        s == NB_ERR_FORMAT &&
            strstr(nb_last_error(), "nan-targets.idx: the target of sample 1, value 0 is NaN"),
        "%s", nb_last_error());
    /* f32 images holding inf */
    unsigned char fx[8] = {0x7f, 0x80, 0, 0, 0x3f, 0x80, 0, 0};
    write_idx(tmp("inf-images.idx"), 0x0D, 2, (const uint32_t[]){1, 2}, fx, sizeof fx);
    s = nb_dataset_load_idx(tmp("inf-images.idx"), NULL, &ds);
    CHECK_MSG(s == NB_ERR_FORMAT &&
                  strstr(nb_last_error(), "inf-images.idx: sample 0, value 0 is inf"),
              "%s", nb_last_error());
}

static void test_norm_divisor(void) {
    nb_norm n;
    CHECK(nb_norm_const(&n, 0.0f, 1e-40f) == NB_ERR_ARG &&
          strstr(nb_last_error(), "smallest normal"));
    CHECK_OK(nb_norm_const(&n, 0.0f, FLT_MIN));
    nb_norm_free(&n);
    /* fitted: a spread below float's normal range is no spread (div 1), never a subnormal */
    float tiny[4] = {0, 1e-45f, 0, 1e-45f};
    nb_array ta = {.type = NB_ELEM_F32, .rank = 2, .shape = {4, 1}, .numel = 4, .data = tiny};
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_from_arrays(&ta, NULL, &ds));
    for (int kind = 0; kind < 2; kind++) {
        CHECK_OK(nb_norm_fit(&n, ds, kind ? NB_NORM_MINMAX : NB_NORM_STANDARD, 1));
        CHECK(n.div && n.div[0] == 1.0f);
        nb_norm_free(&n);
    }
    nb_dataset_free(ds);
    /* a range wider than float32 */
    float wide[2] = {-3e38f, 3e38f};
    ta.data = wide;
    ta.shape[0] = 2;
    ta.numel = 2;
    CHECK_OK(nb_dataset_from_arrays(&ta, NULL, &ds));
    CHECK(nb_norm_fit(&n, ds, NB_NORM_MINMAX, 1) == NB_ERR_ARG &&
          strstr(nb_last_error(), "wider than float32"));
    nb_dataset_free(ds);
}

/* ---- history and plot ----------------------------------------------------------------------- */

static nb_history diverged(void) {
    nb_history h = {0};
    h.metrics = NB_METRIC_ACCURACY;
    h.top_k = 5;
    h.n = h.cap = 4;
    h.rec = calloc(4, sizeof *h.rec);
    double loss[4] = {0.5, INFINITY, 1e300, nextafter(1e300, INFINITY)};
    for (int i = 0; i < 4; i++) {
        nb_epoch_record *r = &h.rec[i];
        r->epoch = i + 1;
        r->step = 10 * (i + 1);
        r->lr = 0.1;
        r->seconds = 1;
        r->samples_per_s = 100;
        r->train = (nb_metric_values){
            .loss = loss[i], .accuracy = 0.5, .top_k = NAN, .mse = NAN, .mae = NAN, .count = 10};
        r->val = (nb_metric_values){.loss = i == 1 ? -INFINITY : 0.25,
                                    .accuracy = 0.5,
                                    .top_k = NAN,
                                    .mse = NAN,
                                    .mae = NAN,
                                    .count = 5};
        r->has_val = 1;
    }
    return h;
}

static void test_history_reads_inf(void) {
    nb_history h = diverged(), back = {0};
    CHECK_OK(nb_history_write_csv(&h, tmp("log.csv")));
    CHECK_OK(nb_history_read_csv(&back, tmp("log.csv")));
    CHECK(back.n == 4);
    if (back.n == 4) {
        CHECK(isinf(back.rec[1].train.loss) && back.rec[1].train.loss > 0);
        CHECK(isinf(back.rec[1].val.loss) && back.rec[1].val.loss < 0);
        CHECK(back.rec[2].train.loss == 1e300 && back.rec[0].val.loss == 0.25);
    }
    nb_history_free(&back);
    /* NaN text is still refused (the writer writes an empty cell for it) */
    const char *bad = "epoch,step,lr,seconds,samples_per_s,loss\n1,1,0.1,1,1,nan\n";
    CHECK(nb_history_parse_csv(&back, bad, strlen(bad), "bad.csv") == NB_ERR_FORMAT);
    free(h.rec);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_limits: the plot did not finish\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

static void test_plot_coordinates_finite(void) {
    nb_history h = diverged();
    signal(SIGALRM, on_alarm);
    alarm(20); /* ticks walked with t += step never ended for values an ulp apart */
    CHECK_OK(nb_history_write_svg(&h, tmp("plot.svg"), "diverged"));
    alarm(0);
    FILE *f = fopen(tmp("plot.svg"), "r");
    char *text = calloc(1, 1 << 20);
    size_t n = f ? fread(text, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    CHECK(n > 0 && strstr(text, "</svg>"));
    CHECK_MSG(!strstr(text, "inf") && !strstr(text, "nan"), "non-finite coordinates in the plot");
    free(text);
    free(h.rec);
}

/* ---- messages quote files briefly ------------------------------------------------------------ */

static void test_csv_excerpts(void) {
    size_t cap = 20000, w = 0;
    char *text = malloc(cap);
    w += (size_t)snprintf(text + w, cap - w, "a,");
    for (int i = 0; i < 5000; i++) text[w++] = i == 7 ? '\x1b' : 'n';
    w += (size_t)snprintf(text + w, cap - w, ",label\n1,\x1b[2Jhello%0500d,0\n", 0);
    nb_csv c;
    nb_status s = nb_csv_parse(text, w, "long.csv", NULL, &c);
    const char *e = nb_last_error();
    CHECK(s == NB_ERR_FORMAT);
    CHECK_MSG(strlen(e) < 300, "a %zu-character message", strlen(e));
    bool ctl = false;
    for (const char *p = e; *p; p++) ctl = ctl || (unsigned char)*p < 0x20 || *p == 0x7f;
    CHECK_MSG(!ctl, "control bytes in the message: %s", e);
    CHECK(strstr(e, "long.csv:2: column 2 ('nnnnnnn?nnn") && strstr(e, "...')"));
    free(text);
}

/* ---- model files: messages and consistency ----------------------------------------------------
 */

/* A safetensors file from a JSON header and n zero bytes of data. */
static void write_st(const char *path, const char *json, size_t n) {
    size_t h = strlen(json), pad = (8 - h % 8) % 8, total = 8 + h + pad + n;
    unsigned char *b = calloc(1, total);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((h + pad) >> (8 * i));
    memcpy(b + 8, json, h);
    memset(b + 8 + h, ' ', pad);
    write_bytes(path, b, total);
    free(b);
}

static void test_safetensors_messages(void) {
    nb_safetensors *st = NULL;
    write_st(tmp("rank.st"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    CHECK(nb_safetensors_read(tmp("rank.st"), &st) == NB_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(nb_last_error(), "tensor 'a' has more than 8 dimensions") &&
                  !strstr(nb_last_error(), "got"),
              "%s", nb_last_error());
    write_st(tmp("bytes.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,4]}}",
             4);
    CHECK(nb_safetensors_read(tmp("bytes.st"), &st) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(nb_last_error(), "its shape takes 12 bytes (3 elements of 4)"), "%s",
              nb_last_error());
}

static void test_class_names_fit_outputs(void) {
    const char *text = "nabla-spec 1\ninput 2\ndense 3\nloss cross_entropy\n";
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_parse(text, strlen(text), "c.spec", NULL, &spec));
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    const char *five[5] = {"a", "b", "c", "d", "e"};
    nb_save_opts so = {.spec = spec};
    nb_status s = nb_model_set_classes(m, five, 5);
    if (s == NB_OK) s = nb_model_save(m, tmp("five.safetensors"), &so);
    nb_model *back = NULL;
    nb_model_file info;
    if (s == NB_OK) {
        /* the writer let it through: the reader must not */
        CHECK(nb_model_load(tmp("five.safetensors"), &back, &info) == NB_ERR_FORMAT);
        CHECK_MSG(strstr(nb_last_error(), "names 5 classes but the model has 3 outputs"), "%s",
                  nb_last_error());
        CHECK(back == NULL);
    }
    CHECK_OK(nb_model_set_classes(m, five, 3));
    CHECK_OK(nb_model_save(m, tmp("three.safetensors"), &so));
    CHECK_OK(nb_model_load(tmp("three.safetensors"), &back, &info));
    CHECK(back && nb_model_class_count(back) == 3);
    nb_model_file_free(&info);
    nb_model_free(back);
    nb_model_free(m);
    nb_spec_free(spec);
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(path);
}

static void test_cleanup(void) {
    if (dir[0]) remove_tree(dir);
    CHECK(!dir[0] || access(dir, F_OK) != 0);
}

static const nbt_case cases[] = {
    {"gzip_claim_costs_the_data", test_gzip_claim_costs_the_data},
    {"wide_csv_allocates_little", test_wide_csv_allocates_little},
    {"huge_batch_allocates_for_the_data", test_huge_batch_allocates_for_the_data},
    {"confusion_capped", test_confusion_capped},
    {"spec_build_peak", test_spec_build_peak},
    {"nonfinite_npy_refused", test_nonfinite_npy_refused},
    {"idx_labels_blamed", test_idx_labels_blamed},
    {"norm_divisor", test_norm_divisor},
    {"history_reads_inf", test_history_reads_inf},
    {"plot_coordinates_finite", test_plot_coordinates_finite},
    {"csv_excerpts", test_csv_excerpts},
    {"safetensors_messages", test_safetensors_messages},
    {"class_names_fit_outputs", test_class_names_fit_outputs},
    {"cleanup", test_cleanup},
};

NBT_MAIN(cases)
