/* tools/nabla/lm.c — language models in the `nabla` tool: `nabla train` on a spec whose data
 * line says `text=PATH`, and `nabla eval` of a model that has a tokenizer.
 *
 * The task (docs/text.md): the text (a file, or a folder's files) is encoded once with the
 * tokenizer (bytes, or tokenizer=FILE from `nabla tokenize`); the last val_split of the ids
 * (default 0.1) is held out. A training step reads B windows of T + 1 ids at random offsets
 * drawn from an RNG seeded by the spec's seed (nb_lm_data_batch): x = w[0..T), y = w[1..T];
 * the loss is the softmax cross-entropy at every position. An epoch is ill-defined for
 * random windows, so a run counts optimizer steps: --steps N, by default the spec's epochs
 * times one pass's worth of windows, ceil(train_tokens / (B T)). The validation loss is the
 * mean cross-entropy over every held-out window (non-overlapping, always the same ones), in
 * nats per token; bpc is the same in bits per byte of the held-out text,
 * val_loss / ln 2 * tokens / bytes (per character for a byte tokenizer on ASCII text).
 *
 * --checkpoint saves the model, its optimizer and an nb_train_state (step; shuffle_rng draws
 * the windows, dropout_rng the masks); --resume continues from one bit for bit. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The text of a run, encoded, and how many bytes a held-out token stands for. */
typedef struct lm_text {
    nb_lm_data *data;
    nb_lm_info info;
    double bytes_per_val_token;
} lm_text;

static void lm_text_free(lm_text *t) {
    nb_lm_data_free(t->data);
    t->data = NULL;
}

/* Reads and encodes path with tok; T is the model's context (windows need T + 1 ids). */
static int lm_text_load(const cli_args *a, const char *path, const nb_tokenizer *tok,
                        double val_fraction, int64_t T, int need_train, lm_text *out) {
    memset(out, 0, sizeof *out);
    nb_corpus c;
    memset(&c, 0, sizeof c);
    if (nb_corpus_read(path, &c) != NB_OK) return cli_lib_error(a);
    if (c.len == 0) {
        nb_corpus_free(&c);
        return cli_error(a, CLI_FAIL, "%s: the text is empty (no bytes to learn from)", path);
    }
    nb_status s = nb_lm_data_encode(tok, c.data, c.len, 0, val_fraction, &out->data);
    nb_corpus_free(&c);
    if (s != NB_OK) return cli_error(a, CLI_FAIL, "%s: %s", path, nb_last_error());
    nb_lm_data_get_info(out->data, &out->info);
    const nb_lm_info *i = &out->info;
    int rc = CLI_OK;
    if (need_train && i->train_tokens < T + 1)
        rc = cli_error(a, CLI_FAIL,
                       "%s: %lld tokens for training, fewer than a window of the model's "
                       "context plus one (%lld); give more text or a shorter input",
                       path, (long long)i->train_tokens, (long long)(T + 1));
    else if (nb_lm_data_val_windows(out->data, T) < 1)
        rc = cli_error(a, CLI_FAIL,
                       "%s: the held-out part has %lld tokens, fewer than a window of the "
                       "model's context plus one (%lld); give more text or a larger val_split",
                       path, (long long)i->val_tokens, (long long)(T + 1));
    if (rc == CLI_OK) { /* bytes of the held-out text, decoded back */
        char *text = NULL;
        size_t len = 0;
        const int32_t *ids = nb_lm_data_ids(out->data) + i->train_tokens;
        if (nb_tokenizer_decode(tok, ids, i->val_tokens, &text, &len) != NB_OK)
            rc = cli_lib_error(a);
        nb_free(text);
        out->bytes_per_val_token = (double)len / (double)i->val_tokens;
    }
    if (rc != CLI_OK) lm_text_free(out);
    return rc;
}

/* The model's context T (an i32 input [T]) and vocabulary (logits [T, V]), checked against
 * the tokenizer. */
int cli_lm_shape(const cli_args *a, const nb_model *m, const nb_tokenizer *tok, int64_t *T) {
    int64_t in[NB_MAX_RANK], outs[NB_MAX_RANK];
    int ir = nb_model_input_shape(m, in), orank = nb_model_output_shape(m, outs);
    if (nb_model_input_count(m) != 1 || ir != 1 || orank != 2 || outs[0] != in[0])
        return cli_error(a, CLI_FAIL,
                         "the model is not a language model: it needs one input of token ids "
                         "[T] and logits [T, V] out");
    int64_t V = nb_tokenizer_vocab_size(tok);
    if (outs[1] < V)
        return cli_error(a, CLI_FAIL,
                         "the model predicts %lld tokens but the tokenizer has %lld: ids from "
                         "%lld up would be out of range (make the last layer %lld wide)",
                         (long long)outs[1], (long long)V, (long long)outs[1], (long long)V);
    *T = in[0];
    return CLI_OK;
}

