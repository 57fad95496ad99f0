/* audio/features.c — the feature pipeline (see nabla/audio.h): its defaults and checks, the
 * featurizer that holds the window, FFT plan, mel filterbank and DCT of one pipeline, and the
 * run from samples to a [n_feat, n_frames] matrix.
 *
 * A run works frame-major ([frames, bins], each frame contiguous for the FFT and the band
 * products) and transposes once at the end into torch's [features, frames]. The per-frame
 * loops are the kernels of kernels/fft.h; what is here is the glue: the length fix, the
 * padding for centred frames, the logarithm and the per-utterance statistics (in double). */
#include "audio/audio.h"
#include "kernels/fft.h"
#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MAX_RATE 1536000
#define MAX_NFFT (INT64_C(1) << 20)
#define MAX_LENGTH (INT64_C(1) << 40)
#define MAX_MELS 4096

/* The defaults of audio.h for every field left 0: rate 16 kHz, 25 ms frames every 10 ms, 40
 * mel bands, power 2, the log's and normalisation's epsilons, the resampler's settings. Fields
 * whose 0 is itself the setting (length, win_length, f_max, top_db, n_mfcc, the enumerations'
 * first values) stay 0, so that the text form keeps its spelling. Idempotent. */
nb_features nbi_features_resolve(const nb_features *in) {
    nb_features f = in ? *in : (nb_features){0};
    if (f.rate == 0) f.rate = 16000;
    if (f.n_fft == 0) f.n_fft = f.rate / 40;
    if (f.hop == 0) f.hop = f.rate / 100;
    if (f.n_mels == 0 && !f.no_mel) f.n_mels = 40;
    if (f.power == 0.0) f.power = 2.0;
    if (f.log_eps == 0.0) f.log_eps = 1e-6;
    if (f.amin == 0.0) f.amin = 1e-10;
    if (f.norm_eps == 0.0) f.norm_eps = 1e-5;
    f.resample = nbi_resample_resolve(&f.resample);
    return f;
}

nb_features nb_features_resolved(const nb_features *f) {
    return nbi_features_resolve(f);
}

static int64_t win_len(const nb_features *f) {
    return f->win_length ? f->win_length : f->n_fft;
}
static double fmax_of(const nb_features *f) {
    return f->f_max > 0 ? f->f_max : 0.5 * f->rate;
}

static nb_status bad(const char *field, const char *why) {
    return nbi_error(NB_ERR_ARG, "audio features: %s %s", field, why);
}

static nb_status shape_resolved(const nb_features *f, int64_t samples, int64_t *n_feat,
                                int64_t *n_frames);

