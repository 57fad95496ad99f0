/* tests/test_fortune_classifier.c — the parts of examples/fortune_classifier.c
 * (examples/fortune_classifier.h) on a small made-up folder of fortune files written here:
 * which files are the k largest, the bag-of-words counts, and both classifiers — the
 * bag-of-words softmax regression and the BPE → embedding → GRU → dense network — trained on
 * a split by record and scored on the held-out records, well above chance (1/3). */
#include "../examples/fortune_classifier.h"
#include "nbtest.h"

#include <unistd.h>

static char dir[64];
static char made[16][128];
static int n_made;

static const char *path_of(const char *name) {
    snprintf(made[n_made], sizeof made[n_made], "%s/%s", dir, name);
    return made[n_made++];
}

/* Words of each class and words every class uses. */
static const char *const class_words[3][8] = {
    {"cat", "dog", "horse", "feather", "paw", "barking", "meadow", "herd"},
    {"oven", "butter", "recipe", "garlic", "simmer", "flour", "kitchen", "salt"},
    {"orbit", "rocket", "planet", "comet", "galaxy", "moon", "launch", "stars"},
};
static const char *const common_words[10] = {"the",   "a",      "is", "of",   "and",
                                             "never", "always", "my", "very", "old"};

/* A fortune file of n records, each 4-9 words: 2-4 of the class's, the rest common ones. */
static void write_class(const char *path, int cls, int n, nb_rng *r) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    for (int i = 0; i < n; i++) {
        int words = 4 + (int)nb_rng_below(r, 6), own = 2 + (int)nb_rng_below(r, 3);
        for (int w = 0; w < words; w++) {
            const char *word =
                w < own ? class_words[cls][nb_rng_below(r, 8)] : common_words[nb_rng_below(r, 10)];
            fprintf(f, "%s%s", w ? (nb_rng_below(r, 4) ? " " : "\n") : "", word);
        }
        fprintf(f, ".\n%%\n");
    }
    fclose(f);
}

static void make_folder(void) {
    snprintf(dir, sizeof dir, "/tmp/nabla-fortune-XXXXXX");
    if (!mkdtemp(dir)) abort();
    nb_rng r;
    nb_rng_seed(&r, 5);
    write_class(path_of("animals"), 0, 90, &r);
    write_class(path_of("cooking"), 1, 70, &r);
    write_class(path_of("space"), 2, 100, &r);
    write_class(path_of("tiny"), 2, 3, &r);       /* the smallest: left out of the 3 largest */
    write_class(path_of("huge.dat"), 0, 400, &r); /* an index, whatever its size */
    write_class(path_of(".hidden"), 0, 400, &r);
    const char *link = path_of("zlink");
    if (symlink("space", link) != 0) n_made--; /* no links here: nothing to skip */
}

static void remove_folder(void) {
    for (int i = 0; i < n_made; i++) unlink(made[i]);
    rmdir(dir);
}

static void test_largest_files(void) {
    char **paths;
    int n;
    CHECK(fc_largest_files(dir, 3, &paths, &n) == 0);
    CHECK(n == 3);
    long long last = -1;
    int seen = 0; /* the three classes' files, largest first, "tiny" left out */
    for (int i = 0; i < n; i++) {
        struct stat sb;
        CHECK(stat(paths[i], &sb) == 0);
        CHECK(last < 0 || (long long)sb.st_size <= last);
        last = (long long)sb.st_size;
        const char *name = strrchr(paths[i], '/') + 1;
        seen |= (!strcmp(name, "animals") ? 1 : 0) | (!strcmp(name, "cooking") ? 2 : 0) |
                (!strcmp(name, "space") ? 4 : 0);
    }
    CHECK(seen == 7);
    fc_free_paths(paths, n);
    CHECK(fc_largest_files(dir, 10, &paths, &n) == 0);
    CHECK(n == 4); /* not huge.dat, .hidden nor the link */
    fc_free_paths(paths, n);
    CHECK(fc_largest_files("/nonexistent/nabla", 3, &paths, &n) == -1);
}

