/* data/corpus.c — a text corpus: the bytes of a file, or of every file of a folder, in memory.
 *
 * A folder is read in byte order of its file names, so a corpus is the same on every machine.
 * What is skipped is what a text folder holds besides text: symbolic links (the fortune
 * package links "name.u8" to "name"), subfolders, hidden files and "*.dat" (fortune's index
 * files). Adding is all or nothing: a file that cannot be read leaves the corpus as it was. */
#define _POSIX_C_SOURCE 200809L
#include "data/text.h"
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *nbi_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = nbi_malloc(a + b + 2);
    if (!p) {
        nbi_error(NB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

char *nbi_str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = nbi_malloc(n);
    if (!p)
        nbi_error(NB_ERR_NOMEM, "out of memory");
    else
        memcpy(p, s, n);
    return p;
}

void nbi_free_names(char **names, int n) {
    for (int i = 0; names && i < n; i++) nbi_free(names[i]);
    nbi_free(names);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

nb_status nbi_list_dir(const char *dir, bool want_dirs, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return nbi_error(NB_ERR_IO, "cannot open the folder '%s': %s", dir, strerror(errno));
    char **v = NULL;
    int count = 0, cap = 0;
    nb_status st = NB_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files */
        if (!want_dirs && ends_with(e->d_name, ".dat")) continue;
        char *path = nbi_path_join(dir, e->d_name);
        struct stat sb;
        if (!path) {
            st = NB_ERR_NOMEM;
            break;
        }
        bool take =
            lstat(path, &sb) == 0 && (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        nbi_free(path);
        if (!take) continue;
        if (count == cap) {
            if (cap >= INT32_MAX / 4) {
                st = nbi_error(NB_ERR_ARG, "the folder '%s' has too many entries", dir);
                break;
            }
            int c2 = cap ? 2 * cap : 16;
            char **w = nbi_malloc((size_t)c2 * sizeof *w);
            if (!w) {
                st = nbi_error(NB_ERR_NOMEM, "out of memory listing '%s'", dir);
                break;
            }
            if (count) memcpy(w, v, (size_t)count * sizeof *w);
            nbi_free(v);
            v = w;
            cap = c2;
        }
        size_t k = strlen(e->d_name);
        if (!(v[count] = nbi_malloc(k + 1))) {
            st = nbi_error(NB_ERR_NOMEM, "out of memory listing '%s'", dir);
            break;
        }
        memcpy(v[count++], e->d_name, k + 1);
    }
    closedir(d);
    if (st) {
        nbi_free_names(v, count);
        return st;
    }
    if (count) qsort(v, (size_t)count, sizeof *v, cmp_names);
    *names = v;
    *n = count;
    return NB_OK;
}

void nb_corpus_free(nb_corpus *c) {
    if (!c) return;
    nbi_free(c->data);
    nbi_free_names(c->files, c->n_files);
    nbi_free(c->offsets);
    memset(c, 0, sizeof *c);
}

/* The file paths that `path` stands for (itself, or its folder's files). */
static nb_status paths_of(const char *path, char ***paths, int *n) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return nbi_error(NB_ERR_IO, "corpus: cannot open '%s': %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        *paths = nbi_malloc(sizeof(char *));
        if (!*paths || !((*paths)[0] = nbi_str_dup(path))) {
            nbi_free(*paths);
            *paths = NULL;
            return nbi_error(NB_ERR_NOMEM, "corpus: out of memory");
        }
        *n = 1;
        return NB_OK;
    }
    nb_status st = nbi_list_dir(path, false, paths, n);
    if (st) return st;
    if (*n == 0)
        return nbi_error(NB_ERR_IO,
                         "corpus: the folder '%s' holds no text files (links, "
                         "subfolders, hidden and .dat files are skipped)",
                         path);
    for (int i = 0; i < *n; i++) {
        char *full = nbi_path_join(path, (*paths)[i]);
        if (!full) return NB_ERR_NOMEM; /* the caller frees the names */
        nbi_free((*paths)[i]);
        (*paths)[i] = full;
    }
    return NB_OK;
}

nb_status nb_corpus_add(nb_corpus *c, const char *path) {
    if (!c || !path) return nbi_error(NB_ERR_ARG, "nb_corpus_add: need a corpus and a path");
    char **paths = NULL;
    int n = 0;
    nb_status st = paths_of(path, &paths, &n);
    unsigned char **bufs = st ? NULL : nbi_calloc((size_t)n, sizeof *bufs);
    size_t *lens = st ? NULL : nbi_calloc((size_t)n, sizeof *lens);
    if (!st && (!bufs || !lens)) st = nbi_error(NB_ERR_NOMEM, "corpus: out of memory");
    size_t total = c->len;
    for (int i = 0; !st && i < n; i++) {
        st = nbi_read_file(paths[i], "corpus", &bufs[i], &lens[i]);
        if (!st && (!nbi_add_size(total, lens[i], &total) || total == SIZE_MAX))
            st = nbi_error(NB_ERR_ARG, "corpus: too large");
    }
    int nf = c->n_files + n;
    char *data = st ? NULL : nbi_malloc(total + 1);
    char **files = st ? NULL : nbi_calloc((size_t)nf + 1, sizeof *files);
    size_t *offsets = st ? NULL : nbi_malloc(((size_t)nf + 1) * sizeof *offsets);
    if (!st && (!data || !files || !offsets))
        st = nbi_error(NB_ERR_NOMEM, "corpus: out of memory for %zu bytes", total);
    if (!st) {
        if (c->len) memcpy(data, c->data, c->len);
        for (int i = 0; i < c->n_files; i++) {
            files[i] = c->files[i];
            offsets[i] = c->offsets[i];
        }
        size_t at = c->len;
        for (int i = 0; i < n; i++) {
            files[c->n_files + i] = paths[i];
            offsets[c->n_files + i] = at;
            if (lens[i]) memcpy(data + at, bufs[i], lens[i]);
            at += lens[i];
        }
        offsets[nf] = at;
        data[at] = 0;
        nbi_free(c->data), nbi_free(c->files), nbi_free(c->offsets);
        c->data = data;
        c->len = total;
        c->files = files;
        c->offsets = offsets;
        c->n_files = nf;
    } else {
        nbi_free(data), nbi_free(files), nbi_free(offsets);
    }
    for (int i = 0; bufs && i < n; i++) nbi_free(bufs[i]);
    nbi_free(bufs);
    nbi_free(lens);
    if (st)
        nbi_free_names(paths, n);
    else
        nbi_free(paths); /* the names moved into c->files */
    return st;
}

nb_status nb_corpus_read(const char *path, nb_corpus *out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_corpus_read: out is NULL");
    memset(out, 0, sizeof *out);
    return nb_corpus_add(out, path);
}
