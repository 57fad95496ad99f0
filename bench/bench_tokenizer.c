/* bench_tokenizer — byte-level BPE on a real corpus: training time, encoding and decoding
 * throughput, and bytes per token, at vocabularies of 512 and 2048.
 *
 *     build/bench/bench_tokenizer [CORPUS]     (default /usr/share/games/fortunes)
 *
 * Training includes one encoding pass of the corpus (the tokenizer records its token count),
 * so "learn" is training minus the best encoding time. Each figure is the best of 3 runs. */
#include <stdio.h>
#include <string.h>

#include "nabla.h"

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/usr/share/games/fortunes";
    nb_corpus c;
    if (nb_corpus_read(path, &c) != NB_OK) {
        printf("bench_tokenizer: %s (Debian package fortunes, or give a corpus); skipped\n",
               nb_last_error());
        return 0;
    }
    printf("corpus %s: %zu bytes in %d files\n", path, c.len, c.n_files);
    const char *special[] = {"<|eos|>", "<|pad|>"};
    const int64_t vocabs[] = {512, 2048};
    for (int v = 0; v < 2; v++) {
        nb_tokenizer_opts o = {
            .kind = NB_TOK_BPE, .vocab_size = vocabs[v], .special = special, .n_special = 2};
        double train = 1e30, enc = 1e30, dec = 1e30;
        int64_t n = 0;
        for (int rep = 0; rep < 3; rep++) {
            nb_tokenizer *t;
            double t0 = nb_time();
            if (nb_tokenizer_train(c.data, c.len, &o, &t) != NB_OK) {
                fprintf(stderr, "bench_tokenizer: %s\n", nb_last_error());
                return 1;
            }
            double t1 = nb_time();
            int32_t *ids;
            char *back;
            size_t len;
            if (nb_tokenizer_encode(t, c.data, c.len, 0, &ids, &n) != NB_OK) return 1;
            double t2 = nb_time();
            if (nb_tokenizer_decode(t, ids, n, &back, &len) != NB_OK) return 1;
            double t3 = nb_time();
            if (len != c.len || memcmp(back, c.data, len) != 0) {
                fprintf(stderr, "bench_tokenizer: the round trip changed the text\n");
                return 1;
            }
            train = t1 - t0 < train ? t1 - t0 : train;
            enc = t2 - t1 < enc ? t2 - t1 : enc;
            dec = t3 - t2 < dec ? t3 - t2 : dec;
            nb_free(ids);
            nb_free(back);
            nb_tokenizer_free(t);
        }
        printf("vocab %5lld: train %.3f s (learn %.3f s), encode %.1f MB/s, decode %.1f MB/s, "
               "%lld tokens, %.3f bytes/token\n",
               (long long)vocabs[v], train, train - enc, (double)c.len / enc / 1e6,
               (double)c.len / dec / 1e6, (long long)n, (double)c.len / (double)n);
    }
    nb_corpus_free(&c);
    return 0;
}