nb_status nbi_features_check_resolved(const nb_features *f) {
    if (f->rate < 1 || f->rate > MAX_RATE) return bad("rate", "must be 1 .. 1536000 Hz");
    if (f->length < 0 || f->length > MAX_LENGTH) return bad("length", "must be 0 .. 2^40");
    if ((unsigned)f->align > NB_ALIGN_CENTER) return bad("align", "is not start or center");
    if (f->n_fft < 1 || f->n_fft > MAX_NFFT) return bad("n_fft", "must be 1 .. 2^20");
    if (f->win_length < 0 || f->win_length > f->n_fft)
        return bad("win_length", "must be 0 (n_fft) .. n_fft");
    if (f->hop < 0 || f->hop > MAX_NFFT) return bad("hop", "must be 0 (10 ms) .. 2^20");
    if (f->hop < 1)
        return bad("hop",
                   "is 0 (10 ms at a rate below 100 Hz, or n_fft / 4 with n_fft < 4): set it");
    if ((unsigned)f->window > NB_WINDOW_RECT) return bad("window", "is not hann, hamming or rect");
    if ((f->symmetric | f->no_center | f->normalized | f->no_mel) & ~1)
        return bad("symmetric, no_center, normalized or no_mel", "must be 0 or 1");
    if ((unsigned)f->pad > NB_PAD_CIRCULAR)
        return bad("pad", "is not reflect, constant, replicate or circular");
    if (!(f->power > 0.0 && f->power <= 16.0)) return bad("power", "must be in (0, 16]");
    if (f->n_mels < 0 || f->n_mels > MAX_MELS) return bad("n_mels", "must be 0 (40) .. 4096");
    if (f->no_mel && f->n_mels) return bad("n_mels", "is set, and no_mel asks for no mel bands");
    if (f->n_mels > 0) {
        if (f->n_fft < 2) return bad("n_fft", "must be >= 2 for a mel filterbank (two bins)");
        if (!(f->f_min >= 0.0 && f->f_max >= 0.0 && isfinite(f->f_max)))
            return bad("f_min or f_max", "must be finite and >= 0");
        if (!(fmax_of(f) <= 0.5 * f->rate && f->f_min < fmax_of(f)))
            return bad("f_min, f_max",
                       "must satisfy f_min < f_max <= rate / 2 (f_max 0: rate / 2)");
        if ((unsigned)f->mel_scale > NB_MEL_SLANEY) return bad("mel_scale", "is not htk or slaney");
        if ((unsigned)f->mel_norm > NB_MEL_NORM_SLANEY)
            return bad("mel_norm", "is not none or slaney");
    }
    if ((unsigned)f->log > NB_LOG_DB) return bad("log", "is not ln, none or db");
    /* both are used as float32: a value that rounds to 0 (or to a subnormal) would let
     * ln(0) = -inf through, and the DCT turn -inf into NaN (fuzz_features found 1e-90) */
    if (!(f->log_eps >= FLT_MIN && f->log_eps <= FLT_MAX))
        return bad("log_eps", "must be a positive float32 of normal size (1.2e-38 to 3.4e38)");
    if (!(f->amin >= FLT_MIN && f->amin <= FLT_MAX))
        return bad("amin", "must be a positive float32 of normal size (1.2e-38 to 3.4e38)");
    if (!(f->top_db >= 0.0 && isfinite(f->top_db))) return bad("top_db", "must be >= 0");
    if (f->n_mfcc < 0) return bad("n_mfcc", "must be >= 0");
    if (f->n_mfcc > 0 && (f->n_mels == 0 || f->log == NB_LOG_NONE || f->n_mfcc > f->n_mels))
        return bad("n_mfcc", "needs mel bands, a log, and n_mfcc <= n_mels");
    if ((unsigned)f->norm > NB_UTT_MEANVAR) return bad("norm", "is not none, mean or meanvar");
    if (!(f->norm_eps > 0.0 && isfinite(f->norm_eps))) return bad("norm_eps", "must be > 0");
    const nb_resample_opts *r = &f->resample;
    if (r->zero_crossings < 1 || r->zero_crossings > 1024)
        return bad("resample_zeros", "must be 1 .. 1024");
    if (!(r->rolloff > 0.0 && r->rolloff <= 1.0))
        return bad("resample_rolloff", "must be in (0, 1]");
    if (!(r->beta >= 0.0 && r->beta <= 50.0)) return bad("resample_beta", "must be in [0, 50]");
    if (f->length > 0) {
        int64_t a, b;
        nb_status st = shape_resolved(f, f->length, &a, &b);
        if (st) return st;
    }
    return NB_OK;
}

nb_status nb_features_check(const nb_features *f) {
    if (!f) return nbi_error(NB_ERR_ARG, "audio features: NULL");
    const nb_features r = nbi_features_resolve(f);
    return nbi_features_check_resolved(&r);
}

