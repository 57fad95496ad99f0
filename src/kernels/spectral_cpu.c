/* kernels/spectral_cpu.c — the CPU back end's entries for the spectral ops (ops/spectral.c):
 * the batched STFT and its backward, |X|^p, and the band-matrix product along the frequency
 * axis (kernels/spectral.h says what each computes).
 *
 * A piece of work is one signal of the batch: it pads the signal, transforms its frames with
 * the real FFT (kernels/fft.c) and writes its own slice of the output, so every output element
 * is computed by one piece in a fixed order. What sums across the batch (the window's gradient,
 * the filter matrix's gradient) is computed per signal or per matrix row and added in a fixed
 * order. Results therefore do not depend on the thread count. The FFT plan is made once per
 * call and shared read-only by the pieces; each piece has its own work space. */
#include "kernels/backend.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* Below this many floats touched one thread does it all: waking the pool costs more. */
#define SPEC_PAR_MIN ((int64_t)1 << 14)

static int threads_for(const nbi_backend *be, int64_t work, int64_t items) {
    if (work < SPEC_PAR_MIN || items < 2) return 1;
    int nt = nbi_backend_threads(be);
    return items < nt ? (int)items : nt;
}

/* ---- STFT ---------------------------------------------------------------------------------- */

typedef struct stft_job {
    const nbi_stft_geom *g;
    const nbi_rfft *plan;
    const nbi_kernels *k; /* the set whose frame FFT the forward runs */
    const float *x, *w, *dS;
    float *S, *dx, *dwb; /* dwb: [B, n_fft] per-signal window gradients (backward), or NULL */
    _Atomic int failed;
} stft_job;

/* The window placed in n_fft samples, zeros around it. */
static void full_window(const nbi_stft_geom *g, const float *w, float *wf) {
    memset(wf, 0, (size_t)g->n_fft * sizeof *wf);
    memcpy(wf + g->win_off, w, (size_t)g->win * sizeof *w);
}

/* Frames the backward takes through the kernel set's adjoint at once (the widest lanes). */
#define BWD_FRAMES 16

/* Work floats a piece needs: padded signal (and its gradient), full window, then the
 * forward's frame-major spectrum [T, K] complex, or the backward's BWD_FRAMES spectra and
 * frames, and the frame kernels' work. */
static size_t stft_work_floats(const nbi_stft_geom *g, const nbi_rfft *plan) {
    size_t lp = (size_t)(g->L + 2 * g->pad);
    size_t bwd = (size_t)g->n_fft + BWD_FRAMES * (2 * (size_t)g->K + (size_t)g->n_fft) +
                 nbi_rfft_frames_work(plan);
    size_t fwd = (size_t)g->n_fft + 2 * (size_t)(g->K * g->T) + nbi_rfft_frames_work(plan);
    return 2 * lp + (bwd > fwd ? bwd : fwd);
}

/* One signal: its frames through the kernel set's frame FFT (vector lanes where it has them)
 * into a frame-major spectrum, then scaled into torch's layout. */
static void stft_task(void *arg, int64_t b) {
    stft_job *j = arg;
    const nbi_stft_geom *g = j->g;
    const int64_t n = g->n_fft, K = g->K, T = g->T, lp = g->L + 2 * g->pad;
    float *mem = nbi_malloc(stft_work_floats(g, j->plan) * sizeof(float));
    if (!mem) {
        atomic_store(&j->failed, 1);
        return;
    }
    float *xp = mem, *wf = xp + 2 * lp, *F = wf + n, *fw = F + 2 * K * T;
    full_window(g, j->w, wf);
    nbi_pad1d(j->x + b * g->L, g->L, g->pad, g->pad_mode, xp);
    j->k->rfft_frames(j->plan, T, xp, g->hop, wf, F, fw);
    float *Sb = j->S + b * K * T * 2;
    /* torch's layout [K, T, 2]: bin k of frame f at (k·T + f)·2 */
    for (int64_t f = 0; f < T; f++)
        for (int64_t k = 0; k < K; k++) {
            Sb[(k * T + f) * 2] = g->scale * F[2 * (f * K + k)];
            Sb[(k * T + f) * 2 + 1] = g->scale * F[2 * (f * K + k) + 1];
        }
    nbi_free(mem);
}

