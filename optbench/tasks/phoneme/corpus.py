"""The built-in phoneme corpus: synthesized English speech written in exactly the libriphone layout.

Sentences come from templates over a small shipped word list (``words.txt``); eSpeak NG speaks them with
many voices (accents × voice variants × pitch × rate), its phoneme events give the alignment, and
:mod:`features` turns the audio into 39-dim frames with per-frame labels from :mod:`labels`. Training and
test utterances come from disjoint (accent, variant) voices. Noise at a random SNR and dither are added.

Determinism: every random draw comes from a generator seeded by (seed, speaker, utterance), eSpeak's own
generator is seeded per utterance, and each speaker is synthesized in a freshly forked process (eSpeak
keeps internal state from one utterance to the next, so a fresh process per speaker with a fixed order
inside it is what makes the same seed give byte-identical files, whatever ran before in the caller).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from optbench.errors import OptbenchError
from optbench.tasks.phoneme import features as F
from optbench.tasks.phoneme.labels import MODIFIERS, class_of

ACCENTS: tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
                            "en-gb-x-gbcwmd", "en-us-nyc")
VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt",
                             "klatt2", "klatt3", "klatt4", "iven", "john", "max", "linda", "anika", "edward",
                             "david", "belinda")
TEST_VOICE_FRACTION = 0.2
UTTERANCES_PER_SPEAKER = 10
GENERATOR_VERSION = 1  # part of the cache key: bump when generation changes, so stale caches are not reused
#: what one utterance costs: on disk (its features; 600 utterances take 56.7 MB, 2026-12-02) and in memory
#: while generating (its label line and bookkeeping), rounded up: a corpus is refused up front when it
#: cannot fit, instead of filling the disk
DISK_PER_UTTERANCE = 100_000
MEMORY_PER_UTTERANCE = 2_000
TEMPLATES: tuple[str, ...] = (
    "{det} {adj} {noun} {verb} {det} {thing} {time}",
    "{det} {noun} {verbi} {adv} {prep} {det} {adj} {thing}",
    "{det} {noun} {verbi} {conj} {det} {adj} {noun} {verb} {det} {thing}",
    "{num} {adj} {thing}s {prep} {det} {thing}",
    "{time} {det} {adj} {noun} {adv} {verb} {det} {adj} {thing}",
)


@dataclass(frozen=True)
class CorpusSettings:
    """Everything that determines a generated corpus (recorded in its ``corpus.json``)."""

    utterances: int = 600
    snr_low: float = 5.0
    snr_high: float = 25.0
    seed: int = 0
    cmvn: bool = True
    test_fraction: float = 0.2

    def check(self) -> None:
        if self.utterances < 10:
            raise CorpusError(f"--utterances must be >= 10, got {self.utterances}")
        if self.snr_low > self.snr_high:
            raise CorpusError(f"--snr must be LO:HI with LO <= HI, got {self.snr_low}:{self.snr_high}")
        if not 0.0 < self.test_fraction < 1.0:
            raise CorpusError(f"test_fraction must be in (0, 1), got {self.test_fraction}")

    def split_counts(self) -> dict[str, int]:
        """Utterances per split: about ``test_fraction`` of them (at least one) are test utterances."""
        n_test = max(1, round(self.utterances * self.test_fraction))
        return {"train": self.utterances - n_test, "test": n_test}

    def digest(self) -> str:
        payload = {**asdict(self), "generator_version": GENERATOR_VERSION}
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]


class CorpusError(OptbenchError):
    """Bad corpus-generation settings or an output folder that cannot be used."""


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an eSpeak voice with its own pitch, pitch range and speaking rate."""

    number: int
    voice: str  # "<accent>+<variant>"
    pitch: int
    pitch_range: int
    rate: int
    split: str  # "train" or "test"


