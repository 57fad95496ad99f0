/* nabla/audio.h — hearing: WAV files in and out, resampling, spectral features (STFT, power
 * spectrogram, mel filterbank, log-mel, MFCC, per-utterance normalisation) described by one
 * pipeline value that has a text form, audio augmentation from an explicit generator, and
 * datasets made from a manifest of labelled clips (featurised once, cached in memory).
 *
 * Conventions follow PyTorch/torchaudio and librosa, so that features computed here match
 * the ones a Python model was trained on: torch.stft's framing (center, pad mode, periodic
 * windows centred in n_fft, normalized = 1/sqrt(n_fft)), torchaudio's melscale_fbanks
 * (HTK or Slaney scale, no or Slaney area normalisation) which equals librosa.filters.mel,
 * AmplitudeToDB's dB with top_db, and the orthonormal DCT-II of torchaudio's MFCC. Layouts
 * are torch's: a spectrogram or feature matrix is [features, frames]. See docs/audio.md.
 *
 * Files are hostile: every chunk of a WAV file is checked against the bytes that are there,
 * sizes are overflow-checked, and a malformed file gives NB_ERR_FORMAT (NB_ERR_UNSUPPORTED
 * for a valid encoding nabla does not read) with a message naming the file and the field. */
#ifndef NABLA_AUDIO_H
#define NABLA_AUDIO_H

#include "nabla/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- signals ------------------------------------------------------------------------------ */

/* Samples as floats, full scale ±1, channels interleaved (frame t, channel c at
 * data[t·channels + c]). Allocated through nabla's allocator; a zeroed nb_audio is empty and
 * may be freed. */
typedef struct nb_audio {
    float *data;
    int64_t frames; /* samples per channel */
    int channels;   /* ≥ 1 */
    int rate;       /* frames per second */
} nb_audio;

void nb_audio_free(nb_audio *a); /* releases and zeroes; NULL is a no-op */
/* Mixes the channels down to one, their mean (torchaudio's and librosa's to_mono). */
nb_status nb_audio_to_mono(nb_audio *a);

/* ---- WAV files ----------------------------------------------------------------------------
 * RIFF/WAVE with PCM (unsigned 8-bit; signed 16, 24, 32-bit) or IEEE float (32, 64-bit)
 * samples, the plain fmt chunk or WAVE_FORMAT_EXTENSIBLE, any number of channels up to 64,
 * rates from 1 Hz to 1 536 000 Hz. Integer samples are scaled by 2^−(bits−1) (8-bit: (v − 128)
 * / 128), as soundfile and torchaudio do; float samples must be finite (64-bit ones within
 * float's range). Chunks other than fmt and data are skipped; bytes after the RIFF chunk are
 * ignored. */
typedef enum nb_wav_encoding {
    NB_WAV_U8 = 0,
    NB_WAV_S16,
    NB_WAV_S24,
    NB_WAV_S32,
    NB_WAV_F32,
    NB_WAV_F64,
    NB_WAV_ENCODING_COUNT
} nb_wav_encoding;

/* "u8", "s16", "s24", "s32", "f32", "f64" */
const char *nb_wav_encoding_name(nb_wav_encoding e);

typedef struct nb_wav_info {
    nb_wav_encoding encoding;
    int channels;
    int rate;
    int64_t frames;
    int extensible; /* 1: the fmt chunk was WAVE_FORMAT_EXTENSIBLE */
} nb_wav_info;

/* Reads every channel (nb_audio_to_mono mixes them down). info may be NULL. On failure *out
 * is left empty. `name` names the buffer in messages. */
nb_status nb_wav_read(const char *path, nb_audio *out, nb_wav_info *info);
nb_status nb_wav_parse(const void *buf, size_t len, const char *name, nb_audio *out,
                       nb_wav_info *info);
/* Writes a canonical file (the plain fmt chunk, a fact chunk for float) atomically. Integer
 * encodings round to the nearest step and clip to the range; NaN samples are an error. */
