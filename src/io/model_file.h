/* io/model_file.h — what saving and loading models share. Both see a model only through its
 * public interface: nb_model_tensor_at for every tensor's PyTorch name, layout and place,
 * nb_model_spec for the architecture, the class names, and the flat buffers of its stores. */
#ifndef NBI_MODEL_FILE_H
#define NBI_MODEL_FILE_H

#include "io/safetensors.h"
#include "nabla/nn.h"

/* The file's "nabla.tokenizer" onto the model, checked (io/model_tokenizer.c). */
nb_status nbi_model_read_tokenizer(const nb_safetensors *st, nb_model *m);

/* nb_model_load on an opened or parsed file (the fuzzer's entry point). */
nb_status nbi_model_from_st(const nb_safetensors *st, nb_model **model, nb_model_file *info);

#endif