/* frames of a signal of n samples, or −1 (with the error set) when it makes none */
static int64_t frame_count(const nb_features *f, int64_t n) {
    const int center = !f->no_center;
    const int64_t pad = center ? f->n_fft / 2 : 0, hop = f->hop;
    if (center && f->pad == NB_PAD_REFLECT && n <= pad) {
        nbi_error(NB_ERR_ARG,
                  "audio features: %lld samples are too few to reflect-pad by %lld "
                  "(n_fft / 2); use a longer clip, a length, or pad=constant",
                  (long long)n, (long long)pad);
        return -1;
    }
    if (center && f->pad != NB_PAD_CONSTANT && n < 1) {
        nbi_error(NB_ERR_ARG, "audio features: an empty clip cannot be padded by %s",
                  nbi_pad_name(f->pad));
        return -1;
    }
    if (center && f->pad == NB_PAD_CIRCULAR && n < pad) {
        nbi_error(NB_ERR_ARG,
                  "audio features: %lld samples are too few to pad circularly by "
                  "%lld",
                  (long long)n, (long long)pad);
        return -1;
    }
    const int64_t len = n + 2 * pad;
    if (len < f->n_fft) {
        nbi_error(NB_ERR_ARG,
                  "audio features: %lld samples make no frame of %lld (center "
                  "%d)",
                  (long long)n, (long long)f->n_fft, center);
        return -1;
    }
    return 1 + (len - f->n_fft) / hop;
}

static int64_t feat_count(const nb_features *f) {
    return f->n_mfcc ? f->n_mfcc : f->n_mels ? f->n_mels : f->n_fft / 2 + 1;
}

static nb_status shape_resolved(const nb_features *f, int64_t samples, int64_t *n_feat,
                                int64_t *n_frames) {
    if (f->length > 0) samples = f->length;
    if (samples < 0 || samples > MAX_LENGTH)
        return nbi_error(NB_ERR_ARG, "audio features: %lld samples", (long long)samples);
    int64_t fr = frame_count(f, samples);
    if (fr < 0) return NB_ERR_ARG;
    *n_feat = feat_count(f);
    *n_frames = fr;
    return NB_OK;
}

nb_status nb_features_shape(const nb_features *f, int64_t samples, int64_t *n_feat,
                            int64_t *n_frames) {
    if (!f) return nbi_error(NB_ERR_ARG, "audio features: NULL");
    const nb_features r = nbi_features_resolve(f);
    return shape_resolved(&r, samples, n_feat, n_frames);
}

/* ---- padding ----------------------------------------------------------------------------- */

void nbi_pad_signal(const float *x, int64_t n, int64_t pad, nb_pad_mode mode, float *xp) {
    if (n) memcpy(xp + pad, x, sizeof(float) * (size_t)n);
    for (int64_t i = 1; i <= pad; i++) {
        float l, r; /* xp[pad − i] and xp[pad + n − 1 + i] */
        switch (mode) {
        case NB_PAD_REFLECT:
            l = x[i], r = x[n - 1 - i];
            break;
        case NB_PAD_REPLICATE:
            l = x[0], r = x[n - 1];
            break;
        case NB_PAD_CIRCULAR:
            l = x[n - i], r = x[i - 1];
            break;
        default:
            l = r = 0.0f;
            break;
        }
        xp[pad - i] = l;
        xp[pad + n - 1 + i] = r;
    }
}

/* ---- the featurizer ------------------------------------------------------------------------ */

struct nb_featurizer {
    nb_features f;
    int64_t hop, K;
    nbi_rfft *fft;
    float *window; /* n_fft values, the window centred and zero around it */
    float scale;
    float *mel; /* [n_mels, K] and each row's non-zero range */
    int32_t *mlo, *mhi;
    float *dct; /* [n_mfcc, n_mels], dense */
    int32_t *dlo, *dhi;
};

void nb_featurizer_free(nb_featurizer *fz) {
    if (!fz) return;
    nbi_rfft_free(fz->fft);
    nbi_free(fz->window);
    nbi_free(fz->mel);
    nbi_free(fz->mlo);
    nbi_free(fz->mhi);
    nbi_free(fz->dct);
    nbi_free(fz->dlo);
    nbi_free(fz->dhi);
    nbi_free(fz);
}

const nb_features *nb_featurizer_features(const nb_featurizer *fz) {
    return &fz->f;
}

/* the centred window of win_length in a frame of n_fft (torch.stft pads it by
 * (n_fft − win_length) / 2 on the left) */