nb_status nb_wav_write(const char *path, const nb_audio *a, nb_wav_encoding enc);
/* The same bytes in a fresh buffer (release with nb_free). */
nb_status nb_wav_encode(const nb_audio *a, nb_wav_encoding enc, unsigned char **buf, size_t *len);

/* ---- resampling ---------------------------------------------------------------------------
 * Band-limited interpolation by a Kaiser-windowed sinc, evaluated as a polyphase filter for
 * the rational ratio to/from (reduced by their gcd):
 *
 *   y[j] = Σ_k x[k] · r·sinc(r·(j·from/to − k)) · kaiser((j·from/to − k) / hw)
 *
 * with r = rolloff · min(from, to) / from the cutoff in cycles per input sample (times 2),
 * hw = zero_crossings / r the half-width in input samples, kaiser(u) = I0(β·√(1 − u²)) / I0(β),
 * and x = 0 outside the signal. The output has ceil(n · to / from) samples (torchaudio's
 * length). With the defaults, 0 – 0.8 of the lower Nyquist frequency passes within 0.001 dB,
 * the transition band lies between 0.8 and 1, and tones above the Nyquist frequency (which
 * would alias) come out more than 80 dB down (tests/test_wav.c measures both).
 *
 * The options are zero-initialised: a field left 0 takes its default, and NULL is {0}. */
typedef struct nb_resample_opts {
    int zero_crossings; /* half-width of the sinc in its zero crossings; 0: 24 */
    double rolloff;     /* cutoff as a fraction of the lower Nyquist frequency; 0: 0.9 */
    double beta;        /* Kaiser window shape; 0: 8 (NB_ZERO: a real 0, the plain sinc) */
} nb_resample_opts;

/* A resampler for one pair of rates (its filter computed once; read-only afterwards, so
 * threads may share it). opts may be NULL for the defaults. */
typedef struct nb_resampler nb_resampler;
nb_status nb_resampler_new(int64_t from_rate, int64_t to_rate, const nb_resample_opts *opts,
                           nb_resampler **out);
void nb_resampler_free(nb_resampler *r);
/* ceil(n · to / from), or −1 when it would overflow */
int64_t nb_resampler_out_len(const nb_resampler *r, int64_t n);
/* y[j·ys] for j < nb_resampler_out_len(n) from x[k·xs], k < n (strides for interleaved
 * channels; 1 for one channel). */
void nb_resampler_run(const nb_resampler *r, const float *x, int64_t n, int64_t xs, float *y,
                      int64_t ys);
/* a resampled to `rate`, every channel, in place (a new buffer). */
nb_status nb_audio_resample(nb_audio *a, int rate, const nb_resample_opts *opts);

/* ---- windows, filterbanks ------------------------------------------------------------------ */

typedef enum nb_window_kind {
    NB_WINDOW_HANN = 0,
    NB_WINDOW_HAMMING,
    NB_WINDOW_RECT
} nb_window_kind;

/* w[0 .. length) of torch.hann_window / hamming_window (α 0.54, β 0.46) / ones: periodic
 * (the default of torch, librosa and torchaudio: N = length in the cosine's denominator) or
 * symmetric (N = length − 1). */
nb_status nb_window(nb_window_kind kind, int64_t length, int periodic, float *w);

typedef enum nb_mel_scale { NB_MEL_HTK = 0, NB_MEL_SLANEY } nb_mel_scale;
typedef enum nb_mel_norm { NB_MEL_NORM_NONE = 0, NB_MEL_NORM_SLANEY } nb_mel_norm;

/* Hz → mel and back: HTK 2595·log10(1 + f/700); Slaney linear (f / (200/3)) below 1 kHz and
 * logarithmic above (15 + ln(f/1000) / (ln 6.4 / 27)). */
double nb_hz_to_mel(double hz, nb_mel_scale scale);
double nb_mel_to_hz(double mel, nb_mel_scale scale);

