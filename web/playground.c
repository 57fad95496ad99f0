/* web/playground.c — training sessions for the page: a dataset, a sequential model of dense
 * layers, an optimizer and a context, stepped a few epochs at a time by the page and read
 * back for drawing (see playground.h for the contract).
 *
 * Training is the library's loop, as examples/xor.c writes it: reset the context, forward,
 * the loss, zero the gradients, backward, the optimizer's step. Reading a network layer by
 * layer (pg_net_inspect, pg_net_grid) repeats the dense layer's own two ops on the model's
 * parameters, z = x W + b (nb_linear) then a = f(z) (nb_activate), so what the page shows is
 * what forward computes. */
#include "playground.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct pg_net {
    pg_config cfg;
    int n;        /* samples */
    float *x, *y; /* the dataset: [n, 2], [n] */
    nb_model *model;
    nb_optim *opt;
    nb_ctx *ctx;     /* every step's tensors; reset before each use */
    nb_rng shuffle;  /* the order of the mini-batches */
    int64_t *order;  /* [n]: a permutation of the samples */
    float *bx, *by;  /* [n, 2], [n]: a mini-batch, gathered */
    float *last_out; /* [n]: the outputs of the last GD epoch's forward pass */
    int last_valid;
    int layers; /* hidden layers + the output layer */
    int units[PG_MAX_HIDDEN + 1];
    nb_tensor *W[PG_MAX_HIDDEN + 1], *b[PG_MAX_HIDDEN + 1]; /* views into the store */
    int64_t epochs, steps;
    char *text; /* pg_net_print_outputs's text */
    size_t text_cap;
};

/* ---- errors -------------------------------------------------------------------------------- */

static _Thread_local char message[512];

PG_EXPORT const char *pg_error(void) {
    return message;
}

nb_status pg_set_error(nb_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return s;
}

/* A library call failed while doing `what`: its message, prefixed. */
static nb_status lib_error(nb_status s, const char *what) {
    return pg_set_error(s == NB_OK ? NB_ERR_STATE : s, "%s: %s", what, nb_last_error());
}

/* ---- making and freeing -------------------------------------------------------------------- */

static nb_status check_config(const pg_config *c) {
    if (!c) return pg_set_error(NB_ERR_ARG, "pg_net_new: the configuration is NULL");
    if (c->n_hidden < 0 || c->n_hidden > PG_MAX_HIDDEN)
        return pg_set_error(NB_ERR_ARG, "pg_net_new: %d hidden layers; use 0 to %d", c->n_hidden,
                            PG_MAX_HIDDEN);
    for (int l = 0; l < c->n_hidden; l++)
        if (c->hidden[l] < 1 || c->hidden[l] > PG_MAX_UNITS)
            return pg_set_error(NB_ERR_ARG,
                                "pg_net_new: hidden layer %d has %d units; use 1 "
                                "to %d",
                                l + 1, c->hidden[l], PG_MAX_UNITS);
    if (c->act != NB_ACT_SIGMOID && c->act != NB_ACT_TANH && c->act != NB_ACT_RELU)
        return pg_set_error(NB_ERR_ARG,
                            "pg_net_new: activation %d; the playground has "
                            "sigmoid, tanh and relu",
                            (int)c->act);
    if ((unsigned)c->optim >= PG_OPTIM_COUNT)
        return pg_set_error(NB_ERR_ARG, "pg_net_new: optimizer %d; use GD, SGD or Adam",
                            (int)c->optim);
    if (!(c->lr > 0.0 && c->lr <= 10.0))
        return pg_set_error(NB_ERR_ARG,
                            "pg_net_new: learning rate %g; use a number in "
                            "(0, 10]",
                            c->lr);
    if (c->optim != PG_GD && (c->batch < 1 || c->batch > c->points))
        return pg_set_error(NB_ERR_ARG, "pg_net_new: batch size %d; use 1 to the %d points",
                            c->batch, c->points);
    if (c->classic != 0 && c->classic != 1)
        return pg_set_error(NB_ERR_ARG, "pg_net_new: classic is %d; use 0 or 1", c->classic);
    return NB_OK;
}

PG_EXPORT void pg_net_free(pg_net *net) {
    if (!net) return;
    nb_ctx_free(net->ctx);
    nb_optim_free(net->opt);
    nb_model_free(net->model);
    nb_free(net->x);
    nb_free(net->y);
    nb_free(net->order);
    nb_free(net->bx);
    nb_free(net->by);
    nb_free(net->last_out);
    nb_free(net->text);
    nb_free(net);
}

