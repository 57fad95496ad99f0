/* kernels/kernels.c — the CPU's kernel sets: reference kernels first, then whatever the CPU
 * runs faster (BLIS's order: install the reference, override per CPU).
 *
 * One binary runs on any x86-64: the AVX2 and AVX-512 files are compiled with their own
 * -m flags and called only after cpuid says the CPU (and, for AVX-512's wider registers, the
 * operating system's XSAVE state — __builtin_cpu_supports checks both) has the instructions.
 * Elsewhere the portable C GEMM and the reference elementwise kernels run.
 *
 * The sets are filled once (pthread_once) and are read-only afterwards: the one piece of
 * process-wide state the kernels have, and it never changes after it is made. */
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

#if NBI_X86
#include <cpuid.h>

/* F16C: CPUID.1:ECX bit 29, asked directly (clang 14's __builtin_cpu_supports does not know
 * "f16c"); its registers are AVX's, whose OS support the AVX2 test has already checked. */
static bool has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
}
#endif

static void fill_ref(nbi_kernels *k) {
    k->isa = "ref";
    for (int i = 0; i < NBI_U_COUNT; i++) {
        k->unary[i] = nbi_ref_unary[i];
        k->unary_bwd[i] = nbi_ref_unary_bwd[i];
        k->unary_ulp[i] = 0;
    }
    for (int i = 0; i < NBI_B_COUNT; i++) k->binary[i] = nbi_ref_binary[i];
    k->sgemm = nbi_sgemm_ref;
    k->sgemm_src = NULL; /* the reference GEMM has no packing to take B from */
    k->gemm_packed_floats = NULL;
    k->gemm_pack = NULL;
    k->sgemm_packed = NULL;
    k->softmax = nbi_ref_softmax;
    k->log_softmax = nbi_ref_log_softmax;
    k->softmax_bwd = nbi_ref_softmax_bwd;
    k->log_softmax_bwd = nbi_ref_log_softmax_bwd;
    nbi_seq_fill_ref(k); /* seqops: the sequence ops' reference kernels */
    /* speed: the optimizers' fused updates */
    k->optim_update = nbi_ref_optim_update;
    k->find_nonfinite = nbi_ref_find_nonfinite;
    k->rfft_frames = nbi_rfft_frames_ref; /* speech */
    k->rfft_adjoint_frames = nbi_rfft_adjoint_frames_ref;
    k->band_apply = nbi_band_apply;
    k->spec_power = nbi_spec_power;
    k->half_to_f32 = nbi_ref_half_to_f32; /* the f16 dataset store */
    k->f32_to_half = nbi_ref_f32_to_half;
    k->u8_to_f32 = nbi_ref_u8_to_f32; /* the byte dataset store */
    k->dropout = nbi_ref_dropout;
    /* int8: the quantized-inference reference kernels */
    nbi_int8_fill_ref(k);
}

/* Does this CPU (and OS) run `isa`? */
static bool cpu_runs(const char *isa) {
    if (!strcmp(isa, "ref") || !strcmp(isa, "c")) return true;
#if NBI_X86
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(isa, "avx2")) return avx2;
    if (!strcmp(isa, "avx512")) return avx2 && __builtin_cpu_supports("avx512f");
#endif
    return false;
}

/* Fills *k with the set of `isa`, which the CPU runs. */
static void fill_set(const char *isa, nbi_kernels *k) {
    fill_ref(k);
    if (!strcmp(isa, "ref")) return;
    k->isa = "c"; /* the portable blocked GEMM; elementwise stays the reference */
    k->sgemm = nbi_sgemm_c;
    k->sgemm_src = nbi_sgemm_src_c;
    k->gemm_packed_floats = nbi_sgemm_packed_c_floats;
    k->gemm_pack = nbi_sgemm_packed_c_pack;
    k->sgemm_packed = nbi_sgemm_packed_c;
    nbi_int8_fill(k, isa); /* int8: the level's best int8 kernels this CPU runs */
#if NBI_X86
    if (!strcmp(isa, "avx2")) {
        k->isa = "avx2";
        k->sgemm = nbi_sgemm_avx2;
        k->sgemm_src = nbi_sgemm_src_avx2;
        k->gemm_packed_floats = nbi_sgemm_packed_avx2_floats;
        k->gemm_pack = nbi_sgemm_packed_avx2_pack;
        k->sgemm_packed = nbi_sgemm_packed_avx2;
        nbi_elementwise_avx2(k);
        nbi_seq_avx2(k); /* seqops: the sequence ops' vector kernels */
        /* speed: the optimizers' fused updates */
        nbi_optim_avx2(k);
        nbi_fft_avx2(k); /* speech: the frame FFT */
        nbi_conv_direct_avx2(k);
        nbi_conv_dw_avx2(k);
        nbi_conv_rows_avx2(k);
        if (has_f16c()) nbi_half_f16c(k);
        nbi_bytes_avx2(k);
        nbi_dropout_avx2(k);
    } else if (!strcmp(isa, "avx512")) {
        k->isa = "avx512";
        k->sgemm = nbi_sgemm_avx512;
        k->sgemm_src = nbi_sgemm_src_avx512;
        k->gemm_packed_floats = nbi_sgemm_packed_avx512_floats;
        k->gemm_pack = nbi_sgemm_packed_avx512_pack;
        k->sgemm_packed = nbi_sgemm_packed_avx512;
        nbi_elementwise_avx512(k);
        nbi_seq_avx512(k); /* seqops */
        /* speed */
        nbi_optim_avx512(k);
        nbi_fft_avx512(k); /* speech */
        nbi_conv_direct_avx512(k);
        nbi_conv_dw_avx512(k);
        nbi_conv_rows_avx512(k);
        if (has_f16c()) nbi_half_f16c(k);
        nbi_bytes_avx2(k);
        nbi_dropout_avx2(k);
    }
#endif
}

/* From the best to the plainest: the order in which "cpu" looks for a set. */
static const char *const order[] = {"avx512", "avx2", "c", "ref"};
#define N_ISA 4

static nbi_kernels sets[N_ISA];
static bool have[N_ISA];
static const char *best = "ref";

static void init_once(void) {
    for (int i = 0; i < N_ISA; i++) {
        have[i] = cpu_runs(order[i]);
        if (have[i]) fill_set(order[i], &sets[i]);
    }
    /* NB_ISA may only lower the choice: a level this CPU lacks is skipped. */
    const char *want = getenv("NB_ISA");
    int start = 0;
    for (int i = 0; i < N_ISA; i++)
        if (want && !strcmp(want, order[i])) start = i;
    for (int i = start; i < N_ISA; i++)
        if (have[i]) {
            best = order[i];
            break;
        }
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

const nbi_kernels *nbi_kernel_set(const char *isa) {
    pthread_once(&once, init_once);
    for (int i = 0; isa && i < N_ISA; i++)
        if (!strcmp(isa, order[i])) return have[i] ? &sets[i] : NULL;
    return NULL;
}

bool nbi_kernels_for(const char *isa, nbi_kernels *k) {
    const nbi_kernels *s = nbi_kernel_set(isa);
    if (!s) return false;
    *k = *s;
    return true;
}

const char *nbi_best_isa(void) {
    pthread_once(&once, init_once);
    return best;
}
