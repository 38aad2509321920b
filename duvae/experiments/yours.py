r"""Your own data: does DU-VAE keep the latent space alive on *your* sentences or images?

The experiment of notebook 13 and of ``python -m duvae.sweep yours --data PATH`` (docs/your_data.md).
It runs the package's models on a user's data (:mod:`duvae.data.your_files` reads and checks it) and
reports, per model and seed, what Table 1 and "looking inside" report on the paper's data:

- **runs** (:func:`runs`): each chosen model (default :data:`DEFAULT_MODELS`) x seed
  ``REFERENCE_SEED + s``. A model's hyper-parameters, network sizes and schedule are those of the
  nearest paper data set at the profile (:data:`NEAREST`: Yahoo for text, Omniglot for images;
  :func:`duvae.runs.zoo.run_config`), with the changes of :data:`SCHEDULE` (your data is not subsampled
  at ``cpu`` / ``paper`` beyond the stated evaluation caps; text keeps length buckets of 2 documents
  or more, so that a small corpus is not mostly skipped). The run's data set is ``yours_text`` /
  ``yours_image`` and its ``train.data_hash`` the hash of your files, so changed data is a new run;
- **test metrics** of every run: IW-NLL, KL, MI, AU (:func:`duvae.runs.trainer.test_metrics`) and the
  per-epoch validation history, as every run of the package;
- **extras** (:func:`extra_metrics`): everything :func:`duvae.experiments.inside.extra_metrics`
  measures (text: greedy reconstructions, prior samples, homotopies, distinct outputs over 100
  draws of z; images: reconstruction and prior grids; both: the MI estimate's spread, ELBO against
  IW-NLL), plus the **decoder's gain from its code** (:func:`code_gain`), an image homotopy grid
  (:func:`image_homotopies`) and, when your data has labels, a **linear probe** of the codes with
  Table 2's protocol (:func:`probe`);
- **verdict** (:func:`collapse_verdict`, rule :data:`RULE`) and a computed **reading** (:func:`reading`).

Results go to ``$DUVAE_YOURS_DIR``, else ``yours/`` beside the paper's ``results/``
(:func:`default_results_dir`), as ``<profile>/yours/<run_id>.json``; checkpoints to ``runs/`` as for
every run, so a run is cached and an interrupted one resumes.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from duvae.runs.config import REFERENCE_SEED, RunConfig
from duvae.data.registry import absolute_path
from duvae.data.your_files import DATASET_OF, DataError, detect_kind, fingerprint
from duvae.experiments import check_seeds
from duvae.experiments.verdicts import mean_sd
from duvae.experiments.inside import FIRST_WORDS
from duvae.runs.profiles import check_profile

NAME = "yours"
#: the models run when none are chosen: the plain VAE, BN-VAE and DU-VAE
DEFAULT_MODELS = ("vae", "bn_vae", "du_vae")
#: environment variables: your data (``--data``), its kind (``--kind``), and where results go
ENV_DATA, ENV_KIND, ENV_DIR = "DUVAE_YOURS_DATA", "DUVAE_YOURS_KIND", "DUVAE_YOURS_DIR"
#: the paper data set whose hyper-parameters, networks and schedule each kind of data takes
NEAREST = {"text": "yahoo", "image": "omniglot"}
#: per profile and kind, what your data changes in the nearest data set's schedule
#: (smoke keeps its 128 / 32 / 16 documents; max_len = the length cap, max_vocab = the vocabulary cap)
SCHEDULE = {
    "smoke": {"text": {"max_len": 60, "max_vocab": 2000}, "image": {}},
    "cpu": {"text": {"max_train": None, "max_valid": 1000, "max_test": 500, "max_len": 60, "max_vocab": 5000,
                     "min_batch_size": 2},
            "image": {"max_train": None, "max_valid": 1000, "max_test": 500}},
    "paper": {"text": {"max_train": None, "max_valid": None, "max_test": None, "max_len": 200, "max_vocab": 20000,
                       "min_batch_size": 2},
              "image": {"max_train": None, "max_valid": None, "max_test": None}},
}
#: short names of the models (hyper-parameters follow in brackets)
SHORT = {"vae": "VAE", "beta_vae": "beta-VAE", "sa_vae": "SA-VAE", "agg_vae": "Agg-VAE", "fb": "FB",
         "delta_vae": "delta-VAE", "bn_vae": "BN-VAE", "mae": "MAE", "du_vae": "DU-VAE", "iaf_fb": "IAF+FB",
         "iaf_bn": "IAF+BN", "du_iaf": "DU-IAF", "ae": "AE"}
#: per profile: test examples and other examples' codes of :func:`code_gain`, epochs of the probe
SIZES = {"smoke": {"gain_examples": 16, "gain_draws": 4, "probe_epochs": 5},
         "cpu": {"gain_examples": 200, "gain_draws": 10, "probe_epochs": 100},
         "paper": {"gain_examples": 500, "gain_draws": 10, "probe_epochs": 100}}
#: the collapse threshold on the KL, the paper's (duvae.report.claims.COLLAPSE_KL: between its largest "small
#: KL", 1.30 nats, and its smallest KL of a model it calls not collapsed, 5.1)
COLLAPSE_KL = 1.5
#: how many noise levels sqrt(nz / 2N) the MI estimate must clear (inside: its spread under collapse)
MI_NOISE_LEVELS = 2.0
RULE = (f"alive: KL >= {COLLAPSE_KL:g} nats, MI above {MI_NOISE_LEVELS:g} x its noise level sqrt(nz / 2N) (the "
        f"estimate's standard deviation when every posterior is the same) and AU >= 1; collapsed: KL < "
        f"{COLLAPSE_KL:g} nats and MI within {MI_NOISE_LEVELS:g} x that noise level; partly collapsed: anything "
        "else. IAF models report no MI / AU (as in Table 1): KL alone. Judged on the means over seeds, and "
        "seed by seed.")
ALIVE, COLLAPSED, PARTLY = "alive", "collapsed", "partly collapsed"
IAF_MODELS = ("iaf_fb", "iaf_bn", "du_iaf")


# ----------------------------------------------------------------------------------------------
# where the data is, where the results go
# ----------------------------------------------------------------------------------------------


def default_results_dir() -> Path:
    """``$DUVAE_YOURS_DIR``, else ``yours/`` beside the paper's results folder (``<repo>/yours``)."""
    from duvae.runs.results import default_results_dir as paper_results

    env = os.environ.get(ENV_DIR)
    return absolute_path(env) if env else absolute_path(paper_results()).parent / "yours"


