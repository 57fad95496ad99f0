/* fuzz_features — libFuzzer harness for the text form of audio feature pipelines.
 *
 * Any text either parses or fails with a message and leaves the defaults. A parsed pipeline
 * passes nb_features_check, formats to a canonical text that parses back into a pipeline
 * with the same canonical text (a fixpoint), and — when small enough to be quick (n_fft up
 * to 1024, up to 64 mel bands, frames × n_fft up to 2^20) — featurises a short test signal
 * into finite numbers of the promised shape. Run through `make fuzz`. */
#include "nabla.h"
#include "nabla/audio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_features f, g;
    if (nb_features_parse((const char *)data, size, &f) != NB_OK) {
        if (nb_last_error()[0] == 0 || f.n_fft != 400 || f.rate != 16000) abort();
        return 0;
    }
    if (nb_features_check(&f) != NB_OK) abort();
    size_t n = nb_features_format(&f, NULL, 0);
    if (n == 0) abort();
    char *t1 = malloc(n + 1), *t2;
    if (nb_features_format(&f, t1, n + 1) != n || strlen(t1) != n) abort();
    if (nb_features_parse(t1, n, &g) != NB_OK) abort();
    size_t n2 = nb_features_format(&g, NULL, 0);
    t2 = malloc(n2 + 1);
    nb_features_format(&g, t2, n2 + 1);
    if (n2 != n || strcmp(t1, t2) != 0) abort();
    free(t1);
    free(t2);
    /* run small pipelines on 0.1 s of a chirp (or the fixed length, when short) */
    const int64_t len = f.length > 0 ? f.length : 1600;
    if (f.n_fft > 1024 || f.n_mels > 64 || len > 4000 || f.rate > 48000) return 0;
    int64_t F, T;
    float x[1600];
    for (int i = 0; i < 1600; i++) x[i] = (float)(0.5 * sin(0.001 * i * i) + (i % 7) * 0.01);
    const int64_t nx = len < 1600 ? len : 1600;
    if (nb_features_shape(&f, nx, &F, &T) != NB_OK) return 0;
    /* and few frames: hop=1 over a 3 820-sample fixed length with a prime n_fft (557, through
     * Bluestein's 2 048-point transforms) is 3 821 FFTs, 0.11 s optimised but 5 s under the
     * sanitizers and coverage — a timeout of this harness, not of the library (campaign 6) */
    if (F * T > 200000 || T * f.n_fft > ((int64_t)1 << 20)) return 0;
    nb_featurizer *fz;
    if (nb_featurizer_new(&f, &fz) != NB_OK) abort();
    float *out = malloc(sizeof(float) * (size_t)(F * T));
    if (nb_featurizer_run(fz, x, nx, out) != NB_OK) abort();
    for (int64_t i = 0; i < F * T; i++)
        if (isnan(out[i])) abort();
    free(out);
    nb_featurizer_free(fz);
    return 0;
}
