/* io/safetensors.h — internals of the safetensors reader and writer, shared with the model
 * files: the dtype table, the parsed header, and the writer's header builder. */
#ifndef NBI_SAFETENSORS_H
#define NBI_SAFETENSORS_H

#include "base/base.h"
#include "base/file.h"
#include "nabla/io.h"

/* The dtypes of the format (the names are the ones the header spells). */
typedef enum nbi_st_dtype {
    NBI_ST_BOOL = 0,
    NBI_ST_U8,
    NBI_ST_I8,
    NBI_ST_F8_E5M2,
    NBI_ST_F8_E4M3,
    NBI_ST_I16,
    NBI_ST_U16,
    NBI_ST_F16,
    NBI_ST_BF16,
    NBI_ST_I32,
    NBI_ST_U32,
    NBI_ST_F32,
    NBI_ST_F64,
    NBI_ST_I64,
    NBI_ST_U64,
    NBI_ST_DTYPE_COUNT
} nbi_st_dtype;

size_t nbi_st_dtype_size(nbi_st_dtype d);
const char *nbi_st_dtype_name(nbi_st_dtype d);

typedef struct nbi_st_tensor {
    char *name;
    nbi_st_dtype dtype;
    int rank;
    int64_t shape[NB_MAX_RANK];
    int64_t numel;
    uint64_t begin, end; /* byte offsets into the data section */
} nbi_st_tensor;

struct nb_safetensors {
    char *name;                /* the file's name, for messages */
    unsigned char *owned;      /* the file's bytes (or its header) when nabla read it */
    const unsigned char *data; /* the data section in memory; NULL: in the file (fd) */
    size_t data_len;
    int fd;                    /* an open file (nbi_st_open), -1 otherwise */
    uint64_t data_off;         /* where the data section starts in it */
    struct nbi_st_window *win; /* the last bytes read from it: tensors read in file order
                                  cost one read per window, not one per tensor */
    nbi_strmap index;          /* tensor name → index */
    nbi_st_tensor *t;
    int n, cap;
    char **mkey, **mval; /* metadata, in header order */
    int n_meta, cap_meta;
};

/* Whether a dtype converts to f32 (F32, F64, F16, BF16). */
bool nbi_st_is_float(nbi_st_dtype d);
/* Element i of tensor t (a float dtype) as a float; the data must be in memory. */
float nbi_st_get_f32(const nb_safetensors *st, const nbi_st_tensor *t, int64_t i);
/* Elements [first, first + count) of tensor t (a float dtype) as floats into dst, from memory
 * or straight from the file, through a small buffer. */
nb_status nbi_st_read_f32(const nb_safetensors *st, const nbi_st_tensor *t, int64_t first,
                          int64_t count, float *dst);
/* Opens a file and reads and checks its header (against the file's size) without reading
 * its data, which nbi_st_read_f32 and nb_safetensors_get then read as needed. */
nb_status nbi_st_open(const char *path, nb_safetensors **out);

/* One tensor for the writer. */
typedef struct nbi_st_entry {
    const char *name;
    nbi_st_dtype dtype;
    int rank;
    int64_t shape[NB_MAX_RANK];
} nbi_st_entry;

/* The header of a file holding these tensors (in this order, contiguous) and metadata pairs:
 * the 8 length bytes in len8, the JSON (padded with spaces so that the data starts at a
 * multiple of 8) in json, the data section's size in *data_len. Checks names (non-empty,
 * unique, not "__metadata__"), metadata keys (unique), that every string is valid UTF-8 (the
 * reader refuses others), and sizes (overflow). */
nb_status nbi_st_header(const nbi_st_entry *e, int n, const char *const *meta, int n_meta,
                        const char *what, nbi_text *json, unsigned char len8[8],
                        uint64_t *data_len);

/* Writes n elements of size es from p, little-endian whatever the host's order. */
nb_status nbi_st_write_le(nbi_atomic_file *af, const void *p, size_t n, size_t es);

#endif