def source(data=None, kind: str | None = None) -> tuple[Path, str]:
    """``(absolute path, kind)`` of your data: ``data``, else ``$DUVAE_YOURS_DATA``; ``kind`` (``auto``,
    ``text`` or ``image``), else (for the data of the environment) ``$DUVAE_YOURS_KIND``, else from the path."""
    if data is None:
        data = os.environ.get(ENV_DATA)
        kind = kind if kind not in (None, "auto") else os.environ.get(ENV_KIND, "auto")
    if not data:
        raise DataError("the yours experiment needs your data: python -m duvae.sweep yours --data PATH "
                        "(a folder of train/valid/test.txt, one .txt file, or an .npz/.npy of images)")
    return absolute_path(data), detect_kind(data, kind)


def sweep_options(args) -> None:
    """The sweep's ``--data`` / ``--kind`` (into the environment its planning and workers read) and its
    default results folder (:func:`default_results_dir`); checks the data before anything runs."""
    if args.experiment != NAME:
        raise SystemExit(f"--data and --kind are options of the {NAME} experiment, not of {args.experiment}")
    if args.data is not None:
        os.environ[ENV_DATA] = str(absolute_path(args.data))
        os.environ[ENV_KIND] = args.kind or "auto"
    elif args.kind is not None:
        os.environ[ENV_KIND] = args.kind
    source()
    if args.results_dir is None:
        args.results_dir = str(default_results_dir())


def data_report(data=None, kind: str | None = None, profile: str = "cpu"):
    """What a run at ``profile`` reads of your data, per split: ``(DataFrame, one-line description)``.

    Reads and checks every file (:class:`DataError` at the first problem); text: documents read,
    dropped by the length cap, cut by the profile's size cap, used, the unknown-word share, and the share
    of training documents in length buckets training uses; images: images read and used.
    """
    import pandas as pd

    from duvae.data.your_files import SPLITS, image_data, text_corpus, usable_share

    path, kind = source(data, kind)
    t = _train_config(kind, profile, path, "-")
    if kind == "text":
        corpus = text_corpus(path, max_len=t.max_len, max_vocab=t.max_vocab, max_train=t.max_train,
                             max_valid=t.max_valid, max_test=t.max_test)
        rep = corpus.report
        rows = [{"split": s, "file": rep[s]["file"], "documents": rep[s]["read"],
                 f"over {t.max_len} words (dropped)": rep[s]["over_length_cap"],
                 "over the profile's size cap": rep[s]["over_size_cap"], "used": rep[s]["used"],
                 "words": rep[s]["words"], "unknown words": f"{100 * rep[s]['unknown_share']:.1f} %"} for s in SPLITS]
        share = usable_share(corpus.train.lengths, t.batch_size, t.min_batch_size)
        text = (f"text, vocabulary {len(corpus.vocab):,} entries (cap {t.max_vocab}, from the training documents); "
                f"{100 * share:.0f} % of the training documents are in length buckets of >= {t.min_batch_size} "
                f"(training uses those); labels: {list(corpus.label_names) or 'none'}")
        return pd.DataFrame(rows).set_index("split"), text
    images = image_data(path, max_train=t.max_train, max_valid=t.max_valid, max_test=t.max_test)
    rows = [{"split": s, "file": str(path), "images": images.report[s]["read"], "used": images.report[s]["used"],
             "binarised": "once (fixed seed)" if s != "train" else "afresh every batch"} for s in SPLITS]
    text = (f"images {images.train.images.shape[-1]} x {images.train.images.shape[-1]}, "
            f"{'binary' if images.report['binary'] else 'gray levels'}; labels: "
            f"{list(images.report['labels']) or 'none'}")
    return pd.DataFrame(rows).set_index("split"), text


