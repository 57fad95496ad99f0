/* tests/hostile/gen_inputs.c — writes the hostile inputs of the hostile-input suite into a
 * directory: `gen_inputs DIR` (DIR absolute). Nothing it makes is committed; test_hostile runs
 * it into a fresh temporary directory every time.
 *
 * Each file is what an attacker or a careless user would hand the `nabla` tool:
 *   lying.idx.gz       1.1 MB of gzip whose IDX header claims 10^9 bytes (within 1032:1)
 *   wide.csv           a 12 MB CSV of 10^6 columns
 *   nan.npy inf_y.npy  NaN features, infinite targets; neg_y.npy negative labels
 *   header_only.csv    a header and no rows
 *   secret.csv         a file a model's stored spec points at (test=)
 *   model.safetensors  a good 4 -> 3 classifier with class names
 *   evil.safetensors   class names and metadata holding terminal escape sequences
 *   stored.safetensors a model whose stored spec names secret.csv as its test set
 *   classes5.safetensors  five class names for three outputs
 *   conf40000.safetensors 40 000 outputs (a 12.8 GB confusion matrix if made dense)
 *   rank9.st garbage.st empty.st hlen.st  broken safetensors
 *   names.safetensors  tensors "a/b", "a_b", "../up" and a 300-byte name (for export)
 *   slow.spec          a spec that would train for hours (output checks must come first);
 *   fast.spec          one that trains in an instant
 *   in.fifo out.fifo   FIFOs; dev: a character device when run as root (else a FIFO)
 *   adir               a directory where a file is expected
 * Everything is built with nabla's public API or written byte by byte; no zlib needed (gzip
 * as stored deflate blocks). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nabla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *dir;

static const char *at(const char *name) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void die(const char *what) {
    fprintf(stderr, "gen_inputs: %s: %s\n", what, nb_last_error());
    exit(1);
}

static void put(const char *name, const void *p, size_t n) {
    FILE *f = fopen(at(name), "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) die(name);
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

/* data as one gzip member of stored deflate blocks */
static unsigned char *gzip_stored(const unsigned char *data, size_t n, size_t *len) {
    unsigned char *out = malloc(n + (n / 65535 + 1) * 5 + 32);
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    size_t w = 10, pos = 0;
    memcpy(out, head, 10);
    do {
        size_t k = n - pos > 65535 ? 65535 : n - pos;
        out[w++] = pos + k == n;
        out[w++] = (unsigned char)k, out[w++] = (unsigned char)(k >> 8);
        out[w++] = (unsigned char)~k, out[w++] = (unsigned char)(~k >> 8);
        memcpy(out + w, data + pos, k);
        w += k;
        pos += k;
    } while (pos < n);
    uint32_t c = crc32_of(data, n);
    for (int i = 0; i < 4; i++) out[w++] = (unsigned char)(c >> (8 * i));
    for (int i = 0; i < 4; i++) out[w++] = (unsigned char)(n >> (8 * i));
    *len = w;
    return out;
}

static void lying_gzip(void) {
    size_t n = 1100000;
    unsigned char *raw = malloc(n);
    /* 00 00 08 03, 1000 x 1000 x 1000 bytes */
    const unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 3, 0xe8, 0, 0, 3, 0xe8, 0, 0, 3, 0xe8};
    memcpy(raw, hdr, 16);
    uint32_t x = 12345;
    for (size_t i = 16; i < n; i++) raw[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 24);
    size_t len;
    unsigned char *gz = gzip_stored(raw, n, &len);
    put("lying.idx.gz", gz, len);
    free(gz);
    free(raw);
}

static void wide_csv(void) {
    const int cols = 1000000;
    FILE *f = fopen(at("wide.csv"), "w");
    if (!f) die("wide.csv");
    for (int c = 0; c < cols; c++) fprintf(f, "%sc%d", c ? "," : "", c);
    for (int r = 0; r < 2; r++) {
        fputc('\n', f);
        for (int c = 0; c < cols; c++) fputs(c ? ",1" : "1", f);
    }
    fputc('\n', f);
    fclose(f);
}

static void npy(const char *name, nb_elem type, int rank, int64_t d0, int64_t d1, void *data) {
    nb_array a = {.type = type,
                  .rank = rank,
                  .shape = {d0, d1},
                  .numel = rank == 1 ? d0 : d0 * d1,
                  .data = data};
    if (nb_npy_write(at(name), &a) != NB_OK) die(name);
}

static void arrays(void) {
    float x[5 * 4];
    for (int i = 0; i < 20; i++) x[i] = (float)(i % 7) * 0.5f;
    npy("x.npy", NB_ELEM_F32, 2, 5, 4, x);
    x[9] = NAN;
    npy("nan.npy", NB_ELEM_F32, 2, 5, 4, x);
    float y[5] = {0.5f, 1, INFINITY, 0, 2};
    npy("inf_y.npy", NB_ELEM_F32, 2, 5, 1, y);
    int32_t lab[5] = {0, 1, -3, 2, 1};
    npy("neg_y.npy", NB_ELEM_I32, 1, 5, 0, lab);
    const char *small = "f1,f2,f3,f4,label\n"
                        "0.1,0.2,0.3,0.4,a\n0.5,0.1,0.9,0.2,b\n0.3,0.3,0.1,0.8,c\n"
                        "0.7,0.6,0.2,0.1,a\n0.2,0.9,0.5,0.5,b\n0.4,0.4,0.4,0.4,c\n";
    put("small.csv", small, strlen(small));
    const char *ho = "f1,f2,f3,f4,label\n";
    put("header_only.csv", ho, strlen(ho));
    const char *secret = "TOPSECRET-LINE-ONE-0123456789-abcdefghijklmnopqrstuvwxyz\n"
                         "TOPSECRET-LINE-TWO-0123456789-abcdefghijklmnopqrstuvwxyz\n";
    put("secret.csv", secret, strlen(secret));
}

