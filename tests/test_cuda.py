r"""CUDA correctness: the same weights, inputs and noise give the same numbers on a GPU.

Every test compares the CPU with another device, ``other``:

- ``other = "cuda"`` is the real check; it is skipped, with the reason "CUDA is not available",
  where torch sees no GPU;
- ``other = "cpu"`` runs everywhere, through exactly the same code (build on the CPU, copy to
  ``other``, draw the noise on the CPU, compare). It proves on CI that the comparisons are not
  dead code: the losses must then agree *exactly*, which also proves that every random draw of a
  training step went through the shared noise below (one that did not would differ between the
  two evaluations). ``test_the_comparison_sees_a_difference`` shows that the comparisons can fail.

**Shared noise.** A training step draws noise: the posterior sample
:math:`z = \mu + \sigma\epsilon`, DU-VAE's variance dropout (eq. 6), the text decoder's dropout,
SA-VAE's refinement noise and the IW-NLL's :math:`K` draws. CPU and CUDA generators give different
streams, so :func:`cpu_noise` routes every draw that is made without an explicit generator through
one seeded CPU generator and moves the result to the device it was asked for: both devices see
the same :math:`z` ("the same z drawn on the CPU and moved").

**Tolerances.** fp32 with TF32 switched off (:func:`strict_fp32`): loss within 1e-4 relative,
gradient within 1e-3 (relative L2 norm of the difference), IW-NLL within 1e-3 nats per example.
bf16 autocast: the loss is finite and within 2 % of the fp32 loss on the same device (the CPU's
bf16 moves a smoke-size loss by at most about 0.3 %).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math

import pytest
import torch
import torch.distributions.normal as normal_module
import torch.nn.functional as F

from duvae.metrics import iw_nll
from duvae.nets.fused_softmax import target_log_softmax
from duvae.objectives import training_loss
from duvae.bf16 import autocast
from duvae.runs.run_data import RunData
from duvae.sa_vae import RefinedPosteriorModel
from duvae.runs.trainer import fit, load_checkpoint, train_or_load
from duvae.runs.zoo import MODEL_NAMES, build_model, run_config

CUDA = torch.cuda.is_available()
NO_CUDA = "CUDA is not available (torch.cuda.is_available() is False): the GPU half of this comparison needs a GPU"

#: the device compared with the CPU: ``cpu`` always (proves the test code), ``cuda`` where there is a GPU
OTHER = [pytest.param("cpu", id="cpu"),
         pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not CUDA, reason=NO_CUDA))]

VOCAB = 200
KINDS = {"text": "yahoo", "image": "omniglot"}  # Table 1's data sets, at smoke sizes
LOSS_RTOL, GRAD_RTOL, BF16_RTOL, IW_ATOL = 1e-4, 1e-3, 2e-2, 1e-3


# ---------------------------------------------------------------------------------------------
# the comparison machinery
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def cpu_noise(seed: int):
    """Inside the block, every random draw made without an explicit generator comes from one CPU
    generator seeded with ``seed`` and is then moved to the device it was asked for.

    Covers ``torch.randn/rand/bernoulli`` (and the ``_like`` forms), ``F.dropout`` (``nn.Dropout``)
    and the standard-normal draw of ``torch.distributions.Normal.rsample``.
    """
    g = torch.Generator().manual_seed(seed)
    saved = {
        (torch, "randn"): torch.randn, (torch, "randn_like"): torch.randn_like,
        (torch, "rand"): torch.rand, (torch, "rand_like"): torch.rand_like,
        (torch, "bernoulli"): torch.bernoulli, (F, "dropout"): F.dropout,
        (normal_module, "_standard_normal"): normal_module._standard_normal,
    }
    randn, rand, bernoulli = torch.randn, torch.rand, torch.bernoulli

    def drawer(draw):
        def new(*size, generator=None, device=None, dtype=None, **kwargs):
            if generator is not None or kwargs:
                return draw(*size, generator=generator, device=device, dtype=dtype, **kwargs)
            out = draw(*size, generator=g, dtype=dtype or torch.get_default_dtype())
            return out.to(device) if device is not None else out
        return new

    def like(draw):
        def new(t, *, dtype=None, device=None, **kwargs):
            return draw(t.shape, dtype=dtype or t.dtype, device=device or t.device)
        return new

    def new_bernoulli(p, *args, generator=None, **kwargs):
        if generator is not None or args or kwargs:
            return bernoulli(p, *args, generator=generator, **kwargs)
        return bernoulli(p.detach().cpu(), generator=g).to(p.device)

    def new_dropout(x, p=0.5, training=True, inplace=False):
        if not training or p == 0.0:
            return x
        keep = bernoulli(torch.full(x.shape, 1.0 - p), generator=g).to(device=x.device, dtype=x.dtype)
        return x * keep / (1.0 - p)

    new_randn, new_rand = drawer(randn), drawer(rand)
    replacements = {
        (torch, "randn"): new_randn, (torch, "randn_like"): like(new_randn),
        (torch, "rand"): new_rand, (torch, "rand_like"): like(new_rand),
        (torch, "bernoulli"): new_bernoulli, (F, "dropout"): new_dropout,
        (normal_module, "_standard_normal"): lambda shape, dtype, device: new_randn(
            tuple(shape), dtype=dtype, device=device),
    }
    try:
        for (module, name), fn in replacements.items():
            setattr(module, name, fn)
        yield g
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)


def _set_tf32(allowed: bool) -> dict:
    """Allow or forbid TF32 in cuBLAS matmuls and cuDNN convolutions / RNNs; return what was set before."""
    cuda, cudnn = torch.backends.cuda, torch.backends.cudnn
    if hasattr(cuda.matmul, "fp32_precision"):  # torch >= 2.9
        value = "tf32" if allowed else "ieee"
        old = {"matmul": cuda.matmul.fp32_precision, "conv": cudnn.conv.fp32_precision,
               "rnn": cudnn.rnn.fp32_precision}
        cuda.matmul.fp32_precision = cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = value
        return old
    old = {"matmul": cuda.matmul.allow_tf32, "cudnn": cudnn.allow_tf32}
    cuda.matmul.allow_tf32 = cudnn.allow_tf32 = allowed
    return old


def _restore_tf32(old: dict) -> None:
    cuda, cudnn = torch.backends.cuda, torch.backends.cudnn
    if "rnn" in old:
        cuda.matmul.fp32_precision = old["matmul"]
        cudnn.conv.fp32_precision = old["conv"]
        cudnn.rnn.fp32_precision = old["rnn"]
    else:
        cuda.matmul.allow_tf32, cudnn.allow_tf32 = old["matmul"], old["cudnn"]


@pytest.fixture(autouse=True)
def strict_fp32():
    """fp32 means IEEE fp32 here: TF32 (10-bit mantissa, cuDNN's default) would miss 1e-4 by design."""
    old = _set_tf32(False)
    yield
    _restore_tf32(old)


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def smoke_cfg(name: str, kind: str, **train_changes):
    cfg = run_config(name, KINDS[kind], "smoke")
    return cfg.with_(train=dataclasses.replace(cfg.train, **train_changes)) if train_changes else cfg


def batch(kind: str, size: int = 8, seed: int = 0) -> torch.Tensor:
    """A text batch ``<s> w .. w </s>`` of 12 tokens, or binary 28x28 images."""
    g = torch.Generator().manual_seed(seed)
    if kind == "text":
        x = torch.randint(4, VOCAB, (size, 12), generator=g)
        x[:, 0], x[:, -1] = 1, 2
        return x
    return (torch.rand(size, 1, 28, 28, generator=g) < 0.2).float()


def cpu_model(name: str, kind: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = smoke_cfg(name, kind)
    return cfg, build_model(cfg, vocab_size=VOCAB if kind == "text" else None)


def step(model, cfg, x, device, precision="fp32", seed: int | None = 1):
    """The loss of one training step (KL weight 1: DU's floor and dropout on) and its gradient,
    on ``device``, with the shared CPU noise (``seed=None``: torch's own generators)."""
    model.train()
    model.zero_grad(set_to_none=True)
    with cpu_noise(seed) if seed is not None else contextlib.nullcontext(), autocast(precision, device):
        loss = training_loss(model, x.to(device), 1.0, cfg.model).loss
    loss.backward()
    grad = torch.cat([p.grad.detach().flatten().double().cpu() for p in model.parameters() if p.grad is not None])
    return float(loss.detach()), grad


# ---------------------------------------------------------------------------------------------
# 1. every model of the zoo: the training loss and its gradient
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("other", OTHER)
def test_same_loss_on_the_other_device(other, name, kind):
    cfg, model = cpu_model(name, kind)
    moved = copy.deepcopy(model).to(other)
    x = batch(kind)
    loss_cpu, grad_cpu = step(model, cfg, x, "cpu")
    loss_other, grad_other = step(moved, cfg, x, other)
    assert math.isfinite(loss_cpu)
    grad_gap = float((grad_cpu - grad_other).norm() / grad_cpu.norm().clamp_min(1e-30))
    if other == "cpu":  # same device, same noise: bit-identical, or a draw escaped cpu_noise
        assert loss_other == loss_cpu and grad_gap == 0.0
    assert rel_diff(loss_cpu, loss_other) <= LOSS_RTOL, (loss_cpu, loss_other)
    assert grad_gap <= GRAD_RTOL, grad_gap
    # bf16 autocast on the other device: finite, and close to that device's fp32 loss
    loss_bf16, _ = step(moved, cfg, x, other, precision="bf16")
    assert math.isfinite(loss_bf16)
    assert rel_diff(loss_bf16, loss_other) <= BF16_RTOL, (loss_bf16, loss_other)


@pytest.mark.parametrize("other", OTHER)
@pytest.mark.parametrize("compute", ["fp32", "bf16"])
def test_fused_text_likelihood_on_the_other_device(other, compute):
    """The block-by-block log-softmax (several row and vocabulary blocks), values and gradients."""
    g = torch.Generator().manual_seed(3)
    h = torch.randn(40, 32, generator=g)
    w = torch.randn(500, 32, generator=g) / 4
    y = torch.randint(0, 500, (40,), generator=g)
    y[::7] = 0  # ignored targets
    dtype = torch.float32 if compute == "fp32" else torch.bfloat16
    out = {}
    for label, device in (("cpu", "cpu"), ("other", other)):
        hd, wd = h.clone().to(device).requires_grad_(), w.clone().to(device).requires_grad_()
        # 1,000-byte blocks: 250 logits, so the 500-word vocabulary is cut in two
        ell = target_log_softmax(hd, wd, y.to(device), ignore_index=0, block_bytes=1000, compute_dtype=dtype)
        (ell * torch.linspace(0.5, 1.5, 40, device=device)).sum().backward()
        out[label] = (ell.detach().cpu(), hd.grad.cpu(), wd.grad.cpu())
    reference = -F.cross_entropy(h @ w.T, y, ignore_index=0, reduction="none")
    tol = 1e-4 if compute == "fp32" else 5e-2
    for a, b in zip(out["cpu"], out["other"]):
        assert torch.allclose(a, b, rtol=tol, atol=tol)
    assert torch.allclose(out["other"][0], reference, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------
# 2. IW-NLL with the same draws
# ---------------------------------------------------------------------------------------------


def _test_time_model(name, model, cfg):
    m = cfg.model
    return RefinedPosteriorModel(model, m.svi_steps, m.svi_lr, m.svi_momentum) if m.procedure == "sa" else model


#: one model per way of drawing z: plain Gaussian, BN + variance dropout, SVI-refined, IAF flow
IW_MODELS = ("vae", "du_vae", "sa_vae", "du_iaf")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name", IW_MODELS)
@pytest.mark.parametrize("other", OTHER)
def test_iw_nll_agrees_on_the_other_device(other, name, kind):
    cfg, model = cpu_model(name, kind)
    moved = copy.deepcopy(model).to(other)
    x = batch(kind, size=4, seed=5)
    nll = {}
    for device, m in (("cpu", model), ("other", moved)):
        with cpu_noise(11):  # a small work budget: several decoder calls (8 samples x 4 examples each)
            nll[device] = iw_nll(_test_time_model(name, m, cfg), x.to(m.prior_loc.device), n_samples=40,
                                 work_budget=8 * x[:4].numel()).double().cpu()
    assert torch.isfinite(nll["cpu"]).all()
    gap = float((nll["cpu"] - nll["other"]).abs().max())
    if other == "cpu":
        assert gap == 0.0
    assert gap <= IW_ATOL, (nll["cpu"], nll["other"])


# ---------------------------------------------------------------------------------------------
# 3. checkpoints across devices, and a run that names its GPU
# ---------------------------------------------------------------------------------------------


def tiny_data(kind: str, device, seed: int = 0) -> RunData:
    """A few fixed batches on ``device`` (no data files): text of one length, or binary images."""
    train = [batch(kind, 8, seed + i).to(device) for i in range(3)]
    valid = [batch(kind, 8, seed + 10 + i).to(device) for i in range(2)]
    return RunData(kind, lambda epoch: iter(train), lambda generator: train[0], len(train), valid, valid,
                   f"tiny {kind} batches on {device}", vocab_size=VOCAB if kind == "text" else None)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("route", [pytest.param(("cpu", "other"), id="cpu-to-other"),
                                   pytest.param(("other", "cpu"), id="other-to-cpu")])
@pytest.mark.parametrize("other", OTHER)
def test_a_checkpoint_resumes_on_the_other_device(other, route, kind, tmp_path):
    first, second = (other if d == "other" else d for d in route)
    cfg = smoke_cfg("du_vae", kind, epochs=2)
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=VOCAB if kind == "text" else None).to(first)
    history = fit(model, tiny_data(kind, first), cfg, tmp_path, progress=False, stop_after_epochs=1)
    assert len(history) == 1
    saved = load_checkpoint(tmp_path / "checkpoint.pt", map_location="cpu")

    torch.manual_seed(1)  # other initial weights: the resumed ones must come from the checkpoint
    resumed = build_model(cfg, vocab_size=VOCAB if kind == "text" else None).to(second)
    loaded = load_checkpoint(tmp_path / "checkpoint.pt", map_location=second)
    resumed.load_state_dict(loaded["model"])
    for key, value in resumed.state_dict().items():
        assert value.device.type == torch.device(second).type
        assert torch.equal(value.cpu(), saved["model"][key]), key
    history = fit(resumed, tiny_data(kind, second), cfg, tmp_path, progress=False)
    assert [r["epoch"] for r in history] == [0, 1]
    assert history[0] == saved["history"][0]  # the first epoch is the one written on the first device
    assert history[1]["step"] == 2 * 3 and math.isfinite(history[1]["loss"])
    assert all(p.device.type == torch.device(second).type for p in resumed.parameters())


@pytest.mark.parametrize("other", OTHER)
def test_a_finished_run_loads_on_the_cpu_and_names_its_device(other, tmp_path):
    from duvae.runs.results import make_record

    cfg = smoke_cfg("du_vae", "image", epochs=1, eval_iw_samples=4)
    run = train_or_load(cfg, runs_dir=tmp_path, device=other, data=tiny_data("image", other), progress=False)
    record = make_record(run, "table1", 1.0)
    assert record["machine"]["device"].startswith(other)
    if other == "cuda":
        assert record["machine"]["gpu"] == torch.cuda.get_device_name(0)
    else:
        assert "gpu" not in record["machine"]
    again = train_or_load(cfg, runs_dir=tmp_path, device="cpu", data=tiny_data("image", "cpu"), progress=False)
    assert again.metrics == run.metrics  # loaded, not re-trained
    assert next(again.model.parameters()).device.type == "cpu"
    for key, value in again.model.state_dict().items():
        assert torch.equal(value, run.model.state_dict()[key].cpu()), key


# ---------------------------------------------------------------------------------------------
# 4. the comparisons can fail
# ---------------------------------------------------------------------------------------------


def test_the_comparison_sees_a_difference():
    """Other weights, another input token, or noise that is not shared break the tolerances used above.

    (At initialisation the text decoder's logits are nearly uniform, so its loss moves little when
    its weights move: the gradient comparison is the sharper one.)
    """
    cfg, model = cpu_model("du_vae", "text")
    x = batch("text")
    loss, grad = step(model, cfg, x, "cpu")
    nudged = copy.deepcopy(model)
    with torch.no_grad():
        w = nudged.decoder.output.weight
        w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))
    loss_nudged, grad_nudged = step(nudged, cfg, x, "cpu")
    assert rel_diff(loss, loss_nudged) > LOSS_RTOL
    assert float((grad - grad_nudged).norm() / grad.norm()) > GRAD_RTOL
    x_other = x.clone()
    x_other[0, 1] = 5 if x[0, 1] != 5 else 6
    _, grad_x = step(model, cfg, x_other, "cpu")
    assert float((grad - grad_x).norm() / grad.norm()) > GRAD_RTOL
    # without cpu_noise two evaluations draw different z and dropout masks; with it, the same
    _, grad_a = step(model, cfg, x, "cpu", seed=None)
    _, grad_b = step(model, cfg, x, "cpu", seed=None)
    assert float((grad_a - grad_b).norm() / grad_a.norm()) > GRAD_RTOL
    assert torch.equal(step(model, cfg, x, "cpu", seed=4)[1], step(model, cfg, x, "cpu", seed=4)[1])


def test_cpu_noise_moves_draws_and_restores_torch():
    """The shared noise gives the same numbers whatever device a draw is asked on, and leaves torch as it was."""
    before = (torch.randn, torch.bernoulli, F.dropout, normal_module._standard_normal)
    with cpu_noise(0):
        a = torch.randn(3, 4, device="cpu")
    with cpu_noise(0):
        b = torch.randn((3, 4), device="meta")  # any device: drawn on the CPU, then moved
    assert b.device.type == "meta" and a.shape == b.shape
    with cpu_noise(0):
        c = torch.distributions.Normal(torch.zeros(3, 4), 1.0).rsample()
    assert torch.equal(a, c)
    assert (torch.randn, torch.bernoulli, F.dropout, normal_module._standard_normal) == before
