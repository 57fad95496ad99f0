/* test_audio_data — audio augmentation, manifests and manifest datasets (nabla/audio.h):
 *   - shift, gain, noise at an exact SNR, speed by resampling (a tone's frequency scales),
 *     the random chain (deterministic per seed, each step where it should be) and SpecAugment's
 *     masks (widths and positions within range, per-sample draws, batches);
 *   - manifests: columns by header name, quoting, relative paths, integer and named labels,
 *     groups, and every malformed file refused with its line; the split by group;
 *   - a dataset of synthetic tone clips written as WAV at several rates and channel counts:
 *     shapes, labels, class names, the f32 and byte stores agreeing through the returned
 *     normalisation, augmented copies (deterministic, independent of the thread count), errors
 *     that name the clip; and a small classifier trained on it with nb_fit. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "nbtest.h"

#include "audio/audio.h"
#include "base/half.h"

#include <stdlib.h>
#include <unistd.h>

static const double PI = 3.14159265358979323846;

/* ---- waveform augmentation ---------------------------------------------------------------- */

static void shift_gain_noise(void) {
    float x[6] = {1, 2, 3, 4, 5, 6};
    nb_audio_shift(x, 6, 2);
    CHECK(x[0] == 0 && x[1] == 0 && x[2] == 1 && x[5] == 4);
    nb_audio_shift(x, 6, -3);
    CHECK(x[0] == 2 && x[1] == 3 && x[2] == 4 && x[3] == 0 && x[5] == 0);
    nb_audio_shift(x, 6, 9);
    CHECK(x[0] == 0 && x[2] == 0);
    float g[3] = {1, -2, 0.5f};
    nb_audio_gain(g, 3, 20.0);
    CHECK_CLOSE(g[0], 10, 1e-5, 0);
    CHECK_CLOSE(g[1], -20, 1e-5, 0);
    nb_audio_gain(g, 3, -6.0206);
    CHECK_CLOSE(g[0], 5, 1e-3, 0);
    /* noise at an exact SNR: 10·log10(Σx² / Σ(added)²) */
    nb_rng r;
    nb_rng_seed(&r, 3);
    enum { N = 4000 };
    static float s[N], s0[N], noise[N];
    for (int i = 0; i < N; i++) s[i] = s0[i] = (float)sin(0.05 * i);
    nb_audio_white_noise(noise, N, &r);
    double m = 0, v = 0;
    for (int i = 0; i < N; i++) m += noise[i];
    for (int i = 0; i < N; i++) v += pow(noise[i] - m / N, 2);
    CHECK_CLOSE(m / N, 0, 0.05, 0); /* N(0, 1) */
    CHECK_CLOSE(v / N, 1, 0.08, 0);
    CHECK_OK(nb_audio_add_noise(s, noise, N, 10.0));
    double es = 0, en = 0;
    for (int i = 0; i < N; i++) es += (double)s0[i] * s0[i], en += pow((double)s[i] - s0[i], 2);
    CHECK_CLOSE(10 * log10(es / en), 10.0, 1e-3, 0);
    /* silence stays silent; a non-finite SNR is an error */
    float z[4] = {0};
    CHECK_OK(nb_audio_add_noise(z, noise, 4, 0));
    CHECK(z[0] == 0 && z[3] == 0);
    CHECK(nb_audio_add_noise(s, noise, N, NAN) == NB_ERR_ARG);
}

/* the dominant frequency of y near f0: the largest of |DFT| on a 1 Hz grid around it */
static double peak_hz(const float *y, int64_t n, double rate, double lo, double hi) {
    double best = 0, bf = 0;
    for (double f = lo; f <= hi; f += 1.0) {
        double c = 0, s = 0;
        for (int64_t i = 0; i < n; i++) {
            c += y[i] * cos(2 * PI * f * (double)i / rate);
            s += y[i] * sin(2 * PI * f * (double)i / rate);
        }
        if (c * c + s * s > best) best = c * c + s * s, bf = f;
    }
    return bf;
}

static void speed(void) {
    enum { N = 8000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)(0.5 * sin(2 * PI * 500.0 * i / 8000.0));
    float *y;
    int64_t ny;
    CHECK_OK(nb_audio_speed(x, N, 1.25, NULL, &y, &ny));
    CHECK(ny == N * 100 / 125); /* 1.25 times faster: 4/5 of the samples */
    if (y) CHECK_CLOSE(peak_hz(y + 500, ny - 1000, 8000, 560, 690), 625, 1.0, 0);
    nb_free(y);
    CHECK_OK(nb_audio_speed(x, N, 0.9, NULL, &y, &ny));
    CHECK(ny == (N * 100 + 89) / 90);
    if (y) CHECK_CLOSE(peak_hz(y + 500, ny - 1000, 8000, 400, 500), 450, 1.0, 0);
    nb_free(y);
    CHECK(nb_audio_speed(x, N, 0.01, NULL, &y, &ny) == NB_ERR_ARG && y == NULL);
}

