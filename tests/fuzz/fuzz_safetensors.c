/* fuzz_safetensors — libFuzzer harness for the safetensors reader and the model files built
 * on it, on memory buffers.
 *
 * A successful parse must be self-consistent: every tensor's bytes lie inside the buffer
 * (checked by ASan when they are copied out), and writing the header again from what was read
 * (names, dtypes, shapes, metadata) followed by the same bytes parses back to the same file.
 * The buffer then goes through the model loader (nabla.spec, parameters, normalisation,
 * training state), which must either succeed or fail cleanly, never allocating a model larger
 * than the file. Run through `make fuzz`. */
#include "nabla.h"
#include "io/model_file.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void round_trip(const nb_safetensors *st, const unsigned char *data) {
    int n = st->n;
    nbi_st_entry *e = malloc(sizeof *e * (size_t)(n ? n : 1));
    const char **meta = malloc(sizeof *meta * (size_t)(2 * st->n_meta + 1));
    /* in offset order: the order the data is in */
    int *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort by begin, then end */
        for (int k = i; k > 0; k--) {
            const nbi_st_tensor *a = &st->t[order[k - 1]], *b = &st->t[order[k]];
            if (a->begin < b->begin || (a->begin == b->begin && a->end <= b->end)) break;
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        const nbi_st_tensor *t = &st->t[order[i]];
        e[i].name = t->name;
        e[i].dtype = t->dtype;
        e[i].rank = t->rank;
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    for (int i = 0; i < st->n_meta; i++) {
        meta[2 * i] = st->mkey[i];
        meta[2 * i + 1] = st->mval[i];
    }
    nbi_text json;
    nbi_text_init(&json);
    unsigned char len8[8];
    uint64_t dlen;
    if (nbi_st_header(e, n, meta, st->n_meta, "fuzz", &json, len8, &dlen) != NB_OK) {
        /* names that are empty: the reader accepts them, the writer refuses them */
        bool empty = false;
        for (int i = 0; i < n; i++) empty = empty || !st->t[i].name[0];
        if (!empty) abort();
    } else {
        if (dlen != st->data_len) abort();
        size_t total = 8 + json.len + (size_t)dlen;
        unsigned char *buf = malloc(total ? total : 1);
        memcpy(buf, len8, 8);
        memcpy(buf + 8, json.buf, json.len);
        if (dlen) memcpy(buf + 8 + json.len, st->data, (size_t)dlen);
        nb_safetensors *back;
        if (nb_safetensors_parse(buf, total, "round trip", &back) != NB_OK) abort();
        if (back->n != n || back->n_meta != st->n_meta) abort();
        for (int i = 0; i < n; i++) {
            const nbi_st_tensor *a = &st->t[order[i]], *b = &back->t[i];
            if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->rank != b->rank ||
                memcmp(a->shape, b->shape, sizeof a->shape) || a->end - a->begin != b->end - b->begin)
                abort();
            if (a->end > a->begin &&
                memcmp(st->data + a->begin, back->data + b->begin, (size_t)(a->end - a->begin)))
                abort();
        }
        for (int i = 0; i < st->n_meta; i++)
            if (strcmp(nb_safetensors_meta(back, st->mkey[i]), st->mval[i])) abort();
        nb_safetensors_free(back);
        free(buf);
    }
    nbi_text_free(&json);
    free(order);
    free(meta);
    free(e);
    (void)data;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_safetensors *st = NULL;
    if (nb_safetensors_parse(data, size, "fuzz", &st) != NB_OK) {
        if (st) abort();
        return 0;
    }
    for (int i = 0; i < nb_safetensors_count(st); i++) {
        nb_array a;
        nb_status s = nb_safetensors_get(st, i, &a);
        if (s == NB_OK) {
            if (a.numel && !a.data) abort();
            nb_array_free(&a);
        } else if (s != NB_ERR_UNSUPPORTED) {
            abort();
        }
    }
    round_trip(st, data);
    nb_model *m = NULL;
    nb_model_file info;
    if (nbi_model_from_st(st, &m, &info) == NB_OK) {
        if (nb_model_param_count(m) > (int64_t)size) abort();
        size_t n = nb_model_spec(m, NULL, 0);
        if (!n) abort();
        nb_model_file_free(&info);
        nb_model_free(m);
    } else if (m) {
        abort();
    }
    nb_safetensors_free(st);
    return 0;
}
