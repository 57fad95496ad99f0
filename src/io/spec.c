/* io/spec.c — the spec format: reading a spec text into an nb_spec, building its model, and
 * writing the training lines back in canonical form (docs/spec.md is the reference).
 *
 * A spec is read line by line. The first line that is not blank or a comment must be
 * "nabla-spec 1" or "nabla-spec 2". The architecture lines (inputs, layers, reuses, outputs)
 * are kept as text and built by nb_spec_build (spec_arch.c, with the layer-kind table of
 * spec_layers.c); parsing builds them once too, on a model that only counts, so that every
 * error — a bad number, an unknown option, a shape that does not fit — is reported while
 * the line it comes from is known, and the model's size is known before it is allocated. */
#include "io/spec.h"
#include "base/file.h"
#include "nn/model_io.h"
#include "optim/optim.h" /* nbi_optim_resolve: the defaults a spec leaves out */

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const loss_names[] = {
    "cross_entropy",   "nll",        "mse",   "l1", "mae", "bce",
    "bce_with_logits", "bce_logits", "huber", NULL,
};

const char *const *nb_spec_loss_names(void) {
    return loss_names;
}

/* ---- memory --------------------------------------------------------------------------------- */

char *nbi_spec_str_dup(const char *s) {
    size_t n = strlen(s);
    char *d = nbi_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static void free_data(nb_data_spec *d) {
    nbi_free(d->train);
    nbi_free(d->train_labels);
    nbi_free(d->val);
    nbi_free(d->val_labels);
    nbi_free(d->test);
    nbi_free(d->test_labels);
    nbi_free(d->label);
    nbi_free(d->categorical);
    nbi_free(d->features);
    nbi_free(d->text);
    nbi_free(d->tokenizer);
}

void nb_spec_free(nb_spec *s) {
    if (!s) return;
    nbi_arch_free(s->arch);
    free_data(&s->data);
    nbi_free(s);
}

/* ---- optimizer and schedule lines ------------------------------------------------------------ */

/* A library message (from an optimizer or schedule check) at the line's position. */
static nb_status at_line(nbi_line *l, int col, nb_status s) {
    char msg[768];
    const char *e = nb_last_error();
    /* "nb_adam_new: beta1 must be ..." -> "beta1 must be ...": the line says which call */
    const char *colon = strstr(e, ": ");
    if (!strncmp(e, "nb_", 3) && colon) e = colon + 2;
    snprintf(msg, sizeof msg, "%s", e);
    if (strstr(msg, "out of memory")) s = NB_ERR_NOMEM;
    l->reported = true;
    return nbi_error(s, "%s:%d:%d: %s", l->file, l->line, col, msg);
}

/* A setting of the optimizer line: left as it is (0: the default) when absent; a value of 0
 * written in the text is a real zero, NB_ZERO. */
static nb_status setting(nbi_line *l, const char *key, const char *what, double *out) {
    nb_status s = nbi_opt_double(l, key, what, 0, 0, out);
    if (s == NB_OK && nbi_opt_col(l, key) && *out == 0.0) *out = NB_ZERO;
    return s;
}

nb_status nbi_spec_parse_optim(nbi_line *l, nb_optim_config *out) {
    const char *kind;
    nb_status s = nbi_pos_word(l, 0, "an optimizer (sgd, adam, adamw, rmsprop, adagrad)", &kind);
    if (s != NB_OK) return s;
    int k = nb_optim_kind_from_name(kind);
    if (k < 0)
        return nbi_line_error(l, l->pos[0].col,
                              "unknown optimizer '%s' (expected one of: sgd, "
                              "adam, adamw, rmsprop, adagrad)",
                              kind);
    nb_optim_config c = {.kind = (nb_optim_kind)k}; /* what the line leaves out: the defaults */
    double *lr = NULL;
    switch (c.kind) {
    case NB_OPTIM_SGD:
        lr = &c.u.sgd.lr;
        s = setting(l, "momentum", "momentum", &c.u.sgd.momentum);
        if (s == NB_OK) s = setting(l, "dampening", "dampening", &c.u.sgd.dampening);
        if (s == NB_OK) s = setting(l, "weight_decay", "weight_decay", &c.u.sgd.weight_decay);
        if (s == NB_OK) s = nbi_opt_bool(l, "nesterov", &c.u.sgd.nesterov);
        break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW:
        lr = &c.u.adam.lr;
        s = setting(l, "beta1", "beta1", &c.u.adam.beta1);
        if (s == NB_OK) s = setting(l, "beta2", "beta2", &c.u.adam.beta2);
        if (s == NB_OK) s = setting(l, "eps", "eps", &c.u.adam.eps);
        if (s == NB_OK) s = setting(l, "weight_decay", "weight_decay", &c.u.adam.weight_decay);
        if (s == NB_OK) s = nbi_opt_bool(l, "amsgrad", &c.u.adam.amsgrad);
        break;
    case NB_OPTIM_RMSPROP:
        lr = &c.u.rmsprop.lr;
        s = setting(l, "alpha", "alpha", &c.u.rmsprop.alpha);
        if (s == NB_OK) s = setting(l, "eps", "eps", &c.u.rmsprop.eps);
        if (s == NB_OK) s = setting(l, "weight_decay", "weight_decay", &c.u.rmsprop.weight_decay);
        if (s == NB_OK) s = setting(l, "momentum", "momentum", &c.u.rmsprop.momentum);
        if (s == NB_OK) s = nbi_opt_bool(l, "centered", &c.u.rmsprop.centered);
        break;
    case NB_OPTIM_ADAGRAD:
        lr = &c.u.adagrad.lr;
        s = setting(l, "lr_decay", "lr_decay", &c.u.adagrad.lr_decay);
        if (s == NB_OK) s = setting(l, "weight_decay", "weight_decay", &c.u.adagrad.weight_decay);
        if (s == NB_OK)
            s = setting(l, "initial_accumulator_value", "initial_accumulator_value",
                        &c.u.adagrad.initial_accumulator_value);
        if (s == NB_OK) s = setting(l, "eps", "eps", &c.u.adagrad.eps);
        break;
    case NB_OPTIM_KIND_COUNT:
        break;
    }
    if (s == NB_OK) s = setting(l, "lr", "the learning rate", lr);
    const char *decay = NULL;
    if (s == NB_OK) s = nbi_opt_str(l, "decay", &decay);
    if (s == NB_OK && decay) {
        if (!strcmp(decay, "matrices"))
            c.decay = NB_DECAY_MATRICES;
        else if (strcmp(decay, "all") != 0)
            return nbi_line_error(l, nbi_opt_col(l, "decay"),
                                  "expected decay=all (every parameter) or decay=matrices (tensors "
                                  "of rank >= 2 only), got '%s'",
                                  decay);
    }
    if (s == NB_OK) s = nbi_line_done(l, 1);
    if (s != NB_OK) return s;
    /* The optimizer's own checks (beta1 < 1, Nesterov's conditions), on an empty store. */
    nb_params *ps = nb_params_new();
    if (!ps) return at_line(l, l->kind.col, NB_ERR_NOMEM);
    nb_optim *o = nb_optim_new(ps, &c);
    if (!o) s = at_line(l, l->pos[0].col, NB_ERR_FORMAT);
    nb_optim_free(o);
    nb_params_free(ps);
    nbi_optim_resolve(&c); /* complete: what it runs with, zeros spelled NB_ZERO */
    nbi_optim_spell(&c);
    if (s == NB_OK) *out = c;
    return s;
}

/* An option the line must have (PyTorch's schedulers have no default for it either). */
static nb_status required(nbi_line *l, const char *key, const char *form) {
    if (nbi_opt_col(l, key)) return NB_OK;
    return nbi_line_error(l, l->end_col, "schedule %s needs %s=%s", l->pos[0].s, key, form);
}

nb_status nbi_spec_parse_schedule(nbi_line *l, nb_schedule *out) {
    const char *kind;
    nb_status s = nbi_pos_word(l, 0,
                               "a schedule (constant, step, multistep, exponential, "
                               "cosine, linear)",
                               &kind);
    if (s != NB_OK) return s;
    nb_schedule sc;
    int64_t step_size = 1, t_max = 1, total = 5, warm = 0, ms[NB_SCHEDULE_MAX_MILESTONES];
    double gamma = 0.1, eta_min = 0.0, sf = 1.0 / 3.0, ef = 1.0, wsf = 1.0 / 3.0;
    int nms = 0;
    if (!strcmp(kind, "constant")) {
        sc = nb_schedule_constant(0.0);
    } else if (!strcmp(kind, "step")) {
        s = required(l, "step_size", "STEPS");
        if (s == NB_OK) s = nbi_opt_int(l, "step_size", "step_size", 1, 0, &step_size);
        if (s == NB_OK) s = nbi_opt_double(l, "gamma", "gamma", 0, 0, &gamma);
        sc = nb_schedule_step(0.0, step_size, gamma);
    } else if (!strcmp(kind, "multistep")) {
        s = required(l, "milestones", "STEP,STEP,...");
        if (s == NB_OK)
            s = nbi_opt_ints(l, "milestones", "milestones", 1, ms, NB_SCHEDULE_MAX_MILESTONES,
                             &nms);
        if (s == NB_OK) s = nbi_opt_double(l, "gamma", "gamma", 0, 0, &gamma);
        sc = nb_schedule_multistep(0.0, ms, nms, gamma);
    } else if (!strcmp(kind, "exponential")) {
        s = required(l, "gamma", "FACTOR");
        if (s == NB_OK) s = nbi_opt_double(l, "gamma", "gamma", 0, 0, &gamma);
        sc = nb_schedule_exponential(0.0, gamma);
    } else if (!strcmp(kind, "cosine")) {
        s = required(l, "t_max", "STEPS");
        if (s == NB_OK)
            s = nbi_opt_int(l, "t_max", "t_max (steps of the half period)", 1, 0, &t_max);
        if (s == NB_OK) s = nbi_opt_double(l, "eta_min", "eta_min", 0, 0, &eta_min);
        sc = nb_schedule_cosine(0.0, t_max, eta_min);
    } else if (!strcmp(kind, "linear")) {
        s = nbi_opt_double(l, "start_factor", "start_factor", 0, 0, &sf);
        if (s == NB_OK) s = nbi_opt_double(l, "end_factor", "end_factor", 0, 0, &ef);
        if (s == NB_OK) s = nbi_opt_int(l, "total_iters", "total_iters", 1, 0, &total);
        sc = nb_schedule_linear(0.0, sf, ef, total);
    } else {
        return nbi_line_error(l, l->pos[0].col,
                              "unknown schedule '%s' (expected one of: "
                              "constant, step, multistep, exponential, cosine, linear)",
                              kind);
    }
    if (s == NB_OK) s = nbi_opt_int(l, "warmup", "warmup (steps)", 1, 0, &warm);
    if (s == NB_OK) s = nbi_opt_double(l, "warmup_start_factor", "warmup_start_factor", 0, 1, &wsf);
    if (s == NB_OK) s = nbi_line_done(l, 1);
    if (s != NB_OK) return s;
    if (warm > 0) sc = nb_schedule_warmup(sc, warm, wsf);
    if (nb_schedule_check(&sc) != NB_OK) return at_line(l, l->pos[0].col, NB_ERR_FORMAT);
    *out = sc;
    return NB_OK;
}

/* A setting as text: a zero (NB_ZERO too) is "0", which the reader takes as a real zero. */
static void setting_text(nbi_text *t, double v) {
    nbi_text_double(t, v == 0.0 ? 0.0 : v);
}

/* " key=value" for a double that differs from the default. */
static void opt_d(nbi_text *t, const char *key, double v, double def) {
    if (v == def) return;
    nbi_text_printf(t, " %s=", key);
    setting_text(t, v);
}

void nbi_spec_optim_text(const nb_optim_config *in, nbi_text *t) {
    nb_optim_config full = *in, d = {.kind = in->kind};
    nbi_optim_resolve(&full); /* what it runs with, against the defaults of its kind */
    nbi_optim_resolve(&d);
    const nb_optim_config *c = &full;
    nbi_text_printf(t, "optimizer %s lr=", nb_optim_kind_name(c->kind));
    setting_text(t, nb_optim_config_lr(c));
    switch (c->kind) {
    case NB_OPTIM_SGD:
        opt_d(t, "momentum", c->u.sgd.momentum, d.u.sgd.momentum);
        opt_d(t, "dampening", c->u.sgd.dampening, d.u.sgd.dampening);
        opt_d(t, "weight_decay", c->u.sgd.weight_decay, d.u.sgd.weight_decay);
        if (c->u.sgd.nesterov) nbi_text_puts(t, " nesterov=true");
        break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW:
        opt_d(t, "beta1", c->u.adam.beta1, d.u.adam.beta1);
        opt_d(t, "beta2", c->u.adam.beta2, d.u.adam.beta2);
        opt_d(t, "eps", c->u.adam.eps, d.u.adam.eps);
        opt_d(t, "weight_decay", c->u.adam.weight_decay, d.u.adam.weight_decay);
        if (c->u.adam.amsgrad) nbi_text_puts(t, " amsgrad=true");
        break;
    case NB_OPTIM_RMSPROP:
        opt_d(t, "alpha", c->u.rmsprop.alpha, d.u.rmsprop.alpha);
        opt_d(t, "eps", c->u.rmsprop.eps, d.u.rmsprop.eps);
        opt_d(t, "weight_decay", c->u.rmsprop.weight_decay, d.u.rmsprop.weight_decay);
        opt_d(t, "momentum", c->u.rmsprop.momentum, d.u.rmsprop.momentum);
        if (c->u.rmsprop.centered) nbi_text_puts(t, " centered=true");
        break;
    case NB_OPTIM_ADAGRAD:
        opt_d(t, "lr_decay", c->u.adagrad.lr_decay, d.u.adagrad.lr_decay);
        opt_d(t, "weight_decay", c->u.adagrad.weight_decay, d.u.adagrad.weight_decay);
        opt_d(t, "initial_accumulator_value", c->u.adagrad.initial_accumulator_value,
              d.u.adagrad.initial_accumulator_value);
        opt_d(t, "eps", c->u.adagrad.eps, d.u.adagrad.eps);
        break;
    case NB_OPTIM_KIND_COUNT:
        break;
    }
    if (c->decay == NB_DECAY_MATRICES) nbi_text_puts(t, " decay=matrices");
}

void nbi_spec_schedule_text(const nb_schedule *s, nbi_text *t) {
    nbi_text_puts(t, "schedule ");
    switch (s->kind) {
    case NB_SCHED_CONSTANT:
        nbi_text_puts(t, "constant");
        break;
    case NB_SCHED_STEP:
        nbi_text_printf(t, "step step_size=%lld gamma=", (long long)s->step_size);
        nbi_text_double(t, s->gamma);
        break;
    case NB_SCHED_MULTISTEP:
        nbi_text_puts(t, "multistep milestones=");
        for (int i = 0; i < s->n_milestones; i++)
            nbi_text_printf(t, "%s%lld", i ? "," : "", (long long)s->milestones[i]);
        nbi_text_puts(t, " gamma=");
        nbi_text_double(t, s->gamma);
        break;
    case NB_SCHED_EXPONENTIAL:
        nbi_text_puts(t, "exponential gamma=");
        nbi_text_double(t, s->gamma);
        break;
    case NB_SCHED_COSINE:
        nbi_text_printf(t, "cosine t_max=%lld eta_min=", (long long)s->t_max);
        nbi_text_double(t, s->eta_min);
        break;
    case NB_SCHED_LINEAR:
        nbi_text_puts(t, "linear start_factor=");
        nbi_text_double(t, s->start_factor);
        nbi_text_puts(t, " end_factor=");
        nbi_text_double(t, s->end_factor);
        nbi_text_printf(t, " total_iters=%lld", (long long)s->total_iters);
        break;
    }
    if (s->warmup_steps > 0) {
        nbi_text_printf(t, " warmup=%lld warmup_start_factor=", (long long)s->warmup_steps);
        nbi_text_double(t, s->warmup_start_factor);
    }
}

void nbi_spec_training_text(const nb_spec *s, nbi_text *t) {
    nbi_spec_training_text_at(s, NULL, t);
}

void nbi_spec_training_text_at(const nb_spec *s, const char *dir, nbi_text *t) {
    if (s->has_loss) nbi_text_printf(t, "loss %s\n", s->loss);
    if (s->has_optim) {
        nbi_spec_optim_text(&s->optim, t);
        nbi_text_puts(t, "\n");
    }
    if (s->has_schedule) {
        nbi_spec_schedule_text(&s->schedule, t);
        nbi_text_puts(t, "\n");
    }
    if (s->has_clip) {
        nbi_text_puts(t, "clip");
        if (s->clip_norm > 0) {
            nbi_text_puts(t, " norm=");
            nbi_text_double(t, s->clip_norm);
        }
        if (s->clip_value > 0) {
            nbi_text_puts(t, " value=");
            nbi_text_double(t, s->clip_value);
        }
        nbi_text_puts(t, "\n");
    }
    if (s->has_batch) nbi_text_printf(t, "batch %lld\n", (long long)s->batch);
    if (s->has_epochs) nbi_text_printf(t, "epochs %lld\n", (long long)s->epochs);
    if (s->has_seed) nbi_text_printf(t, "seed %llu\n", (unsigned long long)s->seed);
    nbi_spec_data_text(&s->data, dir, t);
}

size_t nb_spec_training_text(const nb_spec *s, char *buf, size_t n) {
    if (!s) {
        nbi_error(NB_ERR_ARG, "nb_spec_training_text: spec is NULL");
        return 0;
    }
    nbi_text t;
    nbi_text_init(&t);
    nbi_spec_training_text(s, &t);
    return nbi_text_export(&t, "nb_spec_training_text", buf, n);
}

/* ---- the reader -------------------------------------------------------------------------- */

typedef struct reader {
    nb_spec *s;
    const char *base_dir;
    int line_of[8]; /* where each single line was: loss, optimizer, schedule, batch, epochs,
                       seed, clip */
} reader;

enum { L_LOSS, L_OPTIM, L_SCHED, L_BATCH, L_EPOCHS, L_SEED, L_CLIP };

static nb_status once(reader *r, nbi_line *l, int which) {
    if (r->line_of[which])
        return nbi_line_error(l, l->kind.col, "a second '%s' line (the first is line %d)",
                              l->kind.s, r->line_of[which]);
    r->line_of[which] = l->line;
    return NB_OK;
}

static nb_status parse_count(nbi_line *l, const char *what, int64_t *out) {
    nb_status s = nbi_pos_int(l, 0, what, 1, out);
    return s != NB_OK ? s : nbi_line_done(l, 1);
}

/* An architecture line: kept for the build; the first input's shape is the spec's. */
static nb_status arch_line(nb_spec *s, nbi_line *l, const char *text, size_t len) {
    nb_status st = nbi_arch_add(s->arch, l, text, len);
    if (st == NB_OK && nbi_arch_input_auto(s->arch) && !s->has_input) {
        s->has_input = 1; /* 'input auto', written or implied by a first layer line */
        s->input_auto = 1;
        s->in_rank = 1;
        s->in_shape[0] = 0;
    }
    if (st != NB_OK || strcmp(l->kind.s, "input") != 0 || s->input_auto) {
        s->n_layers = nbi_arch_layers(s->arch);
        return st;
    }
    nbi_line l2; /* read on a copy: the build reads the line again, from its text */
    st = nbi_line_split(&l2, l->file, l->line, text, len);
    nbi_arch_in in;
    if (st == NB_OK) st = nbi_arch_input(&l2, nbi_arch_version(s->arch), &in);
    if (st == NB_OK && !s->has_input) {
        s->has_input = 1;
        s->in_rank = in.rank;
        memcpy(s->in_shape, in.shape, sizeof s->in_shape);
    }
    nbi_line_free(&l2);
    return st;
}

static nb_status parse_line(reader *r, nbi_line *l, const char *text, size_t len) {
    nb_spec *s = r->s;
    const char *k = l->kind.s;
    nb_status st;
    if (!strcmp(k, "nabla-spec"))
        return nbi_line_error(l, l->kind.col, "a second 'nabla-spec' line");
    if (!strcmp(k, "loss")) {
        if ((st = once(r, l, L_LOSS)) != NB_OK) return st;
        const char *name;
        if ((st = nbi_pos_word(l, 0, "a loss name", &name)) != NB_OK) return st;
        bool ok = false;
        for (int i = 0; loss_names[i]; i++) ok = ok || !strcmp(loss_names[i], name);
        if (!ok)
            return nbi_line_error(l, l->pos[0].col,
                                  "unknown loss '%s' (expected one of: "
                                  "cross_entropy, nll, mse, l1 (or mae), bce, bce_with_logits "
                                  "(or bce_logits))",
                                  name);
        snprintf(s->loss, sizeof s->loss, "%s", name);
        s->has_loss = 1;
        return nbi_line_done(l, 1);
    }
    if (!strcmp(k, "optimizer")) {
        if ((st = once(r, l, L_OPTIM)) != NB_OK) return st;
        s->has_optim = 1;
        return nbi_spec_parse_optim(l, &s->optim);
    }
    if (!strcmp(k, "schedule")) {
        if ((st = once(r, l, L_SCHED)) != NB_OK) return st;
        s->has_schedule = 1;
        return nbi_spec_parse_schedule(l, &s->schedule);
    }
    if (!strcmp(k, "batch")) {
        if ((st = once(r, l, L_BATCH)) != NB_OK) return st;
        s->has_batch = 1;
        return parse_count(l, "the batch size", &s->batch);
    }
    if (!strcmp(k, "epochs")) {
        if ((st = once(r, l, L_EPOCHS)) != NB_OK) return st;
        s->has_epochs = 1;
        return parse_count(l, "the number of epochs", &s->epochs);
    }
    if (!strcmp(k, "seed")) {
        if ((st = once(r, l, L_SEED)) != NB_OK) return st;
        int64_t v;
        if ((st = nbi_pos_int(l, 0, "the seed", 0, &v)) != NB_OK) return st;
        s->seed = (uint64_t)v;
        s->has_seed = 1;
        return nbi_line_done(l, 1);
    }
    if (!strcmp(k, "clip")) { /* clip [norm=N] [value=V]: torch.nn.utils' clip_grad_* */
        if ((st = once(r, l, L_CLIP)) != NB_OK) return st;
        st = nbi_opt_double(l, "norm", "the largest gradient norm", 0, 0, &s->clip_norm);
        if (st == NB_OK)
            st = nbi_opt_double(l, "value", "the largest gradient value", 0, 0, &s->clip_value);
        if (st == NB_OK) st = nbi_line_done(l, 0);
        if (st == NB_OK && !(s->clip_norm > 0) && !(s->clip_value > 0))
            return nbi_line_error(l, l->kind.col,
                                  "'clip' needs norm=N (the gradients' largest global L2 norm) "
                                  "or value=V (each gradient's largest magnitude), above 0");
        s->has_clip = st == NB_OK;
        return st;
    }
    if (!strcmp(k, "data")) return nbi_spec_parse_data(l, r->base_dir, &s->data);
    if (nbi_arch_is_line(k)) return arch_line(s, l, text, len);
    char kinds[512];
    nbi_spec_layer_kinds(kinds, sizeof kinds);
    return nbi_line_error(l, l->kind.col,
                          "unknown line '%s' (expected a layer — %s — or "
                          "one of: input, reuse, output, loss, optimizer, schedule, clip, "
                          "batch, epochs, seed, data)",
                          k, kinds);
}

/* The header line: "nabla-spec <version>". */
static nb_status parse_header(nbi_line *l, int *version) {
    if (strcmp(l->kind.s, "nabla-spec") != 0)
        return nbi_line_error(l, l->kind.col,
                              "expected 'nabla-spec 1' as the first line, got "
                              "'%s' (or 'nabla-spec 2' for a graph)",
                              l->kind.s);
    int64_t v;
    nb_status s = nbi_pos_int(l, 0, "the format version", 1, &v);
    if (s != NB_OK) return s;
    if (v > NB_SPEC_VERSION) {
        nbi_line_error(l, l->pos[0].col,
                       "spec format version %lld is not supported: this "
                       "nabla reads versions 1 to %d",
                       (long long)v, NB_SPEC_VERSION);
        return NB_ERR_UNSUPPORTED;
    }
    *version = (int)v;
    return nbi_line_done(l, 1);
}

nb_status nb_spec_parse(const char *text, size_t len, const char *name, const char *base_dir,
                        nb_spec **out) {
    return nbi_spec_parse(text, len, name, base_dir, 0, out);
}

/* A model of n_params parameters and n_state state scalars for a spec (limit 0) or a file
 * (limit: what the file can hold). */
static nb_status check_size(const nb_spec *s, int64_t limit) {
    int64_t np, ns;
    nbi_arch_size(s->arch, &np, &ns);
    const char *name = nbi_arch_name(s->arch);
    if (limit > 0 && np + ns > limit)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: the model has %lld parameters and state scalars; "
                         "the file holds at most %lld (it lies about the model)",
                         name, (long long)(np + ns), (long long)limit);
    /* values, and gradients for training: 8 bytes a parameter, 4 a state scalar */
    uint64_t need = (uint64_t)np * 8u + (uint64_t)ns * 4u, have = nbi_mem_total();
    if (have && need > have)
        return nbi_error(NB_ERR_NOMEM,
                         "%s: the model has %lld parameters: %.3g GB for their "
                         "values and gradients, more than this machine's %.3g GB of memory",
                         name, (long long)np, (double)need / 1e9, (double)have / 1e9);
    return NB_OK;
}

