/* audio/augment.c — augmentation for audio (see nabla/audio.h): waveform transforms (time
 * shift, gain, additive noise at a signal-to-noise ratio, speed perturbation by resampling),
 * their random chain, and SpecAugment's frequency and time masks on feature matrices.
 *
 * Every random quantity is drawn from the generator passed in, in a fixed order (speed,
 * shift, gain, noise decision, SNR, the noise itself), one draw per enabled step whatever
 * the values drawn, so a seed fixes the result and changing one option does not reshuffle
 * the draws of the steps before it. */
#include "audio/audio.h"

#include <math.h>
#include <string.h>

void nb_audio_shift(float *x, int64_t n, int64_t shift) {
    if (shift >= n || -shift >= n) {
        memset(x, 0, sizeof(float) * (size_t)(n > 0 ? n : 0));
    } else if (shift > 0) {
        memmove(x + shift, x, sizeof(float) * (size_t)(n - shift));
        memset(x, 0, sizeof(float) * (size_t)shift);
    } else if (shift < 0) {
        memmove(x, x - shift, sizeof(float) * (size_t)(n + shift));
        memset(x + n + shift, 0, sizeof(float) * (size_t)(-shift));
    }
}

void nb_audio_gain(float *x, int64_t n, double db) {
    const float g = (float)pow(10.0, db / 20.0);
    for (int64_t i = 0; i < n; i++) x[i] *= g;
}

void nb_audio_white_noise(float *noise, int64_t n, nb_rng *rng) {
    for (int64_t i = 0; i < n; i++) noise[i] = nb_rng_normal(rng, 0.0f, 1.0f);
}

nb_status nb_audio_add_noise(float *x, const float *noise, int64_t n, double snr_db) {
    if (!isfinite(snr_db))
        return nbi_error(NB_ERR_ARG, "nb_audio_add_noise: the SNR %g dB is not finite", snr_db);
    /* s = √(Es / (En · 10^(snr/10))), energies summed in double */
    double es = 0.0, en = 0.0;
    for (int64_t i = 0; i < n; i++) {
        es += (double)x[i] * x[i];
        en += (double)noise[i] * noise[i];
    }
    if (es == 0.0 || en == 0.0) return NB_OK;
    const float s = (float)sqrt(es / (en * pow(10.0, snr_db / 10.0)));
    for (int64_t i = 0; i < n; i++) x[i] += s * noise[i];
    return NB_OK;
}

nb_status nb_audio_speed(const float *x, int64_t n, double factor, const nb_resample_opts *opts,
                         float **y, int64_t *ny) {
    *y = NULL;
    *ny = 0;
    if (!(factor >= 0.1 && factor <= 10.0))
        return nbi_error(NB_ERR_ARG, "nb_audio_speed: factor %g is out of range [0.1, 10]", factor);
    /* played `factor` times faster: the samples are taken to be at rate·factor and brought
     * back to the rate; with the factor in hundredths the ratio is k / 100 */
    const int64_t k = (int64_t)floor(factor * 100.0 + 0.5);
    nb_resampler *r;
    nb_status st = nb_resampler_new(k, 100, opts, &r);
    if (st) return st;
    const int64_t m = nb_resampler_out_len(r, n);
    float *out = m >= 0 ? nbi_malloc_for("nb_audio_speed", sizeof(float) * (size_t)(m + 1)) : NULL;
    if (!out) {
        nb_resampler_free(r);
        return m < 0 ? nbi_error(NB_ERR_ARG, "nb_audio_speed: the signal is too long")
                     : NB_ERR_NOMEM;
    }
    nb_resampler_run(r, x, n, 1, out, 1);
    nb_resampler_free(r);
    *y = out;
    *ny = m;
    return NB_OK;
}

static double draw(nb_rng *rng, double lo, double hi) {
    return lo + (hi - lo) * (double)nb_rng_uniform(rng);
}

nb_status nbi_audio_aug_check(const nb_audio_aug *a) {
    const bool speed = a->speed_min != 0.0 || a->speed_max != 0.0;
    if (speed && !(a->speed_min >= 0.1 && a->speed_min <= a->speed_max && a->speed_max <= 10.0))
        return nbi_error(NB_ERR_ARG,
                         "audio augmentation: speed range [%g, %g] must lie in "
                         "[0.1, 10] with min <= max (both 0: no speed change)",
                         a->speed_min, a->speed_max);
    if (!(a->shift_max >= 0.0 && a->shift_max <= 3600.0))
        return nbi_error(NB_ERR_ARG, "audio augmentation: shift_max %g s must be in [0, 3600]",
                         a->shift_max);
    if (!(a->gain_db_min <= a->gain_db_max && fabs(a->gain_db_min) <= 200 &&
          fabs(a->gain_db_max) <= 200))
        return nbi_error(NB_ERR_ARG,
                         "audio augmentation: gain range [%g, %g] dB must have min "
                         "<= max within ±200 dB",
                         a->gain_db_min, a->gain_db_max);
    if (!(a->noise_p >= 0.0 && a->noise_p <= 1.0))
        return nbi_error(NB_ERR_ARG, "audio augmentation: noise_p %g must be in [0, 1]",
                         a->noise_p);
    if (a->noise_p > 0.0 && !(a->snr_db_min <= a->snr_db_max && fabs(a->snr_db_min) <= 200 &&
                              fabs(a->snr_db_max) <= 200))
        return nbi_error(NB_ERR_ARG,
                         "audio augmentation: SNR range [%g, %g] dB must have min "
                         "<= max within ±200 dB",
                         a->snr_db_min, a->snr_db_max);
    return NB_OK;
}

