/* tests/support/fixture.c — reads the reference fixtures that the tests/ref scripts write.
 *
 * Format (text, so fixtures diff and review well):
 *     # comment lines
 *     name rank d0 d1 ... v0 v1 v2 ...      (numel values, any whitespace, %.9g)
 * i.e. a whitespace-separated stream of records: a name, the rank, the dims, the values. */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static char *next_token(char **p) {
    char *s = *p;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (*s == '#') {
            while (*s && *s != '\n') s++;
            continue;
        }
        break;
    }
    if (!*s) return NULL;
    char *t = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') s++;
    if (*s) *s++ = '\0';
    *p = s;
    return t;
}

nbt_fixture *nbt_fixture_load(const char *path) {
    size_t len;
    char *text = slurp(path, &len);
    if (!text) {
        fprintf(stderr, "fixture: cannot read %s\n", path);
        return NULL;
    }
    nbt_fixture *fx = calloc(1, sizeof *fx);
    char *p = text, *tok;
    while ((tok = next_token(&p))) {
        if (fx->n == NBT_FIXTURE_MAX) {
            fprintf(stderr, "fixture: %s has more than %d arrays\n", path, NBT_FIXTURE_MAX);
            break;
        }
        nbt_array *a = &fx->arr[fx->n];
        snprintf(a->name, sizeof a->name, "%s", tok);
        char *r = next_token(&p);
        if (!r) goto bad;
        a->rank = atoi(r);
        if (a->rank < 0 || a->rank > 8) goto bad;
        a->numel = 1;
        for (int i = 0; i < a->rank; i++) {
            char *d = next_token(&p);
            if (!d) goto bad;
            a->shape[i] = atoll(d);
            a->numel *= a->shape[i];
        }
        a->data = malloc(sizeof(float) * (size_t)(a->numel ? a->numel : 1));
        for (int64_t i = 0; i < a->numel; i++) {
            char *v = next_token(&p);
            if (!v) goto bad;
            a->data[i] = strtof(v, NULL);
        }
        fx->n++;
    }
    free(text);
    return fx;
bad:
    fprintf(stderr, "fixture: %s is malformed near array %d\n", path, fx->n);
    free(text);
    nbt_fixture_free(fx);
    return NULL;
}

const nbt_array *nbt_fixture_get(const nbt_fixture *fx, const char *name) {
    if (!fx) return NULL;
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->arr[i].name, name) == 0) return &fx->arr[i];
    fprintf(stderr, "fixture: no array named '%s'\n", name);
    return NULL;
}

void nbt_fixture_free(nbt_fixture *fx) {
    if (!fx) return;
    for (int i = 0; i < fx->n; i++) free(fx->arr[i].data);
    /* a partially read array (on error) */
    if (fx->n < NBT_FIXTURE_MAX) free(fx->arr[fx->n].data);
    free(fx);
}

int nbt_compare(const char *what, const float *got, const float *want, int64_t n, double atol,
                double rtol) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (!(fabs(g - w) <= atol + rtol * fabs(w))) {
            if (bad < 5)
                nbt_report(__FILE__, __LINE__, "%s[%lld] = %.9g, reference %.9g (diff %.3g)",
                           what, (long long)i, g, w, fabs(g - w));
            bad++;
        }
    }
    return bad;
}
