/* tools/nabla/cmd_generate.c — `nabla generate MODEL --prompt TEXT`: continue a text with a
 * language model (a model file with a tokenizer, as `nabla train` saves a spec with text=).
 *
 * The prompt is encoded with the model's tokenizer; train.h's nb_generate draws each next
 * token from the last position's logits (nb_sample_logits: temperature, top-k, top-p), through
 * the incremental decoder (KV caches for attention, carried states for recurrent layers), and
 * every token is written to standard output as soon as it is drawn. The prompt is written
 * first, and a newline after the last token. --seed fixes the draws: the same model, prompt,
 * options and seed give the same text. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"prompt", "TEXT", "the text to continue (at least one token)"},
    {"tokens", "N", "tokens to draw, 1 to 1000000 (default 200)"},
    {"temperature", "T", "0 (greedy) to 100; 1 samples the model's distribution (default 1)"},
    {"top-k", "K", "draw among the K most probable tokens only (default 0: all)"},
    {"top-p", "P", "draw among the most probable tokens of total probability P, in (0, 1]"},
    {"seed", "N", "seeds the draws (default 0)"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
};

/* Writes each token's bytes as it comes; an id the tokenizer cannot decode (a last layer
 * wider than the vocabulary) stops the run, remembered for the error. */
typedef struct sink {
    const nb_tokenizer *tok;
    int32_t bad;
    int failed;
} sink;

static int put_token(int32_t token, void *user) {
    sink *k = user;
    char buf[NB_TOK_MAX_SPECIAL_LEN + NB_TOK_MAX_LEN];
    size_t n = 0;
    if (nb_tokenizer_token(k->tok, token, buf, sizeof buf, &n) != NB_OK) {
        k->bad = token;
        k->failed = 1;
        return 1;
    }
    fwrite(buf, 1, n < sizeof buf ? n : sizeof buf, stdout);
    fflush(stdout);
    return 0;
}

static int run(cli_args *a) {
    int64_t count = 200, top_k = 0, seed = 0;
    double temperature = 1.0, top_p = 1.0;
    int rc = cli_threads(a);
    if (rc == CLI_OK) rc = cli_int(a, "tokens", 1, 1000000, &count);
    if (rc == CLI_OK) rc = cli_int(a, "top-k", 0, NB_TOK_MAX_VOCAB, &top_k);
    if (rc == CLI_OK) rc = cli_int(a, "seed", 0, INT64_MAX, &seed);
    if (rc == CLI_OK) rc = cli_double(a, "temperature", 0.0, 100.0, &temperature);
    if (rc == CLI_OK) rc = cli_double(a, "top-p", 0.0, 1.0, &top_p);
    if (rc == CLI_OK && !(top_p > 0.0))
        rc = cli_error(a, CLI_USAGE, "--top-p expects a probability in (0, 1], got 0");
    const char *prompt = cli_get(a, "prompt");
    if (rc == CLI_OK && (!prompt || !*prompt))
        rc = cli_error(a, CLI_USAGE,
                       "--prompt TEXT is needed: the model continues a text of at least one "
                       "token");
    if (rc != CLI_OK) return rc;
    nb_model *m = NULL;
    nb_model_file info;
    rc = cli_load_model(a, a->pos[0], NULL, &m, &info);
    if (rc != CLI_OK) return rc;
    nb_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    int64_t n = 0, T = 0;
    if (!nb_model_has_tokenizer(m))
        rc = cli_error(a, CLI_FAIL,
                       "%s is not a language model: it has no tokenizer (train one from a spec "
                       "whose data line says text=PATH)",
                       a->pos[0]);
    if (rc == CLI_OK && nb_model_get_tokenizer(m, &tok) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK) rc = cli_lm_shape(a, m, tok, &T);
    if (rc == CLI_OK && nb_tokenizer_encode(tok, prompt, strlen(prompt), 0, &ids, &n) != NB_OK)
        rc = cli_error(a, CLI_FAIL, "--prompt: %s", nb_last_error());
    if (rc == CLI_OK && top_k > nb_tokenizer_vocab_size(tok))
        rc = cli_error(a, CLI_USAGE, "--top-k %lld is more than the %lld tokens of the vocabulary",
                       (long long)top_k, (long long)nb_tokenizer_vocab_size(tok));
    nb_ctx *ctx = rc == CLI_OK ? nb_ctx_new(NULL) : NULL;
    if (rc == CLI_OK && !ctx) rc = cli_lib_error(a);
    if (rc == CLI_OK) {
        nb_sample_opts so;
        memset(&so, 0, sizeof so);
        /* -0.0 is a temperature of 0 (greedy) that zeroed-defaults options tell from "unset" */
        so.temperature = temperature == 0 ? -0.0 : temperature;
        so.top_k = top_k;
        so.top_p = top_p;
        nb_generate_opts go;
        memset(&go, 0, sizeof go);
        go.max_tokens = count;
        go.sample = &so;
        sink k = {.tok = tok, .bad = 0, .failed = 0};
        go.on_token = put_token;
        go.user = &k;
        nb_rng rng;
        nb_rng_seed(&rng, (uint64_t)seed);
        fwrite(prompt, 1, strlen(prompt), stdout);
        fflush(stdout);
        int64_t drawn = 0;
        nb_status s = nb_generate(m, ctx, ids, n, &go, &rng, NULL, &drawn);
        putchar('\n');
        fflush(stdout);
        if (s != NB_OK)
            rc = cli_lib_error(a);
        else if (k.failed)
            rc = cli_error(a, CLI_FAIL,
                           "the model drew token %d, outside the tokenizer's %lld tokens (its "
                           "last layer is wider than the vocabulary: make it %lld wide)",
                           (int)k.bad, (long long)nb_tokenizer_vocab_size(tok),
                           (long long)nb_tokenizer_vocab_size(tok));
    }
    nb_ctx_free(ctx);
    nb_free(ids);
    nb_tokenizer_free(tok);
    nb_model_file_free(&info);
    nb_model_free(m);
    return rc;
}

const cli_cmd cli_cmd_generate = {
    .name = "generate",
    .usage = "MODEL --prompt TEXT [options]",
    .summary = "continue a text with a language model, streamed to standard output",
    .description =
        "Encodes TEXT with the model's tokenizer and draws --tokens more tokens, each from\n"
        "the model's prediction at the last position (--temperature, --top-k, --top-p), and\n"
        "writes the prompt, then every token as it is drawn, then a newline. Transformers\n"
        "keep their keys and values (a KV cache) and recurrent layers their states, so each\n"
        "token costs one step. The same --seed gives the same text. The model is one that\n"
        "nabla train saved from a spec whose data line says text=PATH (docs/text.md).",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