static nb_status parse(const char *text, size_t len, const char *name, const char *base_dir,
                       int64_t limit, nb_spec **out, nb_model **dry);

nb_status nbi_spec_parse(const char *text, size_t len, const char *name, const char *base_dir,
                         int64_t limit, nb_spec **out) {
    return parse(text, len, name, base_dir, limit, out, NULL);
}

nb_status nbi_spec_parse_build(const char *text, size_t len, const char *name, const char *base_dir,
                               int64_t limit, bool init, nb_spec **spec, nb_model **model) {
    *model = NULL;
    nb_model *m = NULL;
    nb_status s = parse(text, len, name, base_dir, limit, spec, &m);
    if (s == NB_OK && !m)
        s = nbi_error(NB_ERR_FORMAT,
                      "%s: the spec has %s, so it describes no model of a known "
                      "size",
                      name, (*spec)->input_auto ? "'input auto'" : "no 'input' line");
    if (s == NB_OK) s = nbi_model_materialize(m, init);
    if (s != NB_OK) {
        nb_model_free(m);
        nb_spec_free(*spec);
        *spec = NULL;
        return s;
    }
    *model = m;
    return NB_OK;
}

static nb_status parse(const char *text, size_t len, const char *name, const char *base_dir,
                       int64_t limit, nb_spec **out, nb_model **dry) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_spec_parse: out is NULL");
    *out = NULL;
    if (!text && len) return nbi_error(NB_ERR_ARG, "nb_spec_parse: text is NULL");
    if (!name) name = "spec";
    nb_spec *s = nbi_malloc(sizeof *s);
    if (!s) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    memset(s, 0, sizeof *s);
    if (!(s->arch = nbi_arch_new(name, 1))) {
        nb_spec_free(s);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    }
    name = nbi_arch_name(s->arch); /* the spec's copy, which lines point to */
    s->optim = (nb_optim_config){.kind = NB_OPTIM_ADAM};
    nbi_optim_resolve(&s->optim); /* Adam with PyTorch's defaults, spelled out */
    nbi_optim_spell(&s->optim);
    s->batch = 32;
    s->epochs = 1;

    reader r = {.s = s, .base_dir = base_dir};
    bool header = false;
    nb_status st = NB_OK;
    size_t pos = 0;
    int line = 0;
    while (st == NB_OK && pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line++;
        nbi_line l;
        st = nbi_line_split(&l, name, line, text + pos, end - pos);
        if (st == NB_OK && l.kind.s) {
            if (!header) {
                int version = 1;
                st = parse_header(&l, &version);
                nbi_arch_set_version(s->arch, version);
                header = true;
            } else {
                st = parse_line(&r, &l, text + pos, end - pos);
            }
        }
        nbi_line_free(&l);
        pos = end + 1;
    }
    if (st == NB_OK && !header)
        st =
            nbi_error(NB_ERR_FORMAT, "%s: empty spec: the first line must be 'nabla-spec 1'", name);
    if (st == NB_OK && s->has_schedule) {
        nb_optim_config *c = &s->optim;
        s->schedule.base_lr = c->kind == NB_OPTIM_SGD       ? c->u.sgd.lr
                              : c->kind == NB_OPTIM_RMSPROP ? c->u.rmsprop.lr
                              : c->kind == NB_OPTIM_ADAGRAD ? c->u.adagrad.lr
                                                            : c->u.adam.lr;
    }
    nb_model *m = NULL;
    bool sized = s->has_input && !s->input_auto; /* an auto input waits for the data */
    if (st == NB_OK && sized) st = nbi_arch_check(s->arch, s->seed, dry ? &m : NULL);
    if (st == NB_OK && sized) st = check_size(s, limit);
    if (st != NB_OK) {
        nb_model_free(m);
        nb_spec_free(s);
        return st;
    }
    if (dry) *dry = m;
    *out = s;
    return NB_OK;
}

