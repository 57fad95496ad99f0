/* test_features — spectral features (nabla/audio.h) against PyTorch and NumPy
 * (tests/ref/features.txt, from tests/ref/gen_audio.py):
 *   - nb_stft against torch.stft and a NumPy definition (pad, frame, window, rfft) on six
 *     configurations: Hann/Hamming/rectangular, periodic and symmetric windows, a window
 *     shorter than n_fft, odd n_fft, every pad mode, center off, normalized;
 *   - nb_mel_filterbank against librosa's algorithm (HTK and Slaney scales, no and Slaney
 *     norm), which the script checks against torchaudio's;
 *   - whole pipelines (log-mel, MFCC from dB with top_db and mean/variance normalisation, a
 *     magnitude spectrogram, a length fix) against torch.stft + matrix mel + log + DCT;
 *   - the text form: canonical output, round trips, every kind of bad text;
 *   - windows, the DCT's orthonormality, padding, shapes and errors.
 * Tolerances: 1e-5 of the largest reference magnitude (float32 on both sides). */
#include "nbtest.h"

#include "audio/audio.h"
#include "fixture.h"

#include <stdlib.h>

#define FIXTURE "tests/ref/features.txt"

static const double PI = 3.14159265358979323846;

static nbt_fixture *fx;

static bool load(void) {
    if (!fx) fx = nbt_fixture_load(FIXTURE);
    CHECK_MSG(fx != NULL, "cannot load %s (run the tests from the repository root)", FIXTURE);
    return fx != NULL;
}

static const nbt_array *get(const char *name) {
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture lacks %s", name);
    return a;
}

