/* tools/nabla/cmd_info.c — `nabla info MODEL`: what a model file holds.
 *
 * The architecture (a layer table with output shapes and parameter counts), the spec, the
 * normalisation, the training state and the other metadata; --tensors lists the tensors with
 * their dtypes and shapes. A safetensors file without nabla's metadata (weights written by
 * PyTorch, say) is described by its tensors, or as a model when --spec says what it is. An
 * int8 model file (nabla quantize) shows its layers with their scales and zero points, the
 * scheme and the calibration.
 *
 * Everything printed that comes from the file — names, metadata, the stored spec, class
 * names — goes through cli_put_escaped: a model file cannot send escape sequences to the
 * terminal. Long metadata values are cut to an excerpt with their length. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const cli_opt opts[] = {
    {"spec", "SPEC", "the architecture, for a file of weights without nabla's metadata"},
    {"tensors", NULL, "list every tensor with its dtype and shape"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

static void print_shape(int rank, const int64_t *shape) {
    printf("[");
    for (int i = 0; i < rank; i++) printf("%s%lld", i ? ", " : "", (long long)shape[i]);
    printf("]");
}

static void print_tensors(const nb_safetensors *st) {
    printf("tensors (%d):\n", nb_safetensors_count(st));
    for (int i = 0; i < nb_safetensors_count(st); i++) {
        const char *dt;
        int64_t shape[NB_MAX_RANK];
        int r = nb_safetensors_shape(st, i, &dt, shape);
        char name[160];
        size_t w = cli_escape(name, sizeof name, nb_safetensors_name(st, i), 120);
        printf("  %s%*s %-5s ", name, w < 40 ? (int)(40 - w) : 0, "", dt);
        print_shape(r, shape);
        printf("\n");
    }
}

static const char *norm_name(nb_norm_kind k) {
    return k == NB_NORM_CONST      ? "constant"
           : k == NB_NORM_STANDARD ? "standardise"
           : k == NB_NORM_MINMAX   ? "min-max"
                                   : "none";
}

static void print_model(const nb_model *m, const nb_model_file *info) {
    int64_t shape[NB_MAX_RANK];
    int rank = nb_model_input_shape(m, shape);
    printf("input:         ");
    print_shape(rank, shape);
    printf(" per sample\n\n");
    /* layer names come from the stored spec (name=): the summary is escaped too */
    char *sum = NULL;
    size_t sum_len = 0;
    FILE *mf = open_memstream(&sum, &sum_len);
    if (mf) {
        nb_model_summary(m, mf);
        fclose(mf);
        if (sum) cli_put_escaped_lines(stdout, sum);
        free(sum);
    }
    const nb_norm *n = &info->norm;
    if (n->kind != NB_NORM_NONE) {
        printf("normalisation: %s, x' = (x - shift) / div", norm_name(n->kind));
        if (n->per_feature)
            printf(", per feature (%lld values)\n", (long long)n->n);
        else
            printf(" with shift %g, div %g\n", (double)n->shift[0], (double)n->div[0]);
    }
    if (info->has_run) {
        const nb_train_state *r = &info->run;
        printf("progress:      %lld epoch%s, %lld step%s%s\n", (long long)r->epoch,
               r->epoch == 1 ? "" : "s", (long long)r->step, r->step == 1 ? "" : "s",
               r->stopped ? ", stopped early" : "");
        if (!isnan(r->best)) {
            printf("best:          ");
            cli_put_escaped(stdout,
                            info->monitor && info->monitor[0] ? info->monitor : "(unnamed)");
            printf(" = %.6g at epoch %lld\n", r->best, (long long)r->best_epoch);
        }
    }
    if (info->optim) {
        const nb_optim *o = info->optim;
        printf("optimizer:     %s, learning rate %g, %lld steps taken, state:", nb_optim_name(o),
               nb_optim_lr(o), (long long)nb_optim_step_count(o));
        for (int k = 0; k < nb_optim_state_slots(o); k++)
            printf("%s %s", k ? "," : "", nb_optim_state_name(o, k));
        printf("%s\n", nb_optim_state_slots(o) ? "" : " none");
    }
    if (info->has_run) printf("generator:     saved (training resumes where it stopped)\n");
    const nb_tabular *t = info->has_tabular ? &info->tabular : NULL;
    if (t) {
        printf("table:         %s, %lld columns (%s) -> %lld features, label%s ",
               nb_task_name(t->task), (long long)t->num_columns,
               t->named ? "matched by name" : "by position", (long long)t->features,
               t->num_targets > 1 ? "s" : "");
        for (int k = 0; k < t->num_targets; k++) {
            if (k) printf(", ");
            cli_put_escaped(stdout, t->targets[k]);
        }
        printf("\n               missing values: %s", nb_missing_name(t->missing));
        if (t->target_norm.kind != NB_NORM_NONE) printf("; targets standardised");
        printf("\ncolumns:       ");
        for (int64_t j = 0; j < t->num_columns && j < 32; j++) {
            printf("%s", j ? ", " : "");
            cli_put_escaped(stdout, t->columns[j].name);
            if (t->columns[j].num_categories)
                printf(" (%d categories)", t->columns[j].num_categories);
        }
        printf("%s\n", t->num_columns > 32 ? ", ..." : "");
    }
    if (nb_model_class_count(m)) {
        printf("classes:       ");
        for (int i = 0; i < nb_model_class_count(m); i++) {
            printf("%s%d=", i ? ", " : "", i);
            cli_put_escaped(stdout, nb_model_class_name(m, i));
        }
        printf("\n");
    }
    if (info->spec && !strcmp(info->spec->data.format, "audio"))
        cli_audio_print_pipeline(info->spec->data.features);
    nb_tokenizer *tok = NULL;
    if (nb_model_has_tokenizer(m) && nb_model_get_tokenizer(m, &tok) == NB_OK && tok) {
        static const char *const kinds[] = {"byte", "char", "bpe"};
        nb_tokenizer_info ti;
        nb_tokenizer_get_info(tok, &ti);
        printf("tokenizer:     %s, %lld tokens (%lld base, %lld merges, %d special)\n",
               (unsigned)ti.kind < 3 ? kinds[ti.kind] : "?", (long long)ti.vocab_size,
               (long long)ti.base, (long long)ti.merges, ti.n_special);
        nb_tokenizer_free(tok);
    }
}

