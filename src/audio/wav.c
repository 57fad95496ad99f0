/* audio/wav.c — RIFF/WAVE files: a parser that treats every byte as hostile, and a writer.
 *
 * A WAV file is a RIFF chunk ("RIFF", size, "WAVE") holding sub-chunks (id, little-endian
 * size, body, a pad byte after an odd body). Two matter: "fmt " (format tag, channels, rate,
 * byte rate, block align, bits per sample; WAVE_FORMAT_EXTENSIBLE adds valid bits, a channel
 * mask and a sub-format GUID whose first two bytes are the real tag) and "data" (the
 * interleaved frames). The walk checks each chunk's size against the bytes that remain in the
 * RIFF chunk before touching its body, so a size that lies is reported, not followed, and the
 * sample buffer is sized from the data chunk actually present. Bytes after the RIFF chunk
 * (tags some tools append) and a trailing stub shorter than a chunk header are ignored. The
 * byte rate field is not checked: like Python's wave module and libsndfile, nabla derives
 * everything from the block alignment, which must match channels × bytes per sample. */
#include "audio/audio.h"
#include "data/data.h"
#include "base/file.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MAX_CHANNELS 64
#define MAX_RATE 1536000

static const char *const enc_names[NB_WAV_ENCODING_COUNT] = {"u8",  "s16", "s24",
                                                             "s32", "f32", "f64"};
static const int enc_bytes[NB_WAV_ENCODING_COUNT] = {1, 2, 3, 4, 4, 8};

const char *nb_wav_encoding_name(nb_wav_encoding e) {
    return (unsigned)e < NB_WAV_ENCODING_COUNT ? enc_names[e] : NULL;
}

void nb_audio_free(nb_audio *a) {
    if (!a) return;
    nbi_free(a->data);
    memset(a, 0, sizeof *a);
}

nb_status nbi_audio_alloc(nb_audio *a, int64_t frames, int channels, int rate, const char *what) {
    memset(a, 0, sizeof *a);
    size_t n, bytes;
    if (frames < 0 || channels < 1 || !nbi_mul_size((size_t)frames, (size_t)channels, &n) ||
        !nbi_mul_size(n ? n : 1, sizeof(float), &bytes))
        return nbi_error(NB_ERR_ARG, "%s: %lld frames of %d channels is not a valid size", what,
                         (long long)frames, channels);
    a->data = nbi_calloc(n ? n : 1, sizeof(float));
    if (!a->data)
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory for %lld frames of %d channels", what,
                         (long long)frames, channels);
    a->frames = frames;
    a->channels = channels;
    a->rate = rate;
    return NB_OK;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static const unsigned char guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                            0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

static const char *tag_name(unsigned tag) {
    switch (tag) {
    case 0x0002:
        return " (Microsoft ADPCM)";
    case 0x0006:
        return " (A-law)";
    case 0x0007:
        return " (mu-law)";
    case 0x0011:
        return " (IMA ADPCM)";
    case 0x0055:
        return " (MP3)";
    default:
        return "";
    }
}

/* A chunk id as printable text for messages ("data"; bytes outside ASCII's printable range as '.').
 */
static void id_text(const unsigned char *p, char out[5]) {
    for (int i = 0; i < 4; i++) out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
    out[4] = 0;
}

typedef struct fmt_info {
    unsigned tag, channels, block_align, bits;
    uint32_t rate;
    int extensible;
} fmt_info;

static nb_status parse_fmt(const unsigned char *p, uint32_t size, const char *name, fmt_info *f) {
    if (size < 16)
        return nbi_error(NB_ERR_FORMAT, "%s: the fmt chunk has %u bytes; it needs at least 16",
                         name, (unsigned)size);
    f->tag = nbi_le16(p);
    f->channels = nbi_le16(p + 2);
    f->rate = nbi_le32(p + 4);
    f->block_align = nbi_le16(p + 12);
    f->bits = nbi_le16(p + 14);
    f->extensible = 0;
    if (f->tag == 0xFFFE) {
        if (size < 40 || nbi_le16(p + 16) < 22)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: a WAVE_FORMAT_EXTENSIBLE fmt chunk needs 40 "
                             "bytes with an extension of 22; this one has %u (extension %u)",
                             name, (unsigned)size, size >= 18 ? nbi_le16(p + 16) : 0u);
        unsigned valid = nbi_le16(p + 18);
        if (valid > f->bits)
            return nbi_error(NB_ERR_FORMAT, "%s: %u valid bits in %u-bit samples", name, valid,
                             f->bits);
        if (memcmp(p + 26, guid_tail, sizeof guid_tail) != 0)
            return nbi_error(NB_ERR_UNSUPPORTED,
                             "%s: the WAVE_FORMAT_EXTENSIBLE sub-format is "
                             "not a standard one (only PCM and IEEE float are read)",
                             name);
        f->tag = nbi_le16(p + 24);
        f->extensible = 1;
    }
    if (f->channels == 0)
        return nbi_error(NB_ERR_FORMAT, "%s: the fmt chunk says 0 channels", name);
    if (f->channels > MAX_CHANNELS)
        return nbi_error(NB_ERR_UNSUPPORTED, "%s: %u channels (nabla reads up to %d)", name,
                         f->channels, MAX_CHANNELS);
    if (f->rate == 0 || f->rate > MAX_RATE)
        return nbi_error(NB_ERR_FORMAT, "%s: sample rate %lu Hz is out of range (1 .. %d)", name,
                         (unsigned long)f->rate, MAX_RATE);
    return NB_OK;
}