static nb_status make_window(const nb_features *f, float *w) {
    const int64_t wl = win_len(f), left = (f->n_fft - wl) / 2;
    memset(w, 0, sizeof(float) * (size_t)f->n_fft);
    return nb_window(f->window, wl, !f->symmetric, w + left);
}

nb_status nb_featurizer_new(const nb_features *opts, nb_featurizer **out) {
    *out = NULL;
    nb_status st = nb_features_check(opts);
    if (st) return st;
    nb_featurizer *fz = nbi_calloc(1, sizeof *fz);
    if (!fz) return nbi_error(NB_ERR_NOMEM, "featurizer: out of memory");
    fz->f = nbi_features_resolve(opts);
    const nb_features *f = &fz->f;
    fz->hop = f->hop;
    fz->K = f->n_fft / 2 + 1;
    fz->scale = f->normalized ? (float)(1.0 / sqrt((double)f->n_fft)) : 1.0f;
    st = nbi_rfft_new(f->n_fft, &fz->fft);
    fz->window = st ? NULL : nbi_malloc_for("featurizer", sizeof(float) * (size_t)f->n_fft);
    if (!st && !fz->window) st = NB_ERR_NOMEM;
    if (!st) st = make_window(f, fz->window);
    if (!st && f->n_mels > 0) {
        const int64_t M = f->n_mels, K = fz->K;
        fz->mel = nbi_malloc_for("featurizer", sizeof(float) * (size_t)(M * K));
        fz->mlo = nbi_malloc_for("featurizer", sizeof(int32_t) * (size_t)M);
        fz->mhi = nbi_malloc_for("featurizer", sizeof(int32_t) * (size_t)M);
        st = fz->mel && fz->mlo && fz->mhi ? NB_OK : NB_ERR_NOMEM;
        if (!st)
            st = nb_mel_filterbank(K, f->f_min, fmax_of(f), M, f->rate, f->mel_scale, f->mel_norm,
                                   fz->mel);
        for (int64_t m = 0; !st && m < M; m++) { /* the band of non-zero weights */
            int64_t lo = 0, hi = K;
            while (lo < K && fz->mel[m * K + lo] == 0.0f) lo++;
            while (hi > lo && fz->mel[m * K + hi - 1] == 0.0f) hi--;
            fz->mlo[m] = (int32_t)lo;
            fz->mhi[m] = (int32_t)hi;
        }
    }
    if (!st && f->n_mfcc > 0) {
        const int64_t C = f->n_mfcc, M = f->n_mels;
        fz->dct = nbi_malloc_for("featurizer", sizeof(float) * (size_t)(C * M));
        fz->dlo = nbi_malloc_for("featurizer", sizeof(int32_t) * (size_t)C);
        fz->dhi = nbi_malloc_for("featurizer", sizeof(int32_t) * (size_t)C);
        st = fz->dct && fz->dlo && fz->dhi ? NB_OK : NB_ERR_NOMEM;
        if (!st) st = nb_dct_matrix(C, M, fz->dct);
        for (int64_t c = 0; !st && c < C; c++) fz->dlo[c] = 0, fz->dhi[c] = (int32_t)M;
    }
    if (st) {
        nb_featurizer_free(fz);
        return st;
    }
    *out = fz;
    return NB_OK;
}

/* The complex STFT, frame-major S [frames, K] (complex) of x [n]; work sizes follow. */
static nb_status stft_frames(const nb_featurizer *fz, const float *x, int64_t n, int64_t frames,
                             float *S) {
    const nb_features *f = &fz->f;
    const int64_t pad = f->no_center ? 0 : f->n_fft / 2, len = n + 2 * pad;
    float *xp = nbi_malloc_for("stft", sizeof(float) * (size_t)(len + nbi_stft_work(fz->fft)));
    if (!xp) return NB_ERR_NOMEM;
    if (pad)
        nbi_pad_signal(x, n, pad, f->pad, xp);
    else if (n)
        memcpy(xp, x, sizeof(float) * (size_t)n);
    nbi_stft_forward(fz->fft, xp, frames, fz->hop, fz->window, fz->scale, S, xp + len);
    nbi_free(xp);
    return NB_OK;
}

