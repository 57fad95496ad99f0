/* tests/test_tokenizer.c — tokenizers: UTF-8 and the word splitter, byte and character
 * vocabularies (with their unknown-character policies), byte-level BPE against an independent
 * Python implementation (tests/ref/gen_text.py), exact round trips of any bytes, special
 * tokens, the JSON format (round trip, a safetensors metadata entry, every validation error),
 * ids out of range, and allocation failures on every path. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "fixture.h"
#include "data/text.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static const char *tmp(const char *name) {
    static char buf[4][160];
    static int k;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla-tok-XXXXXX");
        if (!mkdtemp(tmpdir)) abort();
    }
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static const char *const eos_pad[] = {"<|eos|>", "<|pad|>"};

static nb_tokenizer *train(nb_tok_kind kind, const char *text, size_t len, int64_t vocab,
                           const char *const *special, int n_special) {
    nb_tokenizer_opts o = {
        .kind = kind, .vocab_size = vocab, .special = special, .n_special = n_special};
    nb_tokenizer *t = NULL;
    CHECK_OK(nb_tokenizer_train(text, len, &o, &t));
    return t;
}

/* Encodes and decodes; checks the bytes come back. Returns the number of ids. */
static int64_t roundtrip(const nb_tokenizer *t, const void *text, size_t len, int flags) {
    int32_t *ids = NULL;
    int64_t n = -1;
    CHECK_OK(nb_tokenizer_encode(t, text, len, flags, &ids, &n));
    char *back = NULL;
    size_t blen = 0;
    CHECK_OK(nb_tokenizer_decode(t, ids, n, &back, &blen));
    CHECK_MSG(blen == len && (len == 0 || !memcmp(back, text, len)),
              "round trip of %zu bytes gave %zu bytes back", len, blen);
    CHECK(back && back[blen] == 0);
    nb_free(ids);
    nb_free(back);
    return n;
}

static bool contains(const char *s, const char *needle) {
    return strstr(s, needle) != NULL;
}

/* ---- UTF-8 and words -------------------------------------------------------------------- */

static void test_utf8(void) {
    uint32_t cps[] = {0, 0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        unsigned char b[4];
        size_t n = nbi_utf8_encode(cps[i], b);
        uint32_t back = 0;
        CHECK(nbi_utf8_decode(b, n, &back) == n && back == cps[i]);
    }
    const char *bad[] = {"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82",
                         "\x80",     "\xFF",         "\xE0\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t cp;
        CHECK_MSG(nbi_utf8_decode((const unsigned char *)bad[i], strlen(bad[i]), &cp) == 0,
                  "invalid sequence %zu accepted", i);
    }
}

/* The word lengths of s, joined as "a|b|c" for readable comparisons. */
static void split(const char *s, char *out, size_t cap) {
    size_t n = strlen(s), k = 0;
    for (size_t i = 0; i < n;) {
        size_t w = nbi_word_len((const unsigned char *)s, n, i);
        k += (size_t)snprintf(out + k, cap - k, "%s%.*s", i ? "|" : "", (int)w, s + i);
        i += w;
    }
}

