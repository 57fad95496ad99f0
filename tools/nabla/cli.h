/* tools/nabla/cli.h — what the commands of the `nabla` tool share: option tables and their
 * parser, error reporting, loading a model (from a model file, or weights plus a spec) and
 * reading input files into rows of features.
 *
 * A command returns its exit status: 0 success, 1 a failure (a file, a format, the
 * library's message), 2 a usage error. Every failure prints exactly one line on stderr,
 * "nabla <cmd>: <what went wrong>"; main() is the only place that ends the process. */
#ifndef NABLA_CLI_H
#define NABLA_CLI_H

#include "nabla.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_HELP = 3 /* --help was printed */ };

#define CLI_MAX_OPTS 56
#define CLI_MAX_POS 256

typedef struct cli_args cli_args;

typedef struct cli_opt {
    const char *name; /* "epochs" for --epochs */
    const char *arg;  /* "N" when it takes a value; NULL for a flag */
    const char *help;
} cli_opt;

typedef struct cli_cmd {
    const char *name;
    const char *usage;       /* after "nabla <name> " */
    const char *summary;     /* one line, for nabla --help */
    const char *description; /* paragraphs for nabla <name> --help */
    const cli_opt *opts;
    int n_opts;
    int min_pos, max_pos; /* positional arguments */
    int (*run)(cli_args *a);
    const char *short_opts; /* one-letter aliases, "o=output,x=other": -o is --output */
} cli_cmd;

struct cli_args {
    const cli_cmd *cmd;
    const char *val[CLI_MAX_OPTS]; /* the value of option i, or "" for a set flag; NULL unset */
    const char *pos[CLI_MAX_POS];
    int n_pos;
};

/* Parses argv (after the command name). CLI_HELP when --help was asked for and printed. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *a);
void cli_print_help(const cli_cmd *cmd, FILE *f);

/* The option's value (NULL when not given) and whether a flag is set. */
const char *cli_get(const cli_args *a, const char *name);
bool cli_flag(const cli_args *a, const char *name);
/* Numeric options: CLI_OK (the default kept when absent) or CLI_USAGE with the message. */
int cli_int(const cli_args *a, const char *name, int64_t lo, int64_t hi, int64_t *out);
int cli_double(const cli_args *a, const char *name, double lo, double hi, double *out);