# ----------------------------------------------------------------------------------------------
# the runs
# ----------------------------------------------------------------------------------------------


def _train_config(kind: str, profile: str, path: Path, data_hash: str):
    from duvae.runs.zoo import train_config

    return replace(train_config(NEAREST[kind], profile), **SCHEDULE[profile][kind], data_path=str(path),
                   data_hash=data_hash)


def run_config_for(name: str, data, kind: str, profile: str, seed: int, data_hash: str | None = None) -> RunConfig:
    """The run of model ``name`` on your data: the nearest data set's configuration (:data:`NEAREST`)
    with :data:`SCHEDULE`'s changes, data set ``yours_text`` / ``yours_image`` and the data's hash."""
    from duvae.runs.zoo import MODEL_NAMES, run_config

    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose among {MODEL_NAMES}")
    path = absolute_path(data)
    data_hash = data_hash or fingerprint(path, kind)
    base = run_config(name, NEAREST[kind], profile, seed=seed)
    schedule = replace(base.train, **SCHEDULE[profile][kind], data_path=str(path), data_hash=data_hash)
    return base.with_(dataset=DATASET_OF[kind], train=schedule).validate()


def check(data=None, kind: str | None = None, profile: str = "cpu") -> str:
    """Read and check your data as a run at ``profile`` will (every file, every line or image), before
    any training: :class:`DataError` naming the file and line / index of the first problem. Returns its hash."""
    path, kind = source(data, kind)
    data_hash = fingerprint(path, kind)
    _checked(str(path), kind, profile, data_hash)
    return data_hash


_CHECKED: set = set()


def _checked(path: str, kind: str, profile: str, data_hash: str) -> None:
    if (path, kind, profile, data_hash) in _CHECKED:
        return
    from duvae.data.your_files import image_data, text_corpus, usable_share

    t = _train_config(kind, profile, Path(path), data_hash)
    if kind == "text":
        corpus = text_corpus(path, max_len=t.max_len, max_vocab=t.max_vocab, max_train=t.max_train,
                             max_valid=t.max_valid, max_test=t.max_test)
        if usable_share(corpus.train.lengths, t.batch_size, t.min_batch_size) == 0:
            raise DataError(f"{corpus.report['train']['file']}: no {t.min_batch_size} training documents have the "
                            "same length, and training uses batches of equal length (docs/implementation.md §3.1): "
                            "give more documents")
    else:
        image_data(path, max_train=t.max_train, max_valid=t.max_valid, max_test=t.max_test)
    _CHECKED.add((path, kind, profile, data_hash))


def runs(profile: str, seeds: int, models=None, data=None, kind: str | None = None) -> list[RunConfig]:
    """Every chosen model (default :data:`DEFAULT_MODELS`) x seed ``REFERENCE_SEED + s`` on your data
    (``data``, else ``$DUVAE_YOURS_DATA``), after :func:`check` has read every file."""
    from duvae.runs.zoo import MODEL_NAMES

    check_profile(profile)
    check_seeds(seeds)
    models = tuple(models or DEFAULT_MODELS)
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose among {MODEL_NAMES}")
    path, kind = source(data, kind)
    data_hash = check(path, kind, profile)
    return [run_config_for(name, path, kind, profile, REFERENCE_SEED + s, data_hash)
            for name in models for s in range(seeds)]


def label_of(cfg: RunConfig | dict) -> str:
    """``"DU-VAE (0.6, 0.8)"``: the model's short name and the hyper-parameters that set its remedy."""
    m = cfg["model"] if isinstance(cfg, dict) else cfg.model.__dict__
    params = {"beta_vae": ("beta",), "fb": ("free_bits",), "delta_vae": ("delta",), "bn_vae": ("gamma",),
              "du_vae": ("gamma", "p_keep"), "iaf_fb": ("free_bits",), "iaf_bn": ("gamma",),
              "du_iaf": ("gamma", "p_keep")}.get(m["name"], ())
    values = ", ".join(f"{m[p]:g}" for p in params)
    return f"{SHORT.get(m['name'], m['name'])} ({values})" if values else SHORT.get(m["name"], m["name"])


