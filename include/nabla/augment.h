/* nabla/augment.h — random augmentation of image batches for training: shifts (a random crop
 * of the zero-padded image, torchvision's RandomCrop(size, padding)) and horizontal flips
 * (RandomHorizontalFlip), drawn per sample from an explicit generator.
 *
 * Batches are NCHW f32 tensors ([N, C, H, W]; every channel of a sample moves together). The
 * draws for sample n come before those of sample n + 1, in a fixed order (vertical shift,
 * horizontal shift, flip), so a seed fixes every augmented batch. Nothing is allocated: the
 * work is done in place, or into a second tensor of the same shape. */
#ifndef NABLA_AUGMENT_H
#define NABLA_AUGMENT_H

#include "nabla/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_augment_opts {
    int64_t pad;  /* shift by up to ±pad pixels each way (0: no shift); the uncovered
                     border takes `fill` */
    float fill;   /* 0 for zero padding */
    float flip_p; /* probability of a horizontal flip (0: never, 0.5: torchvision's) */
} nb_augment_opts;

/* out[n] = flip?(shift(x[n])) for every sample. out may be x (in place) or another
 * contiguous f32 tensor of x's shape; x must be contiguous too. */
nb_status nb_augment_batch(const nb_tensor *x, nb_tensor *out, const nb_augment_opts *opts,
                           nb_rng *rng);

/* The two transforms on one sample's planes (C planes of H x W, contiguous), in place, with
 * given amounts: content moves down by dy and right by dx (negative: up, left), the
 * uncovered pixels become fill. For tests and custom pipelines. */
void nb_augment_shift(float *img, int64_t C, int64_t H, int64_t W, int64_t dy, int64_t dx,
                      float fill);
void nb_augment_hflip(float *img, int64_t C, int64_t H, int64_t W);

#ifdef __cplusplus
}
#endif
#endif