/* The triangular filterbank fb [n_mels, n_freqs] (the transpose of torchaudio's
 * melscale_fbanks, equal to librosa.filters.mel): n_mels + 2 points equally spaced in mel
 * between f_min and f_max, the bins at k·(rate/2)/(n_freqs − 1), computed in double. */
nb_status nb_mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels,
                            double rate, nb_mel_scale scale, nb_mel_norm norm, float *fb);

/* The orthonormal DCT-II [n_out, n_in]: D[k, m] = √(2/n_in)·cos(π/n_in·(m + ½)·k), row 0 times
 * 1/√2 (the transpose of torchaudio's create_dct(n_out, n_in, "ortho")). n_out ≤ n_in. */
nb_status nb_dct_matrix(int64_t n_out, int64_t n_in, float *D);

/* ---- the feature pipeline -------------------------------------------------------------------
 * A value describing how a clip becomes a feature matrix [n_feat, n_frames]:
 *
 *   resample to `rate` → pad or cut to `length` → STFT (torch.stft) → |X|^power
 *   → mel filterbank (n_mels > 0) → log (ln(x + log_eps), or dB) → DCT-II (n_mfcc > 0)
 *   → per-utterance normalisation over frames (per feature: subtract the mean, and divide by
 *     √(var + norm_eps))
 *
 * It has a one-line text form ("audio/1 rate=16000 n_fft=400 ...", every field as key=value;
 * nb_features_format writes all of them, nb_features_parse accepts any subset over the
 * defaults), which model files store so that prediction featurises exactly as training did.
 *
 * The struct is zero-initialised: every field left 0 takes its default (the comment says
 * which), so {0} is 16 kHz; 25 ms Hann frames every 10 ms (n_fft 400, hop 160), centred with
 * reflection; power spectrum; 40 HTK mel bands over 0 – 8 kHz; ln(x + 1e-6); no MFCC, no
 * normalisation; clips kept at their length. Flags whose default is on are spelled as their
 * opposite (symmetric, no_center, no_mel). (The functions below want a pipeline and refuse
 * NULL; nb_audio_data_opts.features NULL is {0}.) */
typedef enum nb_pad_mode {
    NB_PAD_REFLECT = 0, /* torch.stft's default: x[1], x[2], ... mirrored without the edge */
    NB_PAD_CONSTANT,    /* zeros */
    NB_PAD_REPLICATE,   /* the edge sample repeated */
    NB_PAD_CIRCULAR     /* the other end of the signal */
} nb_pad_mode;

typedef enum nb_log_kind {
    NB_LOG_LN = 0, /* ln(x + log_eps) (torchaudio MFCC's log_mels): the default */
    NB_LOG_NONE,   /* the spectrum as it is */
    NB_LOG_DB      /* 10·log10(max(x, amin)), then max(·, peak − top_db) when top_db > 0, the
                      peak taken over the utterance (torchaudio's AmplitudeToDB for power) */
} nb_log_kind;

typedef enum nb_utt_norm {
    NB_UTT_NONE = 0,
    NB_UTT_MEAN,   /* x − mean over frames, per feature (cepstral mean normalisation) */
    NB_UTT_MEANVAR /* (x − mean) / √(var + norm_eps), per feature */
} nb_utt_norm;

typedef enum nb_align {
    NB_ALIGN_START = 0, /* pad or cut at the end */
    NB_ALIGN_CENTER     /* pad or cut both ends equally (the extra sample at the end) */
} nb_align;