/* |got − want| <= rel · max|want| everywhere; returns the worst ratio to max|want| */
static double compare_rel(const char *what, const float *got, const float *want, int64_t n,
                          double rel) {
    double peak = 0.0, worst = 0.0;
    for (int64_t i = 0; i < n; i++) peak = fmax(peak, fabs(want[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - want[i]));
    CHECK_MSG(worst <= rel * peak, "%s: max difference %.3g is %.3g of the peak %.4g (limit %.0e)",
              what, worst, worst / peak, peak, rel);
    return worst / peak;
}

/* ---- STFT ------------------------------------------------------------------------------ */

typedef struct stft_case {
    const char *name;
    int64_t n, n_fft, hop, win_length;
    nb_window_kind window;
    int periodic, center;
    nb_pad_mode pad;
    int normalized;
} stft_case;

/* the STFT_CASES of gen_audio.py */
static const stft_case stft_cases[] = {
    {"base", 480, 400, 160, 400, NB_WINDOW_HANN, 1, 1, NB_PAD_REFLECT, 0},
    {"hamming_short_window", 200, 64, 20, 50, NB_WINDOW_HAMMING, 1, 1, NB_PAD_CONSTANT, 1},
    {"odd_replicate", 150, 45, 11, 45, NB_WINDOW_HANN, 1, 1, NB_PAD_REPLICATE, 0},
    {"circular", 120, 32, 8, 32, NB_WINDOW_HANN, 1, 1, NB_PAD_CIRCULAR, 0},
    {"no_center_rect", 200, 64, 25, 64, NB_WINDOW_RECT, 1, 0, NB_PAD_REFLECT, 0},
    {"symmetric", 100, 16, 4, 15, NB_WINDOW_HANN, 0, 1, NB_PAD_REFLECT, 0},
};

static void stft_parity(void) {
    if (!load()) return;
    double worst = 0.0;
    for (size_t c = 0; c < sizeof stft_cases / sizeof *stft_cases; c++) {
        const stft_case *sc = &stft_cases[c];
        char name[96];
        snprintf(name, sizeof name, "stft_%s_x", sc->name);
        const nbt_array *x = get(name);
        snprintf(name, sizeof name, "stft_%s_numpy", sc->name);
        const nbt_array *np_ref = get(name);
        snprintf(name, sizeof name, "stft_%s_torch", sc->name);
        const nbt_array *th_ref = get(name);
        if (!x || !np_ref || !th_ref) continue;
        nb_features f = {0};
        f.n_fft = sc->n_fft;
        f.hop = sc->hop;
        f.win_length = sc->win_length;
        f.window = sc->window;
        f.symmetric = !sc->periodic;
        f.no_center = !sc->center;
        f.pad = sc->pad;
        f.normalized = sc->normalized;
        int64_t T = 0;
        CHECK_OK(nb_stft(&f, x->data, x->numel, NULL, &T));
        CHECK_MSG(np_ref->rank == 3 && np_ref->shape[0] == sc->n_fft / 2 + 1 &&
                      np_ref->shape[1] == T && np_ref->shape[2] == 2,
                  "%s: %lld frames, the reference has %lld", sc->name, (long long)T,
                  (long long)np_ref->shape[1]);
        if (np_ref->numel != (sc->n_fft / 2 + 1) * T * 2) continue;
        float *S = malloc(sizeof(float) * (size_t)np_ref->numel);
        int64_t T2 = 0;
        CHECK_OK(nb_stft(&f, x->data, x->numel, S, &T2));
        CHECK(T2 == T);
        snprintf(name, sizeof name, "stft %s vs numpy", sc->name);
        worst = fmax(worst, compare_rel(name, S, np_ref->data, np_ref->numel, 1e-5));
        snprintf(name, sizeof name, "stft %s vs torch.stft", sc->name);
        worst = fmax(worst, compare_rel(name, S, th_ref->data, th_ref->numel, 1e-5));
        free(S);
    }
    printf("     worst STFT difference: %.2g of the peak magnitude\n", worst);
}

/* ---- mel filterbanks ---------------------------------------------------------------------- */

static void mel_parity(void) {
    if (!load()) return;
    static const struct {
        const char *name;
        double rate;
        int64_t n_fft, n_mels;
        double f_min, f_max;
        nb_mel_scale scale;
        nb_mel_norm norm;
    } cases[] = {
        {"htk", 16000, 400, 40, 0, 8000, NB_MEL_HTK, NB_MEL_NORM_NONE},
        {"slaney", 16000, 512, 40, 20, 7600, NB_MEL_SLANEY, NB_MEL_NORM_SLANEY},
        {"htk_slaney_norm", 22050, 512, 32, 0, 11025, NB_MEL_HTK, NB_MEL_NORM_SLANEY},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char name[64];
        snprintf(name, sizeof name, "mel_%s", cases[c].name);
        const nbt_array *ref = get(name);
        const int64_t K = cases[c].n_fft / 2 + 1, M = cases[c].n_mels;
        if (!ref || ref->numel != K * M) continue;
        float *fb = malloc(sizeof(float) * (size_t)(K * M));
        CHECK_OK(nb_mel_filterbank(K, cases[c].f_min, cases[c].f_max, M, cases[c].rate,
                                   cases[c].scale, cases[c].norm, fb));
        compare_rel(name, fb, ref->data, K * M, 1e-6);
        free(fb);
    }
    /* the scales at their landmarks */
    CHECK_CLOSE(nb_hz_to_mel(700, NB_MEL_HTK), 2595 * log10(2.0), 1e-9, 1e-12);
    CHECK_CLOSE(nb_hz_to_mel(1000, NB_MEL_SLANEY), 15, 1e-12, 1e-12);
    CHECK_CLOSE(nb_hz_to_mel(6400, NB_MEL_SLANEY), 42, 1e-9, 1e-12);
    CHECK_CLOSE(nb_hz_to_mel(500, NB_MEL_SLANEY), 7.5, 1e-12, 1e-12);
    for (double hz = 0; hz < 20000; hz += 777.7)
        for (int s = 0; s < 2; s++)
            CHECK_CLOSE(nb_mel_to_hz(nb_hz_to_mel(hz, (nb_mel_scale)s), (nb_mel_scale)s), hz, 1e-9,
                        1e-12);
    float fb[4];
    CHECK(nb_mel_filterbank(1, 0, 100, 2, 16000, NB_MEL_HTK, NB_MEL_NORM_NONE, fb) == NB_ERR_ARG);
    CHECK(nb_mel_filterbank(2, 200, 100, 2, 16000, NB_MEL_HTK, NB_MEL_NORM_NONE, fb) == NB_ERR_ARG);
}

/* ---- pipelines ---------------------------------------------------------------------------- */

static void pipeline_parity(void) {
    if (!load()) return;
    /* the PIPELINES of gen_audio.py as text forms */
    static const struct {
        const char *name;
        int64_t n;
        const char *text;
    } cases[] = {
        {"logmel", 1200, "n_fft=400 hop=160 n_mels=40 f_max=8000 mel_scale=htk log=ln"},
        {"mfcc_db", 1200,
         "audio/1 n_fft=512 win_length=400 hop=160 window=hamming n_mels=40 f_min=20 "
         "f_max=7600 mel_scale=slaney mel_norm=slaney log=db top_db=80 n_mfcc=13 norm=meanvar"},
        {"magnitude_ln_mean", 400, "n_fft=64 hop=32 power=1 n_mels=0 log=ln norm=mean"},
        {"length_center", 1100,
         "length=1200 align=center n_fft=400 hop=160 n_mels=40 log=ln norm=meanvar"},
    };
    const nbt_array *x = get("pipe_x");
    if (!x) return;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char name[64];
        snprintf(name, sizeof name, "pipe_%s_torch", cases[c].name);
        const nbt_array *ref = get(name);
        nb_features f;
        CHECK_OK(nb_features_parse(cases[c].text, strlen(cases[c].text), &f));
        nb_featurizer *fz = NULL;
        CHECK_OK(nb_featurizer_new(&f, &fz));
        int64_t F = 0, T = 0;
        CHECK_OK(nb_features_shape(&f, cases[c].n, &F, &T));
        if (!ref || !fz) {
            nb_featurizer_free(fz);
            continue;
        }
        CHECK_MSG(ref->rank == 2 && ref->shape[0] == F && ref->shape[1] == T,
                  "%s: shape [%lld, %lld], the reference's [%lld, %lld]", cases[c].name,
                  (long long)F, (long long)T, (long long)ref->shape[0],
                  (long long)(ref->rank > 1 ? ref->shape[1] : 0));
        snprintf(name, sizeof name, "pipe_%s_float64", cases[c].name);
        const nbt_array *exact = get(name);
        if (ref->numel == F * T && exact && exact->numel == F * T) {
            float *out = malloc(sizeof(float) * (size_t)(F * T));
            CHECK_OK(nb_featurizer_run(fz, x->data, cases[c].n, out));
            double a = compare_rel(name, out, exact->data, F * T, 1e-5);
            snprintf(name, sizeof name, "pipe_%s_torch", cases[c].name);
            double b = compare_rel(name, out, ref->data, F * T, 3e-5);
            printf("     %s: %.2g of the peak from float64, %.2g from torch float32\n",
                   cases[c].name, a, b);
            free(out);
        }
        nb_featurizer_free(fz);
    }
}

