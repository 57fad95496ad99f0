/* data/npy.c — NumPy's .npy format, read and write.
 *
 * A file is the magic "\x93NUMPY", a version (1.0: u16 header length; 2.0 and 3.0: u32), a
 * header that is a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a newline to a multiple of 64 bytes, then the raw elements. The
 * header is parsed by a small recursive-descent reader that accepts exactly this grammar
 * (strings, True/False, tuples of integers); nothing is evaluated. The writer reproduces
 * numpy.save's bytes exactly, growth padding included, so files round-trip byte for byte. */
#include "data/data.h"
#include "base/file.h"
#include "nabla/file.h"
#include "tensor/tensor.h"

#include <stdio.h>
#include <string.h>

/* ---- header parsing ---------------------------------------------------------------------- */

typedef struct hp {
    const char *s;
    size_t n, i;
    const char *name;
} hp;

static void skip_ws(hp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static bool eat(hp *p, char c) {
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return true;
    }
    return false;
}

static nb_status bad(hp *p, const char *what) {
    return nbi_error(NB_ERR_FORMAT, "%s: malformed .npy header at byte %zu: %s", p->name,
                     p->i, what);
}

/* A quoted string (no escapes); out gets at most cap-1 characters (longer is an error). */
static nb_status parse_str(hp *p, char *out, size_t cap) {
    skip_ws(p);
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"'))
        return bad(p, "expected a quoted string");
    char q = p->s[p->i++];
    size_t k = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        if (p->s[p->i] == '\\') return bad(p, "escapes in strings are not supported");
        if (k + 1 >= cap) return bad(p, "string too long");
        out[k++] = p->s[p->i++];
    }
    if (p->i >= p->n) return bad(p, "unterminated string");
    p->i++;
    out[k] = 0;
    return NB_OK;
}

static bool match_word(hp *p, const char *w) {
    skip_ws(p);
    size_t k = strlen(w);
    if (p->n - p->i >= k && memcmp(p->s + p->i, w, k) == 0) {
        p->i += k;
        return true;
    }
    return false;
}

static nb_status parse_shape(hp *p, int *rank, int64_t *shape) {
    if (!eat(p, '(')) return bad(p, "'shape' must be a tuple such as (2, 3)");
    *rank = 0;
    skip_ws(p);
    if (eat(p, ')')) return NB_OK;
    for (;;) {
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return bad(p, "expected a non-negative integer in 'shape'");
        int64_t v = 0;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            int d = p->s[p->i++] - '0';
            if (v > (INT64_MAX - d) / 10) return bad(p, "a dimension in 'shape' is too large");
            v = v * 10 + d;
        }
        if (p->i < p->n && p->s[p->i] == 'L') p->i++; /* Python 2 long */
        if (*rank == NB_MAX_RANK)
            return nbi_error(NB_ERR_UNSUPPORTED, "%s: the array has more than %d dimensions, "
                             "nabla's limit", p->name, NB_MAX_RANK);
        shape[(*rank)++] = v;
        bool comma = eat(p, ',');
        if (eat(p, ')')) return NB_OK;
        if (!comma) return bad(p, "expected ',' or ')' in 'shape'");
    }
}

/* descr such as '<f4' -> element type; sets *swap for big-endian data. */
static nb_status parse_descr(hp *p, const char *d, nb_elem *e, bool *swap) {
    char order = '|';
    const char *t = d;
    if (*t == '<' || *t == '>' || *t == '|' || *t == '=') order = *t++;
    char kind = t[0];
    int size = 0;
    for (const char *c = t + 1; *c; c++) {
        if (*c < '0' || *c > '9' || size > 1000) {
            size = -1;
            break;
        }
        size = size * 10 + (*c - '0');
    }
    bool ok = true;
    if (kind == 'f' && size == 2) *e = NB_ELEM_F16;
    else if (kind == 'f' && size == 4) *e = NB_ELEM_F32;
    else if (kind == 'f' && size == 8) *e = NB_ELEM_F64;
    else if (kind == 'i' && size == 1) *e = NB_ELEM_I8;
    else if (kind == 'i' && size == 2) *e = NB_ELEM_I16;
    else if (kind == 'i' && size == 4) *e = NB_ELEM_I32;
    else if (kind == 'i' && size == 8) *e = NB_ELEM_I64;
    else if ((kind == 'u' || kind == 'b') && size == 1) *e = NB_ELEM_U8;
    else ok = false;
    if (!ok)
        return nbi_error(NB_ERR_UNSUPPORTED, "%s: the .npy dtype '%s' is not supported; nabla "
                         "reads float16, float32, float64, int8, int16, int32, int64, uint8 and bool "
                         "(convert with a.astype(np.float32))", p->name, d);
    /* '=' is the writer's native order; numpy always writes '<', '>' or '|', so '=' can only
     * come from a hand-made header: read it as little-endian, numpy's usual. */
    *swap = nb_elem_size(*e) > 1 && ((order == '>') == nbi_host_is_le());
    return NB_OK;
}

