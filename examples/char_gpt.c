/* examples/char_gpt.c — a character-level GPT (nanoGPT's recipe at small size): it reads a
 * text a byte at a time, learns to predict the next byte from the 64 before it, then writes
 * text of its own.
 *
 *     char_gpt [--text FILE|DIR] [--steps N] [--sample N] [--temperature T] [--prompt TEXT]
 *              [--out MODEL.safetensors] [--threads T]
 *
 * The text is --text, else Debian's fortunes (/usr/share/games/fortunes, package
 * fortunes-min) when installed, else a built-in paragraph. The model is
 * examples/specs/char_gpt.spec built with the C API:
 *
 *   bytes [T] → embedding 128 + learned positions (64), both N(0, 0.02)
 *   → 2 × pre-LN transformer block (4 heads, causal, MLP 512, GELU; no dropout)
 *   → layer norm → x Eᵀ (the head tied to the embedding): logits [T, 256]
 *
 * trained N steps (default 300) with nb_train_step on batches of 32 windows of 64 bytes:
 * AdamW at 1e-3, betas (0.9, 0.95), weight decay 0.1 on the matrices only, gradients clipped
 * to norm 1. Then it generates --sample bytes (default 400) after the prompt at the
 * temperature (default 0.8), printing each as it is drawn: an incremental decoder keeps every
 * block's keys and values (a KV cache), so a byte costs O(T), and the window slides when the
 * 64 positions are full. --out saves the model with its tokenizer. */
#include "lm_common.h"

int main(int argc, char **argv) {
    const char *who = "char_gpt";
    lm_args a = {.steps = 300, .sample = 400, .every = 50, .temperature = 0.8, .prompt = "The "};
    lm_parse_args(who, argc, argv, &a);
    nb_tokenizer *tok;
    if (nb_tokenizer_train("", 0, &(nb_tokenizer_opts){.kind = NB_TOK_BYTE}, &tok) != NB_OK)
        lm_die(who, "the tokenizer");
    const int64_t V = nb_tokenizer_vocab_size(tok), T = 64, E = 128;
    nb_lm_data *d = lm_load(who, a.text, tok);

    nb_model *m = nb_model_new_graph(42);
    int x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(-1));
    const nb_init small = {.kind = NB_INIT_NORMAL, .a = 0, .b = 0.02f}; /* GPT-2's N(0, 0.02) */
    int h = nb_model_embedding_on(m, x, V, E, &(nb_embedding_opts){.init = small});
    h = nb_model_positional_on(m, h, T, &small, NULL);
    for (int k = 0; k < 2; k++)
        h = nb_model_transformer_on(m, h, E, &(nb_transformer_opts){.heads = 4, .causal = 1});
    h = nb_model_layer_norm_on(m, h, NULL);
    h = nb_model_tied_dense_on(m, h, "embedding_1", 0, NULL);
    if (h < 0 || nb_model_set_tokenizer(m, tok) != NB_OK) lm_die(who, "the model");
    nb_model_summary(m, stdout);
    nb_optim *o =
        nb_optim_new(nb_model_params(m),
                     &(nb_optim_config){.kind = NB_OPTIM_ADAMW,
                                        .u.adam = {.lr = 1e-3, .beta2 = 0.95, .weight_decay = 0.1},
                                        .decay = NB_DECAY_MATRICES});
    if (!o) lm_die(who, "the optimizer");

    lm_train(who, m, o, d, 32, T, a.steps, a.every, 1.0f);
    lm_generate(who, m, tok, a.prompt, a.sample, a.temperature);
    if (a.out && nb_model_save(m, a.out, NULL) != NB_OK) lm_die(who, a.out);

    nb_optim_free(o);
    nb_model_free(m);
    nb_lm_data_free(d);
    nb_tokenizer_free(tok);
    return 0;
}
