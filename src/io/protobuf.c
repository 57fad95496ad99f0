/* io/protobuf.c — the protocol-buffer wire format (io/protobuf.h): a writer and a reader that
 * checks every length against the bytes left. */
#include "io/protobuf.h"

#include <stdio.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------------------------ */

void nbi_pb_varint(nbi_text *t, uint64_t v) {
    char b[10];
    size_t n = 0;
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        b[n++] = (char)(v ? byte | 0x80 : byte);
    } while (v);
    nbi_text_put(t, b, n);
}

void nbi_pb_tag(nbi_text *t, int field, int wire) {
    nbi_pb_varint(t, ((uint64_t)(uint32_t)field << 3) | (uint64_t)wire);
}

void nbi_pb_int(nbi_text *t, int field, int64_t v) {
    nbi_pb_tag(t, field, NBI_PB_VARINT);
    nbi_pb_varint(t, (uint64_t)v);
}

static void put_u32le(nbi_text *t, uint32_t u) {
    char b[4] = {(char)(u & 0xff), (char)((u >> 8) & 0xff), (char)((u >> 16) & 0xff),
                 (char)(u >> 24)};
    nbi_text_put(t, b, 4);
}

void nbi_pb_float(nbi_text *t, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    nbi_pb_tag(t, field, NBI_PB_I32);
    put_u32le(t, u);
}

void nbi_pb_bytes(nbi_text *t, int field, const void *p, size_t n) {
    nbi_pb_tag(t, field, NBI_PB_LEN);
    nbi_pb_varint(t, n);
    if (n) nbi_text_put(t, (const char *)p, n);
}

void nbi_pb_str(nbi_text *t, int field, const char *s) {
    nbi_pb_bytes(t, field, s, strlen(s));
}