static void test_word_split(void) {
    char got[256];
    struct {
        const char *in, *want;
    } cases[] = {
        {"Hello world", "Hello| world"},
        {"a  b", "a| | b"},
        {"x\n\ny", "x|\n|\n|y"},
        {"it's they'll", "it|'s| they|'ll"},
        {"abc123 !!x", "abc|123| !!|x"},
        {"end   ", "end|   "},
        {" \xc3\xbc"
         "ber caf\xc3\xa9",
         " \xc3\xbc"
         "ber| caf\xc3\xa9"},
        {"\t\tword", "\t|\t|word"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        split(cases[i].in, got, sizeof got);
        CHECK_MSG(!strcmp(got, cases[i].want), "split '%s': got '%s', want '%s'", cases[i].in, got,
                  cases[i].want);
    }
    /* The Python reference's splitter (a regular expression) on a tricky sample. */
    nbt_fixture *fx = nbt_fixture_load("tests/ref/text.txt");
    nb_corpus sample;
    CHECK_PTR(fx);
    CHECK_OK(nb_corpus_read("tests/data/text/bpe_sample.txt", &sample));
    if (!fx || !sample.data) return;
    const nbt_array *w = nbt_fixture_get(fx, "words");
    CHECK_PTR(w);
    size_t i = 0;
    int64_t k = 0;
    for (; w && i < sample.len; k++) {
        size_t len = nbi_word_len((const unsigned char *)sample.data, sample.len, i);
        if (k >= w->numel || (float)len != w->data[k]) {
            CHECK_MSG(0, "word %lld at byte %zu: length %zu, reference %g", (long long)k, i, len,
                      k < w->numel ? (double)w->data[k] : -1.0);
            break;
        }
        i += len;
    }
    CHECK(w && k == w->numel);
    nb_corpus_free(&sample);
    nbt_fixture_free(fx);
}

/* ---- byte and character vocabularies ---------------------------------------------------- */

static void test_byte_tokenizer(void) {
    nb_tokenizer *t = train(NB_TOK_BYTE, "", 0, 0, eos_pad, 2);
    if (!t) return;
    CHECK(nb_tokenizer_vocab_size(t) == 258);
    CHECK(nb_tokenizer_special_id(t, "<|eos|>") == 256);
    CHECK(nb_tokenizer_special_id(t, "<|pad|>") == 257);
    CHECK(nb_tokenizer_special_id(t, "<|none|>") == -1);
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    CHECK(roundtrip(t, all, 256, 0) == 256);
    /* Special tokens: recognised only when asked. */
    const char *s = "a<|eos|>b";
    int32_t *ids;
    int64_t n;
    CHECK_OK(nb_tokenizer_encode(t, s, strlen(s), NB_TOK_SPECIALS, &ids, &n));
    CHECK(n == 3 && ids[0] == 'a' && ids[1] == 256 && ids[2] == 'b');
    nb_free(ids);
    CHECK_OK(nb_tokenizer_encode(t, s, strlen(s), 0, &ids, &n));
    CHECK(n == 9 && ids[1] == '<');
    nb_free(ids);
    CHECK(roundtrip(t, s, strlen(s), NB_TOK_SPECIALS) == 3);
    char buf[16];
    size_t len;
    CHECK_OK(nb_tokenizer_token(t, 257, buf, sizeof buf, &len));
    CHECK(len == 7 && !memcmp(buf, "<|pad|>", 7));
    CHECK_OK(nb_tokenizer_token(t, 257, NULL, 0, &len)); /* the length alone */
    CHECK(len == 7);
    nb_tokenizer_info info;
    nb_tokenizer_get_info(t, &info);
    CHECK(info.kind == NB_TOK_BYTE && info.base == 256 && info.merges == 0 && info.n_special == 2);
    nb_tokenizer_free(t);
}

static void test_char_tokenizer(void) {
    const char *corpus = "h\xc3\xa9llo hello w\xc3\xb6rld\n"; /* héllo hello wörld */
    nb_tokenizer *t = train(NB_TOK_CHAR, corpus, strlen(corpus), 0, NULL, 0);
    if (!t) return;
    CHECK(nb_tokenizer_vocab_size(t) == 11); /* \n space d e h l o r w é ö */
    int32_t *ids;
    int64_t n;
    CHECK_OK(nb_tokenizer_encode(t, "hello", 5, 0, &ids, &n));
    CHECK(n == 5 && ids[0] == 4 && ids[2] == 5); /* sorted code points: h is 4, l is 5 */
    nb_free(ids);
    CHECK(roundtrip(t, corpus, strlen(corpus), 0) == 18);
    /* A prompt with a character outside the vocabulary, and one with bytes that are not
     * UTF-8: clear errors naming what and where. */
    CHECK(nb_tokenizer_encode(t, "help", 4, 0, &ids, &n) == NB_ERR_ARG);
    CHECK_MSG(contains(nb_last_error(), "U+0070") && contains(nb_last_error(), "byte 3") &&
                  contains(nb_last_error(), "not in the vocabulary"),
              "message: %s", nb_last_error());
    CHECK(ids == NULL && n == 0);
    CHECK(nb_tokenizer_encode(t, "he\xff", 3, 0, &ids, &n) == NB_ERR_ARG);
    CHECK_MSG(contains(nb_last_error(), "0xff") && contains(nb_last_error(), "not UTF-8"),
              "message: %s", nb_last_error());
    nb_tokenizer_free(t);

    /* The other policy: unknown characters (and stray bytes) become <|unk|>. */
    nb_tokenizer_opts o = {.kind = NB_TOK_CHAR, .unknown = NB_TOK_UNK_TOKEN};
    CHECK_OK(nb_tokenizer_train(corpus, strlen(corpus), &o, &t));
    if (!t) return;
    int32_t unk = nb_tokenizer_special_id(t, "<|unk|>");
    CHECK(unk == 11 && nb_tokenizer_vocab_size(t) == 12);
    CHECK_OK(nb_tokenizer_encode(t, "help\xff", 5, 0, &ids, &n));
    CHECK(n == 5 && ids[3] == unk && ids[4] == unk);
    nb_free(ids);
    nb_tokenizer_free(t);

    /* Building: text that is not UTF-8, an empty corpus, options that do not apply. */
    o.unknown = NB_TOK_UNK_ERROR;
    CHECK(nb_tokenizer_train("ab\xc3", 3, &o, &t) == NB_ERR_FORMAT && !t);
    CHECK(contains(nb_last_error(), "not UTF-8"));
    CHECK(nb_tokenizer_train("", 0, &o, &t) == NB_ERR_ARG && !t);
    CHECK(contains(nb_last_error(), "empty"));
    o.vocab_size = 100;
    CHECK(nb_tokenizer_train("ab", 2, &o, &t) == NB_ERR_ARG);
    nb_tokenizer_opts b = {.kind = NB_TOK_BYTE, .unknown = NB_TOK_UNK_TOKEN};
    CHECK(nb_tokenizer_train("ab", 2, &b, &t) == NB_ERR_ARG);
}

/* ---- BPE ------------------------------------------------------------------------------------ */

/* The classic example: aaabdaaabac. */
static void test_bpe_classic(void) {
    const char *s = "aaabdaaabac";
    nb_tokenizer *t = train(NB_TOK_BPE, s, strlen(s), 256 + 10, NULL, 0);
    if (!t) return;
    nb_tokenizer_info info;
    nb_tokenizer_get_info(t, &info);
    /* aa (4 times) -> 256; then ab and 256 a tie at 2: the smaller pair (a, b) -> 257; then
     * (256, 257) -> 258; every other pair occurs once, below min_count 2. */
    CHECK(info.merges == 3 && info.vocab_size == 259);
    CHECK(t->merges[0] == 'a' && t->merges[1] == 'a');
    CHECK(t->merges[2] == 'a' && t->merges[3] == 'b');
    CHECK(t->merges[4] == 256 && t->merges[5] == 257);
    int32_t *ids;
    int64_t n;
    CHECK_OK(nb_tokenizer_encode(t, s, strlen(s), 0, &ids, &n));
    CHECK(n == 5 && ids[0] == 258 && ids[1] == 'd' && ids[2] == 258 && ids[3] == 'a' &&
          ids[4] == 'c');
    nb_free(ids);
    CHECK(info.corpus_bytes == 11 && info.corpus_tokens == 5);
    char tok[8];
    size_t len;
    CHECK_OK(nb_tokenizer_token(t, 258, tok, sizeof tok, &len));
    CHECK(len == 4 && !memcmp(tok, "aaab", 4));
    nb_tokenizer_free(t);
}

static void test_bpe_matches_reference(void) {
    nbt_fixture *fx = nbt_fixture_load("tests/ref/text.txt");
    nb_corpus c, sample;
    CHECK_PTR(fx);
    CHECK_OK(nb_corpus_read("tests/data/text/bpe_corpus.txt", &c));
    CHECK_OK(nb_corpus_read("tests/data/text/bpe_sample.txt", &sample));
    const nbt_array *m = fx ? nbt_fixture_get(fx, "merges") : NULL;
    const nbt_array *want = fx ? nbt_fixture_get(fx, "ids") : NULL;
    nb_tokenizer *t =
        m && c.data ? train(NB_TOK_BPE, c.data, c.len, 256 + m->shape[0], NULL, 0) : NULL;
    if (t && want && sample.data) {
        CHECK(t->n_merges == m->shape[0]);
        int64_t bad = -1;
        for (int64_t k = 0; k < t->n_merges && k < m->shape[0] && bad < 0; k++)
            if (t->merges[2 * k] != (int32_t)m->data[2 * k] ||
                t->merges[2 * k + 1] != (int32_t)m->data[2 * k + 1])
                bad = k;
        CHECK_MSG(bad < 0, "merge %lld: (%d, %d), reference (%g, %g)", (long long)bad,
                  t->merges[2 * bad], t->merges[2 * bad + 1], (double)m->data[2 * bad],
                  (double)m->data[2 * bad + 1]);
        int32_t *ids;
        int64_t n;
        CHECK_OK(nb_tokenizer_encode(t, sample.data, sample.len, 0, &ids, &n));
        CHECK_MSG(n == want->numel, "%lld ids, reference %lld", (long long)n,
                  (long long)want->numel);
        for (int64_t i = 0; i < n && i < want->numel; i++)
            if (ids[i] != (int32_t)want->data[i]) {
                CHECK_MSG(0, "id %lld: %d, reference %g", (long long)i, ids[i],
                          (double)want->data[i]);
                break;
            }
        nb_free(ids);
        roundtrip(t, sample.data, sample.len, 0);
        /* Encoding the training text gives the count training recorded. */
        nb_tokenizer_info info;
        nb_tokenizer_get_info(t, &info);
        CHECK(info.corpus_bytes == (int64_t)c.len);
        CHECK(roundtrip(t, c.data, c.len, NB_TOK_SPECIALS) == info.corpus_tokens);
    }
    nb_tokenizer_free(t);
    nb_corpus_free(&c);
    nb_corpus_free(&sample);
    nbt_fixture_free(fx);
}

static void test_bpe_roundtrip_any_bytes(void) {
    nb_corpus c;
    CHECK_OK(nb_corpus_read("tests/data/text/bpe_corpus.txt", &c));
    nb_tokenizer *t = c.data ? train(NB_TOK_BPE, c.data, c.len, 600, eos_pad, 2) : NULL;
    if (!t) return;
    nb_rng rng;
    nb_rng_seed(&rng, 99);
    unsigned char buf[5000];
    for (int rep = 0; rep < 40; rep++) {
        size_t len = (size_t)nb_rng_below(&rng, sizeof buf + 1);
        for (size_t i = 0; i < len; i++) {
            /* Mostly text from the corpus, sometimes any byte at all. */
            buf[i] = nb_rng_below(&rng, 4) ? (unsigned char)c.data[nb_rng_below(&rng, c.len)]
                                           : (unsigned char)nb_rng_below(&rng, 256);
        }
        roundtrip(t, buf, len, rep % 2 ? NB_TOK_SPECIALS : 0);
    }
    CHECK(roundtrip(t, "", 0, 0) == 0);
    char *text;
    size_t len;
    CHECK_OK(nb_tokenizer_decode(t, NULL, 0, &text, &len));
    CHECK(text && len == 0 && text[0] == 0);
    nb_free(text);
    nb_tokenizer_free(t);
    nb_corpus_free(&c);
}

/* A word of 300 000 identical bytes: merges stop at NB_TOK_MAX_LEN bytes, and encoding is
 * O(n log n) (a quadratic encoder would not finish). */
static void test_bpe_long_word(void) {
    size_t n = 300000;
    char *s = malloc(n);
    memset(s, 'a', n);
    nb_tokenizer *t = train(NB_TOK_BPE, s, 5000, 256 + 40, NULL, 0);
    if (t) {
        for (int64_t id = 256; id < 256 + t->n_merges; id++) {
            size_t len;
            CHECK_OK(nb_tokenizer_token(t, (int32_t)id, NULL, 0, &len));
            CHECK_MSG(len <= NB_TOK_MAX_LEN, "token %lld has %zu bytes", (long long)id, len);
        }
        CHECK(t->n_merges >= 8); /* a, aa, ..., 256 a's */
        int64_t k = roundtrip(t, s, n, 0);
        CHECK_MSG(k <= (int64_t)n / 128, "%lld tokens for %zu bytes", (long long)k, n);
    }
    nb_tokenizer_free(t);
    free(s);
}

static void test_bpe_specials(void) {
    const char *s = "the cat<|eos|>the dog<|eos|>the cat<|eos|>the bird<|eos|>";
    nb_tokenizer *t = train(NB_TOK_BPE, s, strlen(s), 300, eos_pad, 2);
    if (!t) return;
    int32_t eos = nb_tokenizer_special_id(t, "<|eos|>");
    CHECK(eos == nbi_tok_first_special(t) && nb_tokenizer_vocab_size(t) == eos + 2);
    /* No merge holds a piece of a special token. */
    for (int64_t id = 256; id < eos; id++) {
        char tok[NB_TOK_MAX_LEN];
        size_t len;
        CHECK_OK(nb_tokenizer_token(t, (int32_t)id, tok, sizeof tok, &len));
        CHECK(!memchr(tok, '|', len) && !memchr(tok, '<', len));
    }
    int32_t *ids;
    int64_t n;
    CHECK_OK(nb_tokenizer_encode(t, s, strlen(s), NB_TOK_SPECIALS, &ids, &n));
    int eos_count = 0;
    for (int64_t i = 0; i < n; i++) eos_count += ids[i] == eos;
    CHECK(eos_count == 4 && ids[n - 1] == eos);
    nb_free(ids);
    roundtrip(t, s, strlen(s), NB_TOK_SPECIALS);
    roundtrip(t, s, strlen(s), 0);
    nb_tokenizer_free(t);
    /* Bad special tokens are argument errors, found before training. */
    const char *dup[] = {"<|x|>", "<|x|>"}, *empty[] = {""}, *notutf8[] = {"\xff"};
    nb_tokenizer_opts o = {.kind = NB_TOK_BPE, .vocab_size = 300, .special = dup, .n_special = 2};
    CHECK(nb_tokenizer_train(s, strlen(s), &o, &t) == NB_ERR_ARG && !t);
    CHECK(contains(nb_last_error(), "twice"));
    o.special = empty, o.n_special = 1;
    CHECK(nb_tokenizer_train(s, strlen(s), &o, &t) == NB_ERR_ARG);
    o.special = notutf8;
    CHECK(nb_tokenizer_train(s, strlen(s), &o, &t) == NB_ERR_ARG);
    o.special = NULL, o.n_special = 0, o.vocab_size = 200;
    CHECK(nb_tokenizer_train(s, strlen(s), &o, &t) == NB_ERR_ARG); /* below 256 */
    CHECK(contains(nb_last_error(), "256 bytes"));
    o.vocab_size = 300;
    CHECK(nb_tokenizer_train("", 0, &o, &t) == NB_ERR_ARG); /* an empty corpus */
    CHECK(contains(nb_last_error(), "empty"));
}

/* ---- ids out of range ------------------------------------------------------------------- */

static void test_ids_out_of_range(void) {
    nb_tokenizer *t = train(NB_TOK_BYTE, "", 0, 0, eos_pad, 2);
    if (!t) return;
    int32_t ids[4] = {'a', 'b', 258, 'c'};
    char *text = (char *)1;
    size_t len = 1;
    CHECK(nb_tokenizer_decode(t, ids, 4, &text, &len) == NB_ERR_ARG);
    CHECK(text == NULL && len == 0);
    CHECK_MSG(contains(nb_last_error(), "258") && contains(nb_last_error(), "position 2") &&
                  contains(nb_last_error(), "258 tokens"),
              "message: %s", nb_last_error());
    ids[2] = -1;
    CHECK(nb_tokenizer_decode(t, ids, 4, &text, &len) == NB_ERR_ARG);
    CHECK(nb_tokenizer_token(t, 300, NULL, 0, &len) == NB_ERR_ARG);
    CHECK(nb_tokenizer_decode(t, ids, -1, &text, &len) == NB_ERR_ARG);
    nb_tokenizer_free(t);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static char *json_of(const nb_tokenizer *t, size_t *len) {
    *len = nb_tokenizer_json(t, NULL, 0);
    CHECK(*len > 0);
    char *s = malloc(*len + 1);
    CHECK(nb_tokenizer_json(t, s, *len + 1) == *len);
    CHECK(strlen(s) == *len); /* no zero bytes inside: a metadata value can hold it */
    return s;
}

static void check_same_encoding(const nb_tokenizer *a, const nb_tokenizer *b, const char *s) {
    int32_t *x, *y;
    int64_t nx, ny;
    CHECK_OK(nb_tokenizer_encode(a, s, strlen(s), NB_TOK_SPECIALS, &x, &nx));
    CHECK_OK(nb_tokenizer_encode(b, s, strlen(s), NB_TOK_SPECIALS, &y, &ny));
    CHECK(nx == ny && x && y && !memcmp(x, y, (size_t)nx * sizeof *x));
    nb_free(x);
    nb_free(y);
}

static void test_json_roundtrip(void) {
    nb_corpus c;
    CHECK_OK(nb_corpus_read("tests/data/text/bpe_corpus.txt", &c));
    if (!c.data) return;
    /* The corpus has stray bytes that are not UTF-8: they become <|unk|>. */
    nb_tokenizer_opts co = {
        .kind = NB_TOK_CHAR, .special = eos_pad, .n_special = 1, .unknown = NB_TOK_UNK_TOKEN};
    nb_tokenizer *ts[3] = {train(NB_TOK_BYTE, "", 0, 0, eos_pad, 2), NULL,
                           train(NB_TOK_BPE, c.data, c.len, 400, eos_pad, 2)};
    CHECK_OK(nb_tokenizer_train(c.data, c.len, &co, &ts[1]));
    const char *probe = "the state of the world<|eos|> today's 12345 \xc3\xbc"
                        "ber";
    for (int k = 0; k < 3; k++) {
        if (!ts[k]) continue;
        size_t len, len2;
        char *s = json_of(ts[k], &len);
        CHECK(!strncmp(s, "{\"format\": \"nabla-tokenizer\", \"version\": 1, ", 44));
        nb_tokenizer *u = NULL;
        CHECK_OK(nb_tokenizer_parse(s, len, "json", &u));
        if (u) {
            char *s2 = json_of(u, &len2);
            CHECK(len2 == len && !strcmp(s, s2)); /* byte for byte */
            free(s2);
            nb_tokenizer_info a, b;
            nb_tokenizer_get_info(ts[k], &a);
            nb_tokenizer_get_info(u, &b);
            CHECK(!memcmp(&a, &b, sizeof a));
            check_same_encoding(ts[k], u, probe);
            nb_tokenizer_free(u);
        }
        /* Through a file, written atomically. */
        CHECK_OK(nb_tokenizer_save(ts[k], tmp("tok.json")));
        CHECK_OK(nb_tokenizer_load(tmp("tok.json"), &u));
        if (u) check_same_encoding(ts[k], u, probe);
        nb_tokenizer_free(u);
        free(s);
    }
    /* The blob in a safetensors metadata entry, and back. */
    size_t len;
    char *blob = ts[2] ? json_of(ts[2], &len) : NULL;
    float w[3] = {1, 2, 3};
    nb_array a = {.type = NB_ELEM_F32, .rank = 1, .shape = {3}, .numel = 3, .data = w};
    const char *names[] = {"w"}, *meta[] = {"tokenizer", blob};
    if (blob) {
        CHECK_OK(nb_safetensors_write(tmp("m.safetensors"), 1, names, &a, 1, meta));
        nb_safetensors *st = NULL;
        CHECK_OK(nb_safetensors_read(tmp("m.safetensors"), &st));
        const char *v = st ? nb_safetensors_meta(st, "tokenizer") : NULL;
        CHECK(v && !strcmp(v, blob));
        nb_tokenizer *u = NULL;
        if (v) CHECK_OK(nb_tokenizer_parse(v, strlen(v), "metadata", &u));
        if (u) check_same_encoding(ts[2], u, probe);
        nb_tokenizer_free(u);
        nb_safetensors_free(st);
    }
    free(blob);
    for (int k = 0; k < 3; k++) nb_tokenizer_free(ts[k]);
    nb_corpus_free(&c);
}

static void test_json_errors(void) {
#define HEAD "{\"format\": \"nabla-tokenizer\", \"version\": 1, "
    struct {
        const char *text;
        nb_status st;
        const char *msg;
    } cases[] = {
        {"", NB_ERR_FORMAT, "expected '{'"},
        {"[]", NB_ERR_FORMAT, "expected '{'"},
        {"{\"version\": 1}", NB_ERR_FORMAT, "not a nabla tokenizer"},
        {"{\"format\": \"hf\", \"version\": 1}", NB_ERR_FORMAT, "\"hf\""},
        {"{\"format\": \"nabla-tokenizer\", \"version\": 2, \"kind\": \"bpe\"}", NB_ERR_UNSUPPORTED,
         "version 2"},
        {HEAD "\"kind\": \"byte\", \"special\": [], \"foo\": 1}", NB_ERR_FORMAT,
         "unknown key \"foo\""},
        {HEAD "\"kind\": \"byte\", \"kind\": \"byte\", \"special\": []}", NB_ERR_FORMAT,
         "appears twice"},
        {HEAD "\"kind\": \"word\", \"special\": []}", NB_ERR_FORMAT, "unknown kind \"word\""},
        {HEAD "\"special\": []}", NB_ERR_FORMAT, "\"kind\" is missing"},
        {HEAD "\"kind\": \"bpe\", \"pretokenizer\": \"words\", \"special\": []}", NB_ERR_FORMAT,
         "needs the key \"merges\""},
        {HEAD "\"kind\": \"bpe\", \"pretokenizer\": \"spaces\", \"special\": [], \"merges\": []}",
         NB_ERR_FORMAT, "unknown pretokenizer"},
        {HEAD "\"kind\": \"byte\", \"special\": [], \"merges\": []}", NB_ERR_FORMAT,
         "has no key \"merges\""},
        {HEAD "\"kind\": \"bpe\", \"pretokenizer\": \"words\", \"special\": [], \"merges\": "
              "[[97, 98], [300, 1]]}",
         NB_ERR_FORMAT, "made before it"},
        {HEAD "\"kind\": \"bpe\", \"pretokenizer\": \"words\", \"special\": [], \"merges\": "
              "[[97, 98], [97, 98]]}",
         NB_ERR_FORMAT, "repeats merge 0"},
        {HEAD "\"kind\": \"bpe\", \"pretokenizer\": \"words\", \"special\": [], \"merges\": "
              "[[97, 97], [256, 256], [257, 257], [258, 258], [259, 259], [260, 260], [261, 261], "
              "[262, 262], [263, 263]]}",
         NB_ERR_FORMAT, "512 bytes"},
        {HEAD "\"kind\": \"bpe\", \"pretokenizer\": \"words\", \"special\": [], \"merges\": "
              "[[97, 98, 99]]}",
         NB_ERR_FORMAT, "two ids"},
        {HEAD "\"kind\": \"bpe\", \"pretokenizer\": \"words\", \"special\": [], \"merges\": "
              "[[97, -1]]}",
         NB_ERR_FORMAT, "non-negative integer"},
        {HEAD "\"kind\": \"char\", \"unknown\": \"error\", \"special\": [], \"chars\": [98, 97]}",
         NB_ERR_FORMAT, "increasing order"},
        {HEAD "\"kind\": \"char\", \"unknown\": \"error\", \"special\": [], \"chars\": [55296]}",
         NB_ERR_FORMAT, "not a Unicode scalar"},
        {HEAD "\"kind\": \"char\", \"unknown\": \"error\", \"special\": [], \"chars\": "
              "[1114112]}",
         NB_ERR_FORMAT, "out of range"},
        {HEAD "\"kind\": \"char\", \"unknown\": \"error\", \"special\": [], \"chars\": []}",
         NB_ERR_FORMAT, "at least one character"},
        {HEAD "\"kind\": \"char\", \"unknown\": \"token\", \"special\": [], \"chars\": [97]}",
         NB_ERR_FORMAT, "not among the special tokens"},
        {HEAD "\"kind\": \"char\", \"unknown\": \"maybe\", \"special\": [], \"chars\": [97]}",
         NB_ERR_FORMAT, "unknown unknown"},
        {HEAD "\"kind\": \"byte\", \"special\": [\"\"]}", NB_ERR_FORMAT, "0 bytes"},
        {HEAD "\"kind\": \"byte\", \"special\": [\"<|a|>\", \"<|a|>\"]}", NB_ERR_FORMAT,
         "listed twice"},
        {HEAD "\"kind\": \"byte\", \"special\": [\"a\\u0000\"]}", NB_ERR_FORMAT, "\\u0000"},
        {HEAD "\"kind\": \"byte\", \"special\": []}x", NB_ERR_FORMAT, "unexpected text"},
        {HEAD "\"kind\": \"byte\", \"special\": [],}", NB_ERR_FORMAT, "a key"},
        {HEAD "\"kind\": \"byte\", \"special\": [], \"corpus_bytes\": 1.5}", NB_ERR_FORMAT,
         "fraction"},
        {HEAD "\"kind\": \"byte\", \"special\": [", NB_ERR_FORMAT, "a special token"},
        /* the end of a tokenizer file is not "the JSON header" of a safetensors file */
        {HEAD "\"kind\": \"byte\", \"special\": [", NB_ERR_FORMAT, "but the JSON text ends"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_tokenizer *t = (nb_tokenizer *)1;
        nb_status st = nb_tokenizer_parse(cases[i].text, strlen(cases[i].text), "bad.json", &t);
        CHECK_MSG(st == cases[i].st && t == NULL, "case %zu: %s, expected %s", i, nb_status_str(st),
                  nb_status_str(cases[i].st));
        CHECK_MSG(contains(nb_last_error(), cases[i].msg) && contains(nb_last_error(), "bad.json"),
                  "case %zu: message '%s' lacks '%s'", i, nb_last_error(), cases[i].msg);
    }
    /* A file that is not there. */
    nb_tokenizer *t;
    CHECK(nb_tokenizer_load(tmp("missing.json"), &t) == NB_ERR_IO && !t);
#undef HEAD
}

/* ---- allocation failures ------------------------------------------------------------------ */

static atomic_long calls, fail_at;

static void *fail_alloc(size_t size, size_t align, void *user) {
    (void)user;
    long k = atomic_fetch_add(&calls, 1) + 1;
    if (atomic_load(&fail_at) && k == atomic_load(&fail_at)) return NULL;
    void *p = NULL;
    return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1)
               ? NULL
               : p;
}

static void fail_free(void *p, void *user) {
    (void)user;
    free(p);
}

/* Runs fn once to count its allocations, then again with the k-th failing for every k: each
 * run must succeed (an allocation that only saves time may fail quietly) or give
 * NB_ERR_NOMEM, and ASan's leak check proves that each path freed what it took. */
static void each_failure(const char *what, nb_status (*fn)(void *), void *arg) {
    nb_allocator a = {fail_alloc, fail_free, NULL};
    atomic_store(&calls, 0);
    atomic_store(&fail_at, 0);
    nb_set_allocator(&a);
    nb_status st = fn(arg);
    nb_set_allocator(NULL);
    long total = atomic_load(&calls);
    CHECK_MSG(st == NB_OK && total > 0, "%s: %s", what, nb_last_error());
    int failed = 0;
    for (long k = 1; k <= total; k++) {
        atomic_store(&calls, 0);
        atomic_store(&fail_at, k);
        nb_set_allocator(&a);
        st = fn(arg);
        nb_set_allocator(NULL);
        failed += st == NB_ERR_NOMEM;
        if (st != NB_OK && st != NB_ERR_NOMEM) {
            CHECK_MSG(0, "%s: allocation %ld failing gave %s: %s", what, k, nb_status_str(st),
                      nb_last_error());
            return;
        }
    }
    CHECK_MSG(failed > total / 2, "%s: only %d of %ld failed allocations were reported", what,
              failed, total);
}

static const char *fail_text = "the cat sat on the mat<|eos|> the cat's hat, the bat 123 \xc3\xbc"
                               "ber the cat sat<|eos|> a mat a mat a mat";

static nb_status do_train(void *arg) {
    nb_tokenizer_opts o = {.kind = *(nb_tok_kind *)arg,
                           .special = eos_pad,
                           .n_special = 2,
                           .vocab_size = *(nb_tok_kind *)arg == NB_TOK_BPE ? 280 : 0};
    nb_tokenizer *t;
    nb_status st = nb_tokenizer_train(fail_text, strlen(fail_text), &o, &t);
    if (st) return st;
    char *json = NULL, *back = NULL;
    int32_t *ids = NULL;
    int64_t n;
    size_t len = nb_tokenizer_json(t, NULL, 0), blen;
    nb_tokenizer *u = NULL;
    if (!len) st = NB_ERR_NOMEM;
    if (!st && !(json = nb_malloc(len + 1))) st = NB_ERR_NOMEM;
    if (!st && nb_tokenizer_json(t, json, len + 1) != len) st = NB_ERR_NOMEM;
    if (!st) st = nb_tokenizer_parse(json, len, "json", &u);
    if (!st) st = nb_tokenizer_encode(u, fail_text, strlen(fail_text), NB_TOK_SPECIALS, &ids, &n);
    if (!st) st = nb_tokenizer_decode(u, ids, n, &back, &blen);
    nb_free(json);
    nb_free(ids);
    nb_free(back);
    nb_tokenizer_free(u);
    nb_tokenizer_free(t);
    return st;
}

static void test_alloc_failures(void) {
    nb_tok_kind kinds[3] = {NB_TOK_BYTE, NB_TOK_CHAR, NB_TOK_BPE};
    for (int k = 0; k < 3; k++)
        each_failure("train, JSON, parse, encode, decode", do_train, &kinds[k]);
}

static const nbt_case cases[] = {
    {"utf8", test_utf8},
    {"word_split", test_word_split},
    {"byte_tokenizer", test_byte_tokenizer},
    {"char_tokenizer", test_char_tokenizer},
    {"bpe_classic", test_bpe_classic},
    {"bpe_matches_reference", test_bpe_matches_reference},
    {"bpe_roundtrip_any_bytes", test_bpe_roundtrip_any_bytes},
    {"bpe_long_word", test_bpe_long_word},
    {"bpe_specials", test_bpe_specials},
    {"ids_out_of_range", test_ids_out_of_range},
    {"json_roundtrip", test_json_roundtrip},
    {"json_errors", test_json_errors},
    {"alloc_failures", test_alloc_failures},
};

NBT_MAIN(cases)
