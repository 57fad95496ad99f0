/* examples/fmnist_mlp.c — the Fashion-MNIST multilayer perceptron 784-256-128-10 (ReLU).
 *
 *   data      the IDX files of Fashion-MNIST (60 000 training and 10 000 test images of 28×28
 *             bytes, Debian package dataset-fashion-mnist); pixels scaled to [0, 1] by x / 255
 *   model     784 → 256 (ReLU) → 128 (ReLU) → 10 logits, PyTorch's nn.Linear initialisation
 *             (weights and biases U(±1/sqrt(fan_in))), softmax cross-entropy
 *   training  Adam, lr 1e-3, batches of 64, shuffled each epoch (seed 1)
 *
 * bench/torch/fmnist.py trains the same recipe in PyTorch. This program prints progress,
 * then the test accuracy, the training speed and the peak resident memory:
 *     build/examples/fmnist_mlp [--epochs N] [--data DIR] [--seed S] [--prefetch]
 *                               [--test-each-epoch] [--csv FILE] [--svg FILE] [--quiet]
 * --test-each-epoch reports the test set's loss and accuracy after every epoch (as val_*),
 * to follow accuracy against epochs; nothing is decided from them (no early stopping). */
#define _POSIX_C_SOURCE 200809L
#include <nabla.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* U(±1/sqrt(fan_in)) for weight and bias: what torch.nn.Linear draws by default. */
static nb_status dense_torch(nb_model *m, int64_t in, int64_t units, nb_activation act) {
    float b = (float)(1.0 / sqrt((double)in));
    nb_dense_opts o = {.activation = act,
                       .weight_init = {.kind = NB_INIT_UNIFORM, .a = -b, .b = b},
                       .bias_init = {.kind = NB_INIT_UNIFORM, .a = -b, .b = b}};
    return nb_model_dense_with(m, units, &o);
}

static nb_status load(const char *dir, const char *images, const char *labels, nb_dataset **out) {
    char ip[1024], lp[1024];
    snprintf(ip, sizeof ip, "%s/%s", dir, images);
    snprintf(lp, sizeof lp, "%s/%s", dir, labels);
    return nb_dataset_load_idx(ip, lp, out);
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist", *csv = NULL, *svg = NULL;
    int64_t epochs = 1;
    uint64_t seed = 1;
    int prefetch = 0, quiet = 0, test_each = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoll(argv[++i]);
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
            csv = argv[++i];
        else if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc)
            svg = argv[++i];
        else if (strcmp(argv[i], "--prefetch") == 0)
            prefetch = 1;
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (strcmp(argv[i], "--test-each-epoch") == 0)
            test_each = 1;
        else {
            fprintf(stderr, "usage: %s [--epochs N] [--data DIR] [--seed S] [--prefetch] "
                    "[--test-each-epoch] [--csv FILE] [--svg FILE] [--quiet]\n", argv[0]);
            return 2;
        }
    }
    if (epochs < 1) {
        fprintf(stderr, "fmnist_mlp: --epochs must be >= 1\n");
        return 2;
    }

    nb_dataset *train = NULL, *test = NULL;
    nb_model *net = NULL;
    nb_optim *adam = NULL;
    nb_metrics *mt = NULL;
    nb_history hist = {0};
    nb_norm norm = {0};
    int rc = 1;

    double t0 = nb_time();
    if (load(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &train) != NB_OK ||
        load(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &test) != NB_OK ||
        nb_norm_const(&norm, 0.0f, 255.0f) != NB_OK)
        goto fail;
    printf("fashion-mnist: %lld training and %lld test images, loaded in %.2f s\n",
           (long long)nb_dataset_len(train), (long long)nb_dataset_len(test), nb_time() - t0);

    net = nb_model_new(NB_DIMS(784), seed);
    if (!net || dense_torch(net, 784, 256, NB_ACT_RELU) || dense_torch(net, 256, 128, NB_ACT_RELU) ||
        dense_torch(net, 128, 10, NB_ACT_NONE))
        goto fail;
    if (!quiet) nb_model_summary(net, stdout);
    adam = nb_adam_new(nb_model_params(net), &(nb_adam_opts){.lr = 1e-3});
    if (!adam) goto fail;

    nb_fit_opts fo = {.epochs = epochs,
                      .batch_size = 64,
                      .metrics = NB_METRIC_ACCURACY,
                      .seed = seed,
                      .norm = &norm,
                      .prefetch = prefetch,
                      .val = test_each ? test : NULL,
                      .progress = stdout,
                      .verbose = quiet && !test_each ? NB_VERBOSE_QUIET : 1,
                      .csv_path = csv,
                      .svg_path = svg};
    fflush(stdout);
    double t1 = nb_time();
    if (nb_fit(net, adam, train, &fo, &hist) != NB_OK) goto fail;
    double train_s = nb_time() - t1, fit_s = 0;
    for (int i = 0; i < hist.n; i++) fit_s += hist.rec[i].seconds;

    mt = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY | NB_METRIC_CONFUSION, 10, 0);
    if (!mt || nb_evaluate(net, test, &(nb_eval_opts){.norm = &norm}, mt) != NB_OK) goto fail;
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("test: loss %.4f, accuracy %.2f%% after %lld epoch%s\n", v.loss, 100.0 * v.accuracy,
           (long long)epochs, epochs == 1 ? "" : "s");
    printf("training: %.1f s for %lld epochs (%.0f samples/s in the training loops; %.1f s "
           "with the end-of-epoch work); peak RSS %.1f MB\n", fit_s, (long long)epochs,
           (double)nb_dataset_len(train) * (double)epochs / fit_s, train_s,
           (double)ru.ru_maxrss / 1024.0);
    if (!quiet) {
        int k;
        const int64_t *cm = nb_metrics_confusion(mt, &k);
        static const char *const names[10] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Boot"};
        nb_confusion_print(cm, k, names, stdout);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "fmnist_mlp: %s\n", nb_last_error());
out:
    nb_metrics_free(mt);
    nb_history_free(&hist);
    nb_norm_free(&norm);
    nb_optim_free(adam);
    nb_model_free(net);
    nb_dataset_free(test);
    nb_dataset_free(train);
    return rc;
}
