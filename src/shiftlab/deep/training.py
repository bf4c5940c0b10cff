"""The training core: inputs, domain-balanced batches, optimiser, schedule, early stopping.

One loop (:class:`Trainer`) serves every minibatch method. It draws *domain-balanced*
batches from two pools of rows,

* the **labelled** pool (source rows with their labels; target rows only for the
  target-only oracle), and
* the **unlabelled** pool (target rows; their labels are never in the pool),

forwards them together through the network, adds the supervised loss to the method's
adaptation loss (a callback) and takes one optimiser step. Runs are deterministic on
CPU for a fixed seed: initialisation, dropout and batch order all come from generators
seeded from ``random_state``, inside :func:`seeded` (which restores the caller's global
torch RNG state afterwards).

Early stopping uses a **label-free** criterion on a held-out part of the training rows:
the source validation loss (Musgrave et al., 2022, "source validation") or the mean
prediction entropy on held-out target rows. Target labels are never read.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from shiftlab.deep._torch import require_torch
from shiftlab.exceptions import DataValidationError

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = [
    "DatasetInputs",
    "embed_rows",
    "DomainBalancedSampler",
    "Pool",
    "Step",
    "TensorInputs",
    "Trainer",
    "TrainingConfig",
    "autocast_context",
    "resolve_device",
    "seeded",
]

EARLY_STOPPING_CRITERIA = ("source_loss", "target_entropy")
LR_SCHEDULES = ("constant", "cosine", "inverse")
OPTIMIZERS = ("adam", "adamw", "sgd")


# --------------------------------------------------------------------- device & RNG
def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available.")
    return dev


def amp_dtype(device: torch.device, mixed_precision) -> torch.dtype | None:
    """The autocast dtype to use, or None for full float32.

    ``"auto"`` enables mixed precision on CUDA only: bfloat16 where supported (it needs
    no loss scaling), float16 with a gradient scaler otherwise. ``True`` also forces
    bfloat16 autocast on CPU (rarely faster; mostly for testing the code path).
    ``"auto"`` on CPU trains in float32, which is what makes CPU runs bit-reproducible.
    """
    if mixed_precision not in ("auto", True, False):
        raise ValueError(f"mixed_precision must be 'auto', True or False, got {mixed_precision!r}.")
    if mixed_precision is False:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mixed_precision is True else None


def autocast_context(device: torch.device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch for the block and restore the caller's global RNG state afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


# ---------------------------------------------------------------------------- inputs
class TensorInputs:
    """Array inputs held as one float32 CPU tensor; batches are copied to the device."""

    def __init__(self, X: np.ndarray):
        self.data = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        self.sample_shape = tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return self.data.shape[0]

    def take(self, rows: np.ndarray, device: torch.device):
        return self.data[torch.as_tensor(rows, dtype=torch.long)].to(device, non_blocking=True)


def _first(item):
    return item[0] if isinstance(item, (tuple, list)) else item


class DatasetInputs:
    """Inputs read item by item from a ``torch.utils.data.Dataset``.

    ``dataset[i]`` may return the input or a tuple whose first element is the input
    (e.g. ``(x, label)``: the label is ignored; labels are given to ``fit`` as ``y``).
    Items are loaded lazily per batch, so image folders with transforms work.
    """

    def __init__(self, dataset):
        self.dataset = dataset
        first = torch.as_tensor(_first(dataset[0]))
        self.sample_shape = tuple(first.shape)

    def __len__(self) -> int:
        return len(self.dataset)

    def take(self, rows: np.ndarray, device: torch.device):
        items = [torch.as_tensor(_first(self.dataset[int(i)]), dtype=torch.float32) for i in rows]
        return torch.stack(items).to(device, non_blocking=True)


def is_torch_dataset(X) -> bool:
    return isinstance(X, torch.utils.data.Dataset)


# --------------------------------------------------------------------------- batches
@dataclass
class Pool:
    """Rows of the inputs that play one role (labelled or unlabelled) in training.

    Attributes
    ----------
    rows : ndarray of int
        Row indices into the inputs.
    domains : ndarray of int
        Domain id of each row (batches are balanced over these).
    y : torch.Tensor or None
        Training labels aligned with ``rows`` (None for the unlabelled pool).
    """

    rows: np.ndarray
    domains: np.ndarray
    y: object = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def subset(self, positions: np.ndarray) -> Pool:
        y = None if self.y is None else self.y[torch.as_tensor(positions, dtype=torch.long)]
        return Pool(self.rows[positions], self.domains[positions], y)


class DomainBalancedSampler:
    """Endless stream of per-domain-balanced position batches over one pool.

    Each batch holds ``batch_size`` positions, split as evenly as possible between the
    pool's domains; each domain is walked through in a fresh random order and reshuffled
    when exhausted, so small domains are cycled and large ones fully covered.
    """

    def __init__(self, domains: np.ndarray, batch_size: int, rng: np.random.Generator):
        self.rng = rng
        ids = np.unique(domains)
        self.members = [np.flatnonzero(domains == d) for d in ids]
        base, extra = divmod(int(batch_size), len(ids))
        self.counts = [base + (1 if i < extra else 0) for i in range(len(ids))]
        self.orders = [self.rng.permutation(m) for m in self.members]
        self.cursor = [0] * len(ids)

    def _draw(self, k: int, n: int) -> np.ndarray:
        out = []
        while n > 0:
            order = self.orders[k]
            take = order[self.cursor[k] : self.cursor[k] + n]
            out.append(take)
            self.cursor[k] += take.shape[0]
            n -= take.shape[0]
            if self.cursor[k] >= order.shape[0]:
                self.orders[k] = self.rng.permutation(self.members[k])
                self.cursor[k] = 0
        return np.concatenate(out)

    def next(self) -> np.ndarray:
        return np.concatenate([self._draw(k, n) for k, n in enumerate(self.counts) if n > 0])


@torch.no_grad()
def embed_rows(network, inputs, rows: np.ndarray, device, amp, batch_size: int = 512):
    """Eval-mode ``(features, outputs)`` of ``rows``, as float32 tensors on ``device``.

    The network's training mode is restored afterwards.
    """
    was = network.training
    network.eval()
    feats, outs = [], []
    for start in range(0, rows.shape[0], batch_size):
        x = inputs.take(rows[start : start + batch_size], device)
        with autocast_context(device, amp):
            f, o = network(x)
        feats.append(f.float())
        outs.append(o.float())
    network.train(was)
    return torch.cat(feats), torch.cat(outs)


# ---------------------------------------------------------------------------- config
@dataclass
class TrainingConfig:
    """Optimisation settings shared by every deep method (see the estimator docstring)."""

    n_epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    early_stopping: str | None = None
    validation_fraction: float = 0.1
    patience: int = 5
    label_smoothing: float = 0.0
    verbose: int = 0

    def validate(self) -> None:
        if int(self.n_epochs) < 1:
            raise ValueError(f"n_epochs must be >= 1, got {self.n_epochs}.")
        if int(self.batch_size) < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}."
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}.")
        if self.early_stopping is not None and self.early_stopping not in EARLY_STOPPING_CRITERIA:
            raise ValueError(
                f"early_stopping must be None or one of {EARLY_STOPPING_CRITERIA}, got "
                f"{self.early_stopping!r}. Both criteria are label-free on the target."
            )
        if not 0 < self.validation_fraction < 0.5:
            raise ValueError(
                f"validation_fraction must be in (0, 0.5), got {self.validation_fraction}."
            )
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}.")


def make_optimizer(params, cfg: TrainingConfig):
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("Nothing to train: no parameter requires a gradient.")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(schedule: str, progress: float) -> float:
    """Multiplier of the base learning rate at training progress ``p`` in [0, 1]."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "inverse":  # Ganin et al. (2016): lr / (1 + 10 p)^0.75
        return (1.0 + 10.0 * progress) ** -0.75
    return 1.0


