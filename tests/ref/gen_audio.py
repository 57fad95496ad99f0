"""Reference values for nabla's audio features (tests/test_fft.c, tests/test_audio.c).

Run from the repository root with Debian's python3 (numpy, torch) and sox installed:

    /usr/bin/python3 tests/ref/gen_audio.py

Writes tests/ref/audio.txt (fixture format of fixture_io.py) and the small WAV files of
tests/data/audio/: some written by Python's wave module (PCM 8/16/24/32-bit, mono and stereo,
8/16/22.05/44.1 kHz), some converted from those by sox (IEEE float 32/64-bit, 24-bit and
3-channel WAVE_FORMAT_EXTENSIBLE, a resampled file). The expected samples are the integers
scaled by 2^-(bits-1) for the wave files and sox's own float32 decoding (sox FILE -t f32 -)
for the sox files. Inputs come from a seeded NumPy generator and are rounded to float32
before the float64 references are computed.
"""
import os
import subprocess
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

rng = np.random.default_rng(2024)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def cplx(a):
    """complex array -> [..., 2] float pairs"""
    a = np.asarray(a)
    return np.stack([a.real, a.imag], axis=-1)


def fft_cases(w):
    # complex: mixed radix, a generic prime pass, Bluestein, the 25 ms frame at 16 kHz
    sizes = [12, 97, 101, 400]
    w.add("fft_sizes", np.array(sizes, dtype=np.float32))
    for n in sizes:
        x = f32(rng.uniform(-1, 1, size=(n, 2))).astype(np.float64)
        z = x[:, 0] + 1j * x[:, 1]
        w.add(f"fft_{n}_x", x)
        w.add(f"fft_{n}_y", cplx(np.fft.fft(z)))
        w.add(f"fft_{n}_inv", cplx(np.fft.ifft(z) * n))
    # real: odd, the 20 ms frame, a power of two
    sizes = [7, 320, 256]
    w.add("rfft_sizes", np.array(sizes, dtype=np.float32))
    for n in sizes:
        r = f32(rng.uniform(-1, 1, size=n)).astype(np.float64)
        w.add(f"rfft_{n}_x", r)
        w.add(f"rfft_{n}_y", cplx(np.fft.rfft(r)))


WAV_DIR = os.path.join("tests", "data", "audio")
# encodings as nabla numbers them (nb_wav_encoding)
ENC = {"u8": 0, "s16": 1, "s24": 2, "s32": 3, "f32": 4, "f64": 5}


def test_signal(frames, channels, rate):
    """a chord with a little noise, peaking near full scale (clipped integers stay in range)"""
    t = np.arange(frames) / rate
    out = []
    for c in range(channels):
        x = 0.6 * np.sin(2 * np.pi * (440 + 250 * c) * t) + 0.3 * np.sin(2 * np.pi * 1700 * t + c)
        x += 0.05 * rng.standard_normal(frames)
        out.append(x)
    x = np.stack(out, axis=1)
    x[0, 0] = 1.0   # the extremes of the range
    x[1, 0] = -1.0
    return x


def write_wave(name, width, channels, rate, frames):
    """PCM through Python's wave module; returns the expected float samples [frames, ch]"""
    x = test_signal(frames, channels, rate)
    bits = 8 * width
    top = 2 ** (bits - 1)
    q = np.clip(np.round(x * top), -top, top - 1).astype(np.int64)
    if width == 1:
        raw = (q + 128).astype(np.uint8).tobytes()
    elif width == 3:
        u = (q & 0xFFFFFF).astype(np.uint32)
        b = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=-1).astype(np.uint8)
        raw = b.tobytes()
    else:
        raw = q.astype("<i%d" % width).tobytes()
    with wave.open(os.path.join(WAV_DIR, name), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(raw)
    return q / top


def sox_decode(path, channels):
    raw = subprocess.run(["sox", path, "-t", "f32", "-"], check=True,
                         stdout=subprocess.PIPE).stdout
    return np.frombuffer(raw, dtype="<f4").astype(np.float64).reshape(-1, channels)


def wav_cases(w):
    os.makedirs(WAV_DIR, exist_ok=True)
    files = []  # (name, encoding, channels, rate, extensible, samples)
    for name, width, ch, rate, frames in [
            ("py_u8_8k.wav", 1, 1, 8000, 80),
            ("py_s16_16k.wav", 2, 1, 16000, 160),
            ("py_s16_stereo_22k.wav", 2, 2, 22050, 221),
            ("py_s24_44k.wav", 3, 1, 44100, 441),
            ("py_s32_stereo_8k.wav", 4, 2, 8000, 80)]:
        enc = {1: "u8", 2: "s16", 3: "s24", 4: "s32"}[width]
        files.append((name, enc, ch, rate, 0, write_wave(name, width, ch, rate, frames)))
    d = WAV_DIR
    for name, src, args, enc, ch, rate, ext in [
            ("sox_f32_stereo_22k.wav", "py_s16_stereo_22k.wav", ["-e", "floating-point", "-b", "32"],
             "f32", 2, 22050, 0),
            ("sox_f64_8k.wav", "py_u8_8k.wav", ["-e", "floating-point", "-b", "64"], "f64", 1, 8000, 0),
            ("sox_s24_ext_44k.wav", "py_s24_44k.wav", ["-b", "24"], "s24", 1, 44100, 1),
            ("sox_s16_3ch_16k.wav", "py_s16_16k.wav", ["-c", "3"], "s16", 3, 16000, 1),
            ("sox_s16_rate_8k.wav", "py_s24_44k.wav", ["-D", "-b", "16", "-r", "8000"], "s16", 1, 8000, 0)]:
        out = os.path.join(d, name)
        subprocess.run(["sox", "-D", os.path.join(d, src)] + args + [out], check=True)
        files.append((name, enc, ch, rate, ext, sox_decode(out, ch)))
    w.add("wav_count", np.array([len(files)], dtype=np.float32))
    with open(os.path.join(d, "files.txt"), "w") as f:
        f.write("# the WAV files of tests/ref/audio.txt, in order (gen_audio.py)\n")
        for i, (name, enc, ch, rate, ext, x) in enumerate(files):
            f.write(name + "\n")
            w.add(f"wav_{i}_meta", np.array([ENC[enc], ch, rate, x.shape[0], ext], dtype=np.float64))
            w.add(f"wav_{i}_samples", x)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "audio.txt")
    w = FixtureWriter(out, comment=__doc__)
    fft_cases(w)
    wav_cases(w)
    w.write()
    print("wrote", out)


if __name__ == "__main__":
    main()
