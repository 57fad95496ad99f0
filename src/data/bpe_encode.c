/* data/bpe_encode.c — byte-level BPE encoding: text -> words -> token ids.
 *
 * A word's bytes start as ids 0..255 and the learned merges are applied in the order they
 * were learned (lowest rank first), each at its leftmost place first — exactly what training
 * did to the corpus, so encoding the training text reproduces its tokens. Rather than
 * rescanning the word after every merge (O(n²) for a word of n bytes), the symbols form a
 * linked list and the candidate merges sit in a min-heap keyed by (rank, position): popping
 * gives the next merge in O(log n), a stale entry (a symbol already merged away) is skipped,
 * and a merge pushes only the two pairs it creates with its neighbours. A pair a merge
 * creates has a higher rank than the merge itself (it involves the new id), so ranks come
 * out of the heap in order. O(n log n) per word.
 *
 * Words repeat ("the", " of"), so an encoder keeps a cache from word bytes to ids for the
 * duration of one encode call (keys point into that call's text). */
#include "data/text.h"

#include <string.h>

#define CACHE_MAX_WORD 64       /* longer words are rare: not cached */
#define CACHE_MAX_ENTRIES 65536 /* then the cache stops growing (it is only an accelerator) */
#define MAX_WORD ((size_t)1 << 30)

typedef struct cache_slot {
    const unsigned char *p; /* NULL: empty */
    uint64_t hash;
    uint32_t len, count;
    int64_t off; /* first id in pool */
} cache_slot;

struct nbi_bpe_enc {
    const nb_tokenizer *t;
    int32_t *sym, *prev, *next; /* a word's symbols as a linked list (sym -1: merged away) */
    uint64_t *heap;             /* rank << 32 | position, a min-heap */
    size_t cap;                 /* symbols the scratch holds (the heap 3 times as many) */
    cache_slot *slots;
    size_t ncap, nused;
    nbi_ids pool;
};

nbi_bpe_enc *nbi_bpe_enc_new(const nb_tokenizer *t) {
    nbi_bpe_enc *e = nbi_calloc(1, sizeof *e);
    if (!e) {
        nbi_error(NB_ERR_NOMEM, "BPE encoder: out of memory");
        return NULL;
    }
    e->t = t;
    return e;
}

void nbi_bpe_enc_free(nbi_bpe_enc *e) {
    if (!e) return;
    nbi_free(e->sym), nbi_free(e->prev), nbi_free(e->next), nbi_free(e->heap);
    nbi_free(e->slots);
    nbi_free(e->pool.v);
    nbi_free(e);
}

static nb_status reserve(nbi_bpe_enc *e, size_t n) {
    if (n <= e->cap) return NB_OK;
    size_t cap = e->cap ? e->cap : 64;
    while (cap < n) cap *= 2;
    nbi_free(e->sym), nbi_free(e->prev), nbi_free(e->next), nbi_free(e->heap);
    e->sym = nbi_malloc(cap * sizeof(int32_t));
    e->prev = nbi_malloc(cap * sizeof(int32_t));
    e->next = nbi_malloc(cap * sizeof(int32_t));
    e->heap = nbi_malloc(3 * cap * sizeof(uint64_t));
    if (!e->sym || !e->prev || !e->next || !e->heap) {
        nbi_free(e->sym), nbi_free(e->prev), nbi_free(e->next), nbi_free(e->heap);
        e->sym = e->prev = e->next = NULL;
        e->heap = NULL;
        e->cap = 0;
        return nbi_error(NB_ERR_NOMEM, "BPE encoder: out of memory for a word of %zu bytes", n);
    }
    e->cap = cap;
    return NB_OK;
}

/* ---- the min-heap of candidate merges ------------------------------------------------------- */

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

static void push_pair(nbi_bpe_enc *e, size_t *hn, int32_t i, int32_t j) {
    int32_t r = nbi_tok_rank(e->t, e->sym[i], e->sym[j]);
    if (r >= 0) heap_push(e->heap, hn, (uint64_t)r << 32 | (uint32_t)i);
}

