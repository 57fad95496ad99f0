/* data/tokenizer_json.c — a tokenizer as JSON text, written and read back strictly.
 *
 *   {"format": "nabla-tokenizer", "version": 1, "kind": "bpe", "pretokenizer": "words",
 *    "special": ["<|eos|>", "<|pad|>"], "corpus_bytes": 2576674, "corpus_tokens": 912345,
 *    "merges": [[32, 116], [104, 101], ...]}
 *
 * "kind" is "byte", "char" or "bpe". A BPE tokenizer lists its merges (merge k makes id
 * 256 + k) and names its word splitter; a character one lists its code points in increasing
 * order and its "unknown" policy ("error" or "token"). The same text is the blob a model file
 * stores in its metadata: it has no zero bytes and says what it is and which version.
 *
 * The reader takes only this shape: "format" and "version" first (so that a file from a newer
 * nabla is recognised as such before anything else is judged), then the other keys once each,
 * in any order, none unknown. Every array grows with the elements actually present, and the
 * result goes through nbi_tok_finish, which checks every id, length and character. */
#include "data/text.h"
#include "base/file.h"
#include "base/json.h"

#include <string.h>

#define FORMAT_NAME "nabla-tokenizer"
#define FORMAT_VERSION 1
#define PRETOKENIZER "words"

static const char *const kind_names[] = {"byte", "char", "bpe"};

/* ---- writing ----------------------------------------------------------------------------------
 */

size_t nb_tokenizer_json(const nb_tokenizer *t, char *buf, size_t n) {
    if (!t) {
        nbi_error(NB_ERR_ARG, "nb_tokenizer_json: the tokenizer is NULL");
        return 0;
    }
    nbi_text s;
    nbi_text_init(&s);
    nbi_text_printf(&s, "{\"format\": \"%s\", \"version\": %d, \"kind\": \"%s\"", FORMAT_NAME,
                    FORMAT_VERSION, kind_names[t->kind]);
    if (t->kind == NB_TOK_BPE) nbi_text_puts(&s, ", \"pretokenizer\": \"" PRETOKENIZER "\"");
    if (t->kind == NB_TOK_CHAR)
        nbi_text_printf(&s, ", \"unknown\": \"%s\"",
                        t->unknown == NB_TOK_UNK_TOKEN ? "token" : "error");
    nbi_text_puts(&s, ",\n \"special\": [");
    for (int i = 0; i < t->n_special; i++) {
        if (i) nbi_text_puts(&s, ", ");
        nbi_json_put_string(&s, t->special[i]);
    }
    nbi_text_printf(&s, "],\n \"corpus_bytes\": %lld, \"corpus_tokens\": %lld",
                    (long long)t->corpus_bytes, (long long)t->corpus_tokens);
    if (t->kind == NB_TOK_CHAR) {
        nbi_text_puts(&s, ",\n \"chars\": [");
        for (int64_t i = 0; i < t->base; i++)
            nbi_text_printf(&s, "%s%u",
                            i == 0   ? ""
                            : i % 16 ? ", "
                                     : ",\n  ",
                            (unsigned)t->chars[i]);
        nbi_text_puts(&s, "]");
    }
    if (t->kind == NB_TOK_BPE) {
        nbi_text_puts(&s, ",\n \"merges\": [");
        for (int64_t k = 0; k < t->n_merges; k++)
            nbi_text_printf(&s, "%s[%d, %d]",
                            k == 0  ? ""
                            : k % 8 ? ", "
                                    : ",\n  ",
                            t->merges[2 * k], t->merges[2 * k + 1]);
        nbi_text_puts(&s, "]");
    }
    nbi_text_puts(&s, "}\n");
    return nbi_text_export(&s, "nb_tokenizer_json", buf, n);
}

nb_status nb_tokenizer_save(const nb_tokenizer *t, const char *path) {
    if (!t || !path) return nbi_error(NB_ERR_ARG, "nb_tokenizer_save: need a tokenizer and a path");
    size_t n = nb_tokenizer_json(t, NULL, 0);
    if (!n) return NB_ERR_NOMEM;
    char *buf = nbi_malloc(n + 1);
    if (!buf) return nbi_error(NB_ERR_NOMEM, "nb_tokenizer_save: out of memory");
    nb_tokenizer_json(t, buf, n + 1);
    nb_status st = nbi_write_file_atomic(path, buf, n);
    nbi_free(buf);
    return st;
}

