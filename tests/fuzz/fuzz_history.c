/* fuzz_history — libFuzzer harness for the training-history CSV reader (the log a resumed run
 * continues) on memory buffers.
 *
 * Beyond "no crash, no leak, no undefined behaviour", it checks what a successful parse
 * promises: epochs from 1 upwards, strictly increasing; has_val only with a validation loss;
 * and that writing the history back out and reading it again gives the same records. The SVG
 * plot of it is then drawn: it must finish and hold only finite numbers. Run through
 * `make fuzz`. */
#include "nabla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_history h = {0};
    nb_status s = nb_history_parse_csv(&h, (const char *)data, size, "fuzz");
    if (s != NB_OK) {
        if (h.n || h.rec || nb_last_error()[0] == 0) abort(); /* failures leave it empty, say why */
        return 0;
    }
    for (int i = 0; i < h.n; i++) {
        if (h.rec[i].epoch < 1 || (i && h.rec[i].epoch <= h.rec[i - 1].epoch)) abort();
        if (h.rec[i].has_val && isnan(h.rec[i].val.loss)) abort();
    }
    /* a round trip through a file keeps the epochs */
    char path[64];
    snprintf(path, sizeof path, "/tmp/nabla-fuzz-history-%d.csv", (int)getpid());
    if (nb_history_write_csv(&h, path) == NB_OK) {
        nb_history r = {0};
        if (nb_history_read_csv(&r, path) != NB_OK || r.n != h.n) abort();
        for (int i = 0; i < h.n; i++)
            if (r.rec[i].epoch != h.rec[i].epoch || r.rec[i].step != h.rec[i].step) abort();
        nb_history_free(&r);
        remove(path);
    }
    snprintf(path, sizeof path, "/tmp/nabla-fuzz-history-%d.svg", (int)getpid());
    if (nb_history_write_svg(&h, path, "fuzz") == NB_OK) {
        FILE *f = fopen(path, "rb");
        static char svg[1 << 22];
        size_t n = f ? fread(svg, 1, sizeof svg - 1, f) : 0;
        if (f) fclose(f);
        svg[n] = 0;
        if (!n || strstr(svg, "inf") || strstr(svg, "nan")) abort();
        remove(path);
    }
    nb_history_free(&h);
    return 0;
}
