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
    NB_ELEM_F16, /* IEEE binary16 ("half"): the audio dataset's f16 store, numpy's float16 */
    NB_ELEM_COUNT
} nb_elem;

/* Bytes per element (1, 1, 2, 4, 8, 4, 8, 2) and a short name ("u8", "f32", ...). */
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

/* ---- CSV ----------------------------------------------------------------------------------
 * RFC 4180: fields separated by `delimiter`, records by LF or CRLF, fields optionally in
 * double quotes (a quote inside is doubled; quoted fields may hold delimiters and newlines).
 * Blank lines and a UTF-8 byte-order mark are skipped. The first record is a header naming
 * the columns, or already data (`header`). Every column but the label is a feature and holds
 * numbers (decimal, optional exponent, read the same in any locale) — or, for the columns
 * named in `categorical`, text categories. A missing value (an empty cell, NA, N/A, NaN, null
 * in any case, or ?) is an error unless allow_missing. The label column holds either
 * non-negative integers (used as they are) or class names, which are mapped to 0..K-1 in
 * sorted (byte) order, or in the order of opts.classes when given; with label_is_target it
 * holds numbers to regress (one column or several: label_names). Options are
 * zero-initialised (NULL opts is the same): the delimiter detected, the header detected, the
 * last column as the label. */
typedef enum nb_csv_header {
    NB_CSV_HEADER_AUTO = 0, /* the first record is a header when it names a column asked for
                               (label, categorical), or holds text where the record below has
                               numbers, or holds nothing but text; otherwise it is data */
    NB_CSV_HEADER_YES,      /* the first record names the columns */
    NB_CSV_HEADER_NO,       /* every record is data; columns are named column_1, column_2, ... */
} nb_csv_header;

typedef struct nb_csv_opts {
    char delimiter;             /* 0: detected: whichever of ',' ';' tab '|' the first record
                                   has most of outside quotes (',' on a tie) */
    const char *label_name;     /* the label column by header name; NULL: by label_column */
    int label_column;           /* 1, 2, ... from the first column, -1, -2, ... from the last;
                                   0: the last (1-based, so that 0 can be the default) */
    int no_label;               /* 1: every column is a feature (inputs to predict) */
    int label_is_target;        /* 1: the label column is a number to regress (f32), not a class */
    const char *const *classes; /* optional known class names: label cells must be one of them */
    int num_classes;            /* length of classes */
    nb_csv_header header;       /* default NB_CSV_HEADER_AUTO */
    const char *const *label_names; /* several label columns by name, read as targets
                                       (label_is_target): a multi-output regression */
    int num_labels;                 /* length of label_names (0: label_name / label_column) */
    const char *const *categorical; /* feature columns of text categories, by name: their
                                       cells become category indices (see nb_csv) */
    int num_categorical;
    int allow_missing;          /* 1: a missing feature value becomes NaN in x (to be imputed,
                                   e.g. by nb_tabular_encode); 0: an error naming the cell */
    const char *const *columns; /* the feature columns to read, by name, in this order (x's
                                   columns follow it); every other column but the labels is
                                   skipped unread. A file without a header row is read whole,
                                   in its order (check cols). Without a label named (by
                                   name or position), no label is read. NULL: every column */
    int num_columns;
} nb_csv_opts;

typedef struct nb_csv {
    int64_t rows;
    int64_t cols;         /* feature columns (the label columns excluded) */
    float *x;             /* rows x cols, row-major; a categorical column holds category
                             indices; a missing value is NaN (allow_missing only) */
    int32_t *labels;      /* rows class indices, or NULL (no label, or targets) */
    float *targets;       /* rows x num_targets values when label_is_target, else NULL */
    char **col_names;     /* cols feature column names (one block: freed by nb_csv_free) */
    char *label_name;     /* the (first) label column's name, or NULL */
    char **classes;       /* class names when the labels were names, else NULL */
    int num_classes;      /* classes' length; for integer labels, the largest + 1 */
    char delimiter;       /* the delimiter, as given or detected */
    int header;           /* 1: the first record was a header; 0: names are column_1, ... */
    int num_targets;      /* target columns (label_is_target), else 0 */
    char **target_names;  /* their names (num_targets) */
    int *num_categories;  /* per feature column: its number of categories (0 for numbers);
                             NULL when no column is categorical */
    char ***categories;   /* per feature column: its categories in sorted byte order (the
                             index in x points here), NULL for numbers */
} nb_csv;

/* opts may be NULL for the defaults. On failure *out is left empty. */
nb_status nb_csv_read(const char *path, const nb_csv_opts *opts, nb_csv *out);
nb_status nb_csv_parse(const void *buf, size_t len, const char *name, const nb_csv_opts *opts,
                       nb_csv *out);