static void augment_chain(void) {
    enum { N = 1600 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)(0.3 * sin(0.1 * i)) + (i < 100 ? 0 : 0.1f);
    /* a zeroed chain changes nothing */
    nb_audio_aug none;
    memset(&none, 0, sizeof none);
    nb_rng r1, r2;
    nb_rng_seed(&r1, 9);
    float *y, *y2;
    int64_t ny, ny2;
    CHECK_OK(nb_audio_augment(&none, 16000, x, N, &r1, &y, &ny));
    CHECK(ny == N && y && memcmp(y, x, sizeof x) == 0);
    nb_free(y);
    /* everything on: the same seed, the same result; another seed, another */
    nb_audio_aug a = {0.9, 1.1, 0.01, -6, 6, 1.0, 10, 20};
    nb_rng_seed(&r1, 42);
    nb_rng_seed(&r2, 42);
    CHECK_OK(nb_audio_augment(&a, 16000, x, N, &r1, &y, &ny));
    CHECK_OK(nb_audio_augment(&a, 16000, x, N, &r2, &y2, &ny2));
    CHECK(ny == ny2 && memcmp(y, y2, sizeof(float) * (size_t)ny) == 0);
    CHECK(ny >= N * 100 / 110 && ny <= N * 100 / 90 + 1);
    nb_free(y2);
    nb_rng_seed(&r2, 43);
    CHECK_OK(nb_audio_augment(&a, 16000, x, N, &r2, &y2, &ny2));
    CHECK(ny != ny2 || memcmp(y, y2, sizeof(float) * (size_t)ny) != 0);
    nb_free(y);
    nb_free(y2);
    /* gain alone, a fixed amount: exactly the gain */
    nb_audio_aug g;
    memset(&g, 0, sizeof g);
    g.gain_db_min = g.gain_db_max = 20;
    CHECK_OK(nb_audio_augment(&g, 16000, x, N, &r1, &y, &ny));
    CHECK(ny == N);
    for (int i = 0; y && i < N; i += 97) CHECK_CLOSE(y[i], 10 * x[i], 1e-5, 1e-6);
    nb_free(y);
    /* shift alone: a whole translation within ±shift_max */
    nb_audio_aug sh;
    memset(&sh, 0, sizeof sh);
    sh.shift_max = 0.005; /* 80 samples at 16 kHz */
    CHECK_OK(nb_audio_augment(&sh, 16000, x, N, &r1, &y, &ny));
    int found = 0;
    for (int64_t k = -80; y && k <= 80 && !found; k++) {
        bool same = true;
        for (int64_t i = 100; i < N - 100 && same; i++) same = y[i] == x[i - k];
        found = same;
    }
    CHECK(found);
    nb_free(y);
    /* bad ranges are named */
    nb_audio_aug bad = a;
    bad.speed_min = 1.2;
    CHECK(nb_audio_augment(&bad, 16000, x, N, &r1, &y, &ny) == NB_ERR_ARG && y == NULL);
    CHECK(strstr(nb_last_error(), "speed range"));
    bad = a;
    bad.noise_p = 2;
    CHECK(nb_audio_augment(&bad, 16000, x, N, &r1, &y, &ny) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "noise_p"));
    bad = a;
    bad.shift_max = -1;
    CHECK(nb_audio_augment(&bad, 16000, x, N, &r1, &y, &ny) == NB_ERR_ARG);
}

