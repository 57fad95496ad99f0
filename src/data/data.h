/* data/data.h — internal helpers of the data loaders: element conversion, byte order, the
 * gzip reader, the .npy encoder and dataset construction that takes ownership of arrays. */
#ifndef NBI_DATA_H
#define NBI_DATA_H

#include "base/base.h"
#include "base/file.h"
#include "nabla/data.h"

/* ---- sizes ------------------------------------------------------------------------------ */
/* bytes = numel * elem size for a shape, overflow-checked; false on overflow or a negative
 * dimension. */
bool nbi_shape_bytes(int rank, const int64_t *shape, size_t es, int64_t *numel, size_t *bytes);

/* Converts n elements of type `t` at src to f32 (values outside f32's range become +-inf). */
void nbi_elem_to_f32(nb_elem t, const void *src, int64_t n, float *dst);
/* Value i of an integer or float array, as double. */
double nbi_elem_get(nb_elem t, const void *src, int64_t i);
static inline bool nbi_elem_is_int(nb_elem t) { return t <= NB_ELEM_I64; }

/* ---- gzip ------------------------------------------------------------------------------ */
static inline bool nbi_is_gzip(const unsigned char *p, size_t len) {
    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}
/* A gzip stream over a memory buffer (one or more members). Without zlib, open fails with
 * NB_ERR_UNSUPPORTED and a message saying how to get it. */
typedef struct nbi_gz nbi_gz;
nb_status nbi_gz_open(nbi_gz **g, const unsigned char *src, size_t len, const char *name);
/* Reads up to n bytes; *got < n only at the end of the data. */
nb_status nbi_gz_read(nbi_gz *g, void *dst, size_t n, size_t *got);
void nbi_gz_close(nbi_gz *g);
/* The most bytes `len` compressed bytes can expand to (deflate's 1032:1 limit), capped at
 * SIZE_MAX: a header claiming more is lying. */
size_t nbi_gz_max_output(size_t len);

/* ---- .npy ------------------------------------------------------------------------------ */
/* The whole .npy file for `a` in a fresh buffer (nbi_malloc), exactly as numpy.save writes
 * it (version 1.0, or 2.0 when the header needs it). */
nb_status nbi_npy_encode(const nb_array *a, unsigned char **buf, size_t *len);

/* ---- decimal numbers in text ----------------------------------------------------------- */
typedef enum nbi_num {
    NBI_NUM_OK = 0,
    NBI_NUM_EMPTY,      /* nothing but blanks */
    NBI_NUM_BAD,        /* not a decimal number */
    NBI_NUM_NONFINITE,  /* "nan", "inf", "infinity" in any case, with a sign or not */
    NBI_NUM_RANGE       /* a number too large for a double */
} nbi_num;
/* Parses s[0..n) (blanks around it allowed) as [+-]digits[.digits][(e|E)[+-]digits] into the
 * correctly rounded double, independently of the process's locale. *c_locale caches a "C"
 * locale for the rare slow path; release it with nbi_num_locale_free. */
nbi_num nbi_parse_double(const char *s, size_t n, double *out, void **c_locale);
void nbi_num_locale_free(void *c_locale);

/* ---- datasets --------------------------------------------------------------------------- */
/* Builds a dataset from x and y (y may be NULL or empty), taking their buffers when the
 * stored form matches (u8 or f32 x, i32 labels, f32 targets) and copying otherwise. x and y
 * are left empty either way. class_names (num_names of them, may be NULL) are taken too.
 * `what` names the source in messages. */
nb_status nbi_dataset_adopt(nb_array *x, nb_array *y, char **class_names, int num_names,
                            const char *what, nb_dataset **out);
/* A new dataset over the same samples as ds (same storage, its own copy of the row list). */
nb_dataset *nbi_dataset_ref(const nb_dataset *ds);
/* Calls fn once for every sample of ds, in order, with its row as f32 (bytes converted). */
nb_status nbi_dataset_rows(const nb_dataset *ds,
                           void (*fn)(const float *row, int64_t F, void *user), void *user);

/* ---- normalisation ---------------------------------------------------------------------- */
/* Checks that norm is well formed and has parameters for `features` features. */
nb_status nbi_norm_check(const nb_norm *norm, int64_t features, const char *what);

#endif