typedef struct npy_header {
    nb_elem type;
    bool swap;
    int rank;
    int64_t shape[NB_MAX_RANK];
} npy_header;

static nb_status parse_header(hp *p, npy_header *h) {
    if (!eat(p, '{')) return bad(p, "expected '{'");
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    char descr[64];
    for (;;) {
        if (eat(p, '}')) break;
        char key[32];
        nb_status st = parse_str(p, key, sizeof key);
        if (st) return st;
        if (!eat(p, ':')) return bad(p, "expected ':' after a key");
        if (strcmp(key, "descr") == 0 && !have_descr) {
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == '[')
                return nbi_error(NB_ERR_UNSUPPORTED, "%s: structured .npy dtypes (records) are "
                                 "not supported; save a plain numeric array", p->name);
            st = parse_str(p, descr, sizeof descr);
            if (st) return st;
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (match_word(p, "True")) fortran = true;
            else if (match_word(p, "False")) fortran = false;
            else return bad(p, "'fortran_order' must be True or False");
            have_order = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            st = parse_shape(p, &h->rank, h->shape);
            if (st) return st;
            have_shape = true;
        } else {
            return bad(p, "unexpected or repeated key (a .npy header has exactly 'descr', "
                          "'fortran_order' and 'shape')");
        }
        bool comma = eat(p, ',');
        if (eat(p, '}')) break;
        if (!comma) return bad(p, "expected ',' or '}'");
    }
    skip_ws(p);
    if (p->i != p->n) return bad(p, "unexpected text after the header's '}'");
    if (!have_descr || !have_order || !have_shape)
        return bad(p, "a key is missing (need 'descr', 'fortran_order' and 'shape')");
    nb_status st = parse_descr(p, descr, &h->type, &h->swap);
    if (st) return st;
    if (fortran) {
        /* Fortran order only differs from C order when two dimensions exceed 1. */
        int big = 0;
        for (int i = 0; i < h->rank; i++) big += h->shape[i] > 1;
        if (big > 1)
            return nbi_error(NB_ERR_UNSUPPORTED, "%s: the array is stored in Fortran (column-"
                             "major) order, which nabla does not read; save "
                             "np.ascontiguousarray(a) instead", p->name);
    }
    return NB_OK;
}

