/* base/json.h — a strict JSON reader for safetensors headers (objects, arrays, strings and
 * non-negative integers; nothing else is needed there) and JSON string escaping. */
#ifndef NBI_JSON_H
#define NBI_JSON_H

#include "base/base.h"

typedef struct nbi_json {
    const char *start, *p, *end;
    size_t base;      /* the file offset of start, for messages */
    const char *name; /* the file's name, for messages */
} nbi_json;

void nbi_json_init(nbi_json *j, const char *p, size_t n, size_t base, const char *name);
/* The next character after whitespace (not consumed), -1 at the end. */
int nbi_json_peek(nbi_json *j);
/* Consumes c if it comes next (after whitespace). */
bool nbi_json_accept(nbi_json *j, char c);
nb_status nbi_json_expect(nbi_json *j, char c, const char *what);
/* A string, decoded to UTF-8 into out (replacing its contents). `what` is for messages. */
nb_status nbi_json_string(nbi_json *j, nbi_text *out, const char *what);
nb_status nbi_json_u64(nbi_json *j, uint64_t *out, const char *what);
/* "<name>: <message> at byte N of the file, got 'c'" (NB_ERR_FORMAT). */
nb_status nbi_json_error(nbi_json *j, const char *fmt, ...) NBI_PRINTF(2, 3);

/* s as a JSON string, quoted and escaped. */
void nbi_json_put_string(nbi_text *out, const char *s);

#endif