static void specaugment(void) {
    enum { F = 20, T = 30 };
    float x[F * T];
    nb_rng r;
    nb_rng_seed(&r, 1);
    nb_specaug o = {2, 5, 2, 7, -1.0f, 0};
    for (int rep = 0; rep < 200; rep++) {
        for (int i = 0; i < F * T; i++) x[i] = 1.0f;
        nb_specaugment(x, F, T, &o, &r);
        /* masked rows are whole rows, masked columns whole columns; at most 2 bands of 5 */
        int rows = 0, cols = 0;
        for (int f = 0; f < F; f++) {
            int k = 0;
            for (int t = 0; t < T; t++) k += x[f * T + t] == -1.0f;
            rows += k == T;
        }
        for (int t = 0; t < T; t++) {
            int k = 0;
            for (int f = 0; f < F; f++) k += x[f * T + t] == -1.0f;
            cols += k == F;
        }
        CHECK(rows <= 10 && cols <= 14);
        for (int f = 0; f < F; f++)
            for (int t = 0; t < T; t++) {
                bool masked = x[f * T + t] == -1.0f, in_row = true, in_col = true;
                for (int u = 0; u < T; u++) in_row &= x[f * T + u] == -1.0f;
                for (int g = 0; g < F; g++) in_col &= x[g * T + t] == -1.0f;
                CHECK(!masked || in_row || in_col);
            }
    }
    /* the mean as the value */
    for (int i = 0; i < F * T; i++) x[i] = (float)(i % 7);
    double mean = 0;
    for (int i = 0; i < F * T; i++) mean += x[i];
    mean /= F * T;
    nb_specaug om = {1, 20, 0, 0, 0, 1};
    nb_rng_seed(&r, 5);
    nb_specaugment(x, F, T, &om, &r);
    int hit = 0;
    for (int i = 0; i < F * T; i++) hit += fabs(x[i] - mean) < 1e-5;
    CHECK(hit == 0 || hit % T == 0);
    /* batches: each sample its own masks, the same draws as one by one */
    int64_t shape[4] = {3, 2, F, T};
    nb_tensor *b = nb_tensor_new(NULL, NB_F32, 4, shape);
    for (int64_t i = 0; i < b->numel; i++) nb_f32(b)[i] = 1.0f;
    nb_rng_seed(&r, 77);
    CHECK_OK(nb_specaugment_batch(b, &o, &r));
    for (int64_t n = 0; n < 3; n++) /* both planes of a sample masked alike */
        CHECK(memcmp(nb_f32(b) + (2 * n) * F * T, nb_f32(b) + (2 * n + 1) * F * T,
                     sizeof(float) * F * T) == 0);
    int64_t bad_shape[2] = {F, T};
    nb_tensor *b2 = nb_tensor_new(NULL, NB_F32, 2, bad_shape);
    CHECK(nb_specaugment_batch(b2, &o, &r) == NB_ERR_ARG);
    nb_tensor_free(b2);
    nb_tensor_free(b);
}

/* ---- manifests ------------------------------------------------------------------------------ */

static void manifest_parse(void) {
    const char *csv = "\xEF\xBB\xBFword,Label,path,speaker\r\n"
                      "one,1,a.wav,alice\r\n"
                      "\n"
                      "\"nine, again\",9,\"dir/b \"\"x\"\".wav\",bob\n"
                      "two,2,/abs/c.wav,alice";
    nb_manifest m;
    CHECK_OK(nb_manifest_parse(csv, strlen(csv), "m.csv", "base", &m));
    CHECK(m.n == 3 && m.num_classes == 10 && m.classes == NULL);
    CHECK(m.labels && m.labels[0] == 1 && m.labels[1] == 9 && m.labels[2] == 2);
    CHECK(m.paths && strcmp(m.paths[0], "base/a.wav") == 0 &&
          strcmp(m.paths[1], "base/dir/b \"x\".wav") == 0 && strcmp(m.paths[2], "/abs/c.wav") == 0);
    CHECK(m.groups && m.num_groups == 2 && m.groups[0] == 0 && m.groups[1] == 1 &&
          m.groups[2] == 0 && strcmp(m.group_names[1], "bob") == 0);
    nb_manifest_free(&m);
    nb_manifest_free(&m);
    /* names as labels: sorted; no group column */
    const char *named = "path,label\nx.wav,zero\ny.wav,one\nz.wav,zero\n";
    CHECK_OK(nb_manifest_parse(named, strlen(named), "n.csv", NULL, &m));
    CHECK(m.num_classes == 2 && strcmp(m.classes[0], "one") == 0 && m.labels[0] == 1 &&
          m.labels[1] == 0 && m.groups == NULL && m.num_groups == 0);
    CHECK(strcmp(m.paths[0], "x.wav") == 0);
    nb_manifest_free(&m);
    /* integer labels with a word column name their classes, unless two labels share a word */
    const char *worded = "path,label,word\na.wav,1,one\nb.wav,0,zero\n";
    CHECK_OK(nb_manifest_parse(worded, strlen(worded), "w.csv", NULL, &m));
    CHECK(m.classes && m.num_classes == 2 && strcmp(m.classes[0], "zero") == 0 &&
          strcmp(m.classes[1], "one") == 0);
    nb_manifest_free(&m);
    const char *shared = "path,label,word\na.wav,1,one\nb.wav,0,one\n";
    CHECK_OK(nb_manifest_parse(shared, strlen(shared), "s.csv", NULL, &m));
    CHECK(m.classes == NULL && m.num_classes == 2 && m.labels[0] == 1);
    nb_manifest_free(&m);
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"", "empty"},
        {"file,label\na,1\n", "must name a 'path' and a 'label'"},
        {"path,label,group,speaker\n", "appears twice"},
        {"path,label\n", "no rows"},
        {"path,label\na.wav,1\nb.wav\n", "bad.csv:3: 1 fields, but the header has 2"},
        {"path,label\na.wav,1,x\n", ":2: 3 fields"},
        {"path,label\n,1\n", ":2: the path is empty"},
        {"path,label\na.wav,\n", ":2: the label is empty"},
        {"path,label\n\"a.wav,1\n", ":2: a quoted field is not closed"},
        {"path,label\n\"a\"x.wav,1\n", "text after a closing quote"},
        {"path,label\na\"b.wav,1\n", "a quote inside an unquoted field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nb_status st = nb_manifest_parse(bad[i].text, strlen(bad[i].text), "bad.csv", NULL, &m);
        CHECK_MSG(st == NB_ERR_FORMAT && strstr(nb_last_error(), bad[i].msg) && m.n == 0 &&
                      m.paths == NULL,
                  "'%s': %s '%s'", bad[i].text, nb_status_str(st), nb_last_error());
    }
    const char nul[] = "path,label\na\0b,1\n";
    CHECK(nb_manifest_parse(nul, sizeof nul - 1, "nul.csv", NULL, &m) == NB_ERR_FORMAT);
    CHECK(strstr(nb_last_error(), "NUL"));
    CHECK(nb_manifest_read("tests/data/audio/none.csv", &m) == NB_ERR_IO);
}

