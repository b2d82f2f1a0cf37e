"""The conformance suite behind ``optbench check``: generic tests every optimizer, schedule and task must pass.

Like benchopt's generic solver tests, each check exercises one promise the runner relies on, on a tiny
problem, and reports pass or fail with a reason a plugin author can act on. A check that raises is a
failure whose reason is the exception. Checks are independent: one failing does not stop the others,
except that nothing else can run when the entry cannot even be constructed.

Optimizer checks: construct from defaults and from the spec syntax, reduce a well-conditioned quadratic,
follow ``param_groups[i]["lr"]`` changes, state_dict round trip (stop at k, resume == uninterrupted),
survive zero/tiny/huge gradients and gradient-less parameters, same seed ⇒ same trajectory, several shapes
and float32/float64. Schedule checks: construct, finite non-negative multipliers, pure and deterministic,
total_steps = 1. Task checks: construct, init_model deterministic per seed, loss a finite scalar with a
gradient, train_batch for several index sets, step_metrics/evaluate give finite floats, and for 2-D tasks
zero gradient at the declared critical points.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optbench import catalogue
from optbench.errors import UnknownNameError
from optbench.registry import Entry, Kind, Registry
from optbench.spec import format_value, parse_one
from optbench.tasks.base import Metric, Target, Task


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one entry."""

    entry: str
    check: str
    passed: bool
    reason: str = ""
    seconds: float = 0.0


class CheckFailed(Exception):
    """Raised inside a check to fail it with a reason."""


Check = Callable[[Entry], None]


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise CheckFailed(reason)


def _run(entry: Entry, name: str, check: Check) -> CheckResult:
    started = time.perf_counter()
    try:
        check(entry)
    except CheckFailed as exc:
        return CheckResult(entry.name, name, False, str(exc), time.perf_counter() - started)
    except Exception as exc:  # a plugin may raise anything; that is the failure being reported
        return CheckResult(entry.name, name, False, f"raised {type(exc).__name__}: {exc}",
                           time.perf_counter() - started)
    return CheckResult(entry.name, name, True, "", time.perf_counter() - started)


# ----------------------------------------------------------------------------------------------
# optimizers
# ----------------------------------------------------------------------------------------------

#: eigenvalues of the well-conditioned quadratic (condition number 2) and its optimum
_EIGENVALUES = torch.linspace(0.5, 1.0, 8, dtype=torch.float64)
_OPTIMUM = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64)


def _quadratic(theta: torch.Tensor) -> torch.Tensor:
    diff = theta - _OPTIMUM.to(theta.dtype)
    return 0.5 * (_EIGENVALUES.to(theta.dtype) * diff * diff).sum()


def _make(entry: Entry, params: list[torch.Tensor], **overrides: Any) -> torch.optim.Optimizer:
    opt = entry.create(params, **overrides)
    _require(isinstance(opt, torch.optim.Optimizer),
             f"factory returned {type(opt).__name__}, not a torch.optim.Optimizer")
    return opt


