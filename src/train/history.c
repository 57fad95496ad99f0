/* train/history.c — the per-epoch history: records by metric name, the CSV log (written
 * atomically after every epoch, so a crash leaves the previous complete file) and its reader,
 * which a resumed run uses to continue the log.
 *
 * CSV columns: epoch, step, lr, seconds, samples_per_s, then loss and each measured metric
 * (accuracy, top<k>_accuracy, mse, mae), then the same with a val_ prefix when any epoch was
 * validated. Numbers carry 9 significant digits (enough to give back the same double for
 * the float-derived values); an empty cell is a value not measured; a loss that diverged is
 * written "inf" (or "-inf") and read back as such, so a resumed run can continue its log. */
#include "train/train.h"
#include "base/file.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void nb_history_free(nb_history *h) {
    if (!h) return;
    nbi_free(h->rec);
    memset(h, 0, sizeof *h);
}

/* fit reserves the run's epochs before the first, so appending never allocates. */
nb_status nbi_history_reserve(nb_history *h, int64_t n) {
    if (n <= h->cap) return NB_OK;
    if (n > (int64_t)1 << 30)
        return nbi_error(NB_ERR_ARG, "history: %lld epochs is too many", (long long)n);
    nb_epoch_record *r = nbi_malloc_for("history", sizeof *r * (size_t)n);
    if (!r) return NB_ERR_NOMEM;
    if (h->n) memcpy(r, h->rec, sizeof *r * (size_t)h->n);
    nbi_free(h->rec);
    h->rec = r;
    h->cap = (int)n;
    return NB_OK;
}

/* ---- metric names ------------------------------------------------------------------------ */

/* The metric part of a name ("loss", "accuracy", "top5_accuracy", ...) -> the field of v. */
static double *metric_field(nb_metric_values *v, const char *name, int top_k) {
    if (strcmp(name, "loss") == 0) return &v->loss;
    if (strcmp(name, "accuracy") == 0) return &v->accuracy;
    if (strcmp(name, "mse") == 0) return &v->mse;
    if (strcmp(name, "mae") == 0) return &v->mae;
    char tk[32];
    snprintf(tk, sizeof tk, "top%d_accuracy", top_k > 0 ? top_k : 5);
    if (strcmp(name, tk) == 0) return &v->top_k;
    return NULL;
}

static double *record_field(nb_epoch_record *r, const char *name, int top_k) {
    if (strcmp(name, "lr") == 0) return &r->lr;
    if (strcmp(name, "seconds") == 0) return &r->seconds;
    if (strcmp(name, "samples_per_s") == 0) return &r->samples_per_s;
    if (strncmp(name, "val_", 4) == 0) return metric_field(&r->val, name + 4, top_k);
    return metric_field(&r->train, name, top_k);
}

nb_status nb_record_value(const nb_epoch_record *r, const char *name, int top_k, double *out) {
    if (!r || !name || !out)
        return nbi_error(NB_ERR_ARG, "nb_record_value: NULL argument");
    if (strcmp(name, "epoch") == 0) {
        *out = (double)r->epoch;
        return NB_OK;
    }
    double *f = record_field((nb_epoch_record *)r, name, top_k);
    if (!f)
        return nbi_error(NB_ERR_ARG, "unknown metric '%s': use loss, accuracy, top%d_accuracy, "
                         "mse or mae, each optionally with a val_ prefix, or lr, seconds, "
                         "samples_per_s", name, top_k > 0 ? top_k : 5);
    *out = *f;
    return NB_OK;
}

/* ---- columns ------------------------------------------------------------------------------- */

#define MAX_COLS 16

typedef struct columns {
    int n;
    char name[MAX_COLS][40];
} columns;

static void add_col(columns *c, const char *name) {
    NBI_ASSERT(c->n < MAX_COLS);
    snprintf(c->name[c->n++], sizeof c->name[0], "%s", name);
}

static void metric_cols(columns *c, const char *prefix, unsigned metrics, int top_k) {
    char b[32];
    snprintf(b, sizeof b, "%sloss", prefix);
    add_col(c, b);
    if (metrics & NB_METRIC_ACCURACY) {
        snprintf(b, sizeof b, "%saccuracy", prefix);
        add_col(c, b);
    }
    if (metrics & NB_METRIC_TOP_K) {
        snprintf(b, sizeof b, "%stop%d_accuracy", prefix, top_k > 0 ? top_k : 5);
        add_col(c, b);
    }
    if (metrics & NB_METRIC_MSE) {
        snprintf(b, sizeof b, "%smse", prefix);
        add_col(c, b);
    }
    if (metrics & NB_METRIC_MAE) {
        snprintf(b, sizeof b, "%smae", prefix);
        add_col(c, b);
    }
}

