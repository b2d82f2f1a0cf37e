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


# --- impossible values (issue 12.6/12.7): one clear SpecError each, before any training or allocation ---

def test_unicode_minus_reads_as_minus() -> None:
    assert parse_list("adam[lr=1e\u22123]")[0].params["lr"] == 1e-3
    assert parse_list("saddle[x0=\u22120.5]")[0].params["x0"] == -0.5
    assert parse_seeds("0\u22122") == [0, 1, 2]


@pytest.mark.parametrize("text", ["sgd[lr=nan]", "adam[lr=inf]", "adam[lr=-inf]", "saddle[x0=NaN]",
                                  "adam[betas=0.9/nan]"])
def test_non_finite_values_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(SpecError, match="finite numbers") as info:
        parse_list(text)
    assert "\n" not in str(info.value)


def test_a_word_where_a_number_belongs_is_named_as_such() -> None:
    import torch

    import optbench
    from optbench.plan import plan

    with pytest.raises(SpecError, match="lr must be a number, got 'fast'") as info:
        plan(optbench.StudySpec("quadratic[dim=2,n=2]", "adam[lr=fast]", steps=1))
    assert "not supported" not in str(info.value)
    adam = optbench.load_registry(plugin_dir=None).get("optimizer", "adam")
    with pytest.raises(SpecError, match="betas takes 2 numbers"):
        adam.create([torch.nn.Parameter(torch.zeros(1))], betas=(0.9, 0.98, 0.7))
    with pytest.raises(SpecError, match="lr must be a finite number"):
        adam.resolved({"lr": float("nan")})


def test_seeds_are_bounded_before_anything_is_allocated() -> None:
    assert parse_seeds("0-99999") == list(range(100_000))
    with pytest.raises(SpecError, match="at most 100000"):
        parse_seeds("0-100000000")  # refused from the bounds, not after building the list
    with pytest.raises(SpecError, match="at most 100000"):
        parse_seeds("0-60000,70000-130000")
    with pytest.raises(SpecError, match=r"\[0, 2\*\*63\)"):
        parse_seeds("1180591620717411303424")
    assert parse_seeds([2**63 - 1]) == [2**63 - 1]
    for bad in ([-1], [2**63], [True], [0.5], ["1"]):
        with pytest.raises(SpecError, match="seeds must be integers"):
            parse_seeds(bad)
    with pytest.raises(SpecError, match="at most 100000"):
        parse_seeds(range(10**9))


def test_batch_sizes_are_positive_ints_or_full() -> None:
    assert parse_batch_sizes([1, "full", 32]) == [1, "full", 32]
    for bad in ("0", "-4", "1.5", "half", [0], [2.5], [True]):
        with pytest.raises(SpecError, match="batch size"):
            parse_batch_sizes(bad)


# ---------------------------------------------------------------------------------------------
# sizes counted before anything is expanded
# ---------------------------------------------------------------------------------------------

def test_count_specs_counts_a_grid_without_expanding_it() -> None:
    from optbench.spec import count_specs

    grid = "sgd[lr=" + "|".join(str(i) for i in range(1, 1001)) + ",weight_decay=" + \
        "|".join(str(i) for i in range(1000)) + "],adam"
    assert count_specs(grid) == 1_000_001
    assert count_specs(["sgd[lr=1|2]", Spec("adam")]) == 3


def test_a_grid_above_the_limit_is_refused_with_its_count_and_how_to_split() -> None:
    from optbench.spec import MAX_TRIALS, check_trial_count, parse_list

    wide = "sgd[lr=" + "|".join(str(i) for i in range(1, 1001)) + ",weight_decay=" + \
        "|".join(str(i) for i in range(1000)) + "]"
    with pytest.raises(SpecError, match=r"1,000,000 trials .*limit of 100,000; split it"):
        parse_list(wide)
    assert check_trial_count({"optimizers": MAX_TRIALS}) == MAX_TRIALS
    with pytest.raises(SpecError, match=r"100,002 trials \(50,001 optimizers × 2 seeds\)"):
        check_trial_count({"optimizers": 50_001, "seeds": 2})


def test_a_step_budget_above_the_limit_needs_insist() -> None:
    from optbench.spec import MAX_STEPS, check_steps

    check_steps(MAX_STEPS, "task 'x'")
    with pytest.raises(SpecError, match=r"1,000,000,000,000 steps per trial.*--time.*--insist"):
        check_steps(10**12, "task 'x'")
    check_steps(10**12, "task 'x'", insist=True)