static void manifest_split(void) {
    /* 10 groups of 3 rows */
    char csv[2048] = "path,label,group\n";
    for (int i = 0; i < 30; i++)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "c%d.wav,%d,g%d\n", i, i % 4, i / 3);
    nb_manifest m, tr, te;
    CHECK_OK(nb_manifest_parse(csv, strlen(csv), "s.csv", NULL, &m));
    CHECK_OK(nb_manifest_split_groups(&m, 0.3, 7, &tr, &te));
    CHECK(tr.n == 21 && te.n == 9);
    bool test_group[10] = {false};
    for (int64_t i = 0; i < te.n; i++) test_group[te.groups[i]] = true;
    int k = 0;
    for (int g = 0; g < 10; g++) k += test_group[g];
    CHECK(k == 3);
    for (int64_t i = 0; i < tr.n; i++) CHECK(!test_group[tr.groups[i]]); /* never both sides */
    CHECK(tr.num_classes == m.num_classes && te.num_classes == m.num_classes);
    /* rows keep their order and their data */
    for (int64_t i = 1; i < te.n; i++) CHECK(strcmp(te.paths[i - 1], te.paths[i]) != 0);
    nb_manifest tr2, te2;
    CHECK_OK(nb_manifest_split_groups(&m, 0.3, 7, &tr2, &te2));
    CHECK(te2.n == te.n && strcmp(te2.paths[0], te.paths[0]) == 0); /* the seed decides */
    nb_manifest_free(&tr2);
    nb_manifest_free(&te2);
    nb_manifest_free(&tr);
    nb_manifest_free(&te);
    CHECK(nb_manifest_split_groups(&m, 1.5, 7, &tr, &te) == NB_ERR_ARG);
    nb_manifest_free(&m);
    const char *nog = "path,label\na.wav,1\n";
    CHECK_OK(nb_manifest_parse(nog, strlen(nog), "n.csv", NULL, &m));
    CHECK(nb_manifest_split_groups(&m, 0.5, 7, &tr, &te) == NB_ERR_ARG);
    nb_manifest_free(&m);
}

/* ---- datasets -------------------------------------------------------------------------------- */

static char dir[64];

/* Writes 3 classes × 6 clips of a tone (300, 1200, 3000 Hz), 0.30 to 0.35 s, at rates and channel
 * counts that vary, and the manifest; returns its path. */
static const char *make_clips(void) {
    static char manifest[128];
    if (dir[0]) return manifest;
    strcpy(dir, "/tmp/nabla_audio_XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    snprintf(manifest, sizeof manifest, "%s/clips.csv", dir);
    FILE *f = fopen(manifest, "w");
    if (!f) return NULL;
    fprintf(f, "path,label,group\n");
    const double hz[3] = {300, 1200, 3000};
    const int rates[3] = {16000, 22050, 8000};
    const char *names[3] = {"low", "mid", "high"};
    nb_rng r;
    nb_rng_seed(&r, 11);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 6; k++) {
            nb_audio a;
            const int rate = rates[k % 3], ch = 1 + k % 2;
            nbi_audio_alloc(&a, (int64_t)((0.3 + 0.01 * k) * rate), ch, rate, "test");
            const double amp = 0.2 + 0.1 * k, ph = nb_rng_uniform(&r);
            for (int64_t t = 0; t < a.frames; t++)
                for (int j = 0; j < ch; j++)
                    a.data[t * ch + j] = (float)(amp * sin(2 * PI * hz[c] * (double)t / rate + ph) +
                                                 0.01 * nb_rng_normal(&r, 0, 1));
            char path[128];
            snprintf(path, sizeof path, "%s/%s_%d.wav", dir, names[c], k);
            nb_wav_write(path, &a, k % 2 ? NB_WAV_S16 : NB_WAV_F32);
            nb_audio_free(&a);
            fprintf(f, "%s_%d.wav,%s,spk%d\n", names[c], k, names[c], k);
        }
    fclose(f);
    return manifest;
}

