r"""Training: one loop for every model, resumable, with the paper's schedules (docs/implementation.md §3.1, §3.2).

Per optimiser step (docs/implementation.md §1.1, step 8; §3.1; §3.2):

1. the KL weight :math:`\beta_t` rises linearly from ``kl_start`` to 1 over ``warm_up`` epochs
   (:func:`duvae.objectives.kl_weight_at`, exactly 1.0 afterwards);
2. the loss of the model's objective (:func:`duvae.objectives.training_loss`) on the batch;
   Agg-VAE first runs its encoder-only inner loop (:func:`aggressive_encoder_updates`); on CUDA
   with ``TrainConfig.precision = "bf16"`` the matrix products run in bfloat16 (CPU and CUDA;
   :mod:`duvae.bf16`), the KL, log-softmax and optimiser in float32;
3. back-propagation, clipping of the global gradient L2 norm at ``clip_grad``, and a step of the
   two optimisers (encoder + head, decoder), SGD for text and Adam for images.

Per epoch: validation metrics (loss, rec, KL, MI, AU, MPD, CE) appended to ``history.csv``; the
best-validation weights kept in ``best.pt``; the learning-rate rule (halve after ``decay_patience``
non-improving epochs, reload the best weights, fresh optimisers; text compares with the previous
epoch and waits until ``decay_min_epoch``, images compare with the best so far); then a
checkpoint ``checkpoint.pt`` with everything a resume needs (weights, optimisers, schedule state,
RNG states), written atomically (temporary file + rename) and read with ``weights_only=True``.
The test metrics are those of the best-validation weights, as in the reference. The validation
loss that selects them and drives the lr rule is the ELBO, :math:`\text{rec} + \text{KL}` with KL
weight 1 (docs/implementation.md §3.1), for every model but the AE (:func:`selection_loss`). Three switches of
:class:`~duvae.runs.config.TrainConfig` name alternatives a re-implementation could take (the Yahoo NLL-gap study,
:mod:`duvae.experiments.gap`), each off by default: ``anneal_offset=0`` (the first step uses
``kl_start``), ``decay_reload=False`` (a decay only halves the lr) and ``test_weights="last"``.

A run lives in ``runs/<run_id>/`` (``run_id`` hashes the full config). :func:`train_or_load`
returns the trained model and its test metrics, training only if the run is not finished yet, and
resuming from the last checkpoint if it was interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from duvae.runs.config import RunConfig
from duvae.runs.device import pick_device, seed_everything
from duvae.metrics import evaluate
from duvae.objectives import kl_weight_at, training_loss
from duvae.bf16 import autocast as precision_autocast
from duvae.runs.run_data import RunData, load_run_data
from duvae.vae import VAE

HISTORY_FIELDS = ("epoch", "step", "kl_weight", "lr", "train_loss", "train_rec", "train_kl",
                  "loss", "rec", "kl", "mi", "au", "mpd", "ce", "seconds", "aggressive")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


def default_runs_dir() -> Path:
    """``$DUVAE_RUNS_DIR``, else ``runs/`` at the repository root."""
    env = os.environ.get("DUVAE_RUNS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "runs"


@dataclass
class TrainState:
    """Schedule state saved with every checkpoint (all plain numbers)."""

    epoch: int = 0  # the next epoch to run
    step: int = 0  # optimiser steps taken
    kl_weight: float = 0.0
    lr: float = 1.0
    n_decays: int = 0
    decay_count: int = 0  # non-improving epochs since the last improvement / decay
    ref_loss: float = 1e4  # text rule: the previous epoch's validation loss
    best_loss: float = math.inf
    best_epoch: int = -1
    aggressive: bool = False  # Agg-VAE: still in the aggressive phase
    agg_ref_mi: float = -math.inf  # Agg-VAE: previous (text) / best (image) validation MI
    agg_fails: int = 0
    done: bool = False


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename (never a torn file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class DamagedRunError(RuntimeError):
    """A file of a run directory cannot be read (truncated, or not written by this module)."""


class RunLockedError(RuntimeError):
    """Another process holds the run directory's lock (it is training that run now)."""


