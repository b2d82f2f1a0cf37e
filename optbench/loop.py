"""The training loop of one trial: seeding, batches, the clock, records, evaluation, divergence, weights.

- seeding: the model is initialised from the trial seed and the batch order comes from a generator
  seeded with it, so the same config and seed give the same numbers on CPU;
- clock: only the training step (batch assembly, forward, backward, optimizer and schedule) is timed;
  bookkeeping and evaluation are outside the clock (on GPU the device is synchronised before reading it);
- evaluation: at the start, every ``eval_every`` steps (else once per epoch) and at the end;
- per-step records: kept as device tensors and read back once per chunk (:mod:`optbench.steplog`), so a
  tiny step pays no ``.item()`` per value;
- divergence: :class:`optbench.divergence.DivergenceMonitor` decides, fed every step's loss in order when a
  chunk is read back; a diverged trial is cut back to its diverged step (records, counters and clock: at
  most one chunk was computed past it) and recorded ``diverged`` with its step and reason; an exception
  marks it ``failed``; neither stops the study;
- at the end of a finished trial: the loss on a fixed training subset (for an honest generalization
  gap), the final weights, and the optional curvature diagnosis.

:func:`run_trial` is the one entry point; :class:`TrainingLoop` keeps each stage a short method.
"""

from __future__ import annotations

import inspect
import math
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from optbench.divergence import DivergenceMonitor
from optbench.plan import TaskCache, total_steps
from optbench.registry import Registry
from optbench.steplog import EPOCH_END, ROWS, STEP, StepLog
from optbench.summary import summary_row
from optbench.tasks.base import Task
from optbench.threads import choose_threads, machine_load
from optbench.trial import Options, TrialConfig, TrialResult

SUBSET_EXAMPLES = 4096  # training examples in the fixed subset evaluated at the end
SUBSET_CHUNK = 1024