/* Backward of one signal: for each frame a[t] = (rfftᵀ · scale·dS[f])[t] (the adjoint of the
 * transform, BWD_FRAMES frames a call to the kernel set's rfft_adjoint_frames: vector lanes
 * where it has them), then dxp[f·hop + t] += wf[t]·a[t] (an overlap-add, frames in order) and
 * dwf[t] += xp[f·hop+t]·a[t]; dx += Padᵀ dxp. */
static void stft_bwd_task(void *arg, int64_t b) {
    stft_job *j = arg;
    const nbi_stft_geom *g = j->g;
    const int64_t n = g->n_fft, K = g->K, T = g->T, lp = g->L + 2 * g->pad;
    float *mem = nbi_malloc(stft_work_floats(g, j->plan) * sizeof(float));
    if (!mem) {
        atomic_store(&j->failed, 1);
        return;
    }
    float *xp = mem, *dxp = xp + lp, *wf = dxp + lp, *G = wf + n, *A = G + BWD_FRAMES * 2 * K,
          *fw = A + BWD_FRAMES * n;
    full_window(g, j->w, wf);
    nbi_pad1d(j->x + b * g->L, g->L, g->pad, g->pad_mode, xp);
    memset(dxp, 0, (size_t)lp * sizeof *dxp);
    float *dwf = j->dwb ? j->dwb + b * n : NULL;
    const float *dSb = j->dS + b * K * T * 2;
    for (int64_t f0 = 0; f0 < T; f0 += BWD_FRAMES) {
        const int64_t nf = T - f0 < BWD_FRAMES ? T - f0 : BWD_FRAMES;
        for (int64_t i = 0; i < nf; i++)
            for (int64_t k = 0; k < K; k++) {
                G[2 * (i * K + k)] = g->scale * dSb[(k * T + f0 + i) * 2];
                G[2 * (i * K + k) + 1] = g->scale * dSb[(k * T + f0 + i) * 2 + 1];
            }
        j->k->rfft_adjoint_frames(j->plan, nf, G, A, fw);
        for (int64_t i = 0; i < nf; i++) {
            const float *a = A + i * n;
            float *d = dxp + (f0 + i) * g->hop;
            const float *xf = xp + (f0 + i) * g->hop;
            for (int64_t t = 0; t < n; t++) d[t] += wf[t] * a[t];
            if (dwf)
                for (int64_t t = 0; t < n; t++) dwf[t] += xf[t] * a[t];
        }
    }
    if (j->dx) nbi_pad1d_adjoint(dxp, g->L, g->pad, g->pad_mode, j->dx + b * g->L);
    nbi_free(mem);
}

static nb_status run_stft(const nbi_backend *be, stft_job *j, void (*task)(void *, int64_t)) {
    const nbi_stft_geom *g = j->g;
    nbi_rfft *plan;
    nb_status st = nbi_rfft_new(g->n_fft, &plan);
    if (st != NB_OK) return st;
    j->plan = plan;
    j->k = be->k;
    atomic_init(&j->failed, 0);
    int nt = threads_for(be, g->B * (g->L + g->K * g->T * 2), g->B);
    if (nt == 1)
        for (int64_t b = 0; b < g->B; b++) task(j, b);
    else
        nbi_parallel_for(nt, g->B, task, j);
    nbi_rfft_free(plan);
    if (atomic_load(&j->failed)) return nbi_error(NB_ERR_NOMEM, "stft: out of memory");
    return NB_OK;
}

static nb_status cpu_stft(const nbi_backend *be, const nbi_stft_geom *g, const float *x,
                          const float *w, float *S) {
    stft_job j = {.g = g, .x = x, .w = w, .S = S};
    return run_stft(be, &j, stft_task);
}

static nb_status cpu_stft_bwd(const nbi_backend *be, const nbi_stft_geom *g, const float *x,
                              const float *w, const float *dS, float *dx, float *dw) {
    stft_job j = {.g = g, .x = x, .w = w, .dS = dS, .dx = dx};
    if (dw) {
        j.dwb = nbi_calloc((size_t)g->B, (size_t)g->n_fft * sizeof(float));
        if (!j.dwb) return nbi_error(NB_ERR_NOMEM, "stft backward: out of memory");
    }
    nb_status st = run_stft(be, &j, stft_bwd_task);
    if (st == NB_OK && dw)
        for (int64_t t = 0; t < g->win; t++) { /* Σ over the batch in order */
            float s = 0.0f;
            for (int64_t b = 0; b < g->B; b++) s += j.dwb[b * g->n_fft + g->win_off + t];
            dw[t] += s;
        }
    nbi_free(j.dwb);
    return st;
}

