/* data/sample_logits.c — choosing the next token from a model's logits: greedy, temperature,
 * top-k and top-p (nucleus) sampling, from an explicit RNG.
 *
 * With temperature τ > 0 the distribution is the softmax of l / τ:
 *     p_i = exp((l_i - m) / τ) / Σ_j exp((l_j - m) / τ),    m = max_j l_j
 * (subtracting m changes nothing but keeps exp from overflowing; sums are in double). τ < 1
 * sharpens it, τ > 1 flattens it, τ → 0 tends to the argmax, which τ = 0 takes directly
 * (NB_ZERO in the options, whose plain 0 means the default τ = 1).
 * top-k keeps the k largest logits; top-p then keeps the shortest prefix, in order of falling
 * probability, whose probabilities reach top_p of the kept mass (Holtzman et al. 2019); the
 * draw renormalises over what is kept. Orders break ties by the lower id, and every call draws
 * exactly one 53-bit uniform u and returns the first id whose cumulative weight exceeds
 * u · total, so a seed fixes the whole sequence. */
#include "data/text.h"

#include <math.h>
#include <stdlib.h>

/* The options with their defaults filled in: a zero temperature is 1 (NB_ZERO, a real 0, is
 * greedy), a zero top_p is 1; NULL is the all-zero struct. */
static nb_sample_opts resolve(const nb_sample_opts *o) {
    nb_sample_opts r = o ? *o : (nb_sample_opts){0};
    if (r.temperature == 0.0 && !signbit(r.temperature)) r.temperature = 1.0;
    if (r.top_p == 0.0) r.top_p = 1.0;
    return r;
}

typedef struct cand {
    float l;
    int32_t i;
} cand;

/* a comes before b: a larger logit, or an equal one with a lower id. */
static bool before(cand a, cand b) {
    return a.l > b.l || (a.l == b.l && a.i < b.i);
}

static int cmp_cand(const void *pa, const void *pb) {
    cand a = *(const cand *)pa, b = *(const cand *)pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* The k best of the n finite logits, sorted, into c[0..k): a heap of the k best seen so far
 * with the worst at its root, O(V log k). */
static void top_k(const float *l, int64_t V, int64_t k, cand *c) {
    int64_t n = 0;
    for (int64_t i = 0; i < V; i++) {
        if (l[i] == -INFINITY) continue;
        cand x = {l[i], (int32_t)i};
        int64_t j;
        if (n < k) { /* sift up: parents come after (are worse than) children */
            for (j = n++; j > 0 && before(c[(j - 1) / 2], x); j = (j - 1) / 2)
                c[j] = c[(j - 1) / 2];
            c[j] = x;
        } else if (before(x, c[0])) { /* replace the worst, sift down */
            for (j = 0;;) {
                int64_t ch = 2 * j + 1;
                if (ch >= k) break;
                if (ch + 1 < k && before(c[ch], c[ch + 1])) ch++;
                if (!before(x, c[ch])) break;
                c[j] = c[ch];
                j = ch;
            }
            c[j] = x;
        }
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

static double uniform53(nb_rng *rng) {
    return (double)(nb_rng_u64(rng) >> 11) * 0x1.0p-53;
}

nb_status nb_sample_logits(const float *logits, int64_t V, const nb_sample_opts *o, nb_rng *rng,
                           int32_t *token) {
    if (!token) return nbi_error(NB_ERR_ARG, "nb_sample_logits: token is NULL");
    *token = -1;
    const nb_sample_opts r = resolve(o);
    o = &r;
    if (!logits || V < 1 || V > INT32_MAX)
        return nbi_error(NB_ERR_ARG, "nb_sample_logits: need 1 to 2^31 - 1 logits, got %lld",
                         (long long)V);
    if (!(o->temperature >= 0.0 && o->temperature < INFINITY) || o->top_k < 0 ||
        !(o->top_p > 0.0 && o->top_p <= 1.0))
        return nbi_error(NB_ERR_ARG,
                         "nb_sample_logits: temperature %g must be finite and >= 0 (NB_ZERO: "
                         "greedy), top_k %lld >= 0 and top_p %g in (0, 1]",
                         o->temperature, (long long)o->top_k, o->top_p);
    int64_t best = -1, finite = 0;
    for (int64_t i = 0; i < V; i++) {
        float x = logits[i];
        if (isnan(x) || x == INFINITY)
            return nbi_error(NB_ERR_NUMERIC,
                             "nb_sample_logits: logit %lld is %s (of %lld); the "
                             "model's output is not finite",
                             (long long)i, isnan(x) ? "NaN" : "+inf", (long long)V);
        if (x == -INFINITY) continue;
        finite++;
        if (best < 0 || x > logits[best]) best = i;
    }
    if (best < 0)
        return nbi_error(NB_ERR_NUMERIC,
                         "nb_sample_logits: all %lld logits are -inf (every token "
                         "is masked)",
                         (long long)V);
    if (o->temperature == 0.0 || finite == 1) {
        *token = (int32_t)best; /* greedy; or a single candidate, whatever the settings */
        if (o->temperature != 0.0 && rng) (void)uniform53(rng); /* still one draw per call */
        return NB_OK;
    }
    if (!rng)
        return nbi_error(NB_ERR_ARG, "nb_sample_logits: sampling needs an rng (or "
                                     "temperature NB_ZERO for greedy)");
    double m = logits[best], tau = o->temperature;
    if (o->top_p >= 1.0 && (o->top_k == 0 || o->top_k >= finite)) {
        /* The whole distribution, walked in id order. */
        double total = 0.0;
        for (int64_t i = 0; i < V; i++) total += exp(((double)logits[i] - m) / tau);
        double u = uniform53(rng) * total, acc = 0.0;
        for (int64_t i = 0; i < V; i++) {
            double w = exp(((double)logits[i] - m) / tau);
            acc += w;
            if (u < acc) {
                *token = (int32_t)i;
                return NB_OK;
            }
        }
        *token = (int32_t)best; /* u fell on the rounding slack at the top */
        return NB_OK;
    }
    int64_t k = o->top_k > 0 && o->top_k < finite ? o->top_k : finite;
    cand *c = nbi_malloc((size_t)k * sizeof *c);
    double *w = nbi_malloc((size_t)k * sizeof *w);
    if (!c || !w) {
        nbi_free(c), nbi_free(w);
        return nbi_error(NB_ERR_NOMEM, "nb_sample_logits: out of memory for %lld candidates",
                         (long long)k);
    }
    top_k(logits, V, k, c);
    double total = 0.0;
    for (int64_t j = 0; j < k; j++) total += w[j] = exp(((double)c[j].l - m) / tau);
    if (o->top_p < 1.0) { /* the shortest prefix holding top_p of the mass */
        double need = o->top_p * total, acc = 0.0;
        int64_t keep = 0;
        while (keep < k && (keep == 0 || acc < need)) acc += w[keep++];
        k = keep;
        total = acc;
    }
    double u = uniform53(rng) * total, acc = 0.0;
    int32_t pick = c[k - 1].i;
    for (int64_t j = 0; j < k; j++) {
        acc += w[j];
        if (u < acc) {
            pick = c[j].i;
            break;
        }
    }
    nbi_free(c), nbi_free(w);
    *token = pick;
    return NB_OK;
}
