/* audio/features_text.c — the text form of a feature pipeline (nabla/audio.h):
 *
 *   audio/1 rate=16000 length=16000 align=start n_fft=400 win_length=0 hop=160 window=hann ...
 *
 * One key=value word per field, separated by blanks; the version word first. The writer puts
 * every field in a fixed order with numbers in their shortest exact form, so the text is
 * canonical and reads back into the same value; the reader takes any subset in any order over
 * the defaults (so a person can write "n_mels=64 n_mfcc=13"), refuses unknown or repeated
 * keys and values that are not numbers or names of the field's kind, and checks the result
 * with nb_features_check. Model files keep this text so prediction featurises exactly as
 * training did. */
#include "audio/audio.h"
#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_WORD "audio/1"

static const char *const window_names[] = {"hann", "hamming", "rect"};
static const char *const pad_names[] = {"reflect", "constant", "replicate", "circular"};
static const char *const scale_names[] = {"htk", "slaney"};
static const char *const mel_norm_names[] = {"none", "slaney"};
static const char *const log_names[] = {"none", "ln", "db"};
static const char *const utt_names[] = {"none", "mean", "meanvar"};
static const char *const align_names[] = {"start", "center"};

#define NAME_OF(table, v) ((unsigned)(v) < sizeof table / sizeof *table ? table[v] : NULL)
const char *nbi_window_name(nb_window_kind k) {
    return NAME_OF(window_names, k);
}
const char *nbi_pad_name(nb_pad_mode p) {
    return NAME_OF(pad_names, p);
}
const char *nbi_mel_scale_name(nb_mel_scale s) {
    return NAME_OF(scale_names, s);
}
const char *nbi_mel_norm_name(nb_mel_norm n) {
    return NAME_OF(mel_norm_names, n);
}
const char *nbi_log_name(nb_log_kind k) {
    return NAME_OF(log_names, k);
}
const char *nbi_utt_norm_name(nb_utt_norm n) {
    return NAME_OF(utt_names, n);
}
const char *nbi_align_name(nb_align a) {
    return NAME_OF(align_names, a);
}

/* ---- the fields, once, for both directions ------------------------------------------------ */

typedef enum { T_INT, T_I64, T_DBL, T_ENUM } ftype;

typedef struct field {
    const char *key;
    ftype type;
    size_t off;               /* offsetof in nb_features */
    const char *const *names; /* T_ENUM: the names, index = value */
    int n_names;
} field;

#define F_INT(k, m)                                                                                \
    { k, T_INT, offsetof(nb_features, m), NULL, 0 }
#define F_I64(k, m)                                                                                \
    { k, T_I64, offsetof(nb_features, m), NULL, 0 }
#define F_DBL(k, m)                                                                                \
    { k, T_DBL, offsetof(nb_features, m), NULL, 0 }
#define F_ENUM(k, m, t)                                                                            \
    { k, T_ENUM, offsetof(nb_features, m), t, (int)(sizeof t / sizeof *t) }

static const field fields[] = {
    F_INT("rate", rate),
    F_I64("length", length),
    F_ENUM("align", align, align_names),
    F_I64("n_fft", n_fft),
    F_I64("win_length", win_length),
    F_I64("hop", hop),
    F_ENUM("window", window, window_names),
    F_INT("periodic", periodic),
    F_INT("center", center),
    F_ENUM("pad", pad, pad_names),
    F_INT("normalized", normalized),
    F_DBL("power", power),
    F_I64("n_mels", n_mels),
    F_DBL("f_min", f_min),
    F_DBL("f_max", f_max),
    F_ENUM("mel_scale", mel_scale, scale_names),
    F_ENUM("mel_norm", mel_norm, mel_norm_names),
    F_ENUM("log", log, log_names),
    F_DBL("log_eps", log_eps),
    F_DBL("amin", amin),
    F_DBL("top_db", top_db),
    F_I64("n_mfcc", n_mfcc),
    F_ENUM("norm", norm, utt_names),
    F_DBL("norm_eps", norm_eps),
    F_INT("resample_zeros", resample.zero_crossings),
    F_DBL("resample_rolloff", resample.rolloff),
    F_DBL("resample_beta", resample.beta),
};
#define N_FIELDS (sizeof fields / sizeof *fields)

/* Enumerations are stored as C enums: every one of ours has int's size and representation. */
_Static_assert(sizeof(nb_window_kind) == sizeof(int) && sizeof(nb_pad_mode) == sizeof(int) &&
                   sizeof(nb_mel_scale) == sizeof(int) && sizeof(nb_mel_norm) == sizeof(int) &&
                   sizeof(nb_log_kind) == sizeof(int) && sizeof(nb_utt_norm) == sizeof(int) &&
                   sizeof(nb_align) == sizeof(int),
               "the text form stores enumerations as int");