def extra_from_config(cfg: RunConfig) -> dict:
    """The row label, the kind of data and the start of its hash."""
    return {"row": label_of(cfg), "kind": "text" if cfg.is_text else "image", "data_hash": cfg.train.data_hash[:12]}


# ----------------------------------------------------------------------------------------------
# measurements on a finished run
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def code_gain(model, batches, n_examples: int, n_draws: int, generator: torch.Generator) -> dict:
    r"""How much the decoder uses the code of its input: per test example, in nats,

    .. math::  g(x) = \log p_\theta(x \mid z = c(x)) - \frac1K \sum_{k=1}^K \log p_\theta(x \mid z = c(x'_k)),

    with :math:`c(x)` the code of ``x`` (the posterior mean; the flow's output at zero noise for IAF
    models) and :math:`x'_k` other test examples drawn uniformly. A decoder that ignores ``z``, or an
    encoder that gives every input the same code (collapse), has :math:`g = 0`; a model that writes
    ``x`` from its code predicts it better from its own code than from another input's. On the first
    ``n_examples`` of ``batches`` (at least two), ``n_draws`` other codes each, one at a time (memory).
    ``per_unit``: the mean gain per predicted token (words + ``</s>``) or pixel.
    """
    from duvae.metrics import evaluating, model_device
    from duvae.probes import posterior_features

    device = model_device(model)
    chosen, codes = [], []
    with evaluating(model):
        for x in batches:  # the evaluation batches (text: one length each, for the LSTM encoder)
            if sum(len(b) for b in chosen) >= n_examples:
                break
            x = x.to(device)
            chosen.append(x)
            codes.append(posterior_features(model.posterior(x), iaf="zT").float())  # [B, nz]
        pool = torch.cat(codes)
        if len(pool) < 2:
            raise ValueError("code_gain needs two test examples at least")
        gains, units, start = [], [], 0
        for x, code in zip(chosen, codes):
            B = len(x)
            own = model.log_likelihood(x, code[None])[0].double()  # [B]
            me = torch.arange(start, start + B)
            others = []
            for _ in range(n_draws):
                j = torch.randint(len(pool) - 1, (B,), generator=generator)
                j = j + (j >= me).long()  # uniform over the other examples
                others.append(model.log_likelihood(x, pool[j.to(pool.device)][None])[0].double())
            gains.append((own - torch.stack(others).mean(0)).cpu())
            units += [int(x[0].numel()) if x.dim() == 4 else int(x.shape[1]) - 1] * B
            start += B
    g = torch.cat(gains)[:n_examples]
    return {"mean": float(g.mean()), "std": float(g.std()) if len(g) > 1 else 0.0, "n": len(g), "draws": n_draws,
            "per_unit": float(g.sum() / sum(units[:len(g)])), "per_example": [round(float(v), 3) for v in g]}


def image_homotopies(run, n_points: int, generator: torch.Generator, out_dir: Path) -> dict:
    r"""Samples :math:`x \sim p_\theta(x \mid z(t))` along :math:`z(t) = (1-t)\mu_\phi(x_a) + t\mu_\phi(x_b)`
    between test images 0 and 1, and 2 and 3 (:func:`duvae.generation.homotopy`), written as
    one PNG grid beside the result: per row :math:`x_a`, the ``n_points`` samples, :math:`x_b`."""
    from duvae.generation import homotopy, image_grid, write_png
    from duvae.metrics import evaluating, posterior_moments

    model = run.model
    device = next(model.parameters()).device
    x = torch.cat(list(run.data.test))[:4]
    pairs = [(a, b) for a, b in ((0, 1), (2, 3)) if b < len(x)]
    mu, _ = posterior_moments(model, [x])
    z = torch.cat([homotopy(mu[a], mu[b], n_points) for a, b in pairs])
    sampler = torch.Generator(device=device).manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
    with evaluating(model):
        samples = model.decoder.sample(z.to(device), generator=sampler).cpu()  # [P * pairs, 1, H, W], one batch
    rows = torch.stack([torch.cat([x[a:a + 1].cpu(), samples[i * n_points:(i + 1) * n_points], x[b:b + 1].cpu()])
                        for i, (a, b) in enumerate(pairs)])  # [pairs, P + 2, 1, H, W]
    name = f"{run.config.run_id()}.homotopy.png"
    write_png(image_grid(rows), Path(out_dir) / name)
    return {"homotopy_grid": name, "homotopy_pairs": [list(p) for p in pairs], "homotopy_points": n_points}


