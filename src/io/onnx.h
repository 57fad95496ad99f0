/* io/onnx.h — ONNX files (io/onnx_export.c), shared with the tests. */
#ifndef NBI_ONNX_H
#define NBI_ONNX_H

#include "base/base.h"
#include "nabla/nn.h"

/* The ONNX ModelProto bytes of model m appended to out. */
nb_status nbi_model_onnx_bytes(const nb_model *m, nbi_text *out);

#endif