/* The model: the hidden layers, then one output unit; and views of every W and b. */
static nb_status build_model(pg_net *net) {
    const pg_config *c = &net->cfg;
    net->model = nb_model_new(NB_DIMS(2), c->seed);
    if (!net->model) return lib_error(NB_ERR_NOMEM, "pg_net_new");
    for (int l = 0; l < c->n_hidden; l++)
        if (nb_model_dense(net->model, c->hidden[l], c->act) != NB_OK)
            return lib_error(NB_ERR_ARG, "pg_net_new");
    if (nb_model_dense(net->model, 1, c->classic ? NB_ACT_SIGMOID : NB_ACT_NONE) != NB_OK)
        return lib_error(NB_ERR_ARG, "pg_net_new");
    net->layers = c->n_hidden + 1;
    nb_params *ps = nb_model_params(net->model);
    for (int l = 0; l < net->layers; l++) {
        char name[96];
        const char *layer = nb_model_layer_name(net->model, l);
        snprintf(name, sizeof name, "%s.weight", layer ? layer : "");
        net->W[l] = nb_params_find(ps, name);
        snprintf(name, sizeof name, "%s.bias", layer ? layer : "");
        net->b[l] = nb_params_find(ps, name);
        if (!net->W[l] || !net->b[l])
            return pg_set_error(NB_ERR_STATE,
                                "pg_net_new: layer %d ('%s') has no weight "
                                "and bias in the parameter store",
                                l, layer ? layer : "?");
        net->units[l] = l < c->n_hidden ? c->hidden[l] : 1;
    }
    return NB_OK;
}

PG_EXPORT pg_net *pg_net_new(const pg_config *cfg) {
    if (check_config(cfg) != NB_OK) return NULL;
    pg_net *net = nb_malloc(sizeof *net);
    if (!net) {
        pg_set_error(NB_ERR_NOMEM, "pg_net_new: out of memory");
        return NULL;
    }
    memset(net, 0, sizeof *net);
    net->cfg = *cfg;
    /* points <= PG_MAX_POINTS is checked by pg_data_make before any use; the buffers are
     * sized from the request clamped to that bound, so no size can overflow. */
    int n = cfg->points < 1 ? 1 : cfg->points > PG_MAX_POINTS ? PG_MAX_POINTS : cfg->points;
    net->n = n;
    size_t nf = (size_t)n * sizeof(float);
    net->x = nb_malloc(2 * nf);
    net->y = nb_malloc(nf);
    net->bx = nb_malloc(2 * nf);
    net->by = nb_malloc(nf);
    net->last_out = nb_malloc(nf);
    net->order = nb_malloc((size_t)n * sizeof(int64_t));
    if (!net->x || !net->y || !net->bx || !net->by || !net->last_out || !net->order) {
        pg_set_error(NB_ERR_NOMEM, "pg_net_new: out of memory for %d points", n);
        goto fail;
    }
    /* One seed, split into independent streams: the data's draws and the batches' order;
     * the model's initialisation has its own generator, seeded with the same number (so the
     * XOR session at seed 42 starts where examples/xor.c starts). */
    nb_rng root;
    nb_rng_seed(&root, cfg->seed);
    nb_rng data_rng = nb_rng_split(&root);
    net->shuffle = nb_rng_split(&root);
    if (pg_data_make(cfg->data, cfg->points, cfg->noise, &data_rng, net->x, net->y) != NB_OK)
        goto fail;
    for (int i = 0; i < n; i++) net->order[i] = i;
    if (build_model(net) != NB_OK) goto fail;
    nb_params *ps = nb_model_params(net->model);
    if (cfg->optim == PG_ADAM)
        net->opt = nb_adam_new(ps, &(nb_adam_opts){.lr = cfg->lr});
    else
        net->opt = nb_sgd_new(ps, &(nb_sgd_opts){.lr = cfg->lr});
    if (!net->opt) {
        lib_error(NB_ERR_ARG, "pg_net_new");
        goto fail;
    }
    net->ctx = nb_ctx_new(NULL);
    if (!net->ctx) {
        lib_error(NB_ERR_NOMEM, "pg_net_new");
        goto fail;
    }
    return net;
fail:
    pg_net_free(net);
    return NULL;
}

/* ---- training ------------------------------------------------------------------------------ */

