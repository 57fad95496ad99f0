/* tools/nabla/cmd_quantize.c — `nabla quantize MODEL --calib DATA`: post-training static int8
 * quantization of a model file (docs/quantization.md).
 *
 * The float model is read, its activations measured on --samples samples of the calibration
 * data (normalised as in training), and the int8 model written to --out (default: MODEL with
 * .int8.safetensors), with its normalisation, class names and spec. The layer table with the
 * chosen scales and the sizes of both files are printed. --compare also quantizes with every
 * calibration method and prints the accuracy (and loss) of the float model and of each int8
 * model on labelled data (--data, or the spec's test set with --use-stored-data): the way to
 * choose a method. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const cli_opt opts[] = {
    {"calib", "PATH", "calibration samples: IDX images, .npy or CSV (labels are not needed)"},
    {"format", "FMT", "csv, npy or idx (default: by the file name)"},
    {"label", "COL", "CSV: a label column (name or index) to leave out (default: the last)"},
    {"samples", "N", "calibration samples drawn from PATH (default 2048)"},
    {"method", "M", "mse (default), minmax or percentile: how activation ranges are chosen"},
    {"percentile", "P",
     "for --method percentile: the percentile kept, in (50, 100] (default 99.99)"},
    {"seed", "N", "which calibration samples are drawn (default 0)"},
    {"out", "FILE", "the int8 model (default: MODEL with .int8.safetensors)"},
    {"compare", NULL, "evaluate the float model and every method on labelled data"},
    {"data", "PATH", "with --compare: the labelled samples (IDX, .npy or CSV)"},
    {"labels", "PATH", "their labels, for IDX or .npy samples"},
    {"use-stored-data", NULL, "the spec's data: train= to calibrate, test= to compare"},
    {"threads", "N", "worker threads (default: NB_THREADS or the cores available)"},
    {"max-memory", "SIZE",
     "refuse to use more memory than SIZE (512M, 8G; 0: no limit; "
     "default: NABLA_MAX_MEMORY or the machine's memory)"},
};

static long long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* MODEL.safetensors → MODEL.int8.safetensors (or MODEL + .int8.safetensors). */
static char *default_out(const char *model) {
    size_t n = strlen(model);
    const char *ext = ".safetensors";
    size_t e = strlen(ext);
    if (n >= e && !strcmp(model + n - e, ext)) n -= e;
    char *p = cli_malloc(n + 32);
    if (p) {
        memcpy(p, model, n);
        strcpy(p + n, ".int8.safetensors");
    }
    return p;
}

static int eval_line(cli_args *a, const char *what, nb_model *m, const nb_qmodel *q,
                     const nb_dataset *ds, const nb_norm *norm, nb_loss_kind loss, int classes) {
    nb_metrics *mt = nb_metrics_new(loss, NB_METRIC_ACCURACY, classes, 0);
    if (!mt) return cli_lib_error(a);
    nb_eval_opts eo = {.batch_size = 256, .norm = norm};
    nb_status s = m ? nb_evaluate(m, ds, &eo, mt) : nb_qmodel_evaluate(q, ds, &eo, mt);
    if (s != NB_OK) {
        nb_metrics_free(mt);
        return cli_lib_error(a);
    }
    nb_metric_values v;
    nb_metrics_result(mt, &v);
    printf("  %-22s accuracy %.4f   loss %.6g\n", what, v.accuracy, v.loss);
    nb_metrics_free(mt);
    return CLI_OK;
}

