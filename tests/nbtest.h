/* tests/nbtest.h — a minimal test harness. Each test file defines test functions and a
 * table, and ends with NBT_MAIN(table). A failing CHECK records the failure and the test
 * continues; the binary prints "N passed, M failed" and exits non-zero if M > 0. */
#ifndef NBTEST_H
#define NBTEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

typedef struct nbt_case {
    const char *name;
    void (*fn)(void);
} nbt_case;

extern int nbt_fail_count;     /* failures in the current test */
extern const char *nbt_current;

void nbt_report(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int nbt_run(const nbt_case *cases, int n, int argc, char **argv);

#define CHECK(c)                                                                            \
    do {                                                                                    \
        if (!(c)) nbt_report(__FILE__, __LINE__, "CHECK(%s) failed", #c);                   \
    } while (0)

#define CHECK_MSG(c, ...)                                                                   \
    do {                                                                                    \
        if (!(c)) nbt_report(__FILE__, __LINE__, __VA_ARGS__);                              \
    } while (0)

/* |a - b| <= atol + rtol |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                       \
    do {                                                                                    \
        double a_ = (double)(a), b_ = (double)(b);                                          \
        if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_)))                                   \
            nbt_report(__FILE__, __LINE__, "%s = %.9g, expected %s = %.9g", #a, a_, #b, b_); \
    } while (0)

#define CHECK_OK(expr)                                                                      \
    do {                                                                                    \
        nb_status s_ = (expr);                                                              \
        if (s_ != NB_OK)                                                                    \
            nbt_report(__FILE__, __LINE__, "%s returned %s: %s", #expr, nb_status_str(s_),  \
                       nb_last_error());                                                    \
    } while (0)

/* The pointer must be non-NULL; otherwise report nb_last_error(). */
#define CHECK_PTR(p)                                                                        \
    do {                                                                                    \
        if (!(p)) nbt_report(__FILE__, __LINE__, "%s is NULL: %s", #p, nb_last_error());    \
    } while (0)

#define NBT_MAIN(table)                                                                     \
    int main(int argc, char **argv) {                                                       \
        return nbt_run(table, (int)(sizeof(table) / sizeof(table[0])), argc, argv);         \
    }

#endif