/* One step on the batch bx [b, 2], by [b]: forward, loss, backward, update. The loss goes to
 * *loss and, when out_copy is given, the outputs of the forward pass to it. A loss that is
 * not finite stops before the update. */
static nb_status train_step(pg_net *net, const float *bx, const float *by, int b, double *loss,
                            float *out_copy) {
    nb_ctx *ctx = net->ctx;
    nb_ctx_reset(ctx); /* the last step's tensors and tape go at once */
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, (void *)bx, NB_DIMS(b, 2));
    nb_tensor *y = nb_tensor_from(ctx, NB_F32, (void *)by, NB_DIMS(b, 1));
    nb_tensor *out = nb_model_forward(net->model, ctx, x);
    nb_tensor *L = net->cfg.classic
                       ? nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f)
                       : nb_bce_logits_loss(ctx, out, y, NB_REDUCE_MEAN);
    if (!L) return lib_error(nb_ctx_status(ctx), "training");
    double v = nb_item(L);
    if (!isfinite(v))
        return pg_set_error(NB_ERR_NUMERIC,
                            "training: the loss is %g at step %lld; the "
                            "learning rate %g is too large for this network",
                            v, (long long)net->steps + 1, net->cfg.lr);
    if (out_copy) memcpy(out_copy, out->data, (size_t)b * sizeof(float));
    nb_optim_zero_grad(net->opt);
    nb_status s = nb_backward(ctx, L);
    if (s == NB_OK) s = nb_optim_step(net->opt);
    if (s != NB_OK) return lib_error(s, "training");
    net->steps++;
    *loss = v;
    return NB_OK;
}

/* One epoch of mini-batches in a fresh random order; *loss is the epoch's loss over the set. */
static nb_status train_epoch_batches(pg_net *net, double *loss) {
    int n = net->n, B = net->cfg.batch;
    double total = 0.0;
    nb_rng_shuffle_i64(&net->shuffle, net->order, n);
    for (int start = 0; start < n; start += B) {
        int b = n - start < B ? n - start : B;
        for (int i = 0; i < b; i++) {
            int64_t k = net->order[start + i];
            net->bx[2 * i] = net->x[2 * k];
            net->bx[2 * i + 1] = net->x[2 * k + 1];
            net->by[i] = net->y[k];
        }
        double v;
        nb_status s = train_step(net, net->bx, net->by, b, &v, NULL);
        if (s != NB_OK) return s;
        total += net->cfg.classic ? v : v * b; /* a sum over the set, or a mean */
    }
    *loss = net->cfg.classic ? total : total / n;
    return NB_OK;
}

PG_EXPORT double pg_net_train(pg_net *net, int epochs) {
    if (!net || epochs < 1) {
        pg_set_error(NB_ERR_ARG, "pg_net_train: %s",
                     net ? "epochs must be at least 1" : "the session is NULL");
        return NAN;
    }
    double loss = NAN;
    for (int e = 0; e < epochs; e++) {
        nb_status s;
        if (net->cfg.optim == PG_GD) {
            s = train_step(net, net->x, net->y, net->n, &loss, net->last_out);
            net->last_valid = s == NB_OK;
        } else {
            s = train_epoch_batches(net, &loss);
            net->last_valid = 0;
        }
        if (s != NB_OK) return NAN;
        net->epochs++;
    }
    return loss;
}

PG_EXPORT int64_t pg_net_epochs(const pg_net *net) {
    return net ? net->epochs : 0;
}
PG_EXPORT int64_t pg_net_steps(const pg_net *net) {
    return net ? net->steps : 0;
}

PG_EXPORT double pg_net_accuracy(pg_net *net) {
    if (!net) {
        pg_set_error(NB_ERR_ARG, "pg_net_accuracy: the session is NULL");
        return NAN;
    }
    nb_ctx_reset(net->ctx);
    nb_tensor *x = nb_tensor_from(net->ctx, NB_F32, net->x, NB_DIMS(net->n, 2));
    nb_tensor *out = nb_model_forward(net->model, net->ctx, x);
    if (!out) {
        lib_error(nb_ctx_status(net->ctx), "pg_net_accuracy");
        return NAN;
    }
    const float *o = nb_f32(out), cut = net->cfg.classic ? 0.5f : 0.0f;
    int right = 0;
    for (int i = 0; i < net->n; i++) right += (o[i] > cut) == (net->y[i] > 0.5f);
    return (double)right / net->n;
}

/* ---- reading the network ------------------------------------------------------------------- */

