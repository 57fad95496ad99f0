/* kernels/x86/seq_avx2.c — the sequence ops' vector kernels (x86/attention.inc, x86/seq.inc)
 * compiled for AVX2 + FMA: 8 lanes, tails under VMASKMOVPS. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx2.h"

#define SEQ_FILL_NAME nbi_seq_avx2
#include "kernels/x86/attention.inc"
#include "kernels/x86/seq.inc"
#else
typedef int nbi_seq_avx2_unused; /* not an x86 build: nothing to compile */
#endif
