/* data/bpe_train.c — learning byte-level BPE merges from a corpus.
 *
 * Byte-pair encoding (Sennrich et al. 2016, byte-level as in GPT-2): start from the 256
 * bytes; count every adjacent pair of tokens inside words, weighted by how often each word
 * occurs; merge the most frequent pair (a, b) into a new token z everywhere, left to right;
 * repeat until the vocabulary has its target size. Ties go to the smaller (a, b).
 *
 * Recounting after every merge would cost O(corpus) per merge. Instead:
 *   - the corpus is reduced to its distinct words with their counts (a hash table);
 *   - pair counts live in a hash table, each pair with a list of the words that hold it;
 *   - a merge visits only the words on its pair's list: it subtracts the word's old pairs,
 *     merges, adds the new ones (only pairs with z are new, so only they gain list entries);
 *   - the most frequent pair comes from a max-heap of (count, pair) entries pushed whenever
 *     a count changes; an entry whose count is no longer the pair's count is stale and is
 *     dropped when it surfaces, so the first current entry popped is the true maximum.
 * Every decision uses counts and ids only (never hash-table order), so the merges are the same
 * on every machine. */
#include "data/text.h"

#include <string.h>

typedef struct word {
    const unsigned char *p;
    int64_t count;
    int64_t start; /* first symbol in the symbol pool */
    int32_t n;     /* symbols now */
    int32_t stamp; /* the last merge that visited it */
} word;

typedef struct pair {
    uint64_t key; /* a << 32 | b */
    int64_t count;
    int64_t head; /* word list (nodes), -1: empty */
    uint8_t dirty, banned;
} pair;

typedef struct node {
    int32_t word;
    int64_t next;
} node;

typedef struct heap_ent {
    int64_t count;
    uint64_t key;
} heap_ent;

typedef struct trainer {
    word *words;
    int64_t nw, wcap;
    int32_t *wtab; /* word hash table: index + 1, 0 empty */
    size_t wtab_cap;
    int32_t *sym; /* every word's symbols */
    pair *pairs;
    int64_t np, pcap;
    int64_t *ptab; /* pair hash table: index + 1, 0 empty */
    size_t ptab_cap;
    node *nodes;
    int64_t nn, ncap;
    heap_ent *heap;
    int64_t nh, hcap;
    int64_t *dirty;
    int64_t nd, dcap;
    uint16_t *len; /* bytes of each token */
} trainer;

/* Grows *p (elements of `size` bytes, *cap of them) to hold `need`. */
static nb_status grow(void **p, int64_t *cap, int64_t need, size_t size) {
    if (need <= *cap) return NB_OK;
    int64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    size_t bytes;
    if (!nbi_mul_size((size_t)c, size, &bytes))
        return nbi_error(NB_ERR_NOMEM, "BPE training: too large");
    void *q = nbi_malloc(bytes);
    if (!q) return nbi_error(NB_ERR_NOMEM, "BPE training: out of memory (%zu bytes)", bytes);
    if (*cap) memcpy(q, *p, (size_t)*cap * size);
    nbi_free(*p);
    *p = q;
    *cap = c;
    return NB_OK;
}

/* ---- distinct words ---------------------------------------------------------------------------
 */

static nb_status add_word(trainer *tr, const unsigned char *p, size_t n) {
    if (2 * (size_t)(tr->nw + 1) > tr->wtab_cap) {
        size_t cap = tr->wtab_cap ? 2 * tr->wtab_cap : 4096;
        int32_t *tab = nbi_calloc(cap, sizeof *tab);
        if (!tab || tr->nw >= INT32_MAX - 1) {
            nbi_free(tab);
            return nbi_error(NB_ERR_NOMEM, "BPE training: out of memory for the word table");
        }
        for (int64_t w = 0; w < tr->nw; w++) {
            size_t k = (size_t)nbi_hash_bytes(tr->words[w].p, (size_t)tr->words[w].n) & (cap - 1);
            while (tab[k]) k = (k + 1) & (cap - 1);
            tab[k] = (int32_t)w + 1;
        }
        nbi_free(tr->wtab);
        tr->wtab = tab;
        tr->wtab_cap = cap;
    }
    size_t mask = tr->wtab_cap - 1, k = (size_t)nbi_hash_bytes(p, n) & mask;
    for (; tr->wtab[k]; k = (k + 1) & mask) {
        word *w = &tr->words[tr->wtab[k] - 1];
        if ((size_t)w->n == n && !memcmp(w->p, p, n)) {
            w->count++;
            return NB_OK;
        }
    }
    nb_status st = grow((void **)&tr->words, &tr->wcap, tr->nw + 1, sizeof(word));
    if (st) return st;
    tr->words[tr->nw] = (word){p, 1, 0, (int32_t)n, -1};
    tr->wtab[k] = (int32_t)++tr->nw;
    return NB_OK;
}

typedef struct split_ctx {
    trainer *tr;
    const unsigned char *text;
} split_ctx;

