/* nabla/io.h — the spec format (a model and its training recipe as text), model files in
 * safetensors format with their metadata (architecture, normalisation, training state), and
 * the PyTorch interop that comes with them.
 *
 *     nb_spec *spec;
 *     nb_spec_read("mlp.spec", &spec);              // errors say file:line:column
 *     nb_model *m;
 *     nb_spec_build(spec, &m);                      // the layers, initialised from spec->seed
 *     ... train ...
 *     nb_model_save(m, "mlp.safetensors", &(nb_save_opts){.spec = spec, .norm = &norm});
 *     nb_model *back;
 *     nb_model_load("mlp.safetensors", &back, NULL); // the file says what to build
 *
 * Files are treated as hostile: every length and offset of a safetensors file is checked
 * against its real size before anything is read, sizes are overflow-checked, and nothing is
 * allocated that the file could not hold. A malformed file gives NB_ERR_FORMAT with a message
 * naming the file and what is wrong. Saves are atomic (temporary file, fsync, rename): a crash
 * mid-save leaves the previous file intact. docs/spec.md and docs/model-files.md describe
 * both formats in full. */
#ifndef NABLA_IO_H
#define NABLA_IO_H

#include "nabla/data.h"
#include "nabla/optim.h"
#include "nabla/text.h"
#include "nabla/train_state.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the spec format ---------------------------------------------------------------------
 * Line-oriented text, first line "nabla-spec 1" (a chain of layers) or "nabla-spec 2" (a graph:
 * several inputs, in= to name a line's inputs, add, concat, split, reuse, output); one layer
 * per line, then the loss, the optimizer, the schedule, batch size, epochs, seed and data
 * defaults, and gradient clipping ("clip norm=1"). '#' starts a comment.
 *
 *     nabla-spec 1
 *     input 784
 *     dense 256 relu init=kaiming_uniform
 *     dense 10
 *     loss cross_entropy
 *     optimizer adam lr=1e-3
 *     batch 64
 *     epochs 10
 *     data train=train-images-idx3-ubyte.gz train_labels=train-labels-idx1-ubyte.gz
 *          val_split=0.1 normalize=scale:255      (one line in a real file)
 *
 * Fields not given in the text keep the defaults below, and a has_* flag says whether the
 * text set them (a canonical text names only those). */
#define NB_SPEC_VERSION 2 /* the newest version this nabla reads; it reads 1 too */

/* Where the data comes from and how it is prepared (the "data" line). Paths are NULL when not
 * given; relative paths are resolved against the directory of the spec file (nb_spec_read)
 * or the base_dir given to nb_spec_parse. */
typedef struct nb_data_spec {
    char *train, *train_labels; /* IDX images + labels, .npy x + y, or one CSV file */
    char *val, *val_labels;     /* an explicit validation set (else val_split of train) */
    char *test, *test_labels;
    char format[8]; /* "idx", "npy", "csv", "audio", or "" to tell by the file name */
    char *label;    /* CSV: the label column's name or (signed) index, or several names
                       separated by commas (targets); NULL: the last column */
    int has_val_split;
    double val_split; /* fraction of train held out for validation; default 0 */
    int has_norm;
    nb_norm_kind norm;          /* default NB_NORM_NONE */
    int norm_per_feature;       /* standard / minmax: one (shift, div) per feature (the
                                   default); 0: one for all (standard:global) */
    float norm_shift, norm_div; /* NB_NORM_CONST: x' = (x - shift) / div */
    /* tables (CSV) */
    int has_task;
    nb_task task; /* default: from the loss, else from the label column */
    int has_test_split;
    double test_split;    /* fraction of train held out as the test set; default 0 */
    nb_csv_header header; /* default NB_CSV_HEADER_AUTO */
    char delimiter;       /* 0: detected */
    int has_missing;
    nb_missing missing; /* default NB_MISSING_ERROR */
    char *categorical;  /* comma-separated names of text columns to one-hot encode */
    int class_weight;   /* 1: balanced (n / (k n_c)); 0: none */
    int has_target_norm;
    int target_norm; /* regression: 1 standardise the targets (the default), 0 not */
    /* format "audio" (audio=PATH is train=PATH format=audio): the paths are manifests of WAV
     * clips (nabla/audio.h), featurised by this pipeline, nb_features' text form in canonical
     * order (NULL: the defaults), which the model file keeps so that prediction featurises as
     * training did. */
    char *features;
    char store[8]; /* audio: how the features are kept in memory: "f32", "f16", or "" (auto:
                      f32 when it fits in half the physical memory, else f16) */
    /* language models (docs/spec.md, docs/text.md) */
    char *text;      /* a text file or a folder of them: windows of next-token prediction */
    char *tokenizer; /* a tokenizer file (nabla tokenize); NULL: bytes */
} nb_data_spec;

/* The architecture lines of a spec: opaque, owned by the spec, read by nb_spec_build. */
typedef struct nb_spec_arch nb_spec_arch;

typedef struct nb_spec {
    int has_input;  /* 1 also for 'input auto', and when layers come without an input line */
    int input_auto; /* the input's width comes from the data: nb_spec_set_input_width */
    int in_rank;    /* the shape of one sample (of the first input; -1: known at run time) */
    int64_t in_shape[NB_MAX_RANK];
    int n_layers; /* layer lines (reuse lines included) */
    int has_loss;
    char loss[24]; /* one of nb_spec_loss_names(); "" when not given */
    int has_optim;
    nb_optim_config optim; /* default: Adam with PyTorch's defaults, lr 1e-3 */
    int has_schedule;
    nb_schedule schedule; /* its base_lr is the optimizer's lr */
    int has_clip;
    double clip_norm;  /* > 0: gradients scaled to this global L2 norm at most; 0: none */
    double clip_value; /* > 0: each gradient clamped to [-v, v]; 0: none */
    int has_batch, has_epochs, has_seed;
    int64_t batch;  /* default 32 */
    int64_t epochs; /* default 1 */
    uint64_t seed;  /* initialises the layers; default 0 */
    nb_data_spec data;
    nb_spec_arch *arch; /* the architecture, for nb_spec_build (opaque; owned by the spec) */
} nb_spec;

/* Parses a spec. `name` names the text in messages ("mlp.spec"); base_dir (may be NULL)
 * resolves relative data paths. Every line is checked, layers included (the model is built
 * once, with a check of every shape), so a spec that parses also builds. An error names
 * name:line:column and says what was expected. */
nb_status nb_spec_parse(const char *text, size_t len, const char *name, const char *base_dir,
                        nb_spec **out);
nb_status nb_spec_read(const char *path, nb_spec **out);
void nb_spec_free(nb_spec *s); /* NULL is a no-op */

/* The model of the spec's architecture lines, initialised from s->seed. Its parameters are
 * allocated once, at their final size; a model whose values and gradients would not fit in
 * the machine's memory is refused with a message saying how big it is. */
nb_status nb_spec_build(const nb_spec *s, nb_model **out);
/* Gives an 'input auto' spec its width (the data's features) and checks the architecture
 * on it, every error at its line; nb_spec_build needs it before it can build such a spec. */
nb_status nb_spec_set_input_width(nb_spec *s, int64_t features);
/* Sets the learning rate of the spec's optimizer (and the base of its schedule): what a
 * command line's --lr does. */
nb_status nb_spec_set_lr(nb_spec *s, double lr);
/* The spec's optimizer over ps, with its schedule attached when it has one. NULL on error. */
nb_optim *nb_spec_optim(const nb_spec *s, nb_params *ps);

/* Canonical text of the training lines (loss, optimizer, schedule, batch, epochs, seed,
 * data), each written only if the text set it; with nb_model_spec's architecture before it,
 * this is a complete spec. snprintf-like: writes at most n bytes, returns the full length
 * (0 and the error set when out of memory). */
size_t nb_spec_training_text(const nb_spec *s, char *buf, size_t n);

/* The loss names the "loss" line accepts: "cross_entropy", "nll", "mse", "l1" (or "mae"),
 * "bce", "bce_with_logits" (or "bce_logits"), "huber"; NULL-terminated. */
const char *const *nb_spec_loss_names(void);

/* ---- safetensors -------------------------------------------------------------------------
 * An 8-byte little-endian header length N, N bytes of JSON (an object: "__metadata__" maps
 * strings to strings; every other key is a tensor with "dtype", "shape" and "data_offsets"
 * [begin, end) into the data that follows), padded with spaces to a multiple of 8, then the
 * tensors' little-endian bytes, contiguous, in offset order, with nothing left over. */
typedef struct nb_safetensors nb_safetensors;

/* Reads and validates a whole file. */
nb_status nb_safetensors_read(const char *path, nb_safetensors **out);
/* Validates a buffer, which must outlive the result (tensors point into it). */
nb_status nb_safetensors_parse(const void *buf, size_t len, const char *name, nb_safetensors **out);
void nb_safetensors_free(nb_safetensors *st);

int nb_safetensors_count(const nb_safetensors *st);
/* The i-th tensor in the order of the header (NULL out of range). */
const char *nb_safetensors_name(const nb_safetensors *st, int i);
/* Index of the tensor with this name, -1 if none. */
int nb_safetensors_find(const nb_safetensors *st, const char *name);
/* The dtype as the file spells it ("F32", "BF16", ...), its rank and shape (shape holds
 * NB_MAX_RANK entries; NULL to skip). Returns the rank, -1 out of range. */
int nb_safetensors_shape(const nb_safetensors *st, int i, const char **dtype, int64_t *shape);
/* A copy of tensor i as an array: U8, I8, I16, I32, I64, F32, F64 as they are; F16 and BF16
 * converted to F32; BOOL as U8. Other dtypes give NB_ERR_UNSUPPORTED. */
nb_status nb_safetensors_get(const nb_safetensors *st, int i, nb_array *out);
/* Metadata: the value of a key (NULL if absent), or the i-th pair in header order. */
const char *nb_safetensors_meta(const nb_safetensors *st, const char *key);
int nb_safetensors_meta_count(const nb_safetensors *st);
const char *nb_safetensors_meta_key(const nb_safetensors *st, int i);
const char *nb_safetensors_meta_value(const nb_safetensors *st, int i);

/* Writes n arrays (names unique, non-empty) and n_meta metadata pairs (meta[2i] the key,
 * meta[2i + 1] the value), atomically. Arrays of every nb_elem type are written with the
 * matching safetensors dtype. */
nb_status nb_safetensors_write(const char *path, int n, const char *const *names,
                               const nb_array *arrays, int n_meta, const char *const *meta);

/* ---- model files -------------------------------------------------------------------------
 * A model file is a safetensors file whose tensors are the model's parameters and buffers
 * under PyTorch's names (nb_model_tensor_at: "0.weight", "2.running_mean" for a chain of
 * layers, a torch nn.Sequential; "conv2d_1.weight" for a graph, a torch module whose
 * submodules are named after the layers) in PyTorch's layout (a dense weight is stored
 * [out, in], as nn.Linear's), so torch's load_state_dict reads the file directly. The
 * metadata makes the file self-describing: "format" is "pt", "nabla.format_version" is 1 for
 * a chain and 2 for a graph, "nabla.spec" the architecture (and the training settings when
 * given), and the keys described in docs/model-files.md hold the class names, the
 * normalisation and the optional training state. A checkpoint also holds the optimizer's
 * state as tensors "optim.<slot>.<parameter name>" (load it in PyTorch with strict=False, or
 * drop the keys that start with "optim."). */
#define NB_MODEL_FORMAT_VERSION 2 /* the newest this nabla reads and writes */

typedef struct nb_save_opts {
    const nb_spec *spec;       /* training settings stored after the architecture */
    const nb_norm *norm;       /* the input normalisation */
    const nb_optim *optim;     /* settings, step count, learning rate, schedule, state */
    const nb_train_state *run; /* a checkpoint's training state (train_state.h); NULL: none */
    const char *monitor;       /* the name of the metric run->best measures ("val_loss") */
    const nb_tabular *tabular; /* how the model reads a table: its columns (names, categories,
                                  fill values), task, label columns, target normalisation */
    const char *const *meta;   /* n_meta more key/value pairs (keys not "format" nor "nabla.*";
                                  valid UTF-8) */
    int n_meta;
} nb_save_opts;

/* Saves the model (opts may be NULL: the architecture, the weights and the model's class
 * names). Atomic. Everything is checked before the file is opened: a save fails with a
 * message rather than write a file that nabla could not read back. The spec's data paths are
 * stored relative to the directory of `path` (nb_model_load resolves them against it). */
nb_status nb_model_save(const nb_model *m, const char *path, const nb_save_opts *opts);

/* What a model file holds besides the weights. */
typedef struct nb_model_file {
    int format_version;
    nb_spec *spec; /* the stored spec (architecture + training settings) */
    char *spec_text;
    nb_norm norm;    /* kind NB_NORM_NONE when none was stored */
    nb_optim *optim; /* over the loaded model's parameters, state restored; NULL
                        when the file has none. nb_model_file_free frees it unless
                        you set this to NULL to keep it. */
    int has_run;
    nb_train_state run; /* a checkpoint's training state, when has_run: checked
                           (nb_train_state_check), ready for nb_fit_opts.state */
    char *monitor;      /* NULL when none was stored */
    int has_tabular;
    nb_tabular tabular; /* when has_tabular: how the model reads a table (checked: its
                           features are the model's input width) */
} nb_model_file;

/* Loads a model file written by nb_model_save: builds the model from "nabla.spec" (allocating
 * its parameters once) and reads the tensors straight into them (the file is never held in
 * memory whole), with its class names. info may be NULL (weights only); otherwise it
 * receives the rest, to be released with nb_model_file_free; the stored spec's relative data
 * paths are resolved against the model file's directory. */
nb_status nb_model_load(const char *path, nb_model **model, nb_model_file *info);
void nb_model_file_free(nb_model_file *info);

/* Writes the model as an ONNX file (opset 17, IR version 8; docs/onnx.md), atomically: the
 * input keeps its name with a dynamic batch dimension "N", each layer's output is named as the
 * layer and each tensor keeps nabla's name. A chain of layers (nb_model_is_sequential) of the
 * kinds docs/onnx.md lists is exported; any other layer kind, or a graph model, is refused
 * with NB_ERR_UNSUPPORTED and a message naming the layer and its kind. */
nb_status nb_model_export_onnx(const nb_model *m, const char *path);

/* Reads an ONNX file (docs/onnx.md) as a model in inference mode: a chain of layers when the
 * graph is a chain (as torch.onnx.export writes an nn.Sequential), a graph model otherwise.
 * The ops docs/onnx.md lists are imported (Gemm, MatMul + Add, Conv, pooling, batch
 * normalisation, flatten, the activations, dropout); any other op is refused with
 * NB_ERR_UNSUPPORTED and a message naming the op type and the node. The file is hostile
 * input: malformed bytes, sizes that overflow or disagree with the data, dangling inputs and
 * cycles are refused with NB_ERR_FORMAT naming the file and what is wrong. info may be NULL;
 * otherwise it is zeroed (an ONNX file has no spec, normalisation or training state). */
nb_status nb_model_load_onnx(const char *path, nb_model **model, nb_model_file *info);
/* 1 when path names an ONNX file: it ends in ".onnx", or its first bytes are a ModelProto's. */
int nb_is_onnx_file(const char *path);

/* Fills an existing model's parameters from a safetensors file: each parameter is looked up
 * under its PyTorch name, then its nabla name ("dense_1.weight"), and must have PyTorch's
 * shape (F32, F64, F16 or BF16). Extra tensors in the file are ignored. This is how weights
 * written by PyTorch load into a model built from a spec. */
nb_status nb_model_load_weights(nb_model *m, const char *path);

/* The tokenizer a language model reads its text with. It is kept on the model — copied, as
 * nb_tokenizer_json's text — like its class names, so it travels through a save and a load:
 * model files store it as the metadata "nabla.tokenizer". A tokenizer with more tokens than
 * the rows of the embedding the model's token input goes through is refused (and, in a file,
 * is NB_ERR_FORMAT). t NULL removes it. */
nb_status nb_model_set_tokenizer(nb_model *m, const nb_tokenizer *t);
/* A new tokenizer read from the model's (release with nb_tokenizer_free); *out is NULL when
 * the model has none. */
nb_status nb_model_get_tokenizer(const nb_model *m, nb_tokenizer **out);
int nb_model_has_tokenizer(const nb_model *m);

/* The PyTorch name of parameter i of the model's store ("2.weight"; nb_model_tensor_at). */
nb_status nb_model_torch_name(const nb_model *m, int i, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
