/* nabla/data.h — reading data sets (IDX, CSV, NumPy .npy), writing .npy, and feeding a model
 * mini-batches: in-memory datasets, shuffling, train/validation splits, normalisation and an
 * optional background thread that prepares the next batch.
 *
 * Files are treated as hostile: every length is checked against the real size of the file
 * before it is read, every size product is overflow-checked, and a header can never make
 * nabla allocate more than the file could hold. A malformed file gives NB_ERR_FORMAT (or
 * NB_ERR_UNSUPPORTED for a valid file nabla cannot read) with a message naming the file and,
 * for text, the line and column. Every parser has a memory-buffer entry point (`*_parse`),
 * on which the file reader is built and which the fuzzers drive. */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "nabla/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- raw n-d arrays, as read from a file ------------------------------------------------- */

/* Element types of IDX and .npy files. */
typedef enum nb_elem {
    NB_ELEM_U8 = 0,
    NB_ELEM_I8,
    NB_ELEM_I16,
    NB_ELEM_I32,
    NB_ELEM_I64,
    NB_ELEM_F32,
    NB_ELEM_F64,
    NB_ELEM_COUNT
} nb_elem;

/* Bytes per element (1, 1, 2, 4, 8, 4, 8) and a short name ("u8", "f32", ...). */
size_t nb_elem_size(nb_elem e);
const char *nb_elem_name(nb_elem e);

/* A C-order array in the host's byte order. data is numel elements of `type`, allocated
 * through nabla's allocator; nb_array_free releases it. A zero-initialised nb_array is empty
 * and may be freed. */
typedef struct nb_array {
    nb_elem type;
    int rank;                     /* 0..NB_MAX_RANK */
    int64_t shape[NB_MAX_RANK];
    int64_t numel;
    void *data;
} nb_array;

void nb_array_free(nb_array *a);

/* A new contiguous tensor (in ctx, or on the heap when ctx is NULL) holding the array's
 * values converted to dt (NB_F32 or NB_I32; integers are range-checked for NB_I32). */
nb_tensor *nb_array_to_tensor(nb_ctx *ctx, const nb_array *a, nb_dtype dt);

/* ---- IDX (the MNIST family) --------------------------------------------------------------
 * Big-endian: two zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
 * 0x0E f64), the number of dimensions, each dimension as a u32, then the data. A file that
 * starts with the gzip magic is decompressed on the fly when nabla was built with zlib;
 * otherwise NB_ERR_UNSUPPORTED says how to get it. `name` names the buffer in messages. */
nb_status nb_idx_read(const char *path, nb_array *out);
nb_status nb_idx_parse(const void *buf, size_t len, const char *name, nb_array *out);

/* ---- NumPy .npy ----------------------------------------------------------------------------
 * Versions 1.0, 2.0 and 3.0 headers; u1, i1, i2, i4, i8, f4, f8 and b1 (read as u8), little-
 * or big-endian, in C order. Fortran order (when two dimensions exceed 1) and other dtypes
 * give NB_ERR_UNSUPPORTED. Writes are atomic (temporary file, fsync, rename) and
 * byte-identical to what numpy.save writes for the same array. */
nb_status nb_npy_read(const char *path, nb_array *out);
nb_status nb_npy_parse(const void *buf, size_t len, const char *name, nb_array *out);
nb_status nb_npy_write(const char *path, const nb_array *a);
/* The same with the atomic writer's flags (nabla/file.h: NB_ATOMIC_NO_SYNC, _NO_CLEAN), for
 * many files in a row made durable together by one nb_sync_dir. */
nb_status nb_npy_write_flags(const char *path, const nb_array *a, unsigned flags);
/* Any tensor (f32 -> '<f4', i32 -> '<i4'; strided tensors are written in logical order). */
nb_status nb_npy_write_tensor(const char *path, const nb_tensor *t);

/* ---- CSV with a header row ------------------------------------------------------------------
 * RFC 4180: fields separated by `delimiter`, records by LF or CRLF, fields optionally in
 * double quotes (a quote inside is doubled; quoted fields may hold delimiters and newlines).
 * Blank lines and a UTF-8 byte-order mark are skipped. Every column but the label is a
 * feature and must hold numbers (decimal, optional exponent; NaN, infinity and empty cells
 * are errors). The label column holds either non-negative integers (used as they are) or
 * class names, which are mapped to 0..K-1 in sorted (byte) order, or in the order of
 * opts.classes when given. Options are zero-initialised (NULL opts is the same): a ','
 * delimiter and the last column as the label. */
typedef struct nb_csv_opts {
    char delimiter;             /* 0 means ',' */
    const char *label_name;     /* the label column by header name; NULL: by label_column */
    int label_column;           /* 1, 2, ... from the first column, -1, -2, ... from the last;
                                   0: the last (1-based, so that 0 can be the default) */
    int no_label;               /* 1: every column is a feature (inputs to predict) */
    int label_is_target;        /* 1: the label column is a number to regress (f32), not a class */
    const char *const *classes; /* optional known class names: label cells must be one of them */
    int num_classes;            /* length of classes */
} nb_csv_opts;

