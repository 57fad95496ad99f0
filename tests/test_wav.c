/* test_wav — WAV files and resampling (nabla/audio.h):
 *   - the files of tests/data/audio/ written by Python's wave module (PCM 8/16/24/32-bit, mono
 *     and stereo, 8 to 44.1 kHz) and converted by sox (float 32/64, 24-bit and 3-channel
 *     WAVE_FORMAT_EXTENSIBLE, resampled) read sample for sample as the references say
 *     (tests/ref/audio.txt, from tests/ref/gen_audio.py);
 *   - a file spoken by espeak-ng and decoded by sox, when both are installed (skipped with a
 *     note otherwise);
 *   - every encoding written and read back; the mixdown to mono;
 *   - hostile files: each refused with NB_ERR_FORMAT or NB_ERR_UNSUPPORTED and a message
 *     naming what is wrong, never a crash, and no allocation larger than the file allows;
 *   - the resampler: a sine keeps its frequency and amplitude, tones above the lower Nyquist
 *     frequency are suppressed (aliasing), lengths follow ceil(n·to/from), the polyphase table
 *     and the on-the-fly taps both agree with the formula evaluated directly. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, mkstemp, posix_memalign */
#include "nbtest.h"

#include "audio/audio.h"
#include "fixture.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define FIXTURE "tests/ref/audio.txt"
#define WAV_DIR "tests/data/audio/"

static const double PI = 3.14159265358979323846;

/* ---- files from Python's wave module and sox ------------------------------------------ */

static void wav_reference_files(void) {
    nbt_fixture *fx = nbt_fixture_load(FIXTURE);
    CHECK_MSG(fx != NULL, "cannot load %s (run the tests from the repository root)", FIXTURE);
    FILE *list = fopen(WAV_DIR "files.txt", "r");
    CHECK_MSG(list != NULL, "cannot open " WAV_DIR "files.txt");
    if (!fx || !list) {
        nbt_fixture_free(fx);
        if (list) fclose(list);
        return;
    }
    char line[256];
    int i = 0;
    while (fgets(line, sizeof line, list)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\r\n")] = 0;
        char path[300], name[64];
        snprintf(path, sizeof path, WAV_DIR "%s", line);
        snprintf(name, sizeof name, "wav_%d_meta", i);
        const nbt_array *meta = nbt_fixture_get(fx, name);
        snprintf(name, sizeof name, "wav_%d_samples", i);
        const nbt_array *want = nbt_fixture_get(fx, name);
        i++;
        CHECK_MSG(meta && want, "fixture lacks the arrays of %s", path);
        if (!meta || !want) continue;
        nb_audio a;
        nb_wav_info info;
        nb_status st = nb_wav_read(path, &a, &info);
        CHECK_MSG(st == NB_OK, "%s: %s", path, nb_last_error());
        if (st) continue;
        CHECK_MSG((int)info.encoding == (int)meta->data[0], "%s: encoding %s", path,
                  nb_wav_encoding_name(info.encoding));
        CHECK_MSG(a.channels == (int)meta->data[1] && info.channels == a.channels,
                  "%s: %d channels", path, a.channels);
        CHECK_MSG(a.rate == (int)meta->data[2] && info.rate == a.rate, "%s: %d Hz", path, a.rate);
        CHECK_MSG(a.frames == (int64_t)meta->data[3] && info.frames == a.frames, "%s: %lld frames",
                  path, (long long)a.frames);
        CHECK_MSG(info.extensible == (int)meta->data[4], "%s: extensible %d", path,
                  info.extensible);
        /* every sample exactly: the scalings are powers of two */
        if (a.frames * a.channels == want->numel)
            nbt_compare(path, a.data, want->data, want->numel, 0, 0);
        nb_audio_free(&a);
    }
    CHECK_MSG(i == 10, "files.txt lists %d files, the fixture 10", i);
    fclose(list);
    nbt_fixture_free(fx);
}

