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

/* ---- a set of names (names.c) -----------------------------------------------------------
 * Byte strings numbered 0, 1, ... in the order they were first added (copied; expected O(1)
 * lookups): a label column's class names, a text column's categories. */
typedef struct nbi_names {
    char **name; /* by id, NUL-terminated copies */
    size_t *len;
    int count, cap;
    int32_t *slot; /* hash table of ids, -1 empty */
    size_t nslots;
} nbi_names;

void nbi_names_free(nbi_names *nm);
/* The id of s[0..n), or -1. */
int nbi_names_find(const nbi_names *nm, const char *s, size_t n);
/* The id of s[0..n), adding it when new; -1 when out of memory. */
int nbi_names_add(nbi_names *nm, const char *s, size_t n);
/* order[0..count) gets the ids sorted by their strings' bytes. */
nb_status nbi_names_sorted(const nbi_names *nm, int *order);

/* ---- CSV text (csv_tok.c) -----------------------------------------------------------------
 * The field tokenizer the CSV reader is built on: RFC 4180 fields (quoted ones with doubled
 * quotes, delimiters and newlines inside), LF, CRLF or CR records, blank lines skipped; the
 * physical line of every field is tracked for messages. */
typedef struct nbi_csv_tok {
    const char *s;
    size_t n, i;
    char delim;
    int64_t line; /* physical line at position i (1-based) */
    /* the field just read */
    const char *f;
    size_t flen;
    bool quoted;
    int64_t fline; /* the line it started on */
    char *scratch; /* unescaped text of quoted fields with doubled quotes */
    size_t scap;
    const char *name;
} nbi_csv_tok;

/* Skips blank lines; false at the end of the data. */
bool nbi_csv_next_record(nbi_csv_tok *t);
/* Reads one field (column col, for messages); *eor is set when it ends its record. */
nb_status nbi_csv_next_field(nbi_csv_tok *t, int64_t col, bool *eor);
/* The delimiter of text whose first record (after a byte-order mark and blank lines) has the
 * most of ',', ';', tab and '|' outside quotes; ',' on a tie or when it has none. */
char nbi_csv_sniff_delimiter(const char *s, size_t n);
/* Whether s[0..n) (blanks around it allowed) marks a missing value: nothing, NA, N/A, NaN,
 * null (in any case) or ?. */
bool nbi_csv_is_missing(const char *s, size_t n);
/* Text from a file, shortened to fit cap (with "...") and with every byte outside printable
 * ASCII shown as '?': files reach messages only as short, harmless excerpts. */
const char *nbi_csv_excerpt(const char *s, size_t n, char *buf, size_t cap);

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

/* ---- tables ------------------------------------------------------------------------------ */
/* Checks a table description from elsewhere (a model file): a known task, columns with names
 * (unique when named) and unique categories, the features their sum, target names, a target
 * normalisation of the targets' size. NB_ERR_FORMAT naming `what`. */
nb_status nbi_tabular_check(const nb_tabular *t, const char *what);

/* ---- normalisation ---------------------------------------------------------------------- */
/* Checks that norm is well formed and has parameters for `features` features. */
nb_status nbi_norm_check(const nb_norm *norm, int64_t features, const char *what);

#endif
