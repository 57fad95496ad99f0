/* test_augment — random shifts and flips of image batches: exact results of each transform
 * (against the crop-of-the-padded-image definition), in place against out of place, every
 * offset drawn with the right frequency, flips at the asked rate, all channels of a sample
 * moved together, determinism from the seed, and argument errors. */
#include "nbtest.h"

/* y = the H x W window at (oy, ox) of x padded by pad with fill (torchvision's crop) */
static void crop_padded(const float *x, int64_t H, int64_t W, int64_t pad, int64_t oy, int64_t ox,
                        float fill, float *y) {
    for (int64_t r = 0; r < H; r++)
        for (int64_t c = 0; c < W; c++) {
            int64_t sr = r + oy - pad, sc = c + ox - pad;
            y[r * W + c] = (sr < 0 || sr >= H || sc < 0 || sc >= W) ? fill : x[sr * W + sc];
        }
}

static void test_shift_is_a_crop(void) {
    enum { H = 4, W = 5, PAD = 6 };
    float x[H * W], y[H * W], want[H * W];
    for (int i = 0; i < H * W; i++) x[i] = (float)(i + 1);
    for (int64_t dy = -PAD; dy <= PAD; dy++)
        for (int64_t dx = -PAD; dx <= PAD; dx++) {
            memcpy(y, x, sizeof x);
            nb_augment_shift(y, 1, H, W, dy, dx, -1.0f);
            crop_padded(x, H, W, PAD, PAD - dy, PAD - dx, -1.0f, want);
            CHECK_MSG(memcmp(y, want, sizeof y) == 0, "shift (%lld, %lld)", (long long)dy,
                      (long long)dx);
        }
    /* one by hand: down 1, left 2 */
    memcpy(y, x, sizeof x);
    nb_augment_shift(y, 1, H, W, 1, -2, 0.0f);
    static const float hand[H * W] = {0, 0, 0,  0, 0, 3,  4,  5,  0, 0,
                                      8, 9, 10, 0, 0, 13, 14, 15, 0, 0};
    CHECK(memcmp(y, hand, sizeof y) == 0);
}

static void test_flip(void) {
    float x[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    static const float want[12] = {3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10};
    nb_augment_hflip(x, 2, 2, 3);
    CHECK(memcmp(x, want, sizeof x) == 0);
}

/* One bright pixel per channel at (3, 4) of a 7x9 image: where it lands shows the draw. */
static void test_batch_statistics(void) {
    enum { N = 4000, C = 2, H = 7, W = 9, PAD = 2 };
    nb_tensor *x = nb_zeros(NULL, NB_DIMS(N, C, H, W));
    nb_tensor *out = nb_zeros(NULL, NB_DIMS(N, C, H, W));
    if (!x || !out) return;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) nb_f32(x)[((n * C + c) * H + 3) * W + 4] = (float)(c + 1);
    nb_rng rng, again;
    nb_rng_seed(&rng, 8);
    again = rng;
    nb_augment_opts o = {.pad = PAD, .flip_p = 0.5f};
    CHECK_OK(nb_augment_batch(x, out, &o, &rng));
    int count[2 * PAD + 1][2 * PAD + 1];
    memset(count, 0, sizeof count);
    for (int n = 0; n < N; n++) {
        int at[C];
        for (int c = 0; c < C; c++) {
            at[c] = -1;
            for (int k = 0; k < H * W; k++)
                if (nb_f32(out)[(n * C + c) * H * W + k] != 0.0f) {
                    CHECK(at[c] < 0 && nb_f32(out)[(n * C + c) * H * W + k] == (float)(c + 1));
                    at[c] = k;
                }
        }
        CHECK(at[0] >= 0 && at[0] == at[1]); /* channels move together */
        if (at[0] < 0) continue;
        int r = at[0] / W, col = at[0] % W;
        int dy = r - 3;
        CHECK(dy >= -PAD && dy <= PAD && col >= 4 - PAD && col <= 4 + PAD);
        count[dy + PAD][col - 4 + PAD]++;
    }
    /* The pixel lands at row 3 + dy and column 4 + dx, or 4 − dx after a flip (W − 1 − (4 +
     * dx)); with dx uniform on [−2, 2] either way every one of the 25 cells expects N/25 =
     * 160 (standard deviation 12.4): allow 5 of them. */
    for (int a = 0; a <= 2 * PAD; a++)
        for (int b = 0; b <= 2 * PAD; b++)
            CHECK_MSG(abs(count[a][b] - N / 25) < 62, "cell (%d, %d): %d", a - PAD, b - PAD,
                      count[a][b]);
    /* the same generator state, in place this time, gives the same batch */
    CHECK_OK(nb_augment_batch(x, x, &o, &again));
    CHECK(memcmp(x->data, out->data, sizeof(float) * (size_t)x->numel) == 0);
    nb_tensor_free(x);
    nb_tensor_free(out);
}

/* Flips alone at p = 0.25: an asymmetric image tells whether it was flipped. */
static void test_flip_rate(void) {
    enum { N = 4000 };
    nb_tensor *x = nb_zeros(NULL, NB_DIMS(N, 1, 1, 3));
    for (int n = 0; n < N; n++) nb_f32(x)[n * 3] = 1.0f;
    nb_rng rng;
    nb_rng_seed(&rng, 9);
    CHECK_OK(nb_augment_batch(x, x, &(nb_augment_opts){.flip_p = 0.25f}, &rng));
    int flipped = 0;
    for (int n = 0; n < N; n++) flipped += nb_f32(x)[n * 3 + 2] == 1.0f;
    /* binomial(4000, 0.25): sd 27 */
    CHECK_MSG(abs(flipped - N / 4) < 5 * 27, "%d flipped of %d", flipped, N);
    nb_tensor_free(x);
}

static void test_errors(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_augment_opts o = {.pad = 1};
    nb_tensor *x3 = nb_zeros(NULL, NB_DIMS(2, 4, 4));
    nb_tensor *x = nb_zeros(NULL, NB_DIMS(2, 1, 4, 4)), *y = nb_zeros(NULL, NB_DIMS(2, 1, 4, 5));
    CHECK(nb_augment_batch(x3, x3, &o, &rng) == NB_ERR_SHAPE);
    CHECK(strstr(nb_last_error(), "[N, C, H, W]") != NULL);
    CHECK(nb_augment_batch(x, y, &o, &rng) == NB_ERR_SHAPE);
    CHECK(nb_augment_batch(x, x, &(nb_augment_opts){.pad = -1}, &rng) == NB_ERR_ARG);
    CHECK(nb_augment_batch(x, x, &(nb_augment_opts){.flip_p = 2.0f}, &rng) == NB_ERR_ARG);
    CHECK(nb_augment_batch(x, x, &o, NULL) == NB_ERR_ARG);
    nb_tensor_free(x3);
    nb_tensor_free(x);
    nb_tensor_free(y);
}

static const nbt_case cases[] = {
    {"shift_is_a_crop", test_shift_is_a_crop},
    {"flip", test_flip},
    {"batch_statistics", test_batch_statistics},
    {"flip_rate", test_flip_rate},
    {"errors", test_errors},
};
NBT_MAIN(cases)