nb_status nb_npy_parse(const void *buf, size_t len, const char *name, nb_array *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_npy_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = ".npy data";
    if (!buf && len) return nbi_error(NB_ERR_ARG, "%s: the buffer is NULL", name);
    const unsigned char *b = buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return nbi_error(NB_ERR_FORMAT, "%s: not a .npy file (it does not start with the magic "
                         "\\x93NUMPY)", name);
    unsigned major = b[6], minor = b[7];
    size_t hlen, off;
    if (major == 1) {
        hlen = nbi_le16(b + 8);
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return nbi_error(NB_ERR_FORMAT, "%s: truncated .npy file (%zu bytes)", name, len);
        hlen = nbi_le32(b + 8);
        off = 12;
    } else {
        return nbi_error(NB_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported "
                         "(nabla reads 1.0, 2.0 and 3.0)", name, major, minor);
    }
    if (minor != 0)
        return nbi_error(NB_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported "
                         "(nabla reads 1.0, 2.0 and 3.0)", name, major, minor);
    if (hlen > len - off)
        return nbi_error(NB_ERR_FORMAT, "%s: truncated .npy file: the header is said to take "
                         "%zu bytes but only %zu follow", name, hlen, len - off);
    hp p = {(const char *)b + off, hlen, 0, name};
    npy_header h;
    memset(&h, 0, sizeof h);
    nb_status st = parse_header(&p, &h);
    if (st) return st;
    size_t es = nb_elem_size(h.type);
    int64_t numel;
    size_t bytes;
    off += hlen;
    char dims[128];
    if (!nbi_shape_bytes(h.rank, h.shape, es, &numel, &bytes))
        return nbi_error(NB_ERR_FORMAT, "%s: the .npy shape %s overflows any possible size: "
                         "the header is corrupt", name,
                         nbi_dims_str(h.rank, h.shape, dims, sizeof dims));
    if (bytes != len - off)
        return nbi_error(NB_ERR_FORMAT, "%s: %s .npy file: the header declares %s %s (%zu "
                         "bytes of data) but %zu bytes follow", name,
                         bytes > len - off ? "truncated" : "malformed",
                         nbi_dims_str(h.rank, h.shape, dims, sizeof dims),
                         nb_elem_name(h.type), bytes, len - off);
    void *data = nbi_malloc(bytes ? bytes : 1);
    if (!data)
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory for %zu bytes of array data", name,
                         bytes);
    memcpy(data, b + off, bytes);
    if (h.swap) nbi_swap_bytes(data, (size_t)numel, es);
    out->type = h.type;
    out->rank = h.rank;
    for (int i = 0; i < h.rank; i++) out->shape[i] = h.shape[i];
    out->numel = numel;
    out->data = data;
    return NB_OK;
}

nb_status nb_npy_read(const char *path, nb_array *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_npy_read: out is NULL");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t len;
    nb_status st = nbi_read_file(path, "NPY", &buf, &len);
    if (st) return st;
    st = nb_npy_parse(buf, len, path, out);
    nbi_free(buf);
    return st;
}

/* ---- writing --------------------------------------------------------------------------- */

static const char *const descrs[NB_ELEM_COUNT] = {"|u1", "|i1", "<i2", "<i4",
                                                   "<i8", "<f4", "<f8", "<f2"};

static nb_status check_array(const nb_array *a, const char *what, size_t *bytes) {
    if (!a) return nbi_error(NB_ERR_ARG, "%s: the array is NULL", what);
    if ((unsigned)a->type >= NB_ELEM_COUNT)
        return nbi_error(NB_ERR_ARG, "%s: unknown element type %d", what, (int)a->type);
    if (a->rank < 0 || a->rank > NB_MAX_RANK)
        return nbi_error(NB_ERR_ARG, "%s: rank %d is out of range", what, a->rank);
    int64_t numel;
    if (!nbi_shape_bytes(a->rank, a->shape, nb_elem_size(a->type), &numel, bytes) ||
        numel != a->numel)
        return nbi_error(NB_ERR_ARG, "%s: the shape does not match numel %lld", what,
                         (long long)a->numel);
    if (numel && !a->data) return nbi_error(NB_ERR_ARG, "%s: the data is NULL", what);
    return NB_OK;
}

/* The file's first bytes (magic, version, length, header text, padding) into hdr, which has
 * room for 256 + 22 * NB_MAX_RANK bytes; returns its length. Mirrors numpy's
 * _write_array_header: sorted keys, repr'd values, room for the first axis to grow to 21
 * digits, then spaces and '\n' up to a multiple of 64. */
