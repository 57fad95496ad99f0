/* data/names.c — a set of byte strings numbered in the order they were first added: the class
 * names of a label column and the categories of a text column, as a CSV file is read.
 *
 * Open addressing with linear probing over a power-of-two table of ids (FNV-1a hashes), kept
 * at most half full, so adding and finding are expected O(length). Strings are copied; ids
 * are dense (0, 1, ...). nbi_names_sorted gives the ids in byte order of their strings — the
 * numbering that makes a file's classes independent of the order its rows come in. */
#include "data/data.h"

#include <string.h>

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

void nbi_names_free(nbi_names *nm) {
    for (int i = 0; i < nm->count; i++) nbi_free(nm->name[i]);
    nbi_free(nm->name);
    nbi_free(nm->len);
    nbi_free(nm->slot);
    memset(nm, 0, sizeof *nm);
}

int nbi_names_find(const nbi_names *nm, const char *s, size_t n) {
    if (!nm->nslots) return -1;
    for (size_t h = fnv1a(s, n) & (nm->nslots - 1);; h = (h + 1) & (nm->nslots - 1)) {
        int32_t id = nm->slot[h];
        if (id < 0) return -1;
        if (nm->len[id] == n && memcmp(nm->name[id], s, n) == 0) return id;
    }
}

static bool rehash(nbi_names *nm, size_t nslots) {
    int32_t *slot = nbi_malloc(nslots * sizeof *slot);
    if (!slot) return false;
    for (size_t i = 0; i < nslots; i++) slot[i] = -1;
    for (int id = 0; id < nm->count; id++) {
        size_t h = fnv1a(nm->name[id], nm->len[id]) & (nslots - 1);
        while (slot[h] >= 0) h = (h + 1) & (nslots - 1);
        slot[h] = id;
    }
    nbi_free(nm->slot);
    nm->slot = slot;
    nm->nslots = nslots;
    return true;
}

int nbi_names_add(nbi_names *nm, const char *s, size_t n) {
    int id = nbi_names_find(nm, s, n);
    if (id >= 0) return id;
    if (nm->count == nm->cap) {
        int cap = nm->cap ? nm->cap * 2 : 16;
        char **nn = nbi_malloc((size_t)cap * sizeof *nn);
        size_t *nl = nbi_malloc((size_t)cap * sizeof *nl);
        if (!nn || !nl) {
            nbi_free(nn);
            nbi_free(nl);
            return -1;
        }
        if (nm->count) {
            memcpy(nn, nm->name, (size_t)nm->count * sizeof *nn);
            memcpy(nl, nm->len, (size_t)nm->count * sizeof *nl);
        }
        nbi_free(nm->name);
        nbi_free(nm->len);
        nm->name = nn;
        nm->len = nl;
        nm->cap = cap;
    }
    char *copy = nbi_malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, s, n);
    copy[n] = 0;
    nm->name[nm->count] = copy;
    nm->len[nm->count] = n;
    nm->count++;
    if ((size_t)nm->count * 2 > nm->nslots) {
        if (!rehash(nm, nm->nslots ? nm->nslots * 2 : 64)) {
            nbi_free(copy);
            nm->count--;
            return -1;
        }
    } else {
        size_t h = fnv1a(s, n) & (nm->nslots - 1);
        while (nm->slot[h] >= 0) h = (h + 1) & (nm->nslots - 1);
        nm->slot[h] = nm->count - 1;
    }
    return nm->count - 1;
}

static int cmp_ids(int a, int b, const nbi_names *nm) {
    size_t la = nm->len[a], lb = nm->len[b];
    int c = memcmp(nm->name[a], nm->name[b], la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* qsort has no user pointer in C11: a merge sort of our own (stable, O(n log n)). */
static void sort_ids(int *ids, int *tmp, int n, const nbi_names *nm) {
    if (n < 2) return;
    int h = n / 2;
    sort_ids(ids, tmp, h, nm);
    sort_ids(ids + h, tmp, n - h, nm);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_ids(ids[j], ids[i], nm) < 0 ? ids[j++] : ids[i++];
    while (i < h) tmp[k++] = ids[i++];
    while (j < n) tmp[k++] = ids[j++];
    memcpy(ids, tmp, (size_t)n * sizeof *ids);
}

nb_status nbi_names_sorted(const nbi_names *nm, int *order) {
    int n = nm->count;
    int *tmp = nbi_malloc((size_t)(n ? n : 1) * sizeof *tmp);
    if (!tmp) return nbi_error(NB_ERR_NOMEM, "out of memory sorting %d names", n);
    for (int i = 0; i < n; i++) order[i] = i;
    sort_ids(order, tmp, n, nm);
    nbi_free(tmp);
    return NB_OK;
}