typedef struct nb_csv {
    int64_t rows;
    int64_t cols;         /* feature columns (the label column excluded) */
    float *x;             /* rows x cols, row-major */
    int32_t *labels;      /* rows class indices, or NULL (no label, or a target) */
    float *targets;       /* rows values when label_is_target, else NULL */
    char **col_names;     /* cols feature column names (one block: freed by nb_csv_free) */
    char *label_name;     /* the label column's name, or NULL */
    char **classes;       /* class names when the labels were names, else NULL */
    int num_classes;      /* classes' length; for integer labels, the largest + 1 */
} nb_csv;

/* opts may be NULL for the defaults. On failure *out is left empty. */
nb_status nb_csv_read(const char *path, const nb_csv_opts *opts, nb_csv *out);
nb_status nb_csv_parse(const void *buf, size_t len, const char *name, const nb_csv_opts *opts,
                       nb_csv *out);
void nb_csv_free(nb_csv *c);

/* ---- datasets ----------------------------------------------------------------------------
 * n samples of x (each of a fixed sample shape) with optional y: class labels (i32, one per
 * sample) or regression targets (f32, a fixed shape per sample). Images stay as bytes (u8)
 * in memory and become f32 only when a batch is made; every other x is stored as f32.
 * Subsets and splits share the parent's storage (reference-counted), so a split copies no
 * samples. A dataset is immutable once made: several loaders may read one at once. */
typedef struct nb_dataset nb_dataset;

/* Copies x (any nb_elem; its first dimension is n) and y (NULL, or integers of shape [n] or
 * [n, 1] -> labels, which must be >= 0; or floats of shape [n, ...] -> targets). */
nb_status nb_dataset_from_arrays(const nb_array *x, const nb_array *y, nb_dataset **out);
/* IDX images (u8 kept as bytes) and labels (NULL for none): counts must agree. */
nb_status nb_dataset_load_idx(const char *images_path, const char *labels_path,
                              nb_dataset **out);
/* .npy x and y (y_path may be NULL). */
nb_status nb_dataset_load_npy(const char *x_path, const char *y_path, nb_dataset **out);
/* A CSV file (opts as for nb_csv_read); class names are kept with the dataset. */
nb_status nb_dataset_load_csv(const char *path, const nb_csv_opts *opts, nb_dataset **out);
nb_status nb_dataset_from_csv(const nb_csv *csv, nb_dataset **out);
void nb_dataset_free(nb_dataset *ds);

typedef struct nb_dataset_info {
    int64_t n;                               /* samples */
    int sample_rank;                         /* shape of one x sample */
    int64_t sample_shape[NB_MAX_RANK - 1];
    int64_t features;                        /* product of sample_shape */
    nb_elem x_type;                          /* as stored: NB_ELEM_U8 or NB_ELEM_F32 */
    int has_y;
    nb_dtype y_dtype;                        /* NB_I32 labels or NB_F32 targets */
    int y_rank;                              /* shape of one y sample (0 for labels) */
    int64_t y_shape[NB_MAX_RANK - 1];
    int64_t y_dim;                           /* product of y_shape */
    int num_classes;                         /* labels: largest + 1 or the names' count */
} nb_dataset_info;

void nb_dataset_get_info(const nb_dataset *ds, nb_dataset_info *info);
int64_t nb_dataset_len(const nb_dataset *ds);
/* The name of class k when the labels came from names (CSV), else NULL. */
const char *nb_dataset_class_name(const nb_dataset *ds, int k);

/* A dataset of the samples idx[0..n) of ds (positions in ds, in that order), sharing its
 * storage. */
nb_status nb_dataset_subset(const nb_dataset *ds, const int64_t *idx, int64_t n,
                            nb_dataset **out);
/* Splits ds at random into train and validation parts: round(val_fraction * n) samples go
 * to *val, the rest to *train, each kept in the original order. The partition depends only
 * on seed and n. val_fraction 0 gives *val = NULL and *train = all of ds. */
nb_status nb_dataset_split(const nb_dataset *ds, double val_fraction, uint64_t seed,
                           nb_dataset **train, nb_dataset **val);

/* ---- normalisation ------------------------------------------------------------------------
 * x' = (x - shift) / div, with one (shift, div) for every feature (per_feature) or one for
 * all. The parameters are plain arrays so that a model file can store them with the model
 * and apply them again at prediction time. */
