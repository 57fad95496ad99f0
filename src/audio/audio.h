/* audio/audio.h — internal helpers of the audio layer (WAV files, resampling, features,
 * augmentation, manifest datasets). The layer sits above data/ and below nn/: it uses base,
 * kernels (the FFT and the per-frame loops), tensor and data (datasets, the CSV number
 * parser), and io's whole-file reads and atomic writes, as data/ does. */
#ifndef NBI_AUDIO_H
#define NBI_AUDIO_H

#include "base/base.h"
#include "nabla/audio.h"
#include "nabla/tensor.h"

/* Allocates a zero-initialised nb_audio of frames × channels samples (at least one float, so
 * data is never NULL). */
nb_status nbi_audio_alloc(nb_audio *a, int64_t frames, int channels, int rate, const char *what);

/* y [length] from x [n]: zeros added or samples dropped at the end (START) or at both ends
 * (CENTER: the odd sample at the end). */
void nbi_fix_length(const float *x, int64_t n, float *y, int64_t length, nb_align align);

/* NB_ERR_ARG naming the first range of a that is malformed (see nb_audio_augment). */
nb_status nbi_audio_aug_check(const nb_audio_aug *a);

/* Names of the enumerations in the text form ("hann", "reflect", ...); NULL when out of
 * range. */
const char *nbi_window_name(nb_window_kind k);
const char *nbi_pad_name(nb_pad_mode p);
const char *nbi_mel_scale_name(nb_mel_scale s);
const char *nbi_mel_norm_name(nb_mel_norm n);
const char *nbi_log_name(nb_log_kind k);
const char *nbi_utt_norm_name(nb_utt_norm n);
const char *nbi_align_name(nb_align a);

/* The padded signal for a centred STFT: n_fft/2 samples on each side of x by `mode`;
 * xp has n + 2·(n_fft/2) samples. Reflection needs n > n_fft/2 (checked by the caller). */
void nbi_pad_signal(const float *x, int64_t n, int64_t pad, nb_pad_mode mode, float *xp);

#endif
