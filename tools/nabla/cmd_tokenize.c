/* tools/nabla/cmd_tokenize.c — `nabla tokenize`: train a tokenizer on a corpus, and use and
 * inspect it.
 *
 *     nabla tokenize train CORPUS... --vocab 2048 --out tok.json
 *     nabla tokenize encode tok.json "some text"        (or --file F)  -> ids on one line
 *     nabla tokenize decode tok.json 312 88 1021 ...    (or --file F)  -> the bytes
 *     nabla tokenize info tok.json [--corpus PATH]
 *
 * A CORPUS is a file or a folder of files (see docs/text.md). Tokenizers are the JSON files of
 * nb_tokenizer_save. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"vocab", "N", "train: the vocabulary size for BPE (256 bytes + merges + special tokens)"},
    {"out", "FILE", "train: where to write the tokenizer (JSON)"},
    {"kind", "KIND", "train: bpe (default), char (the corpus's characters) or byte"},
    {"special", "LIST", "train: special tokens, comma-separated (default <|eos|>,<|pad|>)"},
    {"unknown", "POLICY", "train --kind char: error (default) or token (map to <|unk|>)"},
    {"min-count", "N", "train: merge only pairs seen at least N times (default 2)"},
    {"file", "FILE", "encode: the text to encode; decode: whitespace-separated ids"},
    {"parse-special", NULL, "encode: text spelling a special token becomes that token"},
    {"corpus", "PATH", "info: measure bytes per token and speed on this file or folder"},
};

/* Which subcommand may use each option (a bit per subcommand, in this order). */
enum { S_TRAIN = 1, S_ENCODE = 2, S_DECODE = 4, S_INFO = 8 };
static const char *const subs[] = {"train", "encode", "decode", "info"};
static const int allowed[] = {
    S_TRAIN, S_TRAIN, S_TRAIN, S_TRAIN, S_TRAIN, S_TRAIN, S_ENCODE | S_DECODE, S_ENCODE, S_INFO};

/* A token's bytes for a terminal: printable ASCII and UTF-8 as they are, the rest escaped. */
static void print_token(const nb_tokenizer *t, int32_t id) {
    char b[NB_TOK_MAX_LEN > NB_TOK_MAX_SPECIAL_LEN ? NB_TOK_MAX_LEN : NB_TOK_MAX_SPECIAL_LEN];
    size_t n = 0;
    if (nb_tokenizer_token(t, id, b, sizeof b, &n) != NB_OK) return;
    printf("%d \"", id);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\n')
            printf("\\n");
        else if (c == '\t')
            printf("\\t");
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c); /* bytes >= 0x80: UTF-8 shows as text, a lone byte as the terminal can */
    }
    printf("\"");
}

static int load(cli_args *a, const char *path, nb_tokenizer **t) {
    return nb_tokenizer_load(path, t) == NB_OK ? CLI_OK : cli_lib_error(a);
}

/* Splits "a,b,c" into the special tokens (pointers into a copy). */
static int split_list(cli_args *a, const char *list, char **copy, const char **items, int *n) {
    *n = 0;
    *copy = NULL;
    if (!list[0]) return CLI_OK;
    *copy = malloc(strlen(list) + 1);
    if (!*copy) return cli_error(a, CLI_FAIL, "out of memory");
    strcpy(*copy, list);
    for (char *p = *copy;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        if (!*p) return cli_error(a, CLI_USAGE, "--special: an empty token in '%s'", list);
        if (*n == NB_TOK_MAX_SPECIAL)
            return cli_error(a, CLI_USAGE, "--special: at most %d tokens", NB_TOK_MAX_SPECIAL);
        items[(*n)++] = p;
        if (!comma) break;
        p = comma + 1;
    }
    return CLI_OK;
}

