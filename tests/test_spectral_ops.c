/* test_spectral_ops — the differentiable spectral ops (nabla/ops.h: nb_stft_op, nb_spec_power,
 * nb_filterbank) and the feature pipeline built from them (nb_features_apply), against
 * PyTorch (tests/ref/features.txt, from tests/ref/gen_audio.py: torch.stft, matrix mel, log,
 * DCT, normalisation) and against the featurizer (nb_featurizer_run):
 *   - the STFT op on the six STFT configurations, batched and single;
 *   - the four pipelines (log-mel, MFCC from dB with top_db and mean/variance normalisation,
 *     a magnitude spectrogram with mean normalisation, a length fix) as ops;
 *   - a gradient through the whole pipeline (waveform → normalised MFCC) against central
 *     differences in float64 arithmetic on the featurizer; the single ops are checked by the
 *     registry walk (test_gradcheck);
 *   - the same bits on 1 and 2 threads; errors for bad shapes and settings. */
#include "nbtest.h"

#include "audio/audio.h"
#include "fixture.h"
#include "nabla/autograd.h"
#include "nabla/ops.h"

#include <stdlib.h>
#include <string.h>

#define FIXTURE "tests/ref/features.txt"

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

/* the STFT_CASES of gen_audio.py */
static const struct {
    const char *name;
    int64_t n, n_fft, hop, win_length;
    nb_window_kind window;
    int periodic, center;
    nb_pad_mode pad;
    int normalized;
} stft_cases[] = {
    {"base", 480, 400, 160, 400, NB_WINDOW_HANN, 1, 1, NB_PAD_REFLECT, 0},
    {"hamming_short_window", 200, 64, 20, 50, NB_WINDOW_HAMMING, 1, 1, NB_PAD_CONSTANT, 1},
    {"odd_replicate", 150, 45, 11, 45, NB_WINDOW_HANN, 1, 1, NB_PAD_REPLICATE, 0},
    {"circular", 120, 32, 8, 32, NB_WINDOW_HANN, 1, 1, NB_PAD_CIRCULAR, 0},
    {"no_center_rect", 200, 64, 25, 64, NB_WINDOW_RECT, 1, 0, NB_PAD_REFLECT, 0},
    {"symmetric", 100, 16, 4, 15, NB_WINDOW_HANN, 0, 1, NB_PAD_REFLECT, 0},
};

static void stft_op_parity(void) {
    if (!load()) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    CHECK_PTR(ctx);
    if (!ctx) return;
    double worst = 0.0;
    for (size_t c = 0; c < sizeof stft_cases / sizeof *stft_cases; c++) {
        char name[96];
        snprintf(name, sizeof name, "stft_%s_x", stft_cases[c].name);
        const nbt_array *x = get(name);
        snprintf(name, sizeof name, "stft_%s_torch", stft_cases[c].name);
        const nbt_array *ref = get(name);
        if (!x || !ref) continue;
        const int64_t L = x->numel, wl = stft_cases[c].win_length;
        /* a batch of two: the signal and its negation */
        nb_tensor *xb = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){2, L});
        nb_tensor *w = nb_tensor_new(ctx, NB_F32, 1, &wl);
        CHECK_PTR(xb);
        CHECK_PTR(w);
        if (!xb || !w) break;
        float *xd = xb->data;
        for (int64_t i = 0; i < L; i++) {
            xd[i] = x->data[i];
            xd[L + i] = -x->data[i];
        }
        CHECK_OK(nb_window(stft_cases[c].window, wl, stft_cases[c].periodic, w->data));
        nb_tensor *S =
            nb_stft_op(ctx, xb, w, stft_cases[c].n_fft, stft_cases[c].hop, stft_cases[c].center,
                       (int)stft_cases[c].pad, stft_cases[c].normalized);
        nb_tensor *x1 = nb_reshape(ctx, nb_slice(ctx, xb, 0, 0, 1, 1), 1, &L);
        nb_tensor *S1 =
            nb_stft_op(ctx, x1, w, stft_cases[c].n_fft, stft_cases[c].hop, stft_cases[c].center,
                       (int)stft_cases[c].pad, stft_cases[c].normalized);
        CHECK_MSG(S && S1, "%s: %s", stft_cases[c].name, nb_last_error());
        if (!S || !S1) continue;
        CHECK(S->rank == 4 && S->shape[0] == 2 && S1->rank == 3);
        CHECK_MSG(S1->numel == ref->numel && S1->shape[1] == ref->shape[1], "%s: shape mismatch",
                  stft_cases[c].name);
        if (S1->numel != ref->numel) continue;
        snprintf(name, sizeof name, "stft op %s vs torch.stft", stft_cases[c].name);
        worst = fmax(worst, compare_rel(name, S1->data, ref->data, ref->numel, 1e-5));
        const float *s = S->data;
        worst = fmax(worst, compare_rel(name, s, ref->data, ref->numel, 1e-5));
        for (int64_t i = 0; i < ref->numel; i++)
            if (s[ref->numel + i] != -s[i]) {
                CHECK_MSG(0, "%s: the batch's second signal is not the negation at %lld",
                          stft_cases[c].name, (long long)i);
                break;
            }
    }
    printf("     worst STFT op difference: %.2g of the peak magnitude\n", worst);
    nb_ctx_free(ctx);
}

