/* examples/fmnist_cnn.c — a convolutional network learns Fashion-MNIST (28x28 grey images of
 * clothes, 10 classes):
 *
 *   conv 5x5 1→32, ReLU, max-pool 2        [N, 1, 28, 28] → [N, 32, 24, 24] → [N, 32, 12, 12]
 *   conv 5x5 32→64, ReLU, max-pool 2                       → [N, 64, 8, 8]   → [N, 64, 4, 4]
 *   flatten, dense 1024→128, ReLU, dense 128→10            → [N, 1024] → [N, 128] → [N, 10]
 *
 * trained with softmax cross-entropy and Adam (lr 1e-3, batch 64), printing progress and the
 * test accuracy after every epoch. PyTorch's twin of one training step is bench/torch/cnn.py.
 *
 *     fmnist_cnn [--model issue|strong] [--data DIR] [--epochs E] [--batch B] [--sgd]
 *                [--lr LR] [--limit N] [--augment] [--threads T]
 *
 * --model strong trains a deeper network instead (3x3 convolutions with batch norm, max
 * pooling and dropout; see strong_cnn below), aiming at the top of the published tables for
 * small CNNs on this data set.
 * DIR holds the four files of the data set (train-images-idx3-ubyte.gz, ...; default
 * /usr/share/datasets/fashion-mnist). --limit trains on the first N images only (a quick
 * look); --augment shifts images by up to 2 pixels and flips half of them left to right.
 *
 * The data come through nabla's data module (nabla/data.h): the gzip IDX files are read
 * (with zlib), kept as bytes, and scaled to [0, 1] batch by batch by a shuffling loader that
 * prepares the next batch on a background thread. */
#define _POSIX_C_SOURCE 200809L
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what) {
    fprintf(stderr, "fmnist_cnn: %s: %s\n", what, nb_last_error());
    exit(1);
}

