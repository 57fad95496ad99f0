/* fuzz_onnx — libFuzzer harness for ONNX files (src/io/onnx_read.c, src/io/onnx_import.c) on
 * memory buffers.
 *
 * A buffer goes through the reader and the importer, which must either refuse it cleanly (an
 * error status and no model) or give a model whose parameters the file's bytes account for
 * (every weight is four bytes of it, counted at most twice) and that runs: one sample of ones
 * through nb_model_infer gives an output of the shape the model reports, or a clean error — never a
 * crash, a read outside the buffer, a leak or an overflow UBSan reports. Models whose feature maps
 * are large (a small file may describe a wide input) are imported but not run. The seeds
 * (corpus/fuzz_onnx/) are the PyTorch fixtures of tests/data/onnx (recurrent, embedding, layer
 * norm and pooling models among them), models nabla exports, and hostile files: truncated,
 * wrong wire types, giant and negative dims, a cycle, a missing initializer, an unknown op, the
 * refused variants of an LSTM (bad_*.onnx). Run through `make fuzz`. */
#include "nabla.h"
#include "io/onnx.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_model *m = NULL;
    nb_status st = nbi_model_from_onnx(data, size, "fuzz", &m);
    if (st != NB_OK) {
        if (m || !nb_last_error()[0]) abort();
        return 0;
    }
    if (!m) abort();
    /* weights: at most twice those the file holds (shared initializers), plus 2^16 */
    if (nb_model_param_count(m) + nb_model_state_count(m) > 2 * ((int64_t)size / 4) + (1 << 16))
        abort();
    /* how much work one sample is: every node's values, times the weights (a bound on the
     * multiply-adds per value) */
    int64_t work = 0;
    for (int i = 0; i < nb_model_node_count(m); i++) {
        int64_t shape[NB_MAX_RANK], n = 1;
        nb_dtype dt;
        int r = nb_model_node_shape(m, i, &dt, shape);
        for (int d = 0; d < r; d++) n *= shape[d] < 0 ? 5 : shape[d];
        work += n;
    }
    int64_t shape[NB_MAX_RANK + 1], n = 1;
    int rank = nb_model_input_shape(m, shape + 1);
    shape[0] = 1;
    for (int d = 1; d <= rank; d++) {
        if (shape[d] < 0) shape[d] = 5;
        n *= shape[d];
    }
    if (work * (1 + nb_model_param_count(m)) <= (int64_t)1 << 26) {
        /* ones: 1.0, or token id 1 for a model taking token ids (an embedding first) */
        int64_t ignored[NB_MAX_RANK];
        nb_dtype dt = NB_F32;
        nb_model_node_shape(m, nb_model_input_node(m, 0), &dt, ignored);
        float *x = malloc(sizeof(float) * (size_t)n);
        for (int64_t k = 0; k < n; k++) {
            if (dt == NB_I32)
                ((int32_t *)x)[k] = 1;
            else
                x[k] = 1.0f;
        }
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *y = nb_model_infer(m, ctx, nb_tensor_from(ctx, dt, x, rank + 1, shape));
        if (y) { /* one sample of the reported shape (where every dimension is known) */
            int64_t out[NB_MAX_RANK], outs = 1;
            int orank = nb_model_output_shape(m, out), known = 1;
            for (int d = 0; d < orank; d++) {
                known &= out[d] >= 0;
                outs *= out[d] < 0 ? 1 : out[d];
            }
            if (y->rank != orank + 1 || y->shape[0] != 1 || (known && y->numel != outs)) abort();
        }
        nb_ctx_free(ctx);
        free(x);
    }
    nb_model_free(m);
    return 0;
}