def load_checkpoint(path: Path, map_location=None) -> dict:
    """Read a checkpoint written by this module (plain tensors and numbers: ``weights_only=True``).

    A file that torch cannot read (truncated, foreign, or holding objects ``weights_only`` refuses)
    raises :class:`DamagedRunError`, which names the file and the way out, instead of torch's
    message (which suggests ``weights_only=False``: never do that with a file you did not write).
    """
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DamagedRunError(
            f"damaged run file {path}: {reason[:200]}. The run directory {path.parent} cannot be resumed; "
            f"delete it (rm -r {path.parent}) or re-run the sweep with --restart {path.parent.name}"
        ) from err


@contextlib.contextmanager
def run_lock(run_dir: Path, wait: bool = False):
    """Hold an exclusive lock on ``run_dir/.lock`` for the block (``fcntl.flock``; released on exit or crash).

    ``wait=False`` refuses at once with :class:`RunLockedError` if another process holds it;
    ``wait=True`` blocks until it is free.
    """
    import fcntl
    import socket

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / ".lock"
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise RunLockedError(
                f"run {run_dir.name} is being trained by {holder} (lock {path}); wait for it to finish "
                "(train_or_load(..., wait=True)) or stop that process"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # closing the file releases the lock


def _rng_states() -> dict:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    # RNG states are CPU byte tensors; a checkpoint read with map_location="cuda" moved them to the GPU
    torch.set_rng_state(states["torch"].cpu())
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])


# ---------------------------------------------------------------------------------------------
# model and optimisers
# ---------------------------------------------------------------------------------------------


def make_optimizers(model: VAE, cfg: RunConfig, lr: float) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Two optimisers as in the reference: encoder + posterior head, and decoder.

    SGD for text, Adam for images (docs/implementation.md §3.1, §3.2).
    """
    enc_params = list(model.encoder.parameters()) + list(model.head.parameters())
    dec_params = list(model.decoder.parameters())
    if cfg.train.optimizer == "sgd":
        return torch.optim.SGD(enc_params, lr=lr, momentum=0.0), torch.optim.SGD(dec_params, lr=lr, momentum=0.0)
    return torch.optim.Adam(enc_params, lr=lr), torch.optim.Adam(dec_params, lr=lr)


def _set_lr(optimizers, lr: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


def _check_finite(value: torch.Tensor, epoch: int, step: int, run_dir: Path | None) -> None:
    if not torch.isfinite(value).all():
        where = f" (last good checkpoint kept in {run_dir})" if run_dir is not None else ""
        raise NonFiniteLossError(f"non-finite training loss {value.item()} at epoch {epoch}, step {step}{where}")


def inner_loss_value(loss: torch.Tensor, x: torch.Tensor, kind: str) -> float:
    """What Agg-VAE's stopping rule compares: the loss per word on text (He et al.), per image otherwise.

    Its random batches have different lengths, so a per-sentence loss would compare lengths; the
    loss is divided by the targets per sentence (words + ``</s>``).
    """
    value = float(loss.detach())
    return value / (x.shape[1] - 1) if kind == "text" else value


def aggressive_encoder_updates(model: VAE, data: RunData, cfg: RunConfig, kl_weight: float,
                               enc_opt: torch.optim.Optimizer, generator: torch.Generator) -> int:
    """Agg-VAE's inner loop (He et al. 2019; docs/implementation.md §5.4): encoder-only steps on fresh batches.

    Up to ``agg_max_inner`` steps; every ``window`` steps (15 text, 10 images) the mean loss of the
    last window (per word on text, :func:`inner_loss_value`) is compared with the previous window's,
    and the loop stops when it did not decrease.
    Returns the number of inner steps taken.
    """
    window = 15 if data.kind == "text" else 10
    losses: list[float] = []
    previous = math.inf
    params = [p for g in enc_opt.param_groups for p in g["params"]]
    for inner in range(1, cfg.model.agg_max_inner + 1):
        x = data.sample_train_batch(generator)
        with precision_autocast(cfg.train.precision, x.device):
            terms = training_loss(model, x, kl_weight, cfg.model)
        enc_opt.zero_grad(set_to_none=True)
        model.decoder.zero_grad(set_to_none=True)
        terms.loss.backward()
        nn.utils.clip_grad_norm_(params, cfg.train.clip_grad)
        enc_opt.step()
        losses.append(inner_loss_value(terms.loss, x, data.kind))
        if inner % window == 0:
            current = sum(losses[-window:]) / window
            if current > previous:
                break
            previous = current
    model.decoder.zero_grad(set_to_none=True)
    return inner


def _leave_aggressive_phase(state: TrainState, mi: float, kind: str) -> bool:
    """He et al.'s exit rule: text leaves when validation MI drops; images after 5 non-best epochs."""
    if kind == "text":
        leave = mi < state.agg_ref_mi
        state.agg_ref_mi = mi
        return leave
    if mi > state.agg_ref_mi:
        state.agg_ref_mi = mi
    else:
        state.agg_fails += 1
    return state.agg_fails >= 5


