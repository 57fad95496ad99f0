/* tests/test_text.c — text data around the tokenizer: corpora from files and folders, token
 * datasets and their language-model batches (windows, the split by position, the fixed
 * validation pass, bad input), labelled text (fortune files, class folders, a CSV text column;
 * padding, truncation, masks, splits), sampling the next token (chi-square tests of the
 * distributions, edge cases), and the real fortunes corpus when Debian's `fortunes` package is
 * installed. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORTUNES "/usr/share/games/fortunes"

static char tmpdir[64];

static const char *tmp(const char *name) {
    static char buf[8][200];
    static int k;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla-text-XXXXXX");
        if (!mkdtemp(tmpdir)) abort();
    }
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void put_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static bool contains(const char *s, const char *needle) {
    return strstr(s, needle) != NULL;
}

static nb_tokenizer *byte_tok(void) {
    const char *sp[] = {"<|eos|>", "<|pad|>"};
    nb_tokenizer_opts o = {.kind = NB_TOK_BYTE, .special = sp, .n_special = 2};
    nb_tokenizer *t = NULL;
    CHECK_OK(nb_tokenizer_train("", 0, &o, &t));
    return t;
}

/* ---- corpora -------------------------------------------------------------------------------- */

static void test_corpus_folder(void) {
    mkdir(tmp("c"), 0777);
    mkdir(tmp("c/sub"), 0777);
    put_file(tmp("c/b.txt"), "bee\n");
    put_file(tmp("c/a.txt"), "ay\n");
    put_file(tmp("c/a.dat"), "index");
    put_file(tmp("c/.hidden"), "hidden");
    put_file(tmp("c/sub/z.txt"), "deep");
    CHECK(symlink("a.txt", tmp("c/a.u8")) == 0);
    nb_corpus c;
    CHECK_OK(nb_corpus_read(tmp("c"), &c));
    CHECK(c.n_files == 2 && c.len == 7 && !strcmp(c.data, "ay\nbee\n"));
    CHECK(c.offsets[0] == 0 && c.offsets[1] == 3 && c.offsets[2] == 7);
    CHECK(c.n_files == 2 && contains(c.files[0], "a.txt") && contains(c.files[1], "b.txt"));
    /* Adding a file; a failed add leaves the corpus as it was. */
    CHECK_OK(nb_corpus_add(&c, tmp("c/sub/z.txt")));
    CHECK(c.n_files == 3 && c.len == 11 && !strcmp(c.data, "ay\nbee\ndeep") && c.offsets[3] == 11);
    CHECK(nb_corpus_add(&c, tmp("c/missing")) == NB_ERR_IO);
    CHECK(contains(nb_last_error(), "missing"));
    CHECK(c.n_files == 3 && c.len == 11);
    nb_corpus_free(&c);
    /* A folder with nothing to read. */
    mkdir(tmp("empty"), 0777);
    put_file(tmp("empty/only.dat"), "x");
    CHECK(nb_corpus_read(tmp("empty"), &c) == NB_ERR_IO);
    CHECK(contains(nb_last_error(), "no text files"));
    CHECK(c.data == NULL && c.n_files == 0);
}

/* ---- language-model data -------------------------------------------------------------------- */

