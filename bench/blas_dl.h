/* bench/blas_dl.h — OpenBLAS for comparison, loaded at run time with dlopen so that the
 * benchmarks build and run where it is not installed (they then print nabla's numbers only).
 * Only the few entry points the benchmarks call are looked up. */
#ifndef NB_BENCH_BLAS_DL_H
#define NB_BENCH_BLAS_DL_H

#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

/* CBLAS's enums, by value (cblas.h: RowMajor = 101, NoTrans = 111, Trans = 112). */
enum { BLAS_ROW_MAJOR = 101, BLAS_NO_TRANS = 111, BLAS_TRANS = 112 };

typedef struct blas_dl {
    void *lib;
    void (*sgemm)(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
    void (*set_threads)(int n);
    char *(*corename)(void);
} blas_dl;

/* Returns 1 and fills *b when an OpenBLAS shared library is found. */
static int blas_dl_open(blas_dl *b) {
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so",
                                        "libopenblasp.so.0", "libopenblas.dylib"};
    b->lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !b->lib; i++)
        b->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!b->lib) return 0;
    /* dlsym returns void *; converting it to a function pointer is what POSIX requires to
     * work, though ISO C does not define it: go through memcpy to keep -Wpedantic quiet. */
    void *p;
    p = dlsym(b->lib, "cblas_sgemm");
    memcpy(&b->sgemm, &p, sizeof p);
    p = dlsym(b->lib, "openblas_set_num_threads");
    memcpy(&b->set_threads, &p, sizeof p);
    p = dlsym(b->lib, "openblas_get_corename");
    memcpy(&b->corename, &p, sizeof p);
    if (!b->sgemm) {
        dlclose(b->lib);
        b->lib = NULL;
        return 0;
    }
    return 1;
}

#endif