def _aggressive_epochs_spent(epoch: int, cfg: RunConfig) -> bool:
    """The ``cpu`` profile's cap on the aggressive phase: epochs ``0 .. agg_max_epochs - 1`` at most."""
    cap = cfg.model.agg_max_epochs
    return cap is not None and epoch + 1 >= cap


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------


def selection_loss(row: dict, cfg: RunConfig) -> float:
    r"""The validation loss that picks the best weights and drives the lr rule, from a validation row.

    :math:`\text{rec} + \text{KL}` (``row["loss"]``, KL weight 1, the reference's) unless
    ``cfg.model.select_on == "rec"``: the AE trains with :math:`\beta = 0`, so nothing holds its KL
    and the ELBO grows with it; selected on the ELBO, a short-Yelp AE at ``cpu`` kept its epoch 0
    (reconstruction 51.5 nats against 39.7 at epoch 8).
    """
    return float(row["rec"]) if cfg.model.select_on == "rec" else float(row["loss"])


def _apply_lr_rule(state: TrainState, val_loss: float, epoch: int, cfg: RunConfig) -> bool:
    """Update the decay counters (docs/implementation.md §3.1, §3.2); True = halve the lr now."""
    t = cfg.train
    if t.decay_reference == "running":  # text: compare with the previous epoch
        if val_loss > state.ref_loss:
            state.decay_count += 1
            if state.decay_count >= t.decay_patience and epoch >= t.decay_min_epoch:
                state.decay_count = 0
                state.ref_loss = val_loss
                return True
        else:
            state.decay_count = 0
            state.ref_loss = val_loss
        return False
    # images: compare with the best so far (state.best_loss is updated by the caller first)
    if val_loss > state.best_loss:
        state.decay_count += 1
    else:
        state.decay_count = 0
    if state.decay_count >= t.decay_patience and epoch >= t.decay_min_epoch:
        state.decay_count = 0
        return True
    return False