static void test_lm_batches(void) {
    int32_t ids[1000];
    for (int i = 0; i < 1000; i++) ids[i] = i;
    nb_lm_data *d = NULL;
    CHECK_OK(nb_lm_data_new(ids, 1000, 1000, 0.1, &d));
    if (!d) return;
    nb_lm_info info;
    nb_lm_data_get_info(d, &info);
    CHECK(info.tokens == 1000 && info.train_tokens == 900 && info.val_tokens == 100);
    CHECK(info.vocab == 1000 && info.bytes >= 4000);
    int64_t shape[2] = {4, 8};
    nb_tensor *x = nb_tensor_new(NULL, NB_I32, 2, shape),
              *y = nb_tensor_new(NULL, NB_I32, 2, shape);
    nb_tensor *x2 = nb_tensor_new(NULL, NB_I32, 2, shape),
              *y2 = nb_tensor_new(NULL, NB_I32, 2, shape);
    nb_rng r1, r2;
    nb_rng_seed(&r1, 5);
    nb_rng_seed(&r2, 5);
    CHECK_OK(nb_lm_data_batch(d, &r1, x, y));
    CHECK_OK(nb_lm_data_batch(d, &r2, x2, y2));
    CHECK(!memcmp(x->data, x2->data, 32 * 4) && !memcmp(y->data, y2->data, 32 * 4));
    /* The offsets are the seeded draws, and each window lies in the training part. */
    nb_rng_seed(&r2, 5);
    for (int b = 0; b < 4; b++) {
        int32_t off = (int32_t)nb_rng_below(&r2, 900 - 8);
        CHECK(nb_i32(x)[b * 8] == off);
        for (int t = 0; t < 8; t++) {
            CHECK(nb_i32(x)[b * 8 + t] == off + t && nb_i32(y)[b * 8 + t] == off + t + 1);
            CHECK(nb_i32(y)[b * 8 + t] < 900);
        }
    }
    /* Validation: floor(99 / 8) = 12 windows tiling ids 900.., in batches of 4. */
    CHECK(nb_lm_data_val_windows(d, 8) == 12);
    int64_t rows;
    for (int64_t b = 0; b < 4; b++) {
        CHECK_OK(nb_lm_data_val_batch(d, b, x, y, &rows));
        CHECK(rows == (b < 3 ? 4 : 0));
        for (int64_t r = 0; r < rows; r++)
            CHECK(nb_i32(x)[r * 8] == 900 + (b * 4 + r) * 8 &&
                  nb_i32(y)[r * 8 + 7] == 900 + (b * 4 + r) * 8 + 8);
    }
    nb_lm_data_free(d);

    /* Every offset from 0 to n_train - T - 1, and none other, is drawn. */
    CHECK_OK(nb_lm_data_new(ids, 20, 1000, 0.0, &d));
    int64_t s1[2] = {1, 4};
    nb_tensor *xs = nb_tensor_new(NULL, NB_I32, 2, s1), *ys = nb_tensor_new(NULL, NB_I32, 2, s1);
    int seen[20] = {0};
    for (int k = 0; k < 2000 && d; k++) {
        CHECK_OK(nb_lm_data_batch(d, &r1, xs, ys));
        seen[nb_i32(xs)[0]]++;
    }
    for (int o = 0; o < 20; o++)
        CHECK_MSG((seen[o] > 0) == (o <= 15), "offset %d drawn %d times", o, seen[o]);
    /* A corpus shorter than the context. */
    int64_t s2[2] = {2, 32};
    nb_tensor *xl = nb_tensor_new(NULL, NB_I32, 2, s2), *yl = nb_tensor_new(NULL, NB_I32, 2, s2);
    CHECK(nb_lm_data_batch(d, &r1, xl, yl) == NB_ERR_ARG);
    CHECK_MSG(contains(nb_last_error(), "20 tokens") && contains(nb_last_error(), "T + 1 = 33"),
              "message: %s", nb_last_error());
    CHECK(nb_lm_data_val_batch(d, 0, xs, ys, &rows) == NB_ERR_ARG && rows == 0); /* no val part */
    CHECK(nb_lm_data_batch(d, &r1, xs, yl) == NB_ERR_SHAPE);
    CHECK(nb_lm_data_batch(d, NULL, xs, ys) == NB_ERR_ARG);
    nb_lm_data_free(d);

    /* An empty corpus, an id out of range, a bad fraction. */
    CHECK(nb_lm_data_new(ids, 0, 1000, 0.1, &d) == NB_ERR_ARG && !d);
    CHECK(contains(nb_last_error(), "empty"));
    ids[7] = 1000;
    CHECK(nb_lm_data_new(ids, 20, 1000, 0.1, &d) == NB_ERR_ARG && !d);
    CHECK_MSG(contains(nb_last_error(), "1000 at position 7") &&
                  contains(nb_last_error(), "out of range"),
              "message: %s", nb_last_error());
    ids[7] = -3;
    CHECK(nb_lm_data_new(ids, 20, 1000, 0.1, &d) == NB_ERR_ARG);
    ids[7] = 7;
    CHECK(nb_lm_data_new(ids, 20, 1000, 1.0, &d) == NB_ERR_ARG);
    nb_tensor_free(x), nb_tensor_free(y), nb_tensor_free(x2), nb_tensor_free(y2);
    nb_tensor_free(xs), nb_tensor_free(ys), nb_tensor_free(xl), nb_tensor_free(yl);
}

static void test_lm_encode(void) {
    nb_corpus c;
    CHECK_OK(nb_corpus_read("tests/data/text/bpe_corpus.txt", &c));
    if (!c.data) return;
    nb_tokenizer_opts o = {.kind = NB_TOK_BPE, .vocab_size = 512};
    nb_tokenizer *t = NULL;
    CHECK_OK(nb_tokenizer_train(c.data, c.len, &o, &t));
    nb_lm_data *d = NULL;
    if (t) CHECK_OK(nb_lm_data_encode(t, c.data, c.len, 0, 0.1, &d));
    if (d) {
        nb_lm_info info;
        nb_lm_data_get_info(d, &info);
        nb_tokenizer_info ti;
        nb_tokenizer_get_info(t, &ti);
        CHECK(info.tokens == ti.corpus_tokens && info.vocab == 512);
        CHECK(info.val_tokens == (int64_t)(info.tokens * 0.1 + 0.5));
        /* The held-out ids decode to the corpus's tail. */
        char *tail;
        size_t len;
        CHECK_OK(nb_tokenizer_decode(t, nb_lm_data_ids(d) + info.train_tokens, info.val_tokens,
                                     &tail, &len));
        CHECK(len < c.len && !memcmp(tail, c.data + c.len - len, len));
        nb_free(tail);
    }
    /* Text a character vocabulary cannot encode: the tokenizer's error. */
    nb_tokenizer_opts co = {.kind = NB_TOK_CHAR};
    nb_tokenizer *ct = NULL;
    CHECK_OK(nb_tokenizer_train("abc", 3, &co, &ct));
    nb_lm_data *d2 = NULL;
    CHECK(nb_lm_data_encode(ct, "abd", 3, 0, 0.1, &d2) == NB_ERR_ARG && !d2);
    CHECK(contains(nb_last_error(), "U+0064"));
    CHECK(nb_lm_data_encode(ct, "", 0, 0, 0.1, &d2) == NB_ERR_ARG); /* empty */
    nb_tokenizer_free(ct);
    nb_lm_data_free(d);
    nb_tokenizer_free(t);
    nb_corpus_free(&c);
}