/* ---- reading ----------------------------------------------------------------------------------
 */

enum { K_KIND, K_PRETOK, K_UNKNOWN, K_SPECIAL, K_BYTES, K_TOKENS, K_CHARS, K_MERGES, K_COUNT };
static const char *const key_names[K_COUNT] = {
    "kind",         "pretokenizer",  "unknown", "special",
    "corpus_bytes", "corpus_tokens", "chars",   "merges",
};

typedef struct reader {
    nbi_json j;
    nbi_text str;
    nb_tokenizer *t;
    nbi_ids merges, chars;
    bool seen[K_COUNT];
} reader;

static nb_status read_count(reader *r, int64_t *out, const char *what) {
    uint64_t v;
    nb_status st = nbi_json_u64(&r->j, &v, what);
    if (st) return st;
    if (v > (uint64_t)INT64_MAX / 2) return nbi_json_error(&r->j, "%s is too large", what);
    *out = (int64_t)v;
    return NB_OK;
}

static nb_status read_id(reader *r, int32_t *out, uint64_t max, const char *what) {
    uint64_t v;
    nb_status st = nbi_json_u64(&r->j, &v, what);
    if (st) return st;
    if (v > max)
        return nbi_json_error(&r->j, "%s, %llu, is out of range (at most %llu)", what,
                              (unsigned long long)v, (unsigned long long)max);
    *out = (int32_t)v;
    return NB_OK;
}

static nb_status read_special(reader *r) {
    nb_status st = nbi_json_expect(&r->j, '[', "to open the special tokens");
    if (st || nbi_json_accept(&r->j, ']')) return st;
    nb_tokenizer *t = r->t;
    t->special = nbi_calloc(NB_TOK_MAX_SPECIAL + 1, sizeof(char *));
    t->special_len = nbi_calloc(NB_TOK_MAX_SPECIAL + 1, sizeof(size_t));
    if (!t->special || !t->special_len)
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", r->j.name);
    do {
        if (t->n_special == NB_TOK_MAX_SPECIAL)
            return nbi_json_error(&r->j, "more than %d special tokens", NB_TOK_MAX_SPECIAL);
        if ((st = nbi_json_string(&r->j, &r->str, "a special token"))) return st;
        if (r->str.len > NB_TOK_MAX_SPECIAL_LEN)
            return nbi_json_error(&r->j, "a special token longer than %d bytes",
                                  NB_TOK_MAX_SPECIAL_LEN);
        char *s = nbi_malloc(r->str.len + 1);
        if (!s) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", r->j.name);
        memcpy(s, nbi_text_str(&r->str), r->str.len + 1);
        t->special_len[t->n_special] = r->str.len;
        t->special[t->n_special++] = s;
    } while (nbi_json_accept(&r->j, ','));
    return nbi_json_expect(&r->j, ']', "after the special tokens");
}

static nb_status read_merges(reader *r) {
    nb_status st = nbi_json_expect(&r->j, '[', "to open the merges");
    if (st || nbi_json_accept(&r->j, ']')) return st;
    do {
        int32_t a = 0, b = 0;
        if ((st = nbi_json_expect(&r->j, '[', "to open a merge")) ||
            (st = read_id(r, &a, NB_TOK_MAX_VOCAB, "a merge's first id")) ||
            (st = nbi_json_expect(&r->j, ',', "between a merge's two ids")) ||
            (st = read_id(r, &b, NB_TOK_MAX_VOCAB, "a merge's second id")) ||
            (st = nbi_json_expect(&r->j, ']', "to close a merge (two ids)")))
            return st;
        if (r->merges.n / 2 >= NB_TOK_MAX_VOCAB)
            return nbi_json_error(&r->j, "more than %d merges", NB_TOK_MAX_VOCAB);
        if (!nbi_ids_push(&r->merges, a) || !nbi_ids_push(&r->merges, b)) return NB_ERR_NOMEM;
    } while (nbi_json_accept(&r->j, ','));
    return nbi_json_expect(&r->j, ']', "after the merges");
}

