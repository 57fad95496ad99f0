/* io/safetensors.c — the safetensors format (Hugging Face's; PyTorch users read and write it
 * with the `safetensors` package):
 *
 *     u64 N (little-endian) | N bytes of JSON header | data section
 *
 * The header is one object: "__metadata__" (optional) maps strings to strings; every other
 * key names a tensor {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} whose
 * bytes are data[begin, end), little-endian, C order. Writers pad the header with spaces so
 * that the data starts at a multiple of 8.
 *
 * Reading treats the file as hostile. Before anything is allocated for a tensor: N must fit
 * in the file (and under 100 MB, the reference implementation's limit); every offset must
 * lie in the data section; each tensor's size must equal its shape's product (overflow-checked)
 * times its dtype's size; and the tensors, sorted by offset, must tile the data section
 * exactly — no gap, no overlap, nothing left over. Allocations are bounded by the file's size:
 * entries by the header's length, arrays by the data they copy.
 *
 * A file can also be opened without reading its data (nbi_st_open): the header is read and
 * checked against the file's size as above, and tensors are then read straight from the
 * file into their destination (nbi_st_read_f32), so that loading a model costs its
 * parameters' memory and not the file's on top. Names are indexed, so finding every tensor
 * of a file of n tensors costs O(n). */
#define _POSIX_C_SOURCE 200809L
#include "io/safetensors.h"
#include "base/json.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_LIMIT 100000000u

static const struct {
    const char *name;
    size_t size;
} dtypes[NBI_ST_DTYPE_COUNT] = {
    [NBI_ST_BOOL] = {"BOOL", 1},       [NBI_ST_U8] = {"U8", 1},
    [NBI_ST_I8] = {"I8", 1},           [NBI_ST_F8_E5M2] = {"F8_E5M2", 1},
    [NBI_ST_F8_E4M3] = {"F8_E4M3", 1}, [NBI_ST_I16] = {"I16", 2},
    [NBI_ST_U16] = {"U16", 2},         [NBI_ST_F16] = {"F16", 2},
    [NBI_ST_BF16] = {"BF16", 2},       [NBI_ST_I32] = {"I32", 4},
    [NBI_ST_U32] = {"U32", 4},         [NBI_ST_F32] = {"F32", 4},
    [NBI_ST_F64] = {"F64", 8},         [NBI_ST_I64] = {"I64", 8},
    [NBI_ST_U64] = {"U64", 8},
};

size_t nbi_st_dtype_size(nbi_st_dtype d) {
    return dtypes[d].size;
}
const char *nbi_st_dtype_name(nbi_st_dtype d) {
    return dtypes[d].name;
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- freeing and access --------------------------------------------------------------------- */

void nb_safetensors_free(nb_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) nbi_free(st->t[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        nbi_free(st->mkey[i]);
        nbi_free(st->mval[i]);
    }
    nbi_free(st->t);
    nbi_free(st->mkey);
    nbi_free(st->mval);
    nbi_free(st->owned);
    nbi_free(st->name);
    nbi_strmap_free(&st->index);
    nbi_free(st->win);
    if (st->fd >= 0) close(st->fd);
    nbi_free(st);
}

int nb_safetensors_count(const nb_safetensors *st) {
    return st ? st->n : 0;
}

const char *nb_safetensors_name(const nb_safetensors *st, int i) {
    return st && i >= 0 && i < st->n ? st->t[i].name : NULL;
}

int nb_safetensors_find(const nb_safetensors *st, const char *name) {
    if (!st || !name) return -1;
    return nbi_strmap_get(&st->index, name);
}

int nb_safetensors_shape(const nb_safetensors *st, int i, const char **dtype, int64_t *shape) {
    if (!st || i < 0 || i >= st->n) return -1;
    const nbi_st_tensor *t = &st->t[i];
    if (dtype) *dtype = dtypes[t->dtype].name;
    if (shape)
        for (int k = 0; k < t->rank; k++) shape[k] = t->shape[k];
    return t->rank;
}

const char *nb_safetensors_meta(const nb_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->mkey[i], key)) return st->mval[i];
    return NULL;
}

int nb_safetensors_meta_count(const nb_safetensors *st) {
    return st ? st->n_meta : 0;
}
const char *nb_safetensors_meta_key(const nb_safetensors *st, int i) {
    return st && i >= 0 && i < st->n_meta ? st->mkey[i] : NULL;
}
const char *nb_safetensors_meta_value(const nb_safetensors *st, int i) {
    return st && i >= 0 && i < st->n_meta ? st->mval[i] : NULL;
}

/* ---- element conversion -----------------------------------------------------------------------
 */

