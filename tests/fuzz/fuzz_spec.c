/* fuzz_spec — libFuzzer harness for the spec format.
 *
 * Any text either parses or fails with a positioned message. A spec that parses must build
 * (the parser builds it once itself), and its canonical text — the architecture from the
 * model plus the training lines — must parse again into a model with the same canonical text
 * (a fixpoint) and the same initial weights. An 'input auto' spec is given a data width of 1
 * to 7 features first, as nabla train does from its data. Models are bounded (50 000 parameters) so
 * that the fuzzer measures the parser, not the allocator. Run through `make fuzz`. */
#include "nabla.h"
#include "io/spec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define LIMIT 50000

static char *canonical(const nb_spec *s, const nb_model *m) {
    size_t a = nb_model_spec(m, NULL, 0), b = nb_spec_training_text(s, NULL, 0);
    if (!a) abort();
    char *t = malloc(a + b + 1);
    nb_model_spec(m, t, a + 1);
    nb_spec_training_text(s, t + a, b + 1);
    return t;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_spec *s = NULL;
    nb_status st = nbi_spec_parse((const char *)data, size, "fuzz", "/base", LIMIT, &s);
    if (st != NB_OK) {
        if (s) abort();
        const char *msg = nb_last_error();
        if (!msg[0]) abort();
        return 0;
    }
    nb_model *m = NULL;
    if (s->has_input) {
        /* 'input auto': the size is known only now, so the bound may refuse the model */
        bool sized = !s->input_auto || nb_spec_set_input_width(s, 1 + (int64_t)(size % 7)) == NB_OK;
        if (!sized || nbi_spec_build(s, LIMIT, &m) != NB_OK) {
            if (!s->input_auto || !nb_last_error()[0]) abort();
            nb_spec_free(s);
            return 0;
        }
        char *c1 = canonical(s, m);
        nb_spec *s2 = NULL;
        nb_model *m2 = NULL;
        if (nbi_spec_parse(c1, strlen(c1), "canonical", NULL, LIMIT, &s2) != NB_OK) abort();
        if (nbi_spec_build(s2, LIMIT, &m2) != NB_OK) abort();
        char *c2 = canonical(s2, m2);
        if (strcmp(c1, c2)) abort();
        nb_params *p1 = nb_model_params(m), *p2 = nb_model_params(m2);
        if (nb_params_numel(p1) != nb_params_numel(p2)) abort();
        if (nb_params_numel(p1) && memcmp(nb_params_data(p1), nb_params_data(p2),
                                          sizeof(float) * (size_t)nb_params_numel(p1)))
            abort();
        free(c1);
        free(c2);
        nb_model_free(m2);
        nb_spec_free(s2);
        nb_model_free(m);
    } else {
        size_t n = nb_spec_training_text(s, NULL, 0);
        (void)n;
    }
    nb_spec_free(s);
    return 0;
}
