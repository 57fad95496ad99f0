/* fuzz_manifest — libFuzzer harness for manifests (CSV of path, label and group columns).
 *
 * A failed parse leaves an empty manifest and says why. A successful one has n >= 1 rows,
 * each with a non-empty path and a label below num_classes (class names, when there are any,
 * distinct and non-empty; sorted when the labels themselves were names), group numbers below num_groups; splitting it by group (when
 * it has groups) puts every row on exactly one side and no group on both. Run through
 * `make fuzz`. */
#include "nabla.h"
#include "nabla/audio.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    nb_manifest m, tr, te;
    if (nb_manifest_parse(data, size, "fuzz", "dir", &m) != NB_OK) {
        if (m.n || m.paths || nb_last_error()[0] == 0) abort();
        return 0;
    }
    if (m.n < 1 || !m.paths || !m.labels || m.num_classes < 1) abort();
    for (int64_t i = 0; i < m.n; i++) {
        if (!m.paths[i] || strlen(m.paths[i]) < 1) abort();
        if (m.labels[i] < 0 || m.labels[i] >= m.num_classes) abort();
        if (m.groups && (m.groups[i] < 0 || m.groups[i] >= m.num_groups)) abort();
    }
    for (int c = 0; m.classes && c < m.num_classes; c++) {
        if (!m.classes[c] || !m.classes[c][0]) abort();
        for (int d = 0; d < c; d++)
            if (strcmp(m.classes[d], m.classes[c]) == 0) abort();
    }
    if (m.groups) {
        if (nb_manifest_split_groups(&m, 0.5, 1, &tr, &te) != NB_OK) abort();
        if (tr.n + te.n != m.n) abort();
        for (int64_t i = 0; i < tr.n; i++)
            for (int64_t k = 0; k < te.n; k++)
                if (tr.groups[i] == te.groups[k]) abort();
        nb_manifest_free(&tr);
        nb_manifest_free(&te);
    }
    nb_manifest_free(&m);
    return 0;
}
