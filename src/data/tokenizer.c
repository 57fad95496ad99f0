/* data/tokenizer.c — tokenizers: building the byte and character vocabularies (and handing BPE
 * to its trainer), validating any tokenizer however it was made, encoding and decoding.
 *
 * Every tokenizer, trained here or read from JSON, goes through nbi_tok_finish, which checks
 * it completely and builds the derived tables (BPE token lengths, the merge-rank hash), so the
 * encoder and decoder can trust it. Encoding first cuts the text at special tokens (when asked
 * to), then encodes each stretch by kind: bytes as they are, characters by binary search in
 * the sorted code points, BPE word by word (bpe_encode.c). */
#include "data/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nb_tokenizer *nbi_tok_alloc(void) {
    nb_tokenizer *t = nbi_calloc(1, sizeof *t);
    if (!t) {
        nbi_error(NB_ERR_NOMEM, "tokenizer: out of memory");
        return NULL;
    }
    t->unk_id = -1;
    return t;
}

void nb_tokenizer_free(nb_tokenizer *t) {
    if (!t) return;
    nbi_free(t->merges);
    nbi_free(t->tok_len);
    nbi_free(t->chars);
    for (int i = 0; i < t->n_special; i++) nbi_free(t->special[i]);
    nbi_free(t->special);
    nbi_free(t->special_len);
    nbi_free(t->rank_key);
    nbi_free(t->rank_val);
    nbi_free(t);
}

nb_status nbi_tok_set_special(nb_tokenizer *t, const char *const *special, int n,
                              const char *what) {
    if (n < 0 || (n > 0 && !special) || n > NB_TOK_MAX_SPECIAL)
        return nbi_error(NB_ERR_ARG, "%s: %d special tokens (at most %d)", what, n,
                         NB_TOK_MAX_SPECIAL);
    bool add_unk = t->kind == NB_TOK_CHAR && t->unknown == NB_TOK_UNK_TOKEN;
    for (int i = 0; add_unk && i < n; i++)
        if (special[i] && !strcmp(special[i], NBI_UNK_TEXT)) add_unk = false;
    int total = n + (add_unk ? 1 : 0);
    t->special = nbi_calloc((size_t)total + 1, sizeof(char *));
    t->special_len = nbi_calloc((size_t)total + 1, sizeof(size_t));
    if (!t->special || !t->special_len) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    for (int i = 0; i < total; i++) {
        const char *s = i < n ? special[i] : NBI_UNK_TEXT;
        if (!s) return nbi_error(NB_ERR_ARG, "%s: special token %d is NULL", what, i);
        size_t k = strlen(s);
        t->special[i] = nbi_malloc(k + 1);
        if (!t->special[i]) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
        memcpy(t->special[i], s, k + 1);
        t->special_len[i] = k;
        t->n_special = i + 1;
    }
    return NB_OK;
}

/* ---- validation and derived tables ------------------------------------------------------- */

static size_t rank_slot(const nb_tokenizer *t, uint64_t key) {
    size_t mask = t->rank_cap - 1, i = (size_t)nbi_hash_u64(key) & mask;
    while (t->rank_key[i] != UINT64_MAX && t->rank_key[i] != key) i = (i + 1) & mask;
    return i;
}

int32_t nbi_tok_rank(const nb_tokenizer *t, int32_t a, int32_t b) {
    if (!t->rank_cap) return -1;
    size_t i = rank_slot(t, (uint64_t)(uint32_t)a << 32 | (uint32_t)b);
    return t->rank_key[i] == UINT64_MAX ? -1 : t->rank_val[i];
}

