/* dist_scaling — the scaling model of docs/distributed.md: step time and efficiency of
 * data-parallel training on 1 to 64 nodes, predicted with the α-β (latency-bandwidth) model of
 * ring all-reduce, for two models whose parameter counts and FLOPs per step are computed here
 * by formula. Prints a Markdown table and writes an SVG plot. No MPI needed.
 *
 *     dist_scaling [--gflops R] [--svg FILE]
 *
 * The model (weak scaling: every node keeps its batch, so N nodes do N times the work):
 *   compute    T_c = F / R, F the FLOPs of a step (forward 1/3, backward 2/3: the backward of a
 *              layer is two products of the forward's size), R a node's sustained rate
 *   all-reduce c(N) = 2(N−1)·α + 2(N−1)/N · (S/k)·β   ring all-reduce of one of k buckets of
 *              S/k bytes (256 KiB, nabla's default): 2(N−1) steps, each node sending and
 *              receiving 2(N−1)/N of the bucket; T_ar = k·c
 *   no overlap T(N) = T_c + T_ar(N)
 *   overlap    bucket j is ready at T_fwd + T_bwd·(j+1)/k (backward meets the buckets in
 *              turn), its sum starts when it is ready and the previous one is done:
 *              f_j = max(f_{j−1}, ready_j) + c, T(N) = f_{k−1}; the last bucket is never
 *              hidden (a model in one bucket hides nothing)
 *   efficiency E(N) = T(1) / T(N), with T(1) = T_c (one node communicates nothing)
 * Networks: 10 Gb/s Ethernet (α = 25 µs, TCP), 100 Gb/s InfiniBand (α = 2 µs); β = 8 / rate
 * s/byte at the nominal rate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET (256.0 * 1024) /* bytes */

typedef struct model {
    const char *name;
    double params, flops; /* per step, per node */
    int buckets;          /* 1 MiB buckets */
} model;

typedef struct net {
    const char *name;
    double alpha, beta;
} net;

/* The Fashion-MNIST CNN (examples/specs/fmnist_cnn.spec), batch 64 per node. */
static model cnn(void) {
    /* parameters: conv 1→32 5x5, conv 32→64 5x5, dense 1024→128, dense 128→10 (+ biases) */
    const double p = (32 * 25 + 32) + (64 * 32 * 25 + 64) + (1024 * 128 + 128) + (128 * 10 + 10);
    /* multiply-adds per sample, forward: conv1 32·24·24 outputs of 25, conv2 64·8·8 of 800,
     * the dense layers one per weight */
    const double macs = 32.0 * 24 * 24 * 25 + 64.0 * 8 * 8 * 32 * 25 + 1024.0 * 128 + 128.0 * 10;
    const double B = 64;
    model m = {"Fashion-MNIST CNN", p, 3 * 2 * macs * B, 0};
    m.buckets = (int)ceil(p * 4 / BUCKET);
    return m;
}

/* char-GPT: 2 layers, 4 heads, width d = 128, context T = 64, vocabulary V = 100, batch 32;
 * learned position embeddings, pre-norm blocks, the output layer tied to the embedding. */
static model gpt(void) {
    const double d = 128, T = 64, V = 100, L = 2, B = 32;
    /* per block: 2 layer norms (2d each), attention q,k,v (3d² + 3d), projection (d² + d),
     * MLP d→4d→d (4d² + 4d + 4d² + d) */
    const double block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (8 * d * d + 5 * d);
    const double p = V * d + T * d + L * block + 2 * d;
    /* FLOPs per token, forward: 2 per weight of the matrix products (24d² per block), the
     * attention scores and their weighted sum (2·T·d each per block, the whole context as
     * the usual estimate), the output layer 2dV */
    const double per_token = L * (24 * d * d + 4 * T * d) + 2 * d * V;
    model m = {"char-GPT (2x128, ctx 64)", p, 3 * per_token * T * B, 0};
    m.buckets = (int)ceil(p * 4 / BUCKET);
    return m;
}

/* one bucket's all-reduce */
static double t_bucket(const model *m, const net *n, int N) {
    if (N == 1) return 0.0;
    return 2.0 * (N - 1) * n->alpha + 2.0 * (N - 1) / N * (m->params * 4 / m->buckets) * n->beta;
}

static double t_ar(const model *m, const net *n, int N) {
    return m->buckets * t_bucket(m, n, N);
}

static double step(const model *m, const net *n, int N, double R, int overlap) {
    const double tc = m->flops / R, tf = tc / 3, tb = tc - tf, c = t_bucket(m, n, N);
    if (!overlap) return tc + m->buckets * c;
    double f = 0.0;
    for (int j = 0; j < m->buckets; j++) {
        const double ready = tf + tb * (j + 1) / m->buckets;
        f = (f > ready ? f : ready) + c;
    }
    return f > tc ? f : tc;
}

