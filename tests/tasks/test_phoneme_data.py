"""The libriphone loader: layout, validation errors, HW2 split, weights_only, context windows."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from optbench.errors import DataError
from optbench.tasks.phoneme import data as D

LENGTHS = {"19-198-0001": 5, "19-198-0002": 1, "19-198-0003": 7, "26-495-0004": 3, "26-495-0005": 4}
TEST_LENGTHS = {"1-1-0001": 4, "1-1-0002": 2}


def make_libriphone(root: Path, lengths: dict[str, int] = LENGTHS, test: dict[str, int] = TEST_LENGTHS) -> Path:
    """A small libriphone folder; frame f of utterance u has every feature equal to 1000·u + f."""
    (root / "feat" / "train").mkdir(parents=True)
    (root / "feat" / "test").mkdir(parents=True)
    lines = []
    for u, (utt, n) in enumerate(lengths.items()):
        feats = (1000.0 * u + torch.arange(n, dtype=torch.float32))[:, None].expand(n, 39).contiguous()
        torch.save(feats, root / "feat" / "train" / f"{utt}.pt")
        lines.append(" ".join([utt, *(str((u + f) % 41) for f in range(n))]))
    for utt, n in test.items():
        torch.save(torch.randn(n, 39), root / "feat" / "test" / f"{utt}.pt")
    (root / "train_split.txt").write_text("\n".join(lengths) + "\n")
    (root / "train_labels.txt").write_text("\n".join(lines) + "\n")
    (root / "test_split.txt").write_text("\n".join(test) + "\n")
    return root


def test_loads_layout_into_one_contiguous_tensor(tmp_path: Path) -> None:
    data = D.load(make_libriphone(tmp_path / "lp"))
    frames = data.labelled
    assert frames.features.shape == (sum(LENGTHS.values()), 39) and frames.features.is_contiguous()
    assert frames.ids == data.train_ids + data.val_ids
    assert frames.offsets[-1] == frames.n_frames and frames.labels is not None
    assert len(frames.labels) == frames.n_frames
    assert data.test_frames().features.shape == (sum(TEST_LENGTHS.values()), 39)


def test_split_follows_the_homework_convention(tmp_path: Path) -> None:
    ids = [f"{i}-1-0001" for i in range(37)]
    expected = list(ids)
    random.seed(1337)  # the homework's code, verbatim
    random.shuffle(expected)
    cut = int(len(expected) * 0.8)
    assert D.split_train_val(ids) == (expected[:cut], expected[cut:])
    data = D.load(make_libriphone(tmp_path / "lp"), train_ratio=0.6)
    assert (data.train_ids, data.val_ids) == D.split_train_val(list(LENGTHS), 0.6)


def naive_windows(per_utterance: list[torch.Tensor], concat: int) -> torch.Tensor:
    """The homework's concat_feat: shift with edge repetition, per utterance, materialised."""
    half, rows = concat // 2, []
    for x in per_utterance:
        n = len(x)
        for t in range(n):
            rows.append(torch.cat([x[min(max(t + k, 0), n - 1)] for k in range(-half, half + 1)]))
    return torch.stack(rows)


@pytest.mark.parametrize("concat", [1, 3, 5, 11])
def test_context_windows_match_naive_reference_at_edges(tmp_path: Path, concat: int) -> None:
    frames = D.load(make_libriphone(tmp_path / "lp")).labelled
    per_utt = [frames.features[int(frames.offsets[u]):int(frames.offsets[u + 1])] for u in range(len(frames.ids))]
    expected = naive_windows(per_utt, concat)
    order = torch.randperm(frames.n_frames, generator=torch.Generator().manual_seed(0))
    assert torch.equal(frames.windows(order, concat), expected[order])
    # never a frame of another utterance: every value in a window belongs to the frame's own utterance
    windows = frames.windows(torch.arange(frames.n_frames), concat)
    file_index = torch.tensor([list(LENGTHS).index(utt) for utt in frames.ids])  # the 1000·u in the values
    owner = torch.repeat_interleave(file_index, frames.offsets.diff())
    assert torch.equal(torch.div(windows, 1000, rounding_mode="floor").long(), owner[:, None].expand_as(windows))


def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        D.load(tmp_path / "nowhere")
    root = make_libriphone(tmp_path / "lp")
    (root / "test_split.txt").unlink()
    with pytest.raises(DataError, match=r"missing file .*test_split\.txt"):
        D.load(root)


def test_id_without_pt_file(tmp_path: Path) -> None:
    root = make_libriphone(tmp_path / "lp")
    (root / "feat" / "train" / "26-495-0004.pt").unlink()
    with pytest.raises(DataError, match=r"missing feature file .*26-495-0004\.pt"):
        D.load(root)


@pytest.mark.parametrize("bad, shown", [
    (torch.zeros(4, 40), r"shape \(4, 40\)"),
    (torch.zeros(4, 39, dtype=torch.long), "torch.int64"),
    (torch.zeros(39), r"shape \(39,\)"),
    ({"x": torch.zeros(4, 39)}, "dict"),
])
def test_tensor_not_t_by_39_float(tmp_path: Path, bad: object, shown: str) -> None:
    root = make_libriphone(tmp_path / "lp")
    torch.save(bad, root / "feat" / "train" / "19-198-0003.pt")
    with pytest.raises(DataError, match=rf"19-198-0003\.pt: expected a \(T, 39\) float tensor, got .*{shown}"):
        D.load(root)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_feature_is_a_malformed_file_not_a_diverged_trial(tmp_path: Path, value: float) -> None:
    root = make_libriphone(tmp_path / "lp")
    feats = torch.zeros(7, 39)
    feats[4, 2] = value
    torch.save(feats, root / "feat" / "train" / "19-198-0003.pt")
    expected = r"19-198-0003\.pt: malformed data file: expected finite feature values, found -?(nan|inf) at frame 4"
    with pytest.raises(DataError, match=expected):
        D.load(root)


def test_label_count_differs_from_frames(tmp_path: Path) -> None:
    root = make_libriphone(tmp_path / "lp")
    torch.save(torch.zeros(6, 39), root / "feat" / "train" / "19-198-0003.pt")
    with pytest.raises(DataError, match=r"19-198-0003 has 7 labels, expected 6"):
        D.load(root)


@pytest.mark.parametrize("label", ["41", "-1"])
def test_label_outside_range(tmp_path: Path, label: str) -> None:
    root = make_libriphone(tmp_path / "lp")
    path = root / "train_labels.txt"
    path.write_text(path.read_text().replace("19-198-0002 1", f"19-198-0002 {label}"))
    expected = rf"train_labels\.txt:2: utterance 19-198-0002: label {label} is outside 0\.\.40"
    with pytest.raises(DataError, match=expected):
        D.load(root)


class _Payload:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path("PWNED"),))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    root = make_libriphone(tmp_path / "lp")
    torch.save({"features": _Payload()}, root / "feat" / "train" / "19-198-0001.pt")
    with pytest.raises(DataError, match=r"19-198-0001\.pt: not a plain tensor file \(loaded with weights_only"):
        D.load(root)
    assert not Path("PWNED").exists()  # cwd is tmp_path (conftest)
    # the payload is real: a plain torch.load runs it (harmless here: it touches a file in tmp cwd)
    torch.load(root / "feat" / "train" / "19-198-0001.pt", weights_only=False)
    assert Path("PWNED").exists()


def test_resolve_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "from-env"))
    assert D.resolve_root(str(tmp_path / "given")) == tmp_path / "given"
    assert D.resolve_root(None) == tmp_path / "from-env"
