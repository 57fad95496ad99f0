/* examples/char_lstm.c — a character-level language model with an LSTM (char-rnn): it reads
 * a text a byte at a time, learns to predict the next byte, then writes text of its own.
 *
 *     char_lstm [--text FILE|DIR] [--steps N] [--sample N] [--temperature T] [--prompt TEXT]
 *               [--out MODEL.safetensors] [--threads T]
 *
 * The text is --text, else Debian's fortunes (/usr/share/games/fortunes, package
 * fortunes-min) when installed, else a built-in paragraph. The model is
 * examples/specs/char_lstm.spec built with the C API:
 *
 *   bytes [T] → embedding 64 → LSTM 256 → dense 256 → logits [T, 256]
 *
 * trained N steps (default 300) with nb_train_step on batches of 32 windows of 64 bytes,
 * Adam at 2e-3; then it generates --sample bytes (default 400) after the prompt, sampling at
 * the temperature (default 0.8) and printing each byte as it is drawn (an incremental decoder
 * carries the LSTM's state from one byte to the next). --out saves the model with its
 * tokenizer: PyTorch loads it (tests/ref/torch_from_spec.py) and so does nb_model_load. */
#include "lm_common.h"

int main(int argc, char **argv) {
    const char *who = "char_lstm";
    lm_args a = {.steps = 300, .sample = 400, .every = 50, .temperature = 0.8, .prompt = "The "};
    lm_parse_args(who, argc, argv, &a);
    nb_tokenizer *tok; /* 256 byte values: any text */
    if (nb_tokenizer_train("", 0, &(nb_tokenizer_opts){.kind = NB_TOK_BYTE}, &tok) != NB_OK)
        lm_die(who, "the tokenizer");
    const int64_t V = nb_tokenizer_vocab_size(tok);
    nb_lm_data *d = lm_load(who, a.text, tok);

    nb_model *m = nb_model_new_graph(42);
    int x = nb_model_input(m, "tokens", NB_I32, NB_DIMS(-1)); /* T known at run time */
    int h = nb_model_embedding_on(m, x, V, 64, NULL);
    h = nb_model_lstm_on(m, h, 256, NULL); /* y, then h_n and c_n (unused) */
    h = nb_model_dense_on(m, h, V, NULL);
    if (h < 0 || nb_model_set_tokenizer(m, tok) != NB_OK) lm_die(who, "the model");
    nb_model_summary(m, stdout);
    nb_optim *o = nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 2e-3});
    if (!o) lm_die(who, "the optimizer");

    lm_train(who, m, o, d, 32, 64, a.steps, a.every, 0.0f);
    lm_generate(who, m, tok, a.prompt, a.sample, a.temperature);
    if (a.out && nb_model_save(m, a.out, NULL) != NB_OK) lm_die(who, a.out);

    nb_optim_free(o);
    nb_model_free(m);
    nb_lm_data_free(d);
    nb_tokenizer_free(tok);
    return 0;
}