/* ---- labelled text ------------------------------------------------------------------------- */

static void check_row(const nb_textset *s, int64_t i, const char *text, int32_t label) {
    size_t n = strlen(text);
    int64_t k = (int64_t)n < s->len ? (int64_t)n : s->len;
    CHECK_MSG(s->lengths[i] == k && s->labels[i] == label, "record %lld: length %d label %d",
              (long long)i, s->lengths[i], s->labels[i]);
    for (int64_t j = 0; j < s->len; j++) {
        int32_t want = j < k ? (unsigned char)text[j] : s->pad_id;
        if (s->ids[i * s->len + j] != want) {
            CHECK_MSG(0, "record %lld token %lld: %d, want %d", (long long)i, (long long)j,
                      s->ids[i * s->len + j], want);
            break;
        }
    }
}

static void test_textset_fortunes(void) {
    nb_tokenizer *t = byte_tok();
    if (!t) return;
    mkdir(tmp("f"), 0777);
    put_file(tmp("f/dogs"), "Woof\n%\n");
    put_file(tmp("f/cats"), "Meow.\n%\nPurr purr\nhiss\n%\n%\n  \n%\r\nlast one");
    put_file(tmp("f/cats.dat"), "not a fortune file");
    nb_textset_opts o = {.len = 6, .pad_id = -1};
    nb_textset s;
    const char *paths[] = {tmp("f")};
    CHECK_OK(nb_textset_load_fortunes(paths, 1, t, &o, &s));
    CHECK(s.n == 4 && s.len == 6 && s.num_classes == 2 && s.pad_id == 257);
    {   /* zeroed options pad with the tokenizer's <|pad|> as -1 does */
        nb_textset z;
        CHECK_OK(nb_textset_load_fortunes(paths, 1, t, &(nb_textset_opts){.len = 6}, &z));
        CHECK(z.pad_id == 257 && z.n == s.n && !memcmp(z.ids, s.ids, sizeof *z.ids * 6 * 4));
        nb_textset_free(&z);
    }
    if (s.n == 4 && s.num_classes == 2) {
        CHECK(!strcmp(s.classes[0], "cats") && !strcmp(s.classes[1], "dogs"));
        check_row(&s, 0, "Meow.", 0);
        check_row(&s, 1, "Purr purr\nhiss", 0);
        check_row(&s, 2, "last one", 0);
        check_row(&s, 3, "Woof", 1);
        CHECK(s.truncated == 2 && s.skipped == 1);
    }
    nb_textset_free(&s);
    /* Files named one by one give the same; two files of one name are an error. */
    const char *files[] = {tmp("f/dogs"), tmp("f/cats")};
    CHECK_OK(nb_textset_load_fortunes(files, 2, t, &o, &s));
    CHECK(s.n == 4 && s.num_classes == 2 && s.labels[3] == 1);
    nb_textset_free(&s);
    const char *twice[] = {tmp("f/dogs"), tmp("f/dogs")};
    CHECK(nb_textset_load_fortunes(twice, 2, t, &o, &s) == NB_ERR_ARG);
    CHECK(contains(nb_last_error(), "two files are named 'dogs'"));
    /* No pad token: an error unless pad_id is given. */
    nb_tokenizer_opts bo = {.kind = NB_TOK_BYTE};
    nb_tokenizer *plain = NULL;
    CHECK_OK(nb_tokenizer_train("", 0, &bo, &plain));
    CHECK(nb_textset_load_fortunes(paths, 1, plain, &o, &s) == NB_ERR_ARG);
    CHECK(contains(nb_last_error(), "<|pad|>"));
    o.pad_id = 0; /* 0 is the tokenizer's <|pad|>, which it has not */
    CHECK(nb_textset_load_fortunes(paths, 1, plain, &o, &s) == NB_ERR_ARG);
    CHECK(contains(nb_last_error(), "<|pad|>"));
    o.use_pad_id = 1; /* id 0 itself */
    CHECK_OK(nb_textset_load_fortunes(paths, 1, plain, &o, &s));
    CHECK(s.pad_id == 0);
    nb_textset_free(&s);
    o.pad_id = -1; /* negative with use_pad_id: out of range */
    CHECK(nb_textset_load_fortunes(paths, 1, plain, &o, &s) == NB_ERR_ARG);
    o.use_pad_id = 0;
    o.pad_id = 7; /* > 0: that id, no flag needed */
    CHECK_OK(nb_textset_load_fortunes(paths, 1, plain, &o, &s));
    CHECK(s.pad_id == 7);
    nb_textset_free(&s);
    o.pad_id = 256;
    CHECK(nb_textset_load_fortunes(paths, 1, plain, &o, &s) == NB_ERR_ARG);
    o.len = 0;
    CHECK(nb_textset_load_fortunes(paths, 1, t, &o, &s) == NB_ERR_ARG);
    nb_tokenizer_free(plain);
    nb_tokenizer_free(t);
}

