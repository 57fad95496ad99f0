/* examples/digits.c — a classifier for the 8×8 handwritten digits (data/digits/, 1797
 * samples of 64 pixels valued 0..16, UCI / scikit-learn; see data/digits/README.md).
 *
 *   data      a fixed 80/20 train/test split (seed 1); pixels scaled to [0, 1] by x / 16;
 *             10% of the training part held out for validation each epoch
 *   model     64 → 64 (ReLU) → 10 logits, softmax cross-entropy
 *   training  Adam with a cosine learning rate set per epoch (3e-3 down to 1e-4), batches of 32,
 *             30 epochs
 *
 * Prints one progress line (or a live bar on a terminal) per epoch, then the test accuracy
 * and the confusion matrix. Run from the repository root, or give the CSV's path:
 *     build/examples/digits [path/to/digits.csv] [--epochs N] [--csv log.csv] [--svg plot.svg] */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *path = "data/digits/digits.csv", *csv = NULL, *svg = NULL;
    int64_t epochs = 30;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoll(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
            csv = argv[++i];
        else if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc)
            svg = argv[++i];
        else if (argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: %s [digits.csv] [--epochs N] [--csv FILE] [--svg FILE]\n",
                    argv[0]);
            return 2;
        }
    }

    nb_dataset *all = NULL, *train = NULL, *test = NULL;
    nb_model *net = NULL;
    nb_optim *adam = NULL;
    nb_metrics *mt = NULL;
    nb_history hist = {0};
    nb_norm norm = {0};
    int rc = 1;

    /* the label is the last column, "digit"; every other column is a pixel */
    if (nb_dataset_load_csv(path, NULL, &all) != NB_OK) goto fail;
    if (nb_dataset_split(all, 0.2, 1, &train, &test) != NB_OK) goto fail;
    if (nb_norm_const(&norm, 0.0f, 16.0f) != NB_OK) goto fail;
    printf("digits: %lld samples, %lld for training, %lld for testing\n",
           (long long)nb_dataset_len(all), (long long)nb_dataset_len(train),
           (long long)nb_dataset_len(test));

    net = nb_model_new(NB_DIMS(64), 42);
    if (!net || nb_model_dense(net, 64, NB_ACT_RELU) || nb_model_dense(net, 10, NB_ACT_NONE))
        goto fail;
    nb_model_summary(net, stdout);
    adam = nb_adam_new(nb_model_params(net), &(nb_adam_opts){.lr = 1e-3});
    if (!adam) goto fail;

    nb_schedule cos = nb_schedule_cosine(3e-3, epochs, 1e-4);
    /* every field not named is 0: its default (batch 32, cross-entropy, ...) */
    nb_fit_opts fo = {.epochs = epochs,
                      .metrics = NB_METRIC_ACCURACY,
                      .seed = 7,
                      .norm = &norm,
                      .val_split = 0.1,
                      .schedule = &cos,
                      .schedule_per_epoch = 1,
                      .progress = stdout,
                      .csv_path = csv,
                      .svg_path = svg};
    fflush(stdout);
    if (nb_fit(net, adam, train, &fo, &hist) != NB_OK) goto fail;

    mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY | NB_METRIC_CONFUSION, 10, 0);
    if (!mt || nb_evaluate(net, test, &(nb_eval_opts){.norm = &norm}, mt) != NB_OK) goto fail;
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    printf("test: loss %.4f, accuracy %.2f%% (%lld samples)\n", v.loss, 100.0 * v.accuracy,
           (long long)v.count);
    int k;
    const int64_t *cm = nb_metrics_confusion(mt, &k);
    nb_confusion_print(cm, k, NULL, stdout);
    rc = v.accuracy >= 0.95 ? 0 : 3;
    if (rc) fprintf(stderr, "digits: test accuracy below 95%%\n");
    goto out;
fail:
    fprintf(stderr, "digits: %s\n", nb_last_error());
out:
    nb_metrics_free(mt);
    nb_history_free(&hist);
    nb_norm_free(&norm);
    nb_optim_free(adam);
    nb_model_free(net);
    nb_dataset_free(test);
    nb_dataset_free(train);
    nb_dataset_free(all);
    return rc;
}