/* the PIPELINES of gen_audio.py as text forms (as test_features) */
static const struct {
    const char *name;
    int64_t n;
    const char *text;
} pipes[] = {
    {"logmel", 1200, "n_fft=400 hop=160 n_mels=40 f_max=8000 mel_scale=htk log=ln"},
    {"mfcc_db", 1200,
     "audio/1 n_fft=512 win_length=400 hop=160 window=hamming n_mels=40 f_min=20 "
     "f_max=7600 mel_scale=slaney mel_norm=slaney log=db top_db=80 n_mfcc=13 norm=meanvar"},
    {"magnitude_ln_mean", 400, "n_fft=64 hop=32 power=1 n_mels=0 log=ln norm=mean"},
    {"length_center", 1100,
     "length=1200 align=center n_fft=400 hop=160 n_mels=40 log=ln norm=meanvar"},
};

static void pipeline_op_parity(void) {
    if (!load()) return;
    const nbt_array *x = get("pipe_x");
    if (!x) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    CHECK_PTR(ctx);
    if (!ctx) return;
    for (size_t c = 0; c < sizeof pipes / sizeof *pipes; c++) {
        char name[64];
        snprintf(name, sizeof name, "pipe_%s_torch", pipes[c].name);
        const nbt_array *ref = get(name);
        nb_features f;
        CHECK_OK(nb_features_parse(pipes[c].text, strlen(pipes[c].text), &f));
        nb_tensor *xt = nb_tensor_copy_of(ctx, x->data, 1, &pipes[c].n);
        nb_tensor *y = nb_features_apply(ctx, &f, xt);
        CHECK_MSG(y != NULL, "%s: %s", pipes[c].name, nb_last_error());
        if (!y || !ref) continue;
        CHECK_MSG(y->rank == 2 && y->numel == ref->numel && y->shape[0] == ref->shape[0],
                  "%s: shape mismatch", pipes[c].name);
        if (y->numel != ref->numel) continue;
        double a = compare_rel(name, y->data, ref->data, ref->numel, 5e-5);
        /* and the featurizer's values */
        nb_featurizer *fz = NULL;
        CHECK_OK(nb_featurizer_new(&f, &fz));
        float *out = malloc(sizeof(float) * (size_t)y->numel);
        if (fz && out && nb_featurizer_run(fz, x->data, pipes[c].n, out) == NB_OK) {
            snprintf(name, sizeof name, "%s ops vs featurizer", pipes[c].name);
            double b = compare_rel(name, y->data, out, y->numel, 5e-5);
            printf("     %s: %.2g of the peak from torch, %.2g from the featurizer\n",
                   pipes[c].name, a, b);
        }
        free(out);
        nb_featurizer_free(fz);
    }
    nb_ctx_free(ctx);
}