static void test_textset_folders(void) {
    nb_tokenizer *t = byte_tok();
    if (!t) return;
    mkdir(tmp("d"), 0777);
    mkdir(tmp("d/pos"), 0777);
    mkdir(tmp("d/neg"), 0777);
    put_file(tmp("d/pos/b.txt"), "good");
    put_file(tmp("d/pos/c.txt"), "great stuff");
    put_file(tmp("d/pos/empty.txt"), "");
    put_file(tmp("d/neg/a.txt"), "bad");
    put_file(tmp("d/README"), "a file beside the class folders is not a class");
    nb_textset_opts o = {.len = 5, .pad_id = -1};
    nb_textset s;
    CHECK_OK(nb_textset_load_folders(tmp("d"), t, &o, &s));
    CHECK(s.n == 3 && s.num_classes == 2 && s.skipped == 1 && s.truncated == 1);
    if (s.n == 3 && s.num_classes == 2) {
        CHECK(!strcmp(s.classes[0], "neg") && !strcmp(s.classes[1], "pos"));
        check_row(&s, 0, "bad", 0);
        check_row(&s, 1, "good", 1);
        check_row(&s, 2, "great stuff", 1);
    }
    nb_textset_free(&s);
    CHECK(nb_textset_load_folders(tmp("d/neg"), t, &o, &s) == NB_ERR_FORMAT);
    CHECK(contains(nb_last_error(), "no class folders"));
    nb_tokenizer_free(t);
}