def _start(seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Parameter:
    g = torch.Generator().manual_seed(seed)
    return nn.Parameter((_OPTIMUM + 0.5 * torch.randn(8, generator=g, dtype=torch.float64)).to(dtype))


def _step(opt: torch.optim.Optimizer, params: list[nn.Parameter], loss_fn: Callable[[], torch.Tensor]) -> float:
    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        return loss

    loss = closure()
    opt.step(closure)  # closure-requiring optimizers get one; others ignore it
    return float(loss.detach())


def _noisy_quadratic(theta: nn.Parameter, generator: torch.Generator) -> Callable[[], torch.Tensor]:
    # A stochastic gradient: the noise is drawn once per step (outside the closure) so re-evaluations agree.
    def loss_fn() -> torch.Tensor:
        return _quadratic(theta) + (noise * theta).sum()

    noise = 0.1 * torch.randn(theta.shape, generator=generator, dtype=theta.dtype)
    return loss_fn


def _trajectory(entry: Entry, steps: int, seed: int = 0) -> list[torch.Tensor]:
    torch.manual_seed(seed)  # as the runner does, for optimizers that draw random numbers
    theta = _start(seed)
    opt = _make(entry, [theta])
    generator = torch.Generator().manual_seed(seed)
    points = []
    for _ in range(steps):
        _step(opt, [theta], _noisy_quadratic(theta, generator))
        points.append(theta.detach().clone())
    return points


def check_constructs(entry: Entry) -> None:
    opt = _make(entry, [_start()])
    _require(len(opt.param_groups) >= 1 and "lr" in opt.param_groups[0],
             "param_groups[0] has no 'lr' key, so schedules cannot drive it")


def check_spec_syntax(entry: Entry) -> None:
    lr = entry.defaults.get("lr", _make(entry, [_start()]).param_groups[0]["lr"])
    lr = float(lr) * 0.5
    values = {**entry.defaults, "lr": lr}
    text = f"{entry.name}[{','.join(f'{k}={format_value(v)}' for k, v in values.items())}]"
    specs = parse_one(text)
    _require(len(specs) == 1, f"{text!r} parsed into {len(specs)} specs")
    try:
        opt = _make(entry, [_start()], **specs[0].params)
    except TypeError as exc:
        raise CheckFailed(f"cannot construct {text!r}: {exc}") from None
    got = opt.param_groups[0]["lr"]
    _require(math.isclose(float(got), lr, rel_tol=1e-9),
             f"{text!r} constructed an optimizer whose param_groups lr is {got}, not {lr}")


def check_reduces_loss(entry: Entry, steps: int = 300) -> None:
    theta = _start()
    opt = _make(entry, [theta])
    first = float(_quadratic(theta.detach()))
    for _ in range(steps):
        _step(opt, [theta], lambda: _quadratic(theta))
    last = float(_quadratic(theta.detach()))
    _require(math.isfinite(last), f"loss became {last} after {steps} steps")
    # 5% is deliberately lenient: sign methods at their (small) default lr move every coordinate by only lr
    _require(last < 0.95 * first, f"{steps} steps with the default hyperparameters took the quadratic's loss "
                                  f"from {first:.4g} to {last:.4g} (expected below {0.95 * first:.4g})")


def _last_step_length(entry: Entry, lr_factor: float, warm_steps: int = 10) -> float:
    theta = _start()
    opt = _make(entry, [theta])
    for _ in range(warm_steps):
        _step(opt, [theta], lambda: _quadratic(theta))
    for group in opt.param_groups:
        group["lr"] = group["lr"] * lr_factor
    before = theta.detach().clone()
    _step(opt, [theta], lambda: _quadratic(theta))
    return float(torch.linalg.vector_norm(theta.detach() - before))


def check_lr_changes(entry: Entry) -> None:
    full, small = _last_step_length(entry, 1.0), _last_step_length(entry, 0.1)
    _require(math.isfinite(full) and math.isfinite(small), "step length is not finite")
    _require(full > 0, "the optimizer did not move the parameters at all")
    ratio = small / full
    _require(0 < ratio <= 0.5, f"after param_groups lr was cut to 0.1×, the step was {ratio:.3g}× as long "
                               "(expected ≈0.1×): the optimizer does not read param_groups['lr'] at each step")


def check_state_dict(entry: Entry, k: int = 10, total: int = 20) -> None:
    uninterrupted = _trajectory(entry, total)[-1]
    torch.manual_seed(0)
    theta = _start(0)
    opt = _make(entry, [theta])
    generator = torch.Generator().manual_seed(0)
    for _ in range(k):
        _step(opt, [theta], _noisy_quadratic(theta, generator))
    buffer = io.BytesIO()  # through bytes, as a checkpoint would: no tensor shared with the live optimizer
    torch.save({"theta": theta.detach(), "optimizer": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    resumed = nn.Parameter(saved["theta"].clone())
    opt2 = _make(entry, [resumed])
    opt2.load_state_dict(saved["optimizer"])
    for _ in range(total - k):
        _step(opt2, [resumed], _noisy_quadratic(resumed, generator))
    gap = float(torch.linalg.vector_norm(resumed.detach() - uninterrupted))
    _require(torch.allclose(resumed.detach(), uninterrupted, rtol=1e-9, atol=1e-12),
             f"stopping at step {k} and resuming from state_dict() ended {gap:.3g} away from the "
             f"uninterrupted run after {total} steps (the state_dict misses some optimizer state)")


def check_edge_gradients(entry: Entry) -> None:
    cases = {"zero": 0.0, "tiny": 1e-30, "huge": 1e12}
    for label, value in cases.items():
        for dtype in (torch.float32, torch.float64):
            theta = nn.Parameter(torch.ones(4, dtype=dtype))
            frozen = nn.Parameter(torch.full((3,), 2.0, dtype=dtype))
            opt = _make(entry, [theta, frozen])
            for _ in range(3):
                theta.grad = torch.full_like(theta, value)
                frozen.grad = None

                def closure(theta: nn.Parameter = theta, value: float = value) -> torch.Tensor:
                    theta.grad = torch.full_like(theta, value)
                    return torch.zeros((), dtype=theta.dtype)

                opt.step(closure)
            finite = bool(torch.isfinite(theta.detach()).all())
            _require(finite, f"{label} gradients ({value:g}, {dtype}) made the parameters "
                             f"{theta.detach().tolist()}")
            _require(torch.equal(frozen.detach(), torch.full((3,), 2.0, dtype=dtype)),
                     f"a parameter whose .grad is None was changed (to {frozen.detach().tolist()}) "
                     f"with {label} gradients on the others")


def check_deterministic(entry: Entry) -> None:
    first, second = _trajectory(entry, 30), _trajectory(entry, 30)
    for step, (a, b) in enumerate(zip(first, second, strict=True), start=1):
        _require(torch.equal(a, b), f"two runs with seed 0 differ from step {step} (by "
                                    f"{float(torch.linalg.vector_norm(a - b)):.3g}): "
                                    "the optimizer uses randomness not drawn from torch's seeded generator")


SHAPES: tuple[tuple[int, ...], ...] = ((1,), (7,), (4, 5), (2, 3, 4))


def check_shapes_dtypes(entry: Entry, steps: int = 20) -> None:
    for dtype in (torch.float32, torch.float64):
        g = torch.Generator().manual_seed(0)
        params = [nn.Parameter(torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)) for shape in SHAPES]
        start = [p.detach().clone() for p in params]
        opt = _make(entry, params)
        for _ in range(steps):
            _step(opt, params, lambda params=params: sum(0.5 * (p * p).sum() for p in params))
        for p, p0 in zip(params, start, strict=True):
            where = f"parameter of shape {tuple(p0.shape)}, {dtype}"
            _require(p.dtype == dtype, f"{where} became {p.dtype}")
            _require(p.shape == p0.shape, f"{where} changed shape to {tuple(p.shape)}")
            _require(bool(torch.isfinite(p.detach()).all()), f"{where} became non-finite")
            _require(not torch.equal(p.detach(), p0), f"{where} never moved in {steps} steps")


OPTIMIZER_CHECKS: dict[str, Check] = {
    "constructs from defaults": check_constructs,
    "constructs from spec syntax": check_spec_syntax,
    "reduces a quadratic's loss": check_reduces_loss,
    "follows param_groups lr": check_lr_changes,
    "state_dict round trip": check_state_dict,
    "zero/tiny/huge/no gradients": check_edge_gradients,
    "same seed, same trajectory": check_deterministic,
    "shapes and float32/float64": check_shapes_dtypes,
}


# ----------------------------------------------------------------------------------------------
# schedules
# ----------------------------------------------------------------------------------------------

def _multipliers(entry: Entry, total_steps: int) -> list[float]:
    multiplier = entry.create(total_steps)
    _require(callable(multiplier), f"factory returned {type(multiplier).__name__}, not a function of the step")
    return [multiplier(step) for step in range(total_steps)]


def _finite_non_negative(values: list[Any], total_steps: int) -> None:
    for step, value in enumerate(values):
        _require(isinstance(value, (int, float)) and not isinstance(value, bool),
                 f"multiplier at step {step} of {total_steps} is {type(value).__name__} {value!r}, not a number")
        _require(math.isfinite(value) and value >= 0,
                 f"multiplier at step {step} of {total_steps} is {value!r}, expected finite and >= 0")


def check_schedule_constructs(entry: Entry) -> None:
    _multipliers(entry, 10)
    text = f"{entry.name}[{','.join(f'{k}={format_value(v)}' for k, v in entry.defaults.items())}]"
    spec = parse_one(text if entry.defaults else entry.name)[0]
    entry.create(10, **spec.params)


def check_schedule_values(entry: Entry) -> None:
    for total in (10, 1000):
        _finite_non_negative(_multipliers(entry, total), total)


def check_schedule_deterministic(entry: Entry) -> None:
    first, second = _multipliers(entry, 200), _multipliers(entry, 200)
    _require(first == second, "two schedules built alike give different multipliers")
    multiplier = entry.create(200)
    forward = [multiplier(step) for step in range(200)]
    again = [multiplier(step) for step in (0, 50, 199, 50)]
    _require(again == [forward[0], forward[50], forward[199], forward[50]],
             "asking for the same step twice gives different multipliers (the schedule keeps hidden state)")


def check_schedule_one_step(entry: Entry) -> None:
    _finite_non_negative(_multipliers(entry, 1), 1)


SCHEDULE_CHECKS: dict[str, Check] = {
    "constructs from defaults and spec": check_schedule_constructs,
    "finite, non-negative multipliers": check_schedule_values,
    "pure and deterministic": check_schedule_deterministic,
    "works for total_steps=1": check_schedule_one_step,
}


# ----------------------------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------------------------

def _task(entry: Entry) -> Task:
    built = entry.create()
    _require(isinstance(built, Task), f"factory returned {type(built).__name__}, not an optbench Task")
    return built


def _index_sets(task: Task) -> Iterator[tuple[str, torch.Tensor]]:
    n = task.n_train
    g = torch.Generator().manual_seed(0)
    yield "the first example", torch.tensor([0])
    yield "the last example", torch.tensor([n - 1])
    yield "16 random examples", torch.randint(0, n, (min(16, n),), generator=g)
    if n <= 4096:
        yield "all examples, reversed", torch.arange(n - 1, -1, -1)


def check_task_constructs(entry: Entry) -> None:
    task = _task(entry)
    _require(isinstance(task.n_train, int) and task.n_train >= 1, f"n_train is {task.n_train!r}, expected int >= 1")


def check_task_init_model(entry: Entry) -> None:
    task = _task(entry)
    a, b = task.init_model(0), task.init_model(0)
    _require(isinstance(a, nn.Module), f"init_model returned {type(a).__name__}, not a torch.nn.Module")
    pa, pb = list(a.parameters()), list(b.parameters())
    _require(len(pa) > 0, "init_model's model has no parameters")
    _require(all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True)),
             "init_model(0) twice gives different parameters")