/* From a file: a stereo clip at 22.05 kHz is mixed down and resampled to the pipeline's rate. */
static void featurize_file(void) {
    nb_audio a;
    CHECK_OK(nb_wav_read("tests/data/audio/py_s16_stereo_22k.wav", &a, NULL));
    nb_features f = {.n_fft = 64, .hop = 16, .n_mels = 8, .norm = NB_UTT_MEANVAR};
    nb_featurizer *fz;
    CHECK_OK(nb_featurizer_new(&f, &fz));
    nb_tensor *t = NULL;
    CHECK_OK(nb_featurize_audio(fz, &a, &t));
    if (t) {
        const int64_t n16 = (a.frames * 16000 + 22049) / 22050;
        CHECK(t->rank == 2 && t->shape[0] == 8 && t->shape[1] == 1 + n16 / 16);
        /* the same by hand: mono, resample, run */
        nb_audio b = a;
        b.data = malloc(sizeof(float) * (size_t)(a.frames * 2));
        memcpy(b.data, a.data, sizeof(float) * (size_t)(a.frames * 2));
        CHECK_OK(nb_audio_to_mono(&b));
        nb_resampler *r;
        CHECK_OK(nb_resampler_new(22050, 16000, NULL, &r));
        float *y = malloc(sizeof(float) * (size_t)n16);
        nb_resampler_run(r, b.data, b.frames, 1, y, 1);
        float *out = malloc(sizeof(float) * (size_t)t->numel);
        CHECK_OK(nb_featurizer_run(fz, y, n16, out));
        CHECK(memcmp(out, nb_f32(t), sizeof(float) * (size_t)t->numel) == 0);
        /* meanvar: every feature has mean 0 and variance v / (v + eps) over frames, v its
         * variance before normalisation */
        nb_features g = f;
        g.norm = NB_UTT_NONE;
        nb_featurizer *fz2;
        CHECK_OK(nb_featurizer_new(&g, &fz2));
        float *raw = malloc(sizeof(float) * (size_t)t->numel);
        CHECK_OK(nb_featurizer_run(fz2, y, n16, raw));
        const int64_t T = t->shape[1];
        for (int64_t j = 0; j < 8; j++) {
            double s = 0, s2 = 0, q = 0, q2 = 0;
            for (int64_t k = 0; k < T; k++) s += out[j * T + k], q += raw[j * T + k];
            for (int64_t k = 0; k < T; k++) {
                s2 += pow(out[j * T + k] - s / (double)T, 2);
                q2 += pow(raw[j * T + k] - q / (double)T, 2);
            }
            const double v = q2 / (double)T;
            CHECK_CLOSE(s / (double)T, 0.0, 1e-5, 0);
            CHECK_CLOSE(s2 / (double)T, v / (v + 1e-5), 1e-5, 1e-5); /* norm_eps 0: 1e-5 */
        }
        free(raw);
        nb_featurizer_free(fz2);
        free(out), free(y), free(b.data);
        nb_resampler_free(r);
    }
    nb_tensor_free(t);
    CHECK(nb_featurizer_features(fz)->n_mels == 8);
    nb_featurizer_free(fz);
    nb_audio_free(&a);
}