# ------------------------------------------------------------------------- the loop
@dataclass
class Step:
    """What a method's adaptation loss sees at one training step.

    ``fs``/``logits_s``/``ys`` are the labelled part of the batch (None when the method
    trains without labelled rows), ``ft``/``logits_t`` the unlabelled part (None when
    it trains without them). ``pos_s``/``pos_t`` are the positions of the rows in the
    training pools (to look up per-row pseudo-labels), ``progress`` runs from 0 to 1
    over training and ``epoch`` counts from 0.
    """

    fs: object
    logits_s: object
    ys: object
    ft: object
    logits_t: object
    pos_s: np.ndarray | None
    pos_t: np.ndarray | None
    progress: float
    epoch: int


@dataclass
class TrainState:
    """Handed to epoch hooks: the network, the training pools and an embedding helper."""

    trainer: Trainer
    epoch: int

    @property
    def network(self):
        return self.trainer.network

    def embed(self, which: str):
        """Features and logits of every row of the ``"labelled"``/``"unlabelled"`` pool."""
        pool = self.trainer.train_pools[which]
        return self.trainer.embed(pool.rows)


@dataclass
class Trainer:
    """Minibatch training of ``network`` (+ ``modules``) on labelled/unlabelled pools.

    Parameters
    ----------
    network : DANetwork
        Returns ``(features, outputs)``.
    modules : dict of str to nn.Module
        Extra trainable modules (domain discriminators, auxiliary heads, ...).
    inputs : TensorInputs or DatasetInputs
    labelled, unlabelled : Pool or None
    config : TrainingConfig
    device : torch.device
    amp : torch.dtype or None
    adaptation_loss : callable ``(Step) -> (loss or None, dict of floats)``
        The method's loss, added to the supervised one.
    supervised_loss : callable ``(outputs, y) -> loss``
    use_labelled, use_unlabelled : bool
        Whether batches contain rows of each pool.
    on_epoch_start, on_train_end : callables taking a :class:`TrainState`, optional
    parameters : iterable of parameters, optional
        What the optimiser updates (default: every parameter of network and modules).
    rng : np.random.Generator
        Batch order (and the validation split).
    """

    network: nn.Module
    modules: dict
    inputs: object
    labelled: Pool | None
    unlabelled: Pool | None
    config: TrainingConfig
    device: object
    amp: object
    adaptation_loss: Callable
    supervised_loss: Callable
    use_labelled: bool = True
    use_unlabelled: bool = True
    on_epoch_start: Callable | None = None
    on_train_end: Callable | None = None
    parameters: object = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    history: list = field(default_factory=list)
    #: The pools actually trained on (after the validation hold-out), set by ``run``.
    train_pools: dict = field(default_factory=dict)

    # ----------------------------------------------------------------- helpers
    def _split(self, pool: Pool | None) -> tuple[Pool | None, Pool | None]:
        """Hold out ``validation_fraction`` of each domain of the pool (seeded)."""
        if pool is None or self.config.early_stopping is None:
            return pool, None
        val_pos = []
        for d in np.unique(pool.domains):
            members = np.flatnonzero(pool.domains == d)
            n_val = int(round(self.config.validation_fraction * members.shape[0]))
            if n_val >= 1 and members.shape[0] - n_val >= 2:
                val_pos.append(self.rng.choice(members, size=n_val, replace=False))
        if not val_pos:
            return pool, None
        val = np.sort(np.concatenate(val_pos))
        train = np.setdiff1d(np.arange(len(pool)), val)
        return pool.subset(train), pool.subset(val)

    def forward(self, x):
        with autocast_context(self.device, self.amp):
            f, out = self.network(x)
        return f.float(), out.float()

    def embed(self, rows: np.ndarray):
        """Eval-mode features and outputs of ``rows`` (training mode is restored)."""
        return embed_rows(self.network, self.inputs, rows, self.device, self.amp)

    def _criterion(self, val: dict) -> float | None:
        crit = self.config.early_stopping
        if crit == "source_loss" and val.get("labelled") is not None:
            pool = val["labelled"]
            _, out = self.embed(pool.rows)
            return float(self.supervised_loss(out, pool.y.to(self.device)))
        if crit == "target_entropy" and val.get("unlabelled") is not None:
            _, out = self.embed(val["unlabelled"].rows)
            p = torch.softmax(out, dim=1)
            return float(-(p * torch.log(p.clamp_min(1e-8))).sum(1).mean())
        return None

    def _snapshot(self):
        state = {"network": copy.deepcopy(self.network.state_dict())}
        for name, m in self.modules.items():
            state[name] = copy.deepcopy(m.state_dict())
        return state

    def _restore(self, state) -> None:
        self.network.load_state_dict(state["network"])
        for name, m in self.modules.items():
            m.load_state_dict(state[name])

    # --------------------------------------------------------------------- run
    def run(self) -> dict:
        """Train; return ``{"best_epoch", "stopped_epoch", "n_steps"}``."""
        cfg = self.config
        lab_train, lab_val = self._split(self.labelled if self.use_labelled else None)
        unl_train, unl_val = self._split(self.unlabelled if self.use_unlabelled else None)
        if cfg.early_stopping == "source_loss" and lab_val is None:
            raise ValueError(
                "early_stopping='source_loss' needs labelled source rows to hold out; use "
                "'target_entropy' for a method that trains on target data only."
            )
        if cfg.early_stopping == "target_entropy" and unl_val is None:
            # Methods that do not train on target (source-only) still have target rows:
            # hold some out for monitoring only.
            _, unl_val = self._split(self.unlabelled)
            if unl_val is None:
                raise ValueError("early_stopping='target_entropy' needs unlabelled target rows.")
        self.train_pools = {"labelled": lab_train, "unlabelled": unl_train}
        val = {"labelled": lab_val, "unlabelled": unl_val}

        samplers = {}
        if lab_train is not None:
            samplers["labelled"] = DomainBalancedSampler(
                lab_train.domains, cfg.batch_size, self.rng
            )
        if unl_train is not None:
            samplers["unlabelled"] = DomainBalancedSampler(
                unl_train.domains, cfg.batch_size, self.rng
            )
        if not samplers:
            raise ValueError("No training rows: both pools are empty or unused.")
        largest = max(len(p) for p in (lab_train, unl_train) if p is not None)
        steps_per_epoch = max(1, math.ceil(largest / cfg.batch_size))
        total = steps_per_epoch * int(cfg.n_epochs)

        params = self.parameters
        if params is None:
            params = list(self.network.parameters())
            for m in self.modules.values():
                params += list(m.parameters())
        optimizer = make_optimizer(params, cfg)
        base_lrs = [g["lr"] for g in optimizer.param_groups]
        scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None

        best, best_epoch, bad_epochs, step = math.inf, int(cfg.n_epochs) - 1, 0, 0
        best_state = None
        epoch = 0
        for epoch in range(int(cfg.n_epochs)):
            if self.on_epoch_start is not None:
                self.on_epoch_start(TrainState(self, epoch))
            self.network.train()
            for m in self.modules.values():
                m.train()
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            for _ in range(steps_per_epoch):
                progress = step / max(total - 1, 1)
                factor = lr_factor(cfg.lr_schedule, progress)
                for g, lr0 in zip(optimizer.param_groups, base_lrs, strict=True):
                    g["lr"] = lr0 * factor
                logs = self._step(
                    samplers, lab_train, unl_train, progress, epoch, optimizer, scaler
                )
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                step += 1
            record = {k: v / steps_per_epoch for k, v in sums.items()}
            record.update(epoch=epoch, lr=base_lrs[0] * factor, seconds=time.perf_counter() - t0)
            crit = self._criterion(val) if cfg.early_stopping is not None else None
            if crit is not None:
                record["criterion"] = crit
            self.history.append(record)
            if cfg.verbose:
                shown = ", ".join(
                    f"{k}={v:.4g}" for k, v in record.items() if k not in ("epoch", "seconds")
                )
                print(f"epoch {epoch + 1}/{cfg.n_epochs}: {shown}")
            if crit is not None:
                if not np.isfinite(crit):
                    bad_epochs += 1
                elif crit < best - 1e-6:
                    best, best_epoch, bad_epochs = crit, epoch, 0
                    best_state = self._snapshot()
                else:
                    bad_epochs += 1
                if bad_epochs >= int(cfg.patience):
                    break
        if best_state is not None:
            self._restore(best_state)
        else:
            best_epoch = epoch
        if self.on_train_end is not None:
            self.on_train_end(TrainState(self, epoch))
        return {"best_epoch": best_epoch, "stopped_epoch": epoch, "n_steps": step}

    def _step(self, samplers, lab, unl, progress, epoch, optimizer, scaler) -> dict:
        xs_parts, pos_s, pos_t, ys = [], None, None, None
        if "labelled" in samplers:
            pos_s = samplers["labelled"].next()
            xs_parts.append(self.inputs.take(lab.rows[pos_s], self.device))
            ys = lab.y[torch.as_tensor(pos_s, dtype=torch.long)].to(self.device)
        if "unlabelled" in samplers:
            pos_t = samplers["unlabelled"].next()
            xs_parts.append(self.inputs.take(unl.rows[pos_t], self.device))
        # One forward pass over source and target together: BatchNorm sees both domains.
        f, out = self.forward(torch.cat(xs_parts) if len(xs_parts) > 1 else xs_parts[0])
        ns = 0 if pos_s is None else pos_s.shape[0]
        step = Step(
            fs=f[:ns] if ns else None,
            logits_s=out[:ns] if ns else None,
            ys=ys,
            ft=f[ns:] if pos_t is not None else None,
            logits_t=out[ns:] if pos_t is not None else None,
            pos_s=pos_s,
            pos_t=pos_t,
            progress=progress,
            epoch=epoch,
        )
        loss = None
        logs: dict[str, float] = {}
        if ns:
            sup = self.supervised_loss(step.logits_s, ys)
            loss = sup
            logs["sup_loss"] = float(sup.detach())
        da, extra = self.adaptation_loss(step)
        if da is not None:
            loss = da if loss is None else loss + da
            logs["da_loss"] = float(da.detach())
        logs.update(extra)
        if loss is None:
            raise ValueError("The method produced no loss for this batch.")
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"Training diverged at epoch {epoch + 1} (loss={float(loss)}); lower lr or reg."
            )
        logs["loss"] = float(loss.detach())
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return logs


def check_pool_sizes(labelled: Pool | None, unlabelled: Pool | None) -> None:
    if labelled is not None and len(labelled) < 2:
        raise DataValidationError("At least two labelled rows are needed to train.")
    if unlabelled is not None and len(unlabelled) < 2:
        raise DataValidationError(
            "At least two target rows are needed to adapt (batches of one sample break "
            "BatchNorm and every batch statistic)."
        )
