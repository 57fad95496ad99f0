/* tensor/print.c — NumPy-style text for tensors.
 *
 *   array([[ 1.  , -0.5 ],
 *          [ 0.25,  3.  ]])
 *
 * One format for every element (so columns align), trailing zeros dropped, scientific
 * notation when magnitudes call for it; more than 1000 elements are summarised with "...",
 * keeping 3 items at each edge of every long dimension. */
#include "tensor/tensor.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define THRESHOLD 1000
#define EDGE 3

typedef struct sink {
    FILE *f;
    char *buf;
    size_t cap, len; /* len counts everything, even what did not fit */
} sink;

static void put(sink *s, const char *fmt, ...) NBI_PRINTF(2, 3);
static void put(sink *s, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k >= sizeof tmp) k = sizeof tmp - 1;
    if (s->f) fwrite(tmp, 1, (size_t)k, s->f);
    if (s->buf && s->len < s->cap) {
        size_t room = s->cap - s->len;
        size_t c = (size_t)k < room ? (size_t)k : room;
        memcpy(s->buf + s->len, tmp, c);
    }
    s->len += (size_t)k;
}

typedef struct fmt {
    int sci;      /* scientific notation */
    int ints;     /* every value is integral: "3." */
    int frac;     /* digits after the point (fixed) */
    int width;    /* total field width */
    int i32;      /* integer dtype */
} fmt;

static double elem(const nb_tensor *t, int64_t off) {
    return t->dtype == NB_I32 ? (double)((const int32_t *)t->data)[off]
                              : (double)((const float *)t->data)[off];
}

/* Visits the elements that will be printed (honouring summarisation). */
typedef void (*visit_fn)(double v, void *user);
static void visit(const nb_tensor *t, int d, int64_t off, int sum, visit_fn fn, void *u) {
    if (d == t->rank) {
        fn(elem(t, off), u);
        return;
    }
    int64_t n = t->shape[d];
    for (int64_t i = 0; i < n; i++) {
        if (sum && n > 2 * EDGE && i == EDGE) i = n - EDGE;
        visit(t, d + 1, off + i * t->stride[d], sum, fn, u);
    }
}

typedef struct stats {
    double maxabs, minabs;
    int all_int, any_nonfinite;
    int frac;
    int width;
    const fmt *f;
} stats;

static void gather(double v, void *u) {
    stats *s = u;
    if (!isfinite(v)) {
        s->any_nonfinite = 1;
        return;
    }
    double a = fabs(v);
    if (a > s->maxabs) s->maxabs = a;
    if (a > 0 && a < s->minabs) s->minabs = a;
    if (v != floor(v)) s->all_int = 0;
}

/* Digits after the point needed to show v at 6 decimals with trailing zeros removed. */
static int frac_digits(double v) {
    char b[64];
    snprintf(b, sizeof b, "%.6f", v);
    char *dot = strchr(b, '.');
    if (!dot) return 0;
    int n = (int)strlen(dot + 1);
    while (n > 0 && dot[n] == '0') n--;
    return n;
}

static void gather_frac(double v, void *u) {
    stats *s = u;
    if (isfinite(v)) {
        int f = frac_digits(v);
        if (f > s->frac) s->frac = f;
    }
}

static int render(char *b, size_t n, const fmt *f, double v) {
    if (isnan(v)) return snprintf(b, n, "nan");
    if (isinf(v)) return snprintf(b, n, v > 0 ? "inf" : "-inf");
    if (f->i32) return snprintf(b, n, "%.0f", v);
    if (f->sci) return snprintf(b, n, "%.4e", v);
    if (f->ints) return snprintf(b, n, "%.0f.", v);
    int k = snprintf(b, n, "%.*f", f->frac, v);
    /* Drop trailing zeros but keep the point, then pad back so points align: "0.5 ". */
    int end = k;
    while (end > 0 && b[end - 1] == '0') end--;
    for (int i = end; i < k; i++) b[i] = ' ';
    return k;
}

static void gather_width(double v, void *u) {
    stats *s = u;
    char b[64];
    int k = render(b, sizeof b, s->f, v);
    if (k > s->width) s->width = k;
}

static void emit(sink *s, const nb_tensor *t, const fmt *f, int d, int64_t off, int sum,
                 int indent) {
    if (t->rank == 0) {
        char b[64];
        render(b, sizeof b, f, elem(t, off));
        put(s, "%s", b);
        return;
    }
    put(s, "[");
    int64_t n = t->shape[d];
    for (int64_t i = 0; i < n; i++) {
        if (sum && n > 2 * EDGE && i == EDGE) {
            if (d == t->rank - 1) {
                put(s, "..., ");
            } else {
                put(s, "...,\n%*s", indent + d + 1, "");
            }
            i = n - EDGE;
        }
        if (d == t->rank - 1) {
            char b[64];
            render(b, sizeof b, f, elem(t, off + i * t->stride[d]));
            put(s, "%*s", f->width, b);
            if (i + 1 < n) put(s, ", ");
        } else {
            emit(s, t, f, d + 1, off + i * t->stride[d], sum, indent);
            if (i + 1 < n) {
                put(s, ",");
                /* numpy: one newline per level of nesting below this one */
                for (int k = d; k < t->rank - 1; k++) put(s, "\n");
                put(s, "%*s", indent + d + 1, "");
            }
        }
    }
    put(s, "]");
}

static size_t format_to(sink *s, const nb_tensor *t) {
    if (!t) {
        put(s, "(null)");
        return s->len;
    }
    int sum = t->numel > THRESHOLD;
    fmt f = {0};
    f.i32 = t->dtype == NB_I32;
    stats st = {0, INFINITY, 1, 0, 0, 0, &f};
    if (t->numel > 0) visit(t, 0, 0, sum, gather, &st);
    if (t->dtype == NB_F32) {
        if (st.maxabs >= 1e8 || (st.minabs < 1e-4 && st.maxabs > 0 && st.minabs < INFINITY &&
                                 !st.all_int))
            f.sci = 1;
        else if (st.all_int)
            f.ints = 1;
        else {
            if (t->numel > 0) visit(t, 0, 0, sum, gather_frac, &st);
            f.frac = st.frac > 0 ? st.frac : 1;
        }
    }
    st.width = 1;
    if (t->numel > 0) visit(t, 0, 0, sum, gather_width, &st);
    f.width = st.width;
    put(s, "array(");
    if (t->numel == 0 && t->rank > 0) {
        char b[96];
        put(s, "[], shape=%s", nbi_dims_str(t->rank, t->shape, b, sizeof b));
    } else {
        emit(s, t, &f, 0, 0, sum, 6);
    }
    if (t->dtype == NB_I32) put(s, ", dtype=int32");
    put(s, ")");
    return s->len;
}

nb_status nb_tensor_print(const nb_tensor *t, FILE *f) {
    if (!f) return nbi_error(NB_ERR_ARG, "nb_tensor_print: FILE is NULL");
    sink s = {f, NULL, 0, 0};
    format_to(&s, t);
    put(&s, "\n");
    return NB_OK;
}

size_t nb_tensor_format(const nb_tensor *t, char *buf, size_t n) {
    sink s = {NULL, buf, n ? n - 1 : 0, 0};
    size_t len = format_to(&s, t);
    if (buf && n) buf[len < n - 1 ? len : n - 1] = '\0';
    return len;
}
