/* kernels/x86/quantize_avx512.c — the f32 → u8 input quantization (x86/quantize.inc) for
 * AVX-512F: 16 values a step. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"
#define QUANTIZE_NAME nbi_quantize_avx512
#include "kernels/x86/quantize.inc"
#else
typedef int nbi_quantize_avx512_unused; /* not an x86 build: nothing to compile */
#endif
