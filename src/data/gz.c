/* data/gz.c — reading gzip-compressed buffers through zlib, when the build found it.
 *
 * The reader streams: a caller inflates a header first, checks what it claims against
 * nbi_gz_max_output (deflate cannot expand data by more than 1032:1, so a small file that
 * claims a huge array is lying), and only then allocates. zlib allocates through nabla's
 * allocator, so out-of-memory tests reach it too. */
#include "data/data.h"

#include <limits.h>
#include <string.h>

size_t nbi_gz_max_output(size_t len) {
    size_t m;
    if (!nbi_mul_size(len, 1032, &m) || !nbi_add_size(m, 4096, &m)) return SIZE_MAX;
    return m;
}

#ifdef NB_HAVE_ZLIB
#include <zlib.h>

struct nbi_gz {
    z_stream z;
    const unsigned char *src;
    size_t len, pos;  /* input bytes handed to zlib so far: src[0..pos) */
    int ended;        /* the last member's trailer has been checked */
    const char *name;
};

static voidpf gz_alloc(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    size_t n;
    if (!nbi_mul_size(items, size, &n)) return Z_NULL;
    return nbi_malloc(n);
}

static void gz_free(voidpf opaque, voidpf p) {
    (void)opaque;
    nbi_free(p);
}

nb_status nbi_gz_open(nbi_gz **out, const unsigned char *src, size_t len, const char *name) {
    *out = NULL;
    nbi_gz *g = nbi_malloc(sizeof *g);
    if (!g) return nbi_error(NB_ERR_NOMEM, "%s: out of memory opening gzip data", name);
    memset(g, 0, sizeof *g);
    g->src = src;
    g->len = len;
    g->name = name;
    g->z.zalloc = gz_alloc;
    g->z.zfree = gz_free;
    /* 16 + 15: gzip wrapper (header and CRC-32 trailer checked), 32 KiB window. */
    int rc = inflateInit2(&g->z, 16 + MAX_WBITS);
    if (rc != Z_OK) {
        nbi_free(g);
        return nbi_error(rc == Z_MEM_ERROR ? NB_ERR_NOMEM : NB_ERR_UNSUPPORTED,
                         "%s: cannot start zlib (%s)", name, zError(rc));
    }
    *out = g;
    return NB_OK;
}

static void feed(nbi_gz *g) {
    if (g->z.avail_in == 0 && g->pos < g->len) {
        size_t k = g->len - g->pos;
        if (k > UINT_MAX) k = UINT_MAX;
        g->z.next_in = (Bytef *)(uintptr_t)(g->src + g->pos);
        g->z.avail_in = (uInt)k;
        g->pos += k;
    }
}

static size_t input_left(const nbi_gz *g) { return g->z.avail_in + (g->len - g->pos); }

nb_status nbi_gz_read(nbi_gz *g, void *dst, size_t n, size_t *got) {
    unsigned char *out = dst;
    size_t done = 0;
    while (done < n && !g->ended) {
        size_t want = n - done;
        if (want > UINT_MAX) want = UINT_MAX;
        g->z.next_out = out + done;
        g->z.avail_out = (uInt)want;
        feed(g);
        int rc = inflate(&g->z, Z_NO_FLUSH);
        done += want - g->z.avail_out;
        if (rc == Z_STREAM_END) {
            feed(g);
            if (input_left(g) == 0) {
                g->ended = 1;
            } else if (g->z.avail_in >= 2 && g->z.next_in[0] == 0x1f && g->z.next_in[1] == 0x8b) {
                inflateReset(&g->z); /* another gzip member follows (as `cat a.gz b.gz`) */
            } else {
                return nbi_error(NB_ERR_FORMAT, "%s: %zu bytes of garbage after the gzip data",
                                 g->name, input_left(g));
            }
        } else if (rc == Z_OK) {
            continue;
        } else if (rc == Z_BUF_ERROR && input_left(g) == 0) {
            return nbi_error(NB_ERR_FORMAT, "%s: the gzip data is truncated (the compressed "
                             "stream ends early); the file is incomplete", g->name);
        } else if (rc == Z_MEM_ERROR) {
            return nbi_error(NB_ERR_NOMEM, "%s: out of memory inflating gzip data", g->name);
        } else {
            return nbi_error(NB_ERR_FORMAT, "%s: corrupt gzip data (%s)", g->name,
                             g->z.msg ? g->z.msg : zError(rc));
        }
    }
    *got = done;
    return NB_OK;
}

void nbi_gz_close(nbi_gz *g) {
    if (!g) return;
    inflateEnd(&g->z);
    nbi_free(g);
}

#else /* no zlib */

struct nbi_gz {
    int unused;
};

nb_status nbi_gz_open(nbi_gz **out, const unsigned char *src, size_t len, const char *name) {
    (void)src;
    (void)len;
    *out = NULL;
    return nbi_error(NB_ERR_UNSUPPORTED,
                     "%s: the file is gzip-compressed, but this nabla was built without zlib; "
                     "install zlib (Debian/Ubuntu: apt install zlib1g-dev) and rebuild nabla, "
                     "or decompress the file first with gunzip",
                     name);
}

nb_status nbi_gz_read(nbi_gz *g, void *dst, size_t n, size_t *got) {
    (void)g;
    (void)dst;
    (void)n;
    *got = 0;
    return nbi_error(NB_ERR_UNSUPPORTED, "gzip: this nabla was built without zlib");
}

void nbi_gz_close(nbi_gz *g) { (void)g; }

#endif