/* A model from spec text, saved with the given options. */
static void model(const char *name, const char *spec_text, const char *const *classes, int n,
                  nb_save_opts so) {
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    if (nb_spec_parse(spec_text, strlen(spec_text), name, NULL, &spec) != NB_OK ||
        nb_spec_build(spec, &m) != NB_OK)
        die(name);
    so.spec = spec;
    if (n && nb_model_set_classes(m, classes, n) != NB_OK) die(name);
    if (nb_model_save(m, at(name), &so) != NB_OK) die(name);
    nb_model_free(m);
    nb_spec_free(spec);
}

static void models(void) {
    const char *cls = "nabla-spec 1\ninput 4\ndense 3 softmax\nloss nll\nseed 1\n";
    const char *abc[3] = {"a", "b", "c"};
    model("model.safetensors", cls, abc, 3, (nb_save_opts){0});
    /* OSC title, clear screen + colour, and a C1 CSI (U+009B as UTF-8) asking for a report */
    const char *evil[3] = {"\x1b]0;owned\x07", "\x1b[2J\x1b[31mred", "\xc2\x9b\x36n"};
    const char *meta[4] = {"comment", "\x1b]52;c;ZWNobyBvd25lZA==\x07 clipboard", "\x1b[5mkey",
                           "value"};
    model("evil.safetensors", cls, evil, 3, (nb_save_opts){.meta = meta, .n_meta = 2});
    char stored[4096];
    snprintf(stored, sizeof stored, "%sdata test=\"%s\" format=csv\n", cls, at("secret.csv"));
    model("stored.safetensors", stored, NULL, 0, (nb_save_opts){0});
    const char *five[5] = {"a", "b", "c", "d", "e"};
    model("classes5.safetensors", cls, five, 5, (nb_save_opts){0});
    model("conf40000.safetensors",
          "nabla-spec 1\ninput 4\ndense 40000\nloss cross_entropy\nseed 1\n", NULL, 0,
          (nb_save_opts){0});
}

/* A safetensors file from a JSON header and n zero bytes of data. */
static void st_file(const char *name, const char *json, size_t n) {
    size_t h = strlen(json), pad = (8 - h % 8) % 8, total = 8 + h + pad + n;
    unsigned char *b = calloc(1, total);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((h + pad) >> (8 * i));
    memcpy(b + 8, json, h);
    memset(b + 8 + h, ' ', pad);
    put(name, b, total);
    free(b);
}

static void broken(void) {
    st_file("rank9.st",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    st_file("bytes.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,4]}}", 4);
    unsigned char g[4096];
    uint32_t x = 99;
    for (size_t i = 0; i < sizeof g; i++)
        g[i] = (unsigned char)((x = x * 1664525u + 1013904223u) >> 24);
    put("garbage.st", g, sizeof g);
    put("empty.st", "", 0);
    const unsigned char hl[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    put("hlen.st", hl, sizeof hl);
    /* tensor names for export: a slash, its look-alike, a climb, a long one */
    char longname[301];
    memset(longname, 'w', 300);
    longname[300] = 0;
    const char *names[4] = {"a/b", "a_b", "../up", longname};
    float v[4] = {1, 2, 3, 4};
    nb_array arr[4];
    for (int i = 0; i < 4; i++)
        arr[i] =
            (nb_array){.type = NB_ELEM_F32, .rank = 1, .shape = {1}, .numel = 1, .data = &v[i]};
    if (nb_safetensors_write(at("names.safetensors"), 4, names, arr, 0, NULL) != NB_OK)
        die("names.safetensors");
}

static void specs(void) {
    char text[4096];
    snprintf(text, sizeof text,
             "nabla-spec 1\ninput 4\ndense 3\nloss cross_entropy\nepochs 3000000\n"
             "data train=\"%s\"\n",
             at("small.csv"));
    put("slow.spec", text, strlen(text));
    snprintf(text, sizeof text,
             "nabla-spec 1\ninput 4\ndense 3\nloss cross_entropy\nepochs 1\ndata train=\"%s\"\n",
             at("small.csv"));
    put("fast.spec", text, strlen(text));
}

static void special_files(void) {
    if (mkfifo(at("in.fifo"), 0600) != 0 || mkfifo(at("out.fifo"), 0600) != 0) die("mkfifo");
    /* a character device in the temporary directory (numbers of the null device); the real
     * /dev/null is never named */
    if (geteuid() != 0 || mknod(at("dev"), S_IFCHR | 0600, makedev(1, 3)) != 0)
        if (mkfifo(at("dev"), 0600) != 0) die("dev");
    if (mkdir(at("adir"), 0700) != 0) die("adir");
}

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: gen_inputs DIR (an absolute path)\n");
        return 2;
    }
    dir = argv[1];
    lying_gzip();
    wide_csv();
    arrays();
    models();
    broken();
    specs();
    special_files();
    return 0;
}