static nb_status finish_bpe(nb_tokenizer *t, const char *what) {
    int64_t m = t->n_merges, n = 256 + m;
    t->tok_len = nbi_malloc((size_t)n * sizeof(uint16_t));
    size_t cap = 16;
    while (cap < (size_t)m * 2) cap *= 2;
    t->rank_key = nbi_malloc(cap * sizeof(uint64_t));
    t->rank_val = nbi_malloc(cap * sizeof(int32_t));
    if (!t->tok_len || !t->rank_key || !t->rank_val)
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory for %lld merges", what, (long long)m);
    t->rank_cap = cap;
    memset(t->rank_key, 0xff, cap * sizeof(uint64_t));
    for (int i = 0; i < 256; i++) t->tok_len[i] = 1;
    for (int64_t k = 0; k < m; k++) {
        int32_t a = t->merges[2 * k], b = t->merges[2 * k + 1];
        if (a < 0 || b < 0 || a >= 256 + k || b >= 256 + k)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: merge %lld joins %d and %d, but a merge may only "
                             "join ids made before it (below %lld)",
                             what, (long long)k, a, b, (long long)(256 + k));
        unsigned len = (unsigned)t->tok_len[a] + t->tok_len[b];
        if (len > NB_TOK_MAX_LEN)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: merge %lld (%d, %d) makes a token of %u bytes; "
                             "tokens are at most %d bytes",
                             what, (long long)k, a, b, len, NB_TOK_MAX_LEN);
        t->tok_len[256 + k] = (uint16_t)len;
        uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        size_t s = rank_slot(t, key);
        if (t->rank_key[s] != UINT64_MAX)
            return nbi_error(NB_ERR_FORMAT, "%s: merge %lld (%d, %d) repeats merge %d", what,
                             (long long)k, a, b, t->rank_val[s]);
        t->rank_key[s] = key;
        t->rank_val[s] = (int32_t)k;
    }
    return NB_OK;
}

/* Special tokens: non-empty, short, UTF-8 (they are written as JSON strings), unique; finds
 * "<|unk|>" when unknowns map to it. */
static nb_status check_special(nb_tokenizer *t, const char *what) {
    t->unk_id = -1;
    for (int i = 0; i < t->n_special; i++) {
        if (t->special_len[i] == 0 || t->special_len[i] > NB_TOK_MAX_SPECIAL_LEN)
            return nbi_error(NB_ERR_FORMAT, "%s: special token %d has %zu bytes (1 to %d)", what, i,
                             t->special_len[i], NB_TOK_MAX_SPECIAL_LEN);
        for (size_t k = 0; k < t->special_len[i];) {
            uint32_t cp;
            size_t m = nbi_utf8_decode((const unsigned char *)t->special[i] + k,
                                       t->special_len[i] - k, &cp);
            if (!m)
                return nbi_error(NB_ERR_FORMAT,
                                 "%s: special token %d is not UTF-8 text (byte "
                                 "0x%02x)",
                                 what, i, (unsigned char)t->special[i][k]);
            k += m;
        }
        for (int j = 0; j < i; j++)
            if (t->special_len[j] == t->special_len[i] &&
                !memcmp(t->special[j], t->special[i], t->special_len[i]))
                return nbi_error(NB_ERR_FORMAT, "%s: special token \"%s\" is listed twice", what,
                                 t->special[i]);
        if (!strcmp(t->special[i], NBI_UNK_TEXT))
            t->unk_id = (int32_t)(nbi_tok_first_special(t) + i);
    }
    if (t->unknown == NB_TOK_UNK_TOKEN && t->unk_id < 0)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: unknown characters map to \"%s\", which is not among "
                         "the special tokens",
                         what, NBI_UNK_TEXT);
    if (t->unknown != NB_TOK_UNK_TOKEN) t->unk_id = -1;
    return NB_OK;
}

nb_status nbi_tok_finish(nb_tokenizer *t, const char *what) {
    if ((unsigned)t->kind > NB_TOK_BPE)
        return nbi_error(NB_ERR_FORMAT, "%s: unknown tokenizer kind %d", what, (int)t->kind);
    if (t->kind != NB_TOK_CHAR && t->base != 256)
        return nbi_error(NB_ERR_FORMAT, "%s: a byte-level vocabulary has 256 base ids", what);
    if (t->kind != NB_TOK_BPE && t->n_merges)
        return nbi_error(NB_ERR_FORMAT, "%s: only a BPE tokenizer has merges", what);
    if (t->kind == NB_TOK_CHAR) {
        if (t->base < 1)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: a character vocabulary needs at least one "
                             "character (was the corpus empty?)",
                             what);
        for (int64_t i = 0; i < t->base; i++) {
            uint32_t c = t->chars[i];
            if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return nbi_error(NB_ERR_FORMAT,
                                 "%s: character %lld (%u) is not a Unicode "
                                 "scalar value",
                                 what, (long long)i, (unsigned)c);
            if (i && c <= t->chars[i - 1])
                return nbi_error(NB_ERR_FORMAT,
                                 "%s: the characters must be listed once each, in "
                                 "increasing order (%u after %u)",
                                 what, (unsigned)c, (unsigned)t->chars[i - 1]);
        }
    } else if (t->unknown != NB_TOK_UNK_ERROR) {
        return nbi_error(NB_ERR_FORMAT,
                         "%s: only a character vocabulary has an unknown-character "
                         "token (bytes are never unknown)",
                         what);
    }
    if (t->n_special > NB_TOK_MAX_SPECIAL)
        return nbi_error(NB_ERR_FORMAT, "%s: %d special tokens (at most %d)", what, t->n_special,
                         NB_TOK_MAX_SPECIAL);
    int64_t vocab = t->base + t->n_merges + t->n_special;
    if (t->n_merges < 0 || t->n_merges > NB_TOK_MAX_VOCAB || vocab > NB_TOK_MAX_VOCAB)
        return nbi_error(NB_ERR_FORMAT, "%s: a vocabulary of %lld tokens (at most %d)", what,
                         (long long)vocab, NB_TOK_MAX_VOCAB);
    nb_status st = check_special(t, what);
    if (st) return st;
    return t->kind == NB_TOK_BPE ? finish_bpe(t, what) : NB_OK;
}