/* An int8 model file: its layers with their scales, the scheme, the calibration, the
 * normalisation and class names. */
static void print_qmodel(const nb_qmodel *q, const nb_model_file *info, const nb_safetensors *st) {
    int64_t shape[NB_MAX_RANK];
    int rank = nb_qmodel_input_shape(q, shape);
    printf("input:         ");
    print_shape(rank, shape);
    printf(" per sample, f32 (quantized to uint8 by the first layer)\n");
    rank = nb_qmodel_output_shape(q, shape);
    printf("output:        ");
    print_shape(rank, shape);
    printf(" per sample, f32\n");
    const char *scheme = nb_safetensors_meta(st, "nabla.quant.scheme");
    printf("scheme:        ");
    cli_put_escaped(stdout, scheme ? scheme : "(not stored)");
    printf("\ncalibration:   ");
    cli_put_escaped(stdout, nb_qmodel_calibration(q));
    printf("\nparameters:    %lld bytes (int8 weights, int32 biases, f32 scales)\n\n",
           (long long)nb_qmodel_param_bytes(q));
    char *sum = NULL;
    size_t sum_len = 0;
    FILE *mf = open_memstream(&sum, &sum_len);
    if (mf) {
        nb_qmodel_summary(q, mf);
        fclose(mf);
        if (sum) cli_put_escaped_lines(stdout, sum);
        free(sum);
    }
    const nb_norm *n = &info->norm;
    if (n->kind != NB_NORM_NONE) {
        printf("normalisation: %s, x' = (x - shift) / div", norm_name(n->kind));
        if (n->per_feature)
            printf(", per feature (%lld values)\n", (long long)n->n);
        else
            printf(" with shift %g, div %g\n", (double)n->shift[0], (double)n->div[0]);
    }
    if (nb_qmodel_class_count(q)) {
        printf("classes:       ");
        for (int i = 0; i < nb_qmodel_class_count(q); i++) {
            printf("%s%d=", i ? ", " : "", i);
            cli_put_escaped(stdout, nb_qmodel_class_name(q, i));
        }
        printf("\n");
    }
}