static nb_status encoding_of(const fmt_info *f, const char *name, nb_wav_encoding *e) {
    if (f->tag == 1) {
        switch (f->bits) {
        case 8:
            *e = NB_WAV_U8;
            return NB_OK;
        case 16:
            *e = NB_WAV_S16;
            return NB_OK;
        case 24:
            *e = NB_WAV_S24;
            return NB_OK;
        case 32:
            *e = NB_WAV_S32;
            return NB_OK;
        default:
            return nbi_error(NB_ERR_UNSUPPORTED, "%s: %u-bit PCM (nabla reads 8, 16, 24 and 32)",
                             name, f->bits);
        }
    }
    if (f->tag == 3) {
        if (f->bits == 32)
            *e = NB_WAV_F32;
        else if (f->bits == 64)
            *e = NB_WAV_F64;
        else
            return nbi_error(NB_ERR_FORMAT,
                             "%s: IEEE float samples of %u bits (32 or 64 "
                             "expected)",
                             name, f->bits);
        return NB_OK;
    }
    return nbi_error(NB_ERR_UNSUPPORTED,
                     "%s: format tag 0x%04x%s; nabla reads PCM (1) and IEEE "
                     "float (3) (convert with: sox in.wav -e signed-integer -b 16 out.wav)",
                     name, f->tag, tag_name(f->tag));
}

/* The two's-complement value of the low `bits` bits of u. */
static inline int64_t sign_extend(uint32_t u, int bits) {
    int64_t v = (int64_t)u;
    return v >= (INT64_C(1) << (bits - 1)) ? v - (INT64_C(1) << bits) : v;
}

/* Converts n samples of encoding e at p to floats; the first non-finite float sample's index,
 * or −1. */
static int64_t decode(nb_wav_encoding e, const unsigned char *p, int64_t n, float *y) {
    switch (e) {
    case NB_WAV_U8:
        for (int64_t i = 0; i < n; i++) y[i] = (float)((int)p[i] - 128) * (1.0f / 128.0f);
        break;
    case NB_WAV_S16:
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)sign_extend(nbi_le16(p + 2 * i), 16) * (1.0f / 32768.0f);
        break;
    case NB_WAV_S24:
        for (int64_t i = 0; i < n; i++) {
            const unsigned char *q = p + 3 * i;
            uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16;
            y[i] = (float)sign_extend(u, 24) * (1.0f / 8388608.0f);
        }
        break;
    case NB_WAV_S32:
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)((double)sign_extend(nbi_le32(p + 4 * i), 32) * (1.0 / 2147483648.0));
        break;
    case NB_WAV_F32:
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = nbi_le32(p + 4 * i);
            float v;
            memcpy(&v, &u, 4);
            if (!isfinite(v)) return i;
            y[i] = v;
        }
        break;
    case NB_WAV_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = (uint64_t)nbi_le32(p + 8 * i) | (uint64_t)nbi_le32(p + 8 * i + 4) << 32;
            double v;
            memcpy(&v, &u, 8);
            if (!(fabs(v) <= FLT_MAX)) return i; /* NaN, infinite, or beyond float's range */
            y[i] = (float)v;
        }
        break;
    default:
        break;
    }
    return -1;
}