/* Mean cross-entropy over every held-out window, batches of B. */
static int lm_val_loss(const cli_args *a, nb_model *m, nb_ctx *ctx, const nb_lm_data *d, int64_t B,
                       int64_t T, double *loss) {
    nb_tensor *x = nb_tensor_new(NULL, NB_I32, 2, (int64_t[]){B, T});
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, 2, (int64_t[]){B, T});
    int rc = x && y ? CLI_OK : cli_lib_error(a);
    double sum = 0;
    int64_t windows = 0, rows = 0;
    int was = nb_model_training(m);
    nb_model_set_training(m, 0);
    for (int64_t b = 0; rc == CLI_OK; b++) {
        if (nb_lm_data_val_batch(d, b, x, y, &rows) != NB_OK) {
            rc = cli_lib_error(a);
            break;
        }
        if (rows == 0) break;
        nb_tensor *xs = x, *ys = y;
        if (rows < B) { /* the last, short batch: its rows only */
            xs = nb_slice(ctx, x, 0, 0, rows, 1);
            ys = nb_slice(ctx, y, 0, 0, rows, 1);
        }
        nb_tensor *l = xs && ys ? nb_cross_entropy_ex(ctx, nb_model_infer(m, ctx, xs), ys,
                                                      NB_REDUCE_MEAN, -100, 0.0f)
                                : NULL;
        if (!l)
            rc = cli_lib_error(a);
        else
            sum += nb_item(l) * (double)rows;
        windows += rows;
        nb_ctx_reset(ctx);
    }
    nb_model_set_training(m, was);
    nb_tensor_free(x);
    nb_tensor_free(y);
    *loss = windows ? sum / (double)windows : NAN;
    return rc;
}

/* The tokenizer of a run: the file's, else bytes. */
static int lm_tokenizer(const cli_args *a, const char *path, nb_tokenizer **out) {
    if (path) return nb_tokenizer_load(path, out) == NB_OK ? CLI_OK : cli_lib_error(a);
    nb_tokenizer_opts o;
    memset(&o, 0, sizeof o);
    o.kind = NB_TOK_BYTE;
    return nb_tokenizer_train(NULL, 0, &o, out) == NB_OK ? CLI_OK : cli_lib_error(a);
}

static void lm_print_metrics(double val_loss, double bytes_per_token) {
    printf("val_loss %.4f\n", val_loss);
    printf("bpc %.4f\n", val_loss / log(2.0) / bytes_per_token);
}

/* The model, its tokenizer and optimizer, and the run's state: fresh from the spec, or
 * those a checkpoint (--resume) holds. A fresh run draws its windows and its dropout masks
 * from generators seeded by the spec's seed; the state carries them (shuffle_rng picks the
 * windows), with the step count, so that a resumed run draws what the unbroken run would. */
static int lm_start(cli_args *a, const nb_spec *spec, nb_model **m, nb_tokenizer **tok,
                    nb_optim **o, nb_train_state *st) {
    const char *resume = cli_get(a, "resume");
    nb_train_state_init(st, spec->seed);
    if (!resume) {
        nb_rng_seed(&st->shuffle_rng, spec->seed);
        nb_rng_seed(&st->dropout_rng, spec->seed ^ 0x9e3779b97f4a7c15ull);
        int rc = lm_tokenizer(a, spec->data.tokenizer, tok);
        if (rc == CLI_OK && nb_spec_build(spec, m) != NB_OK) rc = cli_lib_error(a);
        if (rc == CLI_OK && nb_model_set_tokenizer(*m, *tok) != NB_OK) rc = cli_lib_error(a);
        if (rc == CLI_OK && !(*o = nb_spec_optim(spec, nb_model_params(*m))))
            rc = cli_lib_error(a);
        return rc;
    }
    nb_model_file info;
    memset(&info, 0, sizeof info);
    int rc = CLI_OK;
    if (nb_model_load(resume, m, &info) != NB_OK)
        rc = cli_lib_error(a);
    else if (!info.optim || !info.has_run)
        rc = cli_error(a, CLI_FAIL,
                       "%s is not a checkpoint: it has no %s (checkpoints are written by "
                       "--checkpoint)",
                       resume, info.optim ? "training state" : "optimizer state");
    else if (nb_model_get_tokenizer(*m, tok) != NB_OK)
        rc = cli_lib_error(a);
    if (rc == CLI_OK) {
        *o = info.optim;
        info.optim = NULL;
        *st = info.run; /* checked when the file was read */
    }
    nb_model_file_free(&info);
    return rc;
}

