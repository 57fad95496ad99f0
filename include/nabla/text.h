/* nabla/text.h — text for language models: corpora read from files or folders, tokenizers
 * (bytes, characters, or byte-level BPE trained by nabla), token datasets with language-model
 * batches, labelled text for classification, and sampling the next token from logits.
 *
 * Text is bytes. A byte-level or BPE tokenizer encodes any byte string and decodes it back
 * exactly; a character-level one reads UTF-8 and says what it does with a character it has
 * not seen. Token ids are int32. Every file and every tokenizer description is treated as
 * hostile: malformed input gives NB_ERR_FORMAT with a message naming the file and the place,
 * never a crash. See docs/text.md. */
#ifndef NABLA_TEXT_H
#define NABLA_TEXT_H

#include "nabla/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- corpora --------------------------------------------------------------------------------
 * The bytes of one or more files, in memory. A folder contributes its regular files (not
 * symbolic links, not subfolders, not hidden files, not fortune index files ending in ".dat"),
 * in byte order of their names; files are concatenated as they are. */
typedef struct nb_corpus {
    char *data; /* len bytes and a terminating zero (nabla's allocator) */
    size_t len;
    int n_files;
    char **files;    /* the paths read, in order */
    size_t *offsets; /* n_files + 1: file i is data[offsets[i] .. offsets[i + 1]) */
} nb_corpus;

/* Appends a file, or a folder's files, to c (zero-initialised before the first call). On
 * failure c is left as it was. */
nb_status nb_corpus_add(nb_corpus *c, const char *path);
/* A new corpus of one file or folder. */
nb_status nb_corpus_read(const char *path, nb_corpus *out);
void nb_corpus_free(nb_corpus *c);

/* ---- tokenizers -----------------------------------------------------------------------------
 * Ids: the base symbols first (256 bytes, or the corpus's characters in code-point order),
 * then, for BPE, one id per merge in the order learned (merge k makes id 256 + k), then the
 * special tokens in the order given. A tokenizer never changes once made: threads may share
 * one (every encode call has its own scratch memory). */
typedef enum nb_tok_kind {
    NB_TOK_BYTE = 0, /* 256 symbols, one per byte */
    NB_TOK_CHAR,     /* the Unicode characters (UTF-8 code points) seen in the corpus */
    NB_TOK_BPE       /* byte-level byte-pair encoding: bytes plus learned merges */
} nb_tok_kind;

/* What a character-level tokenizer does with a character (or invalid UTF-8 byte) it has not
 * seen: fail, naming it and its place, or map it to the special token "<|unk|>" (which is then
 * added to the special tokens). */
typedef enum nb_tok_unknown { NB_TOK_UNK_ERROR = 0, NB_TOK_UNK_TOKEN } nb_tok_unknown;

#define NB_TOK_MAX_SPECIAL 256     /* special tokens */
#define NB_TOK_MAX_SPECIAL_LEN 256 /* bytes of a special token's text */
#define NB_TOK_MAX_LEN 256         /* bytes of a BPE token: longer merges are never learned */
#define NB_TOK_MAX_VOCAB (1 << 24)

typedef struct nb_tokenizer_opts {
    nb_tok_kind kind;
    int64_t vocab_size;         /* BPE: the target, 256 + merges + specials; others: 0 */
    const char *const *special; /* special tokens ("<|eos|>", "<|pad|>"), n_special of them */
    int n_special;
    nb_tok_unknown unknown; /* NB_TOK_CHAR only */
    int64_t min_count;      /* BPE: a pair seen fewer times is not merged; 0 means 2 */
} nb_tokenizer_opts;

typedef struct nb_tokenizer nb_tokenizer;

/* Builds (byte, char) or trains (BPE) a tokenizer on text[0..len). BPE splits the text into
 * words first (see docs/text.md: a space joins the word after it; letters, digits and
 * punctuation form separate runs; bytes >= 0x80 count as letters, so UTF-8 characters stay
 * whole), then repeatedly merges the most frequent adjacent pair of tokens within words; ties
 * go to the pair with the smaller first id, then the smaller second id. It stops at the
 * target size, or when no pair occurs min_count times. Text spelling a special token is never
 * merged into others. The tokenizer records how many tokens the text encodes to. */
nb_status nb_tokenizer_train(const void *text, size_t len, const nb_tokenizer_opts *opts,
                             nb_tokenizer **out);
void nb_tokenizer_free(nb_tokenizer *t);

typedef struct nb_tokenizer_info {
    nb_tok_kind kind;
    int64_t vocab_size; /* every id is in [0, vocab_size) */
    int64_t base;       /* 256 bytes, or the characters */
    int64_t merges;     /* BPE merges */
    int n_special;
    nb_tok_unknown unknown;
    int64_t corpus_bytes, corpus_tokens; /* the training text, as encoded (0: not recorded) */
} nb_tokenizer_info;