/* IEEE binary16 to binary32: exact (every half is a float). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = h >> 10 & 0x1F, m = h & 0x3FF, bits;
    if (e == 0x1F) {
        bits = sign | 0x7F800000u | m << 13; /* inf, nan */
    } else if (e != 0) {
        bits = sign | (e + 112) << 23 | m << 13;
    } else if (m == 0) {
        bits = sign;
    } else { /* subnormal: m · 2^-24 */
        float f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

bool nbi_st_is_float(nbi_st_dtype d) {
    return d == NBI_ST_F32 || d == NBI_ST_F64 || d == NBI_ST_F16 || d == NBI_ST_BF16;
}

/* The element of dtype d at p as a float. */
static float to_f32(nbi_st_dtype d, const unsigned char *p) {
    uint32_t b32 = 0;
    uint64_t b64 = 0;
    float f;
    double x;
    switch (d) {
    case NBI_ST_F32:
        b32 = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        memcpy(&f, &b32, 4);
        return f;
    case NBI_ST_F64:
        b64 = le64(p);
        memcpy(&x, &b64, 8);
        return (float)x;
    case NBI_ST_F16:
        return half_to_float((uint16_t)(p[0] | p[1] << 8));
    case NBI_ST_BF16:
        b32 = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
        memcpy(&f, &b32, 4);
        return f;
    default:
        NBI_ASSERT(0 && "to_f32 on a non-float dtype");
        return 0.0f;
    }
}

float nbi_st_get_f32(const nb_safetensors *st, const nbi_st_tensor *t, int64_t i) {
    NBI_ASSERT(st->data);
    return to_f32(t->dtype, st->data + t->begin + (size_t)i * dtypes[t->dtype].size);
}

#define WINDOW 65536

struct nbi_st_window {
    uint64_t at; /* offset in the data section of buf[0] */
    size_t len;  /* bytes held */
    unsigned char buf[WINDOW];
};

/* n bytes at offset off of the file's data section, straight into dst. */
static nb_status pread_data(const nb_safetensors *st, uint64_t off, void *dst, size_t n) {
    unsigned char *d = dst;
    while (n) {
        ssize_t r = pread(st->fd, d, n, (off_t)(st->data_off + off));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return nbi_error(NB_ERR_IO, "%s: cannot read the data at byte %llu: %s", st->name,
                             (unsigned long long)(st->data_off + off),
                             r < 0 ? strerror(errno) : "the file was truncated while read");
        d += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return NB_OK;
}

/* n bytes at offset off of the data section: from memory, or from the file through a window
 * (many small tensors in a row), or straight from the file (a large one). */
static nb_status read_bytes(const nb_safetensors *st, uint64_t off, void *dst, size_t n) {
    if (st->data) {
        memcpy(dst, st->data + off, n);
        return NB_OK;
    }
    struct nbi_st_window *w = st->win;
    if (!w || n > WINDOW / 4) return pread_data(st, off, dst, n);
    if (off < w->at || off + n > w->at + w->len) {
        uint64_t left = st->data_len - off;
        w->at = off;
        w->len = left < WINDOW ? (size_t)left : WINDOW;
        nb_status s = pread_data(st, off, w->buf, w->len);
        if (s != NB_OK) {
            w->len = 0;
            return s;
        }
    }
    memcpy(dst, w->buf + (off - w->at), n);
    return NB_OK;
}

nb_status nbi_st_read_f32(const nb_safetensors *st, const nbi_st_tensor *t, int64_t first,
                          int64_t count, float *dst) {
    NBI_ASSERT(nbi_st_is_float(t->dtype) && first >= 0 && count >= 0 && first + count <= t->numel);
    size_t es = dtypes[t->dtype].size;
    unsigned char buf[16384];
    size_t per = sizeof buf / es;
    for (int64_t k = 0; k < count;) {
        size_t m = (size_t)(count - k) < per ? (size_t)(count - k) : per;
        nb_status s = read_bytes(st, t->begin + (uint64_t)(first + k) * es, buf, m * es);
        if (s != NB_OK) return s;
        for (size_t i = 0; i < m; i++) dst[k + (int64_t)i] = to_f32(t->dtype, buf + i * es);
        k += (int64_t)m;
    }
    return NB_OK;
}

nb_status nb_safetensors_get(const nb_safetensors *st, int i, nb_array *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_safetensors_get: out is NULL");
    memset(out, 0, sizeof *out);
    if (!st || i < 0 || i >= st->n)
        return nbi_error(NB_ERR_ARG, "nb_safetensors_get: no tensor %d (the file has %d)", i,
                         st ? st->n : 0);
    const nbi_st_tensor *t = &st->t[i];
    nb_elem e;
    switch (t->dtype) {
    case NBI_ST_BOOL:
    case NBI_ST_U8:
        e = NB_ELEM_U8;
        break;
    case NBI_ST_I8:
        e = NB_ELEM_I8;
        break;
    case NBI_ST_I16:
        e = NB_ELEM_I16;
        break;
    case NBI_ST_I32:
        e = NB_ELEM_I32;
        break;
    case NBI_ST_I64:
        e = NB_ELEM_I64;
        break;
    case NBI_ST_F16:
    case NBI_ST_BF16:
    case NBI_ST_F32:
        e = NB_ELEM_F32;
        break;
    case NBI_ST_F64:
        e = NB_ELEM_F64;
        break;
    default:
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has dtype %s, which nabla does not "
                         "read (it reads BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64)",
                         st->name, t->name, dtypes[t->dtype].name);
    }
    size_t es = nb_elem_size(e), bytes = (size_t)t->numel * es; /* <= 2x the file: checked */
    void *data = nbi_malloc(bytes ? bytes : 1);
    if (!data)
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory for tensor '%s' (%zu bytes)", st->name,
                         t->name, bytes);
    nb_status s;
    if (e == NB_ELEM_F32) {
        s = nbi_st_read_f32(st, t, 0, t->numel, data);
    } else {
        s = read_bytes(st, t->begin, data, bytes);
        if (!nbi_host_is_le()) nbi_swap_bytes(data, (size_t)t->numel, es);
    }
    if (s != NB_OK) {
        nbi_free(data);
        return s;
    }
    out->type = e;
    out->rank = t->rank;
    for (int k = 0; k < t->rank; k++) out->shape[k] = t->shape[k];
    out->numel = t->numel;
    out->data = data;
    return NB_OK;
}