typedef struct nb_features {
    int rate;       /* the pipeline's sample rate, Hz; clips are resampled to it; 0: 16000 */
    int64_t length; /* samples per clip after padding with zeros or cutting; 0: as is */
    nb_align align;
    int64_t n_fft;      /* FFT length (any length ≥ 2); 0: 25 ms, rate / 40 (400 at 16 kHz) */
    int64_t win_length; /* window length ≤ n_fft, centred in the frame; 0: n_fft */
    int64_t hop;        /* frame step; 0: 10 ms, rate / 100 (160 at 16 kHz) */
    nb_window_kind window;
    int symmetric;       /* 1: symmetric window; 0: periodic (torch's default) */
    int no_center;       /* 1: frames start at sample 0; 0: pad n_fft/2 on both sides first
                            (torch's default) */
    nb_pad_mode pad;     /* how to pad when centring */
    int normalized;      /* 1: the STFT times 1/√n_fft (torch.stft's normalized=True) */
    double power;        /* > 0: 2 power spectrum, 1 magnitude; 0: 2 */
    int64_t n_mels;      /* mel bands; 0: 40 */
    int no_mel;          /* 1: no filterbank, keep the n_fft/2 + 1 linear-frequency bins */
    double f_min, f_max; /* mel range, Hz; f_max 0: rate / 2 */
    nb_mel_scale mel_scale;
    nb_mel_norm mel_norm;
    nb_log_kind log;
    double log_eps; /* LN: the offset; 0: 1e-6 */
    double amin;    /* DB: the floor; 0: 1e-10 */
    double top_db;  /* DB: dynamic range kept below the peak; 0: all */
    int64_t n_mfcc; /* > 0: the first n_mfcc DCT-II coefficients (needs mel bands, a log,
                       n_mfcc ≤ n_mels); 0: none */
    nb_utt_norm norm;
    double norm_eps; /* 0: 1e-5 */
    nb_resample_opts resample;
} nb_features;

/* NB_ERR_ARG naming the first field that is out of range or inconsistent (its defaults
 * filled in first). */
/* The pipeline as it runs: f with every zero field that stands for a default filled in (what
 * the featurizer keeps; for reports such as `nabla info`). NULL is {0}. */
nb_features nb_features_resolved(const nb_features *f);
nb_status nb_features_check(const nb_features *f);
/* The text form, snprintf-style: writes up to n − 1 characters and a NUL into buf (which may
 * be NULL when n is 0) and returns the full length (0 with the error set when f is invalid). */
size_t nb_features_format(const nb_features *f, char *buf, size_t n);
/* Reads a text form: an optional "audio/1" first, then key=value words (blanks between), over
 * the defaults. The text spells every setting as a value (periodic=1, center=1, n_mels=0 for
 * linear bins, hop=0 for n_fft / 4 as torch.stft) and *out receives them all, defaults filled
 * in. NB_ERR_FORMAT names an unknown or repeated key or a bad value. */
nb_status nb_features_parse(const char *text, size_t len, nb_features *out);
/* The shape of the features of a clip of `samples` samples at the pipeline's rate (after the
 * length fix when length > 0): NB_ERR_ARG when it is too short to make one frame. */
nb_status nb_features_shape(const nb_features *f, int64_t samples, int64_t *n_feat,
                            int64_t *n_frames);

/* A featurizer: the pipeline with its window, FFT plan, filterbank and DCT made once.
 * Read-only after creation: threads may share one. */
typedef struct nb_featurizer nb_featurizer;
nb_status nb_featurizer_new(const nb_features *f, nb_featurizer **out);
void nb_featurizer_free(nb_featurizer *fz);
/* The featurizer's pipeline, with the defaults of its zero fields filled in. */
const nb_features *nb_featurizer_features(const nb_featurizer *fz);
/* out [n_feat, n_frames] (nb_features_shape of n) from a mono signal x of n samples at the
 * pipeline's rate; the length fix is applied first. */
nb_status nb_featurizer_run(const nb_featurizer *fz, const float *x, int64_t n, float *out);
/* The whole pipeline from a clip (any rate and channel count: mixed down and resampled);
 * *out is a new heap tensor [n_feat, n_frames]. */
nb_status nb_featurize_audio(const nb_featurizer *fz, const nb_audio *a, nb_tensor **out);
/* The pipeline as differentiable ops in ctx (audio/features_op.c): x [L] or [B, L] at the
 * pipeline's rate (no resampling here; the length fix is applied) → [n_feat, n_frames] or
 * [B, n_feat, n_frames], the nb_featurizer_run values up to float rounding, built from
 * nb_stft_op, nb_spec_power, nb_filterbank (mel and DCT), log, and mean/variance over frames,
 * so a gradient reaches x. NULL with the error set on bad features or input. */
