/* train/plot.c — the training curves as an SVG file, drawn by nabla itself: a loss panel and,
 * when accuracy was measured, an accuracy panel, each with axes, "nice" ticks (1, 2 or 5
 * times a power of ten), grid lines, axis labels, the train curve (solid) and the validation
 * curve (dashed), and a legend. Plain SVG 1.1 that any browser shows; written atomically.
 *
 * A value that was not measured (NaN), or one no plot can place (an infinite loss, or beyond
 * ±1e300), breaks its curve rather than drawing to zero or off to infinity: every coordinate
 * written is a finite number. */
#include "train/train.h"
#include "base/file.h"

#include <math.h>
#include <string.h>

#define PANEL_W 480.0
#define PANEL_H 360.0
#define M_LEFT 64.0   /* room for the y tick labels and the axis label */
#define M_RIGHT 16.0
#define M_TOP 56.0    /* the title and the panel title */
#define M_BOTTOM 48.0 /* the x tick labels and the axis label */
#define MARKER_MAX 60 /* points get markers up to this many epochs */

/* Can v be placed on an axis? (±1e300 keeps every difference of two values finite.) */
static int plottable(double v) {
    return isfinite(v) && fabs(v) <= 1e300;
}

static const char *const COLOR_TRAIN = "#1f77b4";
static const char *const COLOR_VAL = "#ff7f0e";

/* An axis: the data range widened to whole ticks of a nice step. */
typedef struct axis {
    double lo, hi, step;
    int decimals;
} axis;

static double nice_step(double raw) {
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * p;
}

/* About `ticks` intervals over [lo, hi]; integer steps when `integer`. */
static axis make_axis(double lo, double hi, int ticks, int integer) {
    axis a;
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        if (integer) pad = 1.0;
        lo -= pad;
        hi += pad;
    }
    a.step = nice_step((hi - lo) / ticks);
    if (integer && a.step < 1.0) a.step = 1.0;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    a.decimals = a.step >= 1.0 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    if (a.decimals > 9) a.decimals = 9;
    return a;
}

static void escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Which value of a record a panel shows. */
typedef double (*getter)(const nb_epoch_record *r, int val);
static double get_loss(const nb_epoch_record *r, int val) {
    return val ? (r->has_val ? r->val.loss : NAN) : r->train.loss;
}
static double get_acc(const nb_epoch_record *r, int val) {
    return val ? (r->has_val ? r->val.accuracy : NAN) : r->train.accuracy;
}

/* The number of steps from lo to hi: counted, not walked with t += step, which stops moving
 * when the step is below the precision of t (values near 1e300 that differ by an ulp). */
static int ticks(const axis *a) {
    double n = floor((a->hi - a->lo) / a->step + 1e-6);
    return n >= 0 && n <= 100 ? (int)n : 0;
}

typedef struct panel {
    double x0, y0, w, h; /* the plot area */
    axis ax, ay;
} panel;

static double px(const panel *p, double x) { return p->x0 + (x - p->ax.lo) / (p->ax.hi - p->ax.lo) * p->w; }
static double py(const panel *p, double y) { return p->y0 + p->h - (y - p->ay.lo) / (p->ay.hi - p->ay.lo) * p->h; }

/* One curve: polylines over runs of measured values, and markers. */
static void curve(FILE *f, const panel *p, const nb_history *h, getter get, int val,
                  const char *color) {
    const char *dash = val ? " stroke-dasharray=\"6 4\"" : "";
    int open = 0;
    for (int i = 0; i < h->n; i++) {
        double v = get(&h->rec[i], val);
        if (!plottable(v)) {
            if (open) fputs("\"/>\n", f);
            open = 0;
            continue;
        }
        if (!open)
            fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
                    "points=\"", val ? "val" : "train", color, dash);
        fprintf(f, "%s%.2f,%.2f", open ? " " : "", px(p, (double)h->rec[i].epoch), py(p, v));
        open = 1;
    }
    if (open) fputs("\"/>\n", f);
    if (h->n > MARKER_MAX) return;
    for (int i = 0; i < h->n; i++) {
        double v = get(&h->rec[i], val);
        if (plottable(v))
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    px(p, (double)h->rec[i].epoch), py(p, v), color);
    }
}

/* clamp01: an accuracy panel (axis within [0, 1], legend at the bottom, below the rising
 * curves; the loss panel's is at the top, above the falling ones). */
