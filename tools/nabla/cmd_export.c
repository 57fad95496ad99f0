/* tools/nabla/cmd_export.c — `nabla export MODEL --out DIR [TENSOR...]`: tensors to .npy;
 * `nabla export MODEL --format onnx -o model.onnx`: the model as an ONNX file
 * (nb_model_export_onnx, docs/onnx.md).
 *
 * Every tensor of a safetensors file (or the named ones) is written to DIR/<name>.npy, as
 * stored in the file (so a dense weight is PyTorch's [out, in]); numpy.load reads them.
 *
 * A tensor name becomes a file name one-to-one: '/', '%', control bytes and a leading '.'
 * are written as %XX (so "a/b" is a%2Fb.npy and "a_b" stays a_b.npy, and no name climbs out
 * of DIR); a name too long for the file system is cut and given a hash of the whole name.
 * Every file name is made — and checked for length and clashes — before the first file is
 * written, so a bad name stops the export before it starts, not half-way. Each file is written
 * atomically without a sync of its own, and the directory is synced once at the end: 300 000
 * tensors cost one sync, not 300 000. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"out", "DIR", "npy: the directory to write <tensor>.npy files into (created if missing)"},
    {"format", "FMT", "npy (the default: one .npy file per tensor) or onnx (the model)"},
    {"output", "FILE", "onnx: the file to write (replaced atomically)"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

#define NAME_LIMIT 255 /* bytes in one file name (NAME_MAX on the usual file systems) */
#define PATH_LIMIT 4096

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* DIR/<encoded name>.npy into a fresh string, or NULL when out of memory. */
static char *file_for(const char *dir, const char *name) {
    size_t dl = strlen(dir), nl = strlen(name);
    char *enc = cli_malloc(3 * nl + 1);
    if (!enc) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < nl; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == '%' || c < 0x20 || c == 0x7f || (i == 0 && c == '.'))
            w += (size_t)snprintf(enc + w, 4, "%%%02X", c);
        else
            enc[w++] = (char)c;
    }
    enc[w] = 0;
    if (w + 4 > NAME_LIMIT) {
        /* cut at a boundary that splits no %XX, then "~" and 16 hex digits of the whole name */
        size_t keep = NAME_LIMIT - 4 - 17;
        while (keep > 0 && (enc[keep - 1] == '%' || (keep > 1 && enc[keep - 2] == '%'))) keep--;
        snprintf(enc + keep, 18, "~%016llx", (unsigned long long)fnv1a(name));
        w = strlen(enc);
    }
    char *path = cli_malloc(dl + w + 6);
    if (path) snprintf(path, dl + w + 6, "%s/%s.npy", dir, enc);
    cli_free(enc);
    return path;
}

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* --format onnx: the model file as one ONNX file. */
static int run_onnx(cli_args *a) {
    const char *out = cli_get(a, "output");
    if (!out) return cli_error(a, CLI_USAGE, "--format onnx needs -o/--output FILE (the .onnx file)");
    if (a->n_pos > 1)
        return cli_error(a, CLI_USAGE, "--format onnx writes the whole model: name no tensors");
    if (cli_get(a, "out"))
        return cli_error(a, CLI_USAGE, "--out DIR is for --format npy; use -o FILE for onnx");
    nb_model *m;
    nb_model_file info;
    int rc = cli_load_model(a, a->pos[0], NULL, &m, &info);
    if (rc != CLI_OK) return rc;
    if (nb_model_export_onnx(m, out) != NB_OK) {
        rc = cli_lib_error(a);
    } else {
        cli_put_escaped(stdout, out);
        printf("\n");
        if (info.norm.kind != NB_NORM_NONE || info.has_tabular)
            printf("note: the model file's input preparation (%s) is not part of the ONNX "
                   "graph: give the ONNX model inputs prepared as nabla would\n",
                   info.has_tabular ? "table columns and normalisation" : "normalisation");
    }
    nb_model_file_free(&info);
    nb_model_free(m);
    return rc;
}

