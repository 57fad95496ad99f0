/* examples/spoken_digits.c — a small CNN learns to recognise the digits "zero" … "nine" spoken
 * by synthetic voices it has never heard.
 *
 *     sh data/speech/make_digits.sh            # once: the corpus (see its top comment)
 *     spoken_digits [--data DIR] [--epochs E] [--copies K] [--threads T]
 *
 * DIR (default data/speech/digits) holds train.csv and test.csv, split by speaker: no voice
 * of the test set is in the training set. Every clip becomes a 1-second log-mel spectrogram
 * (40 bands, 25 ms frames every 10 ms, normalised per utterance), decoded and featurised once
 * into memory; --copies adds K augmented versions of every training clip (speed 0.9 – 1.1,
 * shifts of up to 0.1 s, gain ±6 dB, noise at 15 – 30 dB SNR half of the time).
 *
 *   [N, 1, 40, 101] → conv 3x3 → 16, ReLU, max-pool 2 → conv 3x3 → 32, ReLU, max-pool 2
 *   → flatten (32·8·23) → dense 64, ReLU → dense 10
 *
 * trained with Adam (lr 1e-3, batch 64), printing progress, then the test accuracy and the
 * confusion matrix. Without the corpus it says how to make it and stops. */
#define _POSIX_C_SOURCE 200809L
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void die(const char *what) {
    fprintf(stderr, "spoken_digits: %s: %s\n", what, nb_last_error());
    exit(1);
}

int main(int argc, char **argv) {
    const char *dir = "data/speech/digits";
    int epochs = 8, copies = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--copies") == 0 && i + 1 < argc)
            copies = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (nb_set_threads(atoi(argv[++i])) != NB_OK) die("--threads");
        } else {
            fprintf(stderr, "usage: spoken_digits [--data DIR] [--epochs E] [--copies K] "
                            "[--threads T]\n");
            return 2;
        }
    }
    char train_csv[512], test_csv[512];
    snprintf(train_csv, sizeof train_csv, "%s/train.csv", dir);
    snprintf(test_csv, sizeof test_csv, "%s/test.csv", dir);
    struct stat sb;
    if (stat(train_csv, &sb) != 0) {
        printf("spoken_digits: no corpus in %s; make it with\n"
               "    sh data/speech/make_digits.sh -o %s\n"
               "(needs espeak-ng and sox: apt-get install espeak-ng sox)\n",
               dir, dir);
        return 0;
    }

    /* the features: 1 s of 16 kHz audio → [40 mel bands, 101 frames] */
    nb_features f = nb_features_default();
    f.length = 16000;
    f.align = NB_ALIGN_CENTER;
    f.norm = NB_UTT_MEANVAR;
    char text[1024];
    nb_features_format(&f, text, sizeof text);
    printf("features: %s\n", text);
    nb_audio_aug aug = {0.9, 1.1, 0.1, -6, 6, 0.5, 15, 30};
    nb_audio_data_opts o = {.features = &f, .copies = copies, .aug = &aug, .seed = 7};
    nb_dataset *train, *test;
    double t0 = nb_time();
    if (nb_audio_dataset_load(train_csv, &o, &train, NULL) != NB_OK) die(train_csv);
    o.copies = 0;
    if (nb_audio_dataset_load(test_csv, &o, &test, NULL) != NB_OK) die(test_csv);
    printf("featurised %lld training and %lld test samples in %.1f s\n",
           (long long)nb_dataset_len(train), (long long)nb_dataset_len(test), nb_time() - t0);

    nb_model *m = nb_model_new(NB_DIMS(1, 40, 101), 42);
    if (!m || nb_model_conv2d(m, 16, 3, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_conv2d(m, 32, 3, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_flatten(m) || nb_model_dense(m, 64, NB_ACT_RELU) ||
        nb_model_dense(m, 10, NB_ACT_NONE))
        die("model");
    nb_model_summary(m, stdout);
    nb_adam_opts ao = {.lr = 1e-3};
    nb_optim *opt = nb_adam_new(nb_model_params(m), &ao);
    if (!opt) die("optimizer");
    nb_fit_opts fo = {0};
    fo.epochs = epochs;
    fo.batch_size = 64;
    fo.metrics = NB_METRIC_ACCURACY;
    fo.val = test;
    fo.prefetch = 1;
    fo.progress = stdout;
    fo.seed = 1;
    if (nb_fit(m, opt, train, &fo, NULL) != NB_OK) die("fit");

    nb_metrics *mt =
        nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY | NB_METRIC_CONFUSION, 10, 0);
    if (!mt || nb_evaluate(m, test, NULL, mt) != NB_OK) die("evaluate");
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    printf("test accuracy on unheard speakers: %.2f%% (%lld clips)\n", 100.0 * v.accuracy,
           (long long)v.count);
    int k;
    const int64_t *cm = nb_metrics_confusion(mt, &k);
    static const char *const names[10] = {"zero", "one", "two",   "three", "four",
                                          "five", "six", "seven", "eight", "nine"};
    nb_confusion_print(cm, k, names, stdout);
    nb_metrics_free(mt);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return 0;
}
