/* io/protobuf.h — the protocol-buffer wire format, written by hand for the few messages ONNX
 * files need (io/onnx_export.c, io/onnx_import.c): no protobuf library, no generated code.
 *
 * The writer appends fields to an nbi_text used as a byte buffer; a nested message is built in
 * a buffer of its own and appended as one length-delimited field. The reader walks the fields
 * of one message (nbi_pb_next) and opens a nested one (nbi_pb_sub) as a reader over its bytes.
 * It trusts nothing: every length is checked against the bytes left, varints longer than 10
 * bytes or overflowing 64 bits are refused, nesting is limited to NBI_PB_MAX_DEPTH, and a field
 * of the wrong wire type is refused with a message naming the field. */
#ifndef NBI_PROTOBUF_H
#define NBI_PROTOBUF_H

#include "base/base.h"

#include <stddef.h>
#include <stdint.h>

enum { NBI_PB_VARINT = 0, NBI_PB_I64 = 1, NBI_PB_LEN = 2, NBI_PB_I32 = 5 };

#define NBI_PB_MAX_DEPTH 32

/* ---- writing (an allocation failure is sticky in the nbi_text: check nbi_text_status) ---- */

void nbi_pb_varint(nbi_text *t, uint64_t v);
void nbi_pb_tag(nbi_text *t, int field, int wire);
/* A varint field (int64 values are written as their two's complement, as protobuf does). */
void nbi_pb_int(nbi_text *t, int field, int64_t v);
void nbi_pb_float(nbi_text *t, int field, float v); /* fixed32 */
void nbi_pb_bytes(nbi_text *t, int field, const void *p, size_t n);
void nbi_pb_str(nbi_text *t, int field, const char *s);
/* A nested message: sub's bytes as a length-delimited field. */
void nbi_pb_msg(nbi_text *t, int field, const nbi_text *sub);
/* Packed repeated fields (one length-delimited field holding the values). */
void nbi_pb_packed_ints(nbi_text *t, int field, const int64_t *v, size_t n);
void nbi_pb_packed_floats(nbi_text *t, int field, const float *v, size_t n);

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct nbi_pb_reader {
    const uint8_t *p, *end;
    int depth;
    const char *what; /* names the input in messages (a file path) */
} nbi_pb_reader;

typedef struct nbi_pb_field {
    int number;
    int wire;
    uint64_t v;          /* varint, fixed32 and fixed64 values */
    const uint8_t *data; /* length-delimited: the bytes */
    size_t len;
} nbi_pb_field;

void nbi_pb_reader_init(nbi_pb_reader *r, const void *buf, size_t n, const char *what);
/* The next field into *f: 1, 0 at the end of the message, or a negative status (message
 * set: a truncated field, a bad varint, a field number 0, a group wire type). */
int nbi_pb_next(nbi_pb_reader *r, nbi_pb_field *f);
/* Checks that f has wire type `wire`; `name` ("NodeProto.op_type") names the field. */
nb_status nbi_pb_want(const nbi_pb_reader *r, const nbi_pb_field *f, int wire, const char *name);
/* A reader over the nested message f (which must be length-delimited), one level deeper;
 * refused past NBI_PB_MAX_DEPTH. */
nb_status nbi_pb_sub(const nbi_pb_reader *r, const nbi_pb_field *f, const char *name,
                     nbi_pb_reader *sub);
/* A string field copied into a fresh NUL-terminated nbi_malloc'd string (refused if it holds
 * a NUL byte or more than max bytes). */
nb_status nbi_pb_string(const nbi_pb_reader *r, const nbi_pb_field *f, const char *name, size_t max,
                        char **out);
/* Repeated int64 values, packed or not: appends the value(s) of f to v[*n .. cap), refusing
 * more than cap in all. */
nb_status nbi_pb_ints(const nbi_pb_reader *r, const nbi_pb_field *f, const char *name, int64_t *v,
                      size_t cap, size_t *n);
/* The float value of a fixed32 field. */
float nbi_pb_as_float(const nbi_pb_field *f);

#endif