/* y = log of x, n values; `peak` handling for top_db over the utterance */
static void apply_log(const nb_features *f, float *x, int64_t n) {
    if (f->log == NB_LOG_LN) {
        const float eps = (float)f->log_eps;
        for (int64_t i = 0; i < n; i++) x[i] = logf(x[i] + eps);
    } else if (f->log == NB_LOG_DB) {
        const float amin = (float)f->amin;
        float peak = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            x[i] = 10.0f * log10f(x[i] > amin ? x[i] : amin);
            if (x[i] > peak) peak = x[i];
        }
        if (f->top_db > 0.0) {
            const float floor_db = peak - (float)f->top_db;
            for (int64_t i = 0; i < n; i++)
                if (x[i] < floor_db) x[i] = floor_db;
        }
    }
}

/* per feature (column of the frame-major X [frames, F]) over frames */
static void utt_norm(const nb_features *f, float *X, int64_t frames, int64_t F) {
    if (f->norm == NB_UTT_NONE || frames == 0) return;
    for (int64_t j = 0; j < F; j++) {
        double s = 0.0;
        for (int64_t t = 0; t < frames; t++) s += X[t * F + j];
        const double mean = s / (double)frames;
        double inv = 1.0;
        if (f->norm == NB_UTT_MEANVAR) {
            double v = 0.0;
            for (int64_t t = 0; t < frames; t++) {
                double d = X[t * F + j] - mean;
                v += d * d;
            }
            inv = 1.0 / sqrt(v / (double)frames + f->norm_eps);
        }
        for (int64_t t = 0; t < frames; t++) X[t * F + j] = (float)((X[t * F + j] - mean) * inv);
    }
}

nb_status nb_featurizer_run(const nb_featurizer *fz, const float *x, int64_t n, float *out) {
    const nb_features *f = &fz->f;
    if (!x && n > 0) return nbi_error(NB_ERR_ARG, "featurizer: NULL samples");
    int64_t F, T;
    nb_status st = shape_resolved(f, n, &F, &T);
    if (st) return st;
    const int64_t L = f->length > 0 ? f->length : n, K = fz->K;
    const int64_t M = f->n_mels, C = f->n_mfcc;
    /* one buffer: the fixed-length signal, the spectrum S [T, K] complex, the power P [T, K],
     * the mel bands [T, M] and the cepstra [T, C] */
    size_t need = 0, parts[5] = {(size_t)(f->length > 0 ? L : 0), (size_t)(2 * T * K),
                                 (size_t)(T * K), (size_t)(T * M), (size_t)(T * C)};
    for (int i = 0; i < 5; i++)
        if (!nbi_add_size(need, parts[i], &need))
            return nbi_error(NB_ERR_ARG, "featurizer: the clip is too long");
    if (!nbi_mul_size(need + 1, sizeof(float), &need))
        return nbi_error(NB_ERR_ARG, "featurizer: the clip is too long");
    float *buf = nbi_malloc_for("featurizer", need);
    if (!buf) return NB_ERR_NOMEM;
    float *xl = buf, *S = xl + parts[0], *P = S + parts[1], *Mb = P + parts[2], *Cb = Mb + parts[3];
    const float *sig = x;
    if (f->length > 0) {
        nbi_fix_length(x, n, xl, L, f->align);
        sig = xl;
    }
    st = stft_frames(fz, sig, L, T, S);
    if (st) {
        nbi_free(buf);
        return st;
    }
    nbi_kernel_set(nbi_best_isa())->spec_power(T * K, S, (float)f->power, P);
    float *X = P; /* the current stage, frame-major [T, F_stage] */
    int64_t Fs = K;
    if (M > 0) {
        nbi_kernel_set(nbi_best_isa())->band_apply(fz->mel, fz->mlo, fz->mhi, M, K, T, P, Mb);
        X = Mb;
        Fs = M;
    }
    apply_log(f, X, T * Fs);
    if (C > 0) {
        nbi_kernel_set(nbi_best_isa())->band_apply(fz->dct, fz->dlo, fz->dhi, C, M, T, Mb, Cb);
        X = Cb;
        Fs = C;
    }
    NBI_ASSERT(Fs == F);
    utt_norm(f, X, T, F);
    for (int64_t j = 0; j < F; j++) /* [T, F] → [F, T] */
        for (int64_t t = 0; t < T; t++) out[j * T + t] = X[t * F + j];
    nbi_free(buf);
    return NB_OK;
}

