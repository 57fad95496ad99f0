/* io/model_tokenizer.c — the tokenizer a language model reads its text with, kept on the
 * model as nb_tokenizer_json's text (like its class names: it travels with the model through
 * a save and a load) and stored in its file as the metadata "nabla.tokenizer".
 *
 * nn keeps the text without reading it (tokenizers belong to data/, a layer above nn); this
 * file, above both, checks it: a tokenizer whose ids reach beyond the rows of the model's
 * embedding is refused when set and, from a file, when loaded — an id it produces could not
 * be looked up. */
#include "io/model_file.h"
#include "nn/model_io.h"

#include <stdio.h>
#include <string.h>

/* The tokenizer's vocabulary against the model's embedding. */
static nb_status check_vocab(const nb_model *m, const nb_tokenizer *t, nb_status err,
                             const char *who) {
    const int64_t v = nb_tokenizer_vocab_size(t), rows = nbi_model_vocab(m);
    if (rows >= 0 && v > rows)
        return nbi_error(err,
                         "%s: the tokenizer has %lld tokens; the model's embedding takes ids "
                         "below %lld",
                         who, (long long)v, (long long)rows);
    return NB_OK;
}

nb_status nb_model_set_tokenizer(nb_model *m, const nb_tokenizer *t) {
    const char *fn = "nb_model_set_tokenizer";
    if (!m) return nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (!t) return nbi_model_set_tokenizer_text(m, NULL);
    nb_status s = check_vocab(m, t, NB_ERR_ARG, fn);
    if (s != NB_OK) return s;
    size_t n = nb_tokenizer_json(t, NULL, 0);
    if (!n) return NB_ERR_NOMEM;
    char *json = nbi_malloc_for(fn, n + 1);
    if (!json) return NB_ERR_NOMEM;
    nb_tokenizer_json(t, json, n + 1);
    s = nbi_model_set_tokenizer_text(m, json);
    nbi_free(json);
    return s;
}

nb_status nb_model_get_tokenizer(const nb_model *m, nb_tokenizer **out) {
    const char *fn = "nb_model_get_tokenizer";
    if (!out) return nbi_error(NB_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!m) return nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    const char *json = nbi_model_tokenizer_text(m);
    if (!json) return NB_OK;
    return nb_tokenizer_parse(json, strlen(json), "the model's tokenizer", out);
}

int nb_model_has_tokenizer(const nb_model *m) {
    return nbi_model_tokenizer_text(m) != NULL;
}

nb_status nbi_model_read_tokenizer(const nb_safetensors *st, nb_model *m) {
    const char *v = nb_safetensors_meta(st, "nabla.tokenizer");
    if (!v) return NB_OK;
    char name[512];
    snprintf(name, sizeof name, "%s [nabla.tokenizer]", st->name);
    nb_tokenizer *t = NULL;
    nb_status s = nb_tokenizer_parse(v, strlen(v), name, &t); /* a hostile text: every field */
    if (s == NB_OK) s = check_vocab(m, t, NB_ERR_FORMAT, name);
    if (s == NB_OK) s = nbi_model_set_tokenizer_text(m, v);
    nb_tokenizer_free(t);
    return s;
}