void nb_csv_free(nb_csv *c);
/* What nb_csv_parse would decide from the first record alone: the delimiter, whether the
 * record is a header (with opts' names counting as for header=auto) and how many columns it
 * has. Any output may be NULL. For a caller that must choose columns by name or by position
 * before reading: a file without a header has only positions. */
nb_status nb_csv_sniff(const void *buf, size_t len, const char *name, const nb_csv_opts *opts,
                       char *delimiter, int *header, int64_t *columns);

/* ---- datasets ----------------------------------------------------------------------------
 * n samples of x (each of a fixed sample shape) with optional y: class labels (i32, one per
 * sample) or regression targets (f32, a fixed shape per sample). Images stay as bytes (u8)
 * in memory and become f32 only when a batch is made, and so do halves (f16: the audio
 * dataset's half-float store, or a float16 .npy); every other x is stored as f32.
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
    nb_elem x_type;                          /* as stored: NB_ELEM_U8, F16 or F32 */
    int has_y;
    nb_dtype y_dtype;                        /* NB_I32 labels or NB_F32 targets */
    int y_rank;                              /* shape of one y sample (0 for labels) */
    int64_t y_shape[NB_MAX_RANK - 1];
    int64_t y_dim;                           /* product of y_shape */
    int num_classes;                         /* labels: largest + 1 or the names' count */
} nb_dataset_info;

void nb_dataset_get_info(const nb_dataset *ds, nb_dataset_info *info);
int64_t nb_dataset_len(const nb_dataset *ds);
/* Copies the class labels of ds's samples (nb_dataset_len of them) into labels;
 * NB_ERR_ARG when ds has targets or no y. */
nb_status nb_dataset_labels(const nb_dataset *ds, int32_t *labels);
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

/* Splits ds as nb_dataset_split does, but stratified by class when ds has class labels: each
 * class gives the same fraction of its samples to *val (largest remainders first, so *val
 * has exactly round(val_fraction * n) samples). Regression targets: nb_dataset_split. */
nb_status nb_dataset_split_stratified(const nb_dataset *ds, double val_fraction, uint64_t seed,
                                      nb_dataset **train, nb_dataset **val);
/* Fold k (0 <= k < folds) of a k-fold cross-validation: *test is the k-th fold, *train the
 * others, each in the original order. Every sample is in exactly one fold; folds differ in
 * size by at most one sample and, with stratify and class labels, keep each class's share.
 * The folds depend only on seed, n and the labels: calls with k = 0 .. folds-1 and the same
 * seed cover the dataset once. */
nb_status nb_dataset_fold(const nb_dataset *ds, int folds, int k, uint64_t seed, int stratify,
                          nb_dataset **train, nb_dataset **test);
/* The same as index arithmetic, for data that is not a dataset yet (labels may be NULL: no
 * strata). held[i] = 1 for the round(fraction * n) samples held out; fold[i] in [0, folds). */
nb_status nb_split_mask(int64_t n, const int32_t *labels, double fraction, uint64_t seed,
                        unsigned char *held);
nb_status nb_fold_assign(int64_t n, const int32_t *labels, int folds, uint64_t seed,
                         int32_t *fold);

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
/* The inverse, x = x' * div + shift, in place: what a model trained on normalised targets
 * outputs, back in the targets' units. */
nb_status nb_norm_invert(const nb_norm *norm, float *x, int64_t rows, int64_t features);
/* STANDARD or MINMAX parameters of the dataset's f32 targets (one pair per target value when
 * per_feature, else one), as nb_norm_fit computes them for x. */
nb_status nb_norm_fit_targets(nb_norm *norm, const nb_dataset *ds, nb_norm_kind kind,
                              int per_feature);
void nb_norm_free(nb_norm *norm);

/* ---- tables: columns in, features and targets out ----------------------------------------
 * What a model trained on a table needs in order to read another table the same way: the
 * task, the input columns by name and in order (a text column one-hot encoded over the
 * categories seen in training, a missing number replaced by a value computed on the training
 * rows), the label columns, and for a regression the standardisation of the targets. It is
 * fitted once on the training file (nb_tabular_fit), stored in the model file
 * (nb_save_opts.tabular), and applied to every later file (nb_tabular_encode,
 * nb_tabular_dataset): an unknown category or a missing value the model cannot fill is an
 * error naming the row and column, never a silent guess.
 *
 *     nb_csv c;                                      // categorical= and allow_missing as wanted
 *     nb_csv_read("train.csv", &(nb_csv_opts){.label_name = "target", .categorical = cats,
 *                 .num_categorical = 1, .allow_missing = 1}, &c);
 *     nb_tabular t;
 *     nb_tabular_fit(&t, &c, &(nb_tabular_opts){.missing = NB_MISSING_MEDIAN});
 *     nb_dataset *ds;
 *     nb_tabular_dataset(&t, &c, 0, &ds);            // x one-hot encoded and imputed
 */