static nb_status split_words(void *user, size_t start, size_t end, int32_t special) {
    split_ctx *c = user;
    if (special >= 0) return NB_OK; /* special tokens are never merged */
    for (size_t i = start; i < end;) {
        size_t w = nbi_word_len(c->text + start, end - start, i - start);
        /* A word longer than this could only make tokens past NB_TOK_MAX_LEN bytes from its
         * insides, which we may still learn; cap it so a symbol count fits in int32. */
        if (w > (size_t)INT32_MAX / 2) w = (size_t)INT32_MAX / 2;
        if (w >= 2) {
            nb_status st = add_word(c->tr, c->text + i, w);
            if (st) return st;
        }
        i += w;
    }
    return NB_OK;
}

/* ---- pairs ------------------------------------------------------------------------------------
 */

static int64_t find_pair(const trainer *tr, uint64_t key, size_t *slot) {
    size_t mask = tr->ptab_cap - 1, k = (size_t)nbi_hash_u64(key) & mask;
    for (; tr->ptab[k]; k = (k + 1) & mask)
        if (tr->pairs[tr->ptab[k] - 1].key == key) break;
    *slot = k;
    return tr->ptab[k] - 1;
}

static nb_status get_pair(trainer *tr, int32_t a, int32_t b, int64_t *out) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t slot;
    if (tr->ptab_cap && (*out = find_pair(tr, key, &slot)) >= 0) return NB_OK;
    if (2 * (size_t)(tr->np + 1) > tr->ptab_cap) {
        size_t cap = tr->ptab_cap ? 2 * tr->ptab_cap : 4096;
        int64_t *tab = nbi_calloc(cap, sizeof *tab);
        if (!tab) return nbi_error(NB_ERR_NOMEM, "BPE training: out of memory for the pair table");
        for (int64_t i = 0; i < tr->np; i++) {
            size_t k = (size_t)nbi_hash_u64(tr->pairs[i].key) & (cap - 1);
            while (tab[k]) k = (k + 1) & (cap - 1);
            tab[k] = i + 1;
        }
        nbi_free(tr->ptab);
        tr->ptab = tab;
        tr->ptab_cap = cap;
        find_pair(tr, key, &slot);
    }
    nb_status st = grow((void **)&tr->pairs, &tr->pcap, tr->np + 1, sizeof(pair));
    if (st) return st;
    tr->pairs[tr->np] = (pair){key, 0, -1, 0, 0};
    tr->ptab[slot] = tr->np + 1;
    *out = tr->np++;
    return NB_OK;
}

static nb_status add_node(trainer *tr, int64_t p, int32_t w) {
    int64_t h = tr->pairs[p].head;
    if (h >= 0 && tr->nodes[h].word == w) return NB_OK; /* already listed by this word */
    nb_status st = grow((void **)&tr->nodes, &tr->ncap, tr->nn + 1, sizeof(node));
    if (st) return st;
    tr->nodes[tr->nn] = (node){w, h};
    tr->pairs[p].head = tr->nn++;
    return NB_OK;
}

static nb_status mark_dirty(trainer *tr, int64_t p) {
    if (tr->pairs[p].dirty) return NB_OK;
    nb_status st = grow((void **)&tr->dirty, &tr->dcap, tr->nd + 1, sizeof(int64_t));
    if (st) return st;
    tr->pairs[p].dirty = 1;
    tr->dirty[tr->nd++] = p;
    return NB_OK;
}

/* ---- the max-heap of (count, pair) ------------------------------------------------------------
 */

static bool before(heap_ent x, heap_ent y) { /* more frequent first, then the smaller pair */
    return x.count > y.count || (x.count == y.count && x.key < y.key);
}