def probe(run, epochs: int = 100) -> dict:
    """Linear-probe accuracy of the codes on your labels (Table 2's protocol, :data:`duvae.probes.SGD_PROTOCOL`):
    one classifier on the training codes, selected on the validation codes, tested on the test codes;
    beside the share of the test set in its most frequent training label (what a probe that learns
    nothing reaches). Features: the posterior mean (IAF: ``[mu0, zT]``), of binarised images."""
    from duvae import probes

    probes.check_run(run)
    corpus, cfg = run.data.corpus, run.config
    splits = [corpus.train, corpus.valid, corpus.test]
    labels = [s.labels for s in splits]
    if any(y is None for y in labels):
        return {}
    if cfg.is_text:
        x = [probes.text_features(run.model, s) for s in splits]
    else:
        gen = torch.Generator().manual_seed(cfg.train.seed)
        x = [probes.image_features(run.model, s.images if s.binarized else torch.bernoulli(s.images, generator=gen))
             for s in splits]
    n = [len(v) for v in x]
    classes = len(corpus.label_names)
    out = {"classes": classes, "n_train": n[0], "n_valid": n[1], "n_test": n[2],
           "features": "concat(mu0, zT)" if cfg.model.head == "iaf" else "mu"}
    counts = torch.bincount(labels[0], minlength=classes)
    out["majority"] = float((labels[2] == int(counts.argmax())).double().mean())
    if classes < 2 or int((counts > 0).sum()) < 2:
        return {**out, "skipped": "the training codes carry fewer than two labels"}
    start = torch.tensor([0, n[0], n[0] + n[1], sum(n)])
    problems = probes.Problems(train=torch.arange(start[0], start[1])[None], test=torch.arange(start[2], start[3])[None],
                               n_classes=torch.tensor([classes]), valid=torch.arange(start[1], start[2])[None],
                               names=["your labels"])
    fit = probes.fit_probes(torch.cat(x), torch.cat(labels), problems, **{**probes.SGD_PROTOCOL, "epochs": epochs},
                            seed=cfg.train.seed)
    return {**out, "accuracy": float(fit.accuracy[0]), "epochs": int(fit.epochs[0])}


def extra_metrics(run, out_dir: str | Path | None = None) -> dict:
    """Looking inside (:func:`duvae.experiments.inside.extra_metrics`), the decoder's gain from its code,
    the image homotopies and, with labels, the probe (module docstring); PNG grids go to ``out_dir``."""
    from duvae.experiments import inside

    cfg = run.config
    out_dir = Path(out_dir or default_results_dir() / cfg.profile / NAME)
    out = inside.extra_metrics(run, out_dir=out_dir)
    sizes = SIZES[cfg.profile]
    gen = torch.Generator().manual_seed(cfg.train.seed + 1)
    out["code_gain"] = code_gain(run.model, run.data.test, sizes["gain_examples"], sizes["gain_draws"], gen)
    if not cfg.is_text:
        out.update(image_homotopies(run, inside.SIZES[cfg.profile]["homotopy_points"], gen, out_dir))
    out["probe"] = probe(run, sizes["probe_epochs"])
    report = getattr(run.data.corpus, "report", {})
    out["data"] = {"description": run.data.describe(), **{k: v for k, v in report.items()}}
    return out


# ----------------------------------------------------------------------------------------------
# results -> numbers, verdicts, tables, figures, reading (the notebook's)
# ----------------------------------------------------------------------------------------------


def results(profile: str, seeds: int, models=None, data=None, kind: str | None = None, results_dir=None) -> list[dict]:
    """The results of :func:`runs` that exist (in :func:`default_results_dir`, or ``results_dir``), in the
    order of the models, then seeds."""
    from duvae.runs.results import read_result, result_path

    folder = results_dir or default_results_dir()
    out = []
    for cfg in runs(profile, seeds, models, data, kind):
        path = result_path(folder, profile, NAME, cfg.run_id())
        if path.is_file():
            out.append(read_result(path))
    return out


def sweep_argv(profile: str, seeds: int, models=None, data=None, kind: str | None = None, device=None,
               results_dir=None, executor: str = "inline") -> list[str]:
    """The arguments of ``python -m duvae.sweep`` that make the missing runs of :func:`runs` (notebook 13
    calls :func:`duvae.sweep.engine.main` with them: ``inline``, in its own process), after :func:`check`."""
    path, kind = source(data, kind)
    check(path, kind, profile)  # DataError here, before anything is written
    argv = [NAME, "--data", str(path), "--kind", kind, "--profile", profile, "--seeds", str(seeds), "--models",
            *(models or DEFAULT_MODELS), "--executor", executor]
    argv += ["--device", str(device)] if device is not None else []
    return argv + (["--results-dir", str(results_dir)] if results_dir is not None else [])


def _values(records: list[dict], metric: str) -> list[float]:
    return [float(r["metrics"][metric]) for r in records if r["metrics"].get(metric) is not None]


