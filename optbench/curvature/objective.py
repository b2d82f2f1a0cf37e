"""The loss as a function of one flat parameter vector: loss, gradient and Hessian-vector products.

This module owns :class:`Objective`, a task's mean training loss over a fixed set of examples as a
function of θ ∈ ℝᵈ, and the counting of what it computed. Everything curvature measures is built on it.

Hessian-vector products (``hvp_method``):

- ``"reuse-graph"``: the gradient graph is built once (``create_graph=True``) and every product is one
  ``torch.autograd.grad(g, θ, v, retain_graph=True)``, which is what PyHessian does; only possible when the
  examples fit in one chunk (the graph of every chunk held at once would make memory unbounded);
- ``"forward-over-reverse"``: ``jvp`` of ``grad`` per chunk (recomputes the forward and gradient each time,
  bounded memory, batches under ``vmap`` for the exact Hessian);
- ``"double-backward"``: ``torch.autograd.grad`` twice per chunk (for ops without forward-mode AD);
- ``"auto"`` (default): reuse-graph for one chunk, else forward-over-reverse.

The loss is always evaluated with the model in eval mode (dropout off, batch-norm on running statistics),
because curvature of a random function is not defined; the model's mode is restored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, grad_and_value, jvp, vmap

from optbench.errors import OptbenchError, SpecError
from optbench.tasks.base import Task

HVP_METHODS = ("auto", "reuse-graph", "forward-over-reverse", "double-backward")


class _LossModule(nn.Module):
    """Wraps (task, model) so that ``functional_call`` can swap the model's parameters for any task.loss.

    Tasks may read parameters directly (the toy surfaces use ``model.theta``) instead of calling the
    model, so swapping has to cover the whole ``task.loss`` call, not just ``model.forward``.
    """

    def __init__(self, task: Task, model: nn.Module):
        super().__init__()
        self.model = model
        self._task = task

    def forward(self, batch: Any) -> torch.Tensor:
        return self._task.loss(self.model, batch)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode for the block, its previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def example_indices(task: Task, examples: int | None = None, seed: int = 0,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Indices of the examples a diagnosis uses: all of them, or a seeded random subset of ``examples``."""
    n = task.n_train
    if examples is None or examples >= n:
        return torch.arange(n, device=device)
    if examples < 1:
        raise SpecError(f"examples must be >= 1, got {examples}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:examples].sort().values.to(device)


def _resolve_method(hvp_method: str, chunks: int) -> str:
    if hvp_method not in HVP_METHODS:
        raise SpecError(f"hvp_method must be one of {', '.join(HVP_METHODS)}, got {hvp_method!r}")
    if hvp_method == "auto":
        return "reuse-graph" if chunks == 1 else "forward-over-reverse"
    if hvp_method == "reuse-graph" and chunks > 1:
        raise SpecError(f"hvp_method 'reuse-graph' needs the examples in one chunk, got {chunks} chunks "
                        "(raise chunk_size or use 'auto')")
    return hvp_method


class Objective:
    """A task's mean loss over fixed examples, as a function of a flat parameter vector θ.

    ``indices`` (default: every training example) are split into chunks of ``chunk_size`` examples; the
    loss, gradient and HVP are the example-weighted sums of the chunk results, so memory stays bounded
    for big tasks. ``groups`` maps each trainable parameter tensor's name to its slice of θ.
    """

    def __init__(self, task: Task, model: nn.Module, indices: torch.Tensor | None = None,
                 chunk_size: int = 4096, hvp_method: str = "auto"):
        if chunk_size < 1:
            raise SpecError(f"chunk_size must be >= 1, got {chunk_size}")
        self.task, self.model = task, model
        self.module = _LossModule(task, model)
        trainable = [(name, p) for name, p in self.module.named_parameters() if p.requires_grad]
        if not trainable:
            raise OptbenchError(f"task {type(task).__name__}: the model has no trainable parameters")
        self.names = [name for name, _ in trainable]
        self.shapes = [p.shape for _, p in trainable]
        self.numels = [p.numel() for _, p in trainable]
        self.fixed = {name: p.detach() for name, p in self.module.named_parameters() if not p.requires_grad}
        self.fixed.update(dict(self.module.named_buffers()))
        self.theta = torch.cat([p.detach().reshape(-1) for _, p in trainable]).clone()
        self.dim = self.theta.numel()
        indices = torch.arange(task.n_train) if indices is None else indices
        indices = indices.to(self.theta.device)
        if indices.numel() == 0:
            raise SpecError("a diagnosis needs at least one example")
        self.n_examples = int(indices.numel())
        self.chunks = [(chunk, chunk.numel() / self.n_examples) for chunk in indices.split(chunk_size)]
        self.hvp_method = _resolve_method(hvp_method, len(self.chunks))
        self.counts = {"loss": 0, "gradient": 0, "hvp": 0}
        self._graph: tuple[list[torch.Tensor], tuple[torch.Tensor, ...], float] | None = None

    @property
    def groups(self) -> dict[str, slice]:
        """Each trainable parameter tensor's slice of θ, by its name in the model (``0.weight``, ``theta``)."""
        out, start = {}, 0
        for name, numel in zip(self.names, self.numels, strict=True):
            out[name.removeprefix("model.")] = slice(start, start + numel)
            start += numel
        return out

    # functional pieces ------------------------------------------------------------------------
    def _params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = theta.split(self.numels)
        return {name: piece.view(shape) for name, piece, shape in zip(self.names, pieces, self.shapes, strict=True)}

    def _chunk_loss(self, theta: torch.Tensor, batch: Any) -> torch.Tensor:
        return functional_call(self.module, {**self._params(theta), **self.fixed}, (batch,))

    def _batches(self) -> Iterator[tuple[Any, float]]:
        # built per call (not cached) so a big task never holds a second copy of its training set
        for chunk, weight in self.chunks:
            yield self.task.train_batch(chunk), weight

    def _gradient_graph(self) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...], float]:
        """(one leaf per parameter tensor, ∇f at θ per tensor with its graph, f(θ)), built once.

        Leaves per tensor (not views of one flat θ) keep split and cat out of the double-backward graph,
        so each product costs what PyHessian's does.
        """
        if self._graph is None:
            leaves = [piece.detach().clone().requires_grad_(True) for piece in self._params(self.theta).values()]
            params = dict(zip(self.names, leaves, strict=True))
            with torch.enable_grad(), eval_mode(self.model):
                batch = self.task.train_batch(self.chunks[0][0])
                loss = functional_call(self.module, {**params, **self.fixed}, (batch,))
                gradient = torch.autograd.grad(loss, leaves, create_graph=True)
            self._graph = (leaves, gradient, float(loss.detach()))
        return self._graph

    # public evaluations ----------------------------------------------------------------------
    def loss(self, theta: torch.Tensor | None = None) -> float:
        theta = self.theta if theta is None else theta
        self.counts["loss"] += 1
        with torch.no_grad(), eval_mode(self.model):
            return float(sum(weight * self._chunk_loss(theta, batch) for batch, weight in self._batches()))

    def loss_and_gradient(self, theta: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
        self.counts["gradient"] += 1
        if theta is None and self.hvp_method == "reuse-graph":  # the HVP graph gives both for free
            _, gradient, value = self._gradient_graph()
            return value, torch.cat([g.detach().reshape(-1) for g in gradient])
        theta = self.theta if theta is None else theta
        total_loss, total_grad = 0.0, torch.zeros_like(theta)
        with eval_mode(self.model):
            for batch, weight in self._batches():
                g, value = grad_and_value(self._chunk_loss)(theta, batch)
                total_loss += weight * float(value)
                total_grad += weight * g
        return total_loss, total_grad

    def chunk_gradients(self) -> torch.Tensor:
        """The gradient of each chunk's own mean loss, stacked (chunks, d): for gradient-noise estimates."""
        self.counts["gradient"] += len(self.chunks)
        with eval_mode(self.model):
            return torch.stack([grad(self._chunk_loss)(self.theta, self.task.train_batch(chunk))
                                for chunk, _ in self.chunks])

    def _hvp_chunk(self, v: torch.Tensor, batch: Any, method: str) -> torch.Tensor:
        if method == "forward-over-reverse":
            return jvp(lambda t: grad(self._chunk_loss)(t, batch), (self.theta,), (v,))[1]
        theta = self.theta.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self._chunk_loss(theta, batch), theta, create_graph=True)
            (hv,) = torch.autograd.grad(g, theta, v)
        return hv

    def _hvp(self, v: torch.Tensor) -> torch.Tensor:
        if self.hvp_method == "reuse-graph":
            leaves, gradient, _ = self._gradient_graph()
            pieces = [piece.view_as(g) for piece, g in zip(v.split(self.numels), gradient, strict=True)]
            products = torch.autograd.grad(gradient, leaves, pieces, retain_graph=True)
            return torch.cat([hv.reshape(-1) for hv in products])
        total = torch.zeros_like(self.theta)
        with eval_mode(self.model):
            for batch, weight in self._batches():
                total += weight * self._hvp_chunk(v, batch, self.hvp_method)
        return total

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """H v at θ (``v`` in any float dtype; the result has ``v``'s dtype)."""
        self.counts["hvp"] += 1
        return self._hvp(v.to(self.theta.dtype)).to(v.dtype)

    def hvp_many(self, vectors: torch.Tensor, chunk: int = 32) -> torch.Tensor:
        """H vᵢ for the rows of ``vectors`` (k, d): ``chunk`` at a time under vmap for forward-over-reverse."""
        rows = vectors.to(self.theta.dtype)
        if self.hvp_method != "forward-over-reverse":  # autograd products do not compose with vmap
            self.counts["hvp"] += vectors.shape[0]
            return torch.stack([self._hvp(v) for v in rows]).to(vectors.dtype)
        return self._vmapped_hvps(rows, chunk).to(vectors.dtype)

    def _vmapped_hvps(self, rows: torch.Tensor, chunk: int) -> torch.Tensor:
        self.counts["hvp"] += rows.shape[0]
        total = torch.zeros_like(rows)
        with eval_mode(self.model):
            for batch, weight in self._batches():
                product = vmap(lambda v, b=batch: self._hvp_chunk(v, b, "forward-over-reverse"), chunk_size=chunk)
                total += weight * product(rows)
        return total

    def hessian(self, chunk: int = 32) -> torch.Tensor:
        """The full d×d Hessian in float64, symmetrised (d HVPs); only sensible for small models.

        Built column by column with batched (vmapped) forward-over-reverse products, whatever
        ``hvp_method`` says, except for double-backward (whose ops may lack forward-mode AD).
        """
        eye = torch.eye(self.dim, dtype=self.theta.dtype, device=self.theta.device)
        if self.hvp_method == "double-backward":
            h = self.hvp_many(eye, chunk).double()
        else:
            h = self._vmapped_hvps(eye, chunk).double()
        return 0.5 * (h + h.T)