void nbi_pb_msg(nbi_text *t, int field, const nbi_text *sub) {
    if (sub->oom) {
        t->oom = true;
        return;
    }
    nbi_pb_bytes(t, field, sub->buf, sub->len);
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

void nbi_pb_packed_ints(nbi_text *t, int field, const int64_t *v, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += varint_len((uint64_t)v[i]);
    nbi_pb_tag(t, field, NBI_PB_LEN);
    nbi_pb_varint(t, len);
    for (size_t i = 0; i < n; i++) nbi_pb_varint(t, (uint64_t)v[i]);
}

void nbi_pb_packed_floats(nbi_text *t, int field, const float *v, size_t n) {
    nbi_pb_tag(t, field, NBI_PB_LEN);
    nbi_pb_varint(t, (uint64_t)n * 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_u32le(t, u);
    }
}

/* ---- reading ------------------------------------------------------------------------------ */

void nbi_pb_reader_init(nbi_pb_reader *r, const void *buf, size_t n, const char *what) {
    r->p = buf;
    r->end = r->p + n;
    r->depth = 0;
    r->what = what ? what : "protobuf";
}

/* A varint from [*p, end): 1, 0 when truncated, -1 when longer than 10 bytes or past 64 bits. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (*p >= end) return 0;
        uint8_t b = *(*p)++;
        if (i == 9 && b > 1) return -1;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return -1;
}

static int fail(const nbi_pb_reader *r, const char *why) {
    return -(int)nbi_error(NB_ERR_FORMAT, "%s: %s", r->what, why);
}

int nbi_pb_next(nbi_pb_reader *r, nbi_pb_field *f) {
    if (r->p >= r->end) return 0;
    memset(f, 0, sizeof *f);
    uint64_t key;
    int g = get_varint(&r->p, r->end, &key);
    if (g <= 0) return fail(r, g ? "a field key is not a valid varint" : "truncated field key");
    uint64_t num = key >> 3;
    if (num == 0 || num > 536870911u) return fail(r, "a field number out of range");
    f->number = (int)num;
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case NBI_PB_VARINT:
        g = get_varint(&r->p, r->end, &f->v);
        if (g <= 0) {
            char why[96];
            snprintf(why, sizeof why, "field %d: %s", f->number,
                     g ? "a varint longer than 10 bytes" : "truncated varint");
            return fail(r, why);
        }
        return 1;
    case NBI_PB_I64:
    case NBI_PB_I32: {
        size_t k = f->wire == NBI_PB_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < k) {
            char why[96];
            snprintf(why, sizeof why, "field %d: truncated fixed-size value", f->number);
            return fail(r, why);
        }
        uint64_t v = 0;
        for (size_t i = 0; i < k; i++) v |= (uint64_t)r->p[i] << (8 * i);
        f->v = v;
        r->p += k;
        return 1;
    }
    case NBI_PB_LEN: {
        uint64_t len;
        g = get_varint(&r->p, r->end, &len);
        if (g <= 0 || len > (uint64_t)(r->end - r->p)) {
            char why[128];
            snprintf(why, sizeof why,
                     "field %d: a length-delimited field runs past the end of its message",
                     f->number);
            return fail(r, why);
        }
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default: {
        char why[96];
        snprintf(why, sizeof why, "field %d has wire type %d (groups are not supported)", f->number,
                 f->wire);
        return fail(r, why);
    }
    }
}

static const char *wire_name(int w) {
    switch (w) {
    case NBI_PB_VARINT:
        return "varint";
    case NBI_PB_I64:
        return "fixed64";
    case NBI_PB_LEN:
        return "length-delimited";
    case NBI_PB_I32:
        return "fixed32";
    default:
        return "unknown";
    }
}

nb_status nbi_pb_want(const nbi_pb_reader *r, const nbi_pb_field *f, int wire, const char *name) {
    if (f->wire == wire) return NB_OK;
    return nbi_error(NB_ERR_FORMAT, "%s: %s (field %d) should be %s, found wire type %s", r->what,
                     name, f->number, wire_name(wire), wire_name(f->wire));
}

nb_status nbi_pb_sub(const nbi_pb_reader *r, const nbi_pb_field *f, const char *name,
                     nbi_pb_reader *sub) {
    nb_status s = nbi_pb_want(r, f, NBI_PB_LEN, name);
    if (s != NB_OK) return s;
    if (r->depth + 1 > NBI_PB_MAX_DEPTH)
        return nbi_error(NB_ERR_FORMAT, "%s: %s: messages nested more than %d deep", r->what, name,
                         NBI_PB_MAX_DEPTH);
    sub->p = f->data;
    sub->end = f->data + f->len;
    sub->depth = r->depth + 1;
    sub->what = r->what;
    return NB_OK;
}

nb_status nbi_pb_string(const nbi_pb_reader *r, const nbi_pb_field *f, const char *name, size_t max,
                        char **out) {
    *out = NULL;
    nb_status s = nbi_pb_want(r, f, NBI_PB_LEN, name);
    if (s != NB_OK) return s;
    if (f->len > max)
        return nbi_error(NB_ERR_FORMAT, "%s: %s is %zu bytes long (at most %zu)", r->what, name,
                         f->len, max);
    if (f->len && memchr(f->data, 0, f->len))
        return nbi_error(NB_ERR_FORMAT, "%s: %s holds a NUL byte", r->what, name);
    char *c = nbi_malloc_for(name, f->len + 1);
    if (!c) return NB_ERR_NOMEM;
    if (f->len) memcpy(c, f->data, f->len);
    c[f->len] = 0;
    *out = c;
    return NB_OK;
}

nb_status nbi_pb_ints(const nbi_pb_reader *r, const nbi_pb_field *f, const char *name, int64_t *v,
                      size_t cap, size_t *n) {
    if (f->wire == NBI_PB_VARINT) {
        if (*n >= cap)
            return nbi_error(NB_ERR_FORMAT, "%s: %s has more than %zu values", r->what, name, cap);
        v[(*n)++] = (int64_t)f->v;
        return NB_OK;
    }
    nb_status s = nbi_pb_want(r, f, NBI_PB_LEN, name);
    if (s != NB_OK) return s;
    const uint8_t *p = f->data, *end = f->data + f->len;
    while (p < end) {
        uint64_t x;
        int g = get_varint(&p, end, &x);
        if (g <= 0)
            return nbi_error(NB_ERR_FORMAT, "%s: %s: a packed value is not a valid varint", r->what,
                             name);
        if (*n >= cap)
            return nbi_error(NB_ERR_FORMAT, "%s: %s has more than %zu values", r->what, name, cap);
        v[(*n)++] = (int64_t)x;
    }
    return NB_OK;
}

float nbi_pb_as_float(const nbi_pb_field *f) {
    uint32_t u = (uint32_t)f->v;
    float x;
    memcpy(&x, &u, 4);
    return x;
}