/* d Σ r·features / dx through the whole pipeline, against central differences of the
 * featurizer (the same function) at a few samples. */
static void pipeline_gradient(void) {
    static const char text[] = "rate=8000 n_fft=32 hop=8 n_mels=8 f_max=4000 log=ln log_eps=1e-3 "
                               "n_mfcc=6 norm=meanvar";
    nb_features f;
    CHECK_OK(nb_features_parse(text, strlen(text), &f));
    const int64_t L = 96;
    nb_rng rng;
    nb_rng_seed(&rng, 17);
    float x[96];
    for (int64_t i = 0; i < L; i++)
        x[i] = 0.5f * sinf(0.3f * (float)i) + 0.3f * (float)(nb_rng_uniform(&rng) - 0.5);
    int64_t F, T;
    CHECK_OK(nb_features_shape(&f, L, &F, &T));
    float *r = malloc(sizeof(float) * (size_t)(F * T)),
          *y = malloc(sizeof(float) * (size_t)(F * T));
    for (int64_t i = 0; i < F * T; i++) r[i] = (float)(nb_rng_uniform(&rng) - 0.5);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *xt = nb_tensor_copy_of(ctx, x, 1, &L);
    nb_tensor_set_requires_grad(xt, 1);
    nb_tensor *feat = nb_features_apply(ctx, &f, xt);
    nb_tensor *rt = nb_tensor_copy_of(ctx, r, 2, (int64_t[]){F, T});
    nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, feat, rt), NB_ALL_AXES, 0);
    CHECK_MSG(loss != NULL, "%s", nb_last_error());
    if (loss && nb_backward(ctx, loss) == NB_OK && xt->grad) {
        nb_featurizer *fz = NULL;
        CHECK_OK(nb_featurizer_new(&f, &fz));
        int bad = 0;
        for (int64_t i = 0; i < L && fz; i += 7) {
            double lv[2];
            const float h = 1e-2f;
            for (int s = 0; s < 2; s++) {
                float xs[96];
                memcpy(xs, x, sizeof xs);
                xs[i] += s ? -h : h;
                CHECK_OK(nb_featurizer_run(fz, xs, L, y));
                double acc = 0.0;
                for (int64_t j = 0; j < F * T; j++) acc += (double)r[j] * y[j];
                lv[s] = acc;
            }
            const double numeric = (lv[0] - lv[1]) / (2.0 * h);
            const double analytic = ((const float *)xt->grad->data)[i];
            if (fabs(analytic - numeric) > 2e-2 + 2e-2 * fabs(numeric)) {
                CHECK_MSG(0, "d/dx[%lld]: analytic %.6g, numeric %.6g", (long long)i, analytic,
                          numeric);
                bad++;
            }
        }
        CHECK(bad == 0);
        nb_featurizer_free(fz);
    } else {
        CHECK_MSG(0, "backward through the pipeline: %s", nb_last_error());
    }
    free(r);
    free(y);
    nb_ctx_free(ctx);
}

/* STFT, power and filterbank forward and backward give the same bits on 1 and 2 threads on a
 * batch large enough to be split. */