def check_task_loss(entry: Entry) -> None:
    task = _task(entry)
    model = task.init_model(0)
    for label, indices in _index_sets(task):
        model.zero_grad(set_to_none=True)
        loss = task.loss(model, task.train_batch(indices))
        _require(isinstance(loss, torch.Tensor) and loss.dim() == 0,
                 f"loss on {label} is {type(loss).__name__} {getattr(loss, 'shape', '')}, expected a scalar tensor")
        _require(bool(torch.isfinite(loss.detach())), f"loss on {label} is {float(loss.detach())}")
        _require(loss.requires_grad, f"loss on {label} has no graph (requires_grad is False)")
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        _require(len(grads) > 0, f"loss on {label} gives no parameter a gradient")
        _require(all(bool(torch.isfinite(g).all()) for g in grads), f"gradient on {label} is not finite")


def _finite_floats(values: Any, what: str) -> None:
    _require(isinstance(values, dict), f"{what} returned {type(values).__name__}, expected dict[str, float]")
    for name, value in values.items():
        _require(isinstance(name, str), f"{what} key {name!r} is not a string")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise CheckFailed(f"{what}[{name!r}] is {type(value).__name__}, not a number") from None
        _require(math.isfinite(number), f"{what}[{name!r}] is {number}")


def check_task_metrics(entry: Entry) -> None:
    task = _task(entry)
    model = task.init_model(0)
    _finite_floats(task.step_metrics(model), "step_metrics")
    model.eval()
    with torch.no_grad():
        _finite_floats(task.evaluate(model), "evaluate")


