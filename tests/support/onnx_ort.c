/* tests/support/onnx_ort.c — the check of an exported model (see onnx_ort.h). */
#include "onnx_ort.h"
#include "io/onnx.h"
#include "nn/model_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(const char *cmd) {
    int rc = system(cmd);
    return rc == -1 ? -1 : (rc >> 8) & 0xff;
}

static int ort_missing = -1; /* unknown yet */

static void write_bytes(const char *path, const void *v, int64_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(v, 4, (size_t)n, f) == (size_t)n);
    if (f) fclose(f);
}

/* Exports m, runs the checker and ONNX Runtime on a random batch of 3 (f32 inputs N(0, 1.5²),
 * i32 inputs token ids below the embedding's vocabulary; a dimension known only at run time
 * is 5), every output compared with nabla's; returns the largest |diff| over them (or -1
 * when ORT was skipped). */
double nbt_onnx_check(nb_model *m, const char *file, const char *name) {
    return nbt_onnx_check_inputs(m, file, name, NULL);
}

double nbt_onnx_check_inputs(nb_model *m, const char *file, const char *name, const char *kinds) {
    char path[200], cmd[4000], outp[256];
    snprintf(path, sizeof path, "%s", file);
    CHECK_OK(nb_model_export_onnx(m, path));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/scripts/onnx_check.py %s >/dev/null", path);
    int rc = access("/usr/bin/python3", X_OK) == 0 ? run(cmd) : 3;
    if (rc == 3)
        printf("  note: the onnx checker skipped (no /usr/bin/python3 with python3-onnx)\n");
    else
        CHECK_MSG(rc == 0, "%s fails onnx.checker (rc %d)", name, rc);
    if (ort_missing == -1) {
        ort_missing = access("tests/onnx/node_modules/onnxruntime-node/package.json", F_OK) != 0 ||
                      run("node -e 0 >/dev/null 2>&1") != 0;
        if (ort_missing)
            printf("  note: ONNX Runtime skipped (needs node and `npm install --ignore-scripts` "
                   "in tests/onnx)\n");
    }
    if (ort_missing) return -1;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 77);
    int n_in = nb_model_input_count(m), n_out = nb_model_output_count(m);
    CHECK(n_in >= 1 && n_in <= 8 && n_out >= 1 && n_out <= 8);
    nb_tensor *xs[8] = {0}, *ys[8] = {0};
    snprintf(outp, sizeof outp, "%s.out", path);
    snprintf(cmd, sizeof cmd, "node tests/onnx/run_ort.js %s %s", path, outp);
    for (int i = 0; i < n_in && i < 8; i++) {
        int64_t shape[NB_MAX_RANK + 1];
        nb_dtype dt;
        int rank = nb_model_node_shape(m, nb_model_input_node(m, i), &dt, shape + 1);
        shape[0] = 3;
        char dims[128] = "";
        for (int k = 0; k <= rank; k++) {
            if (shape[k] < 0) shape[k] = 5;
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), k ? ",%lld" : "%lld",
                     (long long)shape[k]);
        }
        const char kind = kinds && i < (int)strlen(kinds) ? kinds[i] : 'x';
        if (kind == 'l' || kind == 'm') { /* lengths 1 .. T of the first input; masks of them */
            int64_t T = kind == 'm' ? shape[1] : 5, n = shape[0];
            xs[i] = nb_tensor_new(ctx, dt, rank + 1, shape);
            for (int64_t b = 0; b < n; b++) {
                int64_t len = 1 + (int64_t)nb_rng_below(&rng, (uint64_t)T);
                if (kind == 'l') nb_i32(xs[i])[b] = (int32_t)len;
                for (int64_t t = 0; kind == 'm' && t < T; t++) {
                    if (dt == NB_I32) nb_i32(xs[i])[b * T + t] = t < len;
                    if (dt == NB_F32) nb_f32(xs[i])[b * T + t] = t < len ? 1.0f : 0.0f;
                }
            }
        } else if (dt == NB_I32) {
            int64_t vocab = nbi_model_vocab(m);
            xs[i] = nb_tensor_new(ctx, NB_I32, rank + 1, shape);
            for (int64_t k = 0; k < xs[i]->numel; k++)
                nb_i32(xs[i])[k] = (int32_t)nb_rng_below(&rng, (uint64_t)(vocab > 0 ? vocab : 1));
        } else {
            xs[i] = nb_randn(ctx, rank + 1, shape, 0.0f, 1.5f, &rng);
        }
        char inp[256];
        snprintf(inp, sizeof inp, "%s.in%d", path, i);
        write_bytes(inp, xs[i]->data, xs[i]->numel);
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s:%s:%s", inp,
                 dt == NB_I32 ? "int32" : "float32", dims);
    }
    CHECK_OK(nb_model_infer_multi(m, ctx, xs, n_in, ys, n_out));
    for (int k = 0; k < n_out; k++) /* an output may be a view (a split's part) */
        if (ys[k]) ys[k] = nb_contiguous(ctx, ys[k]);
    rc = run(cmd);
    CHECK_MSG(rc == 0, "%s: ONNX Runtime failed (rc %d)", name, rc);
    double maxd = -1;
    int64_t total = 0;
    for (int k = 0; k < n_out && rc == 0 && ys[k]; k++) {
        char op[300];
        snprintf(op, sizeof op, "%s.%d", outp, k);
        FILE *f = fopen(op, "rb");
        CHECK_MSG(f != NULL, "%s: no output %d from ORT", name, k);
        if (!f) break;
        float *o = malloc(sizeof(float) * (size_t)ys[k]->numel);
        size_t got = fread(o, 4, (size_t)ys[k]->numel, f);
        CHECK_MSG(got == (size_t)ys[k]->numel && fgetc(f) == EOF, "%s: %zu values from ORT", name,
                  got);
        if (maxd < 0) maxd = 0;
        for (int64_t j = 0; j < (int64_t)got; j++) {
            double d = fabs((double)o[j] - nb_f32(ys[k])[j]);
            if (!(d <= maxd)) maxd = d;
        }
        total += (int64_t)got;
        free(o);
        fclose(f);
    }
    if (maxd >= 0) {
        printf("  %s: max |nabla - ORT| = %.3g over %lld values in %d output%s\n", name, maxd,
               (long long)total, n_out, n_out == 1 ? "" : "s");
        CHECK_MSG(maxd <= 1e-5, "%s: max difference %g", name, maxd);
    }
    nb_ctx_free(ctx);
    return maxd;
}

int nbt_onnx_prefixes_refused(const void *buf, size_t len) {
    int refused = 0;
    for (size_t n = 0; n < len; n++) {
        nb_model *p = NULL;
        nb_status st = nbi_model_from_onnx(buf, n, "cut.onnx", &p);
        CHECK((st == NB_OK) == (p != NULL));
        refused += st != NB_OK;
        nb_model_free(p);
    }
    return refused;
}