static int run_train(cli_args *a) {
    const char *out = cli_get(a, "out"), *kind = cli_get(a, "kind");
    const char *unknown = cli_get(a, "unknown");
    if (a->n_pos < 2) return cli_error(a, CLI_USAGE, "train needs a CORPUS (a file or a folder)");
    if (!out) return cli_error(a, CLI_USAGE, "--out FILE is required (where the tokenizer goes)");
    nb_tokenizer_opts o = {.kind = NB_TOK_BPE};
    if (kind && !strcmp(kind, "char"))
        o.kind = NB_TOK_CHAR;
    else if (kind && !strcmp(kind, "byte"))
        o.kind = NB_TOK_BYTE;
    else if (kind && strcmp(kind, "bpe") != 0)
        return cli_error(a, CLI_USAGE, "--kind must be bpe, char or byte, not '%s'", kind);
    if (unknown && o.kind != NB_TOK_CHAR)
        return cli_error(a, CLI_USAGE, "--unknown is for --kind char (bytes are never unknown)");
    if (unknown && !strcmp(unknown, "token"))
        o.unknown = NB_TOK_UNK_TOKEN;
    else if (unknown && strcmp(unknown, "error") != 0)
        return cli_error(a, CLI_USAGE, "--unknown must be error or token, not '%s'", unknown);
    int rc = cli_int(a, "vocab", 256, NB_TOK_MAX_VOCAB, &o.vocab_size);
    if (rc == CLI_OK) rc = cli_int(a, "min-count", 1, INT64_MAX, &o.min_count);
    if (rc != CLI_OK) return rc;
    if (o.kind == NB_TOK_BPE && !o.vocab_size)
        return cli_error(a, CLI_USAGE, "--vocab N is required for BPE (e.g. --vocab 2048)");
    if (o.kind != NB_TOK_BPE && o.vocab_size)
        return cli_error(a, CLI_USAGE, "--vocab is for BPE; a %s vocabulary's size comes from %s",
                         kind, o.kind == NB_TOK_BYTE ? "the 256 bytes" : "the corpus");
    const char *special[NB_TOK_MAX_SPECIAL];
    char *copy = NULL;
    const char *list = cli_get(a, "special");
    rc = split_list(a, list ? list : "<|eos|>,<|pad|>", &copy, special, &o.n_special);
    o.special = special;
    nb_corpus c = {0};
    for (int i = 1; rc == CLI_OK && i < a->n_pos; i++)
        if (nb_corpus_add(&c, a->pos[i]) != NB_OK) rc = cli_lib_error(a);
    nb_tokenizer *t = NULL;
    double t0 = nb_time();
    if (rc == CLI_OK && nb_tokenizer_train(c.data, c.len, &o, &t) != NB_OK) rc = cli_lib_error(a);
    double secs = nb_time() - t0;
    if (rc == CLI_OK && nb_tokenizer_save(t, out) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK) {
        nb_tokenizer_info info;
        nb_tokenizer_get_info(t, &info);
        static const char *const names[] = {"byte", "char", "bpe"};
        printf("tokenizer: %s, %lld tokens (%lld %s", names[info.kind], (long long)info.vocab_size,
               (long long)info.base, info.kind == NB_TOK_CHAR ? "characters" : "bytes");
        if (info.kind == NB_TOK_BPE) printf(" + %lld merges", (long long)info.merges);
        printf(" + %d special)\n", info.n_special);
        if (info.kind == NB_TOK_BPE && info.vocab_size < o.vocab_size)
            printf("           fewer than the %lld asked: no other pair occurs %lld times\n",
                   (long long)o.vocab_size, (long long)(o.min_count ? o.min_count : 2));
        printf("corpus:    %zu bytes in %d file%s -> %lld tokens, %.3f bytes/token\n", c.len,
               c.n_files, c.n_files == 1 ? "" : "s", (long long)info.corpus_tokens,
               info.corpus_tokens ? (double)c.len / (double)info.corpus_tokens : 0.0);
        printf("time:      %.2f s\nwrote %s\n", secs, out);
    }
    nb_tokenizer_free(t);
    nb_corpus_free(&c);
    free(copy);
    return rc;
}

