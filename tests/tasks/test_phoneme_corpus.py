"""The built-in corpus: eSpeak NG through ctypes, features, the class table, determinism, disjoint voices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from optbench.tasks.phoneme import corpus as C
from optbench.tasks.phoneme import data as D
from optbench.tasks.phoneme import features as F
from optbench.tasks.phoneme import labels as L

TINY = C.CorpusSettings(utterances=12, seed=3)


def test_class_table_has_41_classes_and_strips_stress() -> None:
    assert L.N_CLASSES == 41 and L.CLASSES[0] == "sil" and {"AH", "AX"} <= set(L.CLASSES)
    assert set(L.ESPEAK_TO_CLASS.values()) <= set(L.CLASSES)
    assert L.class_of("'aI") == L.class_of(",aI") == L.CLASS_INDEX["AY"]
    assert L.class_of("V") == L.CLASS_INDEX["AH"] and L.class_of("@") == L.CLASS_INDEX["AX"]


def test_unmapped_mnemonic_fails_loudly() -> None:
    with pytest.raises(L.MappingError, match=r"eSpeak phoneme 'Q9' \(voice en-us\) has no entry"):
        L.class_of("Q9", "voice en-us")


def test_generation_fails_loudly_on_an_unmapped_phoneme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(L.ESPEAK_TO_CLASS, "s")  # forked workers inherit the patched table
    with pytest.raises(L.MappingError, match=r"eSpeak phoneme 's' \(voice en"):
        C.generate(tmp_path / "c", TINY)


def test_features_shapes_and_frame_bookkeeping() -> None:
    rng = np.random.default_rng(0)
    signal = F.dither(np.zeros(16_000), rng)  # 1 s of dithered digital silence: finite features
    feats = F.features(signal)
    assert feats.shape == (F.n_frames(16_000), 39) == (98, 39) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert F.features(np.zeros(16_000), cmvn=False)[:, 0].max() < -100  # undithered zeros: log floor
    # phonemes starting at 22.05 kHz samples 0 and 2205 (= 100 ms = 1600 at 16 kHz): centre 200+160t
    got = F.frame_labels(np.array([0.0, 2205.0]), np.array([5, 7]), 22_050, 12)
    assert got.tolist() == [5] * 9 + [7] * 3  # centres 200..1480 < 1600 <= 1640


def test_speakers_of_test_split_use_unseen_voices() -> None:
    speakers = C.speakers(C.CorpusSettings(utterances=600))
    train = {s.voice for s in speakers if s.split == "train"}
    test = {s.voice for s in speakers if s.split == "test"}
    assert test and train and not train & test
    assert len(train) > 20  # many voices: accents x variants


def test_bad_settings_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(C.CorpusError, match="LO:HI"):
        C.parse_snr("loud")
    with pytest.raises(C.CorpusError, match="LO <= HI"):
        C.generate(tmp_path / "c", C.CorpusSettings(snr_low=20, snr_high=5))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(C.CorpusError, match="not empty"):
        C.generate(tmp_path / "full", TINY)


def test_same_seed_gives_byte_identical_corpus_in_libriphone_layout(tmp_path: Path) -> None:
    a = C.generate(tmp_path / "a", TINY, workers=2)
    b = C.generate(tmp_path / "b", TINY, workers=1)  # worker count must not matter either
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(files_a) == 12 + 4  # 12 .pt + 3 lists + corpus.json
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    other = C.generate(tmp_path / "other", C.CorpusSettings(utterances=12, seed=4))
    assert (other / "train_labels.txt").read_bytes() != (a / "train_labels.txt").read_bytes()
    # it is a valid libriphone folder with real alignments
    data = D.load(a)
    labels = data.labelled.labels
    assert labels is not None and len(labels.unique()) >= 25
    starts = data.labelled.offsets[:-1]
    assert bool((labels[starts] == 0).all())  # every utterance starts in silence (leading pause)
    meta = json.loads((a / "corpus.json").read_text())
    assert meta["espeak_ng"] == "espeakng-loader 0.2.4" and meta["settings"]["seed"] == 3
    assert len(data.test_ids) == 2 and torch.load(a / "feat" / "test" / f"{data.test_ids[0]}.pt").shape[1] == 39


def test_default_corpus_is_made_once_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTBENCH_CACHE", str(tmp_path / "cache"))
    lines: list[str] = []
    monkeypatch.setattr(C, "progress", lines.append)  # the hook the CLI may replace
    folder = C.default_corpus(TINY)
    assert len(lines) == 2 and lines[0].startswith("building the built-in phoneme corpus (once")
    assert str(folder) in lines[0] and lines[1].startswith("built the phoneme corpus")
    assert folder.parent == tmp_path / "cache" / "phoneme" and (folder / "corpus.json").is_file()
    stamp = (folder / "train_labels.txt").stat().st_mtime_ns
    assert C.default_corpus(TINY) == folder and (folder / "train_labels.txt").stat().st_mtime_ns == stamp
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging folder left behind
    assert len(lines) == 2  # a cached corpus says nothing
