"""The model zoo: every model of the paper is one named configuration away.

``MODEL_NAMES`` lists the 13 models of Tables 1-3. :func:`model_config` gives a model's
hyper-parameters for a data set (docs/implementation.md §3.4; the Yelp column is also used for short Yelp, Table 2,
and for the synthetic set of Figure 1); :func:`net_config` and :func:`train_config` give the
network sizes and the schedule for a data set under a profile; :func:`run_config` puts them
together. To add a 14th remedy: write its head (``duvae/posteriors/``) or its objective term
(``duvae/objectives.py``), then add one entry to ``_MODELS`` below.

Per-dataset hyper-parameters are written ``(yahoo, yelp, omniglot)``.

Where the official code and the paper differ, the default follows the code and the paper's
variant is a field away (docs/implementation.md §1.3):
- DU-VAE / DU-IAF switch the variance floor and dropout on only once the KL weight reaches 1
  (``switch_on_after_annealing=True``; the paper's Algorithm 1 is ``False``);
- IAF+BN keeps the learnable, renormalised BN scale of the code (``learnable_scale=True``; the
  paper says "fixed scale": ``False``).
"""

from __future__ import annotations

from dataclasses import replace

from duvae.runs.config import DATASETS, TEXT_DATASETS, ModelConfig, NetConfig, RunConfig, TrainConfig
from duvae.runs.profiles import check_profile

MODEL_NAMES = (
    "vae",
    "beta_vae",
    "sa_vae",
    "agg_vae",
    "fb",
    "delta_vae",
    "bn_vae",
    "mae",
    "du_vae",
    "iaf_fb",
    "iaf_bn",
    "du_iaf",
    "ae",
)

# name -> (fixed fields, {field: (yahoo, yelp, omniglot)})
_MODELS: dict[str, tuple[dict, dict]] = {
    "vae": ({}, {}),
    "beta_vae": ({}, {"beta": (0.4, 0.4, 0.8)}),
    "sa_vae": ({"procedure": "sa", "svi_steps": 10}, {}),
    "agg_vae": ({"procedure": "aggressive"}, {}),
    "fb": ({}, {"free_bits": (0.1, 0.1, 0.1)}),
    "delta_vae": ({"head": "delta"}, {"delta": (0.1, 0.1, 0.1)}),
    "bn_vae": ({"head": "bn", "learnable_scale": False}, {"gamma": (0.6, 0.6, 0.5)}),
    "mae": ({}, {"mae_diversity": (1.0, 2.0, 0.5), "mae_smoothness": (0.2, 0.2, 0.2)}),
    # Defaults = the best settings of Figure 2 / the official README; Table 1 also runs
    # (0.5, 0.9), (0.5, 0.8) and (0.6, 0.8) through ``run_config(..., gamma=, p_keep=)``.
    "du_vae": ({"head": "du", "delta_rate": 1.0}, {"gamma": (0.6, 0.5, 0.5), "p_keep": (0.8, 0.8, 0.9)}),
    "iaf_fb": ({"head": "iaf"}, {"free_bits": (0.15, 0.25, 0.15)}),
    "iaf_bn": ({"head": "iaf"}, {"gamma": (0.6, 0.7, 0.5)}),
    "du_iaf": ({"head": "iaf", "delta_rate": 1.0}, {"gamma": (0.7, 0.6, 0.5), "p_keep": (0.70, 0.70, 0.85)}),
    # AE: no KL term (beta = 0), so its weights are selected on the reconstruction (ModelConfig.select_on)
    "ae": ({"select_on": "rec"}, {"beta": (0.0, 0.0, 0.0)}),
}

_COLUMN = {"yahoo": 0, "yelp": 1, "short_yelp": 1, "synthetic": 1, "omniglot": 2}


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    return dataset


