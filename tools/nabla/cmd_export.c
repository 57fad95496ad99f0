/* tools/nabla/cmd_export.c — `nabla export MODEL --out DIR [TENSOR...]`: tensors to .npy.
 *
 * Every tensor of a safetensors file (or the named ones) is written to DIR/<name>.npy, as
 * stored in the file (so a dense weight is PyTorch's [out, in]); numpy.load reads them. */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const cli_opt opts[] = {
    {"out", "DIR", "the directory to write <tensor>.npy files into (created if missing)"},
};

static int export_one(cli_args *a, const nb_safetensors *st, int i, const char *dir) {
    nb_array arr;
    if (nb_safetensors_get(st, i, &arr) != NB_OK) return cli_lib_error(a);
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/", dir);
    for (const char *p = nb_safetensors_name(st, i); *p && w < (int)sizeof path - 5; p++)
        path[w++] = *p == '/' ? '_' : *p;
    snprintf(path + w, sizeof path - (size_t)w, ".npy");
    int rc = nb_npy_write(path, &arr) == NB_OK ? CLI_OK : cli_lib_error(a);
    if (rc == CLI_OK) printf("%s\n", path);
    nb_array_free(&arr);
    return rc;
}

static int run(cli_args *a) {
    const char *dir = cli_get(a, "out");
    if (!dir) return cli_error(a, CLI_USAGE, "--out DIR is required (where the .npy files go)");
    nb_safetensors *st;
    if (nb_safetensors_read(a->pos[0], &st) != NB_OK) return cli_lib_error(a);
    int rc = CLI_OK;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        rc = cli_error(a, CLI_FAIL, "cannot create the directory '%s': %s", dir, strerror(errno));
    if (a->n_pos == 1) {
        for (int i = 0; rc == CLI_OK && i < nb_safetensors_count(st); i++)
            rc = export_one(a, st, i, dir);
    }
    for (int k = 1; rc == CLI_OK && k < a->n_pos; k++) {
        int i = nb_safetensors_find(st, a->pos[k]);
        if (i < 0)
            rc = cli_error(a, CLI_FAIL, "%s has no tensor '%s' (see 'nabla info %s --tensors')",
                           a->pos[0], a->pos[k], a->pos[0]);
        else
            rc = export_one(a, st, i, dir);
    }
    nb_safetensors_free(st);
    return rc;
}

const cli_cmd cli_cmd_export = {
    .name = "export",
    .usage = "MODEL [TENSOR...] --out DIR",
    .summary = "write a model file's tensors (all, or the named ones) as NumPy .npy files",
    .description =
        "Writes each tensor of MODEL (a safetensors file), or each TENSOR named, to\n"
        "DIR/<name>.npy as the file stores it (PyTorch's layout: a dense weight is [out, in]).",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
