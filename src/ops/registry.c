/* ops/registry.c — the op registry: nbi_ops[NBI_OP_ID] = &nbi_op_name for every line of
 * nabla/ops.def, so that the tape (autograd/tape.c) reaches an op's definition by its number
 * and the gradient-check and back-end tests can walk every op. */
#include "autograd/autograd.h"

const nbi_op_def *const nbi_ops[NBI_OP_COUNT] = {
#define NB_OP(ID, name) [NBI_OP_##ID] = &nbi_op_##name,
#include "nabla/ops.def"
#undef NB_OP
};