PG_EXPORT int pg_net_layers(const pg_net *net) {
    return net ? net->layers : 0;
}

PG_EXPORT int pg_net_units(const pg_net *net, int l) {
    return net && l >= 0 && l < net->layers ? net->units[l] : 0;
}

PG_EXPORT const float *pg_net_weight(const pg_net *net, int l) {
    return net && l >= 0 && l < net->layers ? nb_f32(net->W[l]) : NULL;
}

PG_EXPORT const float *pg_net_bias(const pg_net *net, int l) {
    return net && l >= 0 && l < net->layers ? nb_f32(net->b[l]) : NULL;
}

/* The output layer's a is σ(z) either way: the model's own output when classic, the
 * probability behind the logit otherwise. */
static nb_activation layer_act(const pg_net *net, int l) {
    return l < net->cfg.n_hidden ? net->cfg.act : NB_ACT_SIGMOID;
}

/* Layers 0..upto on x [m, 2] in net->ctx: z_l = a_{l−1} W_l + b_l, a_l = f_l(z_l), with
 * a_{−1} = x; each layer's z and a go to zs[l], as[l]. */
static nb_status forward_layers(pg_net *net, nb_tensor *x, int upto, nb_tensor **zs,
                                nb_tensor **as) {
    nb_tensor *h = x;
    for (int l = 0; l <= upto; l++) {
        zs[l] = nb_linear(net->ctx, h, net->W[l], net->b[l]);
        as[l] = h = nb_activate(net->ctx, zs[l], layer_act(net, l), 0.0f);
    }
    if (!h) return lib_error(nb_ctx_status(net->ctx), "reading the layers");
    for (int l = 0; l <= upto; l++)
        if (!nb_tensor_is_contiguous(zs[l]) || !nb_tensor_is_contiguous(as[l]))
            return pg_set_error(NB_ERR_STATE,
                                "reading the layers: layer %d's result is not "
                                "contiguous",
                                l);
    return NB_OK;
}

PG_EXPORT int pg_net_inspect_size(const pg_net *net) {
    int total = 0;
    for (int l = 0; net && l < net->layers; l++) total += 2 * net->units[l];
    return total;
}

PG_EXPORT int pg_net_inspect(pg_net *net, float x1, float x2, float *out) {
    if (!net || !out) {
        pg_set_error(NB_ERR_ARG, "pg_net_inspect: the session or out is NULL");
        return -1;
    }
    float p[2] = {x1, x2};
    nb_tensor *zs[PG_MAX_HIDDEN + 1], *as[PG_MAX_HIDDEN + 1];
    nb_ctx_reset(net->ctx);
    nb_tensor *x = nb_tensor_from(net->ctx, NB_F32, p, NB_DIMS(1, 2));
    if (forward_layers(net, x, net->layers - 1, zs, as) != NB_OK) return -1;
    int k = 0;
    for (int l = 0; l < net->layers; l++) {
        memcpy(out + k, zs[l]->data, (size_t)net->units[l] * sizeof(float));
        k += net->units[l];
        memcpy(out + k, as[l]->data, (size_t)net->units[l] * sizeof(float));
        k += net->units[l];
    }
    return k;
}

PG_EXPORT nb_status pg_net_grid(pg_net *net, int l, int u, int res, float lo, float hi,
                                float *out) {
    if (!net || !out) return pg_set_error(NB_ERR_ARG, "pg_net_grid: the session or out is NULL");
    if (l < 0 || l >= net->layers || u < 0 || u >= net->units[l])
        return pg_set_error(NB_ERR_ARG,
                            "pg_net_grid: no unit %d in layer %d (the network has "
                            "%d layers)",
                            u, l, net->layers);
    if (res < 1 || res > 512)
        return pg_set_error(NB_ERR_ARG, "pg_net_grid: resolution %d; use 1 to 512", res);
    if (!(isfinite(lo) && isfinite(hi) && lo < hi))
        return pg_set_error(NB_ERR_ARG, "pg_net_grid: the extent [%g, %g] is empty", (double)lo,
                            (double)hi);
    nb_ctx_reset(net->ctx);
    nb_tensor *x = nb_tensor_new(net->ctx, NB_F32, NB_DIMS((int64_t)res * res, 2));
    if (!x) return lib_error(nb_ctx_status(net->ctx), "pg_net_grid");
    float *g = nb_f32(x), step = (hi - lo) / (float)res;
    for (int r = 0; r < res; r++)
        for (int c = 0; c < res; c++) {
            g[2 * ((size_t)r * res + c)] = lo + ((float)c + 0.5f) * step;
            g[2 * ((size_t)r * res + c) + 1] = hi - ((float)r + 0.5f) * step;
        }
    nb_tensor *zs[PG_MAX_HIDDEN + 1], *as[PG_MAX_HIDDEN + 1];
    nb_status s = forward_layers(net, x, l, zs, as);
    if (s != NB_OK) return s;
    const float *a = nb_f32(as[l]);
    for (size_t i = 0; i < (size_t)res * res; i++) out[i] = a[i * net->units[l] + u];
    return NB_OK;
}

