#!/usr/bin/python3
"""The PyTorch twin of bench/bench_stft.c: log-mel features of one-second 16 kHz clips,
reporting seconds of audio featurised per second.

    torch.stft(n_fft 400, hop 160, Hann, center, reflect) -> power -> @ mel matrix (40 HTK
    bands, 0-8 kHz, torchaudio's melscale_fbanks) -> log(x + 1e-6)

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/torch/stft.py [MANIFEST.csv] --threads 1

Clips: the 16-bit PCM files of a manifest (path column; e.g. data/speech/digits/train.csv,
already at 16 kHz), else the same synthetic clips as bench_stft (a chirp and a tone). Each is
padded or cut to 1 s. Two ways are timed: clip by clip (as bench_stft runs nabla) and the
whole set as one batch (torch's best case). Prints the best of --repeats runs."""
import argparse
import csv
import math
import os
import time
import wave

import blas_threads  # noqa: F401  (before torch: the BLAS gets --threads too)
import numpy as np
import torch

RATE = 16000


def mel_matrix(n_freqs, n_mels, f_min, f_max, rate):
    """torchaudio.functional.melscale_fbanks(..., norm=None, mel_scale="htk"): [n_freqs, n_mels]"""
    def hz_to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    all_freqs = torch.linspace(0, rate // 2, n_freqs)
    m_pts = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down, up))


def load(manifest, n):
    if manifest:
        rows = list(csv.DictReader(open(manifest)))
        base = os.path.dirname(manifest)
        clips = np.zeros((len(rows), RATE), dtype=np.float32)
        for i, r in enumerate(rows):
            p = r["path"] if r["path"].startswith("/") else os.path.join(base, r["path"])
            with wave.open(p) as w:
                assert w.getsampwidth() == 2 and w.getframerate() == RATE, p
                x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
                x = x.reshape(-1, w.getnchannels()).mean(axis=1) / 32768.0
            clips[i, :min(len(x), RATE)] = x[:RATE]
    else:
        clips = np.zeros((n, RATE), dtype=np.float32)
        s = np.arange(RATE) / RATE
        for i in range(n):
            clips[i] = 0.4 * np.sin(2 * np.pi * (200 + 50 * (i % 13) + 900 * s) * s) + \
                0.1 * np.sin(0.37 * np.arange(RATE) + i)
    return torch.from_numpy(clips)


def logmel(x, win, fb):
    S = torch.stft(x, 400, hop_length=160, win_length=400, window=win, center=True,
                   pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    P = S.real ** 2 + S.imag ** 2
    return torch.log(torch.matmul(P.transpose(-1, -2), fb).transpose(-1, -2) + 1e-6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest", nargs="?")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = load(a.manifest, a.clips)
    n = x.shape[0]
    win = torch.hann_window(400)
    fb = mel_matrix(201, 40, 0.0, 8000.0, RATE)
    print(f"torch {torch.__version__}: {n} clips of 1 s at 16 kHz "
          f"({a.manifest or 'synthetic'}), {a.threads} threads, best of {a.repeats}")
    with torch.no_grad():
        best = 1e30
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for i in range(n):
                logmel(x[i], win, fb)
            best = min(best, time.perf_counter() - t0)
        print(f"logmel   clip by clip  {n / best:10.0f} s of audio per s")
        best = 1e30
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            logmel(x, win, fb)
            best = min(best, time.perf_counter() - t0)
        print(f"logmel   one batch     {n / best:10.0f} s of audio per s")


if __name__ == "__main__":
    main()
