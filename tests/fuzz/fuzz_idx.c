/* fuzz_idx — libFuzzer harness for the IDX reader (plain and gzip) on memory buffers.
 *
 * Beyond "no crash, no leak, no undefined behaviour", it checks what a successful parse
 * promises: a rank within 1..8, numel equal to the product of the shape, and for plain input
 * a file exactly as long as its header says. Run through `make fuzz`. */
#include "nabla.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_array a;
    nb_status s = nb_idx_parse(data, size, "fuzz", &a);
    if (s != NB_OK) {
        if (a.data || nb_last_error()[0] == 0) abort(); /* failures leave no array, say why */
        return 0;
    }
    if (a.rank < 1 || a.rank > NB_MAX_RANK) abort();
    /* numel is the product of the shape (which may hold a 0 beside huge dimensions). */
    uint64_t n = 1;
    int zero = 0;
    for (int i = 0; i < a.rank; i++) {
        if (a.shape[i] < 0) abort();
        zero |= a.shape[i] == 0;
        n *= (uint64_t)a.shape[i];
    }
    if ((zero ? 0 : n) != (uint64_t)a.numel || !a.data) abort();
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gz && 4 + 4 * (size_t)a.rank + (size_t)a.numel * nb_elem_size(a.type) != size) abort();
    /* Every element is readable (ASan checks the buffer). */
    volatile unsigned char sink = 0;
    const unsigned char *p = a.data;
    for (size_t i = 0; i < (size_t)a.numel * nb_elem_size(a.type); i++) sink ^= p[i];
    (void)sink;
    nb_array_free(&a);
    return 0;
}
