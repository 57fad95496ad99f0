/* examples/guide/09_hearing.c — chapter 9 of the guide (docs/guide/09-hearing.md): from a
 * waveform to a spectrogram to a class.
 *
 *     09_hearing [FILE.wav] [--svg OUT.svg]
 *
 * 1. The discrete Fourier transform is a matrix: F[k, t] = e^{−2πi·kt/n}. Multiplying a frame
 *    by its rows (cosines and sines) gives the same numbers as the STFT op.
 * 2. The mel scale: equal steps in mel are equal steps in pitch as we hear it.
 * 3. Why log: power spans many orders of magnitude; its log spans a few units.
 * 4. The log-mel spectrogram of one spoken digit (the corpus' first test clip when
 *    data/speech/digits exists, else FILE.wav, else a synthetic vowel-like sound), computed
 *    with differentiable ops (nb_features_apply), printed as text and drawn as SVG
 *    (hearing.svg), and the gradient of one band's energy with respect to the waveform. */
#include <nabla.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

static void die(const char *what) {
    fprintf(stderr, "09_hearing: %s: %s\n", what, nb_last_error());
    exit(1);
}

/* 1. the DFT as a matrix, against the STFT op on one frame */
static void dft_as_matrix(nb_ctx *ctx) {
    enum { N = 8 };
    float x[N] = {1, 0.5f, -0.25f, -1, 0, 0.75f, 0.5f, -0.5f};
    /* rows 0 .. N/2: the real parts (cos) then the imaginary parts (−sin) of e^{−2πi·kt/N} */
    nb_tensor *F = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){2 * (N / 2 + 1), N});
    float *f = F->data;
    for (int k = 0; k <= N / 2; k++)
        for (int t = 0; t < N; t++) {
            f[k * N + t] = (float)cos(2 * PI * k * t / N);
            f[(N / 2 + 1 + k) * N + t] = (float)-sin(2 * PI * k * t / N);
        }
    nb_tensor *xt = nb_tensor_copy_of(ctx, x, 2, (int64_t[]){N, 1});
    nb_tensor *Fx = nb_matmul(ctx, F, xt);
    /* the same frame through the STFT op: a rectangular window, no padding, one frame */
    nb_tensor *w = nb_ones(ctx, 1, (int64_t[]){N});
    nb_tensor *S = nb_stft_op(ctx, nb_reshape(ctx, xt, 1, (int64_t[]){N}), w, N, N, 0, 0, 0);
    if (!Fx || !S) die("DFT");
    printf("1. the DFT of an 8-sample frame, as a matrix product and as the STFT op\n");
    printf("   k    F·x (re, im)          stft (re, im)\n");
    const float *a = Fx->data, *s = S->data;
    for (int k = 0; k <= N / 2; k++)
        printf("   %d   %8.4f %8.4f     %8.4f %8.4f\n", k, a[k], a[N / 2 + 1 + k], s[2 * k],
               s[2 * k + 1]);
}

/* 2. the mel scale */
static void mel_scale(void) {
    printf("\n2. the mel scale (HTK: 2595·log10(1 + f/700)): equal mel steps, growing Hz steps\n");
    for (double hz = 0; hz <= 8000; hz += 1000)
        printf("   %5.0f Hz = %7.1f mel\n", hz, nb_hz_to_mel(hz, NB_MEL_HTK));
}

/* the clip: the corpus' first test clip, FILE.wav, or a synthetic vowel */
static nb_audio load_clip(const char *path) {
    nb_audio a = {0};
    if (path) {
        if (nb_wav_read(path, &a, NULL) != NB_OK) die(path);
        return a;
    }
    const char *corpus = "data/speech/digits/wav/en-us+m1/7_s165_p50.wav";
    FILE *probe = fopen(corpus, "rb");
    if (probe) {
        fclose(probe);
        if (nb_wav_read(corpus, &a, NULL) != NB_OK) die(corpus);
        printf("\n(the clip: %s, \"seven\")\n", corpus);
        return a;
    }
    /* 0.8 s: a 120 Hz voice whose harmonics pass through two moving formants */
    a.rate = 16000;
    a.channels = 1;
    a.frames = 12800;
    a.data = nb_malloc(sizeof(float) * (size_t)a.frames);
    if (!a.data) die("clip");
    for (int64_t i = 0; i < a.frames; i++) {
        double t = (double)i / a.rate, y = 0;
        double f1 = 500 + 300 * t, f2 = 2200 - 900 * t;
        for (int h = 1; h * 120 < 7000; h++) {
            double fh = 120.0 * h;
            double g = exp(-pow((fh - f1) / 150, 2)) + 0.6 * exp(-pow((fh - f2) / 200, 2));
            y += g * sin(2 * PI * fh * t);
        }
        a.data[i] = (float)(0.2 * y * sin(PI * t / 0.8));
    }
    printf("\n(the clip: a synthetic vowel; make the corpus with data/speech/make_digits.sh "
           "for a spoken digit)\n");
    return a;
}

