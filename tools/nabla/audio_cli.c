/* tools/nabla/audio_cli.c — audio data for the commands: a spec's `data audio=MANIFEST
 * features="..."` becomes a dataset of feature matrices [1, n_feat, n_frames] (decoded and
 * featurised once, in memory as f32 or, when only they fit, as halves), a WAV file or a manifest becomes rows to predict on,
 * featurised by the pipeline stored with the model, and `nabla eval` on audio adds the
 * accuracy per group (voice, speaker) of the manifest and a confusion matrix drawn as SVG. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int features_of(const cli_args *a, const char *text, nb_features *f) {
    if (!text) {
        *f = (nb_features){0}; /* the defaults */
        return CLI_OK;
    }
    return nb_features_parse(text, strlen(text), f) == NB_OK ? CLI_OK : cli_lib_error(a);
}

int cli_load_audio(const cli_args *a, const char *manifest, const char *features, const char *store,
                   int frames_first, nb_dataset **out) {
    *out = NULL;
    nb_features f;
    int rc = features_of(a, features, &f);
    if (rc != CLI_OK) return rc;
    nb_audio_store s = NB_AUDIO_STORE_AUTO; /* f32, else f16: never bytes (see cli.h) */
    if (store && !strcmp(store, "f32"))
        s = NB_AUDIO_STORE_F32;
    else if (store && !strcmp(store, "f16"))
        s = NB_AUDIO_STORE_F16;
    else if (store && store[0] && strcmp(store, "auto"))
        return cli_error(a, CLI_USAGE, "--store: expected auto, f32 or f16, got '%s'", store);
    nb_audio_data_opts o = {
        .features = &f, .store = s, .frames_first = frames_first, .floats_only = 1};
    if (nb_audio_dataset_load(manifest, &o, out, NULL) != NB_OK) return cli_lib_error(a);
    return CLI_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

bool cli_is_wav(const char *path) {
    return ends_with(path, ".wav") || ends_with(path, ".WAV") || ends_with(path, ".wave");
}

/* One clip's features into x (F·T floats), checked against the model's input size. */
static int featurize_file(const cli_args *a, const nb_featurizer *fz, const char *path,
                          int64_t features, int frames_first, float *x) {
    nb_audio clip;
    if (nb_wav_read(path, &clip, NULL) != NB_OK) return cli_lib_error(a);
    nb_tensor *t = NULL;
    nb_status s = nb_featurize_audio(fz, &clip, &t);
    nb_audio_free(&clip);
    if (s != NB_OK) return cli_lib_error(a);
    int rc = CLI_OK;
    if (t->numel != features)
        rc = cli_error(a, CLI_FAIL,
                       "%s gives %lld features ([%lld, %lld]) but the model takes %lld: give the "
                       "pipeline a fixed length (features=\"length=...\") when training",
                       path, (long long)t->numel, (long long)t->shape[0], (long long)t->shape[1],
                       (long long)features);
    else if (!frames_first)
        memcpy(x, t->data, sizeof(float) * (size_t)features);
    else /* [F, T] → [T, F]: the frames as a sequence */
        for (int64_t fi = 0, F = t->shape[0], T = t->shape[1]; fi < F; fi++)
            for (int64_t ti = 0; ti < T; ti++)
                x[ti * F + fi] = ((const float *)t->data)[fi * T + ti];
    nb_tensor_free(t);
    return rc;
}

int cli_audio_rows(const cli_args *a, const char *path, const char *features_text, int64_t features,
                   int frames_first, cli_rows *out) {
    memset(out, 0, sizeof *out);
    nb_features f;
    int rc = features_of(a, features_text, &f);
    nb_featurizer *fz = NULL;
    if (rc == CLI_OK && nb_featurizer_new(&f, &fz) != NB_OK) rc = cli_lib_error(a);
    nb_manifest m;
    memset(&m, 0, sizeof m);
    const bool wav = cli_is_wav(path);
    if (rc == CLI_OK && !wav && nb_manifest_read(path, &m) != NB_OK) rc = cli_lib_error(a);
    const int64_t n = wav ? 1 : m.n;
    if (rc == CLI_OK) {
        out->x = cli_malloc(sizeof(float) * (size_t)(n * features));
        out->labels = wav ? NULL : cli_malloc(sizeof(int32_t) * (size_t)n);
        if (!out->x || (!wav && !out->labels)) rc = cli_error(a, CLI_FAIL, "out of memory");
    }
    for (int64_t i = 0; rc == CLI_OK && i < n; i++) {
        rc = featurize_file(a, fz, wav ? path : m.paths[i], features, frames_first,
                            out->x + i * features);
        if (!wav) out->labels[i] = m.labels[i];
    }
    out->n = n;
    out->features = features;
    out->num_classes = wav ? 0 : m.num_classes;
    nb_manifest_free(&m);
    nb_featurizer_free(fz);
    if (rc != CLI_OK) cli_rows_free(out);
    return rc;
}

/* ---- eval on audio: accuracy per group and the confusion matrix as SVG ---------------------- */

static void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
}

