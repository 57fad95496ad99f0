/* io/model_file.h — what saving and loading models share: how a parameter of the store is
 * named and laid out in a file (PyTorch's nn.Sequential name and layout). */
#ifndef NBI_MODEL_FILE_H
#define NBI_MODEL_FILE_H

#include "io/safetensors.h"
#include "nn/nn.h"

typedef struct nbi_pinfo {
    char torch[NBI_LAYER_NAME_MAX + 48]; /* "2.weight" */
    const char *nabla;                   /* "dense_2.weight" */
    nb_tensor *t;                        /* the parameter */
    int64_t offset;                      /* where it starts in the store's flat buffers */
    bool transposed;                     /* stored as the 2-D transpose of ours */
    int rank;
    int64_t shape[NB_MAX_RANK];          /* its shape in the file */
} nbi_pinfo;

nb_status nbi_param_info(const nb_model *m, int i, nbi_pinfo *pi);

/* nb_model_load on a parsed file (the fuzzer's entry point). */
nb_status nbi_model_from_st(const nb_safetensors *st, nb_model **model, nb_model_file *info);

#endif
