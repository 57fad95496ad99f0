/* tools/nabla/memory.c — the tool's memory limit (--max-memory, NABLA_MAX_MEMORY).
 *
 * Every allocation nabla makes goes through its allocator hook (nb_set_allocator); the tool
 * installs one that keeps a running total of the bytes in use and refuses, before it is made,
 * any allocation that would take the total over the limit. The library then fails with its
 * usual "out of memory" message and the tool adds what the limit was, so a small file that
 * asks for gigabytes (a lying header, a huge layer, a matrix of 40 000 classes) gets a clear
 * refusal instead of the kernel's OOM killer. The default limit is the machine's physical
 * memory; 0 (or "none") removes it. The count covers the library's buffers and the tool's,
 * not the C library's own (stdio buffers, thread stacks). */
#define _DEFAULT_SOURCE /* _SC_PHYS_PAGES */
#include "cli.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_size_t in_use;
static size_t limit; /* bytes; 0: none */
static atomic_size_t refused_request, refused_in_use;
static atomic_int refusals;

/* Each block carries its size (and the header's) just before the pointer handed out. */
static void *limited_alloc(size_t size, size_t align, void *user) {
    (void)user;
    size_t hdr = align < 2 * sizeof(size_t) ? 2 * sizeof(size_t) : align;
    if (size > SIZE_MAX - hdr) return NULL;
    size_t total = size + hdr;
    size_t before = atomic_fetch_add(&in_use, total);
    if (limit && (before > limit || total > limit - before)) {
        atomic_fetch_sub(&in_use, total);
        atomic_store(&refused_request, size);
        atomic_store(&refused_in_use, before);
        atomic_fetch_add(&refusals, 1);
        return NULL;
    }
    void *base = NULL;
    if (posix_memalign(&base, hdr, total) != 0) {
        atomic_fetch_sub(&in_use, total);
        return NULL;
    }
    size_t *p = (size_t *)((char *)base + hdr);
    p[-1] = total;
    p[-2] = hdr;
    return p;
}

static void limited_free(void *ptr, void *user) {
    (void)user;
    if (!ptr) return;
    size_t *p = ptr;
    size_t total = p[-1], hdr = p[-2];
    atomic_fetch_sub(&in_use, total);
    free((char *)ptr - hdr);
}

static size_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;
    if ((unsigned long)pages > SIZE_MAX / (unsigned long)page) return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

/* "512M", "8G", "1.5G", "100000", "0", "none": bytes (binary units), or SIZE_MAX when bad. */
static size_t parse_size(const char *s) {
    if (!strcmp(s, "none")) return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0)) return SIZE_MAX;
    double unit = 1;
    switch (*end) {
    case 'k':
    case 'K':
        unit = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        unit = 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        unit = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
    case 'T':
        unit = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' || *end == 'B') end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
    if (*end || v * unit >= 1.8e19) return SIZE_MAX;
    return (size_t)(v * unit);
}

static void human(char *buf, size_t n, double bytes) {
    const char *u[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int k = 0;
    while (bytes >= 1024 && k < 6) bytes /= 1024, k++;
    snprintf(buf, n, k ? "%.1f %s" : "%.0f %s", bytes, u[k]);
}

int cli_memory_setup(const cli_args *a) {
    const char *v = cli_get(a, "max-memory");
    const char *from = "--max-memory";
    if (!v) {
        v = getenv("NABLA_MAX_MEMORY");
        from = "NABLA_MAX_MEMORY";
    }
    if (v && *v) {
        limit = parse_size(v);
        if (limit == SIZE_MAX)
            return cli_error(a, CLI_USAGE,
                             "%s expects a size such as 512M, 8G or 0 (no limit), "
                             "got '%s'",
                             from, v);
    } else {
        limit = physical_memory();
    }
    nb_set_allocator(&(nb_allocator){limited_alloc, limited_free, NULL});
    return CLI_OK;
}

const char *cli_memory_note(char *buf, size_t n) {
    buf[0] = 0;
    if (!atomic_load(&refusals)) return buf;
    char req[32], used[32], lim[32];
    human(req, sizeof req, (double)atomic_load(&refused_request));
    human(used, sizeof used, (double)atomic_load(&refused_in_use));
    human(lim, sizeof lim, (double)limit);
    snprintf(buf, n,
             " (refused by the memory limit: %s asked for with %s in use, over %s; "
             "raise it with --max-memory SIZE or NABLA_MAX_MEMORY)",
             req, used, lim);
    return buf;
}

void *cli_malloc(size_t n) {
    return nb_malloc(n ? n : 1);
}
void cli_free(void *p) {
    nb_free(p);
}
