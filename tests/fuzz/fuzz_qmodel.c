/* fuzz_qmodel — libFuzzer harness for int8 model files (src/quant/qfile.c) on memory buffers.
 *
 * A buffer that parses as safetensors goes through the int8 loader, which must either refuse
 * it cleanly or give a model no larger than the file (every weight is a byte of it) that runs:
 * one sample of zeros through nb_qmodel_infer must give an output of the stored shape, or a
 * clean error (never a crash, a read outside a buffer, or an overflow UBSan reports). The
 * seeds (corpus/fuzz_qmodel/) are small int8 files written by nabla: an MLP and a CNN. Run
 * through `make fuzz`. */
#include "nabla.h"
#include "io/safetensors.h"
#include "quant/quant.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_safetensors *st = NULL;
    if (nb_safetensors_parse(data, size, "fuzz", &st) != NB_OK) return 0;
    nb_qmodel *q = NULL;
    nb_model_file info;
    nb_status s = nbi_qmodel_from_st(st, &q, &info);
    if (s != NB_OK) {
        if (q) abort();
        nb_safetensors_free(st);
        return 0;
    }
    if (nb_qmodel_param_bytes(q) > (int64_t)size + 64 * q->n_steps) abort();
    int64_t shape[NB_MAX_RANK + 1], n = 1, out[NB_MAX_RANK], outs = 1;
    int rank = nb_qmodel_input_shape(q, shape + 1);
    for (int d = 1; d <= rank; d++) n *= shape[d];
    int orank = nb_qmodel_output_shape(q, out);
    for (int d = 0; d < orank; d++) outs *= out[d];
    shape[0] = 1;
    /* a small file may still describe large feature maps (a wide input, many filters): run
     * only models whose maps and im2col rows stay small */
    int64_t work = n;
    for (int i = 0; i < q->n_steps; i++) {
        const nbi_qstep *p = &q->steps[i];
        work += nbi_qshape_size(&p->out) + (p->op == NBI_QOP_CONV ? p->g.OH * p->g.OW * p->K4 : 0);
    }
    if (work <= 1 << 22) {
        float *x = calloc((size_t)n, sizeof(float));
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *y = nb_qmodel_infer(q, ctx, nb_tensor_from(ctx, NB_F32, x, rank + 1, shape));
        if (y && y->numel != outs) abort();
        nb_ctx_free(ctx);
        free(x);
    }
    nb_model_file_free(&info);
    nb_qmodel_free(q);
    nb_safetensors_free(st);
    return 0;
}
