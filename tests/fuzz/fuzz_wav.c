/* fuzz_wav — libFuzzer harness for the WAV reader on memory buffers.
 *
 * A failed parse leaves no audio and says why. A successful one promises 1..64 channels, a
 * rate in 1..1536000, finite samples within [-1, 1] for integer encodings, and a data chunk that
 * fits the buffer (frames × channels × bytes per sample <= size); writing the audio again in
 * its own encoding and reading that back gives the same samples, bit for bit. Run through
 * `make fuzz`. */
#include "nabla.h"
#include "nabla/audio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static const size_t bytes[NB_WAV_ENCODING_COUNT] = {1, 2, 3, 4, 4, 8};
    nb_audio a, b;
    nb_wav_info info;
    if (nb_wav_parse(data, size, "fuzz", &a, &info) != NB_OK) {
        if (a.data || a.frames || nb_last_error()[0] == 0) abort();
        return 0;
    }
    if (!a.data || a.channels < 1 || a.channels > 64 || a.rate < 1 || a.rate > 1536000 ||
        info.channels != a.channels || info.rate != a.rate || info.frames != a.frames ||
        (unsigned)info.encoding >= NB_WAV_ENCODING_COUNT)
        abort();
    const size_t n = (size_t)a.frames * (size_t)a.channels;
    if (n * bytes[info.encoding] > size) abort();
    const int is_float = info.encoding == NB_WAV_F32 || info.encoding == NB_WAV_F64;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a.data[i]) || (!is_float && (a.data[i] < -1.0f || a.data[i] > 1.0f)))
            abort();
    unsigned char *buf;
    size_t len;
    if (nb_wav_encode(&a, info.encoding, &buf, &len) != NB_OK) abort();
    if (nb_wav_parse(buf, len, "fuzz round trip", &b, NULL) != NB_OK) abort();
    if (b.frames != a.frames || b.channels != a.channels || b.rate != a.rate) abort();
    if (n && memcmp(a.data, b.data, n * sizeof(float)) != 0) abort();
    nb_free(buf);
    nb_audio_free(&a);
    nb_audio_free(&b);
    return 0;
}
