/* fuzz_npy — libFuzzer harness for the .npy reader on memory buffers.
 *
 * A successful parse must survive a round trip: encoding the array again (exactly as numpy
 * would) and parsing that gives the same type, shape and bytes. A dataset made of it holds
 * only finite values: NaN, infinity and float64 values beyond float32 are refused. Run
 * through `make fuzz`. */
#include "nabla.h"
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_array a, b;
    if (nb_npy_parse(data, size, "fuzz", &a) != NB_OK) {
        if (a.data) abort();
        return 0;
    }
    if (a.rank < 0 || a.rank > NB_MAX_RANK || (a.numel && !a.data)) abort();
    unsigned char *buf;
    size_t len;
    if (nbi_npy_encode(&a, &buf, &len) != NB_OK) abort();
    if (nb_npy_parse(buf, len, "fuzz round trip", &b) != NB_OK) abort();
    size_t bytes = (size_t)a.numel * nb_elem_size(a.type);
    if (b.type != a.type || b.rank != a.rank || b.numel != a.numel) abort();
    for (int i = 0; i < a.rank; i++)
        if (a.shape[i] != b.shape[i]) abort();
    if (bytes && memcmp(a.data, b.data, bytes) != 0) abort();
    nb_dataset *ds = NULL;
    nb_status s = a.rank >= 1 ? nb_dataset_from_arrays(&a, NULL, &ds) : NB_ERR_SHAPE;
    if (s == NB_OK) {
        for (int64_t i = 0; i < a.numel; i++)
            if (!isfinite((float)nbi_elem_get(a.type, a.data, i))) abort();
        nb_dataset_free(ds);
    } else if (ds || nb_last_error()[0] == 0) {
        abort();
    }
    nb_free(buf);
    nb_array_free(&a);
    nb_array_free(&b);
    return 0;
}