/* ---- building ----------------------------------------------------------------------------- */

static nb_status count_encoded(nb_tokenizer *t, const void *text, size_t len) {
    int32_t *ids;
    int64_t n;
    nb_status st = nb_tokenizer_encode(t, text, len, NB_TOK_SPECIALS, &ids, &n);
    if (st) return st;
    nb_free(ids);
    t->corpus_bytes = (int64_t)len;
    t->corpus_tokens = n;
    return NB_OK;
}

typedef struct chars_seen {
    const nb_tokenizer *t;
    const unsigned char *text;
    uint64_t *seen; /* one bit per code point */
    size_t lo, hi;  /* the words of `seen` that may hold a bit: [lo, hi) */
} chars_seen;

#define SEEN_WORDS (0x110000 / 64)

static nb_status mark_chars(void *user, size_t start, size_t end, int32_t special) {
    chars_seen *cs = user;
    if (special >= 0) return NB_OK;
    for (size_t i = start; i < end;) {
        uint32_t cp;
        size_t k = nbi_utf8_decode(cs->text + i, end - i, &cp);
        if (!k) {
            if (cs->t->unknown == NB_TOK_UNK_ERROR)
                return nbi_error(NB_ERR_FORMAT,
                                 "tokenizer: the text is not UTF-8 (byte 0x%02x at "
                                 "offset %zu); a character vocabulary reads UTF-8 (build it with "
                                 "unknown = token to map such bytes to %s, or use bytes or BPE)",
                                 cs->text[i], i, NBI_UNK_TEXT);
            i++;
            continue;
        }
        cs->seen[cp >> 6] |= (uint64_t)1 << (cp & 63);
        if (cp >> 6 < cs->lo) cs->lo = cp >> 6;
        if (cp >> 6 >= cs->hi) cs->hi = (cp >> 6) + 1;
        i += k;
    }
    return NB_OK;
}

/* The characters of the text (outside special tokens), in code-point order: a bitmap of the
 * 0x110000 code points, read back a 64-bit word at a time over the words between the lowest
 * and the highest code point seen (two words for ASCII text). */
static nb_status build_chars(nb_tokenizer *t, const unsigned char *text, size_t len) {
    chars_seen cs = {t, text, nbi_calloc(SEEN_WORDS, sizeof(uint64_t)), SEEN_WORDS, 0};
    if (!cs.seen) return nbi_error(NB_ERR_NOMEM, "tokenizer: out of memory");
    nb_status st = nbi_tok_segments(t, text, len, true, mark_chars, &cs);
    int64_t k = 0;
    for (size_t w = cs.lo; !st && w < cs.hi; w++)
        for (uint64_t b = cs.seen[w]; b; b &= b - 1) k++;
    if (!st && k == 0)
        st = nbi_error(NB_ERR_ARG, "tokenizer: the corpus is empty (no characters to build a "
                                   "vocabulary from)");
    if (!st && !(t->chars = nbi_malloc((size_t)k * sizeof(uint32_t))))
        st = nbi_error(NB_ERR_NOMEM, "tokenizer: out of memory");
    if (!st) {
        t->base = 0;
        for (size_t w = cs.lo; w < cs.hi; w++)
            for (uint32_t c = 0; cs.seen[w] && c < 64; c++)
                if (cs.seen[w] >> c & 1) t->chars[t->base++] = (uint32_t)(w * 64 + c);
    }
    nbi_free(cs.seen);
    return st;
}