def parse_snr(text: str) -> tuple[float, float]:
    """``"LO:HI"`` (dB) or a single number → (low, high)."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise CorpusError(f"--snr must be LO:HI in dB (e.g. 5:25), got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise CorpusError(f"--snr must be LO:HI in dB (e.g. 5:25), got {text!r}")
    return parts[0], parts[1]


def word_lists() -> dict[str, list[str]]:
    """Category → words, from the shipped ``words.txt`` (multi-word entries are not split)."""
    lists: dict[str, list[str]] = {}
    for line in files("optbench.tasks.phoneme").joinpath("words.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            category, words = line.split(":", 1)
            lists[category.strip()] = words.split()
    return lists


def sentence(rng: np.random.Generator, words: dict[str, list[str]]) -> str:
    """One to three template clauses joined by commas, e.g. 'the lazy fox finds a coin today.'."""
    clauses = []
    for _ in range(int(rng.integers(1, 4))):
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        clauses.append(template.format_map({k: v[int(rng.integers(len(v)))] for k, v in words.items()}))
    return ", ".join(clauses) + "."


def speakers(settings: CorpusSettings) -> list[Speaker]:
    """The corpus's speakers in generation order; test speakers use voices no training speaker uses."""
    rng = np.random.default_rng([settings.seed, 0])
    voices = [f"{a}+{v}" for a in ACCENTS for v in VARIANTS]
    order = rng.permutation(len(voices))
    n_test_voices = max(1, round(len(voices) * TEST_VOICE_FRACTION))
    pools = {"test": [voices[i] for i in order[:n_test_voices]], "train": [voices[i] for i in order[n_test_voices:]]}
    counts = settings.split_counts()
    result: list[Speaker] = []
    for split in ("train", "test"):
        n_speakers = -(-counts[split] // UTTERANCES_PER_SPEAKER)
        for i in range(n_speakers):
            result.append(Speaker(
                number=100 + len(result), voice=pools[split][i % len(pools[split])],
                pitch=int(rng.integers(20, 81)), pitch_range=int(rng.integers(20, 91)),
                rate=int(rng.integers(130, 211)), split=split,
            ))
    return result


def _utterance_counts(settings: CorpusSettings, speaker_list: list[Speaker]) -> list[int]:
    remaining = settings.split_counts()
    counts = []
    for spk in speaker_list:
        counts.append(min(UTTERANCES_PER_SPEAKER, remaining[spk.split]))
        remaining[spk.split] -= counts[-1]
    return counts


Utterance = tuple[str, np.ndarray, np.ndarray]  # (id, (T, 39) float32 features, (T,) int64 labels)


def synthesize_speaker(speaker: Speaker, count: int, settings: CorpusSettings) -> list[Utterance]:
    """Speak ``count`` sentences as ``speaker`` and compute features and labels (runs in a worker)."""
    from optbench.tasks.phoneme.espeak import engine

    espeak = engine()
    words = word_lists()
    out: list[Utterance] = []
    for k in range(count):
        rng = np.random.default_rng([settings.seed, speaker.number, k])
        text = sentence(rng, words)
        rate = int(np.clip(speaker.rate + rng.integers(-15, 16), 80, 400))
        synth = espeak.synthesize(text, speaker.voice, rate=rate, pitch=speaker.pitch,
                                  pitch_range=speaker.pitch_range, seed=int(rng.integers(2**31 - 1)))
        context = f"voice {speaker.voice}, text {text!r}"
        segments = [(start, m) for start, m in synth.phonemes if m not in MODIFIERS]
        starts = np.array([start for start, _ in segments], dtype=np.float64)
        classes = np.array([class_of(m, context) for _, m in segments], dtype=np.int64)
        lead, trail = (int(rng.integers(800, 6400)) for _ in range(2))  # 50-400 ms of silence each side
        signal = np.concatenate([np.zeros(lead), F.resample(synth.audio, synth.sample_rate), np.zeros(trail)])
        signal = F.dither(F.add_noise(signal, rng.uniform(settings.snr_low, settings.snr_high), rng), rng)
        feats = F.features(signal, cmvn=settings.cmvn)
        labels = F.frame_labels(starts, classes, synth.sample_rate, len(feats), offset=lead)
        chapter = speaker.number * 10 + 1
        out.append((f"{speaker.number}-{chapter}-{k:04d}", feats, labels))
    return out


def _job(args: tuple[Speaker, int, CorpusSettings]) -> list[Utterance]:
    return synthesize_speaker(*args)


def generate(out: str | Path, settings: CorpusSettings = CorpusSettings(), workers: int | None = None,
             on_speaker: Callable[[int, int], None] | None = None) -> Path:
    """Write a corpus in the libriphone layout to ``out`` (which must not exist or be empty)."""
    import torch

    from optbench.tasks.phoneme import espeak

    settings.check()
    check_room(out, settings.utterances)
    if espeak._ENGINE is not None:  # forked workers would inherit its state: see the module docstring
        raise RuntimeError("eSpeak NG was already used in this process, so forked workers would not start "
                           "from a fresh engine and the corpus would not be reproducible; generate it in a "
                           "process that has not synthesized anything")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CorpusError(f"output folder {out} exists and is not empty; give a new --out")
    speaker_list = speakers(settings)
    jobs = [(spk, n, settings) for spk, n in zip(speaker_list, _utterance_counts(settings, speaker_list),
                                                    strict=True) if n > 0]
    for split in ("train", "test"):
        (out / "feat" / split).mkdir(parents=True, exist_ok=True)
    ids: dict[str, list[str]] = {"train": [], "test": []}
    label_lines: list[str] = []
    workers = workers or min(2, os.cpu_count() or 1)
    # a fresh forked process per speaker (maxtasksperchild=1): see the module docstring
    context = multiprocessing.get_context("fork")
    with context.Pool(processes=workers, maxtasksperchild=1) as pool:
        for done, ((spk, _, _), utterances) in enumerate(zip(jobs, pool.imap(_job, jobs), strict=True), 1):
            for utt_id, feats, labels in utterances:
                torch.save(torch.from_numpy(feats), out / "feat" / spk.split / f"{utt_id}.pt")
                ids[spk.split].append(utt_id)
                if spk.split == "train":
                    label_lines.append(" ".join([utt_id, *map(str, labels.tolist())]))
            if on_speaker:
                on_speaker(done, len(jobs))
    (out / "train_split.txt").write_text("".join(f"{i}\n" for i in ids["train"]))
    (out / "test_split.txt").write_text("".join(f"{i}\n" for i in ids["test"]))
    (out / "train_labels.txt").write_text("".join(f"{line}\n" for line in label_lines))
    meta: dict[str, Any] = {"generator": "optbench built-in phoneme corpus", "settings": asdict(settings),
                            "espeak_ng": espeak.library_version(), "speakers": [asdict(s) for s in speaker_list]}
    (out / "corpus.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def check_room(out: str | Path, utterances: int) -> None:
    """Refuse, before any synthesis, a corpus that would not fit on the disk of ``out`` or in memory."""
    from optbench.tasks.base import check_memory

    need = utterances * DISK_PER_UTTERANCE
    place = Path(out).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        free = shutil.disk_usage(place).free
    except OSError:
        free = None
    if free is not None and need > free:
        raise CorpusError(f"{utterances:,} utterances need about {need / 1e9:,.1f} GB on disk, more than the "
                          f"{free / 1e9:,.1f} GB free at {place}; ask for fewer --utterances")
    check_memory(f"a corpus of {utterances:,} utterances", utterances * MEMORY_PER_UTTERANCE)


def cache_root() -> Path:
    """``$OPTBENCH_CACHE`` or ``~/.cache/optbench``."""
    return Path(os.environ.get("OPTBENCH_CACHE") or Path.home() / ".cache" / "optbench")


def print_progress(line: str) -> None:
    """Default :data:`progress`: the line on stderr (stdout may be a table or a CSV someone pipes)."""
    print(line, file=sys.stderr, flush=True)


#: called with one line before and one after building the built-in corpus; the CLI may replace it
#: (e.g. with its console's printer), tests with a list's append
progress: Callable[[str], None] = print_progress


def default_corpus(settings: CorpusSettings = CorpusSettings()) -> Path:
    """The built-in corpus folder in the cache, generated on first use (atomically, by rename)."""
    target = cache_root() / "phoneme" / f"espeak-{settings.digest()}"
    if (target / "corpus.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".generating-", dir=target.parent))
    try:
        progress(f"building the built-in phoneme corpus (once, ~30 s) in {target}")
        started = time.perf_counter()
        generate(staging / "corpus", settings)
        progress(f"built the phoneme corpus ({settings.utterances} utterances) in "
                 f"{time.perf_counter() - started:.0f} s")
        try:
            os.replace(staging / "corpus", target)
        except OSError:
            if not (target / "corpus.json").is_file():  # not a concurrent generator that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
