/* fuzz_tokenizer — libFuzzer harness for the tokenizer JSON reader, BPE training and encoding,
 * character vocabularies, and labelled text from CSV and fortune files.
 *
 * An input that starts with '{' is a tokenizer file: if it parses, writing it again must give
 * text that parses to the same JSON, any bytes must round-trip through a byte or BPE
 * tokenizer, and decoding must refuse ids out of range. Otherwise the first byte picks what
 * the rest is: a corpus to train a small BPE tokenizer on (then round-trip that corpus and a
 * re-read copy of the tokenizer), a corpus for a character vocabulary (unknown characters map
 * to <|unk|>), or a CSV / fortune file of labelled text (fortune records must be pieces of the
 * input, in order, holding no separator line). Any broken invariant aborts. Run through
 * `make fuzz`. */
#include "nabla.h"
#include "data/textset.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char *json(const nb_tokenizer *t, size_t *len) {
    *len = nb_tokenizer_json(t, NULL, 0);
    if (!*len) abort();
    char *s = malloc(*len + 1);
    if (!s || nb_tokenizer_json(t, s, *len + 1) != *len || strlen(s) != *len) abort();
    return s;
}

/* Encode then decode must give the bytes back (byte and BPE tokenizers encode anything). */
static void roundtrip(const nb_tokenizer *t, const unsigned char *text, size_t len, int flags) {
    int32_t *ids;
    int64_t n;
    if (nb_tokenizer_encode(t, text, len, flags, &ids, &n) != NB_OK) abort();
    if (n < 0 || (size_t)n > len) abort();
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= nb_tokenizer_vocab_size(t)) abort();
    char *back;
    size_t blen;
    if (nb_tokenizer_decode(t, ids, n, &back, &blen) != NB_OK) abort();
    if (blen != len || (len && memcmp(back, text, len))) abort();
    nb_free(back);
    nb_free(ids);
}

/* Written again, the tokenizer reads back to the same text. */
static void rewrite(const nb_tokenizer *t) {
    size_t len, len2;
    char *s = json(t, &len);
    nb_tokenizer *u;
    if (nb_tokenizer_parse(s, len, "rewrite", &u) != NB_OK) abort();
    char *s2 = json(u, &len2);
    if (len2 != len || strcmp(s, s2)) abort();
    free(s2);
    free(s);
    nb_tokenizer_free(u);
}

static void fuzz_json(const unsigned char *data, size_t size) {
    nb_tokenizer *t = (nb_tokenizer *)1;
    if (nb_tokenizer_parse(data, size, "fuzz", &t) != NB_OK) {
        if (t) abort();
        return;
    }
    rewrite(t);
    nb_tokenizer_info info;
    nb_tokenizer_get_info(t, &info);
    if (info.vocab_size != info.base + info.merges + info.n_special) abort();
    if (info.kind != NB_TOK_CHAR) roundtrip(t, data, size, size & 1 ? NB_TOK_SPECIALS : 0);
    int32_t bad[2] = {0, (int32_t)info.vocab_size};
    char *text = (char *)1;
    size_t len;
    if (nb_tokenizer_decode(t, bad, 2, &text, &len) != NB_ERR_ARG || text) abort();
    nb_tokenizer_free(t);
}

static void fuzz_bpe(unsigned sel, const unsigned char *data, size_t size) {
    static const char *const sp[] = {"<|eos|>", "<|pad|>", "%"};
    nb_tokenizer_opts o = {.kind = NB_TOK_BPE,
                           .vocab_size = 259 + (sel >> 2) * 2,
                           .special = sp,
                           .n_special = 3,
                           .min_count = 1 + (sel >> 6)};
    nb_tokenizer *t;
    if (nb_tokenizer_train(data, size, &o, &t) != NB_OK) {
        if (size) abort(); /* only an empty corpus is refused */
        return;
    }
    if (nb_tokenizer_vocab_size(t) > o.vocab_size) abort();
    roundtrip(t, data, size, NB_TOK_SPECIALS);
    roundtrip(t, data, size, 0);
    rewrite(t);
    nb_tokenizer_free(t);
}

static void fuzz_chars(const unsigned char *data, size_t size) {
    nb_tokenizer_opts o = {.kind = NB_TOK_CHAR, .unknown = NB_TOK_UNK_TOKEN};
    nb_tokenizer *t;
    if (nb_tokenizer_train(data, size, &o, &t) != NB_OK) return; /* no character at all */
    int32_t *ids;
    int64_t n;
    if (nb_tokenizer_encode(t, data, size, 0, &ids, &n) != NB_OK || (size_t)n > size) abort();
    char *back;
    size_t blen;
    if (nb_tokenizer_decode(t, ids, n, &back, &blen) != NB_OK) abort();
    nb_free(back);
    nb_free(ids);
    rewrite(t);
    nb_tokenizer_free(t);
}

typedef struct records {
    const char *base, *end;
    const char *last; /* where the previous record ended */
} records;

static nb_status check_record(void *user, const char *rec, size_t len) {
    records *r = user;
    if (rec < r->last || rec + len > r->end) abort();
    for (size_t i = 0; i + 1 < len; i++)
        if (rec[i] == '\n' && rec[i + 1] == '%' && (i + 2 == len || rec[i + 2] == '\n')) abort();
    r->last = rec + len;
    return NB_OK;
}

static void fuzz_textset(unsigned sel, const unsigned char *data, size_t size) {
    static const char *const sp[] = {"<|pad|>"};
    nb_tokenizer_opts o = {.kind = NB_TOK_BYTE, .special = sp, .n_special = 1};
    nb_tokenizer *t;
    if (nb_tokenizer_train("", 0, &o, &t) != NB_OK) abort();
    nb_textset_opts so = {
        .len = 1 + (sel >> 2) % 16, .pad_id = -1, .delimiter = (sel >> 6) & 1 ? ';' : ','};
    nb_textset s;
    if (nb_textset_parse_csv(data, size, "fuzz", t, &so, &s) == NB_OK) {
        if (s.n < 1 || s.num_classes < 1) abort();
        for (int64_t i = 0; i < s.n; i++) {
            if (s.lengths[i] < 1 || s.lengths[i] > s.len) abort();
            if (s.labels[i] < 0 || s.labels[i] >= s.num_classes) abort();
        }
        nb_textset tr, va;
        if (s.n >= 2 && nb_textset_split(&s, 0.5, sel, &tr, &va) == NB_OK) {
            if (tr.n + va.n != s.n) abort();
            nb_textset_free(&tr);
            nb_textset_free(&va);
        }
        nb_textset_free(&s);
    } else if (s.ids || s.n) {
        abort();
    }
    nb_tokenizer_free(t);
    records r = {(const char *)data, (const char *)data + size, (const char *)data};
    nb_status st;
    nbi_fortune_records((const char *)data, size, check_record, &r, &st);
    if (st) abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] == '{') {
        fuzz_json(data, size);
        return 0;
    }
    unsigned sel = data[0];
    switch (sel % 3) {
    case 0:
        fuzz_bpe(sel / 3, data + 1, size - 1);
        break;
    case 1:
        fuzz_chars(data + 1, size - 1);
        break;
    default:
        fuzz_textset(sel / 3, data + 1, size - 1);
        break;
    }
    return 0;
}
