/* base/base.h — internal helpers every layer uses: error reporting, the allocator hook,
 * arenas, always-on assertions, overflow-checked sizes. */
#ifndef NBI_BASE_H
#define NBI_BASE_H

#include "nabla/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define NBI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define NBI_LIKELY(x) __builtin_expect(!!(x), 1)
#define NBI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define NBI_PRINTF(f, a)
#define NBI_LIKELY(x) (x)
#define NBI_UNLIKELY(x) (x)
#endif

#define NBI_ALIGN 64

/* Sets the calling thread's error message and returns `s`, so that error paths read
 * `return nbi_error(NB_ERR_SHAPE, "add: ...", ...);`. An argument may be nb_last_error()
 * (to wrap the message of a call that failed underneath): the text is formatted apart and
 * then copied. */
nb_status nbi_error(nb_status s, const char *fmt, ...) NBI_PRINTF(2, 3);

/* A broken internal invariant: a bug in nabla, not in the caller's program. Always on. */
#define NBI_ASSERT(c)                                                                       \
    do {                                                                                    \
        if (NBI_UNLIKELY(!(c))) nbi_assert_fail(#c, __FILE__, __LINE__);                    \
    } while (0)
_Noreturn void nbi_assert_fail(const char *expr, const char *file, int line);

/* Allocation through the hook; 64-byte aligned. nbi_free(NULL) is a no-op. */
void *nbi_malloc(size_t size);
void *nbi_calloc(size_t n, size_t size); /* zeroed, overflow-checked */
void nbi_free(void *p);
/* Like nbi_malloc but sets "<what>: out of memory (N bytes)" on failure. */
void *nbi_malloc_for(const char *what, size_t size);
/* The machine's physical memory in bytes (0 if unknown): the bound beyond which a model of
 * known size is refused up front rather than left to the out-of-memory killer. */
uint64_t nbi_mem_total(void);

/* a * b and a + b on sizes, false on overflow. */
static inline bool nbi_mul_size(size_t a, size_t b, size_t *out) {
    if (b && a > SIZE_MAX / b) return false;
    *out = a * b;
    return true;
}
static inline bool nbi_add_size(size_t a, size_t b, size_t *out) {
    if (a > SIZE_MAX - b) return false;
    *out = a + b;
    return true;
}

/* a * b and a + b on signed 64-bit values (shape arithmetic), false on overflow. */
static inline bool nbi_mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a == 0 || b == 0) {
        *out = 0;
        return true;
    }
    if (a > 0 ? (b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a)
              : (b > 0 ? a < INT64_MIN / b : a < INT64_MAX / b))
        return false;
    *out = a * b;
    return true;
}
static inline bool nbi_add_i64(int64_t a, int64_t b, int64_t *out) {
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b)) return false;
    *out = a + b;
    return true;
}

/* ---- string map ---------------------------------------------------------------------------
 * Strings to non-negative ints in expected constant time (base/strmap.c), for name lookups
 * that must stay linear overall. Keys are borrowed: they must outlive their entries. */
typedef struct nbi_strmap_slot {
    uint64_t hash;
    const char *key; /* NULL: an empty slot */
    int val;
} nbi_strmap_slot;

typedef struct nbi_strmap {
    nbi_strmap_slot *slots; /* cap of them */
    size_t n, cap;
} nbi_strmap;

void nbi_strmap_init(nbi_strmap *m);
void nbi_strmap_free(nbi_strmap *m);
/* The value of key, or -1. */
int nbi_strmap_get(const nbi_strmap *m, const char *key);
/* Adds or replaces; false when out of memory (the map is unchanged). */
bool nbi_strmap_put(nbi_strmap *m, const char *key, int val);
/* Makes room for n entries in all, so that puts up to n cannot fail; false when out of memory. */
bool nbi_strmap_reserve(nbi_strmap *m, size_t n);
void nbi_strmap_remove(nbi_strmap *m, const char *key);

/* ---- arena: bump allocation, released all at once ---------------------------------------
 * A chain of chunks. Reset keeps every chunk, so a loop that allocates the same amount each
 * step stops calling malloc after its first step. */
typedef struct nbi_chunk nbi_chunk;
struct nbi_chunk {
    nbi_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* data follows, at NBI_CHUNK_HDR bytes from the start (aligned to NBI_ALIGN) */
};
#define NBI_CHUNK_HDR ((sizeof(nbi_chunk) + NBI_ALIGN - 1) & ~(size_t)(NBI_ALIGN - 1))
typedef struct nbi_arena {
    nbi_chunk *head;    /* first chunk */
    nbi_chunk *cur;     /* chunk being filled */
    size_t chunk_size;  /* default size of a new chunk */
    size_t used_total;  /* bytes handed out since the last reset */
    size_t peak;        /* largest used_total seen */
} nbi_arena;

