/* nabla.h — the whole public API of nabla, a deep-learning framework in C11.
 *
 *   base.h      status codes, error messages, allocator hook, RNG
 *   tensor.h    tensors: creation, views, access, printing
 *   autograd.h  contexts, the tape, backward, no-grad and check modes
 *   ops.h       differentiable operations, activations, losses
 *   kernels.h   GEMM and the compute layer
 *   linalg.h    LU, solve, inverse, determinant, Cholesky, QR, least squares
 *   stats.h     moments, covariance, discrete distributions, entropy, samplers
 *   data.h      IDX, CSV and .npy files; datasets, batches, normalisation
 *   text.h      corpora, tokenizers (bytes, characters, BPE), language-model batches,
 *               labelled text, sampling the next token
 *   io.h        the spec format, safetensors model files, PyTorch interop
 *   file.h      atomic writes, output paths checked before long work
 *   nn.h        parameters, initialisers, layers, models
 *   optim.h     optimizers, learning-rate schedules, gradient clipping
 *   train.h     fit, evaluate, predict, metrics, history, callbacks, training state
 *   augment.h   random shifts and flips of image batches
 *   audio.h     WAV files, resampling, spectral features, audio augmentation, manifest
 *               datasets */
#ifndef NABLA_H
#define NABLA_H

#include "nabla/base.h"
#include "nabla/tensor.h"
#include "nabla/autograd.h"
#include "nabla/ops.h"
#include "nabla/kernels.h"
#include "nabla/linalg.h"
#include "nabla/stats.h"
#include "nabla/nn.h"
#include "nabla/optim.h"
#include "nabla/data.h"
#include "nabla/text.h"
#include "nabla/io.h"
#include "nabla/file.h"
#include "nabla/train.h"
#include "nabla/augment.h"
#include "nabla/audio.h"

#endif
