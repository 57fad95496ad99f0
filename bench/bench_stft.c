/* bench_stft — throughput of audio features: seconds of audio featurised per second.
 *
 *   build/bench/bench_stft [MANIFEST.csv] [--clips N] [--repeats R]
 *
 * Clips: the files of a manifest (decoded, mixed down and resampled to 16 kHz before timing;
 * e.g. data/speech/digits/train.csv from data/speech/make_digits.sh), else N synthetic
 * one-second clips (default 200). Each clip is padded or cut to 1 s, then:
 *
 *   logmel   STFT (n_fft 400, hop 160, Hann, centred, reflect) → power → 40 HTK mel bands
 *            → ln(x + 1e-6)                                      on one thread, clip by clip
 *   mfcc     the same → 13 DCT-II coefficients → mean/variance normalisation
 *   rfft     the real FFT kernel alone, n = 400 and 512 (ns per transform)
 *   dataset  nb_audio_dataset on the manifest: reading, resampling and featurising every
 *            clip in parallel on the thread pool (only with a manifest; NB_THREADS sets it)
 *
 * The best of R repeats (default 5). bench/torch/stft.py computes the same log-mel features
 * with torch.stft and a mel matrix on the same clips. Timings depend on the machine: compare
 * the two on a quiet one. */
#include "nabla.h"
#include "nabla/audio.h"

#include "kernels/fft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 16000

static double best_of(int reps, const nb_featurizer *fz, float **clips, int64_t n, float *out) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = nb_time();
        for (int64_t i = 0; i < n; i++)
            if (nb_featurizer_run(fz, clips[i], RATE, out) != NB_OK) {
                fprintf(stderr, "bench_stft: %s\n", nb_last_error());
                exit(1);
            }
        double dt = nb_time() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

static void bench_rfft(int64_t n, int reps) {
    nbi_rfft *p;
    if (nbi_rfft_new(n, &p) != NB_OK) return;
    float *x = malloc(sizeof(float) * (size_t)n), *X = malloc(sizeof(float) * (size_t)(n + 2));
    float *w = malloc(sizeof(float) * nbi_rfft_work(p));
    for (int64_t i = 0; i < n; i++) x[i] = (float)sin(0.1 * (double)i);
    const int inner = 20000;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = nb_time();
        for (int k = 0; k < inner; k++) nbi_rfft_forward(p, x, X, w);
        double dt = nb_time() - t0;
        if (dt < best) best = dt;
    }
    printf("rfft     n=%-5lld %8.1f ns per transform\n", (long long)n, best * 1e9 / inner);
    free(x), free(X), free(w);
    nbi_rfft_free(p);
}

int main(int argc, char **argv) {
    const char *manifest = NULL;
    int64_t n = 200;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--clips") == 0 && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else
            manifest = argv[i];
    }
    nb_manifest m;
    memset(&m, 0, sizeof m);
    if (manifest) {
        if (nb_manifest_read(manifest, &m) != NB_OK) {
            fprintf(stderr, "bench_stft: %s\n", nb_last_error());
            return 1;
        }
        n = m.n;
    }
    /* the clips, 1 s each at 16 kHz */
    float **clips = malloc(sizeof(float *) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        clips[i] = calloc(RATE, sizeof(float));
        if (manifest) {
            nb_audio a;
            if (nb_wav_read(m.paths[i], &a, NULL) || nb_audio_to_mono(&a) ||
                nb_audio_resample(&a, RATE, NULL)) {
                fprintf(stderr, "bench_stft: %s\n", nb_last_error());
                return 1;
            }
            memcpy(clips[i], a.data, sizeof(float) * (size_t)(a.frames < RATE ? a.frames : RATE));
            nb_audio_free(&a);
        } else { /* a chirp and a tone, different in every clip */
            for (int t = 0; t < RATE; t++) {
                double s = (double)t / RATE;
                clips[i][t] =
                    (float)(0.4 * sin(2 * 3.141592653589793 * (200 + 50 * (i % 13) + 900 * s) * s) +
                            0.1 * sin(0.37 * t + (double)i));
            }
        }
    }
    printf("bench_stft: %lld clips of 1 s at 16 kHz (%s), best of %d\n", (long long)n,
           manifest ? manifest : "synthetic", reps);
    nb_features f = nb_features_default();
    f.length = RATE;
    nb_featurizer *fz;
    if (nb_featurizer_new(&f, &fz) != NB_OK) return 1;
    float *out = malloc(sizeof(float) * 40 * 101);
    double t = best_of(reps, fz, clips, n, out);
    printf("logmel   n_fft=400 hop=160 mels=40  %10.0f s of audio per s (1 thread)\n",
           (double)n / t);
    nb_featurizer_free(fz);
    f.n_mfcc = 13;
    f.norm = NB_UTT_MEANVAR;
    if (nb_featurizer_new(&f, &fz) != NB_OK) return 1;
    t = best_of(reps, fz, clips, n, out);
    printf("mfcc     13 of 40 mels, meanvar     %10.0f s of audio per s (1 thread)\n",
           (double)n / t);
    nb_featurizer_free(fz);
    bench_rfft(400, reps);
    bench_rfft(512, reps);
    if (manifest) {
        nb_features g = nb_features_default();
        g.length = RATE;
        nb_audio_data_opts o;
        memset(&o, 0, sizeof o);
        o.features = &g;
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            nb_dataset *ds;
            double t0 = nb_time();
            if (nb_audio_dataset(&m, &o, &ds, NULL) != NB_OK) {
                fprintf(stderr, "bench_stft: %s\n", nb_last_error());
                return 1;
            }
            double dt = nb_time() - t0;
            if (dt < best) best = dt;
            nb_dataset_free(ds);
        }
        printf("dataset  read+resample+logmel       %10.0f clips per s (%d threads)\n",
               (double)n / best, nb_get_threads());
    }
    for (int64_t i = 0; i < n; i++) free(clips[i]);
    free(clips);
    free(out);
    nb_manifest_free(&m);
    return 0;
}