nb_tensor *nb_features_apply(nb_ctx *ctx, const nb_features *f, nb_tensor *x);

/* The complex STFT alone, torch.stft(x, n_fft, hop, win_length, window, center, pad_mode,
 * normalized, onesided=True, return_complex=True) seen through torch.view_as_real:
 * out [n_fft/2 + 1, n_frames, 2]. Uses f's n_fft, win_length, hop, window, periodic, center,
 * pad and normalized; *n_frames (may be NULL) gets the frame count. out may be NULL to ask
 * for the frame count alone. */
nb_status nb_stft(const nb_features *f, const float *x, int64_t n, float *out, int64_t *n_frames);

/* ---- augmentation ----------------------------------------------------------------------------
 * Waveform transforms for training, every random draw from the generator passed in. */

/* Moves the content by `shift` samples (positive: later), zeros where nothing moved in. */
void nb_audio_shift(float *x, int64_t n, int64_t shift);
/* x · 10^(db/20) */
void nb_audio_gain(float *x, int64_t n, double db);
/* n draws of N(0, 1) */
void nb_audio_white_noise(float *noise, int64_t n, nb_rng *rng);
/* x += s · noise with s chosen so that 10·log10(Σx² / Σ(s·noise)²) = snr_db (torchaudio's
 * add_noise). A silent x or noise is left unchanged. */
nb_status nb_audio_add_noise(float *x, const float *noise, int64_t n, double snr_db);
/* Speed perturbation (tempo and pitch together, as Kaldi's and torchaudio's speed): x played
 * `factor` times faster, by resampling from rate·factor to rate, factor rounded to 1/100.
 * *y (nbi allocator, release with nb_free) gets about n / factor samples. */
nb_status nb_audio_speed(const float *x, int64_t n, double factor, const nb_resample_opts *opts,
                         float **y, int64_t *ny);

/* A random chain: speed (factor uniform in [speed_min, speed_max], when they differ from 1),
 * then shift (uniform in ±shift_max seconds), gain (uniform dB in [gain_db_min, gain_db_max]),
 * and with probability noise_p white noise at an SNR uniform in [snr_db_min, snr_db_max].
 * A zeroed struct changes nothing. */
typedef struct nb_audio_aug {
    double speed_min, speed_max;
    double shift_max;
    double gain_db_min, gain_db_max;
    double noise_p;
    double snr_db_min, snr_db_max;
} nb_audio_aug;

nb_status nb_audio_augment(const nb_audio_aug *aug, int rate, const float *x, int64_t n,
                           nb_rng *rng, float **y, int64_t *ny);

/* SpecAugment's masks on a feature matrix [F, T]: freq_masks bands of a width uniform in
 * [0, freq_width] bins at a uniform start, then time_masks of a width uniform in
 * [0, time_width] frames; masked values become `value`, or the matrix's mean when use_mean. */
typedef struct nb_specaug {
    int freq_masks;
    int64_t freq_width;
    int time_masks;
    int64_t time_width;
    float value;
    int use_mean;
} nb_specaug;

void nb_specaugment(float *x, int64_t F, int64_t T, const nb_specaug *o, nb_rng *rng);
/* Each sample of a contiguous f32 batch [N, ..., F, T] (the last two dimensions), in place,
 * sample after sample. */
nb_status nb_specaugment_batch(nb_tensor *x, const nb_specaug *o, nb_rng *rng);

/* ---- manifests and datasets -----------------------------------------------------------------
 * A manifest is a CSV file (RFC 4180 quoting) whose header names a `path` column, a `label`
 * column and optionally a `group` column (also `speaker`); other columns are ignored. Paths
 * are relative to the manifest's folder unless absolute. Labels that are all non-negative
 * integers are used as they are; otherwise the distinct names are numbered in sorted order.
 * An optional `name` (or `word`) column names the classes of integer labels (kept when every
 * label has exactly one name). Groups (speakers, voices) are numbered in order of
 * appearance. */