/* A K×K grid, row = true class, column = predicted, each cell shaded by its share of the row
 * and labelled with its count. */
static int write_svg(const cli_args *a, const char *path, const int64_t *cm, int K,
                     const nb_model *m, double acc) {
    nb_atomic_file *af;
    if (nb_atomic_open(path, 0, &af) != NB_OK) return cli_lib_error(a);
    FILE *f = nb_atomic_stream(af);
    const int cell = 40, left = 90, top = 60, w = left + K * cell + 20, h = top + K * cell + 50;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"20\" font-size=\"14\">confusion matrix (accuracy %.4f)</text>\n"
            "<text x=\"%d\" y=\"42\">predicted →</text>\n"
            "<text x=\"10\" y=\"%d\">true ↓</text>\n",
            w, h, left, acc, left, top - 4);
    for (int i = 0; i < K; i++) {
        const char *name = i < nb_model_class_count(m) ? nb_model_class_name(m, i) : NULL;
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6,
                top + i * cell + cell / 2 + 4);
        svg_text(f, name ? name : num);
        fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
                left + i * cell + cell / 2, top + K * cell + 16);
        svg_text(f, name ? name : num);
        fprintf(f, "</text>\n");
        int64_t row = 0;
        for (int j = 0; j < K; j++) row += cm[i * K + j];
        for (int j = 0; j < K; j++) {
            const int64_t c = cm[i * K + j];
            const double share = row ? (double)c / (double)row : 0.0;
            const int shade = (int)(255.0 * (1.0 - share) + 0.5);
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" "
                    "stroke=\"#ccc\"/>\n",
                    left + j * cell, top + i * cell, cell, cell, shade, shade);
            if (c)
                fprintf(f,
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%lld</text>\n",
                        left + j * cell + cell / 2, top + i * cell + cell / 2 + 4,
                        share > 0.5 ? "white" : "black", (long long)c);
        }
    }
    fprintf(f, "</svg>\n");
    return nb_atomic_commit(af) == NB_OK ? CLI_OK : cli_lib_error(a);
}

int cli_audio_report(const cli_args *a, const nb_model *m, const char *manifest,
                     const nb_dataset *ds, const nb_norm *norm, const char *svg_path) {
    nb_manifest man;
    if (nb_manifest_read(manifest, &man) != NB_OK) return cli_lib_error(a);
    nb_dataset_info di;
    nb_dataset_get_info(ds, &di);
    int64_t in[NB_MAX_RANK + 1], out_shape[NB_MAX_RANK];
    int rank = nb_model_input_shape(m, in + 1);
    nb_model_output_shape(m, out_shape);
    const int K = (int)out_shape[0];
    int64_t feat = 1;
    for (int i = 1; i <= rank; i++) feat *= in[i];
    const int64_t batch = 128, G = man.groups ? man.num_groups : 0;
    float *x = cli_malloc(sizeof(float) * (size_t)(batch * feat));
    int32_t *y = cli_malloc(sizeof(int32_t) * (size_t)batch);
    int64_t *idx = cli_malloc(sizeof(int64_t) * (size_t)batch);
    int64_t *cm = calloc((size_t)K * (size_t)K, sizeof *cm);
    int64_t *gok = calloc((size_t)G + 1, sizeof *gok), *gn = calloc((size_t)G + 1, sizeof *gn);
    nb_ctx *ctx = nb_ctx_new(NULL);
    int rc =
        x && y && idx && cm && gok && gn && ctx ? CLI_OK : cli_error(a, CLI_FAIL, "out of memory");
    if (rc == CLI_OK && man.n != di.n)
        rc = cli_error(a, CLI_FAIL, "%s: %lld rows, the data set %lld samples", manifest,
                       (long long)man.n, (long long)di.n);
    int64_t correct = 0;
    for (int64_t i = 0; rc == CLI_OK && i < di.n; i += batch) {
        int64_t b = di.n - i < batch ? di.n - i : batch;
        for (int64_t s = 0; s < b; s++) idx[s] = i + s;
        if (nb_dataset_gather(ds, idx, b, norm, x, y) != NB_OK) {
            rc = cli_lib_error(a);
            break;
        }
        in[0] = b;
        nb_tensor *out = nb_model_infer(m, ctx, nb_tensor_from(ctx, NB_F32, x, rank + 1, in));
        out = out ? nb_contiguous(ctx, out) : NULL;
        if (!out) {
            rc = cli_lib_error(a);
            break;
        }
        const float *o = out->data;
        for (int64_t s = 0; s < b; s++) {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (o[s * K + k] > o[s * K + best]) best = k;
            const int t = y[s];
            if (t >= 0 && t < K) cm[t * K + best]++;
            correct += best == t;
            if (G) {
                gn[man.groups[i + s]]++;
                gok[man.groups[i + s]] += best == t;
            }
        }
        nb_ctx_reset(ctx);
    }
    if (rc == CLI_OK && G) {
        printf("\naccuracy per group (%lld groups)\n", (long long)G);
        for (int64_t g = 0; g < G; g++) {
            printf("  %-24s %.4f  (%lld of %lld)\n", man.group_names[g],
                   gn[g] ? (double)gok[g] / (double)gn[g] : 0.0, (long long)gok[g],
                   (long long)gn[g]);
        }
    }
    if (rc == CLI_OK && svg_path)
        rc = write_svg(a, svg_path, cm, K, m, di.n ? (double)correct / (double)di.n : 0.0);
    nb_ctx_free(ctx);
    free(cm);
    free(gok);
    free(gn);
    cli_free(x);
    cli_free(y);
    cli_free(idx);
    nb_manifest_free(&man);
    return rc;
}

