/* io/spec.h — internals of the spec reader: one line split into tokens, and the getters a
 * line's parser uses to read its arguments, each of which reports a bad value as
 * "file:line:column: expected ..., got '...'".
 *
 * A line is its kind (the first word), positional arguments, and key=value options (a value
 * may be written in double quotes, with \" and \\ inside). Keys are matched with '-' and
 * '_' the same (val-split is val_split). A parser asks for what it knows; nbi_line_done then
 * reports whatever it did not ask for (an unknown option, naming the ones it accepts, or an
 * extra positional argument). */
#ifndef NBI_IO_SPEC_H
#define NBI_IO_SPEC_H

#include "base/base.h"
#include "nabla/io.h"
#include "nabla/nn.h"

#define NBI_LINE_MAX_TOKENS 64
#define NBI_LINE_MAX_KEYS 24

typedef struct nbi_tok {
    const char *s; /* NUL-terminated, unescaped (in the line's scratch buffer) */
    int col;       /* 1-based byte column in the line */
} nbi_tok;

typedef struct nbi_opt {
    nbi_tok key, val;
    bool used;
} nbi_opt;

typedef struct nbi_line {
    const char *file; /* for messages */
    int line;
    int end_col; /* the column just after the last character */
    nbi_tok kind;
    nbi_tok pos[NBI_LINE_MAX_TOKENS];
    int n_pos;
    nbi_opt opt[NBI_LINE_MAX_TOKENS];
    int n_opt;
    char *scratch; /* small, or nbi_malloc'd for a long line */
    char small[256];
    const char *known[NBI_LINE_MAX_KEYS]; /* the option keys asked for, for messages */
    int n_known;
    bool reported;  /* a positioned error was set */
    void *c_locale; /* number parsing's cache */
} nbi_line;

/* Splits text[0..n) (one line, no newline) into l. A line that is blank or a comment gets
 * l->kind.s == NULL. Errors (an unterminated quote, a repeated option, too many tokens) are
 * positioned. Release with nbi_line_free, even after an error. */
nb_status nbi_line_split(nbi_line *l, const char *file, int line, const char *text, size_t n);
void nbi_line_free(nbi_line *l);

/* "file:line:col: " + the message, as the calling thread's error (NB_ERR_FORMAT). */
nb_status nbi_line_error(nbi_line *l, int col, const char *fmt, ...) NBI_PRINTF(3, 4);

/* Positional argument i (0 is the first after the kind). */
bool nbi_pos_has(const nbi_line *l, int i);
/* A required integer >= lo; `what` is "the number of units". */
nb_status nbi_pos_int(nbi_line *l, int i, const char *what, int64_t lo, int64_t *out);
/* A required word; `what` names it for the message when it is missing. */
nb_status nbi_pos_word(nbi_line *l, int i, const char *what, const char **out);

/* A required number in [lo, hi). */
nb_status nbi_pos_double(nbi_line *l, int i, const char *what, double lo, double hi, double *out);
/* A required size pair: "3" (3 and 3) or "3,2"; each >= lo. */
nb_status nbi_pos_pair(nbi_line *l, int i, const char *what, int64_t lo, int64_t out[2]);

/* Options: each leaves *out as it is when the key is absent. */
nb_status nbi_opt_int(nbi_line *l, const char *key, const char *what, int64_t lo, int64_t hi,
                      int64_t *out);
/* A finite number >= lo (and <= hi when hi > lo). */
nb_status nbi_opt_double(nbi_line *l, const char *key, const char *what, double lo, double hi,
                         double *out);
nb_status nbi_opt_float(nbi_line *l, const char *key, const char *what, double lo, double hi,
                        float *out);
nb_status nbi_opt_bool(nbi_line *l, const char *key, int *out);
nb_status nbi_opt_str(nbi_line *l, const char *key, const char **out);
/* A size pair, "3" or "3,2", each >= lo. */
nb_status nbi_opt_pair(nbi_line *l, const char *key, const char *what, int64_t lo, int64_t out[2]);
/* A comma-separated list of at most max integers >= lo ("2,3"); *count gets their number. */
nb_status nbi_pos_ints(nbi_line *l, int i, const char *what, int64_t lo, int64_t *out, int max,
                       int *count);
nb_status nbi_opt_ints(nbi_line *l, const char *key, const char *what, int64_t lo, int64_t *out,
                       int max, int *count);
/* An initialiser: zeros, constant:A, uniform:A:B, normal:MEAN:STD, xavier_uniform[:GAIN],
 * xavier_normal, kaiming_uniform, kaiming_normal (glorot_* and he_* are the same). */
nb_status nbi_opt_init(nbi_line *l, const char *key, nb_init *out);

/* An activation name ("relu"; "none", "linear" and "identity" are NB_ACT_NONE) in token t. */
nb_status nbi_tok_activation(nbi_line *l, const nbi_tok *t, nb_activation *out);
/* The column of option key's value (0 if absent). */
int nbi_opt_col(const nbi_line *l, const char *key);
/* Reports an option the parser did not ask for, or a positional argument beyond max_pos. */
nb_status nbi_line_done(nbi_line *l, int max_pos);

/* Number parsing for tokens: strict decimal, locale-independent. */
bool nbi_tok_to_int(const char *s, int64_t *out);
bool nbi_tok_to_double(nbi_line *l, const char *s, double *out);

