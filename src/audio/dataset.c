/* audio/dataset.c — a dataset from a manifest of clips (see nabla/audio.h): every clip is read,
 * mixed down, resampled to the pipeline's rate, optionally augmented into copies, and
 * featurised once; the features are kept in memory as f32, as halves (f16) when only they
 * fit, or as bytes when only bytes fit, and handed to data/ as an ordinary nb_dataset of
 * samples [1, n_feat, n_frames].
 *
 * Clips are featurised in parallel on the thread pool, one task per clip writing only its
 * own rows; a copy's random draws come from a generator seeded by (seed, clip, copy), so the
 * dataset is the same at any thread count. A failing clip stops the others; the error of the
 * lowest-numbered failing clip is reported, with its path.
 *
 * Bytes: q = round(255·(x − lo)/(hi − lo)) with lo and hi the smallest and largest feature
 * over the whole set, which needs the range before the first byte is written: the features
 * are then computed twice, once for the range and once to quantise (twice the time, a
 * quarter of the memory). The constant normalisation x = lo + q·(hi − lo)/255 comes back to
 * the caller, and nb_norm_fit on the byte dataset standardises exactly as on the floats
 * would, since standardising is unchanged by an affine map.
 *
 * Halves: each feature rounded to the nearest binary16 (the kernel table's f32_to_half), in
 * one pass that also notes every clip's range; should a feature overflow the half range
 * (AUTO only: an explicit f16 store is refused, naming the clip and the value), the bytes are
 * quantised from those ranges in one more pass, into the same buffer. */
#define _DEFAULT_SOURCE /* sysconf(_SC_PHYS_PAGES) */
#include "audio/audio.h"
#include "data/data.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define MAX_COPIES 1000
#define N_CACHED_RATES 8

typedef enum { PASS_F32, PASS_RANGE, PASS_U8, PASS_F16 } pass_kind;

typedef struct job {
    const nb_manifest *m;
    const nb_featurizer *fz;
    const nb_audio_data_opts *o;
    int64_t F, T, per; /* features, frames, samples per clip (copies + 1) */
    pass_kind pass;
    float *xf;         /* PASS_F32: [n·per, F·T] */
    unsigned char *xq; /* PASS_U8 */
    uint16_t *xh;      /* PASS_F16 */
    float *lo, *hi;    /* PASS_RANGE and PASS_F16: per clip */
    void (*to_half)(int64_t n, const float *x, uint16_t *h);
    atomic_llong overflow; /* PASS_F16: 1 + the lowest clip with a feature beyond a half */
    float qlo, qscale; /* PASS_U8: q = round((x − qlo)·qscale) */
    atomic_int failed;
    pthread_mutex_t mu; /* guards the fields below */
    int64_t err_clip;   /* the lowest failing clip, or −1 */
    nb_status err;
    char msg[512];
    int64_t rate_from[N_CACHED_RATES];
    nb_resampler *rs[N_CACHED_RATES];
} job;

static uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The resampler from `rate` to the pipeline's: shared ones for the first few rates met,
 * a private one (*own, freed by the caller) beyond. */
static nb_status resampler_for(job *j, int rate, nb_resampler **r, nb_resampler **own) {
    *own = NULL;
    const nb_features *f = nb_featurizer_features(j->fz);
    nb_status st = NB_OK;
    pthread_mutex_lock(&j->mu);
    int k = 0;
    while (k < N_CACHED_RATES && j->rs[k] && j->rate_from[k] != rate) k++;
    if (k < N_CACHED_RATES && !j->rs[k]) {
        st = nb_resampler_new(rate, f->rate, &f->resample, &j->rs[k]);
        j->rate_from[k] = rate;
    }
    *r = k < N_CACHED_RATES ? j->rs[k] : NULL;
    pthread_mutex_unlock(&j->mu);
    if (!st && !*r) {
        st = nb_resampler_new(rate, f->rate, &f->resample, own);
        *r = *own;
    }
    return st;
}

