"""The spec syntax: name[key=value,key2=a|b] lists, values, grids and malformed input."""

from __future__ import annotations

import pytest

from optbench.errors import SpecError
from optbench.spec import Spec, parse_batch_sizes, parse_list, parse_seeds


def test_values_grids_and_lists() -> None:
    specs = parse_list("adam[lr=3e-4,betas=0.9/0.98],sgd[lr=0.1|0.03|0.01],Momentum")
    assert specs[0] == Spec("adam", {"lr": 3e-4, "betas": (0.9, 0.98)})
    assert [s.params["lr"] for s in specs[1:4]] == [0.1, 0.03, 0.01]
    assert specs[4] == Spec("momentum", {})
    assert parse_list("phoneme[data_dir=/data/libriphone]")[0].params["data_dir"] == "/data/libriphone"
    assert parse_list("phoneme[data_dir=rel/dir]")[0].params["data_dir"] == "rel/dir"
    grid = parse_list("phoneme[concat=1|19,bn=true|false,preset=strong]")
    assert len(grid) == 4 and grid[0].params == {"concat": 1, "bn": True, "preset": "strong"}
    assert Spec("adam", {"lr": 0.001, "betas": (0.9, 0.98)}).label == "adam[betas=0.9/0.98,lr=0.001]"


@pytest.mark.parametrize("text", ["adam[lr=1", "adam]", "adam[lr]", "adam[=1]", "[lr=1]", "adam[lr=1,lr=2]",
                                  "adam[lr=]", "adam=1", ""])
def test_malformed(text: str) -> None:
    with pytest.raises(SpecError):
        parse_list(text)


def test_batch_sizes_and_seeds() -> None:
    assert parse_batch_sizes("1,16,FULL") == [1, 16, "full"]
    assert parse_seeds("0,2-4") == [0, 2, 3, 4]
    for bad in ("0", "-1", "x"):
        with pytest.raises(SpecError):
            parse_batch_sizes(bad)
    for bad in ("-1", "3-1", "a"):
        with pytest.raises(SpecError):
            parse_seeds(bad)