static void test_textset_csv(void) {
    nb_tokenizer *t = byte_tok();
    if (!t) return;
    const char *csv = "\xEF\xBB\xBFid,text,label\r\n1,\"hello, world\",pos\n\n"
                      "2,\"multi\nline \"\"q\"\"\",neg\n3, plain ,pos\n";
    nb_textset_opts o = {.len = 16, .pad_id = -1};
    nb_textset s;
    CHECK_OK(nb_textset_parse_csv(csv, strlen(csv), "mem.csv", t, &o, &s));
    CHECK(s.n == 3 && s.num_classes == 2);
    if (s.n == 3 && s.num_classes == 2) {
        CHECK(!strcmp(s.classes[0], "neg") && !strcmp(s.classes[1], "pos"));
        check_row(&s, 0, "hello, world", 1);
        check_row(&s, 1, "multi\nline \"q\"", 0);
        check_row(&s, 2, "plain", 1);
    }
    nb_textset_free(&s);
    /* Integer labels are used as they are; columns chosen by name; another delimiter. */
    const char *ints = "label;body\n2;b\n0;a\n";
    nb_textset_opts io = {.len = 2, .pad_id = -1, .delimiter = ';', .text_column = "body"};
    CHECK_OK(nb_textset_parse_csv(ints, strlen(ints), "ints.csv", t, &io, &s));
    CHECK(s.n == 2 && s.num_classes == 3 && s.labels[0] == 2 && s.labels[1] == 0);
    CHECK(s.num_classes == 3 && !strcmp(s.classes[2], "2"));
    nb_textset_free(&s);
    /* Through a file. */
    put_file(tmp("t.csv"), csv);
    CHECK_OK(nb_textset_load_csv(tmp("t.csv"), t, &o, &s));
    CHECK(s.n == 3);
    nb_textset_free(&s);
    struct {
        const char *text, *msg;
    } bad[] = {
        {"", "empty"},
        {"text,label\n", "no records"},
        {"words,label\na,b\n", "no text column \"text\""},
        {"text,label\na,b,c\n", ":2: 3 fields"},
        {"text,label\n\"open,b\n", "never closed"},
        {"text,label\n\"a\"x,b\n", "after a closing quote"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(nb_textset_parse_csv(bad[i].text, strlen(bad[i].text), "bad.csv", t, &o, &s) ==
                      NB_ERR_FORMAT,
                  "case %zu accepted", i);
        CHECK_MSG(contains(nb_last_error(), bad[i].msg) && contains(nb_last_error(), "bad.csv"),
                  "case %zu: '%s' lacks '%s'", i, nb_last_error(), bad[i].msg);
        CHECK(s.ids == NULL && s.n == 0);
    }
    nb_tokenizer_free(t);
}

static void test_textset_split_gather(void) {
    nb_tokenizer *t = byte_tok();
    if (!t) return;
    char csv[4096] = "text,label\n";
    for (int i = 0; i < 40; i++)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%.*s,%c\n", 1 + i % 7, "abcdefg",
                 i % 3 ? 'x' : 'y');
    nb_textset_opts o = {.len = 5, .pad_id = -1};
    nb_textset s, tr, va, tr2, va2;
    CHECK_OK(nb_textset_parse_csv(csv, strlen(csv), "split.csv", t, &o, &s));
    if (s.n != 40) return;
    CHECK_OK(nb_textset_split(&s, 0.25, 7, &tr, &va));
    CHECK_OK(nb_textset_split(&s, 0.25, 7, &tr2, &va2));
    CHECK(tr.n == 30 && va.n == 10 && tr.num_classes == 2 && !strcmp(va.classes[1], "y"));
    CHECK(!memcmp(va.ids, va2.ids, 10 * 5 * 4) && !memcmp(tr.labels, tr2.labels, 30 * 4));
    /* Together the parts hold every record once: the length sums agree. */
    int64_t sum = 0, sum_parts = 0;
    for (int64_t i = 0; i < s.n; i++) sum += s.lengths[i] * 100 + s.labels[i];
    for (int64_t i = 0; i < tr.n; i++) sum_parts += tr.lengths[i] * 100 + tr.labels[i];
    for (int64_t i = 0; i < va.n; i++) sum_parts += va.lengths[i] * 100 + va.labels[i];
    CHECK(sum == sum_parts);
    nb_textset_free(&tr2), nb_textset_free(&va2);
    CHECK(nb_textset_split(&s, 0.0, 7, &tr2, &va2) == NB_ERR_ARG);
    CHECK(nb_textset_split(&s, 0.001, 7, &tr2, &va2) == NB_ERR_ARG); /* no validation record */
    /* gather */
    int64_t idx[3] = {6, 0, 39}, sx[2] = {3, 5}, sy[1] = {3};
    nb_tensor *x = nb_tensor_new(NULL, NB_I32, 2, sx), *y = nb_tensor_new(NULL, NB_I32, 1, sy);
    nb_tensor *m = nb_tensor_new(NULL, NB_F32, 2, sx);
    CHECK_OK(nb_textset_gather(&s, idx, 3, x, y, m));
    /* record 6: "abcdefg" truncated to 5; record 0: "a"; record 39: "abcde" (39 % 7 = 4) */
    CHECK(nb_i32(x)[0] == 'a' && nb_i32(x)[4] == 'e' && nb_i32(y)[0] == 1);
    CHECK(nb_i32(x)[5] == 'a' && nb_i32(x)[6] == 257 && nb_i32(y)[1] == 1);
    float msum[3] = {0, 0, 0};
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 5; k++) msum[r] += nb_f32(m)[r * 5 + k];
    CHECK(msum[0] == 5 && msum[1] == 1 && msum[2] == 5);
    CHECK(nb_textset_gather(&s, idx, 3, m, y, NULL) == NB_ERR_SHAPE); /* f32 x */
    idx[1] = 40;
    CHECK(nb_textset_gather(&s, idx, 3, x, NULL, NULL) == NB_ERR_ARG);
    nb_tensor_free(x), nb_tensor_free(y), nb_tensor_free(m);
    nb_textset_free(&tr), nb_textset_free(&va), nb_textset_free(&s);
    nb_tokenizer_free(t);
}

/* ---- sampling ----------------------------------------------------------------------------- */

/* Chi-square of `draws` samples against probabilities p[0..V) (0 where never allowed), at the
 * 0.001 level; a token with p = 0 must never be drawn. */
static void chi_square(const char *what, const float *logits, int V, const nb_sample_opts *o,
                       const double *p, uint64_t seed) {
    enum { DRAWS = 100000 };
    long obs[16] = {0};
    nb_rng rng;
    nb_rng_seed(&rng, seed);
    for (int k = 0; k < DRAWS; k++) {
        int32_t tok = -1;
        nb_status st = nb_sample_logits(logits, V, o, &rng, &tok);
        if (st != NB_OK || tok < 0 || tok >= V) {
            CHECK_MSG(0, "%s: draw %d: %s", what, k, nb_last_error());
            return;
        }
        obs[tok]++;
    }
    static const double crit[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12};
    double chi = 0;
    int cells = 0;
    for (int i = 0; i < V; i++) {
        if (p[i] == 0) {
            CHECK_MSG(obs[i] == 0, "%s: token %d has probability 0 but was drawn %ld times", what,
                      i, obs[i]);
            continue;
        }
        double e = p[i] * DRAWS;
        chi += (obs[i] - e) * (obs[i] - e) / e;
        cells++;
    }
    CHECK_MSG(cells >= 2 && chi < crit[cells - 1],
              "%s: chi-square %.2f with %d degrees of freedom "
              "(critical %.2f)",
              what, chi, cells - 1, crit[cells - 1]);
}