/* ---- the text form ------------------------------------------------------------------------ */

static void text_form(void) {
    nb_features d = {0};
    char buf[1024];
    size_t n = nb_features_format(&d, buf, sizeof buf);
    CHECK(n > 0 && n < sizeof buf && strlen(buf) == n);
    CHECK_MSG(strcmp(buf,
                     "audio/1 rate=16000 length=0 align=start n_fft=400 win_length=0 hop=160 "
                     "window=hann periodic=1 center=1 pad=reflect normalized=0 power=2 n_mels=40 "
                     "f_min=0 f_max=0 mel_scale=htk mel_norm=none log=ln log_eps=1e-06 "
                     "amin=1e-10 top_db=0 n_mfcc=0 norm=none norm_eps=1e-05 resample_zeros=24 "
                     "resample_rolloff=0.9 resample_beta=8") == 0,
              "default text: %s", buf);
    /* snprintf-style: the length without a buffer, truncation with a short one */
    CHECK(nb_features_format(&d, NULL, 0) == n);
    char small[10];
    CHECK(nb_features_format(&d, small, sizeof small) == n && strcmp(small, "audio/1 r") == 0);
    /* every field changed round-trips */
    nb_features f = d;
    f.rate = 22050;
    f.length = 22050;
    f.align = NB_ALIGN_CENTER;
    f.n_fft = 512;
    f.win_length = 441;
    f.hop = 221;
    f.window = NB_WINDOW_HAMMING;
    f.symmetric = 1;
    f.no_center = 1;
    f.pad = NB_PAD_CIRCULAR;
    f.normalized = 1;
    f.power = 1.0;
    f.n_mels = 64;
    f.f_min = 30.5;
    f.f_max = 10000.25;
    f.mel_scale = NB_MEL_SLANEY;
    f.mel_norm = NB_MEL_NORM_SLANEY;
    f.log = NB_LOG_DB;
    f.log_eps = 1e-3;
    f.amin = 1e-8;
    f.top_db = 80;
    f.n_mfcc = 20;
    f.norm = NB_UTT_MEANVAR;
    f.norm_eps = 0.1;
    f.resample.zero_crossings = 16;
    f.resample.rolloff = 0.85;
    f.resample.beta = 8.555;
    n = nb_features_format(&f, buf, sizeof buf);
    CHECK(n > 0);
    nb_features g;
    CHECK_OK(nb_features_parse(buf, n, &g));
    char buf2[1024];
    nb_features_format(&g, buf2, sizeof buf2);
    CHECK_MSG(strcmp(buf, buf2) == 0, "%s\nvs\n%s", buf, buf2);
    CHECK(g.rate == 22050 && g.length == 22050 && g.align == NB_ALIGN_CENTER &&
          g.win_length == 441 && g.pad == NB_PAD_CIRCULAR && g.f_max == 10000.25 &&
          g.resample.beta == 8.555 && g.norm_eps == 0.1 && g.n_mfcc == 20);
    /* a subset over the defaults, blanks of any kind, no version word */
    const char *t = "  n_mels=64\tn_mfcc=13\n log=db\r\n";
    CHECK_OK(nb_features_parse(t, strlen(t), &g));
    CHECK(g.n_mels == 64 && g.n_mfcc == 13 && g.log == NB_LOG_DB && g.n_fft == 400);
    CHECK_OK(nb_features_parse("", 0, &g));
    CHECK(g.n_mels == 40);
    /* bad texts, each named */
    static const struct {
        const char *text;
        nb_status want;
        const char *msg;
    } bad[] = {
        {"n_mels=40 colour=blue", NB_ERR_FORMAT, "unknown key 'colour'"},
        {"n_mels=40 n_mels=41", NB_ERR_FORMAT, "n_mels is given twice"},
        {"n_mels=forty", NB_ERR_FORMAT, "n_mels=forty is not a valid value (an integer)"},
        {"power=2x", NB_ERR_FORMAT, "power=2x is not a valid value (a number)"},
        {"power=nan", NB_ERR_FORMAT, "power=nan"},
        {"window=blackman", NB_ERR_FORMAT, "(one of hann, hamming, rect)"},
        {"n_mels", NB_ERR_FORMAT, "'n_mels' is not key=value"},
        {"=3", NB_ERR_FORMAT, "'=3' is not key=value"},
        {"audio/2 n_mels=3", NB_ERR_UNSUPPORTED, "version 'audio/2'"},
        {"n_mels=40 audio/1", NB_ERR_FORMAT, "'audio/1' is not key=value"},
        {"rate=99999999999", NB_ERR_FORMAT, "rate=99999999999"},
        {"n_fft=0", NB_ERR_FORMAT, "n_fft must be"},
        {"n_mfcc=50", NB_ERR_FORMAT, "n_mfcc needs"},
        {"f_max=9000", NB_ERR_FORMAT, "f_max <= rate / 2"},
        {"hop=", NB_ERR_FORMAT, "hop= is not a valid value"},
        {"length=100", NB_ERR_FORMAT, "too few to reflect-pad"},
        /* fuzz_features: ln(x + 1e-90) in float32 is ln(0) = -inf, and the DCT made NaN */
        {"log_eps=1e-90", NB_ERR_FORMAT, "log_eps must be a positive float32 of normal size"},
        {"log=db amin=1e-45", NB_ERR_FORMAT, "amin must be a positive float32"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        g.n_mels = 123;
        nb_status st = nb_features_parse(bad[i].text, strlen(bad[i].text), &g);
        CHECK_MSG(st == bad[i].want && strstr(nb_last_error(), bad[i].msg),
                  "'%s': %s, '%s' (want '%s')", bad[i].text, nb_status_str(st), nb_last_error(),
                  bad[i].msg);
        CHECK(g.n_mels == 40); /* the defaults on failure */
    }
    /* an invalid value formats to nothing */
    f = d;
    f.n_fft = -1;
    CHECK(nb_features_format(&f, buf, sizeof buf) == 0 && buf[0] == 0);
}

/* Every 0 is a default, so the checks' bad values are negative or too large: a rate of -1, a
 * derived hop of 0 (10 ms at 50 Hz), a power of -1, a rolloff of 1.5. */
static void checks(void) {
    nb_features f = {0};
    CHECK_OK(nb_features_check(&f));
    f.rate = -1;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "rate"));
    f = (nb_features){0};
    f.win_length = 401;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "win_length"));
    f = (nb_features){0};
    f.n_fft = 3;
    f.rate = 50;
    f.hop = 0;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "hop"));
    f = (nb_features){0};
    f.power = -1;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "power"));
    f = (nb_features){0};
    f.f_min = 9000;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "f_min"));
    f = (nb_features){0};
    f.n_mfcc = 13;
    f.log = NB_LOG_NONE;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "n_mfcc"));
    f = (nb_features){0};
    f.pad = (nb_pad_mode)7;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "pad"));
    f = (nb_features){0};
    f.resample.rolloff = 1.5;
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "resample_rolloff"));
    f = (nb_features){0};
    f.n_fft = 1; /* one bin makes no filterbank (found by fuzz_features) */
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "n_fft must be >= 2"));
    f.no_mel = 1;
    CHECK_OK(nb_features_check(&f));
    f.n_mels = 8; /* bands, and no filterbank */
    CHECK(nb_features_check(&f) == NB_ERR_ARG && strstr(nb_last_error(), "no_mel"));
    f = (nb_features){0};
    f.no_center = 2;
    CHECK(nb_features_check(&f) == NB_ERR_ARG);
    CHECK(nb_features_check(NULL) == NB_ERR_ARG);
    /* shapes: torch's frame counts */
    f = (nb_features){0};
    int64_t F, T;
    CHECK_OK(nb_features_shape(&f, 16000, &F, &T));
    CHECK(F == 40 && T == 101);
    f.no_center = 1;
    CHECK_OK(nb_features_shape(&f, 16000, &F, &T));
    CHECK(T == 1 + (16000 - 400) / 160);
    CHECK(nb_features_shape(&f, 399, &F, &T) == NB_ERR_ARG);
    f.no_center = 0;
    CHECK(nb_features_shape(&f, 200, &F, &T) == NB_ERR_ARG); /* reflect needs > 200 */
    CHECK(strstr(nb_last_error(), "reflect-pad"));
    f.pad = NB_PAD_CONSTANT;
    CHECK_OK(nb_features_shape(&f, 0, &F, &T));
    CHECK(T == 1);
    f.no_mel = 1;
    CHECK_OK(nb_features_shape(&f, 1000, &F, &T));
    CHECK(F == 201);
    f.length = 16000;
    CHECK_OK(nb_features_shape(&f, 5, &F, &T)); /* the length decides */
    CHECK(T == 101);
}