static int run_encode(cli_args *a) {
    const char *file = cli_get(a, "file");
    if (a->n_pos > 3 || (file && a->n_pos > 2) || (!file && a->n_pos < 3))
        return cli_error(a, CLI_USAGE,
                         "encode takes the TEXT as one argument (quote it) or "
                         "--file FILE, not both");
    nb_tokenizer *t;
    int rc = load(a, a->pos[1], &t);
    if (rc != CLI_OK) return rc;
    nb_corpus c = {0};
    const char *text = a->n_pos == 3 ? a->pos[2] : NULL;
    size_t len = text ? strlen(text) : 0;
    if (file && nb_corpus_read(file, &c) != NB_OK) rc = cli_lib_error(a);
    if (file) text = c.data, len = c.len;
    int32_t *ids = NULL;
    int64_t n = 0;
    int flags = cli_flag(a, "parse-special") ? NB_TOK_SPECIALS : 0;
    if (rc == CLI_OK && nb_tokenizer_encode(t, text, len, flags, &ids, &n) != NB_OK)
        rc = cli_lib_error(a);
    for (int64_t i = 0; rc == CLI_OK && i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    if (rc == CLI_OK) printf("\n");
    nb_free(ids);
    nb_corpus_free(&c);
    nb_tokenizer_free(t);
    return rc;
}

/* Appends the ids written in s (separated by blanks or commas) to *ids. */
static int parse_ids(cli_args *a, const char *s, int32_t **ids, int64_t *n, int64_t *cap) {
    for (const char *p = s;;) {
        while (*p == ' ' || *p == ',' || (*p >= '\t' && *p <= '\r')) p++;
        if (!*p) return CLI_OK;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && !(*end >= '\t' && *end <= '\r')))
            return cli_error(a, CLI_USAGE, "'%.*s' is not a token id (ids are integers)",
                             (int)strcspn(p, " ,\t\n\r"), p);
        if (*n == *cap) {
            int64_t c2 = *cap ? 2 * *cap : 256;
            int32_t *v2 = realloc(*ids, (size_t)c2 * sizeof **ids);
            if (!v2) return cli_error(a, CLI_FAIL, "out of memory");
            *ids = v2;
            *cap = c2;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = end;
    }
}

static int run_decode(cli_args *a) {
    const char *file = cli_get(a, "file");
    if (file && a->n_pos > 2)
        return cli_error(a, CLI_USAGE,
                         "decode takes the IDS as arguments or --file FILE, not both");
    nb_tokenizer *t;
    int rc = load(a, a->pos[1], &t);
    if (rc != CLI_OK) return rc;
    int32_t *ids = NULL;
    int64_t n = 0, cap = 0;
    nb_corpus c = {0};
    if (file && nb_corpus_read(file, &c) != NB_OK) rc = cli_lib_error(a);
    if (file && rc == CLI_OK) rc = parse_ids(a, c.data, &ids, &n, &cap);
    for (int i = 2; rc == CLI_OK && i < a->n_pos; i++) rc = parse_ids(a, a->pos[i], &ids, &n, &cap);
    char *text = NULL;
    size_t len = 0;
    if (rc == CLI_OK && nb_tokenizer_decode(t, ids, n, &text, &len) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK && len) fwrite(text, 1, len, stdout);
    nb_free(text);
    free(ids);
    nb_corpus_free(&c);
    nb_tokenizer_free(t);
    return rc;
}

static void print_range(const nb_tokenizer *t, const char *label, int64_t from, int64_t to) {
    printf("%s", label);
    for (int64_t id = from; id < to; id++) {
        printf("%s", id == from ? "" : "  ");
        print_token(t, (int32_t)id);
    }
    printf("\n");
}