/* ---- the reader ---------------------------------------------------------------------------------
 */

typedef struct parser {
    nb_safetensors *st;
    nbi_json j;
    nbi_text key, val;
} parser;

static char *dup_text(const nbi_text *t) {
    char *s = nbi_malloc(t->len + 1);
    if (s) memcpy(s, nbi_text_str(t), t->len + 1);
    return s;
}

static nb_status nomem(parser *p) {
    return nbi_error(NB_ERR_NOMEM, "%s: out of memory reading the header", p->st->name);
}

static nb_status parse_meta(parser *p) {
    nb_safetensors *st = p->st;
    nb_status s = nbi_json_expect(&p->j, '{', "to open __metadata__");
    if (s != NB_OK || nbi_json_accept(&p->j, '}')) return s;
    for (;;) {
        if ((s = nbi_json_string(&p->j, &p->key, "a metadata key")) != NB_OK) return s;
        if ((s = nbi_json_expect(&p->j, ':', "after a metadata key")) != NB_OK) return s;
        if (nbi_json_peek(&p->j) != '"')
            return nbi_json_error(&p->j,
                                  "expected a string value for metadata key '%s' "
                                  "(metadata maps strings to strings)",
                                  nbi_text_str(&p->key));
        if ((s = nbi_json_string(&p->j, &p->val, "a metadata value")) != NB_OK) return s;
        if (st->n_meta == st->cap_meta) {
            int cap = st->cap_meta ? 2 * st->cap_meta : 8;
            char **k = nbi_malloc(sizeof *k * (size_t)cap),
                 **v = nbi_malloc(sizeof *v * (size_t)cap);
            if (!k || !v) {
                nbi_free(k);
                nbi_free(v);
                return nomem(p);
            }
            if (st->n_meta) {
                memcpy(k, st->mkey, sizeof *k * (size_t)st->n_meta);
                memcpy(v, st->mval, sizeof *v * (size_t)st->n_meta);
            }
            nbi_free(st->mkey);
            nbi_free(st->mval);
            st->mkey = k;
            st->mval = v;
            st->cap_meta = cap;
        }
        char *k = dup_text(&p->key), *v = dup_text(&p->val);
        if (!k || !v) {
            nbi_free(k);
            nbi_free(v);
            return nomem(p);
        }
        st->mkey[st->n_meta] = k;
        st->mval[st->n_meta] = v;
        st->n_meta++;
        if (nbi_json_accept(&p->j, ',')) continue;
        return nbi_json_expect(&p->j, '}', "or ',' in __metadata__");
    }
}

/* "[d0, d1, ...]" into t's shape. */
static nb_status parse_shape(parser *p, nbi_st_tensor *t) {
    nb_status s = nbi_json_expect(&p->j, '[', "to open the shape");
    if (s != NB_OK || nbi_json_accept(&p->j, ']')) return s;
    for (;;) {
        uint64_t d;
        if (t->rank == NB_MAX_RANK)
            return nbi_error(NB_ERR_UNSUPPORTED,
                             "%s: tensor '%s' has more than %d dimensions; nabla reads at most %d",
                             p->st->name, t->name, NB_MAX_RANK, NB_MAX_RANK);
        if ((s = nbi_json_u64(&p->j, &d, "a dimension of the shape")) != NB_OK) return s;
        if (d > (uint64_t)INT64_MAX)
            return nbi_json_error(&p->j, "a dimension above 2^63 - 1 in tensor '%s'", t->name);
        t->shape[t->rank++] = (int64_t)d;
        if (nbi_json_accept(&p->j, ',')) continue;
        return nbi_json_expect(&p->j, ']', "or ',' in the shape");
    }
}

