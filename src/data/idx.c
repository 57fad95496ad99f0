/* data/idx.c — the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.
 *
 * Layout (all big-endian): 00 00, a type byte, a rank byte, rank u32 dimensions, then the
 * elements in C order. The parser reads through a small source that is either the buffer
 * itself or a gzip stream over it, so both paths share every check: the header is read and
 * validated, the data size is computed with overflow checks and compared with what the file
 * can hold (its exact remaining size, or deflate's 1032:1 bound for gzip) before any
 * allocation, and the data must end exactly where the header says. Gzip data is inflated into
 * a buffer that grows with what really comes out, so memory follows the data, not the claim. */
#include "data/data.h"
#include "base/file.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct src {
    const unsigned char *p;
    size_t len, pos;
    nbi_gz *gz;  /* non-NULL: read through gzip */
} src;

static nb_status src_read(src *s, void *dst, size_t n, size_t *got) {
    if (s->gz) return nbi_gz_read(s->gz, dst, n, got);
    size_t k = s->len - s->pos < n ? s->len - s->pos : n;
    memcpy(dst, s->p + s->pos, k);
    s->pos += k;
    *got = k;
    return NB_OK;
}

static bool idx_type(unsigned code, nb_elem *e) {
    switch (code) {
    case 0x08: *e = NB_ELEM_U8; return true;
    case 0x09: *e = NB_ELEM_I8; return true;
    case 0x0B: *e = NB_ELEM_I16; return true;
    case 0x0C: *e = NB_ELEM_I32; return true;
    case 0x0D: *e = NB_ELEM_F32; return true;
    case 0x0E: *e = NB_ELEM_F64; return true;
    default: return false;
    }
}

/* Reads `bytes` bytes of gzip data into a buffer that grows (doubling, from 64 KiB) as the
 * data really inflates: a header that lies about the size costs only as much memory as the
 * data that is there, whatever the 1032:1 bound allowed it to claim. */
static nb_status read_growing(src *s, size_t bytes, void **out, size_t *got) {
    size_t cap = bytes < ((size_t)1 << 16) ? bytes : (size_t)1 << 16, have = 0;
    unsigned char *buf = nbi_malloc(cap ? cap : 1);
    if (!buf) return NB_ERR_NOMEM;
    nb_status st = NB_OK;
    for (;;) {
        size_t k;
        st = src_read(s, buf + have, cap - have, &k);
        have += k;
        if (st != NB_OK || have < cap || cap == bytes) break;
        size_t ncap = cap > bytes / 2 ? bytes : 2 * cap;
        unsigned char *nb = nbi_malloc(ncap);
        if (!nb) {
            st = NB_ERR_NOMEM;
            break;
        }
        memcpy(nb, buf, have);
        nbi_free(buf);
        buf = nb;
        cap = ncap;
    }
    if (st != NB_OK) {
        nbi_free(buf);
        return st;
    }
    *out = buf;
    *got = have;
    return NB_OK;
}

static char *dims_text(int rank, const int64_t *d, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? "x%" PRId64 : "%" PRId64, d[i]);
    return buf;
}