static void threads_same_bits(void) {
    const int64_t B = 6, L = 4000;
    float *x = malloc(sizeof(float) * (size_t)(B * L));
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    for (int64_t i = 0; i < B * L; i++) x[i] = (float)(nb_rng_uniform(&rng) - 0.5);
    nb_features f = {0}; /* the defaults */
    f.n_mfcc = 13;
    f.norm = NB_UTT_MEANVAR;
    float *keep[2] = {NULL, NULL}, *gkeep[2] = {NULL, NULL};
    int64_t n = 0;
    for (int run = 0; run < 2; run++) {
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = run + 1});
        nb_tensor *xt = nb_tensor_copy_of(ctx, x, 2, (int64_t[]){B, L});
        nb_tensor_set_requires_grad(xt, 1);
        nb_tensor *y = nb_features_apply(ctx, &f, xt);
        nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, y, y), NB_ALL_AXES, 0);
        CHECK_MSG(loss != NULL, "%s", nb_last_error());
        nb_status st = loss ? nb_backward(ctx, loss) : NB_ERR_ARG;
        CHECK_MSG(st == NB_OK, "backward: %s", nb_last_error());
        if (st == NB_OK) {
            n = y->numel;
            keep[run] = malloc(sizeof(float) * (size_t)n);
            gkeep[run] = malloc(sizeof(float) * (size_t)(B * L));
            memcpy(keep[run], y->data, sizeof(float) * (size_t)n);
            memcpy(gkeep[run], xt->grad->data, sizeof(float) * (size_t)(B * L));
        }
        nb_ctx_free(ctx);
    }
    if (keep[0] && keep[1]) {
        CHECK(memcmp(keep[0], keep[1], sizeof(float) * (size_t)n) == 0);
        CHECK(memcmp(gkeep[0], gkeep[1], sizeof(float) * (size_t)(B * L)) == 0);
    }
    for (int i = 0; i < 2; i++) {
        free(keep[i]);
        free(gkeep[i]);
    }
    free(x);
}

static void errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(ctx, NB_DIMS(2, 100)), *w = nb_ones(ctx, NB_DIMS(64));
    nb_tensor *wlong = nb_ones(ctx, NB_DIMS(80));
    /* reflect padding needs more than n_fft/2 samples */
    nb_tensor *xs = nb_zeros(ctx, NB_DIMS(20));
    CHECK(nb_stft_op(ctx, xs, w, 64, 16, 1, NB_PAD_REFLECT, 0) == NULL);
    CHECK_MSG(strstr(nb_last_error(), "more than n_fft/2") != NULL, "%s", nb_last_error());
    CHECK(nb_stft_op(ctx, x, wlong, 64, 16, 1, NB_PAD_REFLECT, 0) == NULL);
    CHECK_MSG(strstr(nb_last_error(), "window") != NULL, "%s", nb_last_error());
    CHECK(nb_stft_op(ctx, x, w, 64, 0, 1, NB_PAD_REFLECT, 0) == NULL);
    CHECK(nb_stft_op(ctx, x, w, 64, 16, 1, 9, 0) == NULL);
    CHECK(nb_stft_op(ctx, x, w, 128, 16, 0, NB_PAD_REFLECT, 0) == NULL); /* shorter than a frame */
    CHECK(nb_spec_power(ctx, x, 2.0f) == NULL);                          /* not [..., 2] */
    nb_tensor *S = nb_stft_op(ctx, x, w, 64, 16, 1, NB_PAD_CONSTANT, 0);
    CHECK_PTR(S);
    CHECK(nb_spec_power(ctx, S, 0.0f) == NULL);
    nb_tensor *P = nb_spec_power(ctx, S, 2.0f);
    CHECK(P && P->rank == 3 && P->shape[1] == 33 && P->shape[2] == 7);
    CHECK(nb_filterbank(ctx, P, nb_ones(ctx, NB_DIMS(4, 32))) == NULL);
    CHECK_MSG(strstr(nb_last_error(), "second-last") != NULL, "%s", nb_last_error());
    nb_tensor *y = nb_filterbank(ctx, P, nb_ones(ctx, NB_DIMS(4, 33)));
    CHECK(y && y->shape[1] == 4 && y->shape[2] == 7);
    nb_features f = {0}; /* the defaults */
    f.n_fft = -1;
    CHECK(nb_features_apply(ctx, &f, x) == NULL);
    nb_ctx_free(ctx);
}

static void teardown(void) {
    nbt_fixture_free(fx);
    fx = NULL;
}

static const nbt_case cases[] = {
    {"stft_op_parity", stft_op_parity},
    {"pipeline_op_parity", pipeline_op_parity},
    {"pipeline_gradient", pipeline_gradient},
    {"threads_same_bits", threads_same_bits},
    {"errors", errors},
    {"teardown", teardown},
};
NBT_MAIN(cases)