nb_status nb_tokenizer_train(const void *text, size_t len, const nb_tokenizer_opts *o,
                             nb_tokenizer **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_tokenizer_train: out is NULL");
    *out = NULL;
    if (!o || (!text && len))
        return nbi_error(NB_ERR_ARG, "nb_tokenizer_train: need options and a text");
    if ((unsigned)o->kind > NB_TOK_BPE || (unsigned)o->unknown > NB_TOK_UNK_TOKEN)
        return nbi_error(NB_ERR_ARG,
                         "nb_tokenizer_train: unknown kind %d or unknown-character "
                         "policy %d",
                         (int)o->kind, (int)o->unknown);
    if (o->kind != NB_TOK_CHAR && o->unknown != NB_TOK_UNK_ERROR)
        return nbi_error(NB_ERR_ARG,
                         "nb_tokenizer_train: the unknown-character policy is for a "
                         "character vocabulary (a byte or BPE tokenizer encodes every byte)");
    int64_t target = 0;
    if (o->kind == NB_TOK_BPE) {
        target = o->vocab_size - 256 - o->n_special;
        if (o->vocab_size > NB_TOK_MAX_VOCAB || target < 0)
            return nbi_error(NB_ERR_ARG,
                             "nb_tokenizer_train: a BPE vocabulary of %lld tokens "
                             "cannot hold the 256 bytes and %d special tokens (the most is %d)",
                             (long long)o->vocab_size, o->n_special, NB_TOK_MAX_VOCAB);
        if (len == 0)
            return nbi_error(NB_ERR_ARG, "nb_tokenizer_train: the corpus is empty (BPE learns "
                                         "its merges from text)");
    } else if (o->vocab_size != 0) {
        return nbi_error(NB_ERR_ARG,
                         "nb_tokenizer_train: vocab_size is for BPE; a %s "
                         "vocabulary's size comes from %s",
                         o->kind == NB_TOK_BYTE ? "byte" : "character",
                         o->kind == NB_TOK_BYTE ? "the 256 bytes" : "the corpus");
    }
    if (o->min_count < 0)
        return nbi_error(NB_ERR_ARG, "nb_tokenizer_train: min_count %lld is negative",
                         (long long)o->min_count);
    nb_tokenizer *t = nbi_tok_alloc();
    if (!t) return NB_ERR_NOMEM;
    t->kind = o->kind;
    t->unknown = o->unknown;
    t->base = 256;
    nb_status st = nbi_tok_set_special(t, o->special, o->n_special, "nb_tokenizer_train");
    /* The special tokens are checked before the (long) training, as an argument error. */
    if (!st && (st = check_special(t, "nb_tokenizer_train")) == NB_ERR_FORMAT) st = NB_ERR_ARG;
    if (!st && t->kind == NB_TOK_CHAR) st = build_chars(t, text, len);
    if (!st && t->kind == NB_TOK_BPE)
        st = nbi_bpe_train(t, text, len, target, o->min_count ? o->min_count : 2);
    if (!st) st = nbi_tok_finish(t, "nb_tokenizer_train");
    if (!st) st = count_encoded(t, text, len);
    if (st) {
        nb_tokenizer_free(t);
        return st;
    }
    *out = t;
    return NB_OK;
}

/* ---- queries ------------------------------------------------------------------------------ */

void nb_tokenizer_get_info(const nb_tokenizer *t, nb_tokenizer_info *info) {
    memset(info, 0, sizeof *info);
    if (!t) return;
    info->kind = t->kind;
    info->base = t->base;
    info->merges = t->n_merges;
    info->n_special = t->n_special;
    info->vocab_size = t->base + t->n_merges + t->n_special;
    info->unknown = t->unknown;
    info->corpus_bytes = t->corpus_bytes;
    info->corpus_tokens = t->corpus_tokens;
}

int64_t nb_tokenizer_vocab_size(const nb_tokenizer *t) {
    return t ? t->base + t->n_merges + t->n_special : 0;
}

int32_t nb_tokenizer_special_id(const nb_tokenizer *t, const char *text) {
    for (int i = 0; t && text && i < t->n_special; i++)
        if (!strcmp(t->special[i], text)) return (int32_t)(nbi_tok_first_special(t) + i);
    return -1;
}

/* The bytes of a non-special BPE token, expanded through its merges with an explicit stack
 * (a token of at most NB_TOK_MAX_LEN bytes has a merge tree at most that deep). */
