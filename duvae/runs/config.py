"""Configuration dataclasses: what a run is.

A run is fully described by a :class:`RunConfig`: the data set, the model (which remedy, with its
hyper-parameters), the network sizes and the training schedule. :func:`RunConfig.run_id` hashes
the whole config, so two runs with the same config share one directory and
:func:`duvae.runs.trainer.train_or_load` never trains the same thing twice.

The paper's values are in docs/implementation.md §0.1, §2 and §3; :mod:`duvae.runs.zoo` fills these
dataclasses for every model name, data set and profile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

DATASETS = ("yahoo", "yelp", "short_yelp", "synthetic", "omniglot")
TEXT_DATASETS = ("yahoo", "yelp", "short_yelp", "synthetic")
#: your own sentences or images (:mod:`duvae.data.your_files`), read from ``TrainConfig.data_path``
YOUR_DATASETS = ("yours_text", "yours_image")
#: the reference code's task-0 seed (docs/implementation.md §3.3); notebooks train with REFERENCE_SEED + their ``seed``
REFERENCE_SEED = 783435


@dataclass(frozen=True)
class ModelConfig:
    """Which remedy, and its hyper-parameters (docs/implementation.md §3.4 and §5).

    ``head`` picks the posterior head (:mod:`duvae.posteriors`); ``objective`` and ``procedure``
    pick the loss and the training procedure (:mod:`duvae.objectives`, :mod:`duvae.runs.trainer`).
    """

    name: str
    head: str = "gaussian"  # gaussian | du | bn | delta | iaf
    # --- posterior head ---
    gamma: float = 0.0  # BN scale target (DU-VAE, BN-VAE, IAF+BN, DU-IAF)
    p_keep: float = 1.0  # dropout KEEP probability p of eq. 6 (the code's p_drop = 1 - p)
    delta_rate: float = 0.0  # variance floor alpha = delta_rate / (2 pi e); 0 = no floor
    learnable_scale: bool = True  # BN scale learnable + renormalised (DU) or fixed at gamma (BN-VAE)
    switch_on_after_annealing: bool = True  # official code: floor/dropout only once KL weight = 1
    delta: float = 0.1  # delta-VAE's minimum KL per dimension
    flow_depth: int = 2  # IAF blocks T
    flow_width: int = 60  # MADE hidden = flow_width * nz
    # --- objective ---
    beta: float | None = None  # constant KL weight (beta-VAE; AE = 0); None = annealed 0 -> 1
    free_bits: float = 0.0  # lambda per dimension (FB, IAF+FB); 0 = off
    mae_diversity: float = 0.0  # MAE weight on -log sigmoid(mean pairwise KL)
    mae_smoothness: float = 0.0  # MAE weight on the std of the pairwise KL matrix
    # --- training procedure ---
    procedure: str = "standard"  # standard | sa | aggressive
    svi_steps: int = 10  # SA-VAE refinement steps
    svi_lr: float = 1.0
    svi_momentum: float = 0.5
    agg_max_inner: int = 100  # Agg-VAE: encoder-only steps per batch at most
    agg_max_epochs: int | None = None  # Agg-VAE: aggressive epochs at most; None = He et al.'s exit rule only
    # --- model selection ---
    select_on: str = "elbo"  # validation loss that picks the tested weights and drives the lr rule:
    #   elbo = rec + KL (the reference, docs/implementation.md §3.1) | rec = reconstruction only (the
    #   AE: beta = 0 leaves its KL free to grow, so the ELBO would pick its first epoch)

    def validate(self) -> "ModelConfig":
        """Refuse invalid hyper-parameters before any work starts."""
        heads = ("gaussian", "du", "bn", "delta", "iaf")
        if self.head not in heads:
            raise ValueError(f"{self.name}: unknown head {self.head!r}; choose one of {heads}")
        if self.head in ("du", "bn") and self.gamma <= 0:
            raise ValueError(f"{self.name}: gamma must be > 0 for a BN head, got {self.gamma}")
        if self.gamma < 0:
            raise ValueError(f"{self.name}: gamma must be >= 0, got {self.gamma}")
        if not 0.0 < self.p_keep <= 1.0:
            raise ValueError(f"{self.name}: p_keep must be in (0, 1], got {self.p_keep}")
        if self.p_keep < 1.0 and self.delta_rate <= 0:
            raise ValueError(f"{self.name}: dropout on the variance (p_keep < 1) needs delta_rate > 0")
        if self.delta_rate < 0:
            raise ValueError(f"{self.name}: delta_rate must be >= 0, got {self.delta_rate}")
        if self.head == "delta" and self.delta <= 0:
            raise ValueError(f"{self.name}: delta must be > 0, got {self.delta}")
        if self.beta is not None and self.beta < 0:
            raise ValueError(f"{self.name}: beta must be >= 0, got {self.beta}")
        if self.free_bits < 0 or self.mae_diversity < 0 or self.mae_smoothness < 0:
            raise ValueError(f"{self.name}: free_bits and MAE weights must be >= 0")
        if self.procedure not in ("standard", "sa", "aggressive"):
            raise ValueError(f"{self.name}: unknown procedure {self.procedure!r}")
        if self.procedure == "sa" and self.head != "gaussian":
            raise ValueError(f"{self.name}: SA-VAE refines a plain Gaussian posterior (head='gaussian')")
        if self.head == "iaf" and (self.flow_depth < 0 or self.flow_width < 1):
            raise ValueError(f"{self.name}: flow_depth must be >= 0 and flow_width >= 1")
        if self.svi_steps < 0 or self.agg_max_inner < 1:
            raise ValueError(f"{self.name}: svi_steps must be >= 0 and agg_max_inner >= 1")
        if self.agg_max_epochs is not None and self.agg_max_epochs < 1:
            raise ValueError(f"{self.name}: agg_max_epochs must be None or >= 1, got {self.agg_max_epochs}")
        if self.select_on not in ("elbo", "rec"):
            raise ValueError(f"{self.name}: select_on must be elbo or rec, got {self.select_on!r}")
        return self


@dataclass(frozen=True)
class NetConfig:
    """Network sizes (docs/implementation.md §2.1, §2.2, §2.3). Text fields are ignored for images and vice versa."""

    nz: int = 32
    emb_dim: int = 512
    enc_hidden: int = 1024
    dec_hidden: int = 1024
    dec_dropout_in: float = 0.5
    dec_dropout_out: float = 0.5
    # switches of the Yahoo NLL-gap study (defaults = the reference's behaviour, docs/implementation.md
    # §2.1): word dropout replaces a decoder input word by <unk> with this probability (Bowman et al.
    # 2016; the reference has none);
    # dec_predict_eos=False leaves </s> out of log p(x|z) (the reference predicts it)
    dec_word_dropout: float = 0.0
    dec_predict_eos: bool = True
    img_channels: int = 64  # ResNet width, and the PixelCNN's unless pixelcnn_channels is set
    img_feature_dim: int = 512  # ResNet output features
    pixelcnn_kernels: tuple[int, ...] = (7, 7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3)
    pixelcnn_gated: bool = False  # the reference decoder is not gated (docs/implementation.md §1.3, item 6)
    pixelcnn_channels: int | None = None  # PixelCNN width alone; None = img_channels

    def validate(self) -> "NetConfig":
        if self.nz < 1:
            raise ValueError(f"nz must be >= 1, got {self.nz}")
        for name in ("emb_dim", "enc_hidden", "dec_hidden", "img_channels", "img_feature_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.pixelcnn_kernels or any(k < 1 or k % 2 == 0 for k in self.pixelcnn_kernels):
            raise ValueError(f"pixelcnn_kernels must be odd sizes, got {self.pixelcnn_kernels}")
        if self.pixelcnn_channels is not None and self.pixelcnn_channels < 2:
            raise ValueError(f"pixelcnn_channels must be None or >= 2, got {self.pixelcnn_channels}")
        for name in ("dec_dropout_in", "dec_dropout_out", "dec_word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation schedule (docs/implementation.md §3.1, §3.2)."""

    epochs: int = 100
    batch_size: int = 32
    min_batch_size: int = 16  # text: skip smaller length buckets (docs/implementation.md §3.1)
    optimizer: str = "sgd"  # sgd (text) | adam (images)
    lr: float = 1.0
    clip_grad: float = 5.0
    kl_start: float = 0.0
    warm_up: float = 10.0  # epochs of linear KL annealing kl_start -> 1
    decay_patience: int = 5  # non-improving validation epochs before lr halving
    decay_min_epoch: int = 15  # text: no decay before this (0-based) epoch; images: 0
    decay_reference: str = "running"  # running (text) | best (images)
    max_decays: int = 5
    # data sizes (explicit subsampling for the smaller profiles; None = everything)
    max_train: int | None = None
    max_valid: int | None = None
    max_test: int | None = None
    max_len: int | None = None  # text: drop longer sentences
    max_vocab: int | None = None  # text: keep the max_vocab most frequent tokens (specials included), rest -> unk
    vocab_source: str = "file"  # yahoo: "file" = the pinned vocab.txt's order (He et al.'s counts) | "train" = counts of the training documents
    eval_iw_samples: int = 500  # IW-NLL samples at test time
    eval_work_budget: int = 1 << 16  # IW-NLL: samples x examples x tokens (or pixels) per decoder call
    steps_per_epoch: int | None = None  # cap on optimiser steps per epoch (smoke profile)
    precision: str = "fp32"  # fp32 | bf16: matmul precision of training and evaluation (duvae.bf16)
    anneal_steps: str = "nominal"  # KL annealing epoch length: nominal N_train / batch_size (reference) | usable batches
    seed: int = REFERENCE_SEED
    # switches of the Yahoo NLL-gap study (defaults = the reference's behaviour, docs/implementation.md §3.1)
    anneal_offset: int = 1  # step i (0-based) uses kl_weight_at(i + anneal_offset): 1 = incremented before the step
    decay_reload: bool = True  # at an lr decay, reload the best-validation weights
    test_weights: str = "best"  # which weights are tested: best validation loss | last (the end of training)
    # your own data (duvae.data.your_files; None for the paper's data sets): where its files are, and the
    # sha256 of their bytes and split rule. The hash is part of the run id, the path is not (run_identity)
    data_path: str | None = None
    data_hash: str | None = None

    def validate(self) -> "TrainConfig":
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose sgd or adam")
        if self.lr <= 0 or self.clip_grad <= 0:
            raise ValueError("lr and clip_grad must be > 0")
        if not 0.0 <= self.kl_start <= 1.0:
            raise ValueError(f"kl_start must be in [0, 1], got {self.kl_start}")
        if self.warm_up < 0:
            raise ValueError(f"warm_up must be >= 0, got {self.warm_up}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.anneal_steps not in ("nominal", "usable"):
            raise ValueError(f"anneal_steps must be nominal or usable, got {self.anneal_steps!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.max_vocab is not None and self.max_vocab < 5:
            raise ValueError(f"max_vocab must be >= 5 (4 specials and a word), got {self.max_vocab}")
        if self.eval_work_budget < 1:
            raise ValueError(f"eval_work_budget must be >= 1, got {self.eval_work_budget}")
        if self.decay_reference not in ("running", "best"):
            raise ValueError(f"decay_reference must be running or best, got {self.decay_reference!r}")
        if self.vocab_source not in ("file", "train"):
            raise ValueError(f"vocab_source must be file or train, got {self.vocab_source!r}")
        if isinstance(self.anneal_offset, bool) or self.anneal_offset not in (0, 1):
            raise ValueError(f"anneal_offset must be 0 or 1, got {self.anneal_offset!r}")
        if self.test_weights not in ("best", "last"):
            raise ValueError(f"test_weights must be best or last, got {self.test_weights!r}")
        return self


#: (section, field) -> default of config fields added after results were committed
ADDED_FIELDS = {("train", "max_vocab"): None, ("model", "agg_max_epochs"): None,
                ("net", "pixelcnn_channels"): None,
                # the Yahoo NLL-gap study (duvae.experiments.gap): one switch per factor of the gap
                ("train", "vocab_source"): "file", ("train", "anneal_offset"): 1,
                ("train", "decay_reload"): True, ("train", "test_weights"): "best",
                ("net", "dec_word_dropout"): 0.0, ("net", "dec_predict_eos"): True,
                # the AE's model selection (Tables 2-3)
                ("model", "select_on"): "elbo",
                # your own data (duvae.data.your_files)
                ("train", "data_path"): None, ("train", "data_hash"): None}


def run_identity(d: dict) -> dict:
    """What of a config dict ``d`` defines the run: ``d`` without the added fields that sit at their
    default (see :meth:`RunConfig.run_id`). Two configs with equal identities are the same run."""
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    for (section, name), default in ADDED_FIELDS.items():
        if d.get(section, {}).get(name, default) == default:
            d[section].pop(name, None)
    if isinstance(d.get("train"), dict):
        d["train"].pop("data_path", None)  # where your data lives is not what it is: its data_hash is
    return d


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; hashed into its run id."""

    dataset: str
    model: ModelConfig
    net: NetConfig = field(default_factory=NetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    profile: str = "paper"

    def validate(self) -> "RunConfig":
        if self.dataset not in DATASETS + YOUR_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        if (self.dataset in YOUR_DATASETS) != bool(self.train.data_path and self.train.data_hash):
            raise ValueError(f"dataset {self.dataset!r}: train.data_path and train.data_hash are set for your own "
                             f"data ({', '.join(YOUR_DATASETS)}) and only for it")
        self.model.validate()
        self.net.validate()
        self.train.validate()
        return self

    @property
    def is_text(self) -> bool:
        return self.dataset in TEXT_DATASETS or self.dataset == "yours_text"

    def to_dict(self) -> dict:
        return asdict(self)

    def run_id(self) -> str:
        """``<dataset>-<model>-<12 hex digits of the sha256 of the full config>``.

        Fields added after results were committed (:data:`ADDED_FIELDS`) enter the hash only when
        they differ from their default, so the ids of those results stay valid.
        """
        blob = json.dumps(run_identity(self.to_dict()), sort_keys=True, default=str).encode()
        return f"{self.dataset}-{self.model.name}-{hashlib.sha256(blob).hexdigest()[:12]}"

    def with_(self, **changes) -> "RunConfig":
        """A copy with top-level fields replaced (``model=``, ``train=``, ...)."""
        return replace(self, **changes)