/* nb_spec_parse and nb_spec_build with a bound on the model's size: limit > 0 refuses a model
 * of more than `limit` scalars of parameters and state (before allocating them), for specs
 * from untrusted files. */
nb_status nbi_spec_parse(const char *text, size_t len, const char *name, const char *base_dir,
                         int64_t limit, nb_spec **out);
nb_status nbi_spec_build(const nb_spec *s, int64_t limit, nb_model **out);
/* Both at once, building the model once (a model file's load): the parse's checked model is
 * made real rather than built again; init false leaves its parameters at 0 (every one of
 * them is read from the file next). */
nb_status nbi_spec_parse_build(const char *text, size_t len, const char *name, const char *base_dir,
                               int64_t limit, bool init, nb_spec **spec, nb_model **model);

/* ---- architecture lines (spec_arch.c) ------------------------------------------------------ */

#define NBI_ARCH_MAX_IN 256 /* nodes one line may name */

nb_spec_arch *nbi_arch_new(const char *name, int version);
void nbi_arch_free(nb_spec_arch *a);
const char *nbi_arch_name(const nb_spec_arch *a);
int nbi_arch_version(const nb_spec_arch *a);
void nbi_arch_set_version(nb_spec_arch *a, int version);
int nbi_arch_layers(const nb_spec_arch *a); /* layer and reuse lines */
/* The size of the model (scalars of parameters and of state), known after nbi_arch_check. */
void nbi_arch_size(const nb_spec_arch *a, int64_t *params, int64_t *state);
/* Whether a line of this kind belongs to the architecture (input, a layer, reuse, output). */
bool nbi_arch_is_line(const char *kind);
/* Keeps an architecture line (checked for its place: input first, version-2 features). */
nb_status nbi_arch_add(nb_spec_arch *a, nbi_line *l, const char *text, size_t len);
/* Builds the lines onto m, in order. */
nb_status nbi_arch_build(const nb_spec_arch *a, nb_model *m);
/* Builds them on a model that only counts (every shape checked), into *out. */
nb_status nbi_arch_dry(const nb_spec_arch *a, uint64_t seed, nb_model **out);
/* The same, recording the model's size in the arch; the dry model goes to *keep (or is freed
 * when keep is NULL). */
nb_status nbi_arch_check(nb_spec_arch *a, uint64_t seed, nb_model **keep);

/* An input line's contents. */
typedef struct nbi_arch_in {
    int rank;
    int64_t shape[NB_MAX_RANK]; /* -1: known at run time (version 2: None) */
    nb_dtype dtype;
    const char *name; /* NULL: the default */
    bool is_auto;     /* 'input auto': one dimension, the data's width (shape[0] 0 here) */
} nbi_arch_in;
/* 'input auto' (written, or implied by a layer before any input line): the model's width is
 * the data's, set before the architecture is built. */
bool nbi_arch_input_auto(const nb_spec_arch *a);
int64_t nbi_arch_auto_width(const nb_spec_arch *a);
void nbi_arch_set_auto_width(nb_spec_arch *a, int64_t width);
nb_status nbi_arch_input(nbi_line *l, int version, nbi_arch_in *in);
/* Node names in a comma-separated list ("a,b:1,-") into handles (0 for "-"). */
nb_status nbi_arch_nodes(nbi_line *l, const nb_model *m, const char *list, int col, int *nodes,
                         int max, int *n);

/* ---- layer lines (spec_layers.c) --------------------------------------------------------- */

/* Builds the layer of line l onto m, called on the n_in nodes in[]; its node in *node.
 * l->kind.s must be a layer kind. */
nb_status nbi_spec_layer(nb_model *m, nbi_line *l, int version, const int *in, int n_in, int *node);
bool nbi_spec_is_layer(const char *kind);
bool nbi_spec_is_graph_layer(const char *kind); /* add, concat, split: version 2 only */
/* The layer kinds, comma-separated, for messages. */
void nbi_spec_layer_kinds(char *buf, size_t n);

/* The data line (spec_data.c): read into d with paths resolved against base_dir (NULL: as
 * written); written back (" train=... format=...") with paths as seen from dir (NULL: as
 * stored). */
nb_status nbi_spec_parse_data(nbi_line *l, const char *base_dir, nb_data_spec *d);
void nbi_spec_data_text(const nb_data_spec *d, const char *dir, nbi_text *t);
/* A copy of s from nbi_malloc (NULL: out of memory). */
char *nbi_spec_str_dup(const char *s);

/* The optimizer and schedule lines' readers and writers, shared with the model files (which
 * store the optimizer as its spec line). */
nb_status nbi_spec_parse_optim(nbi_line *l, nb_optim_config *out);
nb_status nbi_spec_parse_schedule(nbi_line *l, nb_schedule *out);
void nbi_spec_optim_text(const nb_optim_config *c, nbi_text *out);
/* nb_spec_training_text into a growing text (out of memory is the text's status). */
void nbi_spec_training_text(const nb_spec *s, nbi_text *out);
/* The same with the data paths written relative to directory dir (a model file's). */
void nbi_spec_training_text_at(const nb_spec *s, const char *dir, nbi_text *out);
/* path as seen from directory dir (io/paths.c): relative to it when both can be made
 * absolute, else path as it is. Appended to t. */
void nbi_path_from_dir(const char *path, const char *dir, nbi_text *t);
void nbi_spec_schedule_text(const nb_schedule *s, nbi_text *out);

#endif