/* Merges the word s[0..n) (n >= 2) and appends its ids. */
static nb_status merge_word(nbi_bpe_enc *e, const unsigned char *s, size_t n, nbi_ids *out) {
    nb_status st = reserve(e, n);
    if (st) return st;
    const int32_t *merges = e->t->merges;
    for (size_t i = 0; i < n; i++) {
        e->sym[i] = s[i];
        e->prev[i] = (int32_t)i - 1;
        e->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(e, &hn, (int32_t)i, (int32_t)i + 1);
    while (hn) {
        uint64_t top = heap_pop(e->heap, &hn);
        int32_t r = (int32_t)(top >> 32), i = (int32_t)(uint32_t)top;
        int32_t j = e->next[i];
        /* Stale: i was merged away, has no right neighbour, or the pair changed. */
        if (e->sym[i] < 0 || j < 0 || e->sym[i] != merges[2 * r] || e->sym[j] != merges[2 * r + 1])
            continue;
        e->sym[i] = 256 + r;
        e->sym[j] = -1;
        int32_t k = e->next[j];
        e->next[i] = k;
        if (k >= 0) e->prev[k] = i;
        if (e->prev[i] >= 0) push_pair(e, &hn, e->prev[i], i);
        if (k >= 0) push_pair(e, &hn, i, k);
    }
    for (int32_t i = 0; i >= 0; i = e->next[i]) /* position 0 is never merged away */
        if (!nbi_ids_push(out, e->sym[i])) return NB_ERR_NOMEM;
    return NB_OK;
}

/* ---- the word cache ------------------------------------------------------------------------- */

static cache_slot *cache_find(nbi_bpe_enc *e, const unsigned char *s, size_t n, uint64_t h) {
    if (!e->ncap) return NULL;
    size_t mask = e->ncap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        cache_slot *c = &e->slots[i];
        if (!c->p || (c->hash == h && c->len == n && !memcmp(c->p, s, n))) return c;
    }
}

/* Remembers the ids out->v[first..] of word s; silently does nothing when full or out of
 * memory (the cache only saves time). */
static void cache_put(nbi_bpe_enc *e, const unsigned char *s, size_t n, uint64_t h,
                      const nbi_ids *out, int64_t first) {
    if (e->nused >= CACHE_MAX_ENTRIES) return;
    if (2 * (e->nused + 1) > e->ncap) {
        size_t cap = e->ncap ? 2 * e->ncap : 1024;
        cache_slot *slots = nbi_calloc(cap, sizeof *slots);
        if (!slots) return;
        for (size_t i = 0; i < e->ncap; i++) {
            if (!e->slots[i].p) continue;
            size_t k = (size_t)e->slots[i].hash & (cap - 1);
            while (slots[k].p) k = (k + 1) & (cap - 1);
            slots[k] = e->slots[i];
        }
        nbi_free(e->slots);
        e->slots = slots;
        e->ncap = cap;
    }
    int64_t count = out->n - first;
    if (!nbi_ids_reserve(&e->pool, count)) return;
    cache_slot *c = cache_find(e, s, n, h);
    c->p = s;
    c->hash = h;
    c->len = (uint32_t)n;
    c->count = (uint32_t)count;
    c->off = e->pool.n;
    memcpy(e->pool.v + e->pool.n, out->v + first, (size_t)count * sizeof(int32_t));
    e->pool.n += count;
    e->nused++;
}

nb_status nbi_bpe_encode(nbi_bpe_enc *e, const unsigned char *s, size_t n, nbi_ids *out) {
    for (size_t i = 0; i < n;) {
        size_t w = nbi_word_len(s, n, i);
        const unsigned char *word = s + i;
        i += w;
        if (w == 1) {
            if (!nbi_ids_push(out, word[0])) return NB_ERR_NOMEM;
            continue;
        }
        if (w > MAX_WORD)
            return nbi_error(NB_ERR_ARG,
                             "BPE encoder: a word of %zu bytes (without a break) is "
                             "longer than %zu bytes",
                             w, MAX_WORD);
        uint64_t h = 0;
        if (w <= CACHE_MAX_WORD) {
            h = nbi_hash_bytes(word, w);
            cache_slot *c = cache_find(e, word, w, h);
            if (c && c->p) {
                if (!nbi_ids_reserve(out, c->count)) return NB_ERR_NOMEM;
                memcpy(out->v + out->n, e->pool.v + c->off, c->count * sizeof(int32_t));
                out->n += c->count;
                continue;
            }
        }
        int64_t first = out->n;
        nb_status st = merge_word(e, word, w, out);
        if (st) return st;
        if (w <= CACHE_MAX_WORD) cache_put(e, word, w, h, out, first);
    }
    return NB_OK;
}
