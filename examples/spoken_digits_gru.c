/* examples/spoken_digits_gru.c — a recurrent network learns to recognise the digits "zero" …
 * "nine" spoken by synthetic voices it has never heard: the C twin of
 * examples/specs/spoken_digits_gru.spec.
 *
 *     sh data/speech/make_digits.sh            # once: the corpus (see its top comment)
 *     spoken_digits_gru [--data DIR] [--epochs E] [--copies K] [--threads T]
 *
 * DIR (default data/speech/digits) holds train.csv and test.csv, split by speaker: no voice
 * of the test set is in the training set. Every clip becomes 1 second of 13 MFCCs (from 40
 * mel bands of 25 ms frames every 10 ms, normalised per utterance) taken as a sequence of 101
 * frames (frames_first), decoded and featurised once into memory; --copies adds K augmented
 * versions of every training clip (speed 0.9 – 1.1, shifts of up to 0.1 s, gain ±6 dB, noise at 15
 * – 30 dB SNR half of the time).
 *
 *   [N, 101, 13] → GRU 64 → [N, 101, 64] → mean over time → [N, 64] → dense 10
 *
 * trained with Adam (lr 3e-3, batch 32), printing progress, then the test accuracy and the
 * confusion matrix. Without the corpus it says how to make it and stops. */
#define _POSIX_C_SOURCE 200809L
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void die(const char *what) {
    fprintf(stderr, "spoken_digits_gru: %s: %s\n", what, nb_last_error());
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
            fprintf(stderr, "usage: spoken_digits_gru [--data DIR] [--epochs E] [--copies K] "
                            "[--threads T]\n");
            return 2;
        }
    }
    char train_csv[512], test_csv[512];
    snprintf(train_csv, sizeof train_csv, "%s/train.csv", dir);
    snprintf(test_csv, sizeof test_csv, "%s/test.csv", dir);
    struct stat sb;
    if (stat(train_csv, &sb) != 0) {
        printf("spoken_digits_gru: no corpus in %s; make it with\n"
               "    sh data/speech/make_digits.sh -o %s\n"
               "(needs espeak-ng and sox: apt-get install espeak-ng sox)\n",
               dir, dir);
        return 0;
    }

    /* the features: 1 s of 16 kHz audio → [40 mel bands, 101 frames] */
    nb_features f = {0}; /* the defaults */
    f.length = 16000;
    f.align = NB_ALIGN_CENTER;
    f.n_mfcc = 13;
    f.norm = NB_UTT_MEANVAR;
    char text[1024];
    nb_features_format(&f, text, sizeof text);
    printf("features: %s\n", text);
    nb_audio_aug aug = {0.9, 1.1, 0.1, -6, 6, 0.5, 15, 30};
    nb_audio_data_opts o = {
        .features = &f, .copies = copies, .aug = &aug, .seed = 7, .frames_first = 1};
    nb_dataset *train, *test;
    double t0 = nb_time();
    if (nb_audio_dataset_load(train_csv, &o, &train, NULL) != NB_OK) die(train_csv);
    o.copies = 0;
    if (nb_audio_dataset_load(test_csv, &o, &test, NULL) != NB_OK) die(test_csv);
    printf("featurised %lld training and %lld test samples in %.1f s\n",
           (long long)nb_dataset_len(train), (long long)nb_dataset_len(test), nb_time() - t0);

    nb_model *m = nb_model_new_graph(42);
    int h = nb_model_input(m, "mfcc", NB_F32, NB_DIMS(101, 13)); /* frames [T, F] */
    h = nb_model_gru_on(m, h, 64, NULL);                         /* y [T, 64], then h_n */
    h = nb_model_global_avg_pool1d_on(m, h, NULL);               /* the mean over time */
    h = nb_model_dense_on(m, h, 10, NULL);
    if (h < 0) die("model");
    nb_model_summary(m, stdout);
    nb_adam_opts ao = {.lr = 3e-3};
    nb_optim *opt = nb_adam_new(nb_model_params(m), &ao);
    if (!opt) die("optimizer");
    nb_fit_opts fo = {0};
    fo.epochs = epochs;
    fo.batch_size = 32;
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
