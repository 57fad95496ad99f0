/* audio/features_op.c — the feature pipeline of nb_features as differentiable ops on tensors
 * (nb_features_apply), so that featurisation can run inside a model's graph and gradients
 * reach the waveform:
 *
 *   length fix (slice / zero concat) → nb_stft_op → nb_spec_power → nb_filterbank (mel)
 *   → log: ln(x + eps), or dB 10·log10(max(x, amin)) floored at peak − top_db
 *   → nb_filterbank (DCT-II) → per-utterance normalisation over frames
 *
 * It computes what nb_featurizer_run computes (the same window, filterbank and DCT matrices,
 * made by nb_window, nb_mel_filterbank and nb_dct_matrix), up to float rounding: the
 * featurizer sums normalisation statistics in double, the ops in float. Resampling is not
 * part of it: the signal must already be at the pipeline's rate. */
#include "audio/audio.h"
#include "nabla/ops.h"

#include <math.h>
#include <string.h>

/* A constant f32 tensor of the context, filled by fill(); NULL on error. */
static nb_tensor *matrix(nb_ctx *ctx, int rank, const int64_t *shape) {
    return nb_tensor_new(ctx, NB_F32, rank, shape);
}

/* x [..., L] → [..., length]: cut, or zeros added, at the end (START) or both ends (CENTER,
 * the odd sample at the end), as nbi_fix_length. */
static nb_tensor *fix_length(nb_ctx *ctx, nb_tensor *x, int64_t length, nb_align align) {
    const int ax = x->rank - 1;
    const int64_t L = x->shape[ax];
    if (L == length) return x;
    if (L > length) {
        int64_t start = align == NB_ALIGN_CENTER ? (L - length) / 2 : 0;
        return nb_slice(ctx, x, ax, start, start + length, 1);
    }
    const int64_t left = align == NB_ALIGN_CENTER ? (length - L) / 2 : 0, right = length - L - left;
    nb_tensor *parts[3];
    int np = 0;
    int64_t shape[NB_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    if (left > 0) {
        shape[ax] = left;
        if (!(parts[np++] = nb_zeros(ctx, x->rank, shape))) return NULL;
    }
    parts[np++] = x;
    if (right > 0) {
        shape[ax] = right;
        if (!(parts[np++] = nb_zeros(ctx, x->rank, shape))) return NULL;
    }
    return nb_concat(ctx, parts, np, ax);
}

nb_tensor *nb_features_apply(nb_ctx *ctx, const nb_features *fin, nb_tensor *x) {
    if (!ctx || !fin || !x) {
        nbi_error(NB_ERR_ARG, "features: NULL argument");
        return NULL;
    }
    const nb_features f = nbi_features_resolve(fin); /* zero fields: the defaults */
    if (nbi_features_check_resolved(&f) != NB_OK) return NULL;
    if (x->dtype != NB_F32 || (x->rank != 1 && x->rank != 2)) {
        nbi_error(NB_ERR_SHAPE, "features: the signal must be f32 [L] or a batch [B, L]");
        return NULL;
    }
    const int64_t n_fft = f.n_fft, win = f.win_length > 0 ? f.win_length : n_fft;
    const int64_t hop = f.hop, K = n_fft / 2 + 1;
    const int64_t samples = f.length > 0 ? f.length : x->shape[x->rank - 1];
    int64_t n_feat, n_frames;
    if (nb_features_shape(&f, samples, &n_feat, &n_frames) != NB_OK) return NULL;
    if (f.length > 0 && !(x = fix_length(ctx, x, f.length, f.align))) return NULL;

    nb_tensor *w = matrix(ctx, 1, &win);
    if (!w || nb_window(f.window, win, !f.symmetric, w->data) != NB_OK) return NULL;
    nb_tensor *y = nb_stft_op(ctx, x, w, n_fft, hop, !f.no_center, (int)f.pad, f.normalized);
    y = nb_spec_power(ctx, y, (float)f.power);
    if (y && f.n_mels > 0) {
        const double f_max = f.f_max > 0.0 ? f.f_max : f.rate / 2.0;
        nb_tensor *fb = matrix(ctx, 2, (int64_t[]){f.n_mels, K});
        if (!fb || nb_mel_filterbank(K, f.f_min, f_max, f.n_mels, f.rate, f.mel_scale, f.mel_norm,
                                     fb->data) != NB_OK)
            return NULL;
        y = nb_filterbank(ctx, y, fb);
    }
    if (!y) return NULL;
    const int r = y->rank;
    if (f.log == NB_LOG_LN) {
        y = nb_log(ctx, nb_add_scalar(ctx, y, (float)f.log_eps));
    } else if (f.log == NB_LOG_DB) {
        /* 10·log10(max(x, amin)) = (10 / ln 10)·ln(max(x, amin)) */
        y = nb_mul_scalar(ctx, nb_log(ctx, nb_clamp(ctx, y, (float)f.amin, INFINITY)),
                          (float)(10.0 / log(10.0)));
        if (y && f.top_db > 0.0) {
            /* max(y, peak − top_db) = relu(y − floor) + floor, the peak over the utterance */
            nb_tensor *floor_db = nb_sub_scalar(
                ctx, nb_max(ctx, y, (1u << (r - 1)) | (1u << (r - 2)), 1), (float)f.top_db);
            y = nb_add(ctx, nb_relu(ctx, nb_sub(ctx, y, floor_db)), floor_db);
        }
    }
    if (y && f.n_mfcc > 0) {
        nb_tensor *D = matrix(ctx, 2, (int64_t[]){f.n_mfcc, f.n_mels});
        if (!D || nb_dct_matrix(f.n_mfcc, f.n_mels, D->data) != NB_OK) return NULL;
        y = nb_filterbank(ctx, y, D);
    }
    if (y && f.norm != NB_UTT_NONE) {
        const unsigned frames = 1u << (r - 1);
        y = nb_sub(ctx, y, nb_mean(ctx, y, frames, 1));
        if (y && f.norm == NB_UTT_MEANVAR) {
            nb_tensor *var = nb_mean(ctx, nb_mul(ctx, y, y), frames, 1);
            y = nb_div(ctx, y, nb_sqrt(ctx, nb_add_scalar(ctx, var, (float)f.norm_eps)));
        }
    }
    return y;
}
