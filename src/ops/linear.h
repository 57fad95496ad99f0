/* ops/linear.h — the fused dense op for the layers above (nn/dense.c). */
#ifndef NABLA_OPS_LINEAR_H
#define NABLA_OPS_LINEAR_H

#include "autograd/autograd.h"

/* f(x W + b) as one op, f the elementwise op `act_op` (an NBI_OP_ id of an NB_UNARY / NB_ACT
 * line) with parameters p[0..1] (NULL: none): the same values and gradients as act_op applied
 * to nb_linear's result, in one tape node. In check mode the two ops run apart, so that a
 * NaN is named at the op that made it. */
nb_tensor *nbi_linear_act(nb_ctx *ctx, nb_tensor *x, nb_tensor *W, nb_tensor *b, int act_op,
                          const float *p);

#endif
