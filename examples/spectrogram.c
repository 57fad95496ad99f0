/* examples/spectrogram.c — look at a sound: the log-mel spectrogram of one WAV file, printed
 * as text (high bands at the top, time to the right) or written as an SVG picture.
 *
 *     spectrogram FILE.wav [--svg OUT.svg] [--mels N] [--features "key=value ..."]
 *
 * The file may have any rate and channel count: it is mixed down and resampled to the
 * pipeline's rate (16 kHz by default) first. The pipeline is nabla's default with --mels bands
 * (32) in dB, 70 dB deep; --features replaces it by a text form (see docs/audio.md) read over
 * the defaults, e.g. "n_mels=64 log=db top_db=80", or "n_mels=0" for linear frequencies. Without a file it makes one: a rising whistle with a click in the middle,
 * written to spectrogram_demo.wav. */
#include <nabla.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what) {
    fprintf(stderr, "spectrogram: %s: %s\n", what, nb_last_error());
    exit(1);
}

/* 1.5 s at 16 kHz: a tone gliding from 300 Hz to 3 kHz, its octave, and a click at 0.75 s */
static nb_audio make_demo(void) {
    nb_audio a = {0};
    a.frames = 24000;
    a.channels = 1;
    a.rate = 16000;
    a.data = nb_malloc(sizeof(float) * 24000);
    if (!a.data) die("demo");
    double phase = 0.0;
    for (int t = 0; t < 24000; t++) {
        double s = t / 16000.0, f = 300.0 * pow(10.0, s / 1.5);
        phase += 2 * 3.141592653589793 * f / 16000.0;
        a.data[t] = (float)(0.5 * sin(phase) + 0.15 * sin(2 * phase));
        if (t >= 12000 && t < 12040) a.data[t] += 0.8f * (float)((t % 2) ? 1 : -1);
    }
    return a;
}

/* one character per level, darkest last */
static void print_text(const float *x, int64_t F, int64_t T, double lo, double hi) {
    static const char ramp[] = " .:-=+*#%@";
    const int64_t width = T < 100 ? T : 100; /* columns: frames averaged in groups */
    for (int64_t f = F - 1; f >= 0; f--) {
        putchar('|');
        for (int64_t c = 0; c < width; c++) {
            int64_t t0 = c * T / width, t1 = (c + 1) * T / width;
            double s = 0;
            for (int64_t t = t0; t < t1; t++) s += x[f * T + t];
            double v = (s / (double)(t1 - t0) - lo) / (hi - lo);
            int k = (int)(v * 9.999);
            putchar(ramp[k < 0 ? 0 : k > 9 ? 9 : k]);
        }
        printf("|\n");
    }
}

static void write_svg(const char *path, const float *x, int64_t F, int64_t T, double lo, double hi,
                      double seconds) {
    FILE *o = fopen(path, "w");
    if (!o) {
        perror(path);
        exit(1);
    }
    const double cw = 4.0, ch = 6.0, W = cw * (double)T, H = ch * (double)F;
    fprintf(o,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"-40 -10 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"10\">\n",
            W + 50, H + 30, W + 50, H + 30);
    for (int64_t f = 0; f < F; f++)
        for (int64_t t = 0; t < T; t++) {
            double v = (x[f * T + t] - lo) / (hi - lo);
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            /* dark blue → yellow */
            int r = (int)(255 * v), g = (int)(220 * sqrt(v)), b = (int)(120 * (1 - v) + 20);
            fprintf(o,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"rgb(%d,%d,%d)\"/>\n",
                    cw * (double)t, H - ch * (double)(f + 1), cw + 0.2, ch + 0.2, r, g, b);
        }
    fprintf(o,
            "<text x=\"0\" y=\"%.0f\">0 s</text><text x=\"%.0f\" y=\"%.0f\" "
            "text-anchor=\"end\">%.2f s</text>\n",
            H + 14, W, H + 14, seconds);
    fprintf(o,
            "<text x=\"-4\" y=\"%.0f\" text-anchor=\"end\">low</text><text x=\"-4\" "
            "y=\"8\" text-anchor=\"end\">high</text>\n</svg>\n",
            H);
    if (fclose(o) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv) {
    const char *file = NULL, *svg = NULL, *text = NULL;
    long mels = 32;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc)
            svg = argv[++i];
        else if (strcmp(argv[i], "--mels") == 0 && i + 1 < argc)
            mels = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--features") == 0 && i + 1 < argc)
            text = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: spectrogram FILE.wav [--svg OUT.svg] [--mels N] "
                            "[--features TEXT]\n");
            return 2;
        } else
            file = argv[i];
    }
    nb_audio a;
    nb_wav_info info = {NB_WAV_F32, 1, 16000, 24000, 0};
    if (!file) {
        file = "(demo: a rising whistle with a click)";
        a = make_demo();
    } else if (nb_wav_read(file, &a, &info) != NB_OK) {
        die(file);
    }
    nb_features f = nb_features_default();
    f.n_mels = mels;
    f.log = NB_LOG_DB;
    f.top_db = 70;
    if (text && nb_features_parse(text, strlen(text), &f) != NB_OK) die("--features");
    nb_featurizer *fz;
    nb_tensor *S;
    if (nb_featurizer_new(&f, &fz) != NB_OK) die("features");
    if (nb_featurize_audio(fz, &a, &S) != NB_OK) die(file);
    const int64_t F = S->shape[0], T = S->shape[1];
    const float *x = nb_f32(S);
    double lo = x[0], hi = x[0];
    for (int64_t i = 0; i < F * T; i++) lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
    if (hi <= lo) hi = lo + 1;
    const double seconds = (double)a.frames / a.rate;
    char desc[1024];
    nb_features_format(&f, desc, sizeof desc);
    printf("%s: %s, %d channel(s), %d Hz, %.2f s -> %lld bands x %lld frames, %.1f .. %.1f\n", file,
           nb_wav_encoding_name(info.encoding), a.channels, a.rate, seconds, (long long)F,
           (long long)T, lo, hi);
    printf("features: %s\n", desc);
    if (svg) {
        write_svg(svg, x, F, T, lo, hi, seconds);
        printf("wrote %s\n", svg);
    } else {
        print_text(x, F, T, lo, hi);
    }
    nb_tensor_free(S);
    nb_featurizer_free(fz);
    nb_audio_free(&a);
    return 0;
}
