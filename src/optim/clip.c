/* optim/clip.c — gradient clipping over a parameter store's flat gradient buffer, as
 * torch.nn.utils.clip_grad_norm_ and clip_grad_value_ do it.
 *
 * By norm: the gradients of all parameters form one vector g; its L2 norm ‖g‖ is taken (the
 * sum of squares accumulated in double, then rounded to f32), and if
 * c = max_norm / (‖g‖ + 1e-6) is below 1 every gradient is multiplied by c, so the step keeps
 * its direction and loses only length. A NaN or infinite norm is returned as it is (and, as
 * in PyTorch, scales the gradients by NaN or 0): check the result. */
#include "kernels/backend.h"
#include "nn/nn.h"
#include "nabla/optim.h"

#include <math.h>

float nb_clip_grad_norm(nb_params *ps, float max_norm) {
    if (!ps) {
        nbi_error(NB_ERR_ARG, "nb_clip_grad_norm: the parameter store is NULL");
        return NAN;
    }
    if (!(max_norm >= 0.0f) || isinf(max_norm)) {
        nbi_error(NB_ERR_ARG, "nb_clip_grad_norm: max_norm must be finite and >= 0, got %g",
                  (double)max_norm);
        return NAN;
    }
    const nbi_backend *be = nbi_backend_default();
    float *g = nb_params_grad(ps); /* made zero on first need */
    if (!g && ps->numel) return NAN;
    const float norm = (float)sqrt(be->sum_squares(be, ps->numel, g));
    const float c = max_norm / (norm + 1e-6f);
    if (c < 1.0f || isnan(c)) be->unary(be, NBI_U_MUL_SCALAR, ps->numel, g, g, &c); /* g = g c */
    return norm;
}

nb_status nb_clip_grad_value(nb_params *ps, float clip) {
    if (!ps) return nbi_error(NB_ERR_ARG, "nb_clip_grad_value: the parameter store is NULL");
    if (!(clip >= 0.0f) || isinf(clip))
        return nbi_error(NB_ERR_ARG, "nb_clip_grad_value: clip must be finite and >= 0, got %g",
                         (double)clip);
    /* g = min(max(g, -clip), clip) in place; NaN stays NaN, as with torch.clamp */
    float *g = nb_params_grad(ps); /* made zero on first need */
    if (!g && ps->numel) return NB_ERR_NOMEM;
    const nbi_backend *be = nbi_backend_default();
    const float bounds[2] = {-clip, clip};
    be->unary(be, NBI_U_CLAMP, ps->numel, g, g, bounds);
    return NB_OK;
}