/* A resumable checkpoint: the model, its optimizer (state, step count, schedule) and st. */
static int lm_checkpoint(cli_args *a, const char *path, const nb_model *m, const nb_spec *spec,
                         const nb_optim *o, const nb_train_state *st) {
    nb_save_opts sv;
    memset(&sv, 0, sizeof sv);
    sv.spec = spec;
    sv.optim = o;
    sv.run = st;
    return nb_model_save(m, path, &sv) == NB_OK ? CLI_OK : cli_lib_error(a);
}

int cli_lm_train(cli_args *a, nb_spec *spec, const char *out, bool quiet) {
    const char *text_path = cli_get(a, "data") ? cli_get(a, "data") : spec->data.text;
    const char *ckpt_path = cli_get(a, "checkpoint");
    int64_t steps = 0, eval_every = 0, every = 0;
    int rc = cli_int(a, "steps", 1, INT64_MAX / 2, &steps);
    if (rc == CLI_OK) rc = cli_int(a, "eval-every", 1, INT64_MAX / 2, &eval_every);
    if (rc == CLI_OK) rc = cli_int(a, "every", 1, INT64_MAX / 2, &every);
    if (rc != CLI_OK) return rc;
    if (cli_get(a, "best") || cli_get(a, "early-stop"))
        return cli_error(a, CLI_USAGE,
                         "--best and --early-stop are not available for a language model's "
                         "run (text=): they act on a metric measured once an epoch, and a "
                         "run of --steps has no epochs (--eval-every N measures the "
                         "validation loss every N steps; --checkpoint FILE --every N keeps a "
                         "resumable state)");
    if (cli_get(a, "every") && !ckpt_path)
        return cli_error(a, CLI_USAGE, "--every N needs --checkpoint FILE");
    nb_tokenizer *tok = NULL;
    nb_model *m = NULL;
    nb_optim *o = NULL;
    nb_ctx *ctx = NULL;
    nb_tensor *x = NULL, *y = NULL;
    nb_train_state st;
    lm_text text;
    memset(&text, 0, sizeof text);
    int64_t T = 0, B = spec->batch;
    double val_fraction = spec->data.has_val_split ? spec->data.val_split : 0.1;
    if (val_fraction <= 0)
        return cli_error(a, CLI_USAGE, "a language model's run needs val_split > 0 (default 0.1)");
    rc = lm_start(a, spec, &m, &tok, &o, &st);
    if (rc == CLI_OK) rc = cli_lm_shape(a, m, tok, &T);
    if (rc == CLI_OK) rc = lm_text_load(a, text_path, tok, val_fraction, T, 1, &text);
    if (rc == CLI_OK) {
        ctx = nb_ctx_new(NULL);
        x = nb_tensor_new(NULL, NB_I32, 2, (int64_t[]){B, T});
        y = nb_tensor_new(NULL, NB_I32, 2, (int64_t[]){B, T});
        if (!ctx || !x || !y) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK && steps == 0) { /* the spec's epochs, each one pass's worth of windows */
        int64_t per = (text.info.train_tokens + B * T - 1) / (B * T);
        steps = spec->epochs > INT64_MAX / 2 / per ? INT64_MAX / 2 : per * spec->epochs;
    }
    if (eval_every == 0) eval_every = steps > 10 ? steps / 10 : 1;
    if (every == 0) every = eval_every;
    if (rc == CLI_OK && !quiet)
        fprintf(stderr, "text: %s, %lld tokens (%lld for training, %lld held out); %lld steps\n",
                text_path, (long long)text.info.tokens, (long long)text.info.train_tokens,
                (long long)text.info.val_tokens, (long long)steps);
    if (rc == CLI_OK && !quiet && cli_get(a, "resume"))
        fprintf(stderr, "resuming %s after step %lld\n", cli_get(a, "resume"),
                (long long)st.step);
    nb_step_opts so;
    memset(&so, 0, sizeof so);
    so.loss = NB_LOSS_CROSS_ENTROPY;
    so.dropout_rng = &st.dropout_rng;
    so.clip_grad_norm = (float)spec->clip_norm;
    so.clip_grad_value = (float)spec->clip_value;
    double t0 = nb_time(), train_time = 0, sum = 0, val = NAN;
    int64_t since = 0, first = st.step + 1;
    if (m) nb_model_set_training(m, 1);
    for (int64_t s = first; rc == CLI_OK && s <= steps; s++) {
        double ts = nb_time();
        nb_step_result r;
        if (nb_lm_data_batch(text.data, &st.shuffle_rng, x, y) != NB_OK ||
            nb_train_step(m, o, ctx, x, y, &so, &r) != NB_OK) {
            rc = cli_error(a, CLI_FAIL, "step %lld: %s", (long long)s, nb_last_error());
            break;
        }
        nb_ctx_reset(ctx);
        train_time += nb_time() - ts;
        if (!isfinite(r.loss)) {
            rc = cli_error(a, CLI_FAIL,
                           "step %lld: the loss is %g (training diverged; try a lower lr or "
                           "a clip line); nothing saved",
                           (long long)s, r.loss);
            break;
        }
        st.step = s;
        sum += r.loss;
        since++;
        if (s % eval_every == 0 || s == steps) {
            rc = lm_val_loss(a, m, ctx, text.data, B, T, &val);
            if (rc == CLI_OK && !quiet)
                fprintf(stderr,
                        "step %lld/%lld  loss %.4f  val_loss %.4f  bpc %.4f  %.0f tokens/s  "
                        "%.1fs\n",
                        (long long)s, (long long)steps, sum / (double)since, val,
                        val / log(2.0) / text.bytes_per_val_token,
                        (double)(s - first + 1) * (double)B * (double)T / train_time,
                        nb_time() - t0);
            sum = 0;
            since = 0;
        }
        if (rc == CLI_OK && ckpt_path && (s % every == 0 || s == steps))
            rc = lm_checkpoint(a, ckpt_path, m, spec, o, &st);
    }
    if (rc == CLI_OK && first > steps) /* a resumed run that had already ended */
        rc = lm_val_loss(a, m, ctx, text.data, B, T, &val);
    if (m) nb_model_set_training(m, 0);
    if (rc == CLI_OK) {
        nb_save_opts sv;
        memset(&sv, 0, sizeof sv);
        sv.spec = spec;
        if (nb_model_save(m, out, &sv) != NB_OK)
            rc = cli_lib_error(a);
        else if (!quiet)
            fprintf(stderr, "saved %s\n", out);
    }
    if (rc == CLI_OK) {
        lm_print_metrics(val, text.bytes_per_val_token);
        printf("tokens_per_s %.0f\n",
               train_time > 0 ? (double)(steps - first + 1) * (double)B * (double)T / train_time : 0.0);
    }
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(o);
    nb_model_free(m);
    nb_tokenizer_free(tok);
    lm_text_free(&text);
    return rc;
}