static nb_status heap_push(trainer *tr, heap_ent v) {
    nb_status st = grow((void **)&tr->heap, &tr->hcap, tr->nh + 1, sizeof(heap_ent));
    if (st) return st;
    int64_t i = tr->nh++;
    while (i > 0 && before(v, tr->heap[(i - 1) / 2])) {
        tr->heap[i] = tr->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tr->heap[i] = v;
    return NB_OK;
}

static heap_ent heap_pop(trainer *tr) {
    heap_ent top = tr->heap[0], v = tr->heap[--tr->nh];
    int64_t i = 0, m = tr->nh;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && before(tr->heap[c + 1], tr->heap[c])) c++;
        if (!before(tr->heap[c], v)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (m) tr->heap[i] = v;
    return top;
}

/* ---- one merge --------------------------------------------------------------------------------
 */

/* Replaces (a, b) by z in word w, left to right, moving the word's pair counts along. */
static nb_status merge_in_word(trainer *tr, int32_t wi, int32_t a, int32_t b, int32_t z) {
    word *w = &tr->words[wi];
    int32_t *s = tr->sym + w->start, n = w->n;
    int32_t i = 0;
    while (i + 1 < n && !(s[i] == a && s[i + 1] == b)) i++;
    if (i + 1 >= n) return NB_OK; /* a stale list entry: the word no longer holds (a, b) */
    int64_t p;
    nb_status st;
    for (i = 0; i + 1 < n; i++) {
        if ((st = get_pair(tr, s[i], s[i + 1], &p)) || (st = mark_dirty(tr, p))) return st;
        tr->pairs[p].count -= w->count;
    }
    int32_t j = 0;
    for (i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[j++] = z;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    w->n = n = j;
    for (i = 0; i + 1 < n; i++) {
        if ((st = get_pair(tr, s[i], s[i + 1], &p)) || (st = mark_dirty(tr, p))) return st;
        tr->pairs[p].count += w->count;
        if ((s[i] == z || s[i + 1] == z) && (st = add_node(tr, p, wi))) return st;
    }
    return NB_OK;
}

static void trainer_free(trainer *tr) {
    nbi_free(tr->words), nbi_free(tr->wtab), nbi_free(tr->sym), nbi_free(tr->pairs);
    nbi_free(tr->ptab), nbi_free(tr->nodes), nbi_free(tr->heap), nbi_free(tr->dirty);
    nbi_free(tr->len);
}

static nb_status learn(trainer *tr, nb_tokenizer *t, int64_t target, int64_t min_count) {
    nb_status st;
    int64_t total = 0;
    for (int64_t w = 0; w < tr->nw; w++) {
        tr->words[w].start = total;
        total += tr->words[w].n;
    }
    /* A merge removes at least one symbol, so there can be no more merges than symbols. */
    if (target > total) target = total;
    tr->sym = nbi_malloc((size_t)(total ? total : 1) * sizeof(int32_t));
    tr->len = nbi_malloc((size_t)(256 + target) * sizeof(uint16_t));
    t->merges = nbi_malloc((size_t)(target ? 2 * target : 1) * sizeof(int32_t));
    if (!tr->sym || !tr->len || !t->merges)
        return nbi_error(NB_ERR_NOMEM, "BPE training: out of memory");
    for (int i = 0; i < 256; i++) tr->len[i] = 1;
    for (int64_t w = 0; w < tr->nw; w++) {
        word *wd = &tr->words[w];
        for (int32_t i = 0; i < wd->n; i++) tr->sym[wd->start + i] = wd->p[i];
        for (int32_t i = 0; i + 1 < wd->n; i++) {
            int64_t p;
            if ((st = get_pair(tr, wd->p[i], wd->p[i + 1], &p))) return st;
            tr->pairs[p].count += wd->count;
            if ((st = add_node(tr, p, (int32_t)w))) return st;
        }
    }
    for (int64_t p = 0; p < tr->np; p++)
        if ((st = heap_push(tr, (heap_ent){tr->pairs[p].count, tr->pairs[p].key}))) return st;
    while (t->n_merges < target && tr->nh) {
        heap_ent e = heap_pop(tr);
        size_t slot;
        int64_t p = find_pair(tr, e.key, &slot);
        if (tr->pairs[p].count != e.count || tr->pairs[p].banned) continue; /* stale */
        if (e.count < min_count) break; /* the most frequent pair is too rare */
        int32_t a = (int32_t)(e.key >> 32), b = (int32_t)(uint32_t)e.key;
        if (tr->len[a] + tr->len[b] > NB_TOK_MAX_LEN) {
            tr->pairs[p].banned = 1;
            continue;
        }
        int32_t z = (int32_t)(256 + t->n_merges);
        t->merges[2 * t->n_merges] = a;
        t->merges[2 * t->n_merges + 1] = b;
        tr->len[z] = (uint16_t)(tr->len[a] + tr->len[b]);
        t->n_merges++;
        for (int64_t k = tr->pairs[p].head; k >= 0; k = tr->nodes[k].next) {
            int32_t w = tr->nodes[k].word;
            if (tr->words[w].stamp == z) continue;
            tr->words[w].stamp = z;
            if ((st = merge_in_word(tr, w, a, b, z))) return st;
        }
        NBI_ASSERT(tr->pairs[p].count == 0);
        tr->pairs[p].head = -1;
        for (int64_t k = 0; k < tr->nd; k++) {
            pair *q = &tr->pairs[tr->dirty[k]];
            q->dirty = 0;
            if (q->count > 0 && !q->banned && (st = heap_push(tr, (heap_ent){q->count, q->key})))
                return st;
        }
        tr->nd = 0;
    }
    return NB_OK;
}

nb_status nbi_bpe_train(nb_tokenizer *t, const unsigned char *text, size_t len,
                        int64_t target_merges, int64_t min_count) {
    trainer tr;
    memset(&tr, 0, sizeof tr);
    split_ctx c = {&tr, text};
    nb_status st = nbi_tok_segments(t, text, len, true, split_words, &c);
    if (!st) st = learn(&tr, t, target_merges, min_count);
    trainer_free(&tr);
    return st;
}