/* ---- |X|^p ------------------------------------------------------------------------------------
 */

static void cpu_spec_power(const nbi_backend *be, int64_t n, const float *S, float power,
                           float *P) {
    (void)be;
    nbi_spec_power(n, S, power, P);
}

static void cpu_spec_power_bwd(const nbi_backend *be, int64_t n, const float *S, float power,
                               const float *dP, float *dS) {
    (void)be;
    nbi_spec_power_backward(n, S, power, dP, dS);
}

/* ---- band-matrix product --------------------------------------------------------------------- */

typedef struct band_job {
    const nbi_band_geom *g;
    const float *W, *x, *dy;
    float *y, *dx, *dW;
    const int32_t *lo, *hi;
} band_job;

static void band_task(void *arg, int64_t b) {
    const band_job *j = arg;
    const nbi_band_geom *g = j->g;
    nbi_band_rows(g->M, g->K, g->T, j->W, j->lo, j->hi, j->x + b * g->K * g->T,
                  j->y + b * g->M * g->T);
}

static void band_dx_task(void *arg, int64_t b) {
    const band_job *j = arg;
    const nbi_band_geom *g = j->g;
    nbi_band_rows_adjoint(g->M, g->K, g->T, j->W, j->lo, j->hi, j->dy + b * g->M * g->T,
                          j->dx + b * g->K * g->T);
}

/* dW[m, k] += Σ_b Σ_t dy[b, m, t]·x[b, k, t] for one row m, summed in double */
static void band_dw_task(void *arg, int64_t m) {
    const band_job *j = arg;
    const nbi_band_geom *g = j->g;
    for (int64_t k = 0; k < g->K; k++) {
        double s = 0.0;
        for (int64_t b = 0; b < g->B; b++) {
            const float *dy = j->dy + (b * g->M + m) * g->T, *x = j->x + (b * g->K + k) * g->T;
            for (int64_t t = 0; t < g->T; t++) s += (double)dy[t] * (double)x[t];
        }
        j->dW[m * g->K + k] += (float)s;
    }
}

static nb_status band_run(const nbi_backend *be, band_job *j, int with_dx, int with_dw) {
    const nbi_band_geom *g = j->g;
    int32_t *lim = nbi_malloc((size_t)(2 * g->M + 1) * sizeof *lim);
    if (!lim) return nbi_error(NB_ERR_NOMEM, "filterbank: out of memory");
    nbi_band_limits(g->M, g->K, j->W, lim, lim + g->M);
    j->lo = lim;
    j->hi = lim + g->M;
    const int64_t work = g->B * (g->M + g->K) * g->T;
    if (!with_dx && !with_dw) {
        int nt = threads_for(be, work, g->B);
        if (nt == 1)
            for (int64_t b = 0; b < g->B; b++) band_task(j, b);
        else
            nbi_parallel_for(nt, g->B, band_task, j);
    }
    if (with_dx) {
        int nt = threads_for(be, work, g->B);
        if (nt == 1)
            for (int64_t b = 0; b < g->B; b++) band_dx_task(j, b);
        else
            nbi_parallel_for(nt, g->B, band_dx_task, j);
    }
    if (with_dw) {
        int nt = threads_for(be, work * g->K / (g->M + g->K + 1), g->M);
        if (nt == 1)
            for (int64_t m = 0; m < g->M; m++) band_dw_task(j, m);
        else
            nbi_parallel_for(nt, g->M, band_dw_task, j);
    }
    nbi_free(lim);
    return NB_OK;
}

static nb_status cpu_band(const nbi_backend *be, const nbi_band_geom *g, const float *W,
                          const float *x, float *y) {
    band_job j = {.g = g, .W = W, .x = x, .y = y};
    return band_run(be, &j, 0, 0);
}

static nb_status cpu_band_bwd(const nbi_backend *be, const nbi_band_geom *g, const float *W,
                              const float *x, const float *dy, float *dx, float *dW) {
    band_job j = {.g = g, .W = W, .x = x, .dy = dy, .dx = dx, .dW = dW};
    return band_run(be, &j, dx != NULL, dW != NULL);
}

void nbi_backend_cpu_spectral(nbi_backend *be) {
    be->stft = cpu_stft;
    be->stft_bwd = cpu_stft_bwd;
    be->spec_power = cpu_spec_power;
    be->spec_power_bwd = cpu_spec_power_bwd;
    be->band = cpu_band;
    be->band_bwd = cpu_band_bwd;
}
