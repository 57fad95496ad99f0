/* base/alloc.c — the allocator hook and arenas.
 *
 * All of nabla's heap memory comes from nbi_malloc, which calls the user's hook when one is
 * set; tests install a counting hook that can fail the Nth allocation (SQLite's fault
 * injection), proving that every error path frees what it took. */
#define _POSIX_C_SOURCE 200809L
#include "base/base.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *default_alloc(size_t size, size_t align, void *user) {
    (void)user;
    void *p = NULL;
    if (size == 0) size = 1;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
        return NULL;
    return p;
}

static void default_free(void *p, void *user) {
    (void)user;
    free(p);
}

static nb_allocator allocator = {default_alloc, default_free, NULL};

void nb_set_allocator(const nb_allocator *a) {
    if (a && a->alloc && a->free)
        allocator = *a;
    else
        allocator = (nb_allocator){default_alloc, default_free, NULL};
}

void *nbi_malloc(size_t size) { return allocator.alloc(size, NBI_ALIGN, allocator.user); }

void nbi_free(void *p) {
    if (p) allocator.free(p, allocator.user);
}

void *nbi_calloc(size_t n, size_t size) {
    size_t bytes;
    if (!nbi_mul_size(n, size, &bytes)) return NULL;
    void *p = nbi_malloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void *nbi_malloc_for(const char *what, size_t size) {
    void *p = nbi_malloc(size);
    if (!p) nbi_error(NB_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, size);
    return p;
}

void *nb_malloc(size_t size) { return nbi_malloc_for("nb_malloc", size); }
void nb_free(void *p) { nbi_free(p); }

/* ---- arena ------------------------------------------------------------------------------- */

#define CHUNK_HDR NBI_CHUNK_HDR

static inline unsigned char *chunk_data(nbi_chunk *c) { return (unsigned char *)c + CHUNK_HDR; }

void nbi_arena_init(nbi_arena *a, size_t chunk_size) {
    memset(a, 0, sizeof *a);
    a->chunk_size = chunk_size ? chunk_size : (size_t)1 << 20;
}

static inline void *chunk_take(nbi_chunk *c, size_t size, size_t align) {
    uintptr_t base = (uintptr_t)chunk_data(c);
    uintptr_t p = (base + c->used + align - 1) & ~(uintptr_t)(align - 1);
    size_t end = (size_t)(p - base);
    if (end > c->size || size > c->size - end) return NULL;
    c->used = end + size;
    return (void *)p;
}

/* The slow path: a later chunk that a reset left empty, or a new chunk. Kept out of line so
 * that the fast path below stays a few instructions with no registers to save. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
void *nbi_arena_alloc_slow(nbi_arena *a, size_t size, size_t align) {
    NBI_ASSERT(align && (align & (align - 1)) == 0 && align <= NBI_ALIGN);
    if (size == 0) size = 1;
    for (nbi_chunk *c = a->cur ? a->cur->next : a->head; c; c = c->next) {
        void *p = chunk_take(c, size, align);
        if (p) {
            a->cur = c;
            a->used_total += size;
            if (a->used_total > a->peak) a->peak = a->used_total;
            return p;
        }
    }
    size_t want = a->chunk_size;
    if (size + align > want) want = size + align;
    size_t total;
    if (!nbi_add_size(want, CHUNK_HDR, &total)) return NULL;
    nbi_chunk *c = nbi_malloc(total);
    if (!c) return NULL;
    c->size = want;
    c->used = 0;
    c->next = NULL;
    /* Append at the end of the chain so that reset reuses chunks in the same order. */
    if (!a->head) {
        a->head = c;
    } else {
        nbi_chunk *t = a->cur ? a->cur : a->head;
        while (t->next) t = t->next;
        t->next = c;
    }
    a->cur = c;
    void *p = chunk_take(c, size, align);
    NBI_ASSERT(p);
    a->used_total += size;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

void *nbi_arena_zalloc(nbi_arena *a, size_t size, size_t align) {
    void *p = nbi_arena_alloc(a, size, align);
    if (p) memset(p, 0, size);
    return p;
}

void nbi_arena_reset(nbi_arena *a) {
    for (nbi_chunk *c = a->head; c; c = c->next) c->used = 0;
    a->cur = a->head;
    a->used_total = 0;
}

void nbi_arena_free(nbi_arena *a) {
    nbi_chunk *c = a->head;
    while (c) {
        nbi_chunk *n = c->next;
        nbi_free(c);
        c = n;
    }
    a->head = a->cur = NULL;
    a->used_total = 0;
}

size_t nbi_arena_capacity(const nbi_arena *a) {
    size_t n = 0;
    for (nbi_chunk *c = a->head; c; c = c->next) n += c->size;
    return n;
}

nbi_arena_mark nbi_arena_mark_get(const nbi_arena *a) {
    nbi_arena_mark m = {a->cur, a->cur ? a->cur->used : 0, a->used_total};
    return m;
}

void nbi_arena_release(nbi_arena *a, nbi_arena_mark m) {
    if (!m.cur) {
        nbi_arena_reset(a);
        return;
    }
    /* Chunks after the marked one were only touched since the mark: empty them. */
    for (nbi_chunk *c = m.cur->next; c; c = c->next) c->used = 0;
    m.cur->used = m.used;
    a->cur = m.cur;
    a->used_total = m.used_total;
}

uint64_t nbi_mem_total(void) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0) return (uint64_t)pages * (uint64_t)size;
#endif
    return 0;
}
