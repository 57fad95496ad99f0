"""Reference values for nabla's audio features (tests/test_fft.c, tests/test_audio.c).

Run from the repository root with Debian's python3 (numpy, torch) and sox installed:

    /usr/bin/python3 tests/ref/gen_audio.py

Writes tests/ref/audio.txt (fixture format of fixture_io.py: FFTs, WAV samples),
tests/ref/features.txt (STFT, mel filterbanks, log-mel and MFCC pipelines) and the small WAV files of
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
import torch

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


# ---- STFT ----------------------------------------------------------------------------------
# Each case: (name, samples, n_fft, hop, win_length, window, periodic, center, pad, normalized).
# The C test (tests/test_features.c) lists the same cases.
STFT_CASES = [
    ("base", 480, 400, 160, 400, "hann", True, True, "reflect", False),
    ("hamming_short_window", 200, 64, 20, 50, "hamming", True, True, "constant", True),
    ("odd_replicate", 150, 45, 11, 45, "hann", True, True, "replicate", False),
    ("circular", 120, 32, 8, 32, "hann", True, True, "circular", False),
    ("no_center_rect", 200, 64, 25, 64, "rect", True, False, "reflect", False),
    ("symmetric", 100, 16, 4, 15, "hann", False, True, "reflect", False),
]

NP_PAD = {"reflect": "reflect", "constant": "constant", "replicate": "edge", "circular": "wrap"}


def window(kind, length, periodic):
    if kind == "rect":
        return torch.ones(length, dtype=torch.float64)
    f = torch.hann_window if kind == "hann" else torch.hamming_window
    return f(length, periodic=periodic, dtype=torch.float64)


def signal(n):
    t = np.arange(n) / 16000.0
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 3000 * t + 1.0)
    x += 0.1 * rng.standard_normal(n)
    return f32(x).astype(np.float64)


def numpy_stft(x, n_fft, hop, win, center, pad, normalized):
    """the definition: pad, cut frames, multiply by the window centred in n_fft, rfft"""
    w = np.zeros(n_fft)
    left = (n_fft - len(win)) // 2
    w[left:left + len(win)] = win
    if center:
        x = np.pad(x, n_fft // 2, mode=NP_PAD[pad])
    frames = 1 + (len(x) - n_fft) // hop
    S = np.stack([np.fft.rfft(x[f * hop:f * hop + n_fft] * w) for f in range(frames)], axis=1)
    return S / np.sqrt(n_fft) if normalized else S  # [freq, frames]


def stft_cases(w):
    for name, n, n_fft, hop, wl, kind, periodic, center, pad, norm in STFT_CASES:
        x = signal(n)
        win = window(kind, wl, periodic)
        ref = numpy_stft(x, n_fft, hop, win.numpy(), center, pad, norm)
        # torch in float32, as a model would run it
        xt = torch.tensor(x, dtype=torch.float32)
        S = torch.stft(xt, n_fft, hop_length=hop, win_length=wl, window=win.float(),
                       center=center, pad_mode=pad, normalized=norm, onesided=True,
                       return_complex=True)
        assert S.shape == ref.shape, (name, S.shape, ref.shape)
        w.add(f"stft_{name}_x", x)
        w.add(f"stft_{name}_numpy", cplx(ref), digits=7)
        w.add(f"stft_{name}_torch", torch.view_as_real(S), digits=7)


# ---- mel filterbanks ------------------------------------------------------------------------
def hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def librosa_mel(sr, n_fft, n_mels, fmin, fmax, scale, norm):
    """librosa.filters.mel's algorithm in float64: [n_mels, 1 + n_fft // 2]"""
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2), scale)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    weights = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def torchaudio_mel(sr, n_freqs, n_mels, fmin, fmax, scale, norm):
    """torchaudio.functional.melscale_fbanks's algorithm in torch float32: [n_freqs, n_mels]"""
    all_freqs = torch.linspace(0, sr / 2, n_freqs)
    m_pts = torch.linspace(float(hz_to_mel(fmin, scale)), float(hz_to_mel(fmax, scale)), n_mels + 2)
    f_pts = torch.tensor(mel_to_hz(m_pts.double().numpy(), scale), dtype=torch.float32)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(torch.zeros(1), torch.min(down, up))
    if norm == "slaney":
        fb *= (2.0 / (f_pts[2:n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb


# (name, rate, n_fft, n_mels, f_min, f_max, scale, norm); listed again in test_features.c
MEL_CASES = [
    ("htk", 16000, 400, 40, 0.0, 8000.0, "htk", "none"),
    ("slaney", 16000, 512, 40, 20.0, 7600.0, "slaney", "slaney"),
    ("htk_slaney_norm", 22050, 512, 32, 0.0, 11025.0, "htk", "slaney"),
]


def mel_cases(w):
    for name, sr, n_fft, n_mels, fmin, fmax, scale, norm in MEL_CASES:
        a = librosa_mel(sr, n_fft, n_mels, fmin, fmax, scale, norm)
        b = torchaudio_mel(sr, n_fft // 2 + 1, n_mels, fmin, fmax, scale, norm).t().double().numpy()
        # the two formulations agree; the fixture keeps librosa's (float64)
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max(), name
        w.add(f"mel_{name}", a, digits=7)


# ---- whole pipelines, in torch --------------------------------------------------------------
def create_dct(n_mfcc, n_mels):
    """torchaudio.functional.create_dct(n_mfcc, n_mels, "ortho"): [n_mels, n_mfcc]"""
    n = torch.arange(float(n_mels))
    k = torch.arange(float(n_mfcc)).unsqueeze(1)
    dct = torch.cos(np.pi / float(n_mels) * (n + 0.5) * k)
    dct[0] *= 1.0 / np.sqrt(2.0)
    dct *= np.sqrt(2.0 / float(n_mels))
    return dct.t()


def torch_features(x, c, dtype):
    """torch.stft -> |X|^power -> mel (matrix) -> log -> DCT -> per-utterance norm: [F, T]"""
    xt = torch.tensor(x, dtype=dtype)
    if c["length"]:
        n, L = len(xt), c["length"]
        off = (L - n) // 2 if c.get("align") == "center" else 0
        y = torch.zeros(L, dtype=dtype)
        y[max(off, 0):max(off, 0) + min(n, L)] = xt[max(-off, 0):max(-off, 0) + min(n, L)]
        xt = y
    win = window(c["window"], c["win_length"], True).to(dtype)
    S = torch.stft(xt, c["n_fft"], hop_length=c["hop"], win_length=c["win_length"], window=win,
                   center=True, pad_mode="reflect", normalized=False, onesided=True,
                   return_complex=True)
    P = S.abs() ** c["power"] if c["power"] != 2 else S.real ** 2 + S.imag ** 2
    if c["n_mels"]:
        fb = torchaudio_mel(c["rate"], c["n_fft"] // 2 + 1, c["n_mels"], c["f_min"],
                            c["f_max"], c["scale"], c["mel_norm"])
        if dtype == torch.float64:  # librosa's float64 matrix
            fb = torch.tensor(librosa_mel(c["rate"], c["n_fft"], c["n_mels"], c["f_min"],
                                          c["f_max"], c["scale"], c["mel_norm"])).t()
        P = (P.t() @ fb).t()
    if c["log"] == "ln":
        P = torch.log(P + 1e-6)
    elif c["log"] == "db":
        P = 10.0 * torch.log10(torch.clamp(P, min=1e-10))
        if c.get("top_db"):
            P = torch.max(P, P.max() - c["top_db"])
    if c["n_mfcc"]:
        P = (P.t() @ create_dct(c["n_mfcc"], c["n_mels"]).to(dtype)).t()
    if c["norm"] in ("mean", "meanvar"):
        mean = P.double().mean(dim=1, keepdim=True)
        D = P.double() - mean
        if c["norm"] == "meanvar":
            D = D / torch.sqrt((D * D).mean(dim=1, keepdim=True) + 1e-5)
        P = D.to(dtype)
    return P


# the text forms are in test_features.c, next to the same names
PIPELINES = [
    ("logmel", 1200, dict(rate=16000, length=0, n_fft=400, hop=160, win_length=400, window="hann",
                          power=2, n_mels=40, f_min=0.0, f_max=8000.0, scale="htk",
                          mel_norm="none", log="ln", n_mfcc=0, norm="none")),
    ("mfcc_db", 1200, dict(rate=16000, length=0, n_fft=512, hop=160, win_length=400,
                           window="hamming", power=2, n_mels=40, f_min=20.0, f_max=7600.0,
                           scale="slaney", mel_norm="slaney", log="db", top_db=80.0, n_mfcc=13,
                           norm="meanvar")),
    ("magnitude_ln_mean", 400, dict(rate=16000, length=0, n_fft=64, hop=32, win_length=64,
                                    window="hann", power=1, n_mels=0, log="ln", n_mfcc=0,
                                    norm="mean")),
    ("length_center", 1100, dict(rate=16000, length=1200, align="center", n_fft=400, hop=160,
                                 win_length=400, window="hann", power=2, n_mels=40, f_min=0.0,
                                 f_max=8000.0, scale="htk", mel_norm="none", log="ln", n_mfcc=0,
                                 norm="meanvar")),
]


def pipeline_cases(w):
    """torch in float32 (as a model runs it) and in float64 (the exact value): normalised
    features divide float32's rounding by small standard deviations, so the float32 result is
    itself up to ~1e-5 of the peak away from the exact one"""
    x = signal(1200)  # each case takes its first n samples
    w.add("pipe_x", x)
    for name, n, c in PIPELINES:
        w.add(f"pipe_{name}_torch", torch_features(x[:n], c, torch.float32), digits=7)
        w.add(f"pipe_{name}_float64", torch_features(x[:n], c, torch.float64), digits=8)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "audio.txt")
    w = FixtureWriter(out, comment=__doc__)
    fft_cases(w)
    wav_cases(w)
    w.write()
    print("wrote", out)
    out = os.path.join(here, "features.txt")
    w = FixtureWriter(out, comment=__doc__)
    stft_cases(w)
    mel_cases(w)
    pipeline_cases(w)
    w.write()
    print("wrote", out)


if __name__ == "__main__":
    main()
