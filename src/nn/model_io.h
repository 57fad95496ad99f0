/* nn/model_io.h — the few internals of nn/ that the spec reader and model files (src/io) use
 * besides the public API. io/ includes this header and never nn/nn.h: it builds models with
 * the public adders and reads them through nb_model_tensor_at, nb_model_spec and the other
 * public queries, so it cannot reach into the parameter store or the layer tables. */
#ifndef NBI_NN_MODEL_IO_H
#define NBI_NN_MODEL_IO_H

#include "base/base.h"
#include "nabla/nn.h"

/* A model that checks shapes and counts parameters without allocating or drawing them (a
 * spec's check before anything big is allocated). It cannot run. */
nb_model *nbi_model_new_dry(uint64_t seed);
/* Turns a dry model into one that runs: its stores allocated once, at their exact size, zero,
 * and (init) every layer initialised, in order, with the very values the same calls would
 * have drawn on a model built for real — or not, for a model whose every tensor is read from
 * a file next. On failure the model is unusable (free it). */
nb_status nbi_model_materialize(nb_model *m, bool init);
/* nb_model_spec into a growing text (out of memory is the text's status). */
void nbi_model_spec_text(const nb_model *m, nbi_text *out);

/* The tokenizer a language model reads its text with, as nb_tokenizer_json's text (the layers
 * above nn parse and write it: io/model_tokenizer.c); NULL removes it, and a model without
 * one gives NULL. */
nb_status nbi_model_set_tokenizer_text(nb_model *m, const char *json);
const char *nbi_model_tokenizer_text(const nb_model *m);
/* The ids the model's token input takes: the rows of the embedding called on its first input
 * (an i32 one), or -1 when there is none. */
int64_t nbi_model_vocab(const nb_model *m);

#endif