nb_status nb_spec_read(const char *path, nb_spec **out) {
    if (out) *out = NULL;
    unsigned char *buf;
    size_t len;
    nb_status s = nbi_read_file(path, "spec", &buf, &len);
    if (s != NB_OK) return s;
    /* relative data paths are relative to the spec file's directory */
    char *dir = nbi_spec_str_dup(path);
    if (!dir) {
        nbi_free(buf);
        return nbi_error(NB_ERR_NOMEM, "spec '%s': out of memory", path);
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    else
        dir[0] = 0;
    s = nb_spec_parse((const char *)buf, len, path, dir, out);
    nbi_free(dir);
    nbi_free(buf);
    return s;
}

nb_status nb_spec_build(const nb_spec *s, nb_model **out) {
    return nbi_spec_build(s, 0, out);
}

nb_status nbi_spec_build(const nb_spec *s, int64_t limit, nb_model **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_spec_build: out is NULL");
    *out = NULL;
    if (!s || !s->arch)
        return nbi_error(NB_ERR_ARG, "nb_spec_build: %s",
                         s ? "the spec was not made by "
                             "nb_spec_parse (it has no architecture)"
                           : "spec is NULL");
    if (!s->has_input)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: the spec has no 'input' line, so it describes no "
                         "model (add e.g. 'input 784' and the layers)",
                         nbi_arch_name(s->arch));
    if (s->input_auto && nbi_arch_auto_width(s->arch) < 1)
        return nbi_error(NB_ERR_ARG,
                         "%s: the input is 'input auto': give it the data's width first "
                         "(nb_spec_set_input_width)",
                         nbi_arch_name(s->arch));
    nb_status st = check_size(s, limit);
    if (st != NB_OK) return st;
    /* shapes first, then the stores allocated once, at their exact size */
    nb_model *m = NULL;
    st = nbi_arch_dry(s->arch, s->seed, &m);
    if (st == NB_OK) st = nbi_model_materialize(m, true);
    if (st != NB_OK) {
        nb_model_free(m);
        return st;
    }
    *out = m;
    return NB_OK;
}