/* the clip's samples, mono, at the pipeline's rate (*x: nbi_malloc) */
static nb_status load_clip(job *j, int64_t i, float **x, int64_t *n) {
    *x = NULL;
    nb_audio a;
    nb_status st = nb_wav_read(j->m->paths[i], &a, NULL);
    if (st) return st;
    st = nb_audio_to_mono(&a);
    const int rate = nb_featurizer_features(j->fz)->rate;
    if (!st && a.rate != rate) {
        nb_resampler *r, *own;
        st = resampler_for(j, a.rate, &r, &own);
        const int64_t m = st ? 0 : nb_resampler_out_len(r, a.frames);
        float *y = st ? NULL : nbi_malloc(sizeof(float) * (size_t)(m + 1));
        if (!st && (m < 0 || !y))
            st = nbi_error(NB_ERR_NOMEM, "%s: out of memory resampling", j->m->paths[i]);
        if (!st) {
            nb_resampler_run(r, a.data, a.frames, 1, y, 1);
            nbi_free(a.data);
            a.data = y;
            a.frames = m;
            y = NULL;
        }
        nbi_free(y);
        nb_resampler_free(own);
    }
    if (st) {
        nb_audio_free(&a);
        return st;
    }
    *x = a.data;
    *n = a.frames;
    return NB_OK;
}

/* Every sample [1, F, T] of x becomes [T, F] (the frames as a sequence), in place through one
 * sample's buffer. */
static nb_status to_frames_first(nb_array *x, int64_t rows, int64_t F, int64_t T) {
    const size_t esz = nb_elem_size(x->type);
    unsigned char *tmp = nbi_malloc((size_t)(F * T) * esz);
    if (!tmp) return nbi_error(NB_ERR_NOMEM, "audio dataset: out of memory");
    for (int64_t r = 0; r < rows; r++) {
        unsigned char *s = (unsigned char *)x->data + (size_t)(r * F * T) * esz;
        memcpy(tmp, s, (size_t)(F * T) * esz);
        for (int64_t f = 0; f < F; f++)
            for (int64_t t = 0; t < T; t++)
                memcpy(s + (size_t)(t * F + f) * esz, tmp + (size_t)(f * T + t) * esz, esz);
    }
    nbi_free(tmp);
    x->rank = 3;
    x->shape[1] = T;
    x->shape[2] = F;
    x->shape[3] = 0;
    return NB_OK;
}

/* features of one sample into out [F·T] (the shape checked against the data set's) */
static nb_status featurize(job *j, int64_t i, const float *x, int64_t n, float *out) {
    int64_t F, T;
    nb_status st = nb_features_shape(nb_featurizer_features(j->fz), n, &F, &T);
    if (st) return st;
    if (F != j->F || T != j->T)
        return nbi_error(NB_ERR_SHAPE,
                         "%s: %lld samples make %lld frames where the first clip "
                         "made %lld: give the pipeline a length (length=N pads or cuts every "
                         "clip to N samples)",
                         j->m->paths[i], (long long)n, (long long)T, (long long)j->T);
    return nb_featurizer_run(j->fz, x, n, out);
}

/* one sample (clip i, copy c) through the pass */
static nb_status sample(job *j, int64_t i, int64_t c, const float *x, int64_t n, float *tmp) {
    const int64_t row = i * j->per + c, FT = j->F * j->T;
    float *out = j->pass == PASS_F32 ? j->xf + row * FT : tmp;
    nb_status st;
    if (c == 0) {
        st = featurize(j, i, x, n, out);
    } else {
        nb_rng rng;
        nb_rng_seed(&rng, splitmix(j->o->seed ^ splitmix((uint64_t)i + 1) ^
                                   splitmix(((uint64_t)c << 32) + 7)));
        float *y;
        int64_t ny;
        st = nb_audio_augment(j->o->aug, nb_featurizer_features(j->fz)->rate, x, n, &rng, &y, &ny);
        if (st) return st;
        st = featurize(j, i, y, ny, out);
        nbi_free(y);
    }
    if (st) return st;
    if (j->pass == PASS_RANGE || j->pass == PASS_F16) {
        float lo = out[0], hi = out[0];
        for (int64_t k = 1; k < FT; k++) {
            if (out[k] < lo) lo = out[k];
            if (out[k] > hi) hi = out[k];
        }
        if (c == 0 || lo < j->lo[i]) j->lo[i] = lo;
        if (c == 0 || hi > j->hi[i]) j->hi[i] = hi;
    }
    if (j->pass == PASS_F16) {
        uint16_t *h = j->xh + row * FT;
        j->to_half(FT, out, h);
        for (int64_t k = 0; k < FT; k++)
            if ((h[k] & 0x7C00u) == 0x7C00u) { /* beyond the largest half: note the clip */
                long long want = i + 1, have = atomic_load(&j->overflow);
                while ((have == 0 || want < have) &&
                       !atomic_compare_exchange_weak(&j->overflow, &have, want)) {
                }
                break;
            }
    } else if (j->pass == PASS_U8) {
        unsigned char *q = j->xq + row * FT;
        for (int64_t k = 0; k < FT; k++) {
            float v = nearbyintf((out[k] - j->qlo) * j->qscale);
            q[k] = (unsigned char)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
        }
    }
    return NB_OK;
}