/* "nabla <cmd>: <message>" on stderr, on one line; returns code. */
int cli_error(const cli_args *a, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The library's last error as a one-line failure (CLI_FAIL). */
int cli_lib_error(const cli_args *a);

/* Applies --threads N when given. */
int cli_threads(const cli_args *a);

/* A model from a model file (an ONNX file too: nb_is_onnx_file), or (spec_path given) from a
 * spec plus the file's weights. info
 * is filled either way (from the file, or holding the spec); release with
 * nb_model_file_free. */
int cli_load_model(const cli_args *a, const char *path, const char *spec_path, nb_model **m,
                   nb_model_file *info);

/* An input file as rows of features (n x features f32, malloc'd), from CSV, .npy or IDX
 * (by --format, else the file's name: .csv, .npy, anything else IDX). label_col: for CSV, the
 * column to leave out (its labels go to *labels, malloc'd, when labels is not NULL); NULL:
 * every column is a feature. For IDX/.npy, labels_path (may be NULL) is a separate file of
 * labels. */
typedef struct cli_rows {
    int64_t n, features;
    float *x;
    int32_t *labels; /* NULL when none were read */
    int num_classes;
} cli_rows;
int cli_read_rows(const cli_args *a, const char *path, const char *format, const char *label_col,
                  const char *labels_path, cli_rows *out);
void cli_rows_free(cli_rows *r);

/* A dataset from a file: IDX images (+ an IDX labels file), .npy x (+ .npy y), or a CSV file
 * (or standard input, "-") whose label column is label_col (name or index; NULL: the last
 * column), class names numbered as model m numbers them when it has names (m may be NULL). */
int cli_load_dataset(const cli_args *a, const char *path, const char *labels_path,
                     const char *format, const char *label_col, const nb_model *m,
                     nb_dataset **out);

/* A float model or an int8 one (nabla quantize): what eval and predict run. */
typedef struct cli_model {
    nb_model *m;  /* a float model, or NULL */
    nb_qmodel *q; /* an int8 model, or NULL */
} cli_model;
/* An int8 model file (told by its metadata) through nb_qmodel_load, anything else through
 * cli_load_model; info as there. CLI_OK or the failure printed. */
int cli_load_any(const cli_args *a, const char *path, const char *spec_path, cli_model *cm,
                 nb_model_file *info);
void cli_model_free(cli_model *cm);
int cli_any_input_shape(const cli_model *cm, int64_t *shape);
int cli_any_output_shape(const cli_model *cm, int64_t *shape);
nb_activation cli_any_output_activation(const cli_model *cm);
int cli_any_class_count(const cli_model *cm);
const char *cli_any_class_name(const cli_model *cm, int i);
nb_tensor *cli_any_infer(const cli_model *cm, nb_ctx *ctx, nb_tensor *x);
nb_status cli_any_evaluate(const cli_model *cm, const nb_dataset *ds, const nb_eval_opts *eo,
                           nb_metrics *mt);

/* CLI_OK when the model has one f32 input of a fixed size and one output (what the commands
 * run), else the failure, said. */
int cli_check_plain(const cli_args *a, const nb_model *m);

/* The per-sample size of the model's input. */
int64_t cli_model_features(const nb_model *m);

/* ---- tables (table.c) ------------------------------------------------------------------------ */

/* Standard input, all of it, in memory counted against the limit (cli_free releases it). */
int cli_read_stdin(const cli_args *a, unsigned char **buf, size_t *len);
/* A whole file, or standard input for "-" (cli_free releases it). */
int cli_input_read(const cli_args *a, const char *path, unsigned char **buf, size_t *len);
/* Whether a path names CSV by itself: "-" (standard input), *.csv, *.tsv. */
bool cli_is_csv_name(const char *path);
/* "(standard input)" for "-", else the path. */
const char *cli_input_name(const char *path);

/* "a,b,c" split into items (pointing into text). */
typedef struct cli_list {
    char *text;
    const char **item;
    int n;
} cli_list;
int cli_list_split(const cli_args *a, const char *s, cli_list *l); /* s NULL: empty */
void cli_list_free(cli_list *l);
/* The label option into o: an integer is a column index from 0 (negative from the end), else
 * a name; labels (when it has several items) are several target columns. */
void cli_label_opts(const char *label, const cli_list *labels, nb_csv_opts *o);

/* What the spec's data line and the command line say about a training table. */
typedef struct cli_table_opts {
    const char *label; /* a name, an index or names separated by commas; NULL: the last */
    nb_task task;      /* AUTO: from the loss, else from the label column */
    const char *loss;  /* the spec's loss, or NULL */
    nb_csv_header header;
    char delimiter; /* 0: detected */
    nb_missing missing;
    const char *categorical; /* names separated by commas, or NULL */
} cli_table_opts;

/* A training table, read for its task. */
typedef struct cli_table {
    nb_csv csv;
    nb_task task;     /* decided: never AUTO */
    const char *name; /* for messages */
    cli_list labels, cats;
    char note[200]; /* how the task was inferred, when it was ("" otherwise) */
} cli_table;
int cli_table_read(const cli_args *a, const char *path, const cli_table_opts *o, cli_table *t);
void cli_table_free(cli_table *t);

/* A later table read as a model trained on a table expects it: by column name when the file
 * has a header (and the model's columns are named), else by position, the label column(s)
 * last; with_labels: its label column(s) (--label overrides), class names mapped through the
 * model's. */
typedef struct cli_table_for {
    const nb_tabular *tab;
    const char *label;
    int with_labels;
    nb_csv_header header;
    char delimiter;
    const char *const *classes; /* the model's class names, or NULL */
    int num_classes;
} cli_table_for;
int cli_table_read_for(const cli_args *a, const char *path, const cli_table_for *f, nb_csv *out);

/* ---- metrics, as commands report them (report.c) --------------------------------------------- */

typedef struct cli_metric {
    const char *name;
    double value;
    int ratio; /* printed %.4f (else %.6g) */
} cli_metric;
/* The metrics to measure for a loss: accuracy, F1 and ROC-AUC for classifiers; R², RMSE, MAE
 * and MSE for regressions. */
unsigned cli_report_metrics(nb_loss_kind loss);
/* The measured values (NaN ones left out), in a fixed order; the count. */
int cli_report_values(const nb_metric_values *v, nb_loss_kind loss, int top_k, cli_metric *out,
                      int max);
/* "samples N", then "name value" per metric, one a line (the loss with its function). */
void cli_report_lines(FILE *f, const nb_metric_values *v, nb_loss_kind loss, int top_k);
/* prefix "N samples, loss x, accuracy y, ..." on one line. */
void cli_report_line(FILE *f, const char *prefix, const nb_metric_values *v, nb_loss_kind loss,
                     int top_k);
/* One JSON object. */
void cli_report_json(FILE *f, const nb_metric_values *v, nb_loss_kind loss, int top_k,
                     const char *task);

/* ---- the training data of a run (data.c) ------------------------------------------------------
 */

typedef struct cli_data_opts {
    const char *train, *train_labels, *val, *val_labels, *test, *test_labels;
    const char *format;
    cli_table_opts table; /* for CSV data */
    const char *features; /* format "audio": the feature pipeline's text (NULL: defaults) */
    int frames_first;     /* format "audio": samples as frames [T, F] (a sequence model) */
    const char *store;    /* format "audio": "f32", "f16", or NULL / "" / "auto": f32 when
                             it fits in half the memory, else f16 (the bytes store, whose
                             dequantisation a model's normalisation would have to absorb, is
                             not offered) */
} cli_data_opts;

enum { CLI_PART_TRAIN = 0, CLI_PART_VAL, CLI_PART_TEST };

typedef struct cli_data {
    cli_data_opts o;
    int is_table;
    cli_table table;                  /* a table: the training file */
    nb_dataset *file;                 /* otherwise: the training file's samples */
    nb_dataset *val_file, *test_file; /* separate files (tables: read by cli_data_make) */
    char *idx_test, *idx_test_labels; /* an IDX folder's t10k files */
    nb_tabular tab;                   /* tables: fitted by cli_data_fit */
    int has_tab;
    nb_task task;
    int64_t n;                      /* samples (rows) of the training file */
    int32_t *labels;                /* their class labels (to stratify), or NULL */
    unsigned char *part;            /* per sample: CLI_PART_* */
    nb_dataset *train, *val, *test; /* the parts, made by cli_data_make */
    int64_t features;               /* a sample's width once encoded */
} cli_data;

/* Reads the training file (and, for IDX/.npy data, the val and test files); decides the task. */
int cli_data_load(const cli_args *a, const cli_data_opts *o, cli_data *d);
/* Assigns the parts: the test_split and val_split fractions held out (stratified by class for
 * classification), with the seed. A separate val file replaces val_split. */
int cli_data_split(const cli_args *a, cli_data *d, double test_split, double val_split,
                   uint64_t seed);
/* Fold k of `folds` as the test part, the rest training (val_split held out of it). */
int cli_data_fold(const cli_args *a, cli_data *d, int folds, int k, double val_split,
                  uint64_t seed);
/* Fits the table's description on the training part (fills, targets' standardisation). */
int cli_data_fit(const cli_args *a, cli_data *d, nb_missing missing, int standardize_targets);
/* The datasets of the parts (and of separate val/test files), labels turned into 0/1 targets
 * with NB_TABULAR_LABELS_AS_TARGETS. Earlier parts are released first. */
int cli_data_make(const cli_args *a, cli_data *d, unsigned flags);
void cli_data_free(cli_data *d);

/* The IDX files of a folder with the standard names (<which>-images-idx3-ubyte[.gz] and
 * <which>-labels-idx1-ubyte[.gz], which "train" or "t10k"): CLI_OK with both found (malloc'd),
 * CLI_FAIL (said) when path is a folder without them, and *images NULL when path is no folder. */
int cli_idx_folder(const cli_args *a, const char *path, const char *which, char **images,
                   char **labels);

/* The loss a run trains with: the spec's, checked against the task, else the task's
 * (classification: cross_entropy, or bce_with_logits for a model with one output;
 * regression: mse; multilabel: bce_with_logits). */
int cli_decide_loss(const cli_args *a, const nb_spec *spec, nb_task task, int64_t outputs,
                    nb_loss_kind *loss);

/* ---- train and cv (spec_opts.c) ---------------------------------------------------------------
 */

/* The command line's options over the spec's settings, written into the spec (training lines
 * and data line), so that the model file's stored spec says what the run did. Options a
 * command does not have are skipped. */
int cli_spec_options(cli_args *a, nb_spec *s);
/* "tab", "comma", "semicolon", "pipe" or one character. */
int cli_delimiter(const cli_args *a, const char *v, char *out);
/* The data options of a spec, for cli_data_load. */
void cli_spec_data_opts(const nb_spec *s, cli_data_opts *o);
/* Balanced class weights, n / (k n_c), from the training part's labels (k classes). */
int cli_class_weights(const cli_args *a, const nb_dataset *train, int k, float **out);
/* The spec's normalisation, fitted on the training part (zeroed: none). */
int cli_fit_norm(const cli_args *a, const nb_spec *s, const nb_dataset *train, nb_norm *norm);

/* ---- data-parallel training (train_dist.c) ---------------------------------------------------
 * `nabla train` as one of several processes (mpirun, srun): in a build with MPI (make MPI=1)
 * the processes train one model data-parallel (nabla/dist.h); process 0 alone prints, writes
 * logs, plots, checkpoints and the model. A build without MPI refuses to run as one of
 * several processes (each would train alone and write the same files) and refuses the
 * distributed options. */
typedef struct cli_dist {
    int rank, size;
    void *d;   /* nb_dist * (MPI builds) */
    void *ddp; /* nb_ddp * */
} cli_dist;
/* Starts the process group when running under an MPI launcher or with --dist-info. */
int cli_dist_start(const cli_args *a, cli_dist *cd);
/* --dist-info: the processes, the bucket plan of the model, measured all-reduce times (on
 * standard output, from process 0). */
int cli_dist_info(const cli_args *a, cli_dist *cd, nb_model *m, nb_optim *opt);
/* Wraps the model for data-parallel training (a no-op for one process). CLI_FAIL leaves the
 * library's message unprinted, for cli_dist_reports to decide. */
int cli_dist_wrap(const cli_args *a, cli_dist *cd, nb_model *m, nb_optim *opt);
/* nb_fit, data parallel when wrapped. */
nb_status cli_dist_fit(cli_dist *cd, nb_model *m, nb_optim *opt, const nb_dataset *train,
                       const nb_fit_opts *fo);
/* Whether this process reports a failure: process 0 always; the others only for a failure of
 * their own (not one that every process shares, nor another process's, echoed). */
int cli_dist_reports(const cli_dist *cd, nb_status s);
/* Ends the group: finalises MPI, or, when an operation timed out, ends every process of the
 * job (MPI_Abort with rc), since none can finish in step with the others. Returns rc. */
int cli_dist_end(cli_dist *cd, int rc);

/* ---- safety: the memory limit and text from files (memory.c, escape.c) ---------------------- */

/* Installs the memory-limited allocator: --max-memory SIZE, else NABLA_MAX_MEMORY, else the
 * machine's physical memory; 0 or "none" for no limit. Call before any other nabla call. */
int cli_memory_setup(const cli_args *a);
/* "" or, after the limit refused an allocation, a note saying so (for error messages). */
const char *cli_memory_note(char *buf, size_t n);
/* Audio (audio_cli.c): a manifest's clips featurised by the pipeline in `features` (the text
 * form of nb_features; NULL: the defaults) into a dataset [1, n_feat, n_frames], or
 * [n_frames, n_feat] with frames_first (a model whose input has rank 2); a WAV file or
 * a manifest into rows of `features` values each (a manifest's labels kept); eval's report
 * on a manifest: accuracy per group and, when svg_path is set, the confusion matrix as SVG. */
int cli_load_audio(const cli_args *a, const char *manifest, const char *features, const char *store,
                   int frames_first,
                   nb_dataset **out);
bool cli_is_wav(const char *path);
int cli_frames_first(const nb_model *m); /* its input has rank 2: frames [T, F] */
int cli_audio_rows(const cli_args *a, const char *path, const char *features_text, int64_t features,
                   int frames_first, cli_rows *out);
void cli_audio_print_pipeline(const char *features_text); /* for nabla info */
int cli_audio_report(const cli_args *a, const nb_model *m, const char *manifest,
                     const nb_dataset *ds, const nb_norm *norm, const char *svg_path);

/* Allocation counted against the limit (nb_malloc); cli_free(NULL) is a no-op. */
void *cli_malloc(size_t n);
void cli_free(void *p);

/* text with control characters, bidirectional overrides and invalid UTF-8 shown as \xNN or
 * \u{NNNN}, at most max_in bytes of it (then "..."), into out (cap bytes); returns the
 * length written. */
size_t cli_escape(char *out, size_t cap, const char *text, size_t max_in);
/* text is valid UTF-8 (what a model file's JSON header can keep). */
bool cli_utf8_valid(const char *text);
/* All of text, escaped so, to f; the _lines form keeps its line breaks. */
void cli_put_escaped(FILE *f, const char *text);
void cli_put_escaped_lines(FILE *f, const char *text);

/* Checks every output path an option names (and that no two name the same file) before the
 * work starts: CLI_OK or the failure printed. names: the options, NULL-terminated; paths:
 * their values (NULL: not given). */
int cli_check_outputs(const cli_args *a, const char *const *names, const char *const *paths);

/* ---- language models (lm.c) ----------------------------------------------------------------- */

/* `nabla train` of a spec whose data is text= (or --data): steps of next-token prediction on
 * random windows, the model saved to out with its tokenizer; prints val_loss, bpc and
 * tokens_per_s on standard output. */
int cli_lm_train(cli_args *a, nb_spec *spec, const char *out, bool quiet);
/* `nabla eval` of a model with a tokenizer: val_loss and bpc on the held-out part of --data
 * (or, with --use-stored-data, of the text its spec names). */
int cli_lm_eval(cli_args *a, nb_model *m, const nb_model_file *info);
/* CLI_OK when m is a language model for tok (an input of ids [T], logits [T, V] out with V at
 * least tok's vocabulary); *T its context. Otherwise the failure, said. */
int cli_lm_shape(const cli_args *a, const nb_model *m, const nb_tokenizer *tok, int64_t *T);

/* The commands. */
extern const cli_cmd cli_cmd_train, cli_cmd_eval, cli_cmd_predict, cli_cmd_info, cli_cmd_export;
extern const cli_cmd cli_cmd_tokenize, cli_cmd_cv, cli_cmd_quantize, cli_cmd_generate;

#endif