def by_model(results: list[dict]) -> dict[str, list[dict]]:
    """``{label: [results of its seeds]}`` in the order the results come (:func:`results`: the models')."""
    out: dict[str, list[dict]] = {}
    for r in sorted(results, key=lambda r: r["seed"]):
        out.setdefault(r["extra"].get("row") or label_of(r["config"]), []).append(r)
    order = {r["extra"].get("row"): i for i, r in reversed(list(enumerate(results)))}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], 0)))


def collapse_verdict(kl: float, mi: float | None, au: float | None, mi_noise: float | None, iaf: bool = False) -> str:
    """:data:`ALIVE`, :data:`COLLAPSED` or :data:`PARTLY` by :data:`RULE` (test KL, MI, AU, and the MI's noise level)."""
    if iaf or mi is None or au is None:
        return ALIVE if kl >= COLLAPSE_KL else COLLAPSED
    noise = MI_NOISE_LEVELS * (mi_noise or 0.0)
    if kl >= COLLAPSE_KL and mi > noise and au >= 1:
        return ALIVE
    if kl < COLLAPSE_KL and mi <= noise:
        return COLLAPSED
    return PARTLY


def _verdict_of(r: dict) -> str:
    m, extra = r["metrics"], r["extra"]
    return collapse_verdict(float(m["kl"]), m.get("mi"), m.get("au"), extra.get("mi", {}).get("collapsed_std"),
                            r["model"] in IAF_MODELS)


def summary(results: list[dict]) -> list[dict]:
    """Per model: the means and spreads of NLL, KL, MI, AU, the verdict on the means and per seed, the
    decoder's gain from its code, the probe, and the wall time."""
    rows = []
    for label, rs in by_model(results).items():
        mean = {k: statistics.mean(v) if (v := _values(rs, k)) else None for k in ("nll", "kl", "mi", "au")}
        std = {k: statistics.stdev(v) if len(v := _values(rs, k)) > 1 else None for k in ("nll", "kl", "mi", "au")}
        iaf = rs[0]["model"] in IAF_MODELS
        noise = statistics.mean(r["extra"].get("mi", {}).get("collapsed_std", 0.0) for r in rs)
        per_seed = [_verdict_of(r) for r in rs]
        gains = [r["extra"]["code_gain"]["mean"] for r in rs if r["extra"].get("code_gain")]
        acc = [r["extra"]["probe"]["accuracy"] for r in rs if r["extra"].get("probe", {}).get("accuracy") is not None]
        majority = [r["extra"]["probe"]["majority"] for r in rs if "majority" in r["extra"].get("probe", {})]
        texts = [r for r in rs if r["extra"].get("kind") == "text" and r["extra"].get("reconstructions")]
        distinct = [statistics.mean(x["distinct"] for x in r["extra"]["reconstructions"]) for r in texts]
        distinct_first = [statistics.mean(x.get("distinct_first", x["distinct"]) for x in r["extra"]["reconstructions"])
                          for r in texts]
        rows.append({"label": label, "model": rs[0]["model"], "seeds": len(rs), "mean": mean, "std": std,
                     "values": {k: _values(rs, k) for k in ("nll", "kl", "mi", "au")}, "mi_noise": noise,
                     "verdict": collapse_verdict(mean["kl"], None if iaf else mean["mi"], None if iaf else mean["au"],
                                                 noise, iaf),
                     "alive_seeds": per_seed.count(ALIVE), "gain": gains, "probe": acc, "majority": majority,
                     "distinct": distinct, "distinct_first": distinct_first, "draws": rs[0]["extra"].get("draws"),
                     "minutes": [float(r["wall_seconds"]) / 60 for r in rs]})
    return rows