static void history_cols(const nb_history *h, columns *c) {
    c->n = 0;
    add_col(c, "epoch");
    add_col(c, "step");
    add_col(c, "lr");
    add_col(c, "seconds");
    add_col(c, "samples_per_s");
    metric_cols(c, "", h->metrics, h->top_k);
    int val = 0;
    for (int i = 0; i < h->n; i++) val |= h->rec[i].has_val;
    if (val) metric_cols(c, "val_", h->metrics, h->top_k);
}

/* ---- writing ------------------------------------------------------------------------------- */

nb_status nb_history_write_csv(const nb_history *h, const char *path) {
    if (!h || !path) return nbi_error(NB_ERR_ARG, "nb_history_write_csv: NULL argument");
    columns c;
    history_cols(h, &c);
    nbi_atomic_file af;
    nb_status s = nbi_atomic_open(&af, path);
    if (s != NB_OK) return s;
    for (int j = 0; j < c.n; j++) fprintf(af.f, "%s%s", j ? "," : "", c.name[j]);
    fputc('\n', af.f);
    for (int i = 0; i < h->n; i++) {
        const nb_epoch_record *r = &h->rec[i];
        fprintf(af.f, "%lld,%lld", (long long)r->epoch, (long long)r->step);
        for (int j = 2; j < c.n; j++) {
            double v = *record_field((nb_epoch_record *)r, c.name[j], h->top_k);
            if (isnan(v))
                fputc(',', af.f);
            else
                fprintf(af.f, ",%.9g", v);
        }
        fputc('\n', af.f);
    }
    if (ferror(af.f)) {
        nbi_atomic_abort(&af);
        return nbi_error(NB_ERR_IO, "cannot write the history to '%s'", path);
    }
    return nbi_atomic_commit(&af);
}

/* ---- reading ------------------------------------------------------------------------------- */

static nb_metric_values nan_values(void) {
    nb_metric_values v = {NAN, NAN, NAN, NAN, NAN, 0};
    return v;
}

/* The next line of buf[*pos..len) as [start, end) without its line break. */
static int next_line(const char *buf, size_t len, size_t *pos, size_t *start, size_t *end) {
    if (*pos >= len) return 0;
    *start = *pos;
    size_t e = *pos;
    while (e < len && buf[e] != '\n') e++;
    *pos = e < len ? e + 1 : e;
    if (e > *start && buf[e - 1] == '\r') e--;
    *end = e;
    return 1;
}