static nb_status read_chars(reader *r) {
    nb_status st = nbi_json_expect(&r->j, '[', "to open the characters");
    if (st || nbi_json_accept(&r->j, ']')) return st;
    do {
        int32_t c = 0;
        if ((st = read_id(r, &c, 0x10FFFF, "a character (a Unicode code point)"))) return st;
        if (!nbi_ids_push(&r->chars, c)) return NB_ERR_NOMEM;
    } while (nbi_json_accept(&r->j, ','));
    return nbi_json_expect(&r->j, ']', "after the characters");
}

/* A string value that must be one of names[0..n); its index in *out. */
static nb_status read_choice(reader *r, const char *key, const char *const *names, int n,
                             int *out) {
    nb_status st = nbi_json_string(&r->j, &r->str, key);
    if (st) return st;
    for (int i = 0; i < n; i++)
        if (!strcmp(nbi_text_str(&r->str), names[i])) {
            *out = i;
            return NB_OK;
        }
    return nbi_error(NB_ERR_FORMAT, "%s: unknown %s \"%s\"", r->j.name, key, nbi_text_str(&r->str));
}

static nb_status read_value(reader *r, int k) {
    static const char *const unk[] = {"error", "token"};
    static const char *const pretok[] = {PRETOKENIZER};
    nb_tokenizer *t = r->t;
    nb_status st;
    int v = 0;
    switch (k) {
    case K_KIND:
        st = read_choice(r, "kind", kind_names, 3, &v);
        t->kind = (nb_tok_kind)v;
        return st;
    case K_PRETOK:
        return read_choice(r, "pretokenizer", pretok, 1, &v);
    case K_UNKNOWN:
        st = read_choice(r, "unknown", unk, 2, &v);
        t->unknown = (nb_tok_unknown)v;
        return st;
    case K_SPECIAL:
        return read_special(r);
    case K_BYTES:
        return read_count(r, &t->corpus_bytes, "corpus_bytes");
    case K_TOKENS:
        return read_count(r, &t->corpus_tokens, "corpus_tokens");
    case K_CHARS:
        return read_chars(r);
    default:
        return read_merges(r);
    }
}

/* "format" and "version", which must come first. */
static nb_status read_header(reader *r) {
    nb_status st;
    if ((st = nbi_json_expect(&r->j, '{', "to open the tokenizer object")) ||
        (st = nbi_json_string(&r->j, &r->str, "the first key, \"format\"")))
        return st;
    if (strcmp(nbi_text_str(&r->str), "format") != 0)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: not a nabla tokenizer (the JSON object must begin "
                         "with \"format\": \"%s\")",
                         r->j.name, FORMAT_NAME);
    if ((st = nbi_json_expect(&r->j, ':', "after a key")) ||
        (st = nbi_json_string(&r->j, &r->str, "the format")))
        return st;
    if (strcmp(nbi_text_str(&r->str), FORMAT_NAME) != 0)
        return nbi_error(NB_ERR_FORMAT, "%s: the format is \"%s\", not \"%s\"", r->j.name,
                         nbi_text_str(&r->str), FORMAT_NAME);
    if ((st = nbi_json_expect(&r->j, ',', "after the format")) ||
        (st = nbi_json_string(&r->j, &r->str, "the second key, \"version\"")))
        return st;
    if (strcmp(nbi_text_str(&r->str), "version") != 0)
        return nbi_error(NB_ERR_FORMAT, "%s: the second key must be \"version\", not \"%s\"",
                         r->j.name, nbi_text_str(&r->str));
    uint64_t version;
    if ((st = nbi_json_expect(&r->j, ':', "after a key")) ||
        (st = nbi_json_u64(&r->j, &version, "the version")))
        return st;
    if (version != FORMAT_VERSION)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: a version %llu tokenizer; this nabla reads "
                         "version %d (a newer nabla wrote it?)",
                         r->j.name, (unsigned long long)version, FORMAT_VERSION);
    return NB_OK;
}