/* 4. the log-mel spectrogram as SVG: time to the right, low bands at the bottom */
static void write_svg(const char *path, const float *S, int64_t M, int64_t T) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    float lo = S[0], hi = S[0];
    for (int64_t i = 0; i < M * T; i++) {
        lo = S[i] < lo ? S[i] : lo;
        hi = S[i] > hi ? S[i] : hi;
    }
    const int cw = 5, ch = 6;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%lld\" height=\"%lld\">\n",
            (long long)(T * cw), (long long)(M * ch));
    for (int64_t m = 0; m < M; m++)
        for (int64_t t = 0; t < T; t++) {
            double v = hi > lo ? (S[m * T + t] - lo) / (hi - lo) : 0;
            int r = (int)(255 * v), g = (int)(255 * v * v), b = (int)(255 * (1 - v) * 0.6);
            fprintf(
                f,
                "<rect x=\"%lld\" y=\"%lld\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\"/>\n",
                (long long)(t * cw), (long long)((M - 1 - m) * ch), cw, ch, r, g, b);
        }
    fprintf(f, "</svg>\n");
    fclose(f);
}

int main(int argc, char **argv) {
    const char *path = NULL, *svg = "hearing.svg";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--svg") && i + 1 < argc)
            svg = argv[++i];
        else
            path = argv[i];
    }
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!ctx) die("context");
    dft_as_matrix(ctx);
    mel_scale();

    nb_audio a = load_clip(path);
    if (nb_audio_to_mono(&a) != NB_OK || nb_audio_resample(&a, 16000, NULL) != NB_OK) die("clip");
    nb_features f = {0}; /* the defaults: 25 ms frames every 10 ms, 40 HTK mel bands */
    f.log = NB_LOG_NONE;
    nb_tensor *x = nb_tensor_copy_of(ctx, a.data, 1, (int64_t[]){a.frames});
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *P = nb_features_apply(ctx, &f, x); /* mel power [40, T] */
    if (!P) die("features");
    nb_tensor *L = nb_log(ctx, nb_add_scalar(ctx, P, 1e-6f));
    if (!L) die("log");
    const int64_t M = P->shape[0], T = P->shape[1];
    const float *p = P->data, *l = L->data;
    float pmin = INFINITY, pmax = 0, lmin = INFINITY, lmax = -INFINITY;
    for (int64_t i = 0; i < M * T; i++) {
        pmin = fminf(pmin, p[i]);
        pmax = fmaxf(pmax, p[i]);
        lmin = fminf(lmin, l[i]);
        lmax = fmaxf(lmax, l[i]);
    }
    printf(
        "\n3. why log: the mel power spans %.3g .. %.3g (a ratio of %.2g); its log %.2f .. %.2f\n",
        pmin, pmax, pmax / fmaxf(pmin, 1e-30f), lmin, lmax);

    printf("\n4. the log-mel spectrogram [%lld bands, %lld frames of 10 ms], high bands on top:\n",
           (long long)M, (long long)T);
    static const char shades[] = " .:-=+*#%@";
    for (int64_t m = M - 1; m >= 0; m -= 2) {
        printf("   ");
        for (int64_t t = 0; t<T; t += T> 100 ? 2 : 1) {
            double v = (l[m * T + t] - lmin) / (lmax - lmin + 1e-12);
            putchar(shades[(int)(v * 9.99)]);
        }
        putchar('\n');
    }
    write_svg(svg, l, M, T);
    printf("   (drawn in %s)\n", svg);

    /* the ops are differentiable: the energy of band 10, summed over time, moves with the
     * waveform; its gradient says which samples matter (those of the loud frames) */
    nb_tensor *band = nb_sum(ctx, nb_slice(ctx, L, 0, 10, 11, 1), NB_ALL_AXES, 0);
    if (!band || nb_backward(ctx, band) != NB_OK) die("backward");
    const float *g = x->grad->data;
    double gmax = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < a.frames; i++)
        if (fabs(g[i]) > gmax) gmax = fabs(g[i]), at = i;
    printf("\n   d(log energy of band 10)/d(waveform) is largest at sample %lld (%.3f s): %.3g\n",
           (long long)at, (double)at / 16000, gmax);
    nb_audio_free(&a);
    nb_ctx_free(ctx);
    return 0;
}