/* The counts of a record's words, case folded, punctuation cut, min_df applied. */
static void test_bag_of_words(void) {
    const char *p = path_of("bow");
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    fputs("The cat, the CAT and the dog.\n%\nA cat sat.\n%\nno words in common\n%\n", f);
    fclose(f);
    nb_tokenizer *t;
    CHECK_OK(nb_tokenizer_train("", 0, &(nb_tokenizer_opts){.kind = NB_TOK_BYTE}, &t));
    nb_textset s;
    CHECK_OK(
        nb_textset_load_fortunes(&p, 1, t, &(nb_textset_opts){.len = 64, .use_pad_id = 1}, &s));
    CHECK(s.n == 3);
    fc_vocab v;
    CHECK(fc_vocab_build(&s, 2, &v) == 0);
    CHECK(v.n_words == 10);   /* the cat and dog a sat no words in common */
    CHECK(v.n_features == 1); /* only "cat" is in 2 records */
    nb_tensor *x = nb_tensor_new(NULL, NB_F32, 2, (int64_t[]){3, 1});
    CHECK_OK(nb_tensor_fill(x, 7.0f));
    fc_bow_rows(&v, &s, (int64_t[]){0, 1, 2}, 3, x);
    CHECK(nb_f32(x)[0] == 2.0f && nb_f32(x)[1] == 1.0f && nb_f32(x)[2] == 0.0f);
    fc_vocab_free(&v);
    CHECK(fc_vocab_build(&s, 1, &v) == 0);
    CHECK(v.n_features == 10);
    nb_tensor *x2 = nb_tensor_new(NULL, NB_F32, 2, (int64_t[]){1, 10});
    fc_bow_rows(&v, &s, (int64_t[]){0}, 1, x2);
    float sum = 0, max = 0;
    for (int i = 0; i < 10; i++) {
        sum += nb_f32(x2)[i];
        if (nb_f32(x2)[i] > max) max = nb_f32(x2)[i];
    }
    CHECK(sum == 7.0f && max == 3.0f); /* the ×3, cat ×2, and, dog */
    nb_tensor_free(x);
    nb_tensor_free(x2);
    fc_vocab_free(&v);
    nb_textset_free(&s);
    nb_tokenizer_free(t);
}

static void test_classifiers(void) {
    char **paths;
    int n;
    if (fc_largest_files(dir, 3, &paths, &n) != 0 || n != 3) {
        CHECK(0);
        return;
    }
    const char *special[] = {"<|pad|>"};
    nb_tokenizer *bytes, *bpe = NULL;
    CHECK_OK(nb_tokenizer_train(
        "", 0, &(nb_tokenizer_opts){.kind = NB_TOK_BYTE, .special = special, .n_special = 1},
        &bytes));
    nb_textset all, train, test;
    CHECK_OK(nb_textset_load_fortunes((const char *const *)paths, n, bytes,
                                      &(nb_textset_opts){.len = 256}, &all));
    CHECK(all.n == 260 && all.num_classes == 3);
    CHECK_OK(nb_textset_split(&all, 0.25, 1, &train, &test));

    /* the baseline */
    fc_vocab v;
    CHECK(fc_vocab_build(&train, 2, &v) == 0);
    CHECK(v.n_features == 34); /* every word of the three classes and the common ones */
    nb_model *bow = fc_bow_model(v.n_features, 3, 1);
    CHECK_PTR(bow);
    fc_opts bo = {.epochs = 10, .batch = 16, .lr = 1e-2, .seed = 1};
    CHECK(fc_train(bow, &train, &v, &bo, NULL) < 0.5);
    double acc = fc_accuracy(bow, &test, &v);
    CHECK_MSG(acc >= 0.9, "bag of words: test accuracy %.3f", acc);

    /* the network, on BPE tokens of the training records */
    size_t len = 0;
    char *text = fc_records_text(&train, &len);
    CHECK_PTR(text);
    CHECK_OK(nb_tokenizer_train(
        text, len,
        &(nb_tokenizer_opts){
            .kind = NB_TOK_BPE, .vocab_size = 320, .special = special, .n_special = 1},
        &bpe));
    free(text);
    nb_textset tall, ttrain, ttest;
    CHECK_OK(nb_textset_load_fortunes((const char *const *)paths, n, bpe,
                                      &(nb_textset_opts){.len = 24}, &tall));
    CHECK(tall.n == all.n);
    CHECK_OK(nb_textset_split(&tall, 0.25, 1, &ttrain, &ttest));
    for (int64_t i = 0; i < test.n && i < ttest.n; i++) CHECK(ttest.labels[i] == test.labels[i]);
    nb_model *gru = fc_gru_model(nb_tokenizer_vocab_size(bpe), tall.pad_id, 24, 16, 24, 3, 1);
    CHECK_PTR(gru);
    fc_opts go = {.epochs = 12, .batch = 16, .lr = 1e-2, .seed = 1};
    double loss = fc_train(gru, &ttrain, NULL, &go, NULL);
    CHECK_MSG(loss < 0.5, "GRU: training loss %.3f", loss);
    acc = fc_accuracy(gru, &ttest, NULL);
    CHECK_MSG(acc >= 0.8, "GRU: test accuracy %.3f", acc);

    nb_model_free(gru);
    nb_model_free(bow);
    fc_vocab_free(&v);
    nb_textset_free(&ttest);
    nb_textset_free(&ttrain);
    nb_textset_free(&tall);
    nb_textset_free(&test);
    nb_textset_free(&train);
    nb_textset_free(&all);
    nb_tokenizer_free(bpe);
    nb_tokenizer_free(bytes);
    fc_free_paths(paths, n);
}

static void test_all(void) {
    make_folder();
    test_largest_files();
    test_bag_of_words();
    test_classifiers();
    remove_folder();
}

static const nbt_case cases[] = {
    {"fortune_classifier", test_all},
};

NBT_MAIN(cases)