void nb_tokenizer_get_info(const nb_tokenizer *t, nb_tokenizer_info *info);
int64_t nb_tokenizer_vocab_size(const nb_tokenizer *t);
/* The id of a special token by its text, -1 if there is none. */
int32_t nb_tokenizer_special_id(const nb_tokenizer *t, const char *text);
/* The bytes token `id` decodes to, snprintf-style: at most cap bytes into buf (which may be
 * NULL when cap is 0), the full length in *len. */
nb_status nb_tokenizer_token(const nb_tokenizer *t, int32_t id, char *buf, size_t cap, size_t *len);

/* Encode flag: text that spells a special token becomes that token. Without it, such text is
 * encoded like any other (so untrusted text cannot inject an end-of-text token). */
#define NB_TOK_SPECIALS 1

/* Encodes text[0..len) into *ids (*n of them, at most len; allocated with nb_malloc, release
 * with nb_free). Any byte string encodes with a byte or BPE tokenizer. */
nb_status nb_tokenizer_encode(const nb_tokenizer *t, const void *text, size_t len, int flags,
                              int32_t **ids, int64_t *n);
/* Decodes ids[0..n) into *text (*len bytes and a terminating zero; nb_malloc'd, release with
 * nb_free). An id outside the vocabulary is an error naming it and its position. Special
 * tokens decode to their text. */
nb_status nb_tokenizer_decode(const nb_tokenizer *t, const int32_t *ids, int64_t n, char **text,
                              size_t *len);

/* The tokenizer as JSON text (format "nabla-tokenizer", version 1: kind, special tokens, and
 * merges or characters; docs/text.md), a self-describing, versioned string without zero bytes
 * that can be stored as a safetensors metadata value. snprintf-style: writes at most n bytes
 * (NUL included) to buf and returns the full length; 0 (and the error set) if out of memory. */
size_t nb_tokenizer_json(const nb_tokenizer *t, char *buf, size_t n);
/* Reads that text back, validating everything (`name` names it in messages). */
nb_status nb_tokenizer_parse(const void *buf, size_t len, const char *name, nb_tokenizer **out);
/* The JSON to a file, atomically; and back. */
nb_status nb_tokenizer_save(const nb_tokenizer *t, const char *path);
nb_status nb_tokenizer_load(const char *path, nb_tokenizer **out);

/* ---- token datasets for language models ------------------------------------------------------
 * A corpus encoded once into int32 ids in memory. The last val_fraction of the ids (by
 * position, rounded to the nearest id) is held out for validation. Training batches are B
 * windows of T + 1 consecutive ids at offsets drawn from an explicit RNG: inputs x = w[0..T),
 * targets y = w[1..T] (the next id at every position). The validation pass walks the held-out
 * part in non-overlapping windows, always the same ones. */
typedef struct nb_lm_data nb_lm_data;

/* Copies ids[0..n), each of which must be in [0, vocab). val_fraction in [0, 1). */
nb_status nb_lm_data_new(const int32_t *ids, int64_t n, int64_t vocab, double val_fraction,
                         nb_lm_data **out);
/* Encodes text with t (flags as nb_tokenizer_encode) into a new dataset. */
nb_status nb_lm_data_encode(const nb_tokenizer *t, const void *text, size_t len, int flags,
                            double val_fraction, nb_lm_data **out);
void nb_lm_data_free(nb_lm_data *d);

typedef struct nb_lm_info {
    int64_t tokens;       /* all ids */
    int64_t train_tokens; /* ids [0, train_tokens) */
    int64_t val_tokens;   /* ids [train_tokens, tokens) */
    int64_t vocab;
    size_t bytes; /* memory held by the dataset */
} nb_lm_info;

void nb_lm_data_get_info(const nb_lm_data *d, nb_lm_info *info);
/* The ids (all of them, training part first). */
const int32_t *nb_lm_data_ids(const nb_lm_data *d);

/* A training batch into x and y, contiguous i32 tensors of the same shape [B, T]: row b is
 * the window at offset o_b = nb_rng_below(rng, train_tokens - T), drawn for b = 0, 1, ... in
 * order, x[b] = ids[o_b .. o_b + T), y[b] = ids[o_b + 1 .. o_b + T]. Fails when the training
 * part is shorter than T + 1 ids. */
nb_status nb_lm_data_batch(const nb_lm_data *d, nb_rng *rng, nb_tensor *x, nb_tensor *y);
/* Validation windows of length T: floor((val_tokens - 1) / T) of them, window k starting at
 * train_tokens + k T. */
int64_t nb_lm_data_val_windows(const nb_lm_data *d, int64_t T);
/* Validation batch `batch` (windows batch*B .. batch*B + B - 1) into x and y ([B, T] as
 * above); *rows gets the number of windows written (fewer than B in the last batch, 0 past
 * the end; the rest of x and y is left as it was). */
