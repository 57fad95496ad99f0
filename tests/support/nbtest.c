/* tests/support/nbtest.c — the harness behind nbtest.h. `./test_x name` runs one test. */
#include "nbtest.h"

#include <stdarg.h>

int nbt_fail_count;
const char *nbt_current;

void nbt_report(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "  FAIL %s (%s:%d): ", nbt_current, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    nbt_fail_count++;
}

int nbt_run(const nbt_case *cases, int n, int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0) continue;
        nbt_current = cases[i].name;
        nbt_fail_count = 0;
        double t0 = nb_time();
        cases[i].fn();
        double dt = nb_time() - t0;
        if (nbt_fail_count) {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        } else {
            passed++;
            printf("ok   %s (%.3f s)\n", cases[i].name, dt);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