#define HDR_CAP (256 + 24 * NB_MAX_RANK)
static size_t encode_header(const nb_array *a, char *hdr) {
    char text[HDR_CAP];
    int k = snprintf(text, sizeof text, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descrs[a->type]);
    for (int i = 0; i < a->rank; i++)
        k += snprintf(text + k, sizeof text - (size_t)k, i ? ", %lld" : "%lld",
                      (long long)a->shape[i]);
    k += snprintf(text + k, sizeof text - (size_t)k, a->rank == 1 ? ",), }" : "), }");
    if (a->rank > 0) {
        char first[24];
        int d = snprintf(first, sizeof first, "%lld", (long long)a->shape[0]);
        for (int i = d; i < 21; i++) text[k++] = ' ';
    }
    size_t hlen = (size_t)k + 1;              /* + the final '\n' */
    size_t pad = 64 - ((10 + hlen) % 64);     /* version 1.0: 10 bytes before the text */
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    size_t total = hlen + pad;                /* always < 65536 with rank <= 8 */
    hdr[8] = (char)(total & 0xff);
    hdr[9] = (char)(total >> 8);
    memcpy(hdr + 10, text, (size_t)k);
    memset(hdr + 10 + k, ' ', pad);
    hdr[10 + total - 1] = '\n';
    return 10 + total;
}

nb_status nbi_npy_encode(const nb_array *a, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    size_t bytes;
    nb_status st = check_array(a, "nbi_npy_encode", &bytes);
    if (st) return st;
    char hdr[HDR_CAP + 128];
    size_t h = encode_header(a, hdr);
    size_t total;
    if (!nbi_add_size(h, bytes, &total))
        return nbi_error(NB_ERR_NOMEM, "nbi_npy_encode: size overflow");
    unsigned char *p = nbi_malloc(total);
    if (!p) return nbi_error(NB_ERR_NOMEM, "npy: out of memory (%zu bytes)", total);
    memcpy(p, hdr, h);
    if (bytes) memcpy(p + h, a->data, bytes);
    if (!nbi_host_is_le()) nbi_swap_bytes(p + h, (size_t)a->numel, nb_elem_size(a->type));
    *buf = p;
    *len = total;
    return NB_OK;
}

nb_status nb_npy_write_flags(const char *path, const nb_array *a, unsigned flags) {
    size_t bytes;
    nb_status st = check_array(a, "nb_npy_write", &bytes);
    if (st) return st;
    if (flags & ~(unsigned)(NB_ATOMIC_NO_SYNC | NB_ATOMIC_NO_CLEAN))
        return nbi_error(NB_ERR_ARG, "nb_npy_write_flags: unknown flags 0x%x", flags);
    unsigned char *buf = NULL;
    size_t len = 0;
    char hdr[HDR_CAP + 128];
    size_t h = 0;
    if (!nbi_host_is_le() && nb_elem_size(a->type) > 1) {
        /* Big-endian host: encode (which swaps) into a buffer and write that. */
        st = nbi_npy_encode(a, &buf, &len);
        if (st) return st;
    } else {
        h = encode_header(a, hdr);
    }
    nbi_atomic_file af;
    st = nbi_atomic_open_flags(&af, path, flags);
    if (st == NB_OK) {
        if (buf) {
            st = nbi_atomic_write(&af, buf, len);
        } else {
            st = nbi_atomic_write(&af, hdr, h);
            if (st == NB_OK) st = nbi_atomic_write(&af, a->data, bytes);
        }
        if (st)
            nbi_atomic_abort(&af);
        else
            st = nbi_atomic_commit(&af);
    }
    nbi_free(buf);
    return st;
}

nb_status nb_npy_write(const char *path, const nb_array *a) {
    return nb_npy_write_flags(path, a, 0);
}

nb_status nb_npy_write_tensor(const char *path, const nb_tensor *t) {
    if (!t) return nbi_error(NB_ERR_ARG, "nb_npy_write_tensor: the tensor is NULL");
    nb_tensor *c = NULL;
    const nb_tensor *src = t;
    if (!nb_tensor_is_contiguous(t)) {
        c = nb_tensor_clone(NULL, t);
        if (!c) return NB_ERR_NOMEM;
        src = c;
    }
    nb_array a;
    memset(&a, 0, sizeof a);
    a.type = t->dtype == NB_I32 ? NB_ELEM_I32 : NB_ELEM_F32;
    a.rank = t->rank;
    for (int i = 0; i < t->rank; i++) a.shape[i] = t->shape[i];
    a.numel = t->numel;
    a.data = src->data;
    nb_status st = nb_npy_write(path, &a);
    nb_tensor_free(c);
    return st;
}
