/* io/paths.c — data paths as a model file stores them: relative to the file's own directory,
 * so that a model and its data moved together (or evaluated from another working directory)
 * still find each other.
 *
 * The path and the directory are made absolute (realpath when they exist, so symbolic links
 * and "..", resolve as the system would; else the working directory joined and "." and ".."
 * removed by their text), then the directory's components shared with the path are dropped
 * and each one left becomes "..". A path that cannot be made absolute is kept as written. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "io/spec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* An absolute, normalised form of p into out (PATH_MAX); false when there is none. */
static bool absolute(const char *p, char *out) {
    if (realpath(p, out)) return true;
    char joined[2 * PATH_MAX];
    if (p[0] == '/') {
        if (strlen(p) >= sizeof joined) return false;
        strcpy(joined, p);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return false;
        size_t a = strlen(cwd), b = strlen(p);
        if (a + b + 2 > sizeof joined) return false;
        memcpy(joined, cwd, a);
        joined[a] = '/';
        memcpy(joined + a + 1, p, b + 1);
    }
    /* "." and ".." by their text: the path does not exist, so no link can say otherwise */
    size_t n = 0;
    out[0] = 0;
    for (char *save = NULL, *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        if (!strcmp(c, "..")) {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--;
            out[n] = 0;
            continue;
        }
        size_t k = strlen(c);
        if (n + k + 2 > PATH_MAX) return false;
        out[n++] = '/';
        memcpy(out + n, c, k + 1);
        n += k;
    }
    if (!n) strcpy(out, "/");
    return true;
}

/* The length of the component of p starting at p (up to '/' or the end). */
static size_t comp_len(const char *p) {
    return strcspn(p, "/");
}

void nbi_path_from_dir(const char *path, const char *dir, nbi_text *t) {
    char ap[PATH_MAX], ad[PATH_MAX];
    if (!absolute(path, ap) || !absolute(dir[0] ? dir : ".", ad)) {
        nbi_text_puts(t, path);
        return;
    }
    /* walk both component by component while they agree */
    const char *p = ap + 1, *d = ad + 1;
    while (*p && *d) {
        size_t lp = comp_len(p), ld = comp_len(d);
        if (lp != ld || memcmp(p, d, lp)) break;
        p += lp + (p[lp] == '/');
        d += ld + (d[ld] == '/');
    }
    size_t start = t->len;
    for (; *d; d += comp_len(d) + (d[comp_len(d)] == '/'))
        nbi_text_puts(t, t->len > start ? "/.." : ".."); /* one ".." per component of dir left */
    if (*p) {
        if (t->len > start) nbi_text_puts(t, "/");
        nbi_text_puts(t, p);
    }
    if (t->len == start) nbi_text_puts(t, ".");
}