static void draw_panel(FILE *f, double ox, const nb_history *h, getter get, const char *name,
                       int clamp01) {
    /* data ranges */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int has_val = 0;
    for (int i = 0; i < h->n; i++) {
        double e = (double)h->rec[i].epoch;
        xlo = fmin(xlo, e);
        xhi = fmax(xhi, e);
        for (int v = 0; v < 2; v++) {
            double y = get(&h->rec[i], v);
            if (!plottable(y)) continue;
            ylo = fmin(ylo, y);
            yhi = fmax(yhi, y);
            has_val |= v;
        }
    }
    if (!(xlo <= xhi)) xlo = xhi = 1;
    if (!(ylo <= yhi)) ylo = yhi = 0;
    panel p;
    p.x0 = ox + M_LEFT;
    p.y0 = M_TOP;
    p.w = PANEL_W - M_LEFT - M_RIGHT;
    p.h = PANEL_H - M_TOP - M_BOTTOM;
    p.ax = make_axis(xlo, xhi, 6, 1);
    p.ay = make_axis(ylo, yhi, 5, 0);
    if (clamp01) {
        if (p.ay.lo < 0) p.ay.lo = 0;
        if (p.ay.hi > 1) p.ay.hi = 1;
        if (!(p.ay.hi > p.ay.lo)) p.ay = make_axis(0, 1, 5, 0);
    }

    fprintf(f, "<g class=\"panel\" id=\"%s\">\n", name);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" "
            "font-weight=\"bold\">%s</text>\n", p.x0 + p.w / 2, M_TOP - 12, name);
    /* grid and ticks */
    fputs("<g font-size=\"11\" fill=\"#333\">\n", f);
    for (int i = 0, n = ticks(&p.ay); i <= n; i++) {
        double t = p.ay.lo + i * p.ay.step, y = py(&p, t);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>\n",
                p.x0, y, p.x0 + p.w, y);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n",
                p.x0 - 5, y, p.x0, y);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.*f</text>\n", p.x0 - 8,
                y + 4, p.ay.decimals, fabs(t) < p.ay.step * 1e-9 ? 0.0 : t);
    }
    for (int i = 0, n = ticks(&p.ax); i <= n; i++) {
        double t = p.ax.lo + i * p.ax.step, x = px(&p, t);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>\n",
                x, p.y0, x, p.y0 + p.h);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n", x,
                p.y0 + p.h, x, p.y0 + p.h + 5);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%.0f</text>\n", x,
                p.y0 + p.h + 18, t);
    }
    fputs("</g>\n", f);
    /* axes and their labels */
    fprintf(f, "<path d=\"M%.2f,%.2f V%.2f H%.2f\" fill=\"none\" stroke=\"#333\"/>\n", p.x0, p.y0,
            p.y0 + p.h, p.x0 + p.w);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n",
            p.x0 + p.w / 2, PANEL_H - 10);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\" "
            "transform=\"rotate(-90 %.2f %.2f)\">%s</text>\n", ox + 16, p.y0 + p.h / 2, ox + 16,
            p.y0 + p.h / 2, name);
    /* curves */
    curve(f, &p, h, get, 0, COLOR_TRAIN);
    if (has_val) curve(f, &p, h, get, 1, COLOR_VAL);
    /* legend, at the right of the plot area */
    double lx = p.x0 + p.w - 110, ly = clamp01 ? p.y0 + p.h - 8 - (has_val ? 40 : 22) : p.y0 + 8;
    fprintf(f, "<g class=\"legend\" font-size=\"11\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"104\" "
            "height=\"%d\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n", lx, ly,
            has_val ? 40 : 22);
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
            "stroke-width=\"2\"/>\n<text x=\"%.2f\" y=\"%.2f\">train</text>\n", lx + 8, ly + 11,
            lx + 32, ly + 11, COLOR_TRAIN, lx + 38, ly + 15);
    if (has_val)
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                "stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n<text x=\"%.2f\" y=\"%.2f\">"
                "validation</text>\n", lx + 8, ly + 29, lx + 32, ly + 29, COLOR_VAL, lx + 38,
                ly + 33);
    fputs("</g>\n</g>\n", f);
}

nb_status nb_history_write_svg(const nb_history *h, const char *path, const char *title) {
    if (!h || !path) return nbi_error(NB_ERR_ARG, "nb_history_write_svg: NULL argument");
    int acc = 0;
    for (int i = 0; i < h->n; i++) acc |= !isnan(h->rec[i].train.accuracy);
    const double W = acc ? 2 * PANEL_W : PANEL_W;
    nbi_atomic_file af;
    nb_status s = nbi_atomic_open(&af, path);
    if (s != NB_OK) return s;
    FILE *f = af.f;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n", W, PANEL_H,
            W, PANEL_H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    escape(f, title ? title : "training history");
    fprintf(f, "</text>\n");
    draw_panel(f, 0, h, get_loss, "loss", 0);
    if (acc) draw_panel(f, PANEL_W, h, get_acc, "accuracy", 1);
    fputs("</svg>\n", f);
    if (ferror(f)) {
        nbi_atomic_abort(&af);
        return nbi_error(NB_ERR_IO, "cannot write the plot to '%s'", path);
    }
    return nbi_atomic_commit(&af);
}