int cli_lm_eval(cli_args *a, nb_model *m, const nb_model_file *info) {
    const nb_spec *spec = info->spec;
    const char *path = cli_get(a, "data"), *stored = spec ? spec->data.text : NULL;
    if (!path && stored && cli_flag(a, "use-stored-data")) path = stored;
    if (!path)
        return cli_error(a, CLI_USAGE, "no text to evaluate on: give --data PATH (%s)",
                         stored ? "the model's stored spec names its training text; "
                                  "--use-stored-data evaluates on its held-out part"
                                : "the model's spec names no text");
    nb_tokenizer *tok = NULL;
    if (nb_model_get_tokenizer(m, &tok) != NB_OK) return cli_lib_error(a);
    int64_t T = 0, B = spec && spec->batch > 0 ? spec->batch : 32;
    double val_fraction = spec && spec->data.has_val_split ? spec->data.val_split : 0.1;
    lm_text text;
    memset(&text, 0, sizeof text);
    int rc = cli_lm_shape(a, m, tok, &T);
    if (rc == CLI_OK) rc = lm_text_load(a, path, tok, val_fraction, T, 0, &text);
    nb_ctx *ctx = rc == CLI_OK ? nb_ctx_new(NULL) : NULL;
    if (rc == CLI_OK && !ctx) rc = cli_lib_error(a);
    double val = NAN;
    if (rc == CLI_OK) rc = lm_val_loss(a, m, ctx, text.data, B, T, &val);
    if (rc == CLI_OK) {
        printf("tokens %lld\n", (long long)(nb_lm_data_val_windows(text.data, T) * T));
        lm_print_metrics(val, text.bytes_per_val_token);
    }
    nb_ctx_free(ctx);
    lm_text_free(&text);
    nb_tokenizer_free(tok);
    return rc;
}