/* A word spoken by espeak-ng (22.05 kHz, 16-bit), read by nabla and decoded by sox. */
static void wav_espeak_sox(void) {
    if (system("command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1") != 0) {
        printf("     note: espeak-ng or sox is not installed; the espeak-ng file check was "
               "skipped (apt-get install espeak-ng sox)\n");
        return;
    }
    char dir[] = "/tmp/nabla_wav_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cmd[1024], wav[128], raw[128];
    snprintf(wav, sizeof wav, "%s/seven.wav", dir);
    snprintf(raw, sizeof raw, "%s/seven.f32", dir);
    snprintf(cmd, sizeof cmd,
             "espeak-ng -v en-us+f2 -w %s seven && sox %s -t f32 %s && sox %s -b 24 %s/s24.wav",
             wav, wav, raw, wav, dir);
    CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
    nb_audio a;
    nb_wav_info info;
    CHECK_OK(nb_wav_read(wav, &a, &info));
    FILE *f = fopen(raw, "rb");
    CHECK(f != NULL);
    if (f && a.data) {
        CHECK(info.encoding == NB_WAV_S16 && a.channels == 1 && a.rate == 22050);
        CHECK(a.frames > 4000);
        float *ref = malloc(sizeof(float) * (size_t)(a.frames + 1));
        size_t got = fread(ref, sizeof(float), (size_t)a.frames + 1, f);
        CHECK_MSG(got == (size_t)a.frames, "sox decoded %zu samples, nabla %lld", got,
                  (long long)a.frames);
        if (got == (size_t)a.frames) nbt_compare("espeak-ng file", a.data, ref, a.frames, 0, 0);
        free(ref);
        nb_audio b;
        snprintf(cmd, sizeof cmd, "%s/s24.wav", dir);
        CHECK_OK(nb_wav_read(cmd, &b, &info));
        if (b.data) {
            CHECK(info.encoding == NB_WAV_S24 && b.frames == a.frames);
            if (b.frames == a.frames) nbt_compare("sox 24-bit", b.data, a.data, a.frames, 0, 0);
        }
        nb_audio_free(&b);
    }
    if (f) fclose(f);
    nb_audio_free(&a);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* ---- writing -------------------------------------------------------------------------- */

/* 97 stereo frames at 11025 Hz spanning a little beyond full scale (the ends clip) */
static nb_status make_audio(nb_audio *a) {
    nb_status st = nbi_audio_alloc(a, 97, 2, 11025, "test");
    for (int64_t i = 0; !st && i < 97 * 2; i++)
        a->data[i] = (float)(1.2 * sin(0.37 * (double)i) * cos(0.011 * (double)i));
    if (!st) {
        a->data[0] = 1.0f;
        a->data[1] = -1.0f;
        a->data[4] = 0.0f;
    }
    return st;
}

static void wav_write_read(void) {
    nb_audio a;
    CHECK_OK(make_audio(&a));
    if (!a.data) return;
    for (int e = 0; e < NB_WAV_ENCODING_COUNT; e++) {
        unsigned char *buf;
        size_t len;
        CHECK_OK(nb_wav_encode(&a, (nb_wav_encoding)e, &buf, &len));
        if (!buf) continue;
        nb_audio b;
        nb_wav_info info;
        CHECK_OK(nb_wav_parse(buf, len, "encoded", &b, &info));
        CHECK(info.encoding == (nb_wav_encoding)e && b.channels == 2 && b.rate == 11025 &&
              b.frames == a.frames);
        /* the quantisation step of the encoding (floats: exact) */
        const double step[] = {1.0 / 128, 1.0 / 32768, 1.0 / 8388608, 1.0 / 2147483648.0, 0, 0};
        for (int64_t i = 0; b.data && i < a.frames * 2; i++) {
            double want = step[e] > 0 ? fmin(fmax(a.data[i], -1.0), 1.0 - step[e]) : a.data[i];
            CHECK_MSG(fabs(b.data[i] - want) <= 0.5 * step[e] + 1e-7 * (step[e] > 0),
                      "%s sample %lld: %.9g vs %.9g", nb_wav_encoding_name((nb_wav_encoding)e),
                      (long long)i, b.data[i], a.data[i]);
        }
        /* what is read back is written back bit for bit */
        unsigned char *buf2;
        size_t len2;
        CHECK_OK(nb_wav_encode(&b, (nb_wav_encoding)e, &buf2, &len2));
        CHECK(buf2 && len2 == len && memcmp(buf, buf2, len) == 0);
        nb_free(buf2);
        nb_free(buf);
        nb_audio_free(&b);
    }
    /* to a file, atomically */
    char path[] = "/tmp/nabla_wav_w_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_OK(nb_wav_write(path, &a, NB_WAV_S16));
    nb_audio c;
    CHECK_OK(nb_wav_read(path, &c, NULL));
    CHECK(c.frames == a.frames && c.channels == 2);
    nb_audio_free(&c);
    unlink(path);
    /* mixdown: the mean of the channels */
    float l = a.data[6], r = a.data[7];
    CHECK_OK(nb_audio_to_mono(&a));
    CHECK(a.channels == 1);
    CHECK_CLOSE(a.data[3], 0.5 * ((double)l + r), 1e-7, 0);
    /* errors */
    a.data[2] = NAN;
    unsigned char *buf;
    size_t len;
    CHECK(nb_wav_encode(&a, NB_WAV_F32, &buf, &len) == NB_ERR_ARG && buf == NULL);
    CHECK(strstr(nb_last_error(), "NaN") != NULL);
    CHECK(nb_wav_encode(&a, (nb_wav_encoding)9, &buf, &len) == NB_ERR_ARG);
    CHECK(nb_wav_write("/nonexistent-dir/x.wav", &a, NB_WAV_S16) == NB_ERR_ARG);
    a.data[2] = 0.0f;
    CHECK(nb_wav_write("/nonexistent-dir/x.wav", &a, NB_WAV_S16) == NB_ERR_IO);
    nb_audio_free(&a);
    nb_audio_free(&a); /* freeing twice is harmless: it was zeroed */
    nb_audio_free(NULL);
}

/* ---- hostile files ------------------------------------------------------------------- */

/* The largest single allocation, to show that no header's claim is allocated. */
static size_t largest;
static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    if (size > largest) largest = size;
    void *p = NULL;
    return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1)
               ? NULL
               : p;
}
static void count_free(void *p, void *user) {
    (void)user;
    free(p);
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* A canonical mono 16-bit file of 10 frames at 16 kHz: RIFF(0) fmt(12, body 20) data(36,
 * body 44, 20 bytes) — 64 bytes. */
static size_t base_file(unsigned char *p) {
    nb_audio a;
    nbi_audio_alloc(&a, 10, 1, 16000, "test");
    for (int i = 0; i < 10; i++) a.data[i] = 0.1f * (float)i;
    unsigned char *buf;
    size_t len;
    nb_wav_encode(&a, NB_WAV_S16, &buf, &len);
    memcpy(p, buf, len);
    nb_free(buf);
    nb_audio_free(&a);
    return len;
}

typedef struct hostile {
    const char *what;
    nb_status want;
    const char *msg; /* a piece of the message */
} hostile;

static void expect(const hostile *h, const unsigned char *p, size_t len) {
    nb_audio a;
    nb_wav_info info;
    largest = 0;
    nb_status st = nb_wav_parse(p, len, "bad.wav", &a, &info);
    CHECK_MSG(st == h->want, "%s: got %s (%s), want %s", h->what, nb_status_str(st),
              nb_last_error(), nb_status_str(h->want));
    CHECK_MSG(a.data == NULL && a.frames == 0, "%s: a failed parse left data", h->what);
    CHECK_MSG(strstr(nb_last_error(), h->msg) && strstr(nb_last_error(), "bad.wav"),
              "%s: message '%s' lacks '%s'", h->what, nb_last_error(), h->msg);
    CHECK_MSG(largest <= 4 * len + 64, "%s: allocated %zu bytes for a %zu-byte file", h->what,
              largest, len);
    nb_audio_free(&a);
}

static void wav_hostile(void) {
    nb_allocator al = {count_alloc, count_free, NULL};
    nb_set_allocator(&al);
    unsigned char b[256], p[256];
    const size_t n = base_file(b);
    CHECK(n == 64);
    {
        nb_audio a;
        CHECK_OK(nb_wav_parse(b, n, "good.wav", &a, NULL)); /* the base is good */
        CHECK(a.frames == 10);
        nb_audio_free(&a);
    }
#define CASE(what_, want_, msg_, edit, len_)                                                       \
    do {                                                                                           \
        memcpy(p, b, n);                                                                           \
        edit;                                                                                      \
        hostile h_ = {what_, want_, msg_};                                                         \
        expect(&h_, p, len_);                                                                      \
    } while (0)
    CASE("empty", NB_ERR_FORMAT, "too short", (void)0, 0);
    CASE("11 bytes", NB_ERR_FORMAT, "too short", (void)0, 11);
    CASE("not RIFF", NB_ERR_FORMAT, "not a WAV file", memcpy(p, "RIFQ", 4), n);
    CASE("not WAVE", NB_ERR_FORMAT, "not a WAV file", memcpy(p + 8, "AVI ", 4), n);
    CASE("big-endian RIFX", NB_ERR_UNSUPPORTED, "RIFX", memcpy(p, "RIFX", 4), n);
    CASE("RF64", NB_ERR_UNSUPPORTED, "RF64", memcpy(p, "RF64", 4), n);
    CASE("RIFF size too small", NB_ERR_FORMAT, "too small", put32(p + 4, 3), n);
    CASE("RIFF size lies", NB_ERR_FORMAT, "truncated", put32(p + 4, 1000), n);
    CASE("RIFF size 4 GiB (a pipe)", NB_ERR_FORMAT, "truncated", put32(p + 4, 0xFFFFFFFFu), n);
    CASE("truncated data", NB_ERR_FORMAT, "truncated", (void)0, n - 7);
    CASE("fmt size lies", NB_ERR_FORMAT, "'fmt ' at byte 12 claims", put32(p + 16, 200), n);
    CASE("data size lies", NB_ERR_FORMAT, "'data' at byte 36 claims", put32(p + 40, 0xFFFFFFF0u),
         n);
    CASE("data size lies by 2", NB_ERR_FORMAT, "claims 22 bytes", put32(p + 40, 22), n);
    CASE("chunk id garbage", NB_ERR_FORMAT, "chunk '....' at byte 36",
         (memcpy(p + 36, "\x01\x02\x03\x04", 4), put32(p + 40, 900)), n);
    CASE("zero channels", NB_ERR_FORMAT, "0 channels", put16(p + 22, 0), n);
    CASE("65 channels", NB_ERR_UNSUPPORTED, "65 channels", put16(p + 22, 65), n);
    CASE("rate 0", NB_ERR_FORMAT, "sample rate 0", put32(p + 24, 0), n);
    CASE("absurd rate", NB_ERR_FORMAT, "sample rate 4000000000", put32(p + 24, 4000000000u), n);
    CASE("block align", NB_ERR_FORMAT, "block align 4", put16(p + 32, 4), n);
    CASE("12-bit PCM", NB_ERR_UNSUPPORTED, "12-bit PCM", put16(p + 34, 12), n);
    CASE("16-bit float", NB_ERR_FORMAT, "float samples of 16 bits", put16(p + 20, 3), n);
    CASE("mu-law", NB_ERR_UNSUPPORTED, "mu-law", put16(p + 20, 7), n);
    CASE("MP3", NB_ERR_UNSUPPORTED, "0x0055", put16(p + 20, 0x55), n);
    CASE("fmt too short", NB_ERR_FORMAT, "fmt chunk has 12 bytes",
         (put32(p + 16, 12), memcpy(p + 32, "JUNK", 4), put32(p + 36, 0)), n);
    CASE("no data", NB_ERR_FORMAT, "no data chunk", memcpy(p + 36, "date", 4), n);
    CASE("no fmt", NB_ERR_FORMAT, "no fmt chunk", memcpy(p + 12, "fmtx", 4), n);
    CASE("two fmt", NB_ERR_FORMAT, "two fmt chunks",
         (memcpy(p + 64, p + 12, 24), put32(p + 4, 56 + 24)), n + 24);
    CASE("two data", NB_ERR_FORMAT, "two data chunks",
         (memcpy(p + 64, p + 36, 28), put32(p + 4, 56 + 28)), n + 28);
    CASE("partial frame", NB_ERR_FORMAT, "whole number of 2-byte frames",
         (put32(p + 40, 19), put32(p + 4, 55)), n - 1);
    /* float NaN */
    {
        nb_audio a;
        nbi_audio_alloc(&a, 3, 1, 8000, "test");
        unsigned char *buf;
        size_t len;
        nb_wav_encode(&a, NB_WAV_F32, &buf, &len);
        memcpy(p, buf, len);
        nb_free(buf);
        nb_audio_free(&a);
        p[len - 4 + 3] = 0x7f; /* the last sample: 0x7fc00000 is a NaN */
        p[len - 4 + 2] = 0xc0;
        hostile h = {"NaN sample", NB_ERR_FORMAT, "sample 2 (frame 2, channel 0) is not a finite"};
        expect(&h, p, len);
        p[len - 4 + 2] = 0x80; /* 0x7f800000: +inf */
        expect(&h, p, len);
        /* a 64-bit float beyond float's range would become an infinity (found by fuzz_wav) */
        nbi_audio_alloc(&a, 3, 1, 8000, "test");
        nb_wav_encode(&a, NB_WAV_F64, &buf, &len);
        memcpy(p, buf, len);
        nb_free(buf);
        nb_audio_free(&a);
        const double big = 1e300;
        memcpy(p + len - 8, &big, 8); /* little-endian hosts: the file's byte order */
        hostile h2 = {"f64 beyond float", NB_ERR_FORMAT, "not a finite number in float's range"};
        expect(&h2, p, len);
    }
    /* WAVE_FORMAT_EXTENSIBLE: a short extension, an unknown sub-format, valid bits > bits */
    {
        unsigned char e[128];
        memcpy(e, b, 12);
        memcpy(e + 12, "fmt ", 4);
        put32(e + 16, 40);
        put16(e + 20, 0xFFFE);
        put16(e + 22, 1);
        put32(e + 24, 16000);
        put32(e + 28, 32000);
        put16(e + 32, 2);
        put16(e + 34, 16);
        put16(e + 36, 22);
        put16(e + 38, 16);
        put32(e + 40, 4);
        static const unsigned char pcm_guid[16] = {1,    0, 0, 0,    0, 0,    0x10, 0,
                                                   0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
        memcpy(e + 44, pcm_guid, 16);
        memcpy(e + 60, b + 36, 28); /* the data chunk */
        put32(e + 4, 80);
        nb_audio a;
        nb_wav_info info;
        CHECK_OK(nb_wav_parse(e, 88, "ext.wav", &a, &info));
        CHECK(info.extensible == 1 && a.frames == 10);
        nb_audio_free(&a);
        memcpy(p, e, 88);
        put16(p + 38, 24);
        hostile h1 = {"valid bits", NB_ERR_FORMAT, "24 valid bits in 16-bit"};
        expect(&h1, p, 88);
        memcpy(p, e, 88);
        p[50] = 0x11;
        hostile h2 = {"unknown GUID", NB_ERR_UNSUPPORTED, "sub-format"};
        expect(&h2, p, 88);
        memcpy(p, e, 88);
        put16(p + 36, 0);
        hostile h3 = {"short extension", NB_ERR_FORMAT, "extension of 22"};
        expect(&h3, p, 88);
    }
#undef CASE
    nb_set_allocator(NULL);
}

/* Unusual but valid: data before fmt, an odd LIST chunk with its pad byte, the final pad
 * byte missing, bytes after the RIFF chunk, a stub shorter than a chunk header. */
static void wav_unusual_layouts(void) {
    unsigned char b[256], p[256];
    const size_t n = base_file(b);
    nb_audio a, ref;
    CHECK_OK(nb_wav_parse(b, n, "base", &ref, NULL));
    /* data first */
    memcpy(p, b, 12);
    memcpy(p + 12, b + 36, 28);
    memcpy(p + 40, b + 12, 24);
    CHECK_OK(nb_wav_parse(p, n, "data-first", &a, NULL));
    CHECK(a.frames == 10 && memcmp(a.data, ref.data, 10 * sizeof(float)) == 0);
    nb_audio_free(&a);
    /* LIST of 3 bytes + pad between fmt and data */
    memcpy(p, b, 36);
    memcpy(p + 36, "LIST", 4);
    put32(p + 40, 3);
    memcpy(p + 44, "abc\0", 4);
    memcpy(p + 48, b + 36, 28);
    put32(p + 4, 68);
    CHECK_OK(nb_wav_parse(p, 76, "list", &a, NULL));
    CHECK(a.frames == 10 && memcmp(a.data, ref.data, 10 * sizeof(float)) == 0);
    nb_audio_free(&a);
    /* an odd last chunk without its pad byte, then 5 stray bytes inside RIFF and junk after */
    memcpy(p, b, n);
    memcpy(p + 64, "note", 4);
    put32(p + 68, 1);
    p[72] = 'x';
    put32(p + 4, 65);
    CHECK_OK(nb_wav_parse(p, 73, "nopad", &a, NULL));
    nb_audio_free(&a);
    memcpy(p + 73, "12345ID3junk", 12);
    put32(p + 4, 70);
    CHECK_OK(nb_wav_parse(p, 85, "trailing", &a, NULL));
    CHECK(a.frames == 10);
    nb_audio_free(&a);
    /* an empty data chunk is an empty clip */
    memcpy(p, b, 44);
    put32(p + 40, 0);
    put32(p + 4, 36);
    CHECK_OK(nb_wav_parse(p, 44, "empty", &a, NULL));
    CHECK(a.frames == 0 && a.data != NULL);
    nb_audio_free(&a);
    nb_audio_free(&ref);
    /* the reader names the file it could not open */
    CHECK(nb_wav_read("tests/data/audio/missing.wav", &a, NULL) == NB_ERR_IO);
    CHECK(strstr(nb_last_error(), "missing.wav") != NULL);
}

/* ---- resampling ------------------------------------------------------------------------ */

/* amplitude of the frequency f (Hz) in y[a .. b) at rate fs: least squares on sin and cos */
static double tone_amplitude(const float *y, int64_t a, int64_t b, double f, double fs) {
    double c = 0, s = 0, cc = 0, ss = 0, cs = 0;
    for (int64_t i = a; i < b; i++) {
        double t = 2 * PI * f * (double)i / fs, co = cos(t), si = sin(t);
        c += y[i] * co, s += y[i] * si, cc += co * co, ss += si * si, cs += co * si;
    }
    double det = cc * ss - cs * cs, A = (c * ss - s * cs) / det, B = (s * cc - c * cs) / det;
    return sqrt(A * A + B * B);
}

static double rms(const float *y, int64_t a, int64_t b) {
    double e = 0;
    for (int64_t i = a; i < b; i++) e += (double)y[i] * y[i];
    return sqrt(e / (double)(b - a));
}

static void resample_frequency_response(void) {
    const int64_t pairs[][2] = {{44100, 16000}, {16000, 44100}, {22050, 16000},
                                {8000, 16000},  {48000, 16000}, {16000, 8000}};
    for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++) {
        const int64_t from = pairs[k][0], to = pairs[k][1];
        nb_resampler *r;
        CHECK_OK(nb_resampler_new(from, to, NULL, &r));
        if (!r) continue;
        const int64_t n = from / 2, m = nb_resampler_out_len(r, n);
        CHECK(m == (n * to + from - 1) / from);
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)m);
        const double ny = 0.5 * (double)(from < to ? from : to);
        /* pass band: 0.05 .. 0.8 of the lower Nyquist frequency keeps its amplitude */
        const double pass[] = {0.05, 0.3, 0.55, 0.8};
        for (size_t i = 0; i < 4; i++) {
            const double f = pass[i] * ny;
            for (int64_t t = 0; t < n; t++)
                x[t] = (float)(0.5 * sin(2 * PI * f * (double)t / from));
            nb_resampler_run(r, x, n, 1, y, 1);
            double amp = tone_amplitude(y, m / 4, 3 * m / 4, f, (double)to);
            CHECK_MSG(fabs(20 * log10(amp / 0.5)) < 0.01,
                      "%lld -> %lld Hz: %.0f Hz comes out at "
                      "%.4f dB",
                      (long long)from, (long long)to, f, 20 * log10(amp / 0.5));
        }
        /* stop band, when downsampling: tones above the output's Nyquist frequency would alias */
        if (to < from) {
            const double stop[] = {1.02, 1.3, 1.9};
            for (size_t i = 0; i < 3; i++) {
                const double f = stop[i] * ny;
                if (f >= 0.5 * (double)from) continue;
                for (int64_t t = 0; t < n; t++)
                    x[t] = (float)(0.5 * sin(2 * PI * f * (double)t / from));
                nb_resampler_run(r, x, n, 1, y, 1);
                double db = 20 * log10(rms(y, m / 4, 3 * m / 4) * sqrt(2.0) / 0.5 + 1e-30);
                CHECK_MSG(db < -75, "%lld -> %lld Hz: %.0f Hz aliases at %.1f dB", (long long)from,
                          (long long)to, f, db);
            }
        }
        free(x), free(y);
        nb_resampler_free(r);
    }
}