static bool nabla_key(const char *k) {
    return !strcmp(k, "format") || !strncmp(k, "nabla.", 6);
}

/* Whether text is a spec: its first word (after blank lines and comments) is nabla-spec. */
static bool is_spec_text(const char *t, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n')) i++;
        if (i < n && t[i] == '#') {
            while (i < n && t[i] != '\n') i++;
            continue;
        }
        return n - i >= 10 && !memcmp(t + i, "nabla-spec", 10);
    }
    return false;
}

/* A spec file: its model (when its input is known), its training settings, its text. */
static int describe_spec(cli_args *a, const char *path, const char *text) {
    nb_spec *s = NULL;
    if (nb_spec_read(path, &s) != NB_OK) return cli_lib_error(a);
    printf("file:          ");
    cli_put_escaped(stdout, path);
    printf(" (a spec: the model and its training; 'nabla train' trains it)\n");
    int rc = CLI_OK;
    if (s->input_auto) {
        printf("input:         auto (the width of the training data)\n");
    } else if (s->has_input) {
        nb_model *m = NULL;
        nb_model_file info;
        memset(&info, 0, sizeof info);
        if (nb_spec_build(s, &m) != NB_OK) {
            rc = cli_lib_error(a);
        } else {
            print_model(m, &info);
            nb_model_free(m);
        }
    }
    if (rc == CLI_OK) {
        printf("spec:\n");
        for (const char *p = text; *p;) {
            size_t n = strcspn(p, "\n");
            char *line = cli_malloc(n + 1);
            if (!line) break;
            memcpy(line, p, n);
            line[n] = 0;
            printf("  ");
            cli_put_escaped(stdout, line);
            printf("\n");
            cli_free(line);
            p += n + (p[n] == '\n');
        }
    }
    nb_spec_free(s);
    return rc;
}

/* An ONNX file: the model nabla imports from it, and its architecture as a spec. */
static int describe_onnx(cli_args *a, const char *path) {
    nb_model *m;
    nb_model_file info;
    int rc = cli_load_model(a, path, NULL, &m, &info);
    if (rc != CLI_OK) return rc;
    struct stat sb;
    printf("file:          ");
    cli_put_escaped(stdout, path);
    printf(" (%lld bytes)\n", stat(path, &sb) == 0 ? (long long)sb.st_size : -1LL);
    printf("format:        ONNX, imported as a %s\n",
           nb_model_is_sequential(m) ? "chain of layers" : "graph model");
    print_model(m, &info);
    size_t n = nb_model_spec(m, NULL, 0);
    char *text = n ? cli_malloc(n + 1) : NULL;
    if (text && nb_model_spec(m, text, n + 1) == n) {
        printf("spec:\n");
        for (const char *p = text; *p;) {
            size_t k = strcspn(p, "\n");
            printf("  %.*s\n", (int)k, p);
            p += k + (p[k] == '\n');
        }
    }
    cli_free(text);
    nb_model_file_free(&info);
    nb_model_free(m);
    return CLI_OK;
}