static nb_features tone_features(void) {
    nb_features f = {.length = 4800, /* 0.3 s at 16 kHz */
                     .n_fft = 256,
                     .hop = 160,
                     .n_mels = 24,
                     .norm = NB_UTT_NONE};
    return f;
}

static void dataset_stores(void) {
    const char *manifest = make_clips();
    CHECK(manifest != NULL);
    if (!manifest) return;
    nb_features f = tone_features();
    nb_audio_data_opts o;
    memset(&o, 0, sizeof o);
    o.features = &f;
    o.store = NB_AUDIO_STORE_F32;
    nb_dataset *ds = NULL, *dq = NULL;
    nb_norm deq;
    CHECK_OK(nb_audio_dataset_load(manifest, &o, &ds, &deq));
    CHECK(deq.kind == NB_NORM_NONE);
    if (!ds) return;
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    CHECK(info.n == 18 && info.sample_rank == 3 && info.sample_shape[0] == 1 &&
          info.sample_shape[1] == 24 && info.sample_shape[2] == 1 + 4800 / 160);
    CHECK(info.x_type == NB_ELEM_F32 && info.num_classes == 3);
    CHECK(strcmp(nb_dataset_class_name(ds, 0), "high") == 0); /* names in sorted order */
    /* sample 0 is the features of its clip computed directly */
    nb_manifest m;
    CHECK_OK(nb_manifest_read(manifest, &m));
    nb_audio a;
    CHECK_OK(nb_wav_read(m.paths[0], &a, NULL));
    nb_featurizer *fz;
    CHECK_OK(nb_featurizer_new(&f, &fz));
    nb_tensor *want = NULL;
    CHECK_OK(nb_featurize_audio(fz, &a, &want));
    const int64_t F = info.features;
    float *got = malloc(sizeof(float) * (size_t)F * 18);
    int32_t lab[18];
    int64_t idx[18];
    for (int i = 0; i < 18; i++) idx[i] = i;
    CHECK_OK(nb_dataset_gather(ds, idx, 18, NULL, got, lab));
    if (want) CHECK(memcmp(got, nb_f32(want), sizeof(float) * (size_t)F) == 0);
    for (int i = 0; i < 18; i++) CHECK(lab[i] == m.labels[i]);
    /* the byte store, through its normalisation, within half a step of the floats */
    o.store = NB_AUDIO_STORE_U8;
    CHECK_OK(nb_audio_dataset(&m, &o, &dq, &deq));
    CHECK(deq.kind == NB_NORM_CONST);
    if (dq) {
        nb_dataset_info qi;
        nb_dataset_get_info(dq, &qi);
        CHECK(qi.x_type == NB_ELEM_U8 && qi.features == F);
        float *back = malloc(sizeof(float) * (size_t)F * 18);
        CHECK_OK(nb_dataset_gather(dq, idx, 18, &deq, back, NULL));
        double lo = INFINITY, hi = -INFINITY, worst = 0;
        for (int64_t i = 0; i < F * 18; i++) lo = fmin(lo, got[i]), hi = fmax(hi, got[i]);
        for (int64_t i = 0; i < F * 18; i++) worst = fmax(worst, fabs(back[i] - got[i]));
        CHECK_MSG(worst <= (hi - lo) / 510 * 1.001 + 1e-5, "byte store: error %.4g, step %.4g",
                  worst, (hi - lo) / 255);
        free(back);
        nb_dataset_free(dq);
    }
    nb_norm_free(&deq);
    /* AUTO: the first of f32, f16, u8 whose bytes fit the budget, at each edge */
    o.store = NB_AUDIO_STORE_AUTO;
    static const struct {
        int64_t bytes_per_value, less;
        nb_elem want;
    } edges[] = {{4, 0, NB_ELEM_F32}, {4, 1, NB_ELEM_F16}, {2, 0, NB_ELEM_F16},
                 {2, 1, NB_ELEM_U8},  {1, 0, NB_ELEM_U8}};
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++) {
        o.max_bytes = (size_t)(F * 18 * edges[e].bytes_per_value - edges[e].less);
        CHECK_OK(nb_audio_dataset(&m, &o, &dq, &deq));
        if (dq) {
            nb_dataset_info qi;
            nb_dataset_get_info(dq, &qi);
            CHECK_MSG(qi.x_type == edges[e].want, "budget %zu: stored as %s, not %s",
                      o.max_bytes, nb_elem_name(qi.x_type), nb_elem_name(edges[e].want));
            CHECK((deq.kind == NB_NORM_CONST) == (edges[e].want == NB_ELEM_U8));
        }
        nb_dataset_free(dq);
        nb_norm_free(&deq);
    }
    /* a caller that takes floats only is refused where only bytes fit */
    o.floats_only = 1;
    o.max_bytes = (size_t)(F * 18 * 2 - 1);
    CHECK(nb_audio_dataset(&m, &o, &dq, &deq) == NB_ERR_NOMEM && dq == NULL);
    CHECK(strstr(nb_last_error(), "even as halves"));
    o.floats_only = 0;
    o.max_bytes = 100;
    CHECK(nb_audio_dataset(&m, &o, &dq, &deq) == NB_ERR_NOMEM && dq == NULL);
    CHECK(strstr(nb_last_error(), "even as bytes"));
    nb_tensor_free(want);
    nb_featurizer_free(fz);
    nb_audio_free(&a);
    free(got);
    nb_manifest_free(&m);
    nb_dataset_free(ds);
}