/* softmax(l / tau) over the ids with keep[i], in double. */
static void softmax(const float *l, int V, double tau, const bool *keep, double *p) {
    double m = -INFINITY, s = 0;
    for (int i = 0; i < V; i++)
        if (keep[i] && l[i] > m) m = l[i];
    for (int i = 0; i < V; i++) s += p[i] = keep[i] ? exp((l[i] - m) / tau) : 0;
    for (int i = 0; i < V; i++) p[i] /= s;
}

static void test_sample_distribution(void) {
    const float l[8] = {1.0f, 2.5f, -0.5f, 2.0f, 0.3f, -INFINITY, 1.7f, 0.0f};
    bool all[8] = {1, 1, 1, 1, 1, 0, 1, 1};
    double p[8];
    nb_sample_opts o = {0};
    o.temperature = 0.7;
    softmax(l, 8, 0.7, all, p);
    chi_square("temperature 0.7", l, 8, &o, p, 1);
    o.temperature = 1.0;
    o.top_p = 1.0;
    softmax(l, 8, 1.0, all, p);
    chi_square("top_p 1", l, 8, &o, p, 2);
    /* top-k 4 at temperature 1.3: the four largest logits (ids 1, 3, 6, 0), renormalised. */
    bool k4[8] = {1, 1, 0, 1, 0, 0, 1, 0};
    o.temperature = 1.3;
    o.top_k = 4;
    softmax(l, 8, 1.3, k4, p);
    chi_square("top_k 4", l, 8, &o, p, 3);
    /* top-p 0.8 at temperature 1: sorted probabilities of ids 1, 3, 6, 0, ... until 0.8. */
    o.temperature = 1.0;
    o.top_k = 0;
    o.top_p = 0.8;
    softmax(l, 8, 1.0, all, p);
    int order[7] = {1, 3, 6, 0, 4, 7, 2};
    bool nucleus[8] = {0};
    double acc = 0;
    for (int j = 0; j < 7 && acc < 0.8; j++) {
        acc += p[order[j]];
        nucleus[order[j]] = true;
    }
    softmax(l, 8, 1.0, nucleus, p);
    chi_square("top_p 0.8", l, 8, &o, p, 4);
    /* top-k then top-p: top_k 3 and top_p 0.6. */
    o.top_k = 3;
    o.top_p = 0.6;
    bool k3[8] = {0, 1, 0, 1, 0, 0, 1, 0};
    softmax(l, 8, 1.0, k3, p);
    bool both[8] = {0};
    acc = 0;
    for (int j = 0; j < 3 && acc < 0.6; j++) {
        acc += p[order[j]];
        both[order[j]] = true;
    }
    softmax(l, 8, 1.0, both, p);
    chi_square("top_k 3, top_p 0.6", l, 8, &o, p, 5);
}

static void test_sample_edge_cases(void) {
    const float l[6] = {0.5f, 3.0f, 3.0f, -1.0f, 2.0f, 0.0f};
    nb_sample_opts greedy = {NB_ZERO, 0, 1.0}, o = {0};
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    int32_t tok;
    CHECK_OK(nb_sample_logits(l, 6, &greedy, NULL, &tok)); /* greedy needs no rng */
    CHECK(tok == 1);                                       /* the lower id of the tie */
    /* top_k 1 and a tiny top_p are greedy too, whatever the draws. */
    nb_sample_opts k1 = {1.5, 1, 1.0}, p0 = {1.0, 0, 1e-9};
    for (int i = 0; i < 200; i++) {
        CHECK_OK(nb_sample_logits(l, 6, &k1, &rng, &tok));
        CHECK(tok == 1);
        CHECK_OK(nb_sample_logits(l, 6, &p0, &rng, &tok));
        CHECK(tok == 1);
    }
    /* All -inf but one: that one, at any setting. */
    float one[5] = {-INFINITY, -INFINITY, -INFINITY, 4.0f, -INFINITY};
    nb_sample_opts hot = {5.0, 3, 0.5};
    for (int i = 0; i < 50; i++) {
        CHECK_OK(nb_sample_logits(one, 5, &hot, &rng, &tok));
        CHECK(tok == 3);
        CHECK_OK(nb_sample_logits(one, 5, NULL, &rng, &tok));
        CHECK(tok == 3);
    }
    /* Determinism: one 64-bit draw per call, so the same seed gives the same sequence and the
     * generator ends where a fresh one advanced once per call does. */
    nb_rng a, b;
    nb_rng_seed(&a, 3);
    nb_rng_seed(&b, 3);
    nb_sample_opts mixed = {0.9, 4, 0.9};
    for (int i = 0; i < 100; i++) {
        int32_t t1, t2;
        CHECK_OK(nb_sample_logits(l, 6, i % 2 ? &mixed : &o, &a, &t1));
        CHECK_OK(nb_sample_logits(l, 6, i % 2 ? &mixed : &o, &b, &t2));
        CHECK(t1 == t2);
    }
    nb_rng_seed(&b, 3);
    for (int i = 0; i < 100; i++) nb_rng_u64(&b);
    CHECK(!memcmp(a.s, b.s, sizeof a.s));
    /* Bad input: NaN, +inf, nothing finite, bad options, no rng. */
    float bad[4] = {0.0f, 1.0f, NAN, 2.0f};
    CHECK(nb_sample_logits(bad, 4, &o, &rng, &tok) == NB_ERR_NUMERIC && tok == -1);
    CHECK_MSG(contains(nb_last_error(), "logit 2 is NaN"), "message: %s", nb_last_error());
    CHECK(nb_sample_logits(bad, 4, &greedy, &rng, &tok) == NB_ERR_NUMERIC);
    bad[2] = INFINITY;
    CHECK(nb_sample_logits(bad, 4, &o, &rng, &tok) == NB_ERR_NUMERIC);
    CHECK(contains(nb_last_error(), "+inf"));
    float none[3] = {-INFINITY, -INFINITY, -INFINITY};
    CHECK(nb_sample_logits(none, 3, &o, &rng, &tok) == NB_ERR_NUMERIC);
    CHECK(contains(nb_last_error(), "all 3 logits are -inf"));
    nb_sample_opts bads[] = {{-1.0, 0, 1.0}, {NAN, 0, 1.0},  {INFINITY, 0, 1.0},
                             {1.0, -2, 1.0}, {1.0, 0, -0.5}, {1.0, 0, 1.5}};
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
        CHECK_MSG(nb_sample_logits(l, 6, &bads[i], &rng, &tok) == NB_ERR_ARG, "options %zu", i);
    CHECK(nb_sample_logits(l, 0, &o, &rng, &tok) == NB_ERR_ARG);
    CHECK(nb_sample_logits(l, 6, &o, NULL, &tok) == NB_ERR_ARG);
    CHECK(contains(nb_last_error(), "rng"));
}

