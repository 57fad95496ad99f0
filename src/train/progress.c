/* train/progress.c — what fit tells the user while it trains, on the stream the caller gave.
 *
 * On a terminal (isatty on that stream), a live bar per epoch, redrawn in place with '\r' at
 * most ten times a second (cut to the terminal's width):
 *     epoch 3/10 [=========>..........] 450/938 - ETA 5s - loss 0.4123 - ... - 48712 samples/s
 * and, when the epoch ends, the same line completed with the time and validation metrics.
 * Elsewhere (a pipe, a file, a CI log) only that final line, once per epoch:
 *     epoch 3/10 - 12.3s - 48712 samples/s - loss 0.4123 - accuracy 0.8512 - val_loss ...
 * Nothing is printed at verbose 0 (nb_fit_opts' NB_VERBOSE_QUIET) or without a stream. The
 * library never writes to stdout unless the caller passes stdout here. */
#define _POSIX_C_SOURCE 200809L /* fileno, isatty: declared by every libc only when asked */
#include "train/train.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BAR_WIDTH 20
#define REDRAW_S 0.1

void nbi_progress_init(nbi_progress *p, FILE *f, int verbose, nb_progress_mode mode, int64_t epochs,
                       unsigned metrics, int top_k) {
    memset(p, 0, sizeof *p);
    p->f = verbose > 0 ? f : NULL;
    p->verbose = verbose;
    p->epochs = epochs;
    p->metrics = metrics;
    p->top_k = top_k;
    if (p->f) {
        if (mode == NB_PROGRESS_BAR)
            p->bar = 1;
        else if (mode == NB_PROGRESS_AUTO)
            p->bar = isatty(fileno(p->f));
    }
    /* A live line longer than the terminal would wrap, and '\r' would then redraw only its
     * last row: the bar is cut to the width (the final line of an epoch is not). */
    struct winsize ws;
    if (p->bar && ioctl(fileno(p->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) p->width = ws.ws_col;
}

static void metric_part(char *buf, size_t n, size_t *k, const char *prefix,
                        const nb_metric_values *v, unsigned metrics, int top_k) {
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (*k < n) {                                                                              \
            int w_ = snprintf(buf + *k, n - *k, __VA_ARGS__);                                      \
            if (w_ > 0) *k += (size_t)w_;                                                          \
        }                                                                                          \
    } while (0)
    if (!isnan(v->loss)) PUT(" - %sloss %.4f", prefix, v->loss);
    if ((metrics & NB_METRIC_ACCURACY) && !isnan(v->accuracy))
        PUT(" - %saccuracy %.4f", prefix, v->accuracy);
    if ((metrics & NB_METRIC_TOP_K) && !isnan(v->top_k))
        PUT(" - %stop%d_accuracy %.4f", prefix, top_k, v->top_k);
    if ((metrics & NB_METRIC_MSE) && !isnan(v->mse)) PUT(" - %smse %.4g", prefix, v->mse);
    if ((metrics & NB_METRIC_MAE) && !isnan(v->mae)) PUT(" - %smae %.4g", prefix, v->mae);
    if ((metrics & NB_METRIC_R2) && !isnan(v->r2)) PUT(" - %sr2 %.4f", prefix, v->r2);
    if ((metrics & NB_METRIC_RMSE) && !isnan(v->rmse)) PUT(" - %srmse %.4g", prefix, v->rmse);
#undef PUT
}

void nbi_format_metrics(char *buf, size_t n, const nb_epoch_record *r, unsigned metrics,
                        int top_k) {
    size_t k = 0;
    buf[0] = 0;
    metric_part(buf, n, &k, "", &r->train, metrics, top_k);
    if (r->has_val) metric_part(buf, n, &k, "val_", &r->val, metrics, top_k);
}

static void clear_bar(nbi_progress *p) {
    if (p->bar && p->last_len > 0) {
        fprintf(p->f, "\r%*s\r", p->last_len, "");
        p->last_len = 0;
    }
}

void nbi_progress_epoch_begin(nbi_progress *p, int64_t epoch, int64_t num_batches,
                              int64_t samples) {
    p->epoch = epoch;
    p->num_batches = num_batches;
    p->samples = samples;
    p->t0 = nb_time();
    p->last_draw = -1.0;
    p->last_len = 0;
}

static void fmt_duration(char *b, size_t n, double s) {
    if (!(s >= 0) || s > 360000) {
        snprintf(b, n, "?");
    } else if (s < 60) {
        snprintf(b, n, "%.0fs", s);
    } else {
        long t = (long)(s + 0.5);
        if (t < 3600)
            snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
        else
            snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    }
}

/* "[=========>..........]" for done of total. */
static void bar_text(char *b, int64_t done, int64_t total) {
    int fill = total > 0 ? (int)((double)BAR_WIDTH * (double)done / (double)total) : BAR_WIDTH;
    if (fill > BAR_WIDTH) fill = BAR_WIDTH;
    b[0] = '[';
    for (int i = 0; i < BAR_WIDTH; i++) b[1 + i] = i < fill ? '=' : (i == fill ? '>' : '.');
    b[1 + BAR_WIDTH] = ']';
    b[2 + BAR_WIDTH] = 0;
}

static void draw(nbi_progress *p, const char *line) {
    int len = (int)strlen(line);
    /* pad over what the previous draw left on the line */
    fprintf(p->f, "\r%s%*s", line, p->last_len > len ? p->last_len - len : 0, "");
    fflush(p->f);
    p->last_len = len;
}

void nbi_progress_batch(nbi_progress *p, int64_t batch, int64_t done, const nb_metric_values *run) {
    if (!p->f || !p->bar) return;
    double now = nb_time();
    int last = batch + 1 >= p->num_batches;
    if (!last && p->last_draw >= 0 && now - p->last_draw < REDRAW_S) return;
    p->last_draw = now;
    double el = now - p->t0;
    double rate = el > 0 ? (double)done / el : 0.0;
    char bar[BAR_WIDTH + 3], eta[32], line[512];
    bar_text(bar, batch + 1, p->num_batches);
    fmt_duration(eta, sizeof eta, rate > 0 ? (double)(p->samples - done) / rate : -1.0);
    /* the speed last: on a narrow terminal it is what the cut removes */
    size_t k = (size_t)snprintf(line, sizeof line, "epoch %lld/%lld %s %lld/%lld - ETA %s",
                                (long long)p->epoch, (long long)p->epochs, bar,
                                (long long)(batch + 1), (long long)p->num_batches, eta);
    if (k < sizeof line) metric_part(line, sizeof line, &k, "", run, p->metrics, p->top_k);
    if (k < sizeof line) snprintf(line + k, sizeof line - k, " - %.0f samples/s", rate);
    if (p->width > 0 && strlen(line) >= (size_t)p->width) line[p->width - 1] = 0;
    draw(p, line);
}

void nbi_progress_epoch_end(nbi_progress *p, const nb_epoch_record *r, int best) {
    if (!p->f) return;
    char line[768], bar[BAR_WIDTH + 3];
    size_t k;
    if (p->bar) {
        bar_text(bar, 1, 1);
        k = (size_t)snprintf(line, sizeof line,
                             "epoch %lld/%lld %s %lld/%lld - %.*fs - %.0f "
                             "samples/s",
                             (long long)r->epoch, (long long)p->epochs, bar,
                             (long long)p->num_batches, (long long)p->num_batches,
                             r->seconds < 10 ? 2 : 1, r->seconds, r->samples_per_s);
    } else {
        k = (size_t)snprintf(line, sizeof line, "epoch %lld/%lld - %.*fs - %.0f samples/s",
                             (long long)r->epoch, (long long)p->epochs, r->seconds < 10 ? 2 : 1,
                             r->seconds, r->samples_per_s);
    }
    if (p->verbose >= 2 && k < sizeof line)
        k += (size_t)snprintf(line + k, sizeof line - k, " - lr %.4g", r->lr);
    if (k < sizeof line) {
        metric_part(line, sizeof line, &k, "", &r->train, p->metrics, p->top_k);
        if (r->has_val) metric_part(line, sizeof line, &k, "val_", &r->val, p->metrics, p->top_k);
    }
    if (p->verbose >= 2 && best && k < sizeof line) snprintf(line + k, sizeof line - k, " (best)");
    if (p->bar) {
        draw(p, line);
        fputc('\n', p->f);
        p->last_len = 0;
    } else {
        fprintf(p->f, "%s\n", line);
    }
    fflush(p->f);
}

void nbi_progress_clear(nbi_progress *p) {
    if (!p->f) return;
    clear_bar(p);
    fflush(p->f);
}

void nbi_progress_note(nbi_progress *p, int level, const char *fmt, ...) {
    if (!p->f || p->verbose < level) return;
    clear_bar(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->f, fmt, ap);
    va_end(ap);
    fputc('\n', p->f);
    fflush(p->f);
}