/* The f16 store: every value the f32 store's rounded to the nearest half (bit for bit what
 * base/half.c gives), as images and as frames, normalised in batches as floats would be; a
 * feature beyond the half range refused when f16 is asked for, and bytes instead under AUTO
 * (the same bytes as the u8 store's). */
static void dataset_f16(void) {
    const char *manifest = make_clips();
    if (!manifest) return;
    nb_features f = tone_features();
    nb_manifest m;
    CHECK_OK(nb_manifest_read(manifest, &m));
    nb_audio_data_opts o;
    memset(&o, 0, sizeof o);
    o.features = &f;
    for (int ff = 0; ff < 2; ff++) {
        o.frames_first = ff;
        nb_dataset *d32 = NULL, *d16 = NULL;
        nb_norm deq;
        o.store = NB_AUDIO_STORE_F32;
        CHECK_OK(nb_audio_dataset(&m, &o, &d32, NULL));
        o.store = NB_AUDIO_STORE_F16;
        CHECK_OK(nb_audio_dataset(&m, &o, &d16, &deq));
        CHECK(deq.kind == NB_NORM_NONE);
        if (!d32 || !d16) {
            nb_dataset_free(d32);
            nb_dataset_free(d16);
            break;
        }
        nb_dataset_info i32, i16;
        nb_dataset_get_info(d32, &i32);
        nb_dataset_get_info(d16, &i16);
        CHECK(i16.x_type == NB_ELEM_F16 && i16.n == 18 && i16.features == i32.features &&
              i16.sample_rank == i32.sample_rank && i16.sample_shape[0] == i32.sample_shape[0] &&
              i16.sample_shape[1] == i32.sample_shape[1]);
        const int64_t F = i32.features, n = 18;
        float *a = malloc(sizeof(float) * (size_t)(F * n)), *b = malloc(sizeof(float) * (size_t)(F * n));
        int32_t la[18], lb[18];
        int64_t idx[18];
        for (int i = 0; i < 18; i++) idx[i] = 17 - i;
        CHECK_OK(nb_dataset_gather(d32, idx, n, NULL, a, la));
        CHECK_OK(nb_dataset_gather(d16, idx, n, NULL, b, lb));
        int bad = 0;
        double worst = 0;
        for (int64_t i = 0; i < F * n; i++) {
            float r = nbi_half_to_float(nbi_half_from_float(a[i]));
            if (memcmp(&r, &b[i], sizeof r) && bad++ < 3)
                CHECK_MSG(0, "f16 store value %lld: %a, the f32 store's %a rounds to %a",
                          (long long)i, b[i], a[i], r);
            if (a[i] != 0) worst = fmax(worst, fabs((double)b[i] - a[i]) / fabs(a[i]));
        }
        CHECK_MSG(worst <= 0x1p-11, "relative error %.3g", worst);
        CHECK(memcmp(la, lb, sizeof la) == 0);
        /* through a fitted standardisation: the floats' formula on the rounded values */
        nb_norm nz = {0};
        CHECK_OK(nb_norm_fit(&nz, d16, NB_NORM_STANDARD, 1));
        CHECK_OK(nb_dataset_gather(d16, idx, n, &nz, a, NULL));
        bad = 0;
        for (int64_t i = 0; i < F * n; i++) {
            float want = (b[i] - nz.shift[i % F]) / nz.div[i % F];
            if (memcmp(&want, &a[i], sizeof want) && bad++ < 3)
                CHECK_MSG(0, "normalised f16 value %lld: %a, want %a", (long long)i, a[i], want);
        }
        nb_norm_free(&nz);
        free(a);
        free(b);
        nb_dataset_free(d32);
        nb_dataset_free(d16);
    }
    /* features beyond a half: |X|^4 without a log */
    o.frames_first = 0;
    f.log = NB_LOG_NONE;
    f.power = 4;
    o.store = NB_AUDIO_STORE_F16;
    nb_dataset *d = NULL, *du8 = NULL;
    nb_norm deq, deq8;
    CHECK(nb_audio_dataset(&m, &o, &d, &deq) == NB_ERR_ARG && d == NULL);
    CHECK_MSG(strstr(nb_last_error(), "beyond the largest half (65504)") &&
                  strstr(nb_last_error(), ".wav"),
              "%s", nb_last_error());
    o.store = NB_AUDIO_STORE_U8;
    CHECK_OK(nb_audio_dataset(&m, &o, &du8, &deq8));
    o.store = NB_AUDIO_STORE_AUTO;
    int64_t cells = 0;
    if (du8) {
        nb_dataset_info qi;
        nb_dataset_get_info(du8, &qi);
        cells = qi.features * qi.n;
    }
    o.max_bytes = (size_t)(cells * 2); /* halves fit, and overflow */
    CHECK_OK(nb_audio_dataset(&m, &o, &d, &deq));
    if (d && du8) {
        nb_dataset_info qi;
        nb_dataset_get_info(d, &qi);
        CHECK(qi.x_type == NB_ELEM_U8 && deq.kind == NB_NORM_CONST);
        CHECK(deq.shift[0] == deq8.shift[0] && deq.div[0] == deq8.div[0]);
        float *a = malloc(sizeof(float) * (size_t)cells), *b = malloc(sizeof(float) * (size_t)cells);
        int64_t idx[18];
        for (int i = 0; i < 18; i++) idx[i] = i;
        CHECK_OK(nb_dataset_gather(d, idx, 18, NULL, a, NULL));
        CHECK_OK(nb_dataset_gather(du8, idx, 18, NULL, b, NULL));
        CHECK(memcmp(a, b, sizeof(float) * (size_t)cells) == 0);
        free(a);
        free(b);
    }
    o.floats_only = 1; /* ... unless the caller takes floats only */
    nb_dataset *d2 = NULL;
    nb_norm deq2;
    CHECK(nb_audio_dataset(&m, &o, &d2, &deq2) == NB_ERR_ARG && d2 == NULL);
    nb_dataset_free(d);
    nb_dataset_free(du8);
    nb_norm_free(&deq);
    nb_norm_free(&deq8);
    nb_manifest_free(&m);
}