static nb_status parse(src *s, size_t file_len, const char *name, nb_array *out) {
    unsigned char hdr[4 + 4 * 255];
    size_t got;
    nb_status st = src_read(s, hdr, 4, &got);
    if (st) return st;
    if (got < 4)
        return nbi_error(NB_ERR_FORMAT, "%s: too short for an IDX file (%zu bytes; the magic "
                         "number alone takes 4)", name, got);
    if (hdr[0] != 0 || hdr[1] != 0)
        return nbi_error(NB_ERR_FORMAT, "%s: not an IDX file: it starts with bytes %02x %02x, "
                         "an IDX file with 00 00", name, hdr[0], hdr[1]);
    nb_elem type;
    if (!idx_type(hdr[2], &type))
        return nbi_error(NB_ERR_FORMAT, "%s: unknown IDX element type 0x%02x (known: 08 u8, "
                         "09 i8, 0B i16, 0C i32, 0D f32, 0E f64)", name, hdr[2]);
    int rank = hdr[3];
    if (rank == 0)
        return nbi_error(NB_ERR_FORMAT, "%s: the IDX header declares 0 dimensions", name);
    if (rank > NB_MAX_RANK)
        return nbi_error(NB_ERR_UNSUPPORTED, "%s: the IDX array has %d dimensions; nabla "
                         "supports at most %d", name, rank, NB_MAX_RANK);
    st = src_read(s, hdr + 4, 4 * (size_t)rank, &got);
    if (st) return st;
    if (got < 4 * (size_t)rank)
        return nbi_error(NB_ERR_FORMAT, "%s: truncated IDX header: it declares %d dimensions "
                         "(%d bytes) but only %zu bytes of them follow", name, rank, 4 * rank,
                         got);
    int64_t shape[NB_MAX_RANK];
    for (int i = 0; i < rank; i++) shape[i] = nbi_be32(hdr + 4 + 4 * i);
    char dims[160];
    size_t es = nb_elem_size(type);
    int64_t numel;
    size_t bytes;
    if (!nbi_shape_bytes(rank, shape, es, &numel, &bytes))
        return nbi_error(NB_ERR_FORMAT, "%s: the IDX dimensions %s of %s overflow any "
                         "possible size: the header is corrupt", name,
                         dims_text(rank, shape, dims, sizeof dims), nb_elem_name(type));
    size_t head = 4 + 4 * (size_t)rank;
    if (!s->gz) {
        size_t left = file_len - head;
        if (left < bytes)
            return nbi_error(NB_ERR_FORMAT, "%s: truncated IDX file: the header declares %s "
                             "%s elements (%zu bytes of data) but only %zu bytes follow", name,
                             dims_text(rank, shape, dims, sizeof dims), nb_elem_name(type),
                             bytes, left);
        if (left > bytes)
            return nbi_error(NB_ERR_FORMAT, "%s: %zu unexpected bytes after the IDX data (the "
                             "header declares %s %s elements, %zu bytes): wrong dimensions or "
                             "a corrupt file", name, left - bytes,
                             dims_text(rank, shape, dims, sizeof dims), nb_elem_name(type),
                             bytes);
    } else if (bytes > nbi_gz_max_output(file_len)) {
        return nbi_error(NB_ERR_FORMAT, "%s: the IDX header declares %s %s elements (%zu "
                         "bytes), more than %zu bytes of gzip data can hold: the header is "
                         "corrupt", name, dims_text(rank, shape, dims, sizeof dims),
                         nb_elem_name(type), bytes, file_len);
    }
    void *data = NULL;
    if (!s->gz) {
        data = nbi_malloc(bytes ? bytes : 1);
        if (!data)
            return nbi_error(NB_ERR_NOMEM, "%s: out of memory for %s %s elements (%zu bytes)", name,
                             dims_text(rank, shape, dims, sizeof dims), nb_elem_name(type), bytes);
        st = src_read(s, data, bytes, &got);
    } else {
        st = read_growing(s, bytes, &data, &got);
        if (st == NB_ERR_NOMEM)
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory for %s %s elements (%zu bytes)", name,
                           dims_text(rank, shape, dims, sizeof dims), nb_elem_name(type), bytes);
    }
    if (st == NB_OK && got < bytes)
        st = nbi_error(NB_ERR_FORMAT, "%s: truncated IDX file: the header declares %s %s "
                       "elements (%zu bytes of data) but the data ends after %zu bytes", name,
                       dims_text(rank, shape, dims, sizeof dims), nb_elem_name(type), bytes,
                       got);
    if (st == NB_OK && s->gz) {
        unsigned char extra[64];
        size_t more = 0, k;
        do {
            st = src_read(s, extra, sizeof extra, &k);
            more += k;
        } while (st == NB_OK && k == sizeof extra && more < ((size_t)1 << 20));
        if (st == NB_OK && more)
            st = nbi_error(NB_ERR_FORMAT, "%s: %s%zu unexpected bytes after the IDX data (the "
                           "header declares %s %s elements, %zu bytes): wrong dimensions or a "
                           "corrupt file", name, more >= ((size_t)1 << 20) ? "at least " : "",
                           more, dims_text(rank, shape, dims, sizeof dims), nb_elem_name(type),
                           bytes);
    }
    if (st) {
        nbi_free(data);
        return st;
    }
    if (es > 1 && nbi_host_is_le()) nbi_swap_bytes(data, (size_t)numel, es);
    out->type = type;
    out->rank = rank;
    for (int i = 0; i < NB_MAX_RANK; i++) out->shape[i] = i < rank ? shape[i] : 0;
    out->numel = numel;
    out->data = data;
    return NB_OK;
}

nb_status nb_idx_parse(const void *buf, size_t len, const char *name, nb_array *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_idx_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "IDX data";
    if (!buf && len) return nbi_error(NB_ERR_ARG, "%s: the buffer is NULL", name);
    src s = {buf, len, 0, NULL};
    if (nbi_is_gzip(buf, len)) {
        nb_status st = nbi_gz_open(&s.gz, buf, len, name);
        if (st) return st;
        st = parse(&s, len, name, out);
        nbi_gz_close(s.gz);
        return st;
    }
    return parse(&s, len, name, out);
}

nb_status nb_idx_read(const char *path, nb_array *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_idx_read: out is NULL");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t len;
    nb_status st = nbi_read_file(path, "IDX", &buf, &len);
    if (st) return st;
    st = nb_idx_parse(buf, len, path, out);
    nbi_free(buf);
    return st;
}