static int run_info(cli_args *a) {
    if (a->n_pos != 2) return cli_error(a, CLI_USAGE, "info takes one tokenizer file");
    nb_tokenizer *t;
    int rc = load(a, a->pos[1], &t);
    if (rc != CLI_OK) return rc;
    nb_tokenizer_info in;
    nb_tokenizer_get_info(t, &in);
    static const char *const kinds[] = {"byte (one token per byte)",
                                        "char (the characters of the training text)",
                                        "bpe (byte-level byte-pair encoding)"};
    printf("kind:        %s\n", kinds[in.kind]);
    printf("vocabulary:  %lld tokens: %lld %s", (long long)in.vocab_size, (long long)in.base,
           in.kind == NB_TOK_CHAR ? "characters" : "bytes");
    if (in.kind == NB_TOK_BPE) printf(", %lld merges", (long long)in.merges);
    printf(", %d special\n", in.n_special);
    if (in.kind == NB_TOK_CHAR)
        printf("unknown:     %s\n", in.unknown == NB_TOK_UNK_TOKEN
                                        ? "mapped to <|unk|>"
                                        : "an error (characters not seen in training)");
    int64_t first_special = in.vocab_size - in.n_special;
    if (in.n_special) print_range(t, "special:     ", first_special, in.vocab_size);
    if (in.corpus_tokens)
        printf("training:    %lld bytes -> %lld tokens, %.3f bytes/token\n",
               (long long)in.corpus_bytes, (long long)in.corpus_tokens,
               (double)in.corpus_bytes / (double)in.corpus_tokens);
    int64_t lo = in.kind == NB_TOK_BPE ? 256 : 0, hi = first_special;
    int64_t k = hi - lo < 8 ? hi - lo : 8;
    if (k > 0) {
        print_range(t, in.kind == NB_TOK_BPE ? "first merges: " : "first:       ", lo, lo + k);
        print_range(t, in.kind == NB_TOK_BPE ? "last merges:  " : "last:        ", hi - k, hi);
    }
    const char *corpus = cli_get(a, "corpus");
    nb_corpus c = {0};
    if (corpus && nb_corpus_read(corpus, &c) != NB_OK) rc = cli_lib_error(a);
    if (corpus && rc == CLI_OK) {
        int32_t *ids = NULL;
        int64_t n = 0;
        double t0 = nb_time();
        if (nb_tokenizer_encode(t, c.data, c.len, 0, &ids, &n) != NB_OK) rc = cli_lib_error(a);
        double secs = nb_time() - t0;
        if (rc == CLI_OK)
            printf("on %s: %zu bytes -> %lld tokens, %.3f bytes/token, encoded in %.3f s "
                   "(%.1f MB/s)\n",
                   corpus, c.len, (long long)n, n ? (double)c.len / (double)n : 0.0, secs,
                   secs > 0 ? (double)c.len / secs / 1e6 : 0.0);
        nb_free(ids);
    }
    nb_corpus_free(&c);
    nb_tokenizer_free(t);
    return rc;
}

static int run(cli_args *a) {
    int s = 0;
    while (s < 4 && strcmp(a->pos[0], subs[s]) != 0) s++;
    if (s == 4)
        return cli_error(a, CLI_USAGE, "unknown subcommand '%s' (train, encode, decode or info)",
                         a->pos[0]);
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++)
        if (a->val[i] && !(allowed[i] & (1 << s)))
            return cli_error(a, CLI_USAGE,
                             "--%s is not an option of 'nabla tokenize %s' (see "
                             "'nabla tokenize --help')",
                             opts[i].name, subs[s]);
    switch (s) {
    case 0:
        return run_train(a);
    case 1:
        return run_encode(a);
    case 2:
        return run_decode(a);
    default:
        return run_info(a);
    }
}

const cli_cmd cli_cmd_tokenize = {
    .name = "tokenize",
    .usage = "train CORPUS... --vocab N --out TOK | encode TOK TEXT | decode TOK IDS... | info TOK",
    .summary = "train a tokenizer (byte-level BPE) on text; encode, decode, inspect",
    .description =
        "train CORPUS... --vocab N --out TOK.json\n"
        "    Learns a byte-level BPE tokenizer from the files (a folder: its files, without\n"
        "    links, hidden and .dat files) and writes it as JSON. --kind char or byte builds a\n"
        "    character or byte vocabulary instead.\n"
        "encode TOK.json TEXT | --file FILE\n"
        "    Prints the token ids of the text on one line.\n"
        "decode TOK.json IDS... | --file FILE\n"
        "    Writes the bytes the ids stand for.\n"
        "info TOK.json [--corpus PATH]\n"
        "    Vocabulary, special tokens, example tokens, bytes per token on the training text\n"
        "    (and on PATH, with the encoding speed).",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 2,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