/* y[j] by the formula of nabla/audio.h, in double, taps from its definition */
static double direct(const float *x, int64_t n, int64_t from, int64_t to, int64_t j) {
    const nb_resample_opts o = nb_resample_defaults();
    const double r = o.rolloff * (double)(from < to ? from : to) / (double)from;
    const double hw = o.zero_crossings / r, u = (double)j * (double)from / (double)to;
    double s = 0, i0b = 0, term = 1;
    for (int k = 0; k < 200; k++) {
        if (k) term *= (0.25 * o.beta * o.beta) / ((double)k * k);
        i0b += term;
    }
    for (int64_t k = (int64_t)floor(u - hw); k <= (int64_t)ceil(u + hw); k++) {
        if (k < 0 || k >= n) continue;
        const double d = u - (double)k, v = d / hw;
        if (fabs(v) >= 1) continue;
        double z = r * d, sinc = z == 0 ? 1 : sin(PI * z) / (PI * z);
        double arg = o.beta * sqrt(1 - v * v), i0 = 0;
        term = 1;
        for (int q = 0; q < 200; q++) {
            if (q) term *= (0.25 * arg * arg) / ((double)q * q);
            i0 += term;
        }
        s += x[k] * r * sinc * i0 / i0b;
    }
    return s;
}

