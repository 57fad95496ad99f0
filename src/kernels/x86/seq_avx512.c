/* kernels/x86/seq_avx512.c — the sequence ops' vector kernels (x86/attention.inc, x86/seq.inc)
 * compiled for AVX-512F: 16 lanes, tails under lane masks. */
#include "kernels/kernels.h"

#if NBI_X86
#include "kernels/x86/simd_avx512.h"

#define SEQ_FILL_NAME nbi_seq_avx512
#include "kernels/x86/attention.inc"
#include "kernels/x86/seq.inc"
#else
typedef int nbi_seq_avx512_unused; /* not an x86 build: nothing to compile */
#endif
