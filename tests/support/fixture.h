/* tests/support/fixture.h — reference arrays written by the tests/ref scripts (see fixture.c). */
#ifndef NBT_FIXTURE_H
#define NBT_FIXTURE_H

#include "nbtest.h"

#define NBT_FIXTURE_MAX 512

typedef struct nbt_array {
    char name[96];
    int rank;
    int64_t shape[8];
    int64_t numel;
    float *data;
} nbt_array;

typedef struct nbt_fixture {
    int n;
    nbt_array arr[NBT_FIXTURE_MAX];
} nbt_fixture;

/* Paths are relative to the repository root (tests run from there). NULL on error. */
nbt_fixture *nbt_fixture_load(const char *path);
const nbt_array *nbt_fixture_get(const nbt_fixture *fx, const char *name);
void nbt_fixture_free(nbt_fixture *fx);

/* Reports (as test failures) elements outside atol + rtol |want|; returns how many. */
int nbt_compare(const char *what, const float *got, const float *want, int64_t n, double atol,
                double rtol);

#endif