static void resample_formula(void) {
    /* 44100 -> 16000: a table of 160 phases; 96001 -> 48000: 48000 phases of 109 taps exceed
     * the table's limit, so taps are computed per output */
    const int64_t pairs[][2] = {{44100, 16000}, {96001, 48000}, {7, 11}};
    nb_rng g;
    nb_rng_seed(&g, 5);
    for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++) {
        const int64_t from = pairs[k][0], to = pairs[k][1], n = 700;
        nb_resampler *r;
        CHECK_OK(nb_resampler_new(from, to, NULL, &r));
        if (!r) continue;
        const int64_t m = nb_resampler_out_len(r, n);
        float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * (size_t)m * 3);
        for (int64_t i = 0; i < n; i++) x[i] = nb_rng_uniform_range(&g, -1, 1);
        nb_resampler_run(r, x, n, 1, y, 3); /* a strided output */
        for (int64_t j = 0; j < m; j += (m > 60 ? m / 60 : 1))
            CHECK_MSG(fabs(y[3 * j] - direct(x, n, from, to, j)) < 2e-5,
                      "%lld -> %lld: y[%lld] = %.7g, the formula gives %.7g", (long long)from,
                      (long long)to, (long long)j, y[3 * j], direct(x, n, from, to, j));
        free(x), free(y);
        nb_resampler_free(r);
    }
}