static nb_status parse_tensor(parser *p, nbi_st_tensor *t) {
    nb_status s = nbi_json_expect(&p->j, '{', "to open a tensor's entry");
    if (s != NB_OK) return s;
    bool seen[3] = {false, false, false};
    if (!nbi_json_accept(&p->j, '}')) {
        for (;;) {
            if ((s = nbi_json_string(&p->j, &p->key, "a key of a tensor's entry")) != NB_OK)
                return s;
            if ((s = nbi_json_expect(&p->j, ':', "after a key")) != NB_OK) return s;
            const char *k = nbi_text_str(&p->key);
            int which = !strcmp(k, "dtype")          ? 0
                        : !strcmp(k, "shape")        ? 1
                        : !strcmp(k, "data_offsets") ? 2
                                                     : -1;
            if (which < 0)
                return nbi_error(NB_ERR_FORMAT,
                                 "%s: unknown key '%s' in the entry of tensor "
                                 "'%s' (expected dtype, shape and data_offsets)",
                                 p->st->name, k, t->name);
            if (seen[which])
                return nbi_error(NB_ERR_FORMAT,
                                 "%s: key '%s' appears twice in the entry of "
                                 "tensor '%s'",
                                 p->st->name, k, t->name);
            seen[which] = true;
            if (which == 0) {
                if ((s = nbi_json_string(&p->j, &p->val, "the dtype")) != NB_OK) return s;
                int d = -1;
                for (int i = 0; i < NBI_ST_DTYPE_COUNT; i++)
                    if (!strcmp(dtypes[i].name, nbi_text_str(&p->val))) d = i;
                if (d < 0)
                    return nbi_error(NB_ERR_UNSUPPORTED,
                                     "%s: tensor '%s' has dtype '%s', which "
                                     "nabla does not know",
                                     p->st->name, t->name, nbi_text_str(&p->val));
                t->dtype = (nbi_st_dtype)d;
            } else if (which == 1) {
                if ((s = parse_shape(p, t)) != NB_OK) return s;
            } else {
                if ((s = nbi_json_expect(&p->j, '[', "to open data_offsets")) != NB_OK ||
                    (s = nbi_json_u64(&p->j, &t->begin, "the begin offset")) != NB_OK ||
                    (s = nbi_json_expect(&p->j, ',', "between the two offsets")) != NB_OK ||
                    (s = nbi_json_u64(&p->j, &t->end, "the end offset")) != NB_OK ||
                    (s = nbi_json_expect(&p->j, ']', "after the two offsets")) != NB_OK)
                    return s;
            }
            if (nbi_json_accept(&p->j, ',')) continue;
            if ((s = nbi_json_expect(&p->j, '}', "or ',' in a tensor's entry")) != NB_OK) return s;
            break;
        }
    }
    static const char *const keys[3] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return nbi_error(NB_ERR_FORMAT, "%s: the entry of tensor '%s' has no '%s'", p->st->name,
                             t->name, keys[i]);
    /* Its size: the product of the shape (0 if any dimension is 0) times the dtype's size,
     * which must be exactly the span of its offsets, inside the data section. */
    if (t->begin > t->end || t->end > p->st->data_len)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: tensor '%s' has data_offsets [%llu, %llu] outside "
                         "the data section of %zu bytes (the file is truncated or corrupt)",
                         p->st->name, t->name, (unsigned long long)t->begin,
                         (unsigned long long)t->end, p->st->data_len);
    size_t numel = 1, bytes;
    bool zero = false, ok = true;
    for (int i = 0; i < t->rank; i++) zero = zero || t->shape[i] == 0;
    for (int i = 0; i < t->rank && !zero && ok; i++)
        ok = (uint64_t)t->shape[i] <= SIZE_MAX && nbi_mul_size(numel, (size_t)t->shape[i], &numel);
    if (zero) numel = 0;
    ok = ok && nbi_mul_size(numel, dtypes[t->dtype].size, &bytes);
    if (!ok || bytes != t->end - t->begin) {
        char need[80] = "";
        if (ok)
            snprintf(need, sizeof need, ": its shape takes %zu bytes (%zu elements of %zu)", bytes,
                     numel, dtypes[t->dtype].size);
        return nbi_error(NB_ERR_FORMAT,
                         "%s: tensor '%s' (%s, %d dimensions) needs %s bytes but its "
                         "data_offsets span %llu%s",
                         p->st->name, t->name, dtypes[t->dtype].name, t->rank,
                         ok ? "a different number of" : "more than 2^64",
                         (unsigned long long)(t->end - t->begin), need);
    }
    t->numel = (int64_t)numel;
    return NB_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first name that appears twice, or NULL. `scratch` holds n pointers. */