static nb_status run_clip(job *j, int64_t i) {
    float *x, *tmp = NULL;
    int64_t n;
    nb_status st = load_clip(j, i, &x, &n);
    if (st) return st;
    if (j->pass != PASS_F32) {
        tmp = nbi_malloc(sizeof(float) * (size_t)(j->F * j->T));
        if (!tmp) st = nbi_error(NB_ERR_NOMEM, "audio dataset: out of memory");
    }
    for (int64_t c = 0; !st && c < j->per; c++) st = sample(j, i, c, x, n, tmp);
    nbi_free(tmp);
    nbi_free(x);
    return st;
}

static void task(void *arg, int64_t i) {
    job *j = arg;
    if (atomic_load(&j->failed)) return;
    nb_status st = run_clip(j, i);
    if (!st) return;
    atomic_store(&j->failed, 1);
    pthread_mutex_lock(&j->mu);
    if (j->err_clip < 0 || i < j->err_clip) {
        j->err_clip = i;
        j->err = st;
        snprintf(j->msg, sizeof j->msg, "%s", nb_last_error());
    }
    pthread_mutex_unlock(&j->mu);
}

static nb_status run_pass(job *j, pass_kind pass) {
    j->pass = pass;
    atomic_store(&j->failed, 0);
    j->err_clip = -1;
    nbi_parallel_for(nbi_pool_threads(), j->m->n, task, j); /* the whole pool: nb_set_threads */
    if (j->err_clip >= 0) return nbi_error(j->err, "%s", j->msg);
    return NB_OK;
}

static size_t default_budget(void) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0 && (uint64_t)pages <= SIZE_MAX / 2 / (uint64_t)size)
        return (size_t)pages * (size_t)size / 2;
#endif
    return (size_t)1 << 30;
}

