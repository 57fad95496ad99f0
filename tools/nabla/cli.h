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

#define CLI_MAX_OPTS 32
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

/* A model from a model file, or (spec_path given) from a spec plus the file's weights. info
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
 * whose label column is label_col (name or index; NULL: the last column). */
int cli_load_dataset(const cli_args *a, const char *path, const char *labels_path,
                     const char *format, const char *label_col, nb_dataset **out);

/* CLI_OK when the model has one f32 input of a fixed size and one output (what the commands
 * run), else the failure, said. */
int cli_check_plain(const cli_args *a, const nb_model *m);

/* The per-sample size of the model's input. */
int64_t cli_model_features(const nb_model *m);

/* ---- safety: the memory limit and text from files (memory.c, escape.c) ---------------------- */

/* Installs the memory-limited allocator: --max-memory SIZE, else NABLA_MAX_MEMORY, else the
 * machine's physical memory; 0 or "none" for no limit. Call before any other nabla call. */
int cli_memory_setup(const cli_args *a);
/* "" or, after the limit refused an allocation, a note saying so (for error messages). */
const char *cli_memory_note(char *buf, size_t n);
/* Allocation counted against the limit (nb_malloc); cli_free(NULL) is a no-op. */
void *cli_malloc(size_t n);
void cli_free(void *p);

/* text with control characters, bidirectional overrides and invalid UTF-8 shown as \xNN or
 * \u{NNNN}, at most max_in bytes of it (then "..."), into out (cap bytes); returns the
 * length written. */
size_t cli_escape(char *out, size_t cap, const char *text, size_t max_in);
/* All of text, escaped so, to f; the _lines form keeps its line breaks. */
void cli_put_escaped(FILE *f, const char *text);
void cli_put_escaped_lines(FILE *f, const char *text);

/* Checks every output path an option names (and that no two name the same file) before the
 * work starts: CLI_OK or the failure printed. names: the options, NULL-terminated; paths:
 * their values (NULL: not given). */
int cli_check_outputs(const cli_args *a, const char *const *names, const char *const *paths);

/* The commands. */
extern const cli_cmd cli_cmd_train, cli_cmd_eval, cli_cmd_predict, cli_cmd_info, cli_cmd_export;
extern const cli_cmd cli_cmd_tokenize;

#endif
