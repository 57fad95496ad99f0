/* tests/support/onnx_ort.h — an exported model checked by onnx.checker (/usr/bin/python3 with
 * python3-onnx: tests/scripts/onnx_check.py) and run by ONNX Runtime (onnxruntime-node in
 * tests/onnx/node_modules: tests/onnx/run_ort.js) on the inputs nabla runs, every output
 * within 1e-5 of nabla's. Each tool skips with a note when absent. Run from the repository
 * root. */
#ifndef NBT_ONNX_ORT_H
#define NBT_ONNX_ORT_H

#include "nbtest.h"

/* Exports m to `file`, checks it and runs it on a random batch of 3 (f32 inputs N(0, 1.5²),
 * i32 inputs token ids below the embedding's vocabulary, a dimension known only at run time
 * 5); returns the largest |nabla − ORT| over every output, or -1 when ORT was skipped. */
double nbt_onnx_check(nb_model *m, const char *file, const char *name);
/* The same with kinds[i] saying what input i holds: 'x' as above, 'l' an i32 length per
 * sample in 1 .. 5, 'm' a mask [T] of the input's dtype, 1 at each sample's first 1 .. T
 * positions and 0 after them. NULL: every input 'x'. */
double nbt_onnx_check_inputs(nb_model *m, const char *file, const char *name, const char *kinds);

/* Imports every prefix buf[0..n) of an ONNX file's bytes, n < len: each must be refused
 * cleanly or give a model (checked); returns how many were refused. */
int nbt_onnx_prefixes_refused(const void *buf, size_t len);

#endif