size_t nb_features_format(const nb_features *f, char *buf, size_t n) {
    if (buf && n) buf[0] = 0;
    if (nb_features_check(f)) return 0;
    nbi_text t;
    nbi_text_init(&t);
    nbi_text_puts(&t, VERSION_WORD);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *fd = &fields[i];
        const char *p = (const char *)f + fd->off;
        nbi_text_printf(&t, " %s=", fd->key);
        switch (fd->type) {
        case T_INT:
            nbi_text_printf(&t, "%d", *(const int *)p);
            break;
        case T_I64:
            nbi_text_printf(&t, "%lld", (long long)*(const int64_t *)p);
            break;
        case T_DBL:
            nbi_text_double(&t, *(const double *)p);
            break;
        case T_ENUM:
            nbi_text_puts(&t, fd->names[*(const int *)p]);
            break;
        }
    }
    return nbi_text_export(&t, "audio features", buf, n);
}

static bool blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Integer text, no blanks, optional sign; false unless the whole word is one in range. */
static bool parse_i64(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == n) return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10) return false;
        v = 10 * v + d;
    }
    v = neg ? -v : v;
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

static nb_status bad_value(const field *fd, const char *v, size_t vn) {
    char names[128] = "";
    if (fd->type == T_ENUM) {
        size_t k = 0;
        for (int i = 0; i < fd->n_names && k < sizeof names; i++)
            k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : " (one of ",
                                  fd->names[i]);
        if (k < sizeof names) snprintf(names + k, sizeof names - k, ")");
    }
    const char *kind = fd->type == T_DBL    ? " (a number)"
                       : fd->type == T_ENUM ? ""
                                            : " (an integer)";
    return nbi_error(NB_ERR_FORMAT, "audio features: %s=%.*s%s is not a valid value%s%s", fd->key,
                     (int)(vn > 40 ? 40 : vn), v, vn > 40 ? "..." : "", kind, names);
}

nb_status nb_features_parse(const char *text, size_t len, nb_features *out) {
    nb_features f = nb_features_default();
    *out = f;
    if (!text && len) return nbi_error(NB_ERR_ARG, "audio features: NULL text");
    bool seen[N_FIELDS] = {false};
    void *loc = NULL;
    size_t i = 0;
    bool first = true;
    while (i < len) {
        while (i < len && blank(text[i])) i++;
        if (i == len) break;
        const char *w = text + i;
        size_t wn = 0;
        while (i < len && !blank(text[i])) i++, wn++;
        if (first && wn >= 6 && memcmp(w, "audio/", 6) == 0) {
            first = false;
            if (wn == strlen(VERSION_WORD) && memcmp(w, VERSION_WORD, wn) == 0) continue;
            nbi_num_locale_free(loc);
            return nbi_error(NB_ERR_UNSUPPORTED,
                             "audio features: version '%.*s'; this nabla "
                             "reads " VERSION_WORD,
                             (int)(wn > 40 ? 40 : wn), w);
        }
        first = false;
        const char *eq = memchr(w, '=', wn);
        if (!eq || eq == w) {
            nbi_num_locale_free(loc);
            return nbi_error(NB_ERR_FORMAT, "audio features: '%.*s' is not key=value",
                             (int)(wn > 40 ? 40 : wn), w);
        }
        const size_t kn = (size_t)(eq - w), vn = wn - kn - 1;
        const char *v = eq + 1;
        size_t k = 0;
        while (k < N_FIELDS && !(strlen(fields[k].key) == kn && memcmp(fields[k].key, w, kn) == 0))
            k++;
        if (k == N_FIELDS) {
            nbi_num_locale_free(loc);
            return nbi_error(NB_ERR_FORMAT,
                             "audio features: unknown key '%.*s' (the keys: rate, "
                             "length, align, n_fft, win_length, hop, window, periodic, center, "
                             "pad, normalized, power, n_mels, f_min, f_max, mel_scale, mel_norm, "
                             "log, log_eps, amin, top_db, n_mfcc, norm, norm_eps, resample_zeros, "
                             "resample_rolloff, resample_beta)",
                             (int)(kn > 40 ? 40 : kn), w);
        }
        const field *fd = &fields[k];
        if (seen[k]) {
            nbi_num_locale_free(loc);
            return nbi_error(NB_ERR_FORMAT, "audio features: %s is given twice", fd->key);
        }
        seen[k] = true;
        char *p = (char *)&f + fd->off;
        bool ok = false;
        int64_t iv;
        double dv;
        switch (fd->type) {
        case T_INT:
            ok = parse_i64(v, vn, INT32_MIN, INT32_MAX, &iv);
            if (ok) *(int *)p = (int)iv;
            break;
        case T_I64:
            ok = parse_i64(v, vn, INT64_MIN + 1, INT64_MAX, &iv);
            if (ok) *(int64_t *)p = iv;
            break;
        case T_DBL:
            ok = vn > 0 && nbi_parse_double(v, vn, &dv, &loc) == NBI_NUM_OK;
            if (ok) *(double *)p = dv;
            break;
        case T_ENUM:
            for (int e = 0; !ok && e < fd->n_names; e++) {
                if (strlen(fd->names[e]) == vn && memcmp(fd->names[e], v, vn) == 0) {
                    *(int *)p = e;
                    ok = true;
                }
            }
            break;
        }
        if (!ok) {
            nbi_num_locale_free(loc);
            return bad_value(fd, v, vn);
        }
    }
    nbi_num_locale_free(loc);
    if (nb_features_check(&f)) { /* the check's message, as a format error of the text */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        return nbi_error(NB_ERR_FORMAT, "%s", msg);
    }
    *out = f;
    return NB_OK;
}