static int run(cli_args *a) {
    const char *path = a->pos[0], *spec = cli_get(a, "spec");
    if (!spec && nb_is_onnx_file(path)) return describe_onnx(a, path);
    nb_safetensors *st;
    if (nb_safetensors_read(path, &st) != NB_OK) {
        /* not a model file: a spec, perhaps (issue 12: it was reported as a bad header) */
        char err[1024];
        snprintf(err, sizeof err, "%s", nb_last_error());
        void *buf = NULL;
        size_t len = 0;
        int rc = CLI_FAIL;
        if (nb_file_read(path, &buf, &len) == NB_OK && is_spec_text(buf, len))
            rc = describe_spec(a, path, buf);
        else
            cli_error(a, CLI_FAIL, "%s", err);
        nb_free(buf);
        return rc;
    }
    struct stat sb;
    long long size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    const char *ver = nb_safetensors_meta(st, "nabla.format_version");
    const char *qver = nb_safetensors_meta(st, "nabla.quant.format_version");
    const char *lib = nb_safetensors_meta(st, "nabla.version");
    printf("file:          ");
    cli_put_escaped(stdout, path);
    printf(" (%lld bytes, %d tensors)\n", size, nb_safetensors_count(st));
    if (ver || qver) {
        char v1[64], v2[64];
        cli_escape(v1, sizeof v1, ver ? ver : qver, 32);
        cli_escape(v2, sizeof v2, lib ? lib : "", 32);
        printf("format:        nabla %smodel file, version %s%s%s\n", ver ? "" : "int8 ", v1,
               lib ? ", written by nabla " : "", v2);
    } else
        printf("format:        safetensors without nabla's metadata (weights only)\n");
    int rc = CLI_OK;
    if (qver && !ver && !spec) {
        nb_qmodel *q;
        nb_model_file info;
        if (nb_qmodel_load(path, &q, &info) != NB_OK) {
            rc = cli_lib_error(a);
        } else {
            print_qmodel(q, &info, st);
            printf("spec (of the float model):\n");
            for (const char *p = info.spec_text; p && *p;) {
                size_t n = strcspn(p, "\n");
                char *line = cli_malloc(n + 1);
                if (!line) break;
                memcpy(line, p, n);
                line[n] = 0;
                printf("  ");
                cli_put_escaped(stdout, line);
                printf("\n");
                cli_free(line);
                p += n + (p[n] == '\n');
            }
            nb_model_file_free(&info);
            nb_qmodel_free(q);
        }
    } else if (ver || spec) {
        nb_model *m;
        nb_model_file info;
        rc = cli_load_model(a, path, spec, &m, &info);
        if (rc == CLI_OK) {
            print_model(m, &info);
            const char *text = info.spec_text;
            if (text) {
                printf("spec:\n");
                for (const char *p = text; *p;) {
                    size_t n = strcspn(p, "\n");
                    char *line = cli_malloc(n + 1);
                    if (!line) break;
                    memcpy(line, p, n);
                    line[n] = 0;
                    printf("  ");
                    cli_put_escaped(stdout, line);
                    printf("\n");
                    cli_free(line);
                    p += n + (p[n] == '\n');
                }
            }
            nb_model_file_free(&info);
            nb_model_free(m);
        }
    } else {
        printf("(give --spec SPEC to read it as a model)\n");
    }
    int other = 0;
    for (int i = 0; i < nb_safetensors_meta_count(st); i++)
        other += !nabla_key(nb_safetensors_meta_key(st, i));
    if (rc == CLI_OK && other) {
        printf("metadata:\n");
        for (int i = 0; i < nb_safetensors_meta_count(st); i++) {
            const char *k = nb_safetensors_meta_key(st, i);
            if (nabla_key(k)) continue;
            const char *v = nb_safetensors_meta_value(st, i);
            char kb[160], vb[1024];
            cli_escape(kb, sizeof kb, k, 100);
            cli_escape(vb, sizeof vb, v, 200);
            printf("  %s = %s", kb, vb);
            if (strlen(v) > 200) printf(" (%zu bytes)", strlen(v));
            printf("\n");
        }
    }
    if (rc == CLI_OK && (cli_flag(a, "tensors") || !(ver || qver || spec))) print_tensors(st);
    nb_safetensors_free(st);
    return rc;
}

const cli_cmd cli_cmd_info = {
    .name = "info",
    .usage = "MODEL|SPEC [--spec SPEC] [--tensors]",
    .summary = "describe a model file: layers, shapes, parameters, training state",
    .description =
        "Prints what the model file MODEL holds: its architecture as a table of layers with\n"
        "their output shapes and parameter counts, the total, the spec it was built from, the\n"
        "input normalisation, the training state of a checkpoint (epoch, step, optimizer,\n"
        "best monitored value), the table it reads (columns, task, labels) and any other\n"
        "metadata. Given a spec file instead, describes the model the spec builds.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