nb_status nb_wav_parse(const void *buf, size_t len, const char *name, nb_audio *out,
                       nb_wav_info *info) {
    memset(out, 0, sizeof *out);
    if (info) memset(info, 0, sizeof *info);
    if (!name) name = "WAV";
    if (!buf && len) return nbi_error(NB_ERR_ARG, "%s: the buffer is NULL", name);
    const unsigned char *p = buf;
    if (len < 12)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: %zu bytes is too short for a WAV file (a RIFF "
                         "header is 12)",
                         name, len);
    if (memcmp(p, "RIFX", 4) == 0 || memcmp(p, "RF64", 4) == 0)
        return nbi_error(NB_ERR_UNSUPPORTED,
                         "%s: a %.4s file (big-endian or 64-bit RIFF); "
                         "nabla reads RIFF/WAVE",
                         name, (const char *)p);
    if (memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WAVE", 4) != 0)
        return nbi_error(NB_ERR_FORMAT, "%s: not a WAV file (no RIFF/WAVE header)", name);
    uint64_t riff = nbi_le32(p + 4);
    if (riff < 4)
        return nbi_error(NB_ERR_FORMAT, "%s: the RIFF chunk size %llu is too small", name,
                         (unsigned long long)riff);
    if (8 + riff > len)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: truncated: the RIFF header promises %llu bytes but "
                         "the file has %zu (a file written to a pipe has no true size: rewrite "
                         "it to a file)",
                         name, (unsigned long long)(8 + riff), len);
    const size_t end = (size_t)(8 + riff);
    fmt_info f = {0};
    bool have_fmt = false, have_data = false;
    size_t data_off = 0;
    uint32_t data_size = 0;
    for (size_t pos = 12; end - pos >= 8;) {
        const unsigned char *h = p + pos;
        const uint32_t size = nbi_le32(h + 4);
        char id[5];
        id_text(h, id);
        if (size > end - pos - 8)
            return nbi_error(NB_ERR_FORMAT,
                             "%s: chunk '%s' at byte %zu claims %lu bytes but "
                             "only %zu remain in the RIFF chunk",
                             name, id, pos, (unsigned long)size, end - pos - 8);
        if (memcmp(h, "fmt ", 4) == 0) {
            if (have_fmt) return nbi_error(NB_ERR_FORMAT, "%s: two fmt chunks", name);
            nb_status st = parse_fmt(h + 8, size, name, &f);
            if (st) return st;
            have_fmt = true;
        } else if (memcmp(h, "data", 4) == 0) {
            if (have_data) return nbi_error(NB_ERR_FORMAT, "%s: two data chunks", name);
            have_data = true;
            data_off = pos + 8;
            data_size = size;
        }
        size_t next = pos + 8 + (size_t)size + (size & 1);
        if (next > end) next = end; /* a missing pad byte after the last chunk */
        pos = next;
    }
    if (!have_fmt) return nbi_error(NB_ERR_FORMAT, "%s: no fmt chunk", name);
    if (!have_data) return nbi_error(NB_ERR_FORMAT, "%s: no data chunk", name);
    nb_wav_encoding e = NB_WAV_S16;
    nb_status st = encoding_of(&f, name, &e);
    if (st) return st;
    const unsigned frame_bytes = f.channels * (unsigned)enc_bytes[e];
    if (f.block_align != frame_bytes)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: block align %u does not match %u channels of %d "
                         "bytes",
                         name, f.block_align, f.channels, enc_bytes[e]);
    if (data_size % frame_bytes)
        return nbi_error(NB_ERR_FORMAT,
                         "%s: the data chunk's %lu bytes are not a whole number "
                         "of %u-byte frames (truncated?)",
                         name, (unsigned long)data_size, frame_bytes);
    const int64_t frames = data_size / frame_bytes;
    st = nbi_audio_alloc(out, frames, (int)f.channels, (int)f.rate, name);
    if (st) return st;
    int64_t bad = decode(e, p + data_off, frames * f.channels, out->data);
    if (bad >= 0) {
        nb_audio_free(out);
        return nbi_error(NB_ERR_FORMAT,
                         "%s: sample %lld (frame %lld, channel %lld) is not a "
                         "finite number in float's range",
                         name, (long long)bad, (long long)(bad / f.channels),
                         (long long)(bad % f.channels));
    }
    if (info) {
        info->encoding = e;
        info->channels = (int)f.channels;
        info->rate = (int)f.rate;
        info->frames = frames;
        info->extensible = f.extensible;
    }
    return NB_OK;
}

nb_status nb_wav_read(const char *path, nb_audio *out, nb_wav_info *info) {
    memset(out, 0, sizeof *out);
    if (info) memset(info, 0, sizeof *info);
    unsigned char *buf;
    size_t len;
    nb_status st = nbi_read_file(path, "WAV", &buf, &len);
    if (st) return st;
    st = nb_wav_parse(buf, len, path, out, info);
    nbi_free(buf);
    return st;
}

/* ---- writing ------------------------------------------------------------------------------ */

static void put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* round(x · scale) clipped to [lo, hi] */
static int64_t quantise(float x, double scale, int64_t lo, int64_t hi) {
    double v = nearbyint((double)x * scale);
    return v < (double)lo ? lo : v > (double)hi ? hi : (int64_t)v;
}

