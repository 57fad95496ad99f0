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
 *     fmnist_cnn [--data DIR] [--epochs E] [--batch B] [--sgd] [--lr LR] [--limit N]
 *                [--augment] [--threads T]
 *
 * DIR holds the four files of the data set (train-images-idx3-ubyte.gz, ...; default
 * /usr/share/datasets/fashion-mnist). --limit trains on the first N images only (a quick
 * look); --augment shifts images by up to 2 pixels and flips half of them left to right.
 *
 * The IDX reader here is a minimal local one that decompresses through the gzip program
 * (nabla's own reader, nb_idx_read in nabla/data.h, reads gzip files directly when the build
 * has zlib). */
#define _POSIX_C_SOURCE 200809L
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a minimal IDX reader: big-endian magic 0x0000080N (N dimensions of u8), the
 * dimensions as u32, then the bytes ---------------------------------------------------------- */

typedef struct idx {
    int rank;
    int64_t dims[3];
    int64_t count;
    unsigned char *data;
} idx;

static int read_idx(const char *dir, const char *file, int want_rank, idx *out) {
    char path[1024], cmd[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (strchr(path, '\'')) {
        fprintf(stderr, "fmnist_cnn: the data path must not contain a quote: %s\n", path);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f) {
        perror("fmnist_cnn: gzip");
        return -1;
    }
    unsigned char h[16];
    size_t hl = 4 + 4 * (size_t)want_rank;
    int ok = fread(h, 1, hl, f) == hl && h[0] == 0 && h[1] == 0 && h[2] == 8 &&
             h[3] == want_rank;
    out->rank = want_rank;
    out->count = 1;
    for (int d = 0; ok && d < want_rank; d++) {
        const unsigned char *p = h + 4 + 4 * d;
        out->dims[d] = ((int64_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
        ok = out->dims[d] > 0 && out->dims[d] < 100000000;
        out->count *= out->dims[d];
    }
    out->data = ok ? malloc((size_t)out->count) : NULL;
    ok = ok && out->data && fread(out->data, 1, (size_t)out->count, f) == (size_t)out->count &&
         fgetc(f) == EOF;
    int rc = pclose(f);
    if (!ok || rc != 0) {
        fprintf(stderr, "fmnist_cnn: cannot read %s (missing, not a u8 IDX file of rank %d, or "
                "truncated)\n", path, want_rank);
        free(out->data);
        return -1;
    }
    return 0;
}

/* ---- training --------------------------------------------------------------------------- */

static void die(const char *what) {
    fprintf(stderr, "fmnist_cnn: %s: %s\n", what, nb_last_error());
    exit(1);
}

/* Images n = idx[i0..i0+b) as f32 in [0, 1], labels as i32. */
static void gather(const idx *im, const idx *lab, const int64_t *order, int64_t i0, int64_t b,
                   float *x, int32_t *y) {
    for (int64_t k = 0; k < b; k++) {
        int64_t n = order ? order[i0 + k] : i0 + k;
        const unsigned char *src = im->data + n * 784;
        for (int p = 0; p < 784; p++) x[k * 784 + p] = (float)src[p] * (1.0f / 255.0f);
        y[k] = lab->data[n];
    }
}

/* Accuracy on the test set, in inference mode, 1000 images at a time. */
static double evaluate(nb_model *m, nb_ctx *ctx, const idx *im, const idx *lab, float *x,
                       int32_t *y) {
    int was = nb_model_train(m, 0);
    int64_t right = 0;
    for (int64_t i0 = 0; i0 < im->dims[0]; i0 += 1000) {
        int64_t b = im->dims[0] - i0 < 1000 ? im->dims[0] - i0 : 1000;
        gather(im, lab, NULL, i0, b, x, y);
        nb_ctx_reset(ctx);
        nb_grad_enabled(ctx, 0);
        nb_tensor *xt = nb_tensor_from(ctx, NB_F32, x, NB_DIMS(b, 1, 28, 28));
        nb_tensor *pred = nb_argmax(ctx, nb_model_forward(m, ctx, xt), 1, 0);
        if (!pred) die("evaluation");
        for (int64_t k = 0; k < b; k++) right += nb_i32(pred)[k] == y[k];
    }
    nb_grad_enabled(ctx, 1);
    nb_model_train(m, was);
    return (double)right / (double)im->dims[0];
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int epochs = 10, batch = 64, use_sgd = 0, augment = 0;
    double lr = 0.0;
    int64_t limit = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc) lr = atof(argv[++i]);
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) limit = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) setenv("NB_THREADS", argv[++i], 1);
        else if (!strcmp(argv[i], "--sgd")) use_sgd = 1;
        else if (!strcmp(argv[i], "--augment")) augment = 1;
        else {
            fprintf(stderr, "usage: fmnist_cnn [--data DIR] [--epochs E] [--batch B] [--sgd] "
                            "[--lr LR] [--limit N] [--augment] [--threads T]\n");
            return 2;
        }
    }
    if (epochs < 1 || batch < 1) return 2;
    idx tr_x, tr_y, te_x, te_y;
    if (read_idx(dir, "train-images-idx3-ubyte.gz", 3, &tr_x) ||
        read_idx(dir, "train-labels-idx1-ubyte.gz", 1, &tr_y) ||
        read_idx(dir, "t10k-images-idx3-ubyte.gz", 3, &te_x) ||
        read_idx(dir, "t10k-labels-idx1-ubyte.gz", 1, &te_y))
        return 1;
    if (tr_x.dims[1] != 28 || tr_x.dims[2] != 28 || tr_y.dims[0] != tr_x.dims[0] ||
        te_y.dims[0] != te_x.dims[0]) {
        fprintf(stderr, "fmnist_cnn: unexpected shapes in %s\n", dir);
        return 1;
    }
    int64_t n_train = limit > 0 && limit < tr_x.dims[0] ? limit : tr_x.dims[0];
    printf("Fashion-MNIST: %lld training images (of %lld), %lld test images\n",
           (long long)n_train, (long long)tr_x.dims[0], (long long)te_x.dims[0]);

    nb_model *m = nb_model_new(NB_DIMS(1, 28, 28), 42);
    if (!m || nb_model_conv2d(m, 32, 5, NB_ACT_RELU) || nb_model_maxpool2d(m, 2, 0) ||
        nb_model_conv2d(m, 64, 5, NB_ACT_RELU) || nb_model_maxpool2d(m, 2, 0) ||
        nb_model_flatten(m) || nb_model_dense(m, 128, NB_ACT_RELU) ||
        nb_model_dense(m, 10, NB_ACT_NONE))
        die("building the model");
    nb_model_summary(m, stdout);
    nb_optim *opt;
    if (use_sgd) {
        nb_sgd_opts o = nb_sgd_defaults(lr > 0 ? lr : 0.05);
        o.momentum = 0.9;
        opt = nb_sgd_new(nb_model_params(m), &o);
    } else {
        nb_adam_opts o = nb_adam_defaults(lr > 0 ? lr : 1e-3);
        opt = nb_adam_new(nb_model_params(m), &o);
    }
    nb_ctx *ctx = nb_ctx_new(NULL);
    int64_t eval_b = 1000 > batch ? 1000 : batch;
    float *x = malloc(sizeof(float) * 784 * (size_t)eval_b);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)eval_b);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n_train);
    if (!opt || !ctx || !x || !y || !order) die("setup");
    for (int64_t i = 0; i < n_train; i++) order[i] = i;
    nb_rng rng;
    nb_rng_seed(&rng, 7);
    nb_augment_opts aug = {.pad = 2, .flip_p = 0.5f};

    for (int epoch = 1; epoch <= epochs; epoch++) {
        nb_rng_shuffle_i64(&rng, order, n_train);
        double t0 = nb_time(), loss_sum = 0.0, t_report = t0;
        int64_t seen = 0, right = 0, steps = (n_train + batch - 1) / batch;
        for (int64_t s = 0; s < steps; s++) {
            int64_t b = n_train - s * batch < batch ? n_train - s * batch : batch;
            gather(&tr_x, &tr_y, order, s * batch, b, x, y);
            nb_ctx_reset(ctx);
            nb_tensor *xt = nb_tensor_from(ctx, NB_F32, x, NB_DIMS(b, 1, 28, 28));
            nb_tensor *yt = nb_tensor_from(ctx, NB_I32, y, NB_DIMS(b));
            if (augment && nb_augment_batch(xt, xt, &aug, &rng) != NB_OK) die("augment");
            nb_tensor *logits = nb_model_forward(m, ctx, xt);
            nb_tensor *loss = nb_cross_entropy(ctx, logits, yt, NB_REDUCE_MEAN);
            nb_optim_zero_grad(opt);
            if (nb_backward(ctx, loss) != NB_OK || nb_optim_step(opt) != NB_OK) die("step");
            loss_sum += nb_item(loss) * (double)b;
            nb_tensor *pred = nb_argmax(ctx, logits, 1, 0);
            for (int64_t k = 0; pred && k < b; k++) right += nb_i32(pred)[k] == y[k];
            seen += b;
            double now = nb_time();
            if (now - t_report > 5.0 || s == steps - 1) {
                printf("\repoch %d  %6lld/%lld  loss %.4f  train accuracy %.4f  %.0f samples/s",
                       epoch, (long long)seen, (long long)n_train, loss_sum / (double)seen,
                       (double)right / (double)seen, (double)seen / (now - t0));
                fflush(stdout);
                t_report = now;
            }
        }
        double acc = evaluate(m, ctx, &te_x, &te_y, x, y);
        printf("\n  test accuracy %.4f (%.1f s)\n", acc, nb_time() - t0);
    }
    free(x);
    free(y);
    free(order);
    free(tr_x.data);
    free(tr_y.data);
    free(te_x.data);
    free(te_y.data);
    nb_optim_free(opt);
    nb_ctx_free(ctx);
    nb_model_free(m);
    return 0;
}