def _grad_norm(params: Sequence[torch.Tensor]) -> torch.Tensor | float:
    """The global gradient norm, left on the device (read back with the chunk)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _cpu_state(model: torch.nn.Module) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class TrainingLoop:
    """One trial's training, stage by stage; :meth:`run` never raises for a diverging or crashing trial."""

    def __init__(self, config: TrialConfig, registry: Registry, options: Options, task_cache: TaskCache):
        self.config, self.registry, self.options, self.cache = config, registry, options, task_cache
        self.device = torch.device(options.device)
        self.rows: list[tuple[int, float, int, float, str, float]] = []
        self.status, self.error, self.diverged_step = "completed", None, None
        self.step, self.examples, self.clock, self.eval_clock = 0, 0, 0.0, 0.0
        self.steps_per_epoch, self.last_eval, self.last_eval_final = 1, 0, False
        self.epoch_losses: list[float] = []
        self.log, self.step_losses = StepLog(), []  # entries not yet read back; this epoch's read-back losses
        self.complete_step = 0  # the last step whose values were all logged (a crash may leave one partial)
        self.best_checkpoint_value: float | None = None
        self.best_state: dict[str, Any] | None = None
        #: (step, value, state) of each new best since the last read-back, the one before it first: a
        #: divergence found at read-back falls back to the last one taken at or before the diverged step
        self.bests: list[tuple[int, float | None, dict[str, Any] | None]] = [(0, None, None)]
        self.final_state: dict[str, Any] | None = None
        self.diagnosis: dict[str, Any] | None = None
        self.facts: dict[str, Any] = {"load_avg_start": machine_load()}
        self.task: Task | None = None
        self.monitor = DivergenceMonitor()

    # bookkeeping ------------------------------------------------------------------------------
    def here(self) -> tuple[int, float, int, float]:
        return self.step, self.step / self.steps_per_epoch, self.examples, self.clock

    def record(self, name: str, value: Any) -> None:
        """Log one value (a number or a 0-d tensor) at the current step; it reaches ``rows`` when read back."""
        self.log.add(self.here(), ROWS, [(name, value)])

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    # stages -----------------------------------------------------------------------------------
    def setup(self) -> None:
        config = self.config
        self.task = task = self.cache.get(config.task, config.task_params, self.options.device)
        self.monitor = DivergenceMonitor(task.divergence_factor, task.loss_scale)
        self.n = task.n_train
        self.batch_size = self.n if config.batch_size == "full" else min(int(config.batch_size), self.n)
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self.total_steps = total_steps(config.budget, self.steps_per_epoch)
        torch.manual_seed(config.seed)  # for models or tasks that draw from the global generator
        self.model = task.init_model(config.seed).to(self.device)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self._set_threads(sum(p.numel() for p in self.params) * self.batch_size)
        self.optimizer = self.registry.get("optimizer", config.optimizer).create(
            self.params, **config.optimizer_params)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.multiplier = self.registry.get("schedule", config.schedule).create(
            self.total_steps, **config.schedule_params)
        self.order = torch.Generator().manual_seed(config.seed)
        self.progress_every = max(1, min(self.total_steps, 10**6) // 200)
        self.full_batch = task.train_batch(torch.arange(self.n, device=self.device)) \
            if self.batch_size == self.n else None  # fixed data: gather the full batch once
        self.facts["batch_size_value"] = self.batch_size
        self.eval_takes_final = "final" in inspect.signature(task.evaluate).parameters

    def _set_threads(self, step_size: int) -> None:
        choice = choose_threads(self.options.threads, step_size, self.options.workers)
        self.facts["threads_before"] = torch.get_num_threads()
        if choice.threads != torch.get_num_threads():
            torch.set_num_threads(choice.threads)
        self.facts["threads"], self.facts["threads_reason"] = choice.threads, choice.reason

    def evaluate(self, final: bool = False) -> None:
        started = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            results = self.task.evaluate(self.model, final=final) if self.eval_takes_final \
                else self.task.evaluate(self.model)
        self.model.train()
        for name, value in results.items():
            self.record(name, float(value))
        self._keep_best(results)
        self.last_eval, self.last_eval_final = self.step, final or not self.eval_takes_final
        self.eval_clock += time.perf_counter() - started

    def _keep_best(self, results: dict[str, float]) -> None:
        name = self.task.checkpoint_metric
        if not self.options.save_checkpoints or name not in results:
            return
        metric, value = self.task.declared_metrics()[name], float(results[name])
        if self.best_checkpoint_value is None or metric.better(value, self.best_checkpoint_value):
            self.best_checkpoint_value, self.best_state = value, _cpu_state(self.model)
            self.bests.append((self.step, value, self.best_state))

    def train_step(self, indices: torch.Tensor | None) -> torch.Tensor:
        """One timed update; returns the minibatch loss (at the parameters before the update), on the device."""
        started = time.perf_counter()
        batch = self.full_batch if indices is None else self.task.train_batch(indices)
        factor = self.multiplier(self.step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.task.loss(self.model, batch)
        loss.backward()
        self.optimizer.step()
        self.sync()
        self.clock += time.perf_counter() - started
        return loss.detach()

    def after_step(self, loss: torch.Tensor, batch_examples: int) -> None:
        self.step += 1
        self.examples += batch_examples
        values: list[tuple[str, Any]] = [("train_loss", loss), ("lr", self.optimizer.param_groups[0]["lr"])]
        self.log.add(self.here(), STEP, values)
        values.append(("grad_norm", _grad_norm(self.params)))  # logged first: a raising task keeps the rest
        values.extend(self.task.step_metrics(self.model).items())
        self.complete_step = self.step
        if self.options.on_step is not None and self.step % self.progress_every == 0:
            self.options.on_step(self.step, self.total_steps)
        noise = self.options.noise_scale
        if noise is not None and self.step % noise.every == 0:
            for name, value in noise.measure(self.task, self.model, self.batch_size, self.config.seed,
                                             self.step).items():
                self.record(name, value)
        if self.config.eval_every and self.step - self.last_eval >= self.config.eval_every \
                and not self.out_of_budget():  # the last evaluation is finish()'s, on the full data
            self.evaluate()
        if self.log.due(self.clock):
            self.read_back()

    def read_back(self) -> None:
        """Move the logged entries into ``rows``, feeding each step's loss to the monitor in order. At a
        diverged step, stop there: what was logged after it is dropped (at most one chunk) and the counters
        and clock are set back to it, as if the monitor had stopped the trial at that step."""
        for at, kind, values in self.log.drain(self.clock):
            if kind == EPOCH_END:
                self.end_epoch(at)
                continue
            self.rows.extend((*at, name, value) for name, value in values)
            if kind == STEP:
                self.step_losses.append(values[0][1])  # train_loss is logged first
                if at[0] <= self.complete_step and self.monitor.update(at[0], values[0][1]) is not None:
                    self.stop_diverged(at)
                    return
        self.bests = self.bests[-1:]

    def stop_diverged(self, at: tuple[int, float, int, float]) -> None:
        self.status, self.diverged_step = "diverged", at[0]
        self.step, _, self.examples, self.clock = at
        self.end_epoch(at)  # the diverged epoch's mean loss, as a stopped epoch records it
        while self.bests[-1][0] > at[0]:  # an evaluation past the diverged step does not count
            self.bests.pop()
        _, self.best_checkpoint_value, self.best_state = self.bests[-1]

    def end_epoch(self, at: tuple[int, float, int, float]) -> None:
        """Record the mean of the finite losses of the epoch that ended at ``at``."""
        finite = [v for v in self.step_losses if math.isfinite(v)]
        self.step_losses = []
        if finite:
            self.epoch_losses.append(sum(finite) / len(finite))
            self.rows.append((*at, "epoch_train_loss", self.epoch_losses[-1]))

    def out_of_budget(self) -> bool:
        seconds = self.config.budget.seconds
        return self.step >= self.total_steps or (seconds is not None and self.clock >= seconds)

    def epoch(self) -> None:
        """One pass over the training set (or what is left of the budget)."""
        if self.full_batch is None:
            permutation = torch.randperm(self.n, generator=self.order).to(self.device)
        for start in range(0, self.n, self.batch_size):
            indices = None if self.full_batch is not None else permutation[start:start + self.batch_size]
            self.after_step(self.train_step(indices), min(self.batch_size, self.n - start))
            if self.status != "completed" or self.out_of_budget():
                break
        if self.status == "completed":  # else the diverged epoch has ended at its diverged step
            self.log.add(self.here(), EPOCH_END, [])
        if self.status == "completed" and not self.config.eval_every and self.last_eval != self.step \
                and not self.out_of_budget():
            self.evaluate()  # once per epoch by default

    def subset_train_loss(self) -> float:
        """Mean loss on a fixed training subset with the model in evaluation mode (no dropout, BN frozen)."""
        count = min(self.n, SUBSET_EXAMPLES)
        indices = torch.randperm(self.n, generator=torch.Generator().manual_seed(0))[:count].to(self.device)
        self.model.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, count, SUBSET_CHUNK):
                chunk = indices[start:start + SUBSET_CHUNK]
                total += float(self.task.loss(self.model, self.task.train_batch(chunk))) * len(chunk)
        self.model.train()
        return total / count

    def finish(self) -> None:
        """End-of-trial work for a trial that trained to its budget: outside the clock."""
        if self.monitor.at_end() is not None:
            self.status, self.diverged_step = "diverged", self.step
            return
        if self.last_eval != self.step or not self.last_eval_final:
            self.evaluate(final=True)
        self.record("subset_train_loss", self.subset_train_loss())
        if self.options.save_checkpoints:
            self.final_state = _cpu_state(self.model)
        if self.options.diagnose is not None:
            from optbench.curvature import end_of_trial

            self.diagnosis = end_of_trial(self.options.diagnose, self.task, self.model, self.config.seed,
                                          self.record)

    def _fail_after_read_back(self, exc: Exception) -> None:
        try:
            self.read_back()  # a step computed before the crash may have diverged: then that is the verdict
        except Exception:  # noqa: BLE001 - reading back failed too: the original error is the one to report
            pass
        if self.status != "diverged":
            self.fail(exc)

    def fail(self, exc: Exception) -> None:
        self.status = "failed"
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        self.error = f"{type(exc).__name__}: {exc}{where}"

    # the whole trial --------------------------------------------------------------------------
    def run(self) -> TrialResult:
        started = time.perf_counter()
        try:
            self.setup()
            for name, value in self.task.step_metrics(self.model).items():
                self.record(name, value)
            self.evaluate()
            while self.status == "completed" and not self.out_of_budget():
                self.epoch()
            self.read_back()  # every step's loss has been seen by the monitor before the trial is judged
            if self.status == "completed":
                self.finish()
                self.read_back()
        except Exception as exc:  # a crashing optimizer or task must not stop the study
            self._fail_after_read_back(exc)
        finally:
            if "threads_before" in self.facts:
                torch.set_num_threads(self.facts["threads_before"])
        self.facts["wall_time"] = time.perf_counter() - started
        return self.result()

    def result(self) -> TrialResult:
        metrics = pd.DataFrame(self.rows, columns=["step", "epoch", "examples", "time", "metric", "value"])
        metrics.insert(0, "trial_id", self.config.trial_id)
        row = summary_row(self, metrics)
        return TrialResult(row, metrics, self.best_state, self.final_state, self.diagnosis)


def run_trial(config: TrialConfig, registry: Registry, options: Options | None = None,
              task_cache: TaskCache | None = None) -> TrialResult:
    """Train one trial and summarise it. Never raises for a diverging or crashing trial."""
    return TrainingLoop(config, registry, options or Options(), task_cache or TaskCache(registry)).run()
