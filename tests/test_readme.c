/* test_readme — the README's nb_fit program trains as PyTorch does (tests/ref/readme.txt,
 * written by tests/ref/gen_readme.py).
 *
 * The README's second example trains XOR with nb_fit and an optimizer written
 * &(nb_adam_opts){.lr = 1e-2} — every other field zero, which must mean torch.optim.Adam's
 * defaults (betas 0.9, 0.999, eps 1e-8, no weight decay). This test runs that program's calls
 * as the README writes them (model, optimizer, fit options, nb_predict), with one change: the
 * starting weights come from the fixture (nabla's seed-42 initialisation is not PyTorch's), and
 * fit is given a history to compare the losses. tests/scripts/readme_example.sh runs the
 * README's text itself. */
#include "nbtest.h"

#include "fixture.h"

#include <string.h>

#define FIXTURE "tests/ref/readme.txt"
#define EPOCHS 300

/* Both sides in float32, with different summation orders (nb_fit also shuffles the four
 * samples of its one batch each epoch), compounded over 300 Adam steps. */
#define RTOL 1e-3
#define ATOL 1e-4

static void set_param(nb_model *m, const char *name, const nbt_fixture *fx, const char *key) {
    nb_tensor *p = nb_params_find(nb_model_params(m), name);
    const nbt_array *a = nbt_fixture_get(fx, key);
    CHECK_MSG(p && a && p->numel == a->numel, "%s / %s", name, key);
    if (p && a && p->numel == a->numel) memcpy(p->data, a->data, sizeof(float) * (size_t)a->numel);
}

static void check_param(nb_model *m, const char *name, const nbt_fixture *fx, const char *key) {
    nb_tensor *p = nb_params_find(nb_model_params(m), name);
    const nbt_array *a = nbt_fixture_get(fx, key);
    CHECK_MSG(p && a && p->numel == a->numel, "%s / %s", name, key);
    if (p && a && p->numel == a->numel) nbt_compare(key, nb_f32(p), a->data, a->numel, ATOL, RTOL);
}

static void test_readme_adam(void) {
    nbt_fixture *fx = nbt_fixture_load(FIXTURE);
    CHECK_MSG(fx != NULL, "cannot load %s (run the tests from the repository root)", FIXTURE);
    if (!fx) return;
    /* the README's program, line for line */
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, Y[4][1] = {{0}, {1}, {1}, {0}};
    nb_array ax = {.type = NB_ELEM_F32, .rank = 2, .shape = {4, 2}, .numel = 8, .data = X};
    nb_array ay = {.type = NB_ELEM_F32, .rank = 2, .shape = {4, 1}, .numel = 4, .data = Y};
    nb_dataset *xor_data = NULL;
    CHECK_OK(nb_dataset_from_arrays(&ax, &ay, &xor_data));

    nb_model *net = nb_model_new(NB_DIMS(2), 42);
    CHECK_OK(nb_model_dense(net, 8, NB_ACT_TANH));
    CHECK_OK(nb_model_dense(net, 1, NB_ACT_NONE));
    /* the one change: PyTorch's starting weights */
    set_param(net, "dense_1.weight", fx, "W1");
    set_param(net, "dense_1.bias", fx, "b1");
    set_param(net, "dense_2.weight", fx, "W2");
    set_param(net, "dense_2.bias", fx, "b2");
    nb_optim *adam = nb_adam_new(nb_model_params(net), &(nb_adam_opts){.lr = 1e-2});
    CHECK(adam != NULL);

    nb_fit_opts fit = {.epochs = EPOCHS, .batch_size = 4, .loss = NB_LOSS_BCE_LOGITS};
    nb_history h = {0};
    if (xor_data && adam) CHECK_OK(nb_fit(net, adam, xor_data, &fit, &h));
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *logits = nb_predict(net, x, 0);

    /* against torch.optim.Adam(lr=1e-2) */
    const nbt_array *want_loss = nbt_fixture_get(fx, "loss");
    CHECK_MSG(h.n == EPOCHS && want_loss && want_loss->numel == EPOCHS, "%d epochs recorded", h.n);
    if (h.n == EPOCHS && want_loss && want_loss->numel == EPOCHS) {
        float got[EPOCHS];
        for (int e = 0; e < EPOCHS; e++) got[e] = (float)h.rec[e].train.loss;
        nbt_compare("loss", got, want_loss->data, EPOCHS, ATOL, RTOL);
        /* it learned XOR: the loss fell by more than ten times */
        CHECK_MSG(got[EPOCHS - 1] < 0.1f * got[0], "loss %g -> %g", got[0], got[EPOCHS - 1]);
    }
    check_param(net, "dense_1.weight", fx, "W1_end");
    check_param(net, "dense_1.bias", fx, "b1_end");
    check_param(net, "dense_2.weight", fx, "W2_end");
    check_param(net, "dense_2.bias", fx, "b2_end");
    const nbt_array *want = nbt_fixture_get(fx, "logits");
    CHECK(logits && want && logits->numel == 4 && want->numel == 4);
    if (logits && want && logits->numel == 4 && want->numel == 4)
        nbt_compare("logits", nb_f32(logits), want->data, 4, ATOL, RTOL);

    nb_history_free(&h);
    nb_tensor_free(logits);
    nb_tensor_free(x);
    nb_optim_free(adam);
    nb_model_free(net);
    nb_dataset_free(xor_data);
    nbt_fixture_free(fx);
}

static const nbt_case cases[] = {
    {"readme_adam", test_readme_adam},
};

NBT_MAIN(cases)