/* ---- info: the feature pipeline a model file stores ------------------------------------------ */

void cli_audio_print_pipeline(const char *text) {
    nb_features f = {0}; /* no text: the defaults */
    if (text && nb_features_parse(text, strlen(text), &f) != NB_OK) {
        printf("features:      (unreadable: ");
        cli_put_escaped(stdout, nb_last_error());
        printf(")\n");
        return;
    }
    f = nb_features_resolved(&f);
    static const char *const windows[] = {"Hann", "Hamming", "rectangular"};
    static const char *const pads[] = {"reflect", "constant", "replicate", "circular"};
    static const char *const norms[] = {"none", "mean", "mean and variance"};
    const int64_t win = f.win_length > 0 ? f.win_length : f.n_fft;
    const int64_t hop = f.hop > 0 ? f.hop : f.n_fft / 4;
    printf("features:      WAV clips (data audio=), featurised before the model:\n");
    printf("  1. mono, resampled to %d Hz", f.rate);
    if (f.length > 0)
        printf(", cut or padded to %lld samples (%.3g s, %s)", (long long)f.length,
               (double)f.length / f.rate,
               f.align == NB_ALIGN_CENTER ? "centred" : "from the start");
    printf("\n  2. STFT: n_fft %lld, hop %lld, %s window of %lld (%s)%s%s\n", (long long)f.n_fft,
           (long long)hop, windows[f.window % 3], (long long)win,
           f.symmetric ? "symmetric" : "periodic",
           f.no_center ? ", not centred" : ", centred, padding ",
           f.no_center ? "" : pads[f.pad % 4]);
    printf("  3. |X|^%g%s\n", f.power, f.normalized ? " (normalised by 1/sqrt(n_fft))" : "");
    int step = 4;
    if (f.n_mels > 0)
        printf("  %d. %lld mel bands (%s scale%s), %g – %g Hz\n", step++, (long long)f.n_mels,
               f.mel_scale == NB_MEL_SLANEY ? "Slaney" : "HTK",
               f.mel_norm == NB_MEL_NORM_SLANEY ? ", Slaney area norm" : "", f.f_min,
               f.f_max > 0 ? f.f_max : f.rate / 2.0);
    if (f.log == NB_LOG_LN) printf("  %d. ln(x + %g)\n", step++, f.log_eps);
    if (f.log == NB_LOG_DB)
        printf("  %d. decibels 10·log10(max(x, %g))%s\n", step++, f.amin,
               f.top_db > 0 ? ", floored at the peak minus top_db" : "");
    if (f.n_mfcc > 0) printf("  %d. %lld MFCCs (DCT-II, ortho)\n", step++, (long long)f.n_mfcc);
    if (f.norm != NB_UTT_NONE)
        printf("  %d. per-utterance normalisation over frames: %s\n", step++, norms[f.norm % 3]);
    if (f.length > 0) {
        int64_t F, T;
        if (nb_features_shape(&f, f.length, &F, &T) == NB_OK)
            printf("  → [%lld features, %lld frames] per clip\n", (long long)F, (long long)T);
    }
}

int cli_frames_first(const nb_model *m) {
    int64_t shape[NB_MAX_RANK];
    return nb_model_input_shape(m, shape) == 2;
}