static nb_status read_all(reader *r) {
    nb_status st = read_header(r);
    while (!st && nbi_json_accept(&r->j, ',')) {
        if ((st = nbi_json_string(&r->j, &r->str, "a key"))) break;
        int k = 0;
        while (k < K_COUNT && strcmp(key_names[k], nbi_text_str(&r->str)) != 0) k++;
        if (k == K_COUNT)
            return nbi_error(NB_ERR_FORMAT, "%s: unknown key \"%s\" in a version %d tokenizer",
                             r->j.name, nbi_text_str(&r->str), FORMAT_VERSION);
        if (r->seen[k])
            return nbi_error(NB_ERR_FORMAT, "%s: the key \"%s\" appears twice", r->j.name,
                             key_names[k]);
        r->seen[k] = true;
        if ((st = nbi_json_expect(&r->j, ':', "after a key"))) break;
        st = read_value(r, k);
    }
    if (!st) st = nbi_json_expect(&r->j, '}', "or ',' after a value");
    if (!st && nbi_json_peek(&r->j) >= 0)
        st = nbi_json_error(&r->j, "unexpected text after the tokenizer object");
    if (st) return st;
    /* Which keys each kind has. */
    nb_tokenizer *t = r->t;
    if (!r->seen[K_KIND] || !r->seen[K_SPECIAL])
        return nbi_error(NB_ERR_FORMAT, "%s: the key \"%s\" is missing", r->j.name,
                         r->seen[K_KIND] ? "special" : "kind");
    bool want[K_COUNT] = {true,
                          t->kind == NB_TOK_BPE,
                          t->kind == NB_TOK_CHAR,
                          true,
                          r->seen[K_BYTES],
                          r->seen[K_TOKENS],
                          t->kind == NB_TOK_CHAR,
                          t->kind == NB_TOK_BPE};
    for (int k = 0; k < K_COUNT; k++) {
        if (want[k] && !r->seen[k])
            return nbi_error(NB_ERR_FORMAT, "%s: a \"%s\" tokenizer needs the key \"%s\"",
                             r->j.name, kind_names[t->kind], key_names[k]);
        if (!want[k] && r->seen[k])
            return nbi_error(NB_ERR_FORMAT, "%s: a \"%s\" tokenizer has no key \"%s\"", r->j.name,
                             kind_names[t->kind], key_names[k]);
    }
    t->base = 256;
    if (t->kind == NB_TOK_CHAR) {
        t->base = r->chars.n;
        t->chars = (uint32_t *)r->chars.v; /* code points <= 0x10FFFF: int32 and uint32 agree */
        r->chars.v = NULL;
    }
    t->n_merges = r->merges.n / 2;
    t->merges = r->merges.v;
    r->merges.v = NULL;
    return nbi_tok_finish(t, r->j.name);
}

nb_status nb_tokenizer_parse(const void *buf, size_t len, const char *name, nb_tokenizer **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_tokenizer_parse: out is NULL");
    *out = NULL;
    if (!buf && len) return nbi_error(NB_ERR_ARG, "nb_tokenizer_parse: the buffer is NULL");
    if (!name) name = "tokenizer";
    reader r;
    memset(&r, 0, sizeof r);
    nbi_text_init(&r.str);
    nbi_json_init(&r.j, buf, len, 0, name);
    r.t = nbi_tok_alloc();
    nb_status st = r.t ? read_all(&r) : NB_ERR_NOMEM;
    nbi_text_free(&r.str);
    nbi_free(r.merges.v);
    nbi_free(r.chars.v);
    if (st) {
        nb_tokenizer_free(r.t);
        return st;
    }
    *out = r.t;
    return NB_OK;
}

nb_status nb_tokenizer_load(const char *path, nb_tokenizer **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path) return nbi_error(NB_ERR_ARG, "nb_tokenizer_load: the path is NULL");
    unsigned char *buf;
    size_t len;
    nb_status st = nbi_read_file(path, "tokenizer", &buf, &len);
    if (st) return st;
    st = nb_tokenizer_parse(buf, len, path, out);
    nbi_free(buf);
    return st;
}