/* ---- windows, DCT, padding -------------------------------------------------------------- */

static void windows_dct_padding(void) {
    float w[8];
    CHECK_OK(nb_window(NB_WINDOW_HANN, 8, 1, w));
    for (int i = 0; i < 8; i++) CHECK_CLOSE(w[i], 0.5 - 0.5 * cos(2 * PI * i / 8), 1e-7, 0);
    CHECK_OK(nb_window(NB_WINDOW_HAMMING, 8, 0, w));
    for (int i = 0; i < 8; i++) CHECK_CLOSE(w[i], 0.54 - 0.46 * cos(2 * PI * i / 7), 1e-7, 0);
    CHECK(w[0] == w[7]);
    CHECK_OK(nb_window(NB_WINDOW_RECT, 3, 1, w));
    CHECK(w[0] == 1 && w[2] == 1);
    CHECK_OK(nb_window(NB_WINDOW_HANN, 1, 0, w));
    CHECK(w[0] == 1.0f);
    CHECK(nb_window(NB_WINDOW_HANN, 0, 1, w) == NB_ERR_ARG);
    CHECK(nb_window((nb_window_kind)9, 4, 1, w) == NB_ERR_ARG);
    /* the orthonormal DCT: D·Dᵀ = I */
    const int N = 12;
    float D[144];
    CHECK_OK(nb_dct_matrix(N, N, D));
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) {
            double s = 0;
            for (int m = 0; m < N; m++) s += (double)D[a * N + m] * D[b * N + m];
            CHECK_CLOSE(s, a == b ? 1.0 : 0.0, 1e-6, 0);
        }
    CHECK(nb_dct_matrix(13, 12, D) == NB_ERR_ARG);
    /* padding, as numpy.pad's reflect, edge, wrap and constant */
    const float x[5] = {1, 2, 3, 4, 5};
    float xp[11];
    const float want[4][11] = {{4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2},
                               {0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0},
                               {1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5},
                               {3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3}};
    for (int m = 0; m < 4; m++) {
        nbi_pad_signal(x, 5, 3, (nb_pad_mode)m, xp);
        CHECK_MSG(memcmp(xp, want[m], sizeof xp) == 0, "pad mode %s", nbi_pad_name((nb_pad_mode)m));
    }
    /* the length fix */
    float y[7];
    nbi_fix_length(x, 5, y, 7, NB_ALIGN_START);
    CHECK(y[0] == 1 && y[4] == 5 && y[5] == 0 && y[6] == 0);
    nbi_fix_length(x, 5, y, 7, NB_ALIGN_CENTER);
    CHECK(y[0] == 0 && y[1] == 1 && y[5] == 5 && y[6] == 0);
    nbi_fix_length(x, 5, y, 2, NB_ALIGN_CENTER);
    CHECK(y[0] == 2 && y[1] == 3);
    nbi_fix_length(x, 5, y, 2, NB_ALIGN_START);
    CHECK(y[0] == 1 && y[1] == 2);
}