static int run(cli_args *a) {
    int64_t samples = 2048, seed = 0;
    double pct = 99.99;
    int rc = cli_int(a, "samples", 1, (int64_t)1 << 40, &samples);
    if (rc == CLI_OK) rc = cli_int(a, "seed", 0, INT64_MAX, &seed);
    if (rc == CLI_OK) rc = cli_double(a, "percentile", 50.0, 100.0, &pct);
    if (rc == CLI_OK) rc = cli_threads(a);
    if (rc != CLI_OK) return rc;
    if (cli_get(a, "percentile") && pct <= 50.0)
        return cli_error(a, CLI_USAGE, "--percentile must be above 50, got %g", pct);
    const char *mname = cli_get(a, "method");
    int method = mname ? nb_calib_method_from_name(mname) : NB_CALIB_MSE;
    if (method < 0)
        return cli_error(a, CLI_USAGE, "--method: unknown method '%s' (mse, minmax or percentile)",
                         mname);
    bool compare = cli_flag(a, "compare"), stored = cli_flag(a, "use-stored-data");
    const char *model_path = a->pos[0];
    char *out = cli_get(a, "out") ? NULL : default_out(model_path);
    const char *out_path = cli_get(a, "out") ? cli_get(a, "out") : out;
    if (!out_path) return cli_lib_error(a);
    const char *outs[] = {"out", NULL}, *paths[] = {out_path};
    if ((rc = cli_check_outputs(a, outs, paths)) != CLI_OK) {
        cli_free(out);
        return rc;
    }
    nb_model *m = NULL;
    nb_model_file info;
    rc = cli_load_model(a, model_path, NULL, &m, &info);
    if (rc != CLI_OK) {
        cli_free(out);
        return rc;
    }
    const nb_data_spec *d = info.spec ? &info.spec->data : NULL;
    const char *calib = cli_get(a, "calib"), *fmt = cli_get(a, "format"),
               *label = cli_get(a, "label");
    if (!fmt && d && d->format[0]) fmt = d->format;
    if (!label && d) label = d->label;
    if (!calib && stored && d) calib = d->train;
    nb_dataset *cds = NULL, *eds = NULL;
    if (!calib)
        rc = cli_error(a, CLI_USAGE,
                       "no calibration data: give --calib PATH (a few thousand samples of the "
                       "training data%s)",
                       d && d->train ? ", or --use-stored-data for the spec's train=" : "");
    if (rc == CLI_OK) rc = cli_load_dataset(a, calib, NULL, fmt, label, m, &cds);
    const char *epath = cli_get(a, "data"), *elabels = cli_get(a, "labels");
    if (rc == CLI_OK && compare) {
        if (!epath && stored && d && d->test) {
            epath = d->test;
            elabels = d->test_labels;
        }
        if (!epath)
            rc = cli_error(a, CLI_USAGE,
                           "--compare needs labelled data: --data PATH (and "
                           "--labels), or --use-stored-data for the spec's test set");
        if (rc == CLI_OK) rc = cli_load_dataset(a, epath, elabels, fmt, label, m, &eds);
    }
    const nb_norm *norm = info.norm.kind != NB_NORM_NONE ? &info.norm : NULL;
    nb_quant_opts qo = {.method = (nb_calib_method)method,
                        .percentile = pct,
                        .samples = samples,
                        .seed = (uint64_t)seed,
                        .norm = norm};
    nb_qmodel *q = NULL;
    if (rc == CLI_OK && nb_quantize(m, cds, &qo, &q) != NB_OK) rc = cli_lib_error(a);
    if (rc == CLI_OK) {
        nb_save_opts so = {.spec = info.spec, .norm = norm};
        if (nb_qmodel_save(q, out_path, &so) != NB_OK) rc = cli_lib_error(a);
    }
    if (rc == CLI_OK) {
        printf("calibration:   %s\n\n", nb_qmodel_calibration(q));
        nb_qmodel_summary(q, stdout);
        long long fs = file_size(model_path), qs = file_size(out_path);
        printf("\nfloat model:   %s (%lld bytes)\nint8 model:    %s (%lld bytes, %.1f%% of "
               "the float file)\n",
               model_path, fs, out_path, qs, fs > 0 ? 100.0 * (double)qs / (double)fs : 0.0);
    }
    if (rc == CLI_OK && compare) {
        nb_dataset_info di;
        nb_dataset_get_info(eds, &di);
        int64_t oshape[NB_MAX_RANK];
        int orank = nb_model_output_shape(m, oshape);
        int classes = orank == 1 ? (int)oshape[0] : di.num_classes;
        int lk = info.spec && info.spec->has_loss ? nb_loss_from_name(info.spec->loss) : -1;
        nb_loss_kind loss = lk >= 0 ? (nb_loss_kind)lk : NB_LOSS_CROSS_ENTROPY;
        printf("\non %s (%lld samples):\n", epath, (long long)nb_dataset_len(eds));
        rc = eval_line(a, "float", m, NULL, eds, norm, loss, classes);
        for (int k = 0; rc == CLI_OK && k < NB_CALIB_COUNT; k++) {
            nb_qmodel *qk = NULL;
            nb_quant_opts ok = qo;
            ok.method = (nb_calib_method)k;
            if (nb_quantize(m, cds, &ok, &qk) != NB_OK) {
                rc = cli_lib_error(a);
                break;
            }
            char what[64];
            snprintf(what, sizeof what, "int8, %s%s", nb_calib_method_name((nb_calib_method)k),
                     k == method ? " (saved)" : "");
            rc = eval_line(a, what, NULL, qk, eds, norm, loss, classes);
            nb_qmodel_free(qk);
        }
    }
    nb_qmodel_free(q);
    nb_dataset_free(cds);
    nb_dataset_free(eds);
    nb_model_file_free(&info);
    nb_model_free(m);
    cli_free(out);
    return rc;
}

const cli_cmd cli_cmd_quantize = {
    .name = "quantize",
    .usage = "MODEL --calib PATH [--samples N] [--method M] [--out FILE] [--compare ...]",
    .summary = "make an int8 model: post-training static quantization with calibration",
    .description =
        "Quantizes the float model in MODEL to int8 (weights per output channel, activations\n"
        "per tensor, biases int32; docs/quantization.md): its activations are measured on\n"
        "--samples samples of the calibration data, normalised as in training, and each one's\n"
        "range is chosen by --method. The int8 model is written to --out as safetensors with\n"
        "I8/I32/F32 tensors; nabla eval, predict and info read it. --compare evaluates the\n"
        "float model and each method on labelled data.",
    .opts = opts,
    .n_opts = (int)(sizeof opts / sizeof opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
