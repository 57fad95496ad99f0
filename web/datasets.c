/* web/datasets.c — the playground's 2-D datasets, drawn from an explicit generator.
 *
 * Every set alternates its labels (sample i is class i mod 2), so any prefix is balanced,
 * and takes all its randomness from the nb_rng it is given: the same seed gives the same
 * points. Coordinates are scaled to lie within about [-1.2, 1.2]², and the noise (Gaussian,
 * standard deviation `noise` on each coordinate) is added in those final coordinates, so a
 * noise means the same on every set:
 *
 *   moons    sklearn's make_moons: class 0 on (cos t, sin t), class 1 on (1 − cos t,
 *            ½ − sin t), t ~ U(0, π); then centred on (½, ¼) and divided by 1.25
 *   circles  (r cos t, r sin t), t ~ U(0, 2π), r = 1 for class 0 and ½ for class 1
 *   spiral   arm k ∈ {0, 1}, its j-th of m points at s = j / (m − 1):
 *            r = 0.05 + 0.95 s,  θ = 1.75 · 2π s + kπ,  (r cos θ, r sin θ)
 *   xor      the four corners of the unit square, labels 0 1 1 0 (the method's first example) */
#include "playground.h"

#include <math.h>

#define PI 3.14159265358979323846

const char *pg_data_name(pg_data kind) {
    static const char *const names[PG_DATA_COUNT] = {"xor", "moons", "circles", "spiral"};
    return (unsigned)kind < PG_DATA_COUNT ? names[kind] : NULL;
}

static void make_xor(float *x, float *y) {
    static const float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    static const float Y[4] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++) {
        x[2 * i] = X[i][0];
        x[2 * i + 1] = X[i][1];
        y[i] = Y[i];
    }
}

static void make_moons(int n, nb_rng *rng, float *x) {
    for (int i = 0; i < n; i++) {
        double t = PI * nb_rng_uniform(rng), px, py;
        if (i % 2 == 0) {
            px = cos(t);
            py = sin(t);
        } else {
            px = 1.0 - cos(t);
            py = 0.5 - sin(t);
        }
        x[2 * i] = (float)((px - 0.5) / 1.25);
        x[2 * i + 1] = (float)((py - 0.25) / 1.25);
    }
}

static void make_circles(int n, nb_rng *rng, float *x) {
    for (int i = 0; i < n; i++) {
        double t = 2.0 * PI * nb_rng_uniform(rng), r = i % 2 == 0 ? 1.0 : 0.5;
        x[2 * i] = (float)(r * cos(t));
        x[2 * i + 1] = (float)(r * sin(t));
    }
}

static void make_spiral(int n, float *x) {
    for (int i = 0; i < n; i++) {
        int k = i % 2, j = i / 2;
        int m = (n - k + 1) / 2; /* points on arm k: samples k, k + 2, ... below n */
        double s = m > 1 ? (double)j / (m - 1) : 0.0;
        double r = 0.05 + 0.95 * s, th = 1.75 * 2.0 * PI * s + k * PI;
        x[2 * i] = (float)(r * cos(th));
        x[2 * i + 1] = (float)(r * sin(th));
    }
}

nb_status pg_data_make(pg_data kind, int n, float noise, nb_rng *rng, float *x, float *y) {
    if (!rng || !x || !y)
        return pg_set_error(NB_ERR_ARG, "pg_data_make: rng, x and y must not be NULL");
    if ((unsigned)kind >= PG_DATA_COUNT)
        return pg_set_error(NB_ERR_ARG,
                            "pg_data_make: unknown dataset %d (xor, moons, "
                            "circles or spiral)",
                            (int)kind);
    if (kind == PG_DATA_XOR && n != 4)
        return pg_set_error(NB_ERR_ARG, "pg_data_make: xor has 4 points, asked for %d", n);
    if (n < 2 || n > PG_MAX_POINTS)
        return pg_set_error(NB_ERR_ARG, "pg_data_make: %d points; use 2 to %d", n, PG_MAX_POINTS);
    if (!(noise >= 0.0f && noise <= 1.0f))
        return pg_set_error(NB_ERR_ARG, "pg_data_make: noise %g is outside 0..1", (double)noise);
    if (kind == PG_DATA_XOR && noise != 0.0f)
        return pg_set_error(NB_ERR_ARG,
                            "pg_data_make: xor is the four exact corners; its "
                            "noise must be 0, got %g",
                            (double)noise);

    switch (kind) {
    case PG_DATA_XOR:
        make_xor(x, y);
        return NB_OK;
    case PG_DATA_MOONS:
        make_moons(n, rng, x);
        break;
    case PG_DATA_CIRCLES:
        make_circles(n, rng, x);
        break;
    case PG_DATA_SPIRAL:
        make_spiral(n, x);
        break;
    default:
        break;
    }
    for (int i = 0; i < n; i++) {
        y[i] = (float)(i % 2);
        if (noise > 0.0f) { /* after the shape, so a seed's shape does not depend on noise */
            x[2 * i] += nb_rng_normal(rng, 0.0f, noise);
            x[2 * i + 1] += nb_rng_normal(rng, 0.0f, noise);
        }
    }
    return NB_OK;
}