typedef struct nb_manifest {
    int64_t n;
    char **paths;
    int32_t *labels;
    int32_t *groups; /* n group numbers, or NULL without a group column */
    char **classes;  /* class names when the labels were names, else NULL */
    int num_classes; /* names' count, or the largest integer label + 1 */
    char **group_names;
    int num_groups;
} nb_manifest;

nb_status nb_manifest_read(const char *path, nb_manifest *out);
/* dir: the folder relative paths are joined to (NULL: used as they are). */
nb_status nb_manifest_parse(const void *buf, size_t len, const char *name, const char *dir,
                            nb_manifest *out);
void nb_manifest_free(nb_manifest *m);
/* Splits by group: round(test_fraction · groups) groups drawn with seed go wholly to *test,
 * the rest to *train, rows kept in order; no group is in both. */
nb_status nb_manifest_split_groups(const nb_manifest *m, double test_fraction, uint64_t seed,
                                   nb_manifest *train, nb_manifest *test);

/* How the features are kept in memory: 4, 2 or 1 byte a value. AUTO takes the first of
 * f32, f16, u8 whose bytes fit in max_bytes; an f16 store that a feature would overflow
 * (|x| ≥ 65520, beyond the largest half) falls back to u8 under AUTO and is refused when
 * asked for. */
typedef enum nb_audio_store {
    NB_AUDIO_STORE_AUTO = 0,
    NB_AUDIO_STORE_F32,
    NB_AUDIO_STORE_U8, /* quantised: q = round(255·(x − lo)/(hi − lo)) over the data set */
    NB_AUDIO_STORE_F16 /* IEEE binary16, x rounded to the nearest half (11 significant bits:
                          a relative error of at most 2^-11); batches widen it to f32 */
} nb_audio_store;

typedef struct nb_audio_data_opts {
    const nb_features *features; /* NULL: the defaults, {0} (whose length 0 needs clips of
                                    equal length) */
    nb_audio_store store;
    size_t max_bytes;        /* AUTO's budget for the features; 0: half the physical memory */
    int copies;              /* augmented copies of every clip, besides the clip */
    const nb_audio_aug *aug; /* how copies are made (needed when copies > 0) */
    uint64_t seed;           /* copies' draws depend only on (seed, clip, copy) */
    int frames_first;        /* samples [n_frames, n_feat], a sequence of frames (recurrent
                                models), instead of [1, n_feat, n_frames] */
    int floats_only;         /* AUTO chooses f32 or f16 only, and fails (NB_ERR_NOMEM) where
                                only bytes would fit or a half overflows: for a caller that
                                cannot apply the bytes' dequantisation */
} nb_audio_data_opts;

/* Decodes and featurises every clip of m once (clips in parallel on the thread pool; the
 * result does not depend on the thread count) into a dataset of samples [1, n_feat, n_frames]
 * and the manifest's labels (and class names). With copies, sample i·(copies + 1) is clip i
 * and the next `copies` are its augmented versions. When the features are stored as bytes,
 * *dequant (may be NULL) gets the constant normalisation (q − shift) / div that maps them back
 * to x = lo + q·(hi − lo)/255 (pass it as the loader's or nb_fit's norm); otherwise it is set
 * to NB_NORM_NONE. A clip that cannot be read or featurised fails the whole call with its path
 * in the message. */
nb_status nb_audio_dataset(const nb_manifest *m, const nb_audio_data_opts *opts, nb_dataset **out,
                           nb_norm *dequant);
/* nb_manifest_read then nb_audio_dataset. */
nb_status nb_audio_dataset_load(const char *manifest_path, const nb_audio_data_opts *opts,
                                nb_dataset **out, nb_norm *dequant);

#ifdef __cplusplus
}
#endif
#endif