static int run(cli_args *a) {
    const char *format = cli_get(a, "format");
    if (format && !strcmp(format, "onnx")) return run_onnx(a);
    if (format && strcmp(format, "npy"))
        return cli_error(a, CLI_USAGE, "--format must be npy or onnx, not '%s'", format);
    if (cli_get(a, "output"))
        return cli_error(a, CLI_USAGE, "-o/--output FILE is for --format onnx; npy takes --out DIR");
    const char *dir = cli_get(a, "out");
    if (!dir) return cli_error(a, CLI_USAGE, "--out DIR is required (where the .npy files go)");
    nb_safetensors *st;
    if (nb_safetensors_read(a->pos[0], &st) != NB_OK) return cli_lib_error(a);
    /* which tensors */
    int n = a->n_pos == 1 ? nb_safetensors_count(st) : a->n_pos - 1, rc = CLI_OK;
    int *which = cli_malloc(sizeof(int) * (size_t)n);
    char **paths = cli_malloc(sizeof(char *) * (size_t)n);
    char **sorted = cli_malloc(sizeof(char *) * (size_t)n);
    if (!which || !paths || !sorted) rc = cli_lib_error(a);
    if (paths) memset(paths, 0, sizeof(char *) * (size_t)n);
    for (int k = 0; rc == CLI_OK && k < n; k++) {
        which[k] = a->n_pos == 1 ? k : nb_safetensors_find(st, a->pos[k + 1]);
        if (which[k] < 0)
            rc = cli_error(a, CLI_FAIL, "%s has no tensor '%s' (see 'nabla info %s --tensors')",
                           a->pos[0], a->pos[k + 1], a->pos[0]);
    }
    /* every file name, before any file */
    for (int k = 0; rc == CLI_OK && k < n; k++) {
        paths[k] = file_for(dir, nb_safetensors_name(st, which[k]));
        if (!paths[k])
            rc = cli_lib_error(a);
        else if (strlen(paths[k]) >= PATH_LIMIT)
            rc = cli_error(a, CLI_FAIL,
                           "the path for tensor '%s' would be %zu bytes long, more "
                           "than the system allows: choose a shorter --out",
                           nb_safetensors_name(st, which[k]), strlen(paths[k]));
    }
    if (rc == CLI_OK && n > 1) {
        memcpy(sorted, paths, sizeof(char *) * (size_t)n);
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
        for (int k = 1; rc == CLI_OK && k < n; k++)
            if (!strcmp(sorted[k - 1], sorted[k]))
                rc = cli_error(a, CLI_FAIL,
                               "two tensors would both be written to '%s' (the "
                               "same tensor named twice, or names that differ only past the "
                               "file system's length limit); nothing was written",
                               sorted[k]);
    }
    if (rc == CLI_OK && nb_output_dir(dir) != NB_OK) rc = cli_lib_error(a);
    for (int k = 0; rc == CLI_OK && k < n; k++) {
        nb_array arr;
        if (nb_safetensors_get(st, which[k], &arr) != NB_OK) {
            rc = cli_lib_error(a);
            break;
        }
        if (nb_npy_write_flags(paths[k], &arr, NB_ATOMIC_NO_SYNC | NB_ATOMIC_NO_CLEAN) != NB_OK)
            rc = cli_lib_error(a);
        else {
            cli_put_escaped(stdout, paths[k]);
            printf("\n");
        }
        nb_array_free(&arr);
    }
    if (rc == CLI_OK && n && nb_sync_dir(dir) != NB_OK) rc = cli_lib_error(a);
    for (int k = 0; paths && k < n; k++) cli_free(paths[k]);
    cli_free(paths);
    cli_free(sorted);
    cli_free(which);
    nb_safetensors_free(st);
    return rc;
}

const cli_cmd cli_cmd_export = {
    .name = "export",
    .usage = "MODEL [TENSOR...] --out DIR | MODEL --format onnx -o FILE",
    .summary = "write a model file's tensors as NumPy .npy files, or the model as ONNX",
    .description =
        "With --format onnx, writes the model of MODEL (a nabla model file) as an ONNX file\n"
        "(opset 17, dynamic batch; docs/onnx.md lists the layers that map and those refused).\n"
        "The input normalisation a model file stores is not part of the graph.\n"
        "Otherwise (--format npy, the default), writes each tensor of MODEL (a safetensors\n"
        "file), or each TENSOR named, to\n"
        "DIR/<name>.npy as the file stores it (PyTorch's layout: a dense weight is [out, in]).\n"
        "In file names, '/', '%', control characters and a leading '.' of a tensor name are\n"
        "written %XX (\"a/b\" -> a%2Fb.npy); a name too long for the file system is cut and\n"
        "ends in ~ and a hash of the whole name. Names are checked before any file is written.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = CLI_MAX_POS,
    .run = run,
    .short_opts = "o=output",
};