typedef enum nb_task {
    NB_TASK_AUTO = 0,       /* from the data: class labels -> classification, numbers ->
                               regression */
    NB_TASK_CLASSIFICATION, /* one label column of classes */
    NB_TASK_REGRESSION,     /* one or more numeric target columns */
    NB_TASK_MULTILABEL,     /* several 0/1 columns, each a yes/no label */
} nb_task;
/* "auto", "classification", "regression", "multilabel"; NULL for an unknown value. */
const char *nb_task_name(nb_task t);
/* The task with that name; -1 if none. */
int nb_task_from_name(const char *name);

typedef enum nb_missing {
    NB_MISSING_ERROR = 0, /* a missing value is an error naming it */
    NB_MISSING_MEAN,      /* a missing number becomes the column's mean over the training rows */
    NB_MISSING_MEDIAN,    /* ... its median (numpy's: the mean of the two middle values) */
    NB_MISSING_ZERO,      /* ... zero */
} nb_missing;             /* a missing category is encoded as all zeros unless ERROR */
const char *nb_missing_name(nb_missing m); /* "error", "mean", "median", "zero" */
int nb_missing_from_name(const char *name);

typedef struct nb_tabular_column {
    char *name;
    int num_categories; /* 0: a number, one feature; k > 0: k features, one-hot */
    char **categories;  /* the categories, in the order of their features */
    float fill;         /* what a missing number becomes (unused for categories) */
} nb_tabular_column;

typedef struct nb_tabular {
    nb_task task;
    nb_missing missing;          /* how missing values were (and are) filled */
    int named;                   /* 1: the columns carry a header's names (files with a header
                                    are matched by name, in any order) */
    int64_t num_columns;
    nb_tabular_column *columns;  /* the input columns, in the model's order */
    int64_t features;            /* the width of an encoded row */
    int num_targets;             /* the label columns */
    char **targets;              /* their names */
    nb_norm target_norm;         /* regression: y' = (y - mean) / std per target in training,
                                    undone on the model's outputs; kind NONE: none */
} nb_tabular;

typedef struct nb_tabular_opts {
    nb_task task;            /* AUTO: classification for class labels, regression for targets */
    nb_missing missing;
    int standardize_targets; /* regression: fit target_norm (mean and standard deviation per
                                target, over the fitting rows) */
    const int64_t *rows;     /* fit the fill values and target_norm on these rows of the csv */
    int64_t num_rows;        /*   only (a training part); NULL: every row */
} nb_tabular_opts;

/* Fits t to a table read by nb_csv_read (with the categorical columns and missing values the
 * caller allows): columns, categories (of the whole file: a category met only outside the
 * fitting rows still gets its feature), fill values and target normalisation (of the fitting
 * rows). opts may be NULL. On failure t is left empty; nb_tabular_free releases it. */
nb_status nb_tabular_fit(nb_tabular *t, const nb_csv *c, const nb_tabular_opts *opts);
void nb_tabular_free(nb_tabular *t); /* zeroes t; NULL is a no-op */
/* A deep copy. */
nb_status nb_tabular_copy(nb_tabular *dst, const nb_tabular *src);
/* The nb_csv_opts that read a file as t expects it: its categorical columns, missing values
 * allowed when t fills them, and — when t->named and with_columns — its columns by name in
 * t's order (so a file with a header may have them in any order, with more columns besides);
 * with_labels: its label column(s) too (classification: label_name; else label_names and
 * label_is_target); without labels and columns: no_label. `names` is room for
 * 2 * num_columns pointers, which o points into; the strings belong to t. Other fields of o
 * are left as they are. */
void nb_tabular_csv_opts(const nb_tabular *t, int with_columns, int with_labels, nb_csv_opts *o,
                         const char **names);
/* The encoded rows of c: *x gets c->rows x t->features floats (nabla's allocator). c's feature
 * columns must be t's, in t's order (read with nb_tabular_csv_opts); a category t does not
 * know, or a missing value t cannot fill, is NB_ERR_FORMAT naming the row, column and value. */
nb_status nb_tabular_encode(const nb_tabular *t, const nb_csv *c, float **x);
/* The dataset of c: encoded x, and y as t's task wants it: class labels (with c's class
 * names), or f32 targets (raw: t->target_norm is for the loader). flags
 * NB_TABULAR_LABELS_AS_TARGETS turns class labels 0 and 1 into f32 targets (a binary
 * classifier trained with bce). */
enum { NB_TABULAR_LABELS_AS_TARGETS = 1 };
nb_status nb_tabular_dataset(const nb_tabular *t, const nb_csv *c, unsigned flags,
                             nb_dataset **out);
/* Feature j's name: the column's name, or "column=category" for one-hot features. */
nb_status nb_tabular_feature_name(const nb_tabular *t, int64_t j, char *buf, size_t n);

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
    const nb_norm *target_norm; /* f32 targets normalised the same way (y_dim parameters, or
                                   one); copied; NULL: targets as stored */
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