nb_status nb_audio_dataset(const nb_manifest *m, const nb_audio_data_opts *opts, nb_dataset **out,
                           nb_norm *dequant) {
    *out = NULL;
    if (dequant) memset(dequant, 0, sizeof *dequant);
    nb_audio_data_opts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    const nb_features fres = nbi_features_resolve(o.features);
    const nb_features *f = &fres;
    if (!m || m->n < 1 || !m->paths || !m->labels)
        return nbi_error(NB_ERR_ARG, "audio dataset: the manifest is empty");
    if (o.copies < 0 || o.copies > MAX_COPIES)
        return nbi_error(NB_ERR_ARG, "audio dataset: copies %d is out of range (0 .. %d)", o.copies,
                         MAX_COPIES);
    if (o.copies > 0 && !o.aug)
        return nbi_error(NB_ERR_ARG, "audio dataset: %d copies need augmentation options",
                         o.copies);
    if ((unsigned)o.store > NB_AUDIO_STORE_F16)
        return nbi_error(NB_ERR_ARG, "audio dataset: unknown store %d", (int)o.store);
    nb_status st = o.copies > 0 ? nbi_audio_aug_check(o.aug) : NB_OK;
    if (st) return st;
    job *j = nbi_calloc(1, sizeof *j);
    if (!j) return nbi_error(NB_ERR_NOMEM, "audio dataset: out of memory");
    j->m = m;
    j->o = &o;
    j->per = o.copies + 1;
    if (pthread_mutex_init(&j->mu, NULL) != 0) {
        nbi_free(j);
        return nbi_error(NB_ERR_NOMEM, "audio dataset: cannot make a mutex");
    }
    nb_featurizer *fz = NULL;
    st = nb_featurizer_new(f, &fz);
    j->fz = fz;
    /* the shape: from the length, or from the first clip */
    if (!st && f->length > 0) {
        st = nb_features_shape(f, f->length, &j->F, &j->T);
    } else if (!st) {
        float *x;
        int64_t n;
        st = load_clip(j, 0, &x, &n);
        if (!st && (st = nb_features_shape(f, n, &j->F, &j->T)) != NB_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", nb_last_error());
            st = nbi_error(st, "%s: %s", m->paths[0], msg);
        }
        nbi_free(x);
    }
    /* the store: f32 when it fits the budget */
    const int64_t rows = m->n * j->per;
    size_t cells = 0, f32_bytes = 0;
    if (!st && (!nbi_mul_size((size_t)rows, (size_t)(j->F * j->T), &cells) ||
                !nbi_mul_size(cells, sizeof(float), &f32_bytes)))
        st = nbi_error(NB_ERR_ARG,
                       "audio dataset: %lld samples of %lld x %lld features are "
                       "too many",
                       (long long)rows, (long long)j->F, (long long)j->T);
    nb_audio_store store = o.store;
    const bool automatic = store == NB_AUDIO_STORE_AUTO;
    if (!st && automatic) {
        const size_t budget = o.max_bytes ? o.max_bytes : default_budget();
        store = f32_bytes <= budget    ? NB_AUDIO_STORE_F32
                : cells <= budget / 2 ? NB_AUDIO_STORE_F16
                                      : NB_AUDIO_STORE_U8;
        if (store == NB_AUDIO_STORE_U8 && o.floats_only)
            st = nbi_error(NB_ERR_NOMEM,
                           "audio dataset: %lld samples of %lld x %lld features "
                           "need %.1f MB even as halves (f16), over the budget of %.1f MB",
                           (long long)rows, (long long)j->F, (long long)j->T, 2.0 * cells / 1e6,
                           budget / 1e6);
        else if (store == NB_AUDIO_STORE_U8 && cells > budget)
            st = nbi_error(NB_ERR_NOMEM,
                           "audio dataset: %lld samples of %lld x %lld features "
                           "need %.1f MB even as bytes, over the budget of %.1f MB (max_bytes)",
                           (long long)rows, (long long)j->F, (long long)j->T, cells / 1e6,
                           budget / 1e6);
    }
    const size_t esz = store == NB_AUDIO_STORE_F32 ? sizeof(float)
                       : store == NB_AUDIO_STORE_F16 ? sizeof(uint16_t)
                                                    : 1;
    nb_array x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    if (!st) {
        x.rank = 4;
        x.shape[0] = rows;
        x.shape[1] = 1;
        x.shape[2] = j->F;
        x.shape[3] = j->T;
        x.numel = (int64_t)cells;
        x.type = store == NB_AUDIO_STORE_F32   ? NB_ELEM_F32
                 : store == NB_AUDIO_STORE_F16 ? NB_ELEM_F16
                                               : NB_ELEM_U8;
        x.data = nbi_malloc(cells * esz + 1); /* ≤ f32_bytes + 1: no overflow */
        y.type = NB_ELEM_I32;
        y.rank = 1;
        y.shape[0] = rows;
        y.numel = rows;
        y.data = nbi_malloc(sizeof(int32_t) * (size_t)rows + 1);
        if (!x.data || !y.data)
            st = nbi_error(NB_ERR_NOMEM,
                           "audio dataset: out of memory for %lld samples of "
                           "%lld x %lld features",
                           (long long)rows, (long long)j->F, (long long)j->T);
    }
    float lo = 0.0f, hi = 0.0f;
    bool have_range = false; /* j->lo, j->hi: every clip's range, from the f16 pass */
    if (!st && store != NB_AUDIO_STORE_F32) {
        j->lo = nbi_malloc(sizeof(float) * (size_t)m->n);
        j->hi = nbi_malloc(sizeof(float) * (size_t)m->n);
        if (!j->lo || !j->hi) st = nbi_error(NB_ERR_NOMEM, "audio dataset: out of memory");
    }
    if (!st && store == NB_AUDIO_STORE_F32) {
        j->xf = x.data;
        st = run_pass(j, PASS_F32);
    } else if (!st && store == NB_AUDIO_STORE_F16) {
        j->xh = x.data;
        j->to_half = nbi_kernel_set(nbi_best_isa())->f32_to_half;
        atomic_store(&j->overflow, 0);
        st = run_pass(j, PASS_F16);
        const long long bad = st ? 0 : atomic_load(&j->overflow);
        if (bad && (!automatic || o.floats_only)) {
            const int64_t c = bad - 1;
            const float big = fabsf(j->lo[c]) > fabsf(j->hi[c]) ? j->lo[c] : j->hi[c];
            st = nbi_error(NB_ERR_ARG,
                           "%s: a feature is %g, beyond the largest half (65504): the f16 "
                           "store cannot hold it (store f32 or u8, or take the log of the "
                           "features)",
                           m->paths[c], (double)big);
        } else if (bad) { /* AUTO: bytes instead, from the ranges the pass noted */
            store = NB_AUDIO_STORE_U8;
            x.type = NB_ELEM_U8;
            have_range = true;
        }
    }
    if (!st && store == NB_AUDIO_STORE_U8) {
        if (!have_range) st = run_pass(j, PASS_RANGE);
        if (!st) {
            lo = j->lo[0], hi = j->hi[0];
            for (int64_t i = 1; i < m->n; i++) {
                if (j->lo[i] < lo) lo = j->lo[i];
                if (j->hi[i] > hi) hi = j->hi[i];
            }
            j->qlo = lo;
            j->qscale = hi > lo ? 255.0f / (hi - lo) : 1.0f;
            j->xq = x.data;
            st = run_pass(j, PASS_U8);
        }
    }
    if (!st && o.frames_first) st = to_frames_first(&x, rows, j->F, j->T);
    for (int64_t i = 0; !st && i < rows; i++) ((int32_t *)y.data)[i] = m->labels[i / j->per];
    /* the class names go with the dataset */
    char **names = NULL;
    if (!st && m->classes) {
        names = nbi_calloc((size_t)m->num_classes, sizeof(char *));
        for (int c = 0; names && c < m->num_classes; c++) {
            size_t len = strlen(m->classes[c]);
            names[c] = nbi_malloc(len + 1);
            if (!names[c]) break;
            memcpy(names[c], m->classes[c], len + 1);
        }
        if (!names || !names[m->num_classes - 1]) {
            for (int c = 0; names && c < m->num_classes; c++) nbi_free(names[c]);
            nbi_free(names);
            names = NULL;
            st = nbi_error(NB_ERR_NOMEM, "audio dataset: out of memory");
        }
    }
    if (!st) {
        st = nbi_dataset_adopt(&x, &y, names, names ? m->num_classes : 0, "audio dataset", out);
    } else {
        nb_array_free(&x);
        nb_array_free(&y);
    }
    if (!st && store == NB_AUDIO_STORE_U8 && dequant) {
        /* x = lo + q·(hi − lo)/255 = (q − shift)/div with div = 255/(hi − lo), shift = −lo·div */
        const float div = j->qscale;
        st = nb_norm_const(dequant, -lo * div, div);
        if (st) {
            nb_dataset_free(*out);
            *out = NULL;
        }
    }
    for (int k = 0; k < N_CACHED_RATES; k++) nb_resampler_free(j->rs[k]);
    nbi_free(j->lo);
    nbi_free(j->hi);
    pthread_mutex_destroy(&j->mu);
    nbi_free(j);
    nb_featurizer_free(fz);
    return st;
}

nb_status nb_audio_dataset_load(const char *manifest_path, const nb_audio_data_opts *opts,
                                nb_dataset **out, nb_norm *dequant) {
    *out = NULL;
    if (dequant) memset(dequant, 0, sizeof *dequant);
    nb_manifest m;
    nb_status st = nb_manifest_read(manifest_path, &m);
    if (st) return st;
    st = nb_audio_dataset(&m, opts, out, dequant);
    nb_manifest_free(&m);
    return st;
}