/* A zeroed nb_sample_opts (and NULL) is the old nb_sample_opts_default(), temperature 1, top_k
 * 0, top_p 1: the same tokens from the same seed, draw for draw; and a real zero temperature,
 * NB_ZERO, is greedy. */
static void test_sample_zero_opts(void) {
    const float l[6] = {0.5f, 3.0f, 3.0f, -1.0f, 2.0f, 0.0f};
    const nb_sample_opts zero = {0}, old = {1.0, 0, 1.0}, tz = {.temperature = NB_ZERO},
                         half = {.temperature = 0.5}, halfp = {0.5, 0, 1.0};
    nb_rng a, b, c;
    nb_rng_seed(&a, 21);
    nb_rng_seed(&b, 21);
    nb_rng_seed(&c, 21);
    int differ = 0, mismatch = 0, greedy = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t t0, t1, t2;
        CHECK_OK(nb_sample_logits(l, 6, &zero, &a, &t0));
        CHECK_OK(nb_sample_logits(l, 6, NULL, &b, &t1));
        CHECK_OK(nb_sample_logits(l, 6, &old, &c, &t2));
        mismatch += t0 != t2 || t1 != t2;
        differ += t0 != 1;
        CHECK_OK(nb_sample_logits(l, 6, &half, &a, &t0));
        CHECK_OK(nb_sample_logits(l, 6, &halfp, &b, &t1));
        CHECK_OK(nb_sample_logits(l, 6, &halfp, &c, &t2));
        mismatch += t0 != t2 || t1 != t2;
        CHECK_OK(nb_sample_logits(l, 6, &tz, &a, &t0));
        greedy += t0 == 1; /* the lower id of the tie */
    }
    CHECK_MSG(mismatch == 0, "%d of 4000 draws differ from the old defaults'", mismatch);
    CHECK(greedy == 2000);
    CHECK(differ > 500); /* the default samples: it is not greedy */
    /* greedy draws nothing: a ends where b and c do, though it made 2000 more calls */
    CHECK(!memcmp(a.s, b.s, sizeof a.s));
    CHECK(!memcmp(a.s, c.s, sizeof a.s));
}

/* ---- the real corpus ------------------------------------------------------------------------ */