def fit(
    model: VAE,
    data: RunData,
    cfg: RunConfig,
    run_dir: Path | None = None,
    *,
    progress: bool = True,
    stop_after_epochs: int | None = None,
) -> list[dict]:
    """Train ``model`` on ``data`` under ``cfg`` (resuming from ``run_dir/checkpoint.pt`` if there).

    ``stop_after_epochs`` ends this call after that many epochs (the checkpoint lets a later call
    go on: used to test that interrupted and resumed training equals uninterrupted training).
    Returns the history rows (one dict per epoch).
    """
    from tqdm.auto import tqdm

    t = cfg.train
    device = next(model.parameters()).device
    state = TrainState(kl_weight=t.kl_start, lr=t.lr, aggressive=cfg.model.procedure == "aggressive")
    enc_opt, dec_opt = make_optimizers(model, cfg, t.lr)
    history: list[dict] = []
    ckpt_path = best_path = hist_path = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt_path, best_path, hist_path = run_dir / "checkpoint.pt", run_dir / "best.pt", run_dir / "history.csv"
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=str))
        if ckpt_path.exists():
            ckpt = load_checkpoint(ckpt_path, map_location=device)
            model.load_state_dict(ckpt["model"])
            enc_opt.load_state_dict(ckpt["enc_opt"])
            dec_opt.load_state_dict(ckpt["dec_opt"])
            state = TrainState(**ckpt["state"])
            _set_rng_states(ckpt["rng"])
            history = [dict(r) for r in ckpt["history"]]

    params = list(model.parameters())
    # fp32 (default) or bf16 matrix products (no loss scaling needed for bfloat16)
    autocast = lambda: precision_autocast(t.precision, device)  # noqa: E731
    agg_generator = torch.Generator().manual_seed(t.seed + 17)
    steps_per_epoch = min(data.n_train_batches, t.steps_per_epoch or data.n_train_batches)
    # KL annealing's epoch length: the reference's nominal N_train / batch_size, or the usable batches
    if t.anneal_steps == "nominal" and data.n_train and not t.steps_per_epoch:
        anneal_epoch = data.n_train / t.batch_size
    else:
        anneal_epoch = steps_per_epoch
    epochs_this_call = 0
    while not state.done and state.epoch < t.epochs:
        epoch, start = state.epoch, time.perf_counter()
        if state.aggressive:
            agg_generator.manual_seed(t.seed + 17 + epoch)
        model.train()
        sums = {"loss": 0.0, "rec": 0.0, "kl": 0.0}
        n_steps = 0
        bar = tqdm(total=steps_per_epoch, desc=f"{cfg.model.name} epoch {epoch}", disable=not progress, leave=False)
        for x in data.train_batches(epoch):
            if n_steps >= steps_per_epoch:
                break
            # the reference increments the weight before the step (anneal_offset 1); 0 starts at kl_start
            state.kl_weight = kl_weight_at(state.step + t.anneal_offset, anneal_epoch, t.kl_start, t.warm_up)
            if state.aggressive:
                aggressive_encoder_updates(model, data, cfg, state.kl_weight, enc_opt, agg_generator)
            with autocast():
                terms = training_loss(model, x, state.kl_weight, cfg.model)
            _check_finite(terms.loss.detach(), epoch, state.step, run_dir)
            enc_opt.zero_grad(set_to_none=True)
            dec_opt.zero_grad(set_to_none=True)
            terms.loss.backward()
            nn.utils.clip_grad_norm_(params, t.clip_grad)
            if not state.aggressive:
                enc_opt.step()
            dec_opt.step()
            state.step += 1
            n_steps += 1
            sums["loss"] += float(terms.loss.detach())
            sums["rec"] += float(terms.rec.detach().mean())
            sums["kl"] += float(terms.kl.detach().mean())
            bar.update(1)
            bar.set_postfix(loss=f"{float(terms.loss.detach()):.2f}", kl=f"{float(terms.kl.detach().mean()):.2f}",
                            beta=f"{state.kl_weight:.2f}")
        bar.close()

        val = evaluate(model, data.valid, precision=t.precision)
        row = {
            "epoch": epoch, "step": state.step, "kl_weight": state.kl_weight, "lr": state.lr,
            "train_loss": sums["loss"] / max(n_steps, 1), "train_rec": sums["rec"] / max(n_steps, 1),
            "train_kl": sums["kl"] / max(n_steps, 1),
            **{k: float(val[k]) for k in ("loss", "rec", "kl", "mi", "au", "mpd", "ce")},
            "seconds": time.perf_counter() - start, "aggressive": state.aggressive,
        }
        history.append(row)
        if progress:
            print(f"[{cfg.model.name}] epoch {epoch}: val loss {row['loss']:.3f} rec {row['rec']:.3f} "
                  f"kl {row['kl']:.3f} mi {row['mi']:.3f} au {int(row['au'])} ({row['seconds']:.1f} s)", flush=True)

        if state.aggressive and (_leave_aggressive_phase(state, float(val["mi"]), data.kind)
                                 or _aggressive_epochs_spent(epoch, cfg)):
            state.aggressive = False
        val_loss = selection_loss(val, cfg)
        improved = val_loss < state.best_loss
        decay = _apply_lr_rule(state, val_loss, epoch, cfg)
        if improved:
            state.best_loss, state.best_epoch = val_loss, epoch
            if best_path is not None:
                atomic_save({"model": model.state_dict(), "epoch": epoch}, best_path)
        if decay:
            state.n_decays += 1
            state.lr *= 0.5
            if t.decay_reload and best_path is not None and best_path.exists():
                model.load_state_dict(load_checkpoint(best_path, map_location=device)["model"])
            enc_opt, dec_opt = make_optimizers(model, cfg, state.lr)
            if state.n_decays >= t.max_decays:
                state.done = True
        state.epoch += 1
        if ckpt_path is not None:
            atomic_save({"model": model.state_dict(), "enc_opt": enc_opt.state_dict(),
                         "dec_opt": dec_opt.state_dict(), "state": asdict(state), "rng": _rng_states(),
                         "history": history}, ckpt_path)
            _write_history(history, hist_path)
        epochs_this_call += 1
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
            break
    return history


