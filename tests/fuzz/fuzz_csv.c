/* fuzz_csv — libFuzzer harness for the CSV reader on memory buffers, and for the dataset and
 * loader built on what it returns.
 *
 * The first byte picks the options (delimiter, label by index, by name, none, a regression
 * target, or a list of known classes); the rest is the file. A successful parse must give
 * finite features, labels within 0..num_classes-1 and class names for every class; its
 * dataset then goes through one shuffled, normalised epoch of batches. Run through
 * `make fuzz`. */
#include "nabla.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 1) return 0;
    unsigned sel = data[0];
    nb_csv_opts o = {0};
    static const char delims[4] = {',', ';', '\t', '|'};
    static const char *const known[3] = {"a", "b", "label"};
    o.delimiter = delims[sel & 3];
    switch ((sel >> 2) & 7) {
    case 0: break; /* the last column */
    case 1:
        o.label_column = 1;
        break;
    case 2:
        o.label_column = (int)(sel >> 5) - 4;
        break; /* -4..3: 0 is the default */
    case 3: o.label_name = "label"; break;
    case 4: o.no_label = 1; break;
    case 5: o.label_is_target = 1; break;
    case 6:
        o.classes = known;
        o.num_classes = 3;
        break;
    default:
        o.label_column = 2;
        break;
    }
    nb_csv c;
    if (nb_csv_parse(data + 1, size - 1, "fuzz", &o, &c) != NB_OK) {
        if (c.x || c.labels || c.classes) abort();
        return 0;
    }
    if (c.cols < 1 || c.rows < 0 || !c.x || !c.col_names) abort();
    for (int64_t i = 0; i < c.rows * c.cols; i++)
        if (!isfinite(c.x[i])) abort();
    for (int64_t i = 0; c.labels && i < c.rows; i++)
        if (c.labels[i] < 0 || c.labels[i] >= c.num_classes) abort();
    for (int k = 0; c.classes && k < c.num_classes; k++)
        if (!c.classes[k]) abort();
    nb_dataset *ds;
    if (nb_dataset_from_csv(&c, &ds) == NB_OK) {
        nb_norm norm = {0};
        nb_loader *ld = NULL;
        nb_rng rng;
        nb_rng_seed(&rng, sel);
        int have_norm = nb_dataset_len(ds) > 0 &&
                        nb_norm_fit(&norm, ds, (sel & 1) ? NB_NORM_MINMAX : NB_NORM_STANDARD,
                                    (sel >> 1) & 1) == NB_OK;
        nb_loader_opts lo = {.batch_size = 3, .shuffle = 1, .flatten = 1,
                             .norm = have_norm ? &norm : NULL};
        if (nb_loader_new(ds, &lo, &ld) == NB_OK && nb_loader_epoch(ld, &rng) == NB_OK) {
            nb_batch b;
            int64_t seen = 0;
            while (nb_loader_next(ld, NULL, &b) == NB_OK && b.size) seen += b.size;
            if (seen != c.rows) abort();
        }
        nb_loader_free(ld);
        nb_norm_free(&norm);
        nb_dataset_free(ds);
    }
    nb_csv_free(&c);
    return 0;
}
