"""Speech features like libriphone's: 16 kHz audio → 25 ms / 10 ms frames → 13 MFCC + Δ + ΔΔ = 39 per frame.

Also the signal-level corruptions the built-in corpus applies (additive noise at a target SNR, dither) and
the frame ↔ sample bookkeeping that turns phoneme start samples into per-frame labels. Written with
numpy/scipy in float64 (not torch) because the corpus generator computes features in forked worker
processes, where torch's thread pools must not be touched; float64 also keeps results bit-stable.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.fft import dct
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_FFT = 512
N_MELS = 40
N_CEPS = 13
PRE_EMPHASIS = 0.97
DELTA_WIDTH = 2


def resample(audio: np.ndarray, from_rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (anti-aliased) to ``to_rate``; returns float64."""
    g = np.gcd(int(from_rate), int(to_rate))
    return resample_poly(np.asarray(audio, dtype=np.float64), to_rate // g, from_rate // g)


def add_noise(signal: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` relative to the signal's mean power."""
    power = float(np.mean(signal**2)) if signal.size else 0.0
    if power == 0.0:
        return signal.copy()
    noise_std = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return signal + rng.normal(0.0, noise_std, size=signal.shape)


def dither(signal: np.ndarray, rng: np.random.Generator, amplitude: float = 1.0) -> np.ndarray:
    """Add ±1 LSB-scale Gaussian noise: eSpeak's pauses are digital zeros, whose log-mel energy is -inf."""
    return signal + rng.normal(0.0, amplitude, size=signal.shape)


def n_frames(n_samples: int) -> int:
    """Frames of WINDOW samples every HOP samples that fit (no padding), like Kaldi's snip-edges."""
    return 0 if n_samples < WINDOW else 1 + (n_samples - WINDOW) // HOP


def frame_centres(count: int) -> np.ndarray:
    """Sample index (16 kHz) at the centre of each of ``count`` frames."""
    return np.arange(count) * HOP + WINDOW // 2


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(N_FFT//2+1, N_MELS) triangular HTK-mel filters between 20 Hz and Nyquist."""
    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(np.array(20.0)), to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).T


def mfcc(signal: np.ndarray) -> np.ndarray:
    """(T, 13) MFCCs of a 16 kHz signal: pre-emphasis, Hamming window, power spectrum, log-mel, DCT-II."""
    emphasised = np.append(signal[:1], signal[1:] - PRE_EMPHASIS * signal[:-1])
    count = n_frames(len(emphasised))
    if count == 0:
        return np.zeros((0, N_CEPS))
    frames = np.lib.stride_tricks.sliding_window_view(emphasised, WINDOW)[::HOP][:count]
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove DC per frame
    power = np.abs(np.fft.rfft(frames * np.hamming(WINDOW), n=N_FFT)) ** 2
    log_mel = np.log(np.maximum(power @ mel_filterbank(), 1e-10))
    return dct(log_mel, type=2, norm="ortho", axis=1)[:, :N_CEPS]


def deltas(x: np.ndarray, width: int = DELTA_WIDTH) -> np.ndarray:
    """Regression deltas over ±``width`` frames with edge frames repeated (the HTK/Kaldi formula)."""
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = len(x)
    numerator = sum(k * (padded[width + k:width + k + n] - padded[width - k:width - k + n])
                    for k in range(1, width + 1))
    return numerator / (2 * sum(k * k for k in range(1, width + 1)))


def features(signal: np.ndarray, cmvn: bool = True) -> np.ndarray:
    """(T, 39) float32: 13 MFCC, Δ, ΔΔ; with per-utterance mean/variance normalisation if ``cmvn``."""
    base = mfcc(signal)
    delta = deltas(base)
    out = np.concatenate([base, delta, deltas(delta)], axis=1)
    if cmvn and len(out) > 1:
        out = (out - out.mean(axis=0)) / np.maximum(out.std(axis=0), 1e-8)
    return out.astype(np.float32)


def frame_labels(starts: np.ndarray, classes: np.ndarray, source_rate: int, count: int,
                 offset: int = 0) -> np.ndarray:
    """Per-frame class: that of the phoneme whose span (its start to the next start, in ``source_rate``
    samples) holds the frame's centre; ``offset`` is the leading padding in 16 kHz samples, and frames
    before the first phoneme are silence (class 0)."""
    centres = (frame_centres(count) - offset) * (source_rate / SAMPLE_RATE)
    which = np.searchsorted(starts, centres, side="right") - 1
    return np.where(which >= 0, classes[np.clip(which, 0, None)], 0).astype(np.int64)