static size_t bpe_bytes(const nb_tokenizer *t, int32_t id, unsigned char *out) {
    int32_t stack[NB_TOK_MAX_LEN + 1];
    int sp = 0;
    size_t n = 0;
    stack[sp++] = id;
    while (sp) {
        int32_t x = stack[--sp];
        if (x < 256) {
            out[n++] = (unsigned char)x;
            continue;
        }
        NBI_ASSERT(sp + 2 <= NB_TOK_MAX_LEN + 1);
        stack[sp++] = t->merges[2 * (x - 256) + 1];
        stack[sp++] = t->merges[2 * (x - 256)];
    }
    return n;
}

/* The bytes of any valid id into out (room for NB_TOK_MAX_LEN bytes). */
static size_t token_bytes(const nb_tokenizer *t, int32_t id, unsigned char *out) {
    int64_t first_special = nbi_tok_first_special(t);
    if (id >= first_special) {
        size_t k = t->special_len[id - first_special];
        memcpy(out, t->special[id - first_special], k);
        return k;
    }
    if (t->kind == NB_TOK_CHAR) return nbi_utf8_encode(t->chars[id], out);
    if (id < 256) {
        out[0] = (unsigned char)id;
        return 1;
    }
    return bpe_bytes(t, id, out);
}

static size_t token_len(const nb_tokenizer *t, int32_t id) {
    int64_t first_special = nbi_tok_first_special(t);
    if (id >= first_special) return t->special_len[id - first_special];
    if (t->kind == NB_TOK_CHAR) {
        unsigned char b[4];
        return nbi_utf8_encode(t->chars[id], b);
    }
    return t->kind == NB_TOK_BPE ? t->tok_len[id] : 1;
}

static nb_status check_id(const nb_tokenizer *t, int32_t id, int64_t pos, const char *what) {
    int64_t v = nb_tokenizer_vocab_size(t);
    if (id < 0 || id >= v)
        return nbi_error(NB_ERR_ARG,
                         "%s: token id %d (at position %lld) is out of range: the "
                         "vocabulary has %lld tokens, ids 0 to %lld",
                         what, id, (long long)pos, (long long)v, (long long)v - 1);
    return NB_OK;
}

nb_status nb_tokenizer_token(const nb_tokenizer *t, int32_t id, char *buf, size_t cap,
                             size_t *len) {
    if (!t || !len || (cap && !buf))
        return nbi_error(NB_ERR_ARG, "nb_tokenizer_token: need a tokenizer, a length and a buffer");
    nb_status st = check_id(t, id, 0, "nb_tokenizer_token");
    if (st) return st;
    unsigned char
        tmp[NB_TOK_MAX_LEN > NB_TOK_MAX_SPECIAL_LEN ? NB_TOK_MAX_LEN : NB_TOK_MAX_SPECIAL_LEN];
    *len = token_bytes(t, id, tmp);
    if (cap) memcpy(buf, tmp, *len < cap ? *len : cap);
    return NB_OK;
}

/* ---- encoding ----------------------------------------------------------------------------- */

nb_status nbi_tok_segments(const nb_tokenizer *t, const unsigned char *text, size_t len,
                           bool specials, nbi_segment_fn fn, void *user) {
    if (!specials || t->n_special == 0) return len ? fn(user, 0, len, -1) : NB_OK;
    bool starts[256] = {false};
    for (int k = 0; k < t->n_special; k++) starts[(unsigned char)t->special[k][0]] = true;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (!starts[text[i]]) continue;
        int best = -1;
        for (int k = 0; k < t->n_special; k++) {
            size_t m = t->special_len[k];
            if (m <= len - i && !memcmp(text + i, t->special[k], m) &&
                (best < 0 || m > t->special_len[best]))
                best = k;
        }
        if (best < 0) continue;
        nb_status st = i > start ? fn(user, start, i, -1) : NB_OK;
        if (!st)
            st = fn(user, i, i + t->special_len[best], (int32_t)(nbi_tok_first_special(t) + best));
        if (st) return st;
        i += t->special_len[best] - 1;
        start = i + 1;
    }
    return start < len ? fn(user, start, len, -1) : NB_OK;
}

typedef struct enc_state {
    const nb_tokenizer *t;
    const unsigned char *text;
    nbi_ids out;
    nbi_bpe_enc *bpe;
} enc_state;