nb_status nb_featurize_audio(const nb_featurizer *fz, const nb_audio *a, nb_tensor **out) {
    *out = NULL;
    if (!a || !a->data || a->channels < 1 || a->frames < 0 || a->rate < 1)
        return nbi_error(NB_ERR_ARG, "nb_featurize_audio: the audio is empty or malformed");
    nb_audio m;
    nb_status st = nbi_audio_alloc(&m, a->frames, a->channels, a->rate, "nb_featurize_audio");
    if (st) return st;
    memcpy(m.data, a->data, sizeof(float) * (size_t)(a->frames * a->channels));
    st = nb_audio_to_mono(&m);
    if (!st) st = nb_audio_resample(&m, fz->f.rate, &fz->f.resample);
    int64_t F = 0, T = 0;
    if (!st) st = shape_resolved(&fz->f, m.frames, &F, &T);
    if (!st) {
        int64_t shape[2] = {F, T};
        *out = nb_tensor_new(NULL, NB_F32, 2, shape);
        if (!*out) st = NB_ERR_NOMEM; /* the message is set */
    }
    if (!st) st = nb_featurizer_run(fz, m.data, m.frames, nb_f32(*out));
    if (st && *out) {
        nb_tensor_free(*out);
        *out = NULL;
    }
    nb_audio_free(&m);
    return st;
}

nb_status nb_stft(const nb_features *f, const float *x, int64_t n, float *out, int64_t *n_frames) {
    if (n_frames) *n_frames = 0;
    if (!f) return nbi_error(NB_ERR_ARG, "nb_stft: NULL features");
    /* the STFT's fields of f over the defaults: no length fix, mel, log or normalisation */
    const nb_features r = nbi_features_resolve(f);
    nb_features g = {0};
    g.rate = r.rate;
    g.n_fft = r.n_fft;
    g.win_length = r.win_length;
    g.hop = r.hop;
    g.window = r.window;
    g.symmetric = r.symmetric;
    g.no_center = r.no_center;
    g.pad = r.pad;
    g.normalized = r.normalized;
    g.no_mel = 1;
    g.log = NB_LOG_NONE;
    g = nbi_features_resolve(&g);
    nb_status st = nbi_features_check_resolved(&g);
    if (st) return st;
    if (!x && n > 0) return nbi_error(NB_ERR_ARG, "nb_stft: NULL samples");
    const int64_t T = frame_count(&g, n);
    if (T < 0) return NB_ERR_ARG;
    if (n_frames) *n_frames = T;
    if (!out) return NB_OK;
    nb_featurizer *fz;
    st = nb_featurizer_new(&g, &fz);
    if (st) return st;
    const int64_t K = fz->K;
    size_t bytes;
    if (!nbi_mul_size((size_t)(T * K), 2 * sizeof(float), &bytes)) {
        nb_featurizer_free(fz);
        return nbi_error(NB_ERR_ARG, "nb_stft: the clip is too long");
    }
    float *S = nbi_malloc_for("nb_stft", bytes);
    st = S ? stft_frames(fz, x, n, T, S) : NB_ERR_NOMEM;
    for (int64_t k = 0; !st && k < K; k++) /* [T, K, 2] → [K, T, 2] */
        for (int64_t t = 0; t < T; t++) {
            out[2 * (k * T + t)] = S[2 * (t * K + k)];
            out[2 * (k * T + t) + 1] = S[2 * (t * K + k) + 1];
        }
    nbi_free(S);
    nb_featurizer_free(fz);
    return st;
}