static void test_fortunes_corpus(void) {
    struct stat sb;
    if (stat(FORTUNES, &sb) != 0) {
        printf("     note: %s not found (Debian package fortunes); skipped\n", FORTUNES);
        return;
    }
    nb_corpus c;
    CHECK_OK(nb_corpus_read(FORTUNES, &c));
    if (!c.data) return;
    CHECK(c.n_files >= 20 && c.len > 1000000);
    for (int i = 0; i < c.n_files; i++)
        CHECK_MSG(!contains(c.files[i], ".dat") && !contains(c.files[i], ".u8"), "%s read",
                  c.files[i]);
    const char *sp[] = {"<|eos|>", "<|pad|>"};
    nb_tokenizer_opts o = {.kind = NB_TOK_BPE, .vocab_size = 512, .special = sp, .n_special = 2};
    nb_tokenizer *t = NULL;
    CHECK_OK(nb_tokenizer_train(c.data, c.len, &o, &t));
    if (t) {
        nb_tokenizer_info info;
        nb_tokenizer_get_info(t, &info);
        CHECK(info.vocab_size == 512 && info.merges == 254);
        /* The whole corpus round-trips, at more than 1.5 bytes a token. */
        int32_t *ids;
        int64_t n;
        CHECK_OK(nb_tokenizer_encode(t, c.data, c.len, 0, &ids, &n));
        char *back;
        size_t len;
        CHECK_OK(nb_tokenizer_decode(t, ids, n, &back, &len));
        CHECK(len == c.len && !memcmp(back, c.data, len));
        CHECK_MSG((double)c.len / (double)n > 1.5, "%.3f bytes a token", (double)c.len / (double)n);
        nb_free(back);
        nb_lm_data *d = NULL;
        CHECK_OK(nb_lm_data_new(ids, n, 512, 0.1, &d));
        CHECK(nb_lm_data_val_windows(d, 256) > 100);
        nb_lm_data_free(d);
        nb_free(ids);
        /* One class per file; thousands of fortunes. */
        nb_textset s;
        nb_textset_opts to = {.len = 64, .pad_id = -1};
        const char *paths[] = {FORTUNES};
        CHECK_OK(nb_textset_load_fortunes(paths, 1, t, &to, &s));
        CHECK(s.num_classes == c.n_files && s.n > 10000);
        nb_textset_free(&s);
    }
    nb_tokenizer_free(t);
    nb_corpus_free(&c);
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

static nb_status do_text(void *arg) {
    (void)arg;
    const char *sp[] = {"<|eos|>", "<|pad|>"};
    nb_tokenizer_opts to = {.kind = NB_TOK_BYTE, .special = sp, .n_special = 2};
    nb_tokenizer *t = NULL;
    nb_corpus c;
    nb_textset s, tr, va;
    nb_lm_data *d = NULL;
    memset(&s, 0, sizeof s);
    memset(&tr, 0, sizeof tr);
    memset(&va, 0, sizeof va);
    const char *csv = "text,label\nhello,a\nworld,b\nmore text,a\nand more,b\n";
    nb_textset_opts o = {.len = 4, .pad_id = -1};
    const char *paths[] = {tmp("f")};
    nb_status st = nb_tokenizer_train("", 0, &to, &t);
    if (!st) st = nb_corpus_read(tmp("f"), &c);
    if (!st) {
        st = nb_lm_data_encode(t, c.data, c.len, 0, 0.2, &d);
        nb_corpus_free(&c);
    }
    if (!st) st = nb_textset_load_fortunes(paths, 1, t, &o, &s);
    if (!st) {
        nb_textset_free(&s);
        st = nb_textset_parse_csv(csv, strlen(csv), "csv", t, &o, &s);
    }
    if (!st) st = nb_textset_split(&s, 0.5, 1, &tr, &va);
    float l[5] = {1, 2, 3, 4, 5};
    nb_sample_opts so = {1.0, 3, 0.9};
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    int32_t tok;
    if (!st) st = nb_sample_logits(l, 5, &so, &rng, &tok);
    nb_textset_free(&s), nb_textset_free(&tr), nb_textset_free(&va);
    nb_lm_data_free(d);
    nb_tokenizer_free(t);
    return st;
}

static void test_alloc_failures(void) {
    mkdir(tmp("f"), 0777);
    put_file(tmp("f/cats"), "Meow.\n%\nPurr\n");
    put_file(tmp("f/dogs"), "Woof\n%\nBark bark\n");
    nb_allocator a = {fail_alloc, fail_free, NULL};
    atomic_store(&calls, 0);
    atomic_store(&fail_at, 0);
    nb_set_allocator(&a);
    CHECK_OK(do_text(NULL));
    nb_set_allocator(NULL);
    long total = atomic_load(&calls);
    for (long k = 1; k <= total; k++) {
        atomic_store(&calls, 0);
        atomic_store(&fail_at, k);
        nb_set_allocator(&a);
        nb_status st = do_text(NULL);
        nb_set_allocator(NULL);
        CHECK_MSG(st == NB_ERR_NOMEM, "allocation %ld of %ld failing gave %s: %s", k, total,
                  nb_status_str(st), nb_last_error());
    }
}

static const nbt_case cases[] = {
    {"corpus_folder", test_corpus_folder},
    {"lm_batches", test_lm_batches},
    {"lm_encode", test_lm_encode},
    {"textset_fortunes", test_textset_fortunes},
    {"textset_folders", test_textset_folders},
    {"textset_csv", test_textset_csv},
    {"textset_split_gather", test_textset_split_gather},
    {"sample_distribution", test_sample_distribution},
    {"sample_edge_cases", test_sample_edge_cases},
    {"sample_zero_opts", test_sample_zero_opts},
    {"fortunes_corpus", test_fortunes_corpus},
    {"alloc_failures", test_alloc_failures},
};

NBT_MAIN(cases)
