/* data/text.h — internal parts of the text module: the tokenizer's struct (shared by the
 * builders, the BPE trainer and encoder, and the JSON reader and writer), UTF-8, the word
 * splitter BPE works within, hashing, and a growing array of ids. */
#ifndef NBI_TEXT_H
#define NBI_TEXT_H

#include "data/data.h"
#include "nabla/text.h"

struct nb_tokenizer {
    nb_tok_kind kind;
    int64_t base;      /* 256 (bytes) or the number of characters */
    int64_t n_merges;  /* BPE */
    int32_t *merges;   /* BPE: 2 per merge, (left, right); merge k makes id 256 + k */
    uint16_t *tok_len; /* BPE: bytes of ids [0, 256 + n_merges) */
    uint32_t *chars;   /* CHAR: the base code points, strictly ascending */
    int n_special;
    char **special; /* their texts (NUL-terminated, no zero bytes inside) */
    size_t *special_len;
    nb_tok_unknown unknown;
    int32_t unk_id; /* the "<|unk|>" id with NB_TOK_UNK_TOKEN, else -1 */
    /* BPE: (left, right) -> merge rank, open addressing on key = left << 32 | right */
    uint64_t *rank_key; /* UINT64_MAX: empty */
    int32_t *rank_val;
    size_t rank_cap; /* a power of two */
    int64_t corpus_bytes, corpus_tokens;
};

#define NBI_UNK_TEXT "<|unk|>"

/* The id of the first special token. */
static inline int64_t nbi_tok_first_special(const nb_tokenizer *t) {
    return t->base + t->n_merges;
}

/* A zeroed tokenizer (unk_id -1), or NULL with the error set. */
nb_tokenizer *nbi_tok_alloc(void);
/* Copies the special tokens (and adds "<|unk|>" for NB_TOK_UNK_TOKEN when missing). */
nb_status nbi_tok_set_special(nb_tokenizer *t, const char *const *special, int n, const char *what);
/* Checks everything (merges refer to earlier ids, are unique and stay within NB_TOK_MAX_LEN
 * bytes; characters ascend and are Unicode scalar values; special tokens are non-empty,
 * unique and short; the vocabulary fits) and builds the derived tables. `what` prefixes
 * messages; failures are NB_ERR_FORMAT (or NB_ERR_NOMEM). */
nb_status nbi_tok_finish(nb_tokenizer *t, const char *what);
/* The merge rank of the pair (a, b), -1 if it is not a merge. */
int32_t nbi_tok_rank(const nb_tokenizer *t, int32_t a, int32_t b);

/* ---- growing id arrays --------------------------------------------------------------------- */
typedef struct nbi_ids {
    int32_t *v;
    int64_t n, cap;
} nbi_ids;
/* Room for `more` ids after the n there are; false (error set) when out of memory. */
bool nbi_ids_reserve(nbi_ids *a, int64_t more);
static inline bool nbi_ids_push(nbi_ids *a, int32_t id) {
    if (a->n == a->cap && !nbi_ids_reserve(a, 1)) return false;
    a->v[a->n++] = id;
    return true;
}

/* ---- BPE ----------------------------------------------------------------------------------- */
/* A per-call encoder: scratch arrays and a cache of words already encoded. */
typedef struct nbi_bpe_enc nbi_bpe_enc;
nbi_bpe_enc *nbi_bpe_enc_new(const nb_tokenizer *t);
void nbi_bpe_enc_free(nbi_bpe_enc *e);
/* Appends the ids of s[0..n) (no special tokens in it) to out. */
nb_status nbi_bpe_encode(nbi_bpe_enc *e, const unsigned char *s, size_t n, nbi_ids *out);
/* Learns the merges of t (kind BPE, special tokens set) from text. */
nb_status nbi_bpe_train(nb_tokenizer *t, const unsigned char *text, size_t len,
                        int64_t target_merges, int64_t min_count);

/* Calls fn(user, start, end) for each stretch of text[0..len) between the tokenizer's special
 * tokens (possibly empty stretches skipped), and for each special token found with its id in
 * *special (otherwise -1). Leftmost match first, the longest special at a position. */
typedef nb_status (*nbi_segment_fn)(void *user, size_t start, size_t end, int32_t special);
nb_status nbi_tok_segments(const nb_tokenizer *t, const unsigned char *text, size_t len,
                           bool specials, nbi_segment_fn fn, void *user);

/* ---- UTF-8 --------------------------------------------------------------------------------- */
/* Decodes the sequence at p[0..n) (n >= 1): its length 1..4 and *cp, or 0 when it is not valid
 * UTF-8 (overlong forms, surrogates and code points above U+10FFFF are not). */
size_t nbi_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* Writes cp (a Unicode scalar value) as UTF-8 into b (4 bytes); returns the length. */
size_t nbi_utf8_encode(uint32_t cp, unsigned char *b);

/* ---- words ----------------------------------------------------------------------------------
 * The length of the word starting at s[i] (i < n), after GPT-2's pattern on bytes:
 *   's 't 're 've 'm 'll 'd | ␣?letters | ␣?digits | ␣?other | spaces not before a word | spaces
 * letters are A-Z, a-z and bytes >= 0x80; digits 0-9; spaces ' ', \t, \n, \v, \f, \r; other is
 * the rest. A run of spaces followed by a word leaves its last space to that word. */
size_t nbi_word_len(const unsigned char *s, size_t n, size_t i);

/* ---- hashing ------------------------------------------------------------------------------- */
/* 64-bit FNV-1a over bytes, then a final mix: keys are words and pairs, not hostile to us. */
static inline uint64_t nbi_hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3u;
    h ^= h >> 29;
    return h;
}
static inline uint64_t nbi_hash_u64(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* ---- files --------------------------------------------------------------------------------- */
/* The names of the entries of directory `dir` that nb_corpus takes (regular files, not links,
 * not hidden, not "*.dat") or, with want_dirs, its subfolders (not hidden); sorted in byte
 * order; *names and each name from nbi_malloc. */
nb_status nbi_list_dir(const char *dir, bool want_dirs, char ***names, int *n);
void nbi_free_names(char **names, int n);
/* dir + "/" + name, nbi_malloc'd (NULL and the error set when out of memory). */
char *nbi_path_join(const char *dir, const char *name);
/* A copy of s, nbi_malloc'd (NULL and the error set when out of memory). */
char *nbi_str_dup(const char *s);

#endif