static void svg(const char *path, const model *ms, const net *ns, double R) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    const double W = 640, H = 400, x0 = 60, y0 = 30, pw = 420, ph = 320;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f,
            "<text x=\"%.0f\" y=\"18\">Data-parallel efficiency T(1)/T(N), ring all-reduce "
            "(α-β model), node %.0f GFLOP/s</text>\n",
            x0, R / 1e9);
    for (int i = 0; i <= 6; i++) { /* x: 1..64 nodes, log 2 */
        double x = x0 + pw * i / 6.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x,
                y0, x, y0 + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", x,
                y0 + ph + 16, 1 << i);
    }
    for (int i = 0; i <= 5; i++) { /* y: 0..1 */
        double y = y0 + ph - ph * i / 5.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0,
                y, x0 + pw, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", x0 - 6, y + 4,
                i / 5.0);
    }
    fprintf(f,
            "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"black\"/>\n",
            x0, y0, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">nodes</text>\n", x0 + pw / 2,
            y0 + ph + 34);
    fprintf(f,
            "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" "
            "text-anchor=\"middle\">efficiency</text>\n",
            y0 + ph / 2, y0 + ph / 2);
    static const char *const color[4] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
    int c = 0;
    for (int mi = 0; mi < 2; mi++)
        for (int ni = 0; ni < 2; ni++, c++)
            for (int ov = 1; ov >= 0; ov--) {
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                        color[c], ov ? "" : " stroke-dasharray=\"5,4\"");
                for (int i = 0; i <= 6; i++) {
                    const int N = 1 << i;
                    const double e =
                        step(&ms[mi], &ns[ni], 1, R, ov) / step(&ms[mi], &ns[ni], N, R, ov);
                    fprintf(f, "%.1f,%.1f ", x0 + pw * i / 6.0, y0 + ph - ph * e);
                }
                fprintf(f, "\"/>\n");
            }
    c = 0;
    for (int mi = 0; mi < 2; mi++)
        for (int ni = 0; ni < 2; ni++, c++) {
            const double y = y0 + 14 + 18 * c;
            fprintf(f,
                    "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
                    "stroke-width=\"2\"/>\n",
                    x0 + pw + 10, y, x0 + pw + 30, y, color[c]);
            fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"10\">%s, %s</text>\n", x0 + pw + 34,
                    y + 4, mi ? "GPT" : "CNN", ns[ni].name);
        }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"10\">solid: overlapped</text>\n",
            x0 + pw + 10, y0 + 14 + 18 * 4 + 6);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"10\">dashed: not overlapped</text>\n",
            x0 + pw + 10, y0 + 14 + 18 * 5 + 6);
    fprintf(f, "</svg>\n");
    fclose(f);
}

int main(int argc, char **argv) {
    double R = 100e9;
    const char *svg_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gflops") && i + 1 < argc)
            R = atof(argv[++i]) * 1e9;
        else if (!strcmp(argv[i], "--svg") && i + 1 < argc)
            svg_path = argv[++i];
        else {
            fprintf(stderr, "usage: dist_scaling [--gflops R] [--svg FILE]\n");
            return 2;
        }
    }
    if (!(R > 0)) return 2;
    const model ms[2] = {cnn(), gpt()};
    const net ns[2] = {{"10 Gb/s", 25e-6, 8.0 / 10e9}, {"100 Gb/s", 2e-6, 8.0 / 100e9}};
    printf("node rate R = %.0f GFLOP/s\n\n", R / 1e9);
    for (int mi = 0; mi < 2; mi++)
        printf("%s: %.0f parameters (%.2f MB of gradients, %d bucket%s of 256 KiB), %.3g GFLOP per "
               "step, T_c = %.2f ms\n",
               ms[mi].name, ms[mi].params, ms[mi].params * 4 / 1e6, ms[mi].buckets,
               ms[mi].buckets == 1 ? "" : "s", ms[mi].flops / 1e9, ms[mi].flops / R * 1e3);
    printf("\n| model | network | nodes | all-reduce | step, overlapped | efficiency | step, not "
           "overlapped | efficiency |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (int mi = 0; mi < 2; mi++)
        for (int ni = 0; ni < 2; ni++)
            for (int N = 1; N <= 64; N *= 2) {
                const double a = t_ar(&ms[mi], &ns[ni], N);
                const double to = step(&ms[mi], &ns[ni], N, R, 1),
                             tn = step(&ms[mi], &ns[ni], N, R, 0);
                const double t1 = step(&ms[mi], &ns[ni], 1, R, 1);
                printf("| %s | %s | %d | %.2f ms | %.2f ms | %.0f%% | %.2f ms | %.0f%% |\n",
                       mi ? "char-GPT" : "CNN", ns[ni].name, N, a * 1e3, to * 1e3, 100 * t1 / to,
                       tn * 1e3, 100 * t1 / tn);
            }
    if (svg_path) svg(svg_path, ms, ns, R);
    return 0;
}