nb_status nb_lm_data_val_batch(const nb_lm_data *d, int64_t batch, nb_tensor *x, nb_tensor *y,
                               int64_t *rows);

/* ---- labelled text ---------------------------------------------------------------------------
 * Records of text with a class each, encoded and padded (or truncated, keeping the start) to
 * `len` tokens: ids is [n, len], lengths[i] the tokens of record i before padding. Empty
 * records (after encoding) are skipped and counted. Three sources:
 *   folders:  DIR/<class>/<file>: one class per subfolder, one record per file;
 *   fortunes: one class per file, records separated by lines holding only "%" (the format of
 *             the fortune program's files); a folder of such files gives one class each;
 *   CSV:      a header row; a text column and a label column (RFC 4180 quoting).
 * Classes are numbered in byte order of their names (for CSV labels that are all
 * non-negative integers: the integers, names "0", "1", ...). */
typedef struct nb_textset {
    int64_t n;        /* records */
    int64_t len;      /* tokens per record (T) */
    int32_t *ids;     /* n x len */
    int32_t *lengths; /* n, each in [1, len] */
    int32_t *labels;  /* n, each in [0, num_classes) */
    int num_classes;
    char **classes; /* num_classes names */
    int32_t pad_id;
    int64_t truncated; /* records longer than len tokens */
    int64_t skipped;   /* empty records left out */
} nb_textset;

typedef struct nb_textset_opts {
    int64_t len;              /* tokens per record, > 0 */
    int32_t pad_id;           /* > 0: pad with this id; 0 (or < 0): the tokenizer's "<|pad|>"
                                 (an error if it has none) */
    int use_pad_id;           /* 1: pad with pad_id even when it is 0 */
    int flags;                /* as nb_tokenizer_encode */
    char delimiter;           /* CSV: 0 means ',' */
    const char *text_column;  /* CSV: NULL means "text" */
    const char *label_column; /* CSV: NULL means "label" */
} nb_textset_opts;

nb_status nb_textset_load_folders(const char *dir, const nb_tokenizer *t, const nb_textset_opts *o,
                                  nb_textset *out);
/* paths: n_paths fortune files or folders of them. */
nb_status nb_textset_load_fortunes(const char *const *paths, int n_paths, const nb_tokenizer *t,
                                   const nb_textset_opts *o, nb_textset *out);
nb_status nb_textset_load_csv(const char *path, const nb_tokenizer *t, const nb_textset_opts *o,
                              nb_textset *out);
/* The same from a buffer (`name` names it in messages). */
nb_status nb_textset_parse_csv(const void *buf, size_t len, const char *name, const nb_tokenizer *t,
                               const nb_textset_opts *o, nb_textset *out);
void nb_textset_free(nb_textset *s);

/* Splits by record at random: round(val_fraction * n) records go to *val, the rest to *train,
 * each kept in the original order; the partition depends only on seed and n (the same rule as
 * nb_dataset_split). Both parts are copies with the class names. */
nb_status nb_textset_split(const nb_textset *s, double val_fraction, uint64_t seed,
                           nb_textset *train, nb_textset *val);
/* Records idx[0..n) into x (i32, n x len elements), y (i32, n; may be NULL) and mask (f32,
 * n x len: 1 at tokens, 0 at padding; may be NULL), contiguous tensors of any shape. */
nb_status nb_textset_gather(const nb_textset *s, const int64_t *idx, int64_t n, nb_tensor *x,
                            nb_tensor *y, nb_tensor *mask);

/* ---- sampling the next token -----------------------------------------------------------------
 * From logits l[0..V): temperature τ scales them (p_i ∝ exp(l_i / τ)); τ = 0 is greedy (the
 * largest logit, the lowest id among equals). top_k > 0 keeps the k largest logits; top_p < 1
 * then keeps the smallest set of most probable tokens whose probabilities sum to at least
 * top_p (nucleus sampling). Ties in ordering go to the lower id. One 53-bit uniform is drawn
 * from rng per call (none when greedy), so a seed fixes the sequence. -inf logits are never
 * drawn; a NaN or +inf logit, or no finite logit, is an error. Filtering (top_k or top_p)
 * allocates 16 bytes per candidate for the call.
 *
 * Options are zero-initialised, every 0 field the default (NULL: all defaults), so {0} samples
 * the model's distribution and {.temperature = NB_ZERO} (a real 0, nabla/base.h) is greedy. */
typedef struct nb_sample_opts {
    double temperature; /* >= 0; 0: 1, the model's distribution; NB_ZERO: greedy */
    int64_t top_k;      /* 0: all */
    double top_p;       /* in (0, 1]; 0: 1, all */
} nb_sample_opts;

/* o may be NULL for the defaults; rng may be NULL when greedy. */
nb_status nb_sample_logits(const float *logits, int64_t V, const nb_sample_opts *o, nb_rng *rng,
                           int32_t *token);

#ifdef __cplusplus
}
#endif
#endif
