/* autograd/gradcheck.h — finite-difference checking of an op's backward (see gradcheck.c). */
#ifndef NBI_GRADCHECK_H
#define NBI_GRADCHECK_H

#include "autograd/autograd.h"

typedef struct nbi_gradcheck_report {
    int64_t checked;         /* input elements compared */
    int64_t failures;        /* elements outside atol + rtol |numeric| */
    double max_abs_err;
    double worst_excess;     /* max of err - allowed (negative when all pass) */
    int worst_input;
    int64_t worst_index;
    double worst_analytic, worst_numeric;
} nbi_gradcheck_report;

/* Runs one case of op `op` (inputs built by its spec's generator, in any context that
 * outlives the call). Returns an error status if the op itself failed. */
nb_status nbi_gradcheck_case(int op, nbi_check_case *c, nbi_gradcheck_report *rep);
/* The same with the op run on back end `be` (which outlives the call). */
nb_status nbi_gradcheck_case_on(const nbi_backend *be, int op, nbi_check_case *c,
                                nbi_gradcheck_report *rep);

#endif