static const char *duplicate(char **names, int n, const char **scratch) {
    if (n < 2) return NULL;
    memcpy(scratch, names, sizeof *scratch * (size_t)n);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_str);
    for (int i = 1; i < n; i++)
        if (!strcmp(scratch[i - 1], scratch[i])) return scratch[i];
    return NULL;
}

typedef struct span {
    uint64_t begin, end;
    int idx;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

/* Names unique; tensors sorted by offset tile [0, data_len) exactly. */
static nb_status check_layout(nb_safetensors *st) {
    int most = st->n > st->n_meta ? st->n : st->n_meta;
    if (most == 0) {
        if (st->data_len)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: %zu bytes of data follow a header that names no "
                             "tensor",
                             st->name, st->data_len);
        return NB_OK;
    }
    size_t bytes = sizeof(span) > sizeof(char *) ? sizeof(span) : sizeof(char *);
    void *scratch = nbi_malloc(bytes * (size_t)most);
    if (!scratch) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", st->name);
    nb_status s = NB_OK;
    const char *dup;
    if (!nbi_strmap_reserve(&st->index, (size_t)st->n))
        s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", st->name);
    for (int i = 0; s == NB_OK && i < st->n; i++) {
        if (nbi_strmap_get(&st->index, st->t[i].name) >= 0)
            s = nbi_error(NB_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", st->name,
                          st->t[i].name);
        else
            nbi_strmap_put(&st->index, st->t[i].name, i); /* room was reserved */
    }
    if (s == NB_OK && (dup = duplicate(st->mkey, st->n_meta, scratch)))
        s = nbi_error(NB_ERR_FORMAT, "%s: metadata key '%s' appears twice", st->name, dup);
    if (s == NB_OK) {
        span *sp = scratch;
        for (int i = 0; i < st->n; i++) sp[i] = (span){st->t[i].begin, st->t[i].end, i};
        qsort(sp, (size_t)st->n, sizeof *sp, cmp_span);
        uint64_t at = 0;
        for (int i = 0; i < st->n && s == NB_OK; i++) {
            const nbi_st_tensor *t = &st->t[sp[i].idx];
            if (sp[i].begin != at)
                s = nbi_error(NB_ERR_FORMAT,
                              "%s: tensor '%s' starts at byte %llu of the data, "
                              "where %llu was expected: tensors must be contiguous, without "
                              "gaps or overlaps",
                              st->name, t->name, (unsigned long long)sp[i].begin,
                              (unsigned long long)at);
            at = sp[i].end;
        }
        if (s == NB_OK && at != st->data_len)
            s = nbi_error(NB_ERR_FORMAT,
                          "%s: the tensors cover %llu bytes of a %zu-byte data "
                          "section (the file has trailing bytes or is corrupt)",
                          st->name, (unsigned long long)at, st->data_len);
    }
    nbi_free(scratch);
    return s;
}

static nb_status parse_header(parser *p, const unsigned char *buf, uint64_t hlen) {
    nb_safetensors *st = p->st;
    nbi_json_init(&p->j, (const char *)buf + 8, (size_t)hlen, 8, st->name);
    p->j.text = "the JSON header";
    if (hlen == 0 || buf[8] != '{')
        return nbi_json_error(&p->j, "expected the JSON header to start with '{'");
    p->j.p++;
    nb_status s;
    bool meta = false;
    if (!nbi_json_accept(&p->j, '}')) {
        for (;;) {
            if ((s = nbi_json_string(&p->j, &p->key, "a tensor name")) != NB_OK) return s;
            if ((s = nbi_json_expect(&p->j, ':', "after a tensor name")) != NB_OK) return s;
            if (!strcmp(nbi_text_str(&p->key), "__metadata__")) {
                if (meta)
                    return nbi_error(NB_ERR_FORMAT, "%s: __metadata__ appears twice", st->name);
                meta = true;
                if ((s = parse_meta(p)) != NB_OK) return s;
            } else {
                if (st->n == st->cap) {
                    int cap = st->cap ? 2 * st->cap : 16;
                    nbi_st_tensor *t = nbi_malloc(sizeof *t * (size_t)cap);
                    if (!t) return nomem(p);
                    if (st->n) memcpy(t, st->t, sizeof *t * (size_t)st->n);
                    nbi_free(st->t);
                    st->t = t;
                    st->cap = cap;
                }
                nbi_st_tensor *t = &st->t[st->n];
                memset(t, 0, sizeof *t);
                if (!(t->name = dup_text(&p->key))) return nomem(p);
                st->n++;
                if ((s = parse_tensor(p, t)) != NB_OK) return s;
            }
            if (nbi_json_accept(&p->j, ',')) continue;
            if ((s = nbi_json_expect(&p->j, '}', "or ',' in the header")) != NB_OK) return s;
            break;
        }
    }
    if (nbi_json_peek(&p->j) != -1)
        return nbi_json_error(&p->j, "expected only padding (spaces) after the header's object");
    return check_layout(st);
}

