/* data/augment.c — per-sample random shifts and horizontal flips of NCHW image batches (see
 * nabla/augment.h).
 *
 * A shift by (dy, dx) is y[r][c] = x[r − dy][c − dx], fill where that falls outside: the same
 * as cropping an H x W window at offset (pad − dy, pad − dx) out of the image padded by pad on
 * every side, which is how torchvision's RandomCrop(size, padding) draws it (offsets uniform
 * in [0, 2·pad]). In place, rows are visited in the order that reads each source row before
 * it is overwritten (bottom-up when content moves down), and a row that stays where it is
 * moves sideways with memmove. */
#include "base/base.h"
#include "nabla/augment.h"

#include <stdio.h>
#include <string.h>

static void fill_run(float *d, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) d[i] = v;
}

/* dst row = src row moved right by dx (src and dst may be the same row) */
static void shift_row(float *dst, const float *src, int64_t W, int64_t dx, float fill) {
    if (dx >= W || -dx >= W) {
        fill_run(dst, W, fill);
    } else if (dx >= 0) {
        memmove(dst + dx, src, sizeof(float) * (size_t)(W - dx));
        fill_run(dst, dx, fill);
    } else {
        memmove(dst, src - dx, sizeof(float) * (size_t)(W + dx));
        fill_run(dst + W + dx, -dx, fill);
    }
}

void nb_augment_shift(float *img, int64_t C, int64_t H, int64_t W, int64_t dy, int64_t dx,
                      float fill) {
    for (int64_t c = 0; c < C; c++) {
        float *p = img + c * H * W;
        for (int64_t k = 0; k < H; k++) {
            int64_t r = dy > 0 ? H - 1 - k : k; /* read row r − dy before it is overwritten */
            int64_t from = r - dy;
            if (from < 0 || from >= H)
                fill_run(p + r * W, W, fill);
            else
                shift_row(p + r * W, p + from * W, W, dx, fill);
        }
    }
}

void nb_augment_hflip(float *img, int64_t C, int64_t H, int64_t W) {
    for (int64_t r = 0; r < C * H; r++) {
        float *row = img + r * W;
        for (int64_t i = 0, j = W - 1; i < j; i++, j--) {
            float t = row[i];
            row[i] = row[j];
            row[j] = t;
        }
    }
}

nb_status nb_augment_batch(const nb_tensor *x, nb_tensor *out, const nb_augment_opts *opts,
                           nb_rng *rng) {
    if (!x || !out || !opts || !rng)
        return nbi_error(NB_ERR_ARG, "nb_augment_batch: NULL %s",
                         !x      ? "input"
                         : !out  ? "output"
                         : !opts ? "options"
                                 : "generator");
    char a[96], b[96];
    if (x->dtype != NB_F32 || x->rank != 4 || !nb_tensor_is_contiguous(x))
        return nbi_error(NB_ERR_SHAPE,
                         "nb_augment_batch: input %s must be a contiguous f32 "
                         "batch [N, C, H, W]",
                         nb_shape_str(x, a, sizeof a));
    if (out != x &&
        (!nb_tensor_same_shape(x, out) || out->dtype != NB_F32 || !nb_tensor_is_contiguous(out)))
        return nbi_error(NB_ERR_SHAPE,
                         "nb_augment_batch: output %s must be a contiguous f32 "
                         "tensor shaped like the input %s",
                         nb_shape_str(out, b, sizeof b), nb_shape_str(x, a, sizeof a));
    if (opts->pad < 0 || !(opts->flip_p >= 0.0f && opts->flip_p <= 1.0f))
        return nbi_error(NB_ERR_ARG,
                         "nb_augment_batch: need pad >= 0 and 0 <= flip_p <= 1, "
                         "got pad %lld, flip_p %g",
                         (long long)opts->pad, (double)opts->flip_p);
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t per = C * H * W;
    for (int64_t n = 0; n < N; n++) {
        float *img = (float *)out->data + n * per;
        if (out != x) memcpy(img, (const float *)x->data + n * per, sizeof(float) * (size_t)per);
        if (opts->pad > 0) {
            uint64_t span = 2 * (uint64_t)opts->pad + 1;
            int64_t dy = (int64_t)nb_rng_below(rng, span) - opts->pad;
            int64_t dx = (int64_t)nb_rng_below(rng, span) - opts->pad;
            nb_augment_shift(img, C, H, W, dy, dx, opts->fill);
        }
        if (opts->flip_p > 0.0f && nb_rng_uniform(rng) < opts->flip_p)
            nb_augment_hflip(img, C, H, W);
    }
    return NB_OK;
}