typedef enum nb_norm_kind {
    NB_NORM_NONE = 0,
    NB_NORM_CONST,    /* given shift and divisor, e.g. (0, 255) to map bytes to [0, 1] */
    NB_NORM_STANDARD, /* shift = mean, div = standard deviation (population, ddof 0) */
    NB_NORM_MINMAX    /* shift = min, div = max - min: values in [0, 1] */
} nb_norm_kind;

typedef struct nb_norm {
    nb_norm_kind kind;
    int per_feature;  /* 1: n == features; 0: n == 1 */
    int64_t n;
    float *shift;     /* n values (nabla's allocator) */
    float *div;       /* n values, each finite and non-zero */
} nb_norm;

/* Computes STANDARD or MINMAX parameters from the samples of ds (in double precision). A
 * feature with zero spread gets div = 1, so it maps to 0 rather than to NaN. */
nb_status nb_norm_fit(nb_norm *norm, const nb_dataset *ds, nb_norm_kind kind, int per_feature);
/* A global constant normalisation x' = (x - shift) / div. */
nb_status nb_norm_const(nb_norm *norm, float shift, float div);
/* Parameters from elsewhere (a model file): copies n values of shift and div. */
nb_status nb_norm_set(nb_norm *norm, nb_norm_kind kind, int per_feature, int64_t n,
                      const float *shift, const float *div);
/* Normalises rows x features values in place. */
nb_status nb_norm_apply(const nb_norm *norm, float *x, int64_t rows, int64_t features);
void nb_norm_free(nb_norm *norm);

/* Copies samples idx[0..n) of ds into x (n x features f32, normalised when norm != NULL) and,
 * when y != NULL and ds has y, y (n int32 labels or n x y_dim floats). */
nb_status nb_dataset_gather(const nb_dataset *ds, const int64_t *idx, int64_t n,
                            const nb_norm *norm, float *x, void *y);

/* ---- mini-batches ---------------------------------------------------------------------- */
typedef struct nb_loader_opts {
    int64_t batch_size;  /* > 0 */
    int shuffle;         /* 1: a fresh permutation each epoch, drawn from nb_loader_epoch's rng */
    int drop_last;       /* 1: skip a final batch smaller than batch_size */
    int flatten;         /* 1: x is [b, features]; 0: [b, sample shape...] */
    int prefetch;        /* 1: build the next batch on a background thread */
    const nb_norm *norm; /* copied at creation; NULL: values as stored */
    /* Sharding, for data-parallel runs: with shards = N > 1, a batch of the epoch's order is
     * N * batch_size samples (the global batch) and this loader yields part `shard` (0-based)
     * of each: samples [L·shard/N, L·(shard+1)/N) of a global batch of L. Every shard draws
     * the same order from the same rng state, so N loaders see between them exactly the
     * batches of one loader with batch size N * batch_size. A final global batch with fewer
     * than N samples (one shard would get none) is left out. 0 or 1: no sharding. */
    int shards, shard;
} nb_loader_opts;

typedef struct nb_batch {
    nb_tensor *x;   /* [b, ...] f32 */
    nb_tensor *y;   /* [b] i32 labels or [b, ...] f32 targets; NULL without y */
    int64_t size;   /* b; 0 at the end of the epoch */
    int64_t index;  /* the batch's number within the epoch */
    int64_t global; /* samples of the batch over all shards (size unless sharded) */
} nb_batch;

typedef struct nb_loader nb_loader;

/* The loader keeps its own reference to the dataset's storage (ds may be freed first). */
nb_status nb_loader_new(const nb_dataset *ds, const nb_loader_opts *opts, nb_loader **out);
/* Stops and joins the prefetch thread; no-op on NULL. */
void nb_loader_free(nb_loader *ld);
/* Batches per epoch (the last partial one counted unless drop_last). */
int64_t nb_loader_num_batches(const nb_loader *ld);
/* Starts an epoch. With shuffle, the order is a permutation of the samples drawn from rng
 * (which may be NULL without shuffle); it depends only on rng's state, not on earlier
 * epochs, so a run resumed from a saved rng state sees the same batches. */
nb_status nb_loader_epoch(nb_loader *ld, nb_rng *rng);
/* The next batch of the epoch, b->size == 0 once it is over. With ctx, b->x and b->y are new
 * tensors in ctx (gone at nb_ctx_reset); with ctx NULL they belong to the loader and stay
 * valid until the next call on the loader. Neither allocates from the heap once running (the
 * arena keeps its chunks across resets). A loader is used from one thread. */
nb_status nb_loader_next(nb_loader *ld, nb_ctx *ctx, nb_batch *b);
/* The same into the caller's contiguous tensors: x f32 with batch_size * features elements
 * (any shape), y i32 / f32 with batch_size * y_dim (or NULL). *size gets the number of
 * samples written (0 at the end of the epoch). */
nb_status nb_loader_next_into(nb_loader *ld, nb_tensor *x, nb_tensor *y, int64_t *size);

#ifdef __cplusplus
}
#endif
#endif