static void dataset_copies_threads(void) {
    const char *manifest = make_clips();
    if (!manifest) return;
    nb_features f = tone_features();
    nb_audio_aug aug = {0.9, 1.1, 0.02, -3, 3, 0.5, 10, 30};
    nb_audio_data_opts o;
    memset(&o, 0, sizeof o);
    o.features = &f;
    o.copies = 2;
    o.aug = &aug;
    o.seed = 5;
    o.store = NB_AUDIO_STORE_F32;
    nb_dataset *d1 = NULL, *d2 = NULL, *d3 = NULL;
    CHECK_OK(nb_set_threads(1));
    CHECK_OK(nb_audio_dataset_load(manifest, &o, &d1, NULL));
    CHECK_OK(nb_set_threads(3));
    CHECK_OK(nb_audio_dataset_load(manifest, &o, &d2, NULL));
    o.seed = 6;
    CHECK_OK(nb_audio_dataset_load(manifest, &o, &d3, NULL));
    if (d1 && d2 && d3) {
        CHECK(nb_dataset_len(d1) == 54);
        nb_dataset_info info;
        nb_dataset_get_info(d1, &info);
        const int64_t F = info.features;
        float *a = malloc(sizeof(float) * (size_t)F * 54),
              *b = malloc(sizeof(float) * (size_t)F * 54);
        float *c = malloc(sizeof(float) * (size_t)F * 54);
        int64_t idx[54];
        int32_t la[54];
        for (int i = 0; i < 54; i++) idx[i] = i;
        CHECK_OK(nb_dataset_gather(d1, idx, 54, NULL, a, la));
        CHECK_OK(nb_dataset_gather(d2, idx, 54, NULL, b, NULL));
        CHECK_OK(nb_dataset_gather(d3, idx, 54, NULL, c, NULL));
        CHECK(memcmp(a, b, sizeof(float) * (size_t)F * 54) == 0); /* 1 or 3 threads */
        /* clip i is sample 3i, the same in both seeds; its copies differ from it and between
         * seeds; all three carry its label */
        for (int i = 0; i < 18; i++) {
            CHECK(memcmp(a + 3 * i * F, c + 3 * i * F, sizeof(float) * (size_t)F) == 0);
            CHECK(memcmp(a + 3 * i * F, a + (3 * i + 1) * F, sizeof(float) * (size_t)F) != 0);
            CHECK(memcmp(a + (3 * i + 1) * F, c + (3 * i + 1) * F, sizeof(float) * (size_t)F) != 0);
            CHECK(la[3 * i] == la[3 * i + 1] && la[3 * i] == la[3 * i + 2]);
        }
        free(a), free(b), free(c);
    }
    nb_dataset_free(d1);
    nb_dataset_free(d2);
    nb_dataset_free(d3);
    /* without a length, clips of different lengths cannot share a shape */
    nb_features g = tone_features();
    g.length = 0;
    o.features = &g;
    o.copies = 0;
    nb_dataset *d = NULL;
    CHECK(nb_audio_dataset_load(manifest, &o, &d, NULL) == NB_ERR_SHAPE && d == NULL);
    CHECK(strstr(nb_last_error(), "give the pipeline a length"));
    /* a missing clip is named */
    nb_manifest m;
    CHECK_OK(nb_manifest_read(manifest, &m));
    char *keep = m.paths[7];
    m.paths[7] = (char *)"/nonexistent/clip.wav";
    o.features = &f;
    CHECK(nb_audio_dataset(&m, &o, &d, NULL) == NB_ERR_IO && d == NULL);
    CHECK(strstr(nb_last_error(), "/nonexistent/clip.wav"));
    m.paths[7] = keep;
    o.copies = 2;
    o.aug = NULL;
    CHECK(nb_audio_dataset(&m, &o, &d, NULL) == NB_ERR_ARG);
    nb_manifest_free(&m);
    nb_set_threads(2);
}