static nb_status encode_chars(enc_state *e, size_t start, size_t end) {
    const nb_tokenizer *t = e->t;
    for (size_t i = start; i < end;) {
        uint32_t cp = 0;
        size_t k = nbi_utf8_decode(e->text + i, end - i, &cp);
        int64_t id = -1;
        if (k) {
            int64_t lo = 0, hi = t->base; /* binary search in the sorted code points */
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (t->chars[mid] < cp)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < t->base && t->chars[lo] == cp) id = lo;
        }
        if (id < 0 && t->unknown == NB_TOK_UNK_TOKEN) {
            id = t->unk_id;
        } else if (id < 0 && !k) {
            return nbi_error(NB_ERR_ARG,
                             "tokenizer: byte 0x%02x at offset %zu is not UTF-8; a "
                             "character vocabulary reads UTF-8 text (use a byte or BPE tokenizer "
                             "for arbitrary bytes)",
                             e->text[i], i);
        } else if (id < 0) {
            return nbi_error(NB_ERR_ARG,
                             "tokenizer: the character U+%04X ('%.*s') at byte %zu is "
                             "not in the vocabulary (%lld characters, those of the training "
                             "text); build it with unknown = token to map such characters to %s",
                             (unsigned)cp, (int)k, (const char *)e->text + i, i, (long long)t->base,
                             NBI_UNK_TEXT);
        }
        if (!nbi_ids_push(&e->out, (int32_t)id)) return NB_ERR_NOMEM;
        i += k ? k : 1;
    }
    return NB_OK;
}

static nb_status encode_segment(void *user, size_t start, size_t end, int32_t special) {
    enc_state *e = user;
    if (special >= 0) return nbi_ids_push(&e->out, special) ? NB_OK : NB_ERR_NOMEM;
    switch (e->t->kind) {
    case NB_TOK_BYTE:
        if (!nbi_ids_reserve(&e->out, (int64_t)(end - start))) return NB_ERR_NOMEM;
        for (size_t i = start; i < end; i++) e->out.v[e->out.n++] = e->text[i];
        return NB_OK;
    case NB_TOK_CHAR:
        return encode_chars(e, start, end);
    default:
        return nbi_bpe_encode(e->bpe, e->text + start, end - start, &e->out);
    }
}

nb_status nb_tokenizer_encode(const nb_tokenizer *t, const void *text, size_t len, int flags,
                              int32_t **ids, int64_t *n) {
    if (!ids || !n) return nbi_error(NB_ERR_ARG, "nb_tokenizer_encode: ids or n is NULL");
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len))
        return nbi_error(NB_ERR_ARG, "nb_tokenizer_encode: need a tokenizer and a text");
    if (len > (size_t)INT64_MAX / 8)
        return nbi_error(NB_ERR_ARG, "nb_tokenizer_encode: a text of %zu bytes is too long", len);
    enc_state e = {t, text, {NULL, 0, 0}, NULL};
    nb_status st = NB_OK;
    if (t->kind == NB_TOK_BPE && !(e.bpe = nbi_bpe_enc_new(t))) st = NB_ERR_NOMEM;
    /* Never more ids than bytes (+1 so that an empty text has a buffer too). */
    if (!st && !nbi_ids_reserve(&e.out, (int64_t)len + 1)) st = NB_ERR_NOMEM;
    if (!st)
        st = nbi_tok_segments(t, text, len, (flags & NB_TOK_SPECIALS) != 0, encode_segment, &e);
    nbi_bpe_enc_free(e.bpe);
    if (st) {
        nbi_free(e.out.v);
        return st;
    }
    *ids = e.out.v;
    *n = e.out.n;
    return NB_OK;
}

nb_status nb_tokenizer_decode(const nb_tokenizer *t, const int32_t *ids, int64_t n, char **text,
                              size_t *len) {
    if (!text || !len) return nbi_error(NB_ERR_ARG, "nb_tokenizer_decode: text or len is NULL");
    *text = NULL;
    *len = 0;
    if (!t || n < 0 || (n && !ids))
        return nbi_error(NB_ERR_ARG, "nb_tokenizer_decode: need a tokenizer and n >= 0 ids");
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        nb_status st = check_id(t, ids[i], i, "nb_tokenizer_decode");
        if (st) return st;
        if (!nbi_add_size(total, token_len(t, ids[i]), &total) || total == SIZE_MAX)
            return nbi_error(NB_ERR_ARG, "nb_tokenizer_decode: the text would be too long");
    }
    unsigned char *out = nbi_malloc(total + 1);
    if (!out)
        return nbi_error(NB_ERR_NOMEM, "nb_tokenizer_decode: out of memory for %zu bytes", total);
    size_t k = 0;
    for (int64_t i = 0; i < n; i++) k += token_bytes(t, ids[i], out + k);
    NBI_ASSERT(k == total);
    out[k] = 0;
    *text = (char *)out;
    *len = k;
    return NB_OK;
}