/* Checks the 8-byte length at the start of a file of len bytes. */
static nb_status check_hlen(const char *name, uint64_t hlen, uint64_t len) {
    if (hlen > len - 8)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: the header length %llu exceeds the %llu bytes that "
                         "follow it (the file is truncated, or not safetensors)",
                         name, (unsigned long long)hlen, (unsigned long long)(len - 8));
    if (hlen > HEADER_LIMIT)
        return nbi_error(NB_ERR_FORMAT, "%s: a header of %llu bytes is over the 100 MB limit", name,
                         (unsigned long long)hlen);
    return NB_OK;
}

static nb_status too_short(const char *name, uint64_t len) {
    return nbi_error(NB_ERR_FORMAT,
                     "%s: %llu bytes is too short for a safetensors file (it "
                     "starts with an 8-byte header length)",
                     name, (unsigned long long)len);
}

/* A parsed header: head holds the 8 length bytes and the header (hlen bytes); the data
 * section (data_len bytes) is at `data` in memory, or (data NULL) in st->fd. */
static nb_status parse_head(const unsigned char *head, uint64_t hlen, const unsigned char *data,
                            uint64_t data_len, const char *name, nb_safetensors **out) {
    nb_safetensors *st = nbi_malloc(sizeof *st);
    if (!st) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    memset(st, 0, sizeof *st);
    st->fd = -1;
    nbi_strmap_init(&st->index);
    size_t nl = strlen(name);
    st->name = nbi_malloc(nl + 1);
    if (!st->name) {
        nbi_free(st);
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(st->name, name, nl + 1);
    if ((uint64_t)(size_t)data_len != data_len) {
        nb_safetensors_free(st);
        return nbi_error(NB_ERR_FORMAT, "%s: the data section is too large", name);
    }
    st->data = data;
    st->data_len = (size_t)data_len;
    parser p = {.st = st};
    nbi_text_init(&p.key);
    nbi_text_init(&p.val);
    nb_status s = parse_header(&p, head, hlen);
    nbi_text_free(&p.key);
    nbi_text_free(&p.val);
    if (s != NB_OK) {
        nb_safetensors_free(st);
        return s;
    }
    *out = st;
    return NB_OK;
}

nb_status nb_safetensors_parse(const void *buf, size_t len, const char *name,
                               nb_safetensors **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_safetensors_parse: out is NULL");
    *out = NULL;
    if (!buf && len) return nbi_error(NB_ERR_ARG, "nb_safetensors_parse: buffer is NULL");
    if (!name) name = "safetensors";
    const unsigned char *b = buf;
    if (len < 8) return too_short(name, len);
    uint64_t hlen = le64(b);
    nb_status s = check_hlen(name, hlen, len);
    if (s != NB_OK) return s;
    return parse_head(b, hlen, b + 8 + hlen, len - 8 - hlen, name, out);
}

nb_status nb_safetensors_read(const char *path, nb_safetensors **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_safetensors_read: out is NULL");
    *out = NULL;
    unsigned char *buf;
    size_t len;
    nb_status s = nbi_read_file(path, "safetensors", &buf, &len);
    if (s != NB_OK) return s;
    s = nb_safetensors_parse(buf, len, path, out);
    if (s != NB_OK) {
        nbi_free(buf);
        return s;
    }
    (*out)->owned = buf;
    return NB_OK;
}

/* n bytes at off of fd, all of them. */
static nb_status pread_all(int fd, const char *path, void *dst, size_t n, uint64_t off) {
    unsigned char *d = dst;
    while (n) {
        ssize_t r = pread(fd, d, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return nbi_error(NB_ERR_IO, "safetensors: cannot read '%s': %s", path,
                             r < 0 ? strerror(errno) : "the file is shorter than its size");
        d += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return NB_OK;
}

nb_status nbi_st_open(const char *path, nb_safetensors **out) {
    *out = NULL;
    if (!path) return nbi_error(NB_ERR_ARG, "safetensors: the file path is NULL");
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever; fstat then refuses
     * it (and devices) before any read (as nbi_read_file does) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return nbi_error(NB_ERR_IO, "safetensors: cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    nb_status s = NB_OK;
    if (fstat(fd, &sb) != 0)
        s = nbi_error(NB_ERR_IO, "safetensors: cannot stat '%s': %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        s = nbi_error(NB_ERR_IO, "safetensors: cannot read '%s': it is %s, not a regular file",
                      path, nbi_file_kind(sb.st_mode));
    uint64_t len = s == NB_OK ? (uint64_t)sb.st_size : 0, hlen = 0;
    unsigned char len8[8], *head = NULL;
    if (s == NB_OK && len < 8) s = too_short(path, len);
    if (s == NB_OK) s = pread_all(fd, path, len8, 8, 0);
    if (s == NB_OK) s = check_hlen(path, hlen = le64(len8), len);
    if (s == NB_OK && !(head = nbi_malloc((size_t)hlen + 8)))
        s = nbi_error(NB_ERR_NOMEM, "%s: out of memory for the header", path);
    if (s == NB_OK) {
        memcpy(head, len8, 8);
        s = pread_all(fd, path, head + 8, (size_t)hlen, 8);
    }
    if (s == NB_OK) s = parse_head(head, hlen, NULL, len - 8 - hlen, path, out);
    if (s != NB_OK) {
        nbi_free(head);
        close(fd);
        return s;
    }
    (*out)->owned = head;
    (*out)->fd = fd;
    (*out)->data_off = 8 + hlen;
    if (((*out)->win = nbi_malloc(sizeof *(*out)->win)))
        (*out)->win->at = 0, (*out)->win->len = 0; /* else: unbuffered */
    return NB_OK;
}

/* ---- the writer ------------------------------------------------------------------------------ */

/* A string the header stores must be valid UTF-8: the reader's strict JSON refuses others. */
static nb_status check_utf8(const char *what, const char *kind, const char *v) {
    if (nbi_utf8_valid(v, strlen(v))) return NB_OK;
    return nbi_error(NB_ERR_ARG,
                     "%s: %s '%s' is not valid UTF-8 (a safetensors header is "
                     "JSON text): nothing was written",
                     what, kind, v);
}

nb_status nbi_st_header(const nbi_st_entry *e, int n, const char *const *meta, int n_meta,
                        const char *what, nbi_text *json, unsigned char len8[8],
                        uint64_t *data_len) {
    nbi_strmap seen;
    nbi_strmap_init(&seen);
    nb_status s = nbi_strmap_reserve(&seen, (size_t)(n > n_meta ? n : n_meta))
                      ? NB_OK
                      : nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    for (int i = 0; i < n && s == NB_OK; i++) {
        if (!e[i].name || !e[i].name[0] || !strcmp(e[i].name, "__metadata__"))
            s = nbi_error(NB_ERR_ARG, "%s: tensor %d has %s name", what, i,
                          e[i].name && e[i].name[0] ? "a reserved" : "an empty");
        else if (nbi_strmap_get(&seen, e[i].name) >= 0)
            s = nbi_error(NB_ERR_ARG, "%s: two tensors are named '%s'", what, e[i].name);
        else if ((s = check_utf8(what, "tensor name", e[i].name)) == NB_OK)
            nbi_strmap_put(&seen, e[i].name, i);
    }
    nbi_strmap_free(&seen);
    nbi_strmap_init(&seen);
    if (s == NB_OK && !nbi_strmap_reserve(&seen, (size_t)n_meta))
        s = nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    for (int i = 0; i < n_meta && s == NB_OK; i++) {
        if (!meta[2 * i] || !meta[2 * i + 1])
            s = nbi_error(NB_ERR_ARG, "%s: metadata pair %d has a NULL key or value", what, i);
        else if (nbi_strmap_get(&seen, meta[2 * i]) >= 0)
            s = nbi_error(NB_ERR_ARG, "%s: metadata key '%s' is given twice", what, meta[2 * i]);
        else if ((s = check_utf8(what, "metadata key", meta[2 * i])) == NB_OK &&
                 (s = check_utf8(what, "the value of metadata", meta[2 * i + 1])) == NB_OK)
            nbi_strmap_put(&seen, meta[2 * i], i);
    }
    nbi_strmap_free(&seen);
    if (s != NB_OK) return s;
    nbi_text_puts(json, "{");
    if (n_meta) {
        nbi_text_puts(json, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) nbi_text_puts(json, ",");
            nbi_json_put_string(json, meta[2 * i]);
            nbi_text_puts(json, ":");
            nbi_json_put_string(json, meta[2 * i + 1]);
        }
        nbi_text_puts(json, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1, bytes;
        bool ok = e[i].rank >= 0 && e[i].rank <= NB_MAX_RANK;
        for (int k = 0; ok && k < e[i].rank; k++)
            ok = e[i].shape[k] >= 0 && nbi_mul_size(numel, (size_t)e[i].shape[k], &numel);
        if (!ok || !nbi_mul_size(numel, dtypes[e[i].dtype].size, &bytes) || at > UINT64_MAX - bytes)
            return nbi_error(NB_ERR_ARG, "%s: tensor '%s' has a bad shape or is too large", what,
                             e[i].name);
        if (i || n_meta) nbi_text_puts(json, ",");
        nbi_json_put_string(json, e[i].name);
        nbi_text_printf(json, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[e[i].dtype].name);
        for (int k = 0; k < e[i].rank; k++)
            nbi_text_printf(json, "%s%lld", k ? "," : "", (long long)e[i].shape[k]);
        nbi_text_printf(json, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                        (unsigned long long)(at + bytes));
        at += bytes;
    }
    nbi_text_puts(json, "}");
    static const char spaces[8] = "       ";
    nbi_text_put(json, spaces, (8 - json->len % 8) % 8); /* 8 + len: a multiple of 8 */
    if ((s = nbi_text_status(json, what)) != NB_OK) return s;
    uint64_t h = json->len;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(h >> (8 * i));
    *data_len = at;
    return NB_OK;
}

nb_status nbi_st_write_le(nbi_atomic_file *af, const void *p, size_t n, size_t es) {
    if (nbi_host_is_le() || es == 1) return nbi_atomic_write(af, p, n * es);
    unsigned char buf[4096];
    size_t per = sizeof buf / es;
    const unsigned char *src = p;
    for (size_t i = 0; i < n; i += per) {
        size_t k = n - i < per ? n - i : per;
        memcpy(buf, src + i * es, k * es);
        nbi_swap_bytes(buf, k, es);
        nb_status s = nbi_atomic_write(af, buf, k * es);
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

static nbi_st_dtype elem_dtype(nb_elem e) {
    switch (e) {
    case NB_ELEM_U8:
        return NBI_ST_U8;
    case NB_ELEM_I8:
        return NBI_ST_I8;
    case NB_ELEM_I16:
        return NBI_ST_I16;
    case NB_ELEM_I32:
        return NBI_ST_I32;
    case NB_ELEM_I64:
        return NBI_ST_I64;
    case NB_ELEM_F32:
        return NBI_ST_F32;
    case NB_ELEM_F64:
        return NBI_ST_F64;
    case NB_ELEM_F16:
        return NBI_ST_F16;
    default:
        return NBI_ST_DTYPE_COUNT;
    }
}

nb_status nb_safetensors_write(const char *path, int n, const char *const *names,
                               const nb_array *arrays, int n_meta, const char *const *meta) {
    const char *what = "nb_safetensors_write";
    if (n < 0 || n_meta < 0 || (n && (!names || !arrays)) || (n_meta && !meta))
        return nbi_error(NB_ERR_ARG, "%s: bad counts or NULL lists", what);
    nbi_st_entry *e = nbi_malloc(sizeof *e * (size_t)(n ? n : 1));
    if (!e) return nbi_error(NB_ERR_NOMEM, "%s: out of memory", what);
    nb_status s = NB_OK;
    for (int i = 0; i < n && s == NB_OK; i++) {
        const nb_array *a = &arrays[i];
        e[i].name = names[i];
        e[i].dtype = (unsigned)a->type < NB_ELEM_COUNT ? elem_dtype(a->type) : NBI_ST_DTYPE_COUNT;
        e[i].rank = a->rank;
        if (e[i].dtype == NBI_ST_DTYPE_COUNT || a->rank < 0 || a->rank > NB_MAX_RANK ||
            (a->numel && !a->data))
            s = nbi_error(NB_ERR_ARG, "%s: array %d ('%s') has a bad type, rank or no data", what,
                          i, names[i] ? names[i] : "?");
        int64_t numel = 1;
        for (int k = 0; s == NB_OK && k < a->rank; k++) {
            e[i].shape[k] = a->shape[k];
            numel = a->shape[k] >= 0 && numel <= INT64_MAX / (a->shape[k] ? a->shape[k] : 1)
                        ? numel * a->shape[k]
                        : -1;
        }
        if (s == NB_OK && numel != a->numel)
            s = nbi_error(NB_ERR_ARG,
                          "%s: array %d ('%s') has numel %lld but its shape holds "
                          "%lld",
                          what, i, names[i] ? names[i] : "?", (long long)a->numel,
                          (long long)numel);
    }
    nbi_text json;
    nbi_text_init(&json);
    unsigned char len8[8];
    uint64_t data_len;
    if (s == NB_OK) s = nbi_st_header(e, n, meta, n_meta, what, &json, len8, &data_len);
    nbi_atomic_file af;
    if (s == NB_OK) s = nbi_atomic_open(&af, path);
    if (s == NB_OK) {
        s = nbi_atomic_write(&af, len8, 8);
        if (s == NB_OK) s = nbi_atomic_write(&af, json.buf, json.len);
        for (int i = 0; i < n && s == NB_OK; i++)
            s = nbi_st_write_le(&af, arrays[i].data, (size_t)arrays[i].numel,
                                nb_elem_size(arrays[i].type));
        if (s == NB_OK)
            s = nbi_atomic_commit(&af);
        else
            nbi_atomic_abort(&af);
    }
    nbi_text_free(&json);
    nbi_free(e);
    return s;
}