def table(results: list[dict]):
    """One row per model: test NLL (IW), KL, MI, AU (mean ± std over seeds), the collapse verdict
    (:data:`RULE`), the decoder's gain from its code, distinct greedy outputs (text), the probe
    accuracy beside the majority baseline (with labels), and the minutes per run."""
    import pandas as pd

    rows = []
    for s in summary(results):
        iaf = s["model"] in IAF_MODELS
        row = {"model": s["label"], "seeds": s["seeds"], "NLL (IW)": mean_sd(s["values"]["nll"], 2),
               "KL": mean_sd(s["values"]["kl"], 2), "MI": "-" if iaf else mean_sd(s["values"]["mi"], 2),
               "AU": "-" if iaf else mean_sd(s["values"]["au"], 1),
               "MI noise level": round(s["mi_noise"], 3), "verdict": s["verdict"],
               "alive on seeds": f"{s['alive_seeds']} of {s['seeds']}",
               "decoder gain from z (nats)": mean_sd(s["gain"], 2)}
        if s["distinct"]:
            row[f"distinct outputs / {s['draws']} draws of q(z|x)"] = mean_sd(s["distinct"], 1)
            row[f"distinct first {FIRST_WORDS} words"] = mean_sd(s["distinct_first"], 1)
        if s["probe"]:
            row["probe accuracy"] = mean_sd(s["probe"], 3)
            row["majority baseline"] = mean_sd(s["majority"], 3)
        row["minutes per run"] = mean_sd(s["minutes"], 1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def reading(results: list[dict], unit: str | None = None) -> str:
    """A short reading of the results, computed: which models kept their latent space alive (:data:`RULE`)
    and at what cost in NLL against the best NLL of all, with the seed spread's verdict
    (:func:`duvae.experiments.verdicts.verdict`)."""
    from duvae.experiments.verdicts import kind, verdict

    rows = [s for s in summary(results) if s["mean"]["nll"] is not None]
    if not rows:
        return "No finished run yet: nothing to read."
    unit = unit or ("document" if results[0]["extra"].get("kind") == "text" else "image")
    best = min(rows, key=lambda s: s["mean"]["nll"])
    alive = [s for s in rows if s["verdict"] == ALIVE]
    collapsed = [s for s in rows if s["verdict"] == COLLAPSED]
    partly = [s for s in rows if s["verdict"] == PARTLY]

    def kl_mi_au(s):
        au = "" if s["model"] in IAF_MODELS else f", MI {s['mean']['mi']:.2f}, AU {s['mean']['au']:.1f}"
        return f"KL {s['mean']['kl']:.2f}{au}"

    def gain(s):
        return (f"; its decoder predicts a test {unit} {statistics.mean(s['gain']):.2f} nats better from the {unit}'s own "
                "code than from another's" if s["gain"] else "")

    seeds = min(s["seeds"] for s in rows)
    parts = []
    if alive:
        keeper = min(alive, key=lambda s: s["mean"]["nll"])
        names = ", ".join(s["label"] for s in alive)
        parts.append(f"**Kept the latent space alive:** {names} (rule: {RULE.split(';')[0]}).")
        text = (f"Of those, **{keeper['label']}** has the lowest NLL, {keeper['mean']['nll']:.2f} nats per {unit} "
                f"({kl_mi_au(keeper)}{gain(keeper)})")
        if len(rows) == 1:
            text += "; it is the only model here, so there is no other NLL to set it against."
        elif keeper is best:
            text += ": the best NLL of all the models, so here the live latent space costs nothing in NLL."
        else:
            diff = keeper["mean"]["nll"] - best["mean"]["nll"]
            spread = max(v for v in (keeper["std"]["nll"], best["std"]["nll"], 0.0) if v is not None)
            judged = {"holds": f"a difference larger than the seed spread ({spread:.2f}): a real cost",
                      "within the spread": f"a difference within the seed spread ({spread:.2f}): no cost the "
                                           "seeds can tell apart",
                      }.get(kind(verdict(diff, spread, min(keeper["seeds"], best["seeds"]))),
                            "with one seed: no spread to judge that difference by")
            text += (f"; it costs {diff:.2f} nats per {unit} against the best NLL, {best['label']}'s "
                     f"{best['mean']['nll']:.2f} ({best['verdict']}), {judged}.")
        parts.append(text)
    else:
        parts.append(f"**No model kept its latent space alive** by the rule ({RULE.split(';')[0]}). "
                     f"The lowest NLL is {best['label']}'s, {best['mean']['nll']:.2f} nats per {unit} ({best['verdict']}).")
    if collapsed:
        parts.append("**Collapsed:** " + "; ".join(f"{s['label']} ({kl_mi_au(s)}, MI noise level "
                                                    f"{s['mi_noise']:.2f}{gain(s)})" for s in collapsed) + ".")
    if partly:
        parts.append("**Partly collapsed:** " + "; ".join(f"{s['label']} ({kl_mi_au(s)})" for s in partly) + ".")
    probed = [s for s in rows if s["probe"]]
    if probed:
        top = max(probed, key=lambda s: statistics.mean(s["probe"]))
        parts.append(f"**Probe:** the codes of {top['label']} predict your labels best, "
                     f"{statistics.mean(top['probe']):.3f} accuracy (majority baseline "
                     f"{statistics.mean(top['majority']):.3f}).")
    if seeds < 2:
        parts.append("One seed per model: no seed spread to judge the differences by; run more seeds "
                     "(`seeds`, `--seeds`) before drawing conclusions.")
    return "\n\n".join(parts)


def plot_curves(results: list[dict], metrics=("loss", "kl", "mi", "au")):
    """Per-epoch validation curves of every model (mean over seeds, band min..max):
    :func:`duvae.experiments.table1.plot_curves` on your data set (``loss`` = -ELBO, the IW-NLL being
    computed on the test set only once training is done)."""
    from duvae.experiments.table1 import plot_curves as curves

    labels = list(by_model(results))
    return curves(results, results[0]["dataset"], metrics=metrics, rows=labels)


def first_seed(results: list[dict]) -> list[tuple[str, dict]]:
    """``(label, result of its first seed)`` per model, in the models' order."""
    return [(label, rs[0]) for label, rs in by_model(results).items()]


def reconstructions(results: list[dict], i: int):
    """Text: the ``i``-th held-out test document and each model's greedy reconstruction from its posterior
    mean, with the distinct greedy outputs over the draws of q(z|x) (first seed of each model)."""
    import pandas as pd

    rows = [(label, r) for label, r in first_seed(results) if len(r["extra"].get("reconstructions", [])) > i]
    if not rows:
        return pd.DataFrame()
    first = rows[0][1]["extra"]["reconstructions"][i]
    draws = rows[0][1]["extra"]["draws"]
    out = [{"": "input (test)", "text": first["input"], f"distinct / {draws} draws": ""}]
    for label, r in rows:
        rec = r["extra"]["reconstructions"][i]
        out.append({"": label, "text": rec["output"], f"distinct / {draws} draws": rec["distinct"]})
    return pd.DataFrame(out).set_index("")


def prior_samples(results: list[dict]):
    """Text: greedy decodings of the same prior draws, one column per model."""
    import pandas as pd

    rows = [(label, r) for label, r in first_seed(results) if r["extra"].get("prior", {}).get("samples")]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame({label: r["extra"]["prior"]["samples"] for label, r in rows},
                        index=pd.RangeIndex(1, 1 + len(rows[0][1]["extra"]["prior"]["samples"]), name="z"))


def homotopy_table(results: list[dict], k: int = 0):
    """Text: the ``k``-th homotopy between two held-out documents, one row per point t, one column per model."""
    import pandas as pd

    rows = [(label, r) for label, r in first_seed(results) if len(r["extra"].get("homotopies", [])) > k]
    if not rows:
        return pd.DataFrame()
    t = rows[0][1]["extra"]["homotopies"][k]["t"]
    return pd.DataFrame({label: r["extra"]["homotopies"][k]["sentences"] for label, r in rows},
                        index=pd.Index([f"{v:.2f}" for v in t], name="t"))


def grid_paths(results: list[dict], folder: Path | None = None) -> list[tuple[str, dict[str, Path]]]:
    """Images: ``(label, {"reconstructions" | "prior" | "homotopy": PNG path})`` of each model's first seed
    whose files exist (in the result's folder)."""
    out = []
    for label, r in first_seed(results):
        e = r["extra"]
        where = Path(folder or default_results_dir() / r["profile"] / NAME)
        names = {**e.get("grids", {}), **({"homotopy": e["homotopy_grid"]} if e.get("homotopy_grid") else {})}
        paths = {k: where / v for k, v in names.items()}
        if paths and all(p.is_file() for p in paths.values()):
            out.append((label, paths))
    return out


def plot_grids(results: list[dict], folder: Path | None = None):
    """The image grids of each model side by side: reconstructions (rows: test image, a sample from the
    posterior mean, one from a posterior draw), prior samples, homotopies (x_a, samples along z(t), x_b)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    grids = grid_paths(results, folder)
    keys = ("reconstructions", "prior", "homotopy")
    fig, axes = plt.subplots(max(1, len(grids)), 3, figsize=(16, 2.4 * max(1, len(grids))), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 3, 3]})
    for (label, paths), row in zip(grids, axes):
        for ax, key in zip(row, keys):
            if key in paths:
                ax.imshow(Image.open(paths[key]), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}: {key}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_gain(results: list[dict]):
    """The decoder's gain from its code per test example (dots: examples of the first seed), per model."""
    import matplotlib.pyplot as plt

    rows = first_seed(results)
    fig, ax = plt.subplots(figsize=(1.6 * max(3, len(rows)), 3.2))
    for j, (label, r) in enumerate(rows):
        g = r["extra"].get("code_gain")
        if not g:
            continue
        per = g["per_example"]
        ax.scatter([j] * len(per), per, s=8, alpha=0.5, color="tab:blue")
        ax.plot([j - 0.3, j + 0.3], [g["mean"]] * 2, color="tab:red", lw=2)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.set_ylabel("log p(x | own code) - log p(x | other's code), nats")
    ax.set_title("does the decoder use z? (0 = ignores it; red = mean)")
    fig.tight_layout()
    return fig


def seconds(results: list[dict]) -> float:
    """The runs' total wall time as each measured it (training and test), in seconds."""
    from duvae.runs.results import run_seconds

    return sum(run_seconds(r) for r in results)


def unit_of(results: list[dict]) -> str:
    return "document" if results and results[0]["extra"].get("kind") == "text" else "image"


__all__ = ["DEFAULT_MODELS", "NAME", "RULE", "SCHEDULE", "check", "code_gain", "collapse_verdict", "data_report",
           "default_results_dir", "extra_metrics", "probe", "reading", "results", "runs", "sweep_argv", "source",
           "summary", "table"]