nb_status nb_audio_augment(const nb_audio_aug *aug, int rate, const float *x, int64_t n,
                           nb_rng *rng, float **y, int64_t *ny) {
    *y = NULL;
    *ny = 0;
    if (!aug || !rng || (n > 0 && !x) || n < 0 || rate < 1)
        return nbi_error(NB_ERR_ARG,
                         "nb_audio_augment: NULL options, generator or samples, or "
                         "a rate of %d",
                         rate);
    nb_status st = nbi_audio_aug_check(aug);
    if (st) return st;
    float *out = NULL;
    int64_t m = n;
    const bool speed = (aug->speed_min != 0.0 || aug->speed_max != 0.0) &&
                       !(aug->speed_min == 1.0 && aug->speed_max == 1.0);
    if (speed) {
        st = nb_audio_speed(x, n, draw(rng, aug->speed_min, aug->speed_max), NULL, &out, &m);
        if (st) return st;
    } else {
        out = nbi_malloc_for("nb_audio_augment", sizeof(float) * (size_t)(n + 1));
        if (!out) return NB_ERR_NOMEM;
        if (n) memcpy(out, x, sizeof(float) * (size_t)n);
    }
    if (aug->shift_max > 0.0) {
        const double s = draw(rng, -aug->shift_max, aug->shift_max) * rate;
        nb_audio_shift(out, m, (int64_t)floor(s + 0.5));
    }
    if (aug->gain_db_min != 0.0 || aug->gain_db_max != 0.0)
        nb_audio_gain(out, m, draw(rng, aug->gain_db_min, aug->gain_db_max));
    if (aug->noise_p > 0.0 && nb_rng_uniform(rng) < aug->noise_p) {
        const double snr = draw(rng, aug->snr_db_min, aug->snr_db_max);
        float *noise = nbi_malloc_for("nb_audio_augment", sizeof(float) * (size_t)(m + 1));
        if (!noise) {
            nbi_free(out);
            return NB_ERR_NOMEM;
        }
        nb_audio_white_noise(noise, m, rng);
        nb_audio_add_noise(out, noise, m, snr);
        nbi_free(noise);
    }
    *y = out;
    *ny = m;
    return NB_OK;
}

/* ---- SpecAugment ----------------------------------------------------------------------------- */

/* width uniform in [0, maxw] (at most size), start uniform in [0, size − width] */
static void draw_mask(nb_rng *rng, int64_t maxw, int64_t size, int64_t *start, int64_t *width) {
    int64_t w = (int64_t)nb_rng_below(rng, (uint64_t)maxw + 1);
    if (w > size) w = size;
    *width = w;
    *start = (int64_t)nb_rng_below(rng, (uint64_t)(size - w) + 1);
}

/* the masks of one sample applied to its `planes` planes of [F, T] */
static void specaug_planes(float *x, int64_t planes, int64_t F, int64_t T, const nb_specaug *o,
                           nb_rng *rng) {
    float value = o->value;
    const int64_t count = planes * F * T;
    if (o->use_mean && count > 0) {
        double s = 0.0;
        for (int64_t i = 0; i < count; i++) s += x[i];
        value = (float)(s / (double)count);
    }
    for (int k = 0; k < o->freq_masks; k++) {
        int64_t f0, w;
        draw_mask(rng, o->freq_width, F, &f0, &w);
        for (int64_t p = 0; p < planes; p++)
            for (int64_t f = f0; f < f0 + w; f++)
                for (int64_t t = 0; t < T; t++) x[(p * F + f) * T + t] = value;
    }
    for (int k = 0; k < o->time_masks; k++) {
        int64_t t0, w;
        draw_mask(rng, o->time_width, T, &t0, &w);
        for (int64_t p = 0; p < planes; p++)
            for (int64_t f = 0; f < F; f++)
                for (int64_t t = t0; t < t0 + w; t++) x[(p * F + f) * T + t] = value;
    }
}

void nb_specaugment(float *x, int64_t F, int64_t T, const nb_specaug *o, nb_rng *rng) {
    if (!x || !o || !rng || F < 1 || T < 1 || o->freq_width < 0 || o->time_width < 0) return;
    specaug_planes(x, 1, F, T, o, rng);
}

nb_status nb_specaugment_batch(nb_tensor *x, const nb_specaug *o, nb_rng *rng) {
    if (!x || !o || !rng)
        return nbi_error(NB_ERR_ARG, "nb_specaugment_batch: NULL batch, options or generator");
    if (x->dtype != NB_F32 || x->rank < 3 || !nb_tensor_is_contiguous(x))
        return nbi_error(NB_ERR_ARG,
                         "nb_specaugment_batch: the batch must be a contiguous f32 "
                         "tensor [N, ..., F, T] of rank >= 3 (rank %d)",
                         x->rank);
    if (o->freq_masks < 0 || o->time_masks < 0 || o->freq_width < 0 || o->time_width < 0)
        return nbi_error(NB_ERR_ARG, "nb_specaugment_batch: negative mask count or width");
    const int64_t N = x->shape[0], F = x->shape[x->rank - 2], T = x->shape[x->rank - 1];
    if (N == 0 || F == 0 || T == 0) return NB_OK;
    const int64_t planes = x->numel / (N * F * T);
    float *d = nb_f32(x);
    for (int64_t i = 0; i < N; i++) specaug_planes(d + i * planes * F * T, planes, F, T, o, rng);
    return NB_OK;
}