nb_status nb_history_parse_csv(nb_history *h, const char *buf, size_t len, const char *name) {
    if (!h || (!buf && len) || !name)
        return nbi_error(NB_ERR_ARG, "nb_history_parse_csv: NULL argument");
    size_t pos = 0, a, b;
    if (!next_line(buf, len, &pos, &a, &b))
        return nbi_error(NB_ERR_FORMAT, "%s: empty file, expected a history header "
                         "(epoch,step,lr,...)", name);
    /* the header: known names only, epoch first */
    columns c = {0};
    unsigned metrics = 0;
    int top_k = 0, has_val = 0;
    size_t col0 = a;
    for (size_t p = a; p <= b; p++) {
        if (p < b && buf[p] != ',') continue;
        size_t w = p - col0;
        if (c.n == MAX_COLS || w == 0 || w >= sizeof c.name[0])
            return nbi_error(NB_ERR_FORMAT, "%s:1:%zu: %s", name, col0 - a + 1,
                             c.n == MAX_COLS ? "too many columns" : "bad column name");
        memcpy(c.name[c.n], buf + col0, w);
        c.name[c.n][w] = 0;
        const char *m = c.name[c.n];
        if (strncmp(m, "val_", 4) == 0) {
            m += 4;
            has_val = 1;
        }
        int k;
        char tail[24];
        if (strcmp(m, "accuracy") == 0)
            metrics |= NB_METRIC_ACCURACY;
        else if (strcmp(m, "mse") == 0)
            metrics |= NB_METRIC_MSE;
        else if (strcmp(m, "mae") == 0)
            metrics |= NB_METRIC_MAE;
        else if (sscanf(m, "top%d%23s", &k, tail) == 2 && strcmp(tail, "_accuracy") == 0 &&
                 k >= 1 && k < 100000) {
            if (top_k && top_k != k)
                return nbi_error(NB_ERR_FORMAT, "%s:1:%zu: two different top-k columns", name,
                                 col0 - a + 1);
            top_k = k;
            metrics |= NB_METRIC_TOP_K;
        } else if (strcmp(m, "loss") != 0 && (m != c.name[c.n] ||
                                              (strcmp(m, "epoch") != 0 && strcmp(m, "step") != 0 &&
                                               strcmp(m, "lr") != 0 && strcmp(m, "seconds") != 0 &&
                                               strcmp(m, "samples_per_s") != 0)))
            return nbi_error(NB_ERR_FORMAT, "%s:1:%zu: unknown column '%s' (expected epoch, step, "
                             "lr, seconds, samples_per_s, loss, accuracy, top<k>_accuracy, mse, "
                             "mae, or val_ forms)", name, col0 - a + 1, c.name[c.n]);
        for (int j = 0; j < c.n; j++)
            if (strcmp(c.name[j], c.name[c.n]) == 0)
                return nbi_error(NB_ERR_FORMAT, "%s:1:%zu: column '%s' appears twice", name,
                                 col0 - a + 1, c.name[c.n]);
        c.n++;
        col0 = p + 1;
    }
    if (strcmp(c.name[0], "epoch") != 0)
        return nbi_error(NB_ERR_FORMAT, "%s:1:1: the first column must be 'epoch'", name);

    nb_history out = {0};
    out.metrics = metrics;
    out.top_k = top_k ? top_k : 5;
    int line = 1;
    while (next_line(buf, len, &pos, &a, &b)) {
        line++;
        if (a == b) continue; /* a blank line (the last one, typically) */
        if (out.n == out.cap) {
            nb_status s = nbi_history_reserve(&out, out.cap ? 2 * (int64_t)out.cap : 16);
            if (s != NB_OK) {
                nb_history_free(&out);
                return s;
            }
        }
        nb_epoch_record *r = &out.rec[out.n];
        memset(r, 0, sizeof *r);
        r->lr = r->seconds = r->samples_per_s = NAN;
        r->train = r->val = nan_values();
        size_t p = a;
        for (int j = 0; j < c.n; j++) {
            size_t f0 = p;
            while (p < b && buf[p] != ',') p++;
            if ((p == b) != (j == c.n - 1)) {
                nb_history_free(&out);
                return nbi_error(NB_ERR_FORMAT, "%s:%d:%zu: expected %d fields, found %s", name,
                                 line, p - a + 1, c.n, p == b ? "fewer" : "more");
            }
            const int integer = strcmp(c.name[j], "epoch") == 0 || strcmp(c.name[j], "step") == 0;
            double v = NAN;
            if (p > f0) {
                char num[64];
                size_t w = p - f0;
                char *endp;
                if (w >= sizeof num) goto bad;
                memcpy(num, buf + f0, w);
                num[w] = 0;
                errno = 0;
                v = strtod(num, &endp);
                /* inf is what the writer writes for a diverged loss; NaN it writes as nothing */
                if (*endp || (errno == ERANGE && isfinite(v)) || isnan(v)) goto bad;
            } else if (integer) {
                goto bad; /* epoch and step are never empty */
            }
            if (integer) {
                if (!(v >= 0 && v < 9e15 && v == floor(v))) goto bad;
                if (c.name[j][0] == 'e')
                    r->epoch = (int64_t)v;
                else
                    r->step = (int64_t)v;
            } else {
                double *fld = record_field(r, c.name[j], out.top_k);
                NBI_ASSERT(fld);
                *fld = v;
            }
            p++;
            continue;
        bad:
            nb_history_free(&out);
            return nbi_error(NB_ERR_FORMAT, "%s:%d:%zu: bad value in column '%s' (expected %s)",
                             name, line, f0 - a + 1, c.name[j],
                             strcmp(c.name[j], "epoch") == 0 || strcmp(c.name[j], "step") == 0
                                 ? "a non-negative integer"
                                 : "a number, inf, -inf or nothing");
        }
        if (r->epoch < 1 || (out.n && r->epoch <= out.rec[out.n - 1].epoch)) {
            long long e = (long long)r->epoch;
            nb_history_free(&out);
            return nbi_error(NB_ERR_FORMAT, "%s:%d:1: epochs must start at 1 and increase "
                             "(got %lld)", name, line, e);
        }
        r->has_val = has_val && !isnan(r->val.loss);
        out.n++;
    }
    nb_history_free(h);
    *h = out;
    return NB_OK;
}

nb_status nb_history_read_csv(nb_history *h, const char *path) {
    if (!h || !path) return nbi_error(NB_ERR_ARG, "nb_history_read_csv: NULL argument");
    unsigned char *buf;
    size_t len;
    nb_status s = nbi_read_file(path, "history CSV", &buf, &len);
    if (s != NB_OK) return s;
    s = nb_history_parse_csv(h, (const char *)buf, len, path);
    nbi_free(buf);
    return s;
}