/* The network of the issue (see the top of the file). */
static nb_model *issue_cnn(void) {
    nb_model *m = nb_model_new(NB_DIMS(1, 28, 28), 42);
    if (!m || nb_model_conv2d(m, 32, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_conv2d(m, 64, 5, NB_ACT_RELU) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_flatten(m) || nb_model_dense(m, 128, NB_ACT_RELU) ||
        nb_model_dense(m, 10, NB_ACT_NONE)) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* conv 3x3 (same padding, no bias) → batch norm → ReLU */
static nb_status conv_bn_relu(nb_model *m, int64_t filters) {
    nb_conv2d_opts o = {.kernel = {3, 3}, .same = 1, .no_bias = 1};
    nb_status s = nb_model_conv2d_with(m, filters, &o);
    if (s == NB_OK) s = nb_model_batch_norm(m);
    if (s == NB_OK) s = nb_model_activation(m, NB_ACT_RELU, 0.0f);
    return s;
}

/* --model strong: two blocks of two 3x3 convolutions with batch norm, max-pooling and
 * dropout, then a dense layer with dropout (a VGG-style net for 28x28 images):
 *   [1,28,28] → 2 x conv32 → pool → [32,14,14] → 2 x conv64 → pool → [64,7,7]
 *   → dense 256 (batch norm, ReLU, dropout 0.5) → dense 10 */
static nb_model *strong_cnn(void) {
    nb_model *m = nb_model_new(NB_DIMS(1, 28, 28), 42);
    if (!m || conv_bn_relu(m, 32) || conv_bn_relu(m, 32) || nb_model_max_pool2d(m, 2, 0) ||
        nb_model_dropout(m, 0.25f) || conv_bn_relu(m, 64) || conv_bn_relu(m, 64) ||
        nb_model_max_pool2d(m, 2, 0) || nb_model_dropout(m, 0.25f) || nb_model_flatten(m) ||
        nb_model_dense_with(m, 256, &(nb_dense_opts){.no_bias = 1}) || nb_model_batch_norm(m) ||
        nb_model_activation(m, NB_ACT_RELU, 0.0f) || nb_model_dropout(m, 0.5f) ||
        nb_model_dense(m, 10, NB_ACT_NONE)) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* A batch [b, 28, 28] from the loader as the model's [b, 1, 28, 28] (a view). */
static nb_tensor *images(nb_ctx *ctx, nb_tensor *x) {
    return nb_reshape(ctx, x, 4, (int64_t[]){x->shape[0], 1, 28, 28});
}

/* Accuracy on the test set, in inference mode. */
static double evaluate(nb_model *m, nb_ctx *ctx, nb_loader *test) {
    int was = nb_model_training(m);
    nb_model_set_training(m, 0);
    int64_t right = 0, seen = 0;
    if (nb_loader_epoch(test, NULL) != NB_OK) die("test loader");
    for (;;) {
        nb_ctx_reset(ctx);
        nb_ctx_set_grad(ctx, 0);
        nb_batch b;
        if (nb_loader_next(test, ctx, &b) != NB_OK) die("test loader");
        if (b.size == 0) break;
        nb_tensor *pred = nb_argmax(ctx, nb_model_forward(m, ctx, images(ctx, b.x)), 1, 0);
        if (!pred) die("evaluation");
        for (int64_t k = 0; k < b.size; k++) right += nb_i32(pred)[k] == nb_i32(b.y)[k];
        seen += b.size;
    }
    nb_ctx_set_grad(ctx, 1);
    nb_model_set_training(m, was);
    return (double)right / (double)seen;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int epochs = 10, batch = 64, use_sgd = 0, augment = 0, strong = 0, threads = 0;
    double lr = 0.0;
    int64_t limit = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc)
            lr = atof(argv[++i]);
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
            limit = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sgd"))
            use_sgd = 1;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            strong = !strcmp(argv[++i], "strong");
        else if (!strcmp(argv[i], "--augment"))
            augment = 1;
        else {
            fprintf(stderr, "usage: fmnist_cnn [--model issue|strong] [--data DIR] [--epochs E] "
                            "[--batch B] [--sgd] [--lr LR] [--limit N] [--augment] "
                            "[--threads T]\n");
            return 2;
        }
    }
    if (epochs < 1 || batch < 1) return 2;
    if (threads > 0 && nb_set_threads(threads) != NB_OK) die("--threads");
    char p[4][1024];
    static const char *const files[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 4; i++) snprintf(p[i], sizeof p[i], "%s/%s", dir, files[i]);
    nb_dataset *train_all = NULL, *train = NULL, *test = NULL;
    if (nb_dataset_load_idx(p[0], p[1], &train_all) != NB_OK ||
        nb_dataset_load_idx(p[2], p[3], &test) != NB_OK)
        die("loading Fashion-MNIST");
    int64_t n_all = nb_dataset_len(train_all);
    int64_t n_train = limit > 0 && limit < n_all ? limit : n_all;
    int64_t *first = malloc(sizeof(int64_t) * (size_t)n_train);
    for (int64_t i = 0; first && i < n_train; i++) first[i] = i;
    if (!first || nb_dataset_subset(train_all, first, n_train, &train) != NB_OK) die("subset");
    free(first);
    printf("Fashion-MNIST: %lld training images (of %lld), %lld test images\n", (long long)n_train,
           (long long)n_all, (long long)nb_dataset_len(test));
    nb_norm to_unit; /* bytes to [0, 1] */
    nb_loader *train_ld = NULL, *test_ld = NULL;
    if (nb_norm_const(&to_unit, 0.0f, 255.0f) != NB_OK ||
        nb_loader_new(
            train,
            &(nb_loader_opts){.batch_size = batch, .shuffle = 1, .prefetch = 1, .norm = &to_unit},
            &train_ld) != NB_OK ||
        nb_loader_new(test, &(nb_loader_opts){.batch_size = 250, .norm = &to_unit}, &test_ld) !=
            NB_OK)
        die("loaders");

    nb_model *m = strong ? strong_cnn() : issue_cnn();
    if (!m) die("building the model");
    nb_model_summary(m, stdout);
    nb_optim *opt;
    if (use_sgd)
        opt = nb_sgd_new(nb_model_params(m),
                         &(nb_sgd_opts){.lr = lr > 0 ? lr : 0.05, .momentum = 0.9});
    else /* lr 0: Adam's default, 1e-3 */
        opt = nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = lr > 0 ? lr : 0});
    nb_ctx *ctx = nb_ctx_new(NULL);
    if (!opt || !ctx) die("setup");
    nb_rng rng, drop_rng;
    nb_rng_seed(&rng, 7);
    nb_rng_seed(&drop_rng, 8);
    nb_augment_opts aug = {.pad = 2, .flip_p = 0.5f};

    for (int epoch = 1; epoch <= epochs; epoch++) {
        if (nb_loader_epoch(train_ld, &rng) != NB_OK) die("loader");
        double t0 = nb_time(), loss_sum = 0.0, t_report = t0;
        int64_t seen = 0, right = 0;
        for (;;) {
            nb_ctx_reset(ctx);
            nb_batch b;
            if (nb_loader_next(train_ld, ctx, &b) != NB_OK) die("loader");
            if (b.size == 0) break;
            nb_tensor *x = images(ctx, b.x);
            if (augment && nb_augment_batch(x, x, &aug, &rng) != NB_OK) die("augment");
            nb_tensor *logits = nb_model_forward_rng(m, ctx, x, &drop_rng); /* dropout draws */
            nb_tensor *loss = nb_cross_entropy(ctx, logits, b.y, NB_REDUCE_MEAN);
            nb_optim_zero_grad(opt);
            if (nb_backward(ctx, loss) != NB_OK || nb_optim_step(opt) != NB_OK) die("step");
            loss_sum += nb_item(loss) * (double)b.size;
            nb_tensor *pred = nb_argmax(ctx, logits, 1, 0);
            for (int64_t k = 0; pred && k < b.size; k++) right += nb_i32(pred)[k] == nb_i32(b.y)[k];
            seen += b.size;
            double now = nb_time();
            if (now - t_report > 5.0) {
                printf("epoch %d  %6lld/%lld  loss %.4f  train accuracy %.4f  %.0f samples/s\n",
                       epoch, (long long)seen, (long long)n_train, loss_sum / (double)seen,
                       (double)right / (double)seen, (double)seen / (now - t0));
                fflush(stdout);
                t_report = now;
            }
        }
        double dt = nb_time() - t0, acc = evaluate(m, ctx, test_ld);
        printf("epoch %d  loss %.4f  train accuracy %.4f  test accuracy %.4f  (%.1f s, %.0f "
               "samples/s)\n",
               epoch, loss_sum / (double)seen, (double)right / (double)seen, acc, dt,
               (double)seen / dt);
        fflush(stdout);
    }
    nb_loader_free(train_ld);
    nb_loader_free(test_ld);
    nb_norm_free(&to_unit);
    nb_dataset_free(train);
    nb_dataset_free(train_all);
    nb_dataset_free(test);
    nb_optim_free(opt);
    nb_ctx_free(ctx);
    nb_model_free(m);
    return 0;
}
