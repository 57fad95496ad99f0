"""Reference values for nabla's audio features (tests/test_fft.c, tests/test_audio.c).

Run from the repository root with Debian's python3 (numpy, torch):

    /usr/bin/python3 tests/ref/gen_audio.py

Writes tests/ref/audio.txt (fixture format of fixture_io.py). Inputs come from a seeded NumPy
generator and are rounded to float32 before the float64 references are computed.
"""
import os
import sys

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


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "audio.txt")
    w = FixtureWriter(out, comment=__doc__)
    fft_cases(w)
    w.write()
    print("wrote", out)


if __name__ == "__main__":
    main()
