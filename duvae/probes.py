r"""Linear probes: what a frozen code knows (paper section 4.2, "Classification"; Tables 2 and 3).

The paper measures the usefulness of a code by a one-layer linear classifier trained on the
features of a frozen model (docs/implementation.md §4.6, §4.7):

.. math::
    p(y = c \mid x) = \mathrm{softmax}_c\big(W^\top u(x) + b\big), \qquad
    u(x) = \begin{cases} \mu(x) & \text{classic VAEs (the BN output for BN heads)} \\
                         [\mu^0(x), z^T(x)] & \text{IAF models (paper)}\end{cases}

where :math:`z^T = f_T \circ \dots \circ f_1(\mu^0)` is the flow applied to the mean with zero
noise (the official text code uses :math:`z^T` alone: ``iaf="zT"``).

**Many problems, one computation.** Table 2 trains one probe per label count and label draw,
Table 3 one per alphabet and shot count (150). Every problem here is a *group* :math:`g` of one
batched computation: the weights are :math:`W \in \mathbb{R}^{G \times d \times C}`, a batch is
:math:`[G, B, d]`, and the logits are one ``bmm``. Problems of different sizes share the
step loop through padding (index ``-1``): a group whose epoch has run out of examples, or whose
batch holds fewer than 2 examples (the reference skips those), is *inactive* at that step and its
parameters and optimiser state do not move. Problems with fewer classes than :math:`C` have the
missing classes' logits set to :math:`-\infty`.

Two protocols:

- **Table 2** (docs/implementation.md §4.6): SGD lr 1, gradient-norm clip 5 (per problem), batch 16, the batch
  *mean* cross-entropy, up to 100 epochs; after each epoch the validation loss; the best
  classifier is kept; after 2 non-improving epochs the lr is halved and the best weights are
  reloaded; training stops after 5 halvings. Test accuracy of the best classifier.
- **Table 3** (docs/implementation.md §4.7): Adam lr 1e-3, batch 50, the batch *sum* of cross-entropies, 300 epochs,
  no model selection (the final epoch).

Both use PyTorch's ``nn.Linear`` initialisation :math:`U(-1/\sqrt d, 1/\sqrt d)` from a seeded
generator, and a fresh permutation of each problem's examples per epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

#: Table 2 protocol (docs/implementation.md §4.6)
SGD_PROTOCOL = dict(optimizer="sgd", lr=1.0, clip=5.0, batch_size=16, epochs=100, reduction="mean",
                    patience=2, max_decays=5)
#: Table 3 protocol (docs/implementation.md §4.7)
ADAM_PROTOCOL = dict(optimizer="adam", lr=1e-3, clip=None, batch_size=50, epochs=300, reduction="sum",
                     patience=None, max_decays=None)
MIN_BATCH = 2  # batches with fewer examples are skipped (both reference scripts)


# ----------------------------------------------------------------------------------------------
# features of a frozen model
# ----------------------------------------------------------------------------------------------
def check_trained(model: torch.nn.Module, what: str = "the model") -> None:
    """Refuse a model whose batch-norm layers have never seen a batch (a model that was never trained).

    Every image model (its ResNet) and every BN head has such layers; a text model without BN cannot be
    told from its weights: use :func:`check_run` on a finished run instead.
    """
    for name, module in model.named_modules():
        tracked = getattr(module, "num_batches_tracked", None)
        if tracked is not None and int(tracked) == 0:
            raise ValueError(f"{what} was never trained: its batch-norm layer {name!r} has seen no batch; "
                             "probe a finished run (duvae.runs.trainer.train_or_load), not a freshly built model")


def check_run(run) -> None:
    """Refuse a :class:`~duvae.runs.trainer.TrainedRun` that has not finished training."""
    if not run.metrics or not (run.run_dir / "final.pt").is_file():
        raise ValueError(f"run {run.config.run_id()} has not finished training (no final.pt / metrics in "
                         f"{run.run_dir}); train it with duvae.runs.trainer.train_or_load first")
    check_trained(run.model, f"run {run.config.run_id()}")


def posterior_features(q, iaf: str = "concat") -> torch.Tensor:
    r"""The probe features ``[batch, d]`` of a posterior ``q`` (module docstring).

    Classic posteriors: :math:`\mu` (``d = nz``). IAF posteriors: ``iaf="concat"``
    :math:`[\mu^0, z^T]` (``d = 2 nz``, the paper) or ``iaf="zT"`` :math:`z^T` (``d = nz``, the
    official text code).
    """
    if iaf not in ("concat", "zT"):
        raise ValueError(f"iaf must be 'concat' or 'zT', got {iaf!r}")
    if hasattr(q, "concat_features"):  # an IAF posterior
        return q.concat_features() if iaf == "concat" else q.mean_features()
    return q.mu


@torch.no_grad()
def encode_batches(model, batches, iaf: str = "concat") -> torch.Tensor:
    """Features of every batch of ``batches`` (an iterable of model inputs), concatenated, in eval
    mode and float32 (the model's train/eval mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    try:
        out = [posterior_features(model.posterior(x), iaf).float().cpu() for x in batches]
    finally:
        model.train(was_training)
    if not out:
        raise ValueError("no examples to encode")
    return check_features(torch.cat(out), "features")


def text_features(model, dataset, batch_size: int = 128, iaf: str = "concat", device=None) -> torch.Tensor:
    """Features ``[len(dataset), d]`` of a :class:`~duvae.data.text.TextDataset`, in dataset order
    (computed in same-length batches, then put back in place)."""
    device = device or next(model.parameters()).device
    index = dataset.batch_indices(batch_size)  # sorted by length, no shuffling
    feats = encode_batches(model, (dataset.gather(i).to(device) for i in index), iaf)
    out = torch.empty_like(feats)
    out[torch.cat(index)] = feats
    return out


def image_features(model, images: torch.Tensor, batch_size: int = 500, iaf: str = "concat", device=None
                   ) -> torch.Tensor:
    """Features ``[N, d]`` of binary images ``[N, 1, 28, 28]``."""
    device = device or next(model.parameters()).device
    return encode_batches(model, (b.to(device) for b in images.split(batch_size)), iaf)


def check_features(x: torch.Tensor, name: str = "features") -> torch.Tensor:
    """Refuse features that are not a finite ``[N, d]`` float matrix."""
    if not torch.is_tensor(x) or x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor [N, d], got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        rows = bad.any(1).nonzero().squeeze(1)
        raise ValueError(f"{name} hold {int(bad.sum())} NaN/Inf values in {len(rows)} of {len(x)} rows "
                         f"(first rows {rows[:5].tolist()}): the model's features are broken, no probe is trained")
    return x


# ----------------------------------------------------------------------------------------------
# many probes in one computation
# ----------------------------------------------------------------------------------------------
def pad_index(indices: list[torch.Tensor]) -> torch.Tensor:
    """Stack index vectors of different lengths into ``[G, max_len]``, padded with ``-1``."""
    if not indices:
        raise ValueError("no problems given")
    width = max(len(i) for i in indices)
    out = torch.full((len(indices), width), -1, dtype=torch.long)
    for g, i in enumerate(indices):
        out[g, : len(i)] = torch.as_tensor(i, dtype=torch.long)
    return out


@dataclass
class Problems:
    """``G`` classification problems that index one feature matrix ``x [N, d]`` and labels ``y [N]``.

    ``train``, ``test`` and (optionally) ``valid`` are ``[G, n]`` index tensors padded with ``-1``;
    ``n_classes [G]``: problem ``g``'s labels lie in ``0 .. n_classes[g] - 1``.
    """

    train: torch.Tensor
    test: torch.Tensor
    n_classes: torch.Tensor
    valid: torch.Tensor | None = None
    names: list = field(default_factory=list)

    def __post_init__(self):
        self.n_classes = torch.as_tensor(self.n_classes, dtype=torch.long)
        G = len(self.n_classes)
        for split in ("train", "test", "valid"):
            t = getattr(self, split)
            if t is not None and (t.dim() != 2 or t.shape[0] != G):
                raise ValueError(f"{split} index must be [G={G}, n], got {tuple(t.shape)}")
        if bool((self.n_classes < 2).any()):
            raise ValueError(f"every problem needs at least 2 classes, got {self.n_classes.tolist()}")
        short = ((self.train >= 0).sum(1) < MIN_BATCH).nonzero().squeeze(1).tolist()
        if short:
            raise ValueError(f"problems {[self.names[g] if self.names else g for g in short]} have fewer than "
                             f"{MIN_BATCH} training examples")
        if bool(((self.test >= 0).sum(1) < 1).any()):
            raise ValueError("every problem needs at least one test example")

    @property
    def G(self) -> int:
        return len(self.n_classes)


def check_labels(y: torch.Tensor, problems: Problems, n: int) -> None:
    """Every indexed example exists and its label fits its problem."""
    for split in ("train", "valid", "test"):
        idx = getattr(problems, split)
        if idx is None:
            continue
        if int(idx.max()) >= n:
            raise ValueError(f"{split} index {int(idx.max())} is out of range for {n} examples")
        labels = y[idx.clamp_min(0)]
        bad = (idx >= 0) & ((labels < 0) | (labels >= problems.n_classes[:, None]))
        if bool(bad.any()):
            g = int(bad.any(1).nonzero()[0])
            raise ValueError(f"problem {problems.names[g] if problems.names else g}: {split} labels must lie in "
                             f"0..{int(problems.n_classes[g]) - 1}")


def logits(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, n_classes: torch.Tensor) -> torch.Tensor:
    r""":math:`W_g^\top u + b_g` for ``x [G, B, d]``, ``W [G, d, C]``, ``b [G, C]``: ``[G, B, C]``,
    with the classes a problem does not have at :math:`-\infty`."""
    out = torch.baddbmm(b[:, None, :], x, W)
    absent = torch.arange(W.shape[-1]) >= n_classes[:, None]  # [G, C]
    return out.masked_fill(absent[:, None, :], float("-inf"))


def group_cross_entropy(x_all, y_all, index, W, b, n_classes, reduction: str = "mean") -> torch.Tensor:
    """Per problem, the cross-entropy of the examples ``index [G, n]`` (``-1`` = none): ``[G]``."""
    valid = index >= 0
    safe = index.clamp_min(0)
    z = logits(x_all[safe], W, b, n_classes)  # [G, n, C]
    nll = F.cross_entropy(z.transpose(1, 2), y_all[safe], reduction="none") * valid  # [G, n]
    total = nll.sum(1)
    return total / valid.sum(1).clamp_min(1) if reduction == "mean" else total


@torch.no_grad()
def group_accuracy(x_all, y_all, index, W, b, n_classes) -> torch.Tensor:
    """Per problem, the fraction of ``index``'s examples classified right: ``[G]``."""
    valid = index >= 0
    safe = index.clamp_min(0)
    pred = logits(x_all[safe], W, b, n_classes).argmax(-1)
    right = ((pred == y_all[safe]) & valid).sum(1)
    return right.double() / valid.sum(1).clamp_min(1)


@dataclass
class ProbeResult:
    """What :func:`fit_probes` returns: per problem the test accuracy, and the training record."""

    accuracy: torch.Tensor  # [G]
    W: torch.Tensor  # [G, d, C]
    b: torch.Tensor  # [G, C]
    epochs: torch.Tensor  # [G] epochs trained
    decays: torch.Tensor  # [G] lr halvings (SGD protocol)
    valid_loss: torch.Tensor | None  # [G] best validation loss (SGD protocol)


def fit_probes(x: torch.Tensor, y: torch.Tensor, problems: Problems, *, optimizer: str = "sgd", lr: float = 1.0,
               clip: float | None = 5.0, batch_size: int = 16, epochs: int = 100, reduction: str = "mean",
               patience: int | None = 2, max_decays: int | None = 5, seed: int = 0,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, progress: bool = False
               ) -> ProbeResult:
    r"""Train one linear classifier per problem, all at once (module docstring), and test them.

    ``optimizer="sgd"`` with ``patience``/``max_decays`` and ``problems.valid`` is the Table 2 protocol
    (:data:`SGD_PROTOCOL`); ``optimizer="adam"`` without validation the Table 3 one
    (:data:`ADAM_PROTOCOL`). ``x [N, d]`` features, ``y [N]`` labels.
    """
    x = check_features(x).float()
    y = torch.as_tensor(y, dtype=torch.long)
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must be [N={x.shape[0]}], got {tuple(y.shape)}")
    if optimizer not in ("sgd", "adam") or reduction not in ("mean", "sum"):
        raise ValueError(f"optimizer must be sgd|adam and reduction mean|sum, got {optimizer!r}, {reduction!r}")
    selection = patience is not None
    if selection and problems.valid is None:
        raise ValueError("model selection (patience) needs problems.valid")
    check_labels(y, problems, len(x))
    G, d, C = problems.G, x.shape[1], int(problems.n_classes.max())
    gen = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(d)  # nn.Linear's initialisation
    W = (torch.rand(G, d, C, generator=gen) * 2 - 1) * bound
    b = (torch.rand(G, C, generator=gen) * 2 - 1) * bound
    W.requires_grad_(True)
    b.requires_grad_(True)
    n_train = (problems.train >= 0).sum(1)  # [G]
    lr_g = torch.full((G,), float(lr))
    active = torch.ones(G, dtype=torch.bool)  # problems still training
    trained = torch.zeros(G, dtype=torch.long)
    decays = torch.zeros(G, dtype=torch.long)
    best_loss = torch.full((G,), float("inf"))
    best_W, best_b = W.detach().clone(), b.detach().clone()
    bad_epochs = torch.zeros(G, dtype=torch.long)
    m_W, v_W, m_b, v_b = (torch.zeros_like(t) for t in (W, W, b, b))  # Adam moments
    t_step = torch.zeros(G)  # Adam step count per problem

    def step(mask: torch.Tensor) -> None:
        """One optimiser step of the problems in ``mask [G]`` (the others do not move)."""
        gW, gb = W.grad, b.grad
        with torch.no_grad():
            if clip is not None:  # per-problem gradient-norm clipping
                norm = (gW.pow(2).sum((1, 2)) + gb.pow(2).sum(1)).sqrt()
                scale = (clip / (norm + 1e-6)).clamp(max=1.0)
                gW, gb = gW * scale[:, None, None], gb * scale[:, None]
            m3, m2 = mask[:, None, None], mask[:, None]
            if optimizer == "sgd":
                W.sub_(torch.where(m3, lr_g[:, None, None] * gW, 0.0))
                b.sub_(torch.where(m2, lr_g[:, None] * gb, 0.0))
                return
            # Adam (Kingma & Ba), per problem, on the active ones only
            t_step.add_(mask.float())
            b1, b2 = betas
            for p, g, m, v, mk in ((W, gW, m_W, v_W, m3), (b, gb, m_b, v_b, m2)):
                m.copy_(torch.where(mk, b1 * m + (1 - b1) * g, m))  # m_t = b1 m + (1 - b1) g
                v.copy_(torch.where(mk, b2 * v + (1 - b2) * g * g, v))  # v_t = b2 v + (1 - b2) g^2
                tt = t_step.clamp_min(1).view(-1, *([1] * (p.dim() - 1)))
                update = lr_g.view_as(tt) * (m / (1 - b1 ** tt)) / ((v / (1 - b2 ** tt)).sqrt() + eps)
                p.sub_(torch.where(mk, update, 0.0))

    from tqdm.auto import tqdm

    for epoch in tqdm(range(epochs), desc="probes", disable=not progress, leave=False):
        if not bool(active.any()):
            break
        # a fresh permutation of each problem's own examples; padding (-1) goes last
        keys = torch.rand(problems.train.shape, generator=gen) + (problems.train < 0)
        order = torch.gather(problems.train, 1, keys.argsort(1))
        n_steps = math.ceil(int(n_train[active].max()) / batch_size)
        for s in range(n_steps):
            idx = order[:, s * batch_size:(s + 1) * batch_size]
            mask = active & ((idx >= 0).sum(1) >= MIN_BATCH)
            if not bool(mask.any()):
                continue
            loss = group_cross_entropy(x, y, idx, W, b, problems.n_classes, reduction)
            W.grad = b.grad = None
            (loss * mask).sum().backward()  # problems are independent: each gets its own gradient
            step(mask)
        trained += active.long()
        if not selection:
            continue
        with torch.no_grad():
            vloss = group_cross_entropy(x, y, problems.valid, W, b, problems.n_classes, "mean")
            better = active & (vloss < best_loss)
            best_loss = torch.where(better, vloss, best_loss)
            best_W[better], best_b[better] = W[better], b[better]
            bad_epochs = torch.where(better, 0, bad_epochs + active.long())
            decay = active & (bad_epochs >= patience)
            if bool(decay.any()):  # halve the lr and go back to the best weights
                lr_g = torch.where(decay, lr_g * 0.5, lr_g)
                W[decay], b[decay] = best_W[decay], best_b[decay]
                decays += decay.long()
                bad_epochs = torch.where(decay, 0, bad_epochs)
                active = active & (decays < max_decays)
    W_final, b_final = (best_W, best_b) if selection else (W.detach(), b.detach())
    acc = group_accuracy(x, y, problems.test, W_final, b_final, problems.n_classes)
    return ProbeResult(acc, W_final, b_final, trained, decays, best_loss if selection else None)


# ----------------------------------------------------------------------------------------------
# the two tables' problems
# ----------------------------------------------------------------------------------------------
def yelp_problems(train_labels: torch.Tensor, n_valid: int, n_test: int, sizes, draws: int, seed: int
                  ) -> tuple[Problems, list[tuple[int, int]]]:
    """Table 2's problems over the stacked features ``[train; valid; test]``: one per label count in
    ``sizes`` and draw ``0..draws-1`` (class-balanced, nested within a draw: :func:`labelled_subset`'s
    rule), each validated on all of valid and tested on all of test. Returns the problems and their
    ``(size, draw)`` names."""
    n_train = len(train_labels)
    counts = [int((train_labels == c).sum()) for c in (0, 1)]
    for n in sizes:
        if n < 2 or n % 2:
            raise ValueError(f"label counts must be positive and even (class-balanced), got {n}")
        if n // 2 > min(counts):
            raise ValueError(f"{n} labels need {n // 2} per class, but the training split has only "
                             f"{counts[0]} / {counts[1]} sentences of labels 0 / 1 ({n_train} in all)")
    names, train = [], []
    for draw in range(draws):
        gen = torch.Generator().manual_seed(seed + draw)
        perms = [(train_labels == c).nonzero().squeeze(1)[torch.randperm(counts[c], generator=gen)] for c in (0, 1)]
        for n in sizes:
            train.append(torch.cat([p[: n // 2] for p in perms]).sort().values)
            names.append((n, draw))
    G = len(names)
    valid = torch.arange(n_train, n_train + n_valid).expand(G, -1)
    test = torch.arange(n_train + n_valid, n_train + n_valid + n_test).expand(G, -1)
    return Problems(pad_index(train), test.clone(), torch.full((G,), 2), valid.clone(), names), names


def omniglot_problems(alphabet: torch.Tensor, char_in_alphabet: torch.Tensor, drawer: torch.Tensor, shots,
                      n_train_drawers: int = 15, n_test_drawers: int = 5) -> tuple[Problems, list[tuple[int, int]]]:
    """Table 3's problems: per alphabet and ``k`` in ``shots``, train on drawers ``0..k-1`` (the first k
    of the ``n_train_drawers`` training images) of every character, test on the test drawers.
    Inputs are per image ``[N]``; returns the problems and their ``(alphabet, k)`` names."""
    if not shots or min(shots) < 1 or max(shots) > n_train_drawers:
        raise ValueError(f"shots must lie in 1..{n_train_drawers}, got {shots}")
    names, train, test, classes = [], [], [], []
    for a in alphabet.unique().tolist():
        mine = alphabet == a
        n_chars = int(char_in_alphabet[mine].max()) + 1
        per_char_train = torch.bincount(char_in_alphabet[mine & (drawer < n_train_drawers)], minlength=n_chars)
        per_char_test = torch.bincount(char_in_alphabet[mine & (drawer >= n_train_drawers)], minlength=n_chars)
        if int(per_char_train.min()) < max(shots) or int(per_char_test.min()) < 1:
            raise ValueError(f"alphabet {a}: a character has only {int(per_char_train.min())} training / "
                             f"{int(per_char_test.min())} test images; {max(shots)} / 1 are needed")
        test_idx = (mine & (drawer >= n_train_drawers)).nonzero().squeeze(1)
        for k in shots:
            names.append((a, k))
            train.append((mine & (drawer < k)).nonzero().squeeze(1))
            test.append(test_idx)
            classes.append(n_chars)
    return Problems(pad_index(train), pad_index(test), torch.tensor(classes), None, names), names


# ----------------------------------------------------------------------------------------------
# a finished run, probed: what the experiments store
# ----------------------------------------------------------------------------------------------
def _pca(x: torch.Tensor, labels: torch.Tensor, points: int) -> dict:
    """The first two principal components of ``x`` (a sample of ``points`` rows), for a picture."""
    x = x[:points].double()
    centred = x - x.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    var = s.pow(2) / max(len(x) - 1, 1)
    return {"xy": (centred @ v[:2].T).float().tolist(), "label": labels[:points].tolist(),
            "explained": (var[:2] / var.sum().clamp_min(1e-30)).tolist(), "total_var": float(var.sum())}


def yelp_probe(run, sizes, draws: int, *, epochs: int = 100, pca_points: int = 600, seed: int = 783435) -> dict:
    """Table 2's probes on a finished short-Yelp run: ``{"probe": {size: [accuracy per draw]}, ...}``.

    IAF runs also get ``"probe_zT"`` (:math:`z^T` alone). Every problem of a feature kind is one
    :func:`fit_probes` call.
    """
    import time

    check_run(run)
    corpus = run.data.corpus
    if corpus is None or corpus.train.labels is None:
        raise ValueError(f"run {run.config.run_id()} has no labelled short-Yelp corpus")
    start = time.perf_counter()
    is_iaf = run.config.model.head == "iaf"
    out = {"probe_sizes": list(sizes), "probe_draws": draws}
    y = torch.cat([corpus.train.labels, corpus.valid.labels, corpus.test.labels])
    problems, names = yelp_problems(corpus.train.labels, len(corpus.valid), len(corpus.test), sizes, draws, seed)
    for key, iaf in (("probe", "concat"), ("probe_zT", "zT")) if is_iaf else (("probe", "concat"),):
        x = torch.cat([text_features(run.model, d, iaf=iaf) for d in (corpus.train, corpus.valid, corpus.test)])
        fit = fit_probes(x, y, problems, **{**SGD_PROTOCOL, "epochs": epochs}, seed=seed)
        out[key] = {str(n): [float(fit.accuracy[g]) for g, (m, _) in enumerate(names) if m == n] for n in sizes}
        out[f"{key}_epochs"] = fit.epochs.tolist()
        if key == "probe":
            out["features"] = "concat(mu0, zT)" if is_iaf else "mu"
            test = x[len(corpus.train) + len(corpus.valid):]
            out["pca"] = _pca(test, corpus.test.labels, pca_points)
    out["probe_seconds"] = time.perf_counter() - start
    return out


def omniglot_probe(run, shots=(5, 10, 15), *, epochs: int = 300, seed: int = 783435,
                   alphabets: int | None = None) -> dict:
    """Table 3's probes on a finished Omniglot run: per ``k`` the unweighted mean accuracy over the 50
    alphabets (``"probe"``) and each alphabet's accuracy (``"probe_alphabets"``).

    All 1623 x 20 images of the mirror, binarised once with ``seed`` (docs/implementation.md §4.7); drawers 0..14 are
    the 15 training images of a character, 15..19 its 5 test images. ``alphabets`` keeps only the
    first alphabets (the ``smoke`` profile's explicit shrinking); ``None`` = all 50.
    """
    import time

    from duvae.data.omniglot import N_DRAWERS, alphabet_of, gray_images

    check_run(run)
    start = time.perf_counter()
    gray = gray_images(progress=False)  # [1623, 20, 28, 28]
    n_chars = gray.shape[0]
    images = torch.bernoulli(gray, generator=torch.Generator().manual_seed(seed)).reshape(-1, 1, 28, 28)
    char_id = torch.arange(1, n_chars + 1).repeat_interleave(N_DRAWERS)
    drawer = torch.arange(N_DRAWERS).repeat(n_chars)
    alphabet, within = alphabet_of(char_id)
    if alphabets is not None:
        keep = alphabet < alphabets
        images, alphabet, within, drawer = images[keep], alphabet[keep], within[keep], drawer[keep]
    problems, names = omniglot_problems(alphabet, within, drawer, shots)
    is_iaf = run.config.model.head == "iaf"
    out = {"probe_shots": list(shots)}
    for key, iaf in (("probe", "concat"), ("probe_zT", "zT")) if is_iaf else (("probe", "concat"),):
        x = image_features(run.model, images, iaf=iaf)
        fit = fit_probes(x, within, problems, **{**ADAM_PROTOCOL, "epochs": epochs}, seed=seed)
        per = {str(k): [float(fit.accuracy[g]) for g, (_, kk) in enumerate(names) if kk == k] for k in shots}
        # the unweighted mean over alphabets (docs/implementation.md §4.7)
        out[key] = {k: sum(v) / len(v) for k, v in per.items()}
        out[f"{key}_alphabets"] = per
        if key == "probe":
            out["features"] = "concat(mu0, zT)" if is_iaf else "mu"
    out["probe_seconds"] = time.perf_counter() - start
    return out