void nbi_arena_init(nbi_arena *a, size_t chunk_size);
/* The allocation when the current chunk has no room: the next chunk, or a new one. */
void *nbi_arena_alloc_slow(nbi_arena *a, size_t size, size_t align);
/* `size` bytes aligned to `align` (a power of two, at most NBI_ALIGN); NULL on failure. The
 * bump in the current chunk is inline: op results take several a step, and a tiny network's
 * step is made of little else (callgrind: 37 instructions a call out of line, ~15 inline). */
static inline void *nbi_arena_alloc(nbi_arena *a, size_t size, size_t align) {
    NBI_ASSERT(align && (align & (align - 1)) == 0 && align <= NBI_ALIGN);
    if (size == 0) size = 1;
    nbi_chunk *c = a->cur;
    if (NBI_LIKELY(c != NULL)) {
        uintptr_t base = (uintptr_t)c + NBI_CHUNK_HDR;
        uintptr_t p = (base + c->used + align - 1) & ~(uintptr_t)(align - 1);
        size_t end = (size_t)(p - base);
        if (NBI_LIKELY(end <= c->size && size <= c->size - end)) {
            c->used = end + size;
            a->used_total += size;
            if (a->used_total > a->peak) a->peak = a->used_total;
            return (void *)p;
        }
    }
    return nbi_arena_alloc_slow(a, size, align);
}
void *nbi_arena_zalloc(nbi_arena *a, size_t size, size_t align);
void nbi_arena_reset(nbi_arena *a);
void nbi_arena_free(nbi_arena *a);
size_t nbi_arena_capacity(const nbi_arena *a);

/* An arena position, to give back temporaries: mark, allocate, release to the mark. */
typedef struct nbi_arena_mark {
    nbi_chunk *cur;
    size_t used;
    size_t used_total;
} nbi_arena_mark;
nbi_arena_mark nbi_arena_mark_get(const nbi_arena *a);
void nbi_arena_release(nbi_arena *a, nbi_arena_mark m);

/* ---- growing text ------------------------------------------------------------------------
 * A NUL-terminated string built by appending (spec lines, JSON headers). Out of memory is
 * sticky: later appends do nothing and nbi_text_status reports NB_ERR_NOMEM. */
typedef struct nbi_text {
    char *buf;     /* nbi_malloc'd; NULL until the first append */
    size_t len, cap;
    bool oom;
} nbi_text;

void nbi_text_init(nbi_text *t);
void nbi_text_put(nbi_text *t, const char *s, size_t n);
void nbi_text_puts(nbi_text *t, const char *s);
void nbi_text_printf(nbi_text *t, const char *fmt, ...) NBI_PRINTF(2, 3);
/* The shortest decimal text that reads back as exactly v ("0.1", "1e-08", "nan", "inf"),
 * with '.' as the decimal point whatever the locale. */
void nbi_text_float(nbi_text *t, float v);
void nbi_text_double(nbi_text *t, double v);
/* A value of the spec format: as it is, or in double quotes (with \" and \\) when it would
 * not read back as one word (blanks, quotes, '#', or empty). No newlines. */
void nbi_text_value(nbi_text *t, const char *v);
/* NB_OK, or NB_ERR_NOMEM (with a message naming `what`) if an append failed. */
nb_status nbi_text_status(const nbi_text *t, const char *what);
/* The text (never NULL: "" when empty), owned by t. */
const char *nbi_text_str(const nbi_text *t);
void nbi_text_free(nbi_text *t);
/* Hands t over snprintf-style: copies up to n-1 characters and a NUL into buf (if any),
 * frees t and returns the full length; 0 (with an out-of-memory message naming `what`) if an
 * append had failed. */
size_t nbi_text_export(nbi_text *t, const char *what, char *buf, size_t n);

/* Whether s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF): what JSON, and so a safetensors header, can hold. */
bool nbi_utf8_valid(const char *s, size_t n);

/* Writes the shortest text of v that reads back exactly into buf (at least 32 bytes). */
void nbi_fmt_float(char *buf, size_t n, float v);
void nbi_fmt_double(char *buf, size_t n, double v);

#endif