def model_config(name: str, dataset: str, **overrides) -> ModelConfig:
    """The hyper-parameters of model ``name`` on ``dataset`` (docs/implementation.md §3.4), validated."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
    _check_dataset(dataset)
    fixed, per_dataset = _MODELS[name]
    fields = dict(fixed)
    fields.update({k: v[_COLUMN[dataset]] for k, v in per_dataset.items()})
    fields.update(overrides)
    return ModelConfig(name=name, **fields).validate()


# --- network sizes: docs/implementation.md §2.1 (text) and §2.2, §2.3 (images) --------------------------------
_PAPER_NETS = {
    "yahoo": NetConfig(emb_dim=512, enc_hidden=1024, dec_hidden=1024),
    "yelp": NetConfig(emb_dim=512, enc_hidden=1024, dec_hidden=1024),
    "short_yelp": NetConfig(emb_dim=128, enc_hidden=512, dec_hidden=512),
    "synthetic": NetConfig(nz=2, emb_dim=50, enc_hidden=50, dec_hidden=50),
    "omniglot": NetConfig(),
}
# cpu: same depth, narrower (nz stays 32 so that AU counts compare with the paper's).
_CPU_NETS = {
    "yahoo": NetConfig(emb_dim=128, enc_hidden=256, dec_hidden=256),
    "yelp": NetConfig(emb_dim=128, enc_hidden=256, dec_hidden=256),
    "short_yelp": NetConfig(emb_dim=128, enc_hidden=256, dec_hidden=256),
    "synthetic": _PAPER_NETS["synthetic"],
    # Table 1 / Figure 2 at cpu: a 3-layer PixelCNN of width 16 (paper: 13 layers of 64) and a
    # ResNet of width 16 with 128 features (paper: 64, 512): one step 0.13 s on one core
    "omniglot": NetConfig(img_channels=16, img_feature_dim=128, pixelcnn_kernels=(5, 5, 3)),
}
_SMOKE_NETS = {
    ds: NetConfig(
        nz=2 if ds == "synthetic" else 4,
        emb_dim=16,
        enc_hidden=32,
        dec_hidden=32,
        img_channels=8,
        img_feature_dim=32,
        pixelcnn_kernels=(3, 3),
    )
    for ds in DATASETS
}


def net_config(dataset: str, profile: str) -> NetConfig:
    """Network sizes of ``dataset`` under ``profile`` (``paper`` = the tables of docs/implementation.md §2 exactly)."""
    check_profile(profile)
    _check_dataset(dataset)
    return {"paper": _PAPER_NETS, "cpu": _CPU_NETS, "smoke": _SMOKE_NETS}[profile][dataset]


# --- schedules: docs/implementation.md §3.1 (text) and §3.2 (images) ----------------------------------------
_TEXT_PAPER = TrainConfig()  # SGD lr 1, clip 5, batch 32, anneal 10 epochs, patience 5, epoch >= 15
_IMAGE_PAPER = TrainConfig(
    epochs=500,
    batch_size=50,
    min_batch_size=2,  # a batch of one has no batch statistics (BN heads, MAE)
    optimizer="adam",
    lr=1e-3,
    decay_patience=20,
    decay_min_epoch=0,
    decay_reference="best",
)
_PAPER_TRAIN = {
    "yahoo": _TEXT_PAPER,
    "yelp": replace(_TEXT_PAPER, epochs=150),
    "short_yelp": _TEXT_PAPER,
    "synthetic": replace(_TEXT_PAPER, epochs=50),
    "omniglot": _IMAGE_PAPER,
}
# cpu: explicit subsampling and fewer epochs, scaled so that one model trains in minutes on one
# core (Table 1 and Figure 2 are 118 runs); annealing and decay rules keep the paper's shape, in
# fewer epochs. Yahoo against the paper (docs/implementation.md §3.1, §6.1): documents of <= 60 words (4,053 of the
# 9,000 mirror training documents; paper: 100k of up to 200 words), the 5,000 most frequent tokens
# (paper: 20,000; 10 % of the tokens become _UNK), 394 valid / 500 test documents (paper: 10k each),
# 15 epochs (paper: 100), annealing over 5 (paper: 10), IW-NLL with 100 samples (paper: 500), in
# fp32 like the paper. Table 1 and Figure 2 were first trained with bf16 matrix products; the fp32
# check (duvae/experiments/precision.py, 3 rows x 3 seeds) moved no row's NLL beyond its
# seed spread but moved DU-VAE (0.6, 0.8)'s KL (-0.32 against 0.28) and both DU-VAE rows' AU
# (+1.7 and -2.7 against 1.2 and 1.5), so by the precision check's rule the profile trains Yahoo in fp32 (a
# cpu Yahoo step costs about 1.45x its bf16 time and the IW-NLL 2.3x, README "Speed").
_CPU_TRAIN = {
    "yahoo": replace(_TEXT_PAPER, epochs=15, max_train=9000, max_len=60, max_vocab=5000, warm_up=5,
                     decay_min_epoch=8, decay_patience=2, eval_iw_samples=100, max_test=500,
                     precision="fp32"),
    "yelp": replace(_TEXT_PAPER, epochs=30, max_train=9000, max_len=100, warm_up=5, decay_min_epoch=8,
                    decay_patience=2, eval_iw_samples=100, max_test=1000),
    "short_yelp": replace(_TEXT_PAPER, epochs=20, max_train=20000, max_valid=2000, max_test=2000, warm_up=5,
                          decay_min_epoch=8, decay_patience=2, eval_iw_samples=100),
    "synthetic": replace(_TEXT_PAPER, epochs=30, warm_up=5, decay_min_epoch=8, decay_patience=2,
                         eval_iw_samples=100),
    # Omniglot against the paper (docs/implementation.md §3.2, §6.3): 5,000 training images (paper:
    # 23,345), 500 valid / 500 test (paper: 1,345 / 8,070), 15 epochs (paper: 500, with early
    # stopping), annealing over 5, lr patience 5 (paper: 20), IW-NLL with 100 samples (paper: 500); fp32.
    "omniglot": replace(_IMAGE_PAPER, epochs=15, max_train=5000, max_valid=500, max_test=500, warm_up=5,
                        decay_patience=5, eval_iw_samples=100),
}
_SMOKE_TRAIN = {
    ds: replace(
        _PAPER_TRAIN[ds],
        epochs=2,
        steps_per_epoch=3,
        batch_size=8,
        min_batch_size=1,
        warm_up=1,
        decay_min_epoch=0,
        decay_patience=1,
        max_train=128,
        max_valid=32,
        max_test=16,
        max_len=20,
        eval_iw_samples=8,
    )
    for ds in DATASETS
}
# short Yelp (Table 2) has MAE, whose pairwise term needs two posteriors in every batch
_SMOKE_TRAIN["short_yelp"] = replace(_SMOKE_TRAIN["short_yelp"], min_batch_size=2)


def train_config(dataset: str, profile: str) -> TrainConfig:
    """The optimisation schedule of ``dataset`` under ``profile``."""
    check_profile(profile)
    _check_dataset(dataset)
    return {"paper": _PAPER_TRAIN, "cpu": _CPU_TRAIN, "smoke": _SMOKE_TRAIN}[profile][dataset]


# smoke: the costly procedures shrink too (SA-VAE's refinement steps, Agg-VAE's inner loop)
_SMOKE_MODEL = {"svi_steps": 2, "agg_max_inner": 4, "flow_width": 4}
# cpu: a narrower MADE (H = 8 nz instead of 60 nz) and 5 SVI steps instead of 10
_CPU_MODEL = {"svi_steps": 5, "flow_width": 8}
# cpu, Table 1's data sets only: the two costly procedures, cut to what the cost table affords.
# Measured at the cpu sizes, one thread: an SA-VAE step (exact second order through the unrolled
# steps) costs 9.1x a VAE step on Omniglot and 24.7x on Yahoo at K = 5, 3.9x and 7.8x at K = 2;
# the Omniglot Agg-VAE at K = 100 inner steps spent 7 of its 15 epochs aggressive, 408-1,042 s
# each against 21 s for a plain epoch (71 min a run). So: SA-VAE K = 2 (paper: 10); Agg-VAE at
# most 20 inner steps (paper: 100) and at most 2 aggressive epochs (paper: He et al.'s exit rule
# alone), the exit rule still applies. Table 2's short Yelp takes the same caps (its Agg-VAE is one
# of 11 rows x 3 seeds). The synthetic set of Figure 1 keeps the cpu values above.
_CPU_PROCEDURE_DATASETS = ("yahoo", "yelp", "omniglot", "short_yelp")
_CPU_PROCEDURE = {"sa_vae": {"svi_steps": 2}, "agg_vae": {"agg_max_inner": 20, "agg_max_epochs": 2}}


# per-model schedules on text: He et al.'s README trains Agg-VAE with kl_start 0.1, warm_up 10
_MODEL_TRAIN = {"agg_vae": {"kl_start": 0.1, "warm_up": 10.0}}


def run_config(name: str, dataset: str, profile: str = "cpu", *, seed: int | None = None, **model_overrides) -> RunConfig:
    """The full, validated :class:`RunConfig` of model ``name`` on ``dataset`` under ``profile``.

    ``model_overrides`` replace model hyper-parameters (e.g. ``gamma=0.5, p_keep=0.9``).
    """
    train = train_config(dataset, profile)
    if name in _MODEL_TRAIN and dataset in TEXT_DATASETS and profile != "smoke":
        train = replace(train, **_MODEL_TRAIN[name])
    shrink = {"smoke": _SMOKE_MODEL, "cpu": _CPU_MODEL, "paper": {}}[profile]
    if profile == "cpu" and dataset in _CPU_PROCEDURE_DATASETS:
        shrink = {**shrink, **_CPU_PROCEDURE.get(name, {})}
    model_overrides = {**shrink, **model_overrides}
    if seed is not None:
        train = replace(train, seed=seed)
    cfg = RunConfig(
        dataset=dataset,
        model=model_config(name, dataset, **model_overrides),
        net=net_config(dataset, profile),
        train=train,
        profile=profile,
    )
    return cfg.validate()


# --- building a model from its config ------------------------------------------------------


def build_head(cfg: RunConfig, in_features: int):
    """The posterior head of ``cfg.model`` (the remedy that acts on q's parameters).

    Text heads have no bias (docs/implementation.md §1.1, step 1; §1.5, item 1), image heads have one.
    """
    from duvae.posteriors import BNVAEHead, DeltaHead, DUHead, GaussianHead, IAFHead

    m, nz, bias = cfg.model, cfg.net.nz, not cfg.is_text
    if m.head == "gaussian":
        return GaussianHead(in_features, nz, bias=bias, delta_rate=m.delta_rate,
                            floor_after_annealing=m.switch_on_after_annealing)
    if m.head == "du":
        if not m.learnable_scale:
            raise ValueError(f"{m.name}: the DU head always learns its renormalised BN scales")
        return DUHead(in_features, nz, gamma=m.gamma, p_keep=m.p_keep, bias=bias, delta_rate=m.delta_rate,
                      switch_on_after_annealing=m.switch_on_after_annealing)
    if m.head == "bn":
        return BNVAEHead(in_features, nz, gamma=m.gamma, bias=bias)
    if m.head == "delta":
        return DeltaHead(in_features, nz, delta=m.delta, bias=bias)
    if m.head == "iaf":
        return IAFHead(in_features, nz, flow_depth=m.flow_depth, flow_width=m.flow_width, gamma=m.gamma,
                       p_keep=m.p_keep, delta_rate=m.delta_rate, learnable_scale=m.learnable_scale,
                       drop_start=1.0 if m.switch_on_after_annealing else 0.0, bias=bias)
    raise ValueError(f"unknown head {m.head!r}")


def build_model(cfg: RunConfig, vocab_size: int | None = None):
    """A :class:`~duvae.vae.VAE` for ``cfg`` (text needs ``vocab_size``).

    Initialisation as docs/implementation.md §2.1, §2.2, §2.3.
    """
    from torch import nn

    from duvae.nets import LSTMDecoder, LSTMEncoder, PixelCNNDecoder, ResNetEncoder
    from duvae.vae import VAE

    cfg.validate()
    n = cfg.net
    if cfg.is_text:
        if vocab_size is None or vocab_size < 5:
            raise ValueError(f"a text model needs the vocabulary size, got {vocab_size}")
        # BN encoders (DU-VAE, BN-VAE) keep PyTorch's default init, the others the small uniform one
        bn_encoder = cfg.model.head in ("du", "bn")
        encoder = LSTMEncoder(vocab_size, n.emb_dim, n.enc_hidden, init="default" if bn_encoder else "small")
        decoder = LSTMDecoder(vocab_size, n.emb_dim, n.dec_hidden, n.nz, dropout_in=n.dec_dropout_in,
                              dropout_out=n.dec_dropout_out, word_dropout=n.dec_word_dropout,
                              predict_eos=n.dec_predict_eos)
        head = build_head(cfg, encoder.out_features)
        if not bn_encoder:
            # the plain / IAF text heads: U(-0.01, 0.01) (docs/implementation.md §2.1)
            for p in head.linear.parameters():
                nn.init.uniform_(p, -0.01, 0.01)
    else:
        encoder = ResNetEncoder(1, n.img_channels, n.img_feature_dim)
        decoder = PixelCNNDecoder(n.nz, channels=n.pixelcnn_channels or n.img_channels,
                                  kernel_sizes=n.pixelcnn_kernels, gated=n.pixelcnn_gated)
        head = build_head(cfg, encoder.out_features)
        nn.init.xavier_uniform_(head.linear.weight)  # docs/implementation.md §2.2: final linear Xavier-uniform, bias 0
        if head.linear.bias is not None:
            nn.init.zeros_(head.linear.bias)
    return VAE(encoder, head, decoder, n.nz)