static void teardown(void) {
    nbt_fixture_free(fx);
    fx = NULL;
}

/* ---- zero means the defaults -------------------------------------------------------------- */

/* A zeroed nb_features is what nb_features_default() used to return: the same
 * settings written out, the same canonical text, the same features bit for bit. The text's
 * own spellings keep their meaning: hop=0 is n_fft / 4, n_mels=0 no filterbank,
 * resample_beta=0 a real 0 (NB_ZERO in the struct). */
static void zero_is_default(void) {
    const nb_features old = {.rate = 16000,
                             .n_fft = 400,
                             .hop = 160,
                             .window = NB_WINDOW_HANN,
                             .pad = NB_PAD_REFLECT,
                             .power = 2.0,
                             .n_mels = 40,
                             .mel_scale = NB_MEL_HTK,
                             .log = NB_LOG_LN,
                             .log_eps = 1e-6,
                             .amin = 1e-10,
                             .norm = NB_UTT_NONE,
                             .norm_eps = 1e-5,
                             .resample = {24, 0.9, 8.0}};
    const nb_features zero = {0};
    char a[1024], b[1024];
    CHECK(nb_features_format(&zero, a, sizeof a) > 0);
    CHECK(nb_features_format(&old, b, sizeof b) > 0);
    CHECK_MSG(strcmp(a, b) == 0, "{0}: %s\nold defaults: %s", a, b);
    nb_featurizer *fz0 = NULL, *fz1 = NULL, *fz2 = NULL;
    CHECK_OK(nb_featurizer_new(&zero, &fz0));
    CHECK_OK(nb_featurizer_new(&old, &fz1));
    CHECK(nb_featurizer_new(NULL, &fz2) == NB_ERR_ARG && fz2 == NULL); /* a pipeline is needed */
    if (!fz0 || !fz1) {
        nb_featurizer_free(fz0), nb_featurizer_free(fz1);
        return;
    }
    /* the featurizer keeps the settings with the defaults filled in */
    const nb_features *r = nb_featurizer_features(fz0);
    CHECK(r->rate == 16000 && r->n_fft == 400 && r->hop == 160 && r->n_mels == 40 &&
          r->power == 2.0 && r->log_eps == 1e-6 && r->resample.zero_crossings == 24);
    enum { N = 4000 };
    static float x[N], y0[40 * 26], y1[40 * 26];
    for (int i = 0; i < N; i++) x[i] = (float)(0.3 * sin(0.05 * i + 0.0001 * i * i));
    int64_t F, T;
    CHECK_OK(nb_features_shape(&zero, N, &F, &T));
    CHECK(F == 40 && T == 26);
    CHECK_OK(nb_featurizer_run(fz0, x, N, y0));
    CHECK_OK(nb_featurizer_run(fz1, x, N, y1));
    CHECK(memcmp(y0, y1, sizeof y0) == 0);
    nb_featurizer_free(fz0), nb_featurizer_free(fz1);
    /* the rate scales the time-based defaults: 25 ms frames every 10 ms */
    nb_features f8 = {.rate = 8000};
    CHECK_OK(nb_features_shape(&f8, 8000, &F, &T));
    CHECK(T == 101); /* 1 + 8000 / 80 */
    /* the text form's own spellings */
    nb_features g;
    const char *t = "n_fft=512 hop=0 n_mels=0 periodic=0 center=0 resample_beta=0";
    CHECK_OK(nb_features_parse(t, strlen(t), &g));
    CHECK(g.hop == 128 && g.no_mel == 1 && g.n_mels == 0 && g.symmetric == 1 && g.no_center == 1 &&
          g.resample.beta == 0.0 && signbit(g.resample.beta));
    CHECK(nb_features_format(&g, a, sizeof a) > 0);
    CHECK_MSG(strstr(a, " hop=128 ") && strstr(a, " n_mels=0 ") && strstr(a, " periodic=0 ") &&
                  strstr(a, " center=0 ") && strstr(a, " resample_beta=0"),
              "%s", a);
    /* a 0 the text never allowed is still refused there */
    CHECK(nb_features_parse("rate=0", 6, &g) == NB_ERR_FORMAT && strstr(nb_last_error(), "rate"));
    CHECK(nb_features_parse("power=0", 7, &g) == NB_ERR_FORMAT);
    CHECK(nb_features_parse("periodic=2", 10, &g) == NB_ERR_FORMAT);
}

static const nbt_case cases[] = {
    {"stft_parity", stft_parity},
    {"mel_parity", mel_parity},
    {"pipeline_parity", pipeline_parity},
    {"featurize_file", featurize_file},
    {"text_form", text_form},
    {"checks", checks},
    {"zero_is_default", zero_is_default},
    {"windows_dct_padding", windows_dct_padding},
    {"teardown", teardown},
};
NBT_MAIN(cases)