def check_task_critical_points(entry: Entry) -> None:
    task = _task(entry)
    if not task.is_2d:
        return  # nothing to check: not a 2-D surface
    points = task.critical_points()
    _require(len(points) > 0, "a 2-D task should declare its critical points")
    for point in points:
        x = torch.tensor(point.x, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(point.y, dtype=torch.float64, requires_grad=True)
        gx, gy = torch.autograd.grad(task.surface(x, y), (x, y), allow_unused=True)
        norm = math.hypot(float(gx) if gx is not None else 0.0, float(gy) if gy is not None else 0.0)
        _require(norm < 1e-4, f"the {point.kind} declared at ({point.x:g}, {point.y:g}) has gradient norm "
                              f"{norm:.3g}, expected ≈0")


def check_task_declarations(entry: Entry) -> None:
    """Every reported value is declared, as a metric (with a direction) or a trace (never ranked), once; the
    headline, the target and the checkpoint metric name declared metrics."""
    task = _task(entry)
    declared = task.declared_metrics()
    for metric in declared.values():
        _require(isinstance(metric, Metric), f"metrics holds {type(metric).__name__}, expected optbench.Metric")
    traces = {t.name for t in task.traces}
    both = sorted(traces & set(declared))
    _require(not both, f"declares {', '.join(both)} both as a metric and as a trace")
    model = task.init_model(0)
    model.eval()
    with torch.no_grad():
        reported = {**task.step_metrics(model), **task.evaluate(model)}
        if "final" in inspect.signature(task.evaluate).parameters:  # the intermediate evaluations' names too
            reported.update(task.evaluate(model, final=False))
    undeclared = sorted(set(reported) - set(declared) - traces)
    _require(not undeclared, f"reports values it does not declare: {', '.join(undeclared)} (add each to "
                             "Task.metrics with a direction, or to Task.traces if it is not a result)")
    _require(task.headline in declared, f"headline {task.headline!r} is not a declared metric "
                                         f"(declared: {', '.join(declared)})")
    target = task.target()
    if target is not None:
        _require(isinstance(target, Target), f"target() returned {type(target).__name__}, expected optbench.Target")
        _require(target.metric in declared, f"target metric {target.metric!r} is not declared")
    if task.checkpoint_metric is not None:
        _require(task.checkpoint_metric in declared,
                 f"checkpoint_metric {task.checkpoint_metric!r} is not a declared metric")
    _require(isinstance(task.divergence_factor, (int, float)) and task.divergence_factor > 0,
             f"divergence_factor is {task.divergence_factor!r}, expected a number > 0")
    _require(isinstance(task.loss_scale, (int, float)) and 0 <= task.loss_scale < math.inf,
             f"loss_scale is {task.loss_scale!r}, expected a finite number >= 0")


TASK_CHECKS: dict[str, Check] = {
    "constructs from defaults": check_task_constructs,
    "init_model deterministic per seed": check_task_init_model,
    "loss: finite scalar with gradient": check_task_loss,
    "step_metrics/evaluate finite floats": check_task_metrics,
    "2-D critical points have zero gradient": check_task_critical_points,
    "declares its metrics, headline and target": check_task_declarations,
}

CHECKS: dict[Kind, dict[str, Check]] = {"optimizer": OPTIMIZER_CHECKS, "schedule": SCHEDULE_CHECKS,
                                        "task": TASK_CHECKS}


def check_entry(entry: Entry) -> list[CheckResult]:
    """Run every check of the entry's kind; when it cannot be constructed, the rest are reported as not run."""
    checks = list(CHECKS[entry.kind].items())
    first = _run(entry, *checks[0])
    if not first.passed:
        return [first, *(CheckResult(entry.name, name, False, "not run: the entry cannot be constructed")
                         for name, _ in checks[1:])]
    return [first, *(_run(entry, name, check) for name, check in checks[1:])]


def plugin_entries(registry: Registry, target: str) -> list[Entry]:
    """Entries that the plugin ``target`` (a file or module loaded into ``registry``) registered."""
    origins = (f"file {target}", f"module {target}")
    return [e for kind in CHECKS for e in registry.list(kind) if e.source in origins]


def problem_results(registry: Registry, target: str) -> list[CheckResult]:
    """The plugin's load problems, as failed 'loads' checks."""
    return [CheckResult(problem.origin, "plugin loads", False, problem.problem)
            for problem in registry.problems if target in problem.origin]


def resolve_target(target: str, kind: Kind | None = None, plugins: tuple[str, ...] = ()
                   ) -> tuple[list[Entry], list[CheckResult]]:
    """What ``optbench check TARGET`` checks: a plugin file or module (all its entries), or a registry name.

    Returns the entries and the plugin's load problems as failed results. Unknown names raise
    :class:`UnknownNameError` with the closest registered name.
    """
    from optbench.registry import KINDS, load_registry

    kinds = (kind,) if kind else KINDS
    is_file = target.endswith(".py") or Path(target).is_file()
    if is_file:
        target = str(Path(target))
        # plugin_dir=None: a file inside ./plugins must not be imported twice (its names would clash)
        registry = load_registry(plugins=[*(p for p in plugins if p != target), target], plugin_dir=None)
        found = [e for e in plugin_entries(registry, target) if e.kind in kinds]
        return found, problem_results(registry, target)
    registry = load_registry(plugins=plugins)
    found, misses = [], []
    for k in kinds:
        try:
            found.append(registry.get(k, target))
        except UnknownNameError as exc:
            misses.append(exc)
    if found:
        return found, []
    if "." not in target or not target.startswith(catalogue.PREFIX):
        try:
            is_module = importlib.util.find_spec(target) is not None
        except (ImportError, ValueError):
            is_module = False
        if is_module:
            registry = load_registry(plugins=[*(p for p in plugins if p != target), target], plugin_dir=None)
            found = [e for e in plugin_entries(registry, target) if e.kind in kinds]
            return found, problem_results(registry, target)
    if kind is None:
        known = [e.name for k in KINDS for e in registry.list(k)]
        raise UnknownNameError("optimizer, schedule or task (or plugin file/module)", target, known)
    raise misses[0]


def results_table(results: list[CheckResult], title: str) -> Any:
    """A rich table: one row per check, pass/fail and the reason for each failure."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("entry", "check", "result", "reason", "s"):
        table.add_column(column, overflow="fold", justify="right" if column == "s" else "left",
                         no_wrap=column in ("result", "s"))
    for r in results:
        mark = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        table.add_row(r.entry, r.check, mark, r.reason, f"{r.seconds:.2f}")
    return table
