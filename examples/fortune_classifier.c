/* examples/fortune_classifier.c — which fortune file (category) does a fortune come from?
 *
 *     fortune_classifier [--dir DIR] [--classes K] [--epochs N] [--bow-epochs N]
 *                        [--test-fraction F] [--seed S] [--threads T]
 *
 * The records of the K (default 8) largest files of DIR (default Debian's
 * /usr/share/games/fortunes, package fortunes-min) — one class per file — split by record at
 * random (seed S, default 1; a fraction F, default 0.2, held out for testing). Two classifiers
 * trained by nabla on the rest (examples/fortune_classifier.h says how):
 *
 *   baseline  bag-of-words counts → dense K (softmax regression), Adam 1e-2, 10 epochs
 *   network   BPE tokens (a 2048-token vocabulary trained on the training records), 64 of
 *             them → embedding 64 → GRU 128 (the record's length given) → last state →
 *             dense K, Adam 2e-3, N epochs (default 8)
 *
 * and both test accuracies, beside the share of the largest class (what always guessing it
 * scores). Without DIR it says so and exits 0. */
#include "fortune_classifier.h"

#define FC_DEFAULT_DIR "/usr/share/games/fortunes"

static void fc_die(const char *what) {
    fprintf(stderr, "fortune_classifier: %s: %s\n", what, nb_last_error());
    exit(1);
}

int main(int argc, char **argv) {
    const char *dir = FC_DEFAULT_DIR;
    int classes = 8, epochs = 8, bow_epochs = 10;
    double test_fraction = 0.2;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--dir") && v)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--classes") && v)
            classes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && v)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bow-epochs") && v)
            bow_epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--test-fraction") && v)
            test_fraction = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && v)
            seed = (uint64_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && v) {
            if (nb_set_threads(atoi(argv[++i])) != NB_OK) fc_die("--threads");
        } else {
            fprintf(stderr, "usage: fortune_classifier [--dir DIR] [--classes K] [--epochs N] "
                            "[--bow-epochs N] [--test-fraction F] [--seed S] [--threads T]\n");
            return 2;
        }
    }
    if (classes < 2 || epochs < 1 || bow_epochs < 1 || !(test_fraction > 0 && test_fraction < 1)) {
        fprintf(stderr, "fortune_classifier: --classes >= 2, --epochs >= 1, --bow-epochs >= 1 "
                        "and 0 < --test-fraction < 1\n");
        return 2;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("fortune_classifier: skipped: no folder %s (apt-get install fortunes-min)\n", dir);
        return 0;
    }
    char **paths;
    int n_paths;
    if (fc_largest_files(dir, classes, &paths, &n_paths) != 0 || n_paths < 2) {
        fprintf(stderr, "fortune_classifier: %s: fewer than 2 fortune files\n", dir);
        return 1;
    }

    /* the records as bytes (for the words and the tokenizer's corpus) */
    const char *special[] = {"<|pad|>"};
    nb_tokenizer *bytes, *bpe;
    if (nb_tokenizer_train(
            "", 0, &(nb_tokenizer_opts){.kind = NB_TOK_BYTE, .special = special, .n_special = 1},
            &bytes) != NB_OK)
        fc_die("the byte tokenizer");
    nb_textset all, train, test;
    if (nb_textset_load_fortunes((const char *const *)paths, n_paths, bytes,
                                 &(nb_textset_opts){.len = 4096}, &all) != NB_OK)
        fc_die(dir);
    if (nb_textset_split(&all, test_fraction, seed, &train, &test) != NB_OK) fc_die("the split");
    int64_t per_class[256] = {0}, largest = 0;
    for (int64_t i = 0; i < test.n; i++) per_class[test.labels[i] & 255]++;
    printf("%lld fortunes in %d categories (%lld for training, %lld for testing):\n",
           (long long)all.n, all.num_classes, (long long)train.n, (long long)test.n);
    for (int c = 0; c < all.num_classes; c++) {
        int64_t k = 0;
        for (int64_t i = 0; i < all.n; i++) k += all.labels[i] == c;
        printf("  %-16s %5lld\n", all.classes[c], (long long)k);
        if (per_class[c] > largest) largest = per_class[c];
    }
    printf("always the largest class: test accuracy %.4f\n", (double)largest / (double)test.n);

    /* the baseline */
    fc_vocab v;
    if (fc_vocab_build(&train, 2, &v) != 0) {
        fprintf(stderr, "fortune_classifier: out of memory counting the words\n");
        return 1;
    }
    printf("\nbag of words: %d words in at least 2 training fortunes (of %d)\n", v.n_features,
           v.n_words);
    nb_model *bow = fc_bow_model(v.n_features, all.num_classes, seed);
    if (!bow) fc_die("the baseline");
    fc_opts bo = {.epochs = bow_epochs, .batch = 64, .lr = 1e-2, .seed = seed, .verbose = 1};
    if (isnan(fc_train(bow, &train, &v, &bo, &test))) fc_die("training the baseline");
    double bow_acc = fc_accuracy(bow, &test, &v);

    /* the network, on BPE tokens learned from the training records */
    size_t text_len = 0;
    char *text = fc_records_text(&train, &text_len);
    if (!text) fc_die("memory");
    if (nb_tokenizer_train(
            text, text_len,
            &(nb_tokenizer_opts){
                .kind = NB_TOK_BPE, .vocab_size = 2048, .special = special, .n_special = 1},
            &bpe) != NB_OK)
        fc_die("the BPE tokenizer");
    free(text);
    nb_textset tall, ttrain, ttest;
    const int64_t T = 64;
    if (nb_textset_load_fortunes((const char *const *)paths, n_paths, bpe,
                                 &(nb_textset_opts){.len = T}, &tall) != NB_OK)
        fc_die(dir);
    if (tall.n != all.n) {
        fprintf(stderr, "fortune_classifier: %lld records as tokens, %lld as bytes\n",
                (long long)tall.n, (long long)all.n);
        return 1;
    }
    if (nb_textset_split(&tall, test_fraction, seed, &ttrain, &ttest) != NB_OK) fc_die("the split");
    printf("\nGRU: %lld BPE tokens, records cut to %lld tokens (%lld were longer)\n",
           (long long)nb_tokenizer_vocab_size(bpe), (long long)T, (long long)tall.truncated);
    nb_model *gru =
        fc_gru_model(nb_tokenizer_vocab_size(bpe), tall.pad_id, T, 64, 128, all.num_classes, seed);
    if (!gru) fc_die("the network");
    nb_model_summary(gru, stdout);
    fc_opts go = {.epochs = epochs, .batch = 32, .lr = 2e-3, .seed = seed, .verbose = 1};
    if (isnan(fc_train(gru, &ttrain, NULL, &go, &ttest))) fc_die("training the network");
    double gru_acc = fc_accuracy(gru, &ttest, NULL);

    printf("\ntest accuracy: bag-of-words softmax regression %.4f, GRU %.4f (%lld test "
           "fortunes, %d classes; always the largest: %.4f)\n",
           bow_acc, gru_acc, (long long)test.n, all.num_classes, (double)largest / (double)test.n);

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
    fc_free_paths(paths, n_paths);
    return 0;
}
