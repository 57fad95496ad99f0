/* kernels/x86/conv_rows_avx2.c — the convolution's row kernels (x86/conv_rows.inc) compiled for
 * AVX2; installed by kernels.c only where the CPU runs them. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define FILL_NAME nbi_conv_rows_avx2
#include "kernels/x86/conv_rows.inc"
#else
typedef int nbi_conv_rows_avx2_unused; /* not an x86 build: nothing to compile */
#endif