PG_EXPORT int pg_net_points(const pg_net *net) {
    return net ? net->n : 0;
}
PG_EXPORT const float *pg_net_x(const pg_net *net) {
    return net ? net->x : NULL;
}
PG_EXPORT const float *pg_net_y(const pg_net *net) {
    return net ? net->y : NULL;
}

PG_EXPORT const char *pg_net_print_outputs(pg_net *net) {
    if (!net) {
        pg_set_error(NB_ERR_ARG, "pg_net_print_outputs: the session is NULL");
        return NULL;
    }
    nb_ctx_reset(net->ctx);
    nb_tensor *t;
    if (net->last_valid) {
        t = nb_tensor_from(net->ctx, NB_F32, net->last_out, NB_DIMS(net->n, 1));
    } else {
        nb_tensor *zs[PG_MAX_HIDDEN + 1], *as[PG_MAX_HIDDEN + 1];
        nb_tensor *x = nb_tensor_from(net->ctx, NB_F32, net->x, NB_DIMS(net->n, 2));
        if (forward_layers(net, x, net->layers - 1, zs, as) != NB_OK) return NULL;
        t = as[net->layers - 1];
    }
    if (!t) {
        lib_error(nb_ctx_status(net->ctx), "pg_net_print_outputs");
        return NULL;
    }
    size_t len = nb_tensor_format(t, NULL, 0);
    if (len + 1 > net->text_cap) {
        char *p = nb_malloc(len + 1);
        if (!p) {
            pg_set_error(NB_ERR_NOMEM, "pg_net_print_outputs: out of memory");
            return NULL;
        }
        nb_free(net->text);
        net->text = p;
        net->text_cap = len + 1;
    }
    nb_tensor_format(t, net->text, net->text_cap);
    return net->text;
}

/* ---- the page's entry point ---------------------------------------------------------------
 * The page passes names rather than enum values, so its script does not depend on how the
 * enums are numbered. */

static int index_of(const char *name, const char *const *names, int n) {
    for (int i = 0; name && i < n; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

PG_EXPORT pg_net *pg_new(const char *data, int points, float noise, unsigned seed,
                         const int *hidden, int n_hidden, const char *act, const char *optim,
                         double lr, int batch, int classic) {
    static const char *const datas[] = {"xor", "moons", "circles", "spiral"};
    static const char *const acts[] = {"sigmoid", "tanh", "relu"};
    static const nb_activation act_ids[] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU};
    static const char *const optims[] = {"gd", "sgd", "adam"};
    int d = index_of(data, datas, 4), a = index_of(act, acts, 3), o = index_of(optim, optims, 3);
    if (d < 0 || a < 0 || o < 0) {
        pg_set_error(NB_ERR_ARG, "pg_new: unknown %s '%s'",
                     d < 0   ? "dataset"
                     : a < 0 ? "activation"
                             : "optimizer",
                     d < 0   ? (data ? data : "")
                     : a < 0 ? (act ? act : "")
                             : (optim ? optim : ""));
        return NULL;
    }
    if (n_hidden < 0 || n_hidden > PG_MAX_HIDDEN || (n_hidden > 0 && !hidden)) {
        pg_set_error(NB_ERR_ARG, "pg_new: %d hidden layers; use 0 to %d", n_hidden, PG_MAX_HIDDEN);
        return NULL;
    }
    pg_config c = {.data = (pg_data)d,
                   .points = points,
                   .noise = noise,
                   .seed = seed,
                   .n_hidden = n_hidden,
                   .act = act_ids[a],
                   .optim = (pg_optim)o,
                   .lr = lr,
                   .batch = batch,
                   .classic = classic};
    for (int l = 0; l < n_hidden; l++) c.hidden[l] = hidden[l];
    return pg_net_new(&c);
}
