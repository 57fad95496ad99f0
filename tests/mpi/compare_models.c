/* tests/mpi/compare_models.c — `compare_models A B TOL`: loads two model files and exits 0 when
 * their parameters and state agree to TOL relative (the largest difference against the largest
 * value), 1 otherwise; prints the difference. Used by tests/mpi/run.sh. */
#include "nabla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: compare_models A B TOL\n");
        return 2;
    }
    nb_model *a, *b;
    nb_model_file fa, fb;
    if (nb_model_load(argv[1], &a, &fa) != NB_OK || nb_model_load(argv[2], &b, &fb) != NB_OK) {
        fprintf(stderr, "compare_models: %s\n", nb_last_error());
        return 2;
    }
    double d = 0.0, s = 0.0;
    int same_size = 1;
    for (int k = 0; k < 2; k++) {
        nb_params *pa = k ? nb_model_state(a) : nb_model_params(a);
        nb_params *pb = k ? nb_model_state(b) : nb_model_params(b);
        if (nb_params_numel(pa) != nb_params_numel(pb)) same_size = 0;
        for (int64_t i = 0; same_size && i < nb_params_numel(pa); i++) {
            d = fmax(d, fabs((double)nb_params_data(pa)[i] - (double)nb_params_data(pb)[i]));
            s = fmax(s, fabs((double)nb_params_data(pb)[i]));
        }
    }
    const double rel = s > 0 ? d / s : d, tol = atof(argv[3]);
    printf("%s vs %s: relative difference %.3g (tolerance %g)\n", argv[1], argv[2], rel, tol);
    nb_model_file_free(&fa);
    nb_model_file_free(&fb);
    nb_model_free(a);
    nb_model_free(b);
    return same_size && rel <= tol ? 0 : 1;
}