static void resample_audio_and_errors(void) {
    nb_audio a;
    CHECK_OK(make_audio(&a));
    nb_audio b = a;
    b.data = malloc(sizeof(float) * 97 * 2);
    memcpy(b.data, a.data, sizeof(float) * 97 * 2);
    CHECK_OK(nb_audio_resample(&a, 16000, NULL));
    CHECK(a.rate == 16000 && a.channels == 2 && a.frames == (97 * 16000 + 11024) / 11025);
    /* each channel separately, as one-channel runs */
    nb_resampler *r;
    CHECK_OK(nb_resampler_new(11025, 16000, NULL, &r));
    float ch1[97], out[200];
    for (int i = 0; i < 97; i++) ch1[i] = b.data[2 * i + 1];
    nb_resampler_run(r, ch1, 97, 1, out, 1);
    for (int64_t j = 0; j < a.frames; j++) CHECK(out[j] == a.data[2 * j + 1]);
    nb_resampler_free(r);
    free(b.data);
    /* the same rate changes nothing */
    float first = a.data[5];
    CHECK_OK(nb_audio_resample(&a, 16000, NULL));
    CHECK(a.data[5] == first && a.rate == 16000);
    nb_audio_free(&a);
    nb_resample_opts o = nb_resample_defaults();
    CHECK(nb_resampler_new(0, 16000, NULL, &r) == NB_ERR_ARG && r == NULL);
    CHECK(nb_resampler_new(16000, 2000000000, NULL, &r) == NB_ERR_ARG);
    o.rolloff = 1.5;
    CHECK(nb_resampler_new(8000, 16000, &o, &r) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "rolloff") != NULL);
    o = nb_resample_defaults();
    o.zero_crossings = 0;
    CHECK(nb_resampler_new(8000, 16000, &o, &r) == NB_ERR_ARG);
    CHECK(nb_resampler_new(1000000000, 1, NULL, &r) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "extreme") != NULL);
    CHECK(nb_audio_resample(&a, 16000, NULL) == NB_ERR_ARG); /* empty */
    /* the output length, exactly ceil(n·to/from), and its overflow */
    CHECK_OK(nb_resampler_new(3, 7, NULL, &r));
    CHECK(nb_resampler_out_len(r, 0) == 0 && nb_resampler_out_len(r, 1) == 3 &&
          nb_resampler_out_len(r, 3) == 7 && nb_resampler_out_len(r, 4) == 10);
    CHECK(nb_resampler_out_len(r, INT64_MAX / 2) == -1);
    nb_resampler_free(r);
    nb_resampler_free(NULL);
}

static const nbt_case cases[] = {
    {"wav_reference_files", wav_reference_files},
    {"wav_espeak_sox", wav_espeak_sox},
    {"wav_write_read", wav_write_read},
    {"wav_hostile", wav_hostile},
    {"wav_unusual_layouts", wav_unusual_layouts},
    {"resample_frequency_response", resample_frequency_response},
    {"resample_formula", resample_formula},
    {"resample_audio_and_errors", resample_audio_and_errors},
};
NBT_MAIN(cases)