nb_status nb_spec_set_input_width(nb_spec *s, int64_t features) {
    if (!s || !s->arch) return nbi_error(NB_ERR_ARG, "nb_spec_set_input_width: spec is NULL");
    if (!s->input_auto)
        return nbi_error(NB_ERR_ARG, "%s: the input is not 'input auto' (its shape is the spec's)",
                         nbi_arch_name(s->arch));
    if (features < 1)
        return nbi_error(NB_ERR_ARG, "%s: an input of %lld features", nbi_arch_name(s->arch),
                         (long long)features);
    int64_t was = nbi_arch_auto_width(s->arch);
    nbi_arch_set_auto_width(s->arch, features);
    nb_status st = nbi_arch_check(s->arch, s->seed, NULL);
    if (st == NB_OK) st = check_size(s, 0);
    if (st != NB_OK) {
        nbi_arch_set_auto_width(s->arch, was);
        return st;
    }
    s->in_rank = 1;
    s->in_shape[0] = features;
    return NB_OK;
}

nb_status nb_spec_set_lr(nb_spec *s, double lr) {
    if (!s) return nbi_error(NB_ERR_ARG, "nb_spec_set_lr: spec is NULL");
    if (!(lr >= 0.0) || lr > 1e300)
        return nbi_error(NB_ERR_ARG,
                         "nb_spec_set_lr: the learning rate must be finite and "
                         ">= 0, got %g",
                         lr);
    nb_status st = nb_optim_config_set_lr(&s->optim, lr); /* 0 stays a real zero */
    if (st != NB_OK) return st;
    s->has_optim = 1;
    s->schedule.base_lr = lr;
    return NB_OK;
}

nb_optim *nb_spec_optim(const nb_spec *s, nb_params *ps) {
    if (!s) {
        nbi_error(NB_ERR_ARG, "nb_spec_optim: spec is NULL");
        return NULL;
    }
    nb_optim *o = nb_optim_new(ps, &s->optim);
    if (o && s->has_schedule && nb_optim_set_schedule(o, &s->schedule) != NB_OK) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}
