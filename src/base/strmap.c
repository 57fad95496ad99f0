/* base/strmap.c — a hash map from strings to non-negative ints, for name lookups that must stay
 * linear in the number of names overall (a model's layers and parameters, a file's tensors):
 * 65 536 layers must not cost 65 536² string comparisons.
 *
 * Open addressing with linear probing over a power-of-two table kept at most half full; the
 * hash is FNV-1a (64-bit). Removal shifts the following entries of the run back (Knuth's
 * algorithm R), so there are no tombstones and lookups stay short after rollbacks. Keys are
 * borrowed: the map stores the caller's pointers, which must outlive their entries. */
#include "base/base.h"

#include <string.h>

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

void nbi_strmap_init(nbi_strmap *m) {
    memset(m, 0, sizeof *m);
}

void nbi_strmap_free(nbi_strmap *m) {
    nbi_free(m->keys);
    nbi_free(m->vals);
    nbi_strmap_init(m);
}

/* The slot of key, or of the empty slot where it would go. */
static size_t slot_of(const nbi_strmap *m, const char *key) {
    size_t mask = m->cap - 1, i = (size_t)fnv1a(key) & mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & mask;
    return i;
}

int nbi_strmap_get(const nbi_strmap *m, const char *key) {
    if (!m->cap || !key) return -1;
    size_t i = slot_of(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

static bool grow(nbi_strmap *m, size_t cap) {
    const char **keys = nbi_malloc(sizeof *keys * cap);
    int *vals = keys ? nbi_malloc(sizeof *vals * cap) : NULL;
    if (!vals) {
        nbi_free(keys);
        return false;
    }
    memset(keys, 0, sizeof *keys * cap);
    nbi_strmap old = *m;
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.keys[i]) continue;
        size_t j = slot_of(m, old.keys[i]);
        m->keys[j] = old.keys[i];
        m->vals[j] = old.vals[i];
    }
    nbi_free(old.keys);
    nbi_free(old.vals);
    return true;
}

bool nbi_strmap_reserve(nbi_strmap *m, size_t n) {
    size_t cap = m->cap ? m->cap : 16;
    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 4 / sizeof(const char *)) return false;
        cap *= 2;
    }
    return cap == m->cap || grow(m, cap);
}

bool nbi_strmap_put(nbi_strmap *m, const char *key, int val) {
    NBI_ASSERT(key && val >= 0);
    if (!nbi_strmap_reserve(m, m->n + 1)) return false;
    size_t i = slot_of(m, key);
    if (!m->keys[i]) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return true;
}

void nbi_strmap_remove(nbi_strmap *m, const char *key) {
    if (!m->cap || !key) return;
    size_t mask = m->cap - 1, i = slot_of(m, key);
    if (!m->keys[i]) return;
    m->keys[i] = NULL;
    m->n--;
    /* Shift back every later entry of the run that the hole now separates from its home. */
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = (size_t)fnv1a(m->keys[j]) & mask;
        /* j's entry may stay when its home lies cyclically in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        m->keys[j] = NULL;
        i = j;
    }
}
