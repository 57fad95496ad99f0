/* base/strmap.c — a hash map from strings to non-negative ints, for name lookups that must stay
 * linear in the number of names overall (a model's layers and parameters, a file's tensors):
 * 65 536 layers must not cost 65 536² string comparisons.
 *
 * Open addressing with linear probing over a power-of-two table kept at most half full; the
 * hash is FNV-1a (64-bit) with a final mix. Each slot keeps its key's hash beside the key, so
 * a probe compares strings only when the hashes agree, and touches one cache line. Removal
 * shifts the following entries of the run back (Knuth's algorithm R), so there are no
 * tombstones and lookups stay short after rollbacks. Keys are borrowed: the map stores the
 * caller's pointers, which must outlive their entries. */
#include "base/base.h"

#include <string.h>

/* FNV-1a, then a final mix: FNV's multiplications only carry bits upwards, so without it
 * the low bits that pick a slot would depend on the low bits of each character only. */
static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    h ^= h >> 32;
    h *= 0x9E3779B97F4A7C15u;
    return h ^ (h >> 29);
}

void nbi_strmap_init(nbi_strmap *m) {
    memset(m, 0, sizeof *m);
}

void nbi_strmap_free(nbi_strmap *m) {
    nbi_free(m->slots);
    nbi_strmap_init(m);
}

/* The slot of key (of hash h), or of the empty slot where it would go. */
static size_t slot_of(const nbi_strmap *m, const char *key, uint64_t h) {
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

int nbi_strmap_get(const nbi_strmap *m, const char *key) {
    if (!m->cap || !key) return -1;
    size_t i = slot_of(m, key, fnv1a(key));
    return m->slots[i].key ? m->slots[i].val : -1;
}

static bool grow(nbi_strmap *m, size_t cap) {
    nbi_strmap_slot *slots = nbi_malloc(sizeof *slots * cap);
    if (!slots) return false;
    memset(slots, 0, sizeof *slots * cap);
    nbi_strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            m->slots[slot_of(m, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
    nbi_free(old.slots);
    return true;
}

bool nbi_strmap_reserve(nbi_strmap *m, size_t n) {
    size_t cap = m->cap ? m->cap : 16;
    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 4 / sizeof(nbi_strmap_slot)) return false;
        cap *= 2;
    }
    return cap == m->cap || grow(m, cap);
}

bool nbi_strmap_put(nbi_strmap *m, const char *key, int val) {
    NBI_ASSERT(key && val >= 0);
    if (!nbi_strmap_reserve(m, m->n + 1)) return false;
    uint64_t h = fnv1a(key);
    size_t i = slot_of(m, key, h);
    if (!m->slots[i].key) m->n++;
    m->slots[i] = (nbi_strmap_slot){h, key, val};
    return true;
}

void nbi_strmap_remove(nbi_strmap *m, const char *key) {
    if (!m->cap || !key) return;
    size_t mask = m->cap - 1, i = slot_of(m, key, fnv1a(key));
    if (!m->slots[i].key) return;
    m->slots[i].key = NULL;
    m->n--;
    /* Shift back every later entry of the run that the hole now separates from its home. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        /* j's entry may stay when its home lies cyclically in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        m->slots[i] = m->slots[j];
        m->slots[j].key = NULL;
        i = j;
    }
}