/* The loader and fit train on it: tones of three pitches are told apart, from the f32 store
 * and from the f16 store alike (the same seed: the two runs differ only by the rounding of
 * the inputs to halves, so their losses end close). */
static void dataset_trains(void) {
    const char *manifest = make_clips();
    if (!manifest) return;
    nb_features f = tone_features();
    f.norm = NB_UTT_MEANVAR;
    double loss[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        nb_audio_data_opts o;
        memset(&o, 0, sizeof o);
        o.features = &f;
        o.store = k ? NB_AUDIO_STORE_F16 : NB_AUDIO_STORE_F32;
        nb_dataset *ds = NULL;
        CHECK_OK(nb_audio_dataset_load(manifest, &o, &ds, NULL));
        if (!ds) return;
        nb_dataset_info info;
        nb_dataset_get_info(ds, &info);
        CHECK(info.x_type == (k ? NB_ELEM_F16 : NB_ELEM_F32));
        nb_model *model = nb_model_new(info.sample_rank, info.sample_shape, 1);
        CHECK_PTR(model);
        if (!model) {
            nb_dataset_free(ds);
            return;
        }
        CHECK_OK(nb_model_flatten(model));
        CHECK_OK(nb_model_dense(model, 3, NB_ACT_NONE));
        nb_adam_opts ao = {.lr = 0.01};
        nb_optim *opt = nb_adam_new(nb_model_params(model), &ao);
        nb_fit_opts fo = {0};
        fo.epochs = 30;
        fo.batch_size = 6;
        fo.metrics = NB_METRIC_ACCURACY;
        fo.verbose = NB_VERBOSE_QUIET;
        CHECK_OK(nb_fit(model, opt, ds, &fo, NULL));
        nb_metrics *mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY, 3, 0);
        CHECK_OK(nb_evaluate(model, ds, NULL, mt));
        nb_metric_values v;
        nb_metrics_result(mt, &v);
        CHECK_MSG(v.accuracy == 1.0, "accuracy %.3f on the tones (%s store)", v.accuracy,
                  k ? "f16" : "f32");
        loss[k] = v.loss;
        nb_metrics_free(mt);
        nb_optim_free(opt);
        nb_model_free(model);
        nb_dataset_free(ds);
    }
    CHECK_MSG(loss[0] >= 0 && fabs(loss[1] - loss[0]) <= 0.02 * loss[0] + 1e-4,
              "final loss %.6g from f32, %.6g from f16", loss[0], loss[1]);
    printf("  tones: final loss %.6g from the f32 store, %.6g from f16\n", loss[0], loss[1]);
}

static void cleanup(void) {
    if (!dir[0]) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static const nbt_case cases[] = {
    {"shift_gain_noise", shift_gain_noise}, {"speed", speed},
    {"augment_chain", augment_chain},       {"specaugment", specaugment},
    {"manifest_parse", manifest_parse},     {"manifest_split", manifest_split},
    {"dataset_stores", dataset_stores},     {"dataset_f16", dataset_f16},
    {"dataset_copies_threads", dataset_copies_threads},
    {"dataset_trains", dataset_trains},     {"cleanup", cleanup},
};
NBT_MAIN(cases)