nb_status nb_wav_encode(const nb_audio *a, nb_wav_encoding enc, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if ((unsigned)enc >= NB_WAV_ENCODING_COUNT)
        return nbi_error(NB_ERR_ARG, "nb_wav_encode: unknown encoding %d", (int)enc);
    if (!a || a->channels < 1 || a->channels > MAX_CHANNELS || a->frames < 0 ||
        (a->frames && !a->data) || a->rate < 1 || a->rate > MAX_RATE)
        return nbi_error(NB_ERR_ARG,
                         "nb_wav_encode: the audio is malformed (%d channels, %d Hz, "
                         "%lld frames)",
                         a ? a->channels : 0, a ? a->rate : 0, a ? (long long)a->frames : 0LL);
    const bool is_float = enc == NB_WAV_F32 || enc == NB_WAV_F64;
    const size_t bps = (size_t)enc_bytes[enc], frame = bps * (size_t)a->channels;
    const size_t head = is_float ? 12 + 26 + 12 + 8 : 12 + 24 + 8;
    size_t n = (size_t)a->frames * (size_t)a->channels, data;
    if (!nbi_mul_size((size_t)a->frames, frame, &data) || data + (data & 1) + head - 8 > UINT32_MAX)
        return nbi_error(NB_ERR_ARG,
                         "nb_wav_encode: %lld frames of %d channels exceed a WAV "
                         "file's 4 GiB",
                         (long long)a->frames, a->channels);
    for (size_t i = 0; i < n; i++)
        if (isnan(a->data[i])) return nbi_error(NB_ERR_ARG, "nb_wav_encode: sample %zu is NaN", i);
    const size_t total = head + data + (data & 1);
    unsigned char *p = nbi_malloc_for("nb_wav_encode", total);
    if (!p) return NB_ERR_NOMEM;
    memcpy(p, "RIFF", 4);
    put32(p + 4, (uint32_t)(total - 8));
    memcpy(p + 8, "WAVEfmt ", 8);
    put32(p + 16, is_float ? 18 : 16);
    put16(p + 20, is_float ? 3 : 1);
    put16(p + 22, (unsigned)a->channels);
    put32(p + 24, (uint32_t)a->rate);
    put32(p + 28, (uint32_t)((size_t)a->rate * frame));
    put16(p + 32, (unsigned)frame);
    put16(p + 34, (unsigned)(8 * bps));
    unsigned char *q = p + 36;
    if (is_float) {
        put16(q, 0); /* cbSize */
        memcpy(q + 2, "fact", 4);
        put32(q + 6, 4);
        put32(q + 10, (uint32_t)a->frames);
        q += 14;
    }
    memcpy(q, "data", 4);
    put32(q + 4, (uint32_t)data);
    q += 8;
    for (size_t i = 0; i < n; i++) {
        const float x = a->data[i];
        switch (enc) {
        case NB_WAV_U8:
            q[i] = (unsigned char)(quantise(x, 128.0, -128, 127) + 128);
            break;
        case NB_WAV_S16:
            put16(q + 2 * i, (unsigned)quantise(x, 32768.0, -32768, 32767));
            break;
        case NB_WAV_S24: {
            uint32_t v = (uint32_t)quantise(x, 8388608.0, -8388608, 8388607);
            q[3 * i] = (unsigned char)v;
            q[3 * i + 1] = (unsigned char)(v >> 8);
            q[3 * i + 2] = (unsigned char)(v >> 16);
            break;
        }
        case NB_WAV_S32:
            put32(q + 4 * i, (uint32_t)quantise(x, 2147483648.0, INT32_MIN, INT32_MAX));
            break;
        case NB_WAV_F32: {
            uint32_t u;
            memcpy(&u, &x, 4);
            put32(q + 4 * i, u);
            break;
        }
        case NB_WAV_F64: {
            double d = x;
            uint64_t u;
            memcpy(&u, &d, 8);
            put32(q + 8 * i, (uint32_t)u);
            put32(q + 8 * i + 4, (uint32_t)(u >> 32));
            break;
        }
        default:
            break;
        }
    }
    if (data & 1) q[data] = 0;
    *buf = p;
    *len = total;
    return NB_OK;
}

nb_status nb_wav_write(const char *path, const nb_audio *a, nb_wav_encoding enc) {
    unsigned char *buf;
    size_t len;
    nb_status st = nb_wav_encode(a, enc, &buf, &len);
    if (st) return st;
    st = nbi_write_file_atomic(path, buf, len);
    nbi_free(buf);
    return st;
}
