/* data/textset.h — the builder of labelled text sets, shared by the folder and fortune readers
 * (textset.c) and the CSV reader (textset_csv.c). */
#ifndef NBI_TEXTSET_H
#define NBI_TEXTSET_H

#include "data/text.h"

#define NBI_MAX_CLASSES 65536

typedef struct nbi_tsb {
    const nb_tokenizer *t;
    nb_textset_opts o;
    const char *what; /* names the source in messages */
    int32_t pad;
    nbi_ids ids, lengths, labels;
    char **classes;
    int num_classes;
    int64_t truncated, skipped;
} nbi_tsb;

/* Checks the options and finds the pad id. On failure b is still safe to free. */
nb_status nbi_tsb_init(nbi_tsb *b, const nb_tokenizer *t, const nb_textset_opts *o,
                       const char *what);
/* Encodes one record of class `label`, padded or truncated to o.len tokens. */
nb_status nbi_tsb_add(nbi_tsb *b, const void *text, size_t len, int32_t label);
/* Appends a class name (its index is the next label). */
nb_status nbi_tsb_class(nbi_tsb *b, const char *name, size_t len);
/* Moves what was built into out (an error when there are no records); b is emptied. */
nb_status nbi_tsb_finish(nbi_tsb *b, nb_textset *out);
void nbi_tsb_free(nbi_tsb *b);

/* Calls fn for each record of a fortune file s[0..n): the text between lines holding only
 * "%" (LF or CRLF), without the newline that ends its last line; stops at the first error,
 * which it leaves in *st. */
void nbi_fortune_records(const char *s, size_t n,
                         nb_status (*fn)(void *user, const char *rec, size_t len), void *user,
                         nb_status *st);

#endif