def _write_history(history: list[dict], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def test_metrics(model: VAE, data: RunData, cfg: RunConfig) -> dict:
    """Table 1 metrics on the test set: IW-NLL (``eval_iw_samples``), KL, MI, AU, MPD, CE (+ PPL).

    An SA-VAE is evaluated with its SVI-refined posterior (Kim et al.; He et al. report it so):
    every metric goes through :class:`duvae.sa_vae.RefinedPosteriorModel`. (Its validation
    metrics during training use the encoder's own posterior, which is cheaper.)
    """
    n_tokens = data.n_tokens if data.kind == "text" else None
    if n_tokens is not None and not cfg.net.dec_predict_eos:  # </s> not predicted: words only
        n_tokens = lambda batch: data.n_tokens(batch) - batch.shape[0]  # noqa: E731
    m = cfg.model
    if m.procedure == "sa":
        from duvae.sa_vae import RefinedPosteriorModel

        model = RefinedPosteriorModel(model, m.svi_steps, m.svi_lr, m.svi_momentum)
    return evaluate(model, data.test, n_iw=cfg.train.eval_iw_samples, work_budget=cfg.train.eval_work_budget,
                    n_tokens_fn=n_tokens, precision=cfg.train.precision)


@dataclass
class TrainedRun:
    """What :func:`train_or_load` returns."""

    config: RunConfig
    model: VAE
    data: RunData
    metrics: dict  # test metrics
    history: list[dict]
    run_dir: Path


def train_or_load(
    cfg: RunConfig,
    *,
    runs_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    mirror=None,
    cache_dir=None,
    data: RunData | None = None,
    progress: bool = True,
    wait: bool = False,
) -> TrainedRun:
    """Train the run ``cfg`` (or resume it), or load it when it has already finished.

    Everything is validated before any work starts. The run directory is
    ``runs_dir/<cfg.run_id()>``; ``final.pt`` (best weights) and ``metrics.json`` (test metrics)
    mark a finished run. The run directory is locked while this call works on it: a second process
    asking for the same run is refused with :class:`RunLockedError` (``wait=False``) or waits for the
    first one and then loads its result (``wait=True``). Files that cannot be read raise
    :class:`DamagedRunError`.
    """
    from duvae.runs.zoo import build_model

    cfg.validate()
    device = pick_device(device)
    run_dir = Path(runs_dir or default_runs_dir()) / cfg.run_id()
    data = data or load_run_data(cfg, mirror=mirror, cache_dir=cache_dir, device=device)
    seed_everything(cfg.train.seed)
    model = build_model(cfg, vocab_size=data.vocab_size).to(device)
    with run_lock(run_dir, wait=wait):
        return _train_or_load_locked(cfg, model, data, run_dir, device, progress)


def _train_or_load_locked(cfg: RunConfig, model: VAE, data: RunData, run_dir: Path, device, progress: bool):
    final, metrics_path = run_dir / "final.pt", run_dir / "metrics.json"
    if final.exists() and metrics_path.exists():
        model.load_state_dict(load_checkpoint(final, map_location=device)["model"])
        model.eval()
        ckpt = run_dir / "checkpoint.pt"  # map_location: a run trained on a GPU also loads where there is none
        history = load_checkpoint(ckpt, map_location="cpu")["history"] if ckpt.exists() else []
        return TrainedRun(cfg, model, data, json.loads(metrics_path.read_text()), history, run_dir)

    start = time.perf_counter()
    history = fit(model, data, cfg, run_dir, progress=progress)
    fit_seconds = time.perf_counter() - start
    best = run_dir / "best.pt"
    if cfg.train.test_weights == "best" and best.exists():  # "last": the weights training ended with
        model.load_state_dict(load_checkpoint(best, map_location=device)["model"])
    model.eval()
    metrics = test_metrics(model, data, cfg)
    metrics = {k: (float(v) if isinstance(v, (int, float)) or torch.is_tensor(v) else v) for k, v in metrics.items()}
    metrics["best_epoch"] = min(range(len(history)), key=lambda i: selection_loss(history[i], cfg)) if history else -1
    metrics["epochs"] = len(history)
    if cfg.train.test_weights != "best":
        metrics["tested_weights"] = cfg.train.test_weights
    metrics["data"] = data.describe()
    metrics["threads"] = torch.get_num_threads()  # of the process that trained (results name it)
    metrics["test_seconds"] = time.perf_counter() - start - fit_seconds
    metrics["wall_seconds"] = time.perf_counter() - start  # this call: training (or its resumed part) + test
    atomic_save({"model": model.state_dict()}, final)
    tmp = metrics_path.with_name(".metrics.json.tmp")
    tmp.write_text(json.dumps(metrics, indent=1))
    os.replace(tmp, metrics_path)
    return TrainedRun(cfg, model, data, metrics, history, run_dir)
