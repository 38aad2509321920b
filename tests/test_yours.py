"""Your own data (docs/your_data.md): reading and checking it, its runs, and notebook 13.

The data are made here: a small labelled corpus of generated sentences and a small set of generated
binary images. Every bad input stops the sweep with one message naming the file and the line (or
image index), before anything is written.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from duvae.sweep import engine as sweep
from duvae.book.run import run_notebook
from duvae.book.sources import NOTEBOOK_DIR
from duvae.data import your_files as data_yours
from duvae.data.your_files import DataError
from duvae.experiments import yours
from duvae.runs.run_data import load_run_data
from duvae.runs.trainer import fit, load_checkpoint, train_or_load
from duvae.runs.zoo import build_model

WORDS = "the a cat dog sat ran on under mat tree big small red blue and then".split()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test writes under its tmp_path and leaves the environment as it found it."""
    for name in (yours.ENV_DATA, yours.ENV_KIND):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(yours.ENV_DIR, str(tmp_path / "yours"))
    monkeypatch.setenv("DUVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DUVAE_RESULTS_DIR", str(tmp_path / "results"))


def sentences(n: int, seed: int = 0) -> list[str]:
    """``label<TAB>words``: label ``up`` for sentences that start with "the", ``down`` otherwise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(3, 9))]
        out.append(f"{'up' if words[0] == 'the' else 'down'}\t{' '.join(words)}")
    return out


def write_corpus(folder: Path, n=(160, 40, 40), seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = sentences(sum(n), seed)
    for name, part in zip(data_yours.TEXT_FILES, (lines[:n[0]], lines[n[0]:n[0] + n[1]], lines[n[0] + n[1]:])):
        (folder / name).write_text("\n".join(part) + "\n", encoding="utf-8")
    return folder


def write_images(path: Path, n: int = 60, **changes) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"images": (rng.random((n, 28, 28)) < 0.2).astype(np.float32), "labels": rng.integers(0, 3, n)}
    arrays.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def sweep_argv(data, tmp_path, *more) -> list[str]:
    return ["yours", "--data", str(data), "--profile", "smoke", "--seeds", "1", "--executor", "inline",
            "--device", "cpu", "--results-dir", str(tmp_path / "res"), "--runs-dir", str(tmp_path / "runs"), *more]


# ----------------------------------------------------------------------------------------------
# reading good data
# ----------------------------------------------------------------------------------------------


def test_a_text_folder_becomes_a_corpus_with_its_caps_reported(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    lines = (folder / "train.txt").read_text().splitlines()
    lines[5] = "down\t" + " ".join(["cat"] * 30)  # one document over the length cap of 20 words
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    corpus = data_yours.text_corpus(folder, max_len=20, max_vocab=10)
    assert corpus.report["train"]["over_length_cap"] == 1 and corpus.report["train"]["used"] == 159
    assert len(corpus.vocab) == 10 and 0 < corpus.report["test"]["unknown_share"] < 1
    assert corpus.label_names == ("down", "up") and corpus.train.labels is not None
    assert "dropped: train 1 of 160" in corpus.notes
    # the label follows the text: "up" exactly for the documents that start with "the"
    corpus = data_yours.text_corpus(folder, max_len=20)
    first = corpus.vocab.stoi["the"]
    starts = torch.tensor([int(corpus.train[i][1]) for i in range(len(corpus.train))])
    assert torch.equal(corpus.train.labels == corpus.label_names.index("up"), starts == first)


def test_one_text_file_is_split_by_the_stated_seeded_ratio(tmp_path):
    path = tmp_path / "all.txt"
    path.write_text("\n".join(s.split("\t")[1] for s in sentences(200)) + "\n")
    source = data_yours.read_text(path)
    assert [len(source.docs[s]) for s in data_yours.SPLITS] == [160, 20, 20]
    assert not source.labelled
    lines = sorted(sum((source.lines[s] for s in data_yours.SPLITS), []))
    assert lines == list(range(1, 201))  # every line once
    assert source.lines == data_yours.read_text(tmp_path / "all.txt").lines  # the same split every time


# ----------------------------------------------------------------------------------------------
# bad data: one clear error naming the file and the line / index, nothing written
# ----------------------------------------------------------------------------------------------


def _refused(data, tmp_path, *expected: str) -> str:
    """The sweep on ``data`` stops with a message holding every ``expected`` piece; nothing is written."""
    with pytest.raises(SystemExit) as stop:
        sweep.main(sweep_argv(data, tmp_path))
    message = str(stop.value)
    assert message.startswith("error: ") and message.count("\n") == 0, message
    for piece in expected:
        assert piece in message, (piece, message)
    for folder in ("res", "runs", "yours", "results"):
        assert not (tmp_path / folder).exists(), f"{folder} was written"
    return message


def test_an_empty_file_is_refused(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    (folder / "valid.txt").write_text("")
    _refused(folder, tmp_path, str(folder / "valid.txt"), "empty file")


def test_a_missing_split_is_refused(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    (folder / "valid.txt").unlink()
    _refused(folder, tmp_path, str(folder / "valid.txt"), "missing split")


def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    lines = (folder / "test.txt").read_bytes().split(b"\n")
    lines[6] = b"up\tthe caf\xe9 is big"  # Latin-1, line 7
    (folder / "test.txt").write_bytes(b"\n".join(lines))
    _refused(folder, tmp_path, f"{folder / 'test.txt'}, line 7", "not UTF-8", "0xe9")


def test_a_blank_line_is_refused_with_its_line(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    lines = (folder / "train.txt").read_text().splitlines()
    lines.insert(11, "   ")
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    _refused(folder, tmp_path, f"{folder / 'train.txt'}, line 12", "blank line")


def test_a_label_on_some_lines_only_is_refused_with_the_first_line_that_lacks_it(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    lines = (folder / "train.txt").read_text().splitlines()
    lines[20] = lines[20].split("\t")[1]  # line 21 without its label
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    _refused(folder, tmp_path, f"{folder / 'train.txt'}, line 21 has no label", "line 1 has")


def test_labels_in_one_file_and_not_in_another_are_refused(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    lines = [line.split("\t")[1] for line in (folder / "test.txt").read_text().splitlines()]
    (folder / "test.txt").write_text("\n".join(lines) + "\n")
    _refused(folder, tmp_path, f"{folder / 'test.txt'}, line 1 has no label", str(folder / "train.txt"))


def test_images_with_nan_are_refused_with_the_image_index(tmp_path):
    images = (np.random.default_rng(1).random((60, 28, 28)) < 0.2).astype(np.float32)
    images[17, 3, 4] = np.nan
    path = write_images(tmp_path / "x.npz", images=images)
    _refused(path, tmp_path, str(path), "image 17", "NaN", "(3, 4)")


def test_images_outside_zero_one_are_refused_with_the_image_index(tmp_path):
    images = (np.random.default_rng(1).random((60, 28, 28)) < 0.2).astype(np.float32)
    images[42, 10, 0] = 255.0
    path = write_images(tmp_path / "x.npz", images=images)
    _refused(path, tmp_path, str(path), "image 42", "outside [0, 1]", "divide by 255")


def test_images_with_the_wrong_number_of_dimensions_are_refused(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((60, 1, 28, 28), dtype=np.float32))
    _refused(path, tmp_path, str(path), "4 dimension(s)", "[N, H, W]")


def test_images_of_a_size_the_networks_do_not_take_are_refused_naming_the_sizes_they_do(tmp_path):
    path = write_images(tmp_path / "x.npz", images=np.zeros((60, 32, 32), dtype=np.float32))
    _refused(path, tmp_path, str(path), "32 x 32", "take 28 x 28")


def test_labels_whose_count_does_not_match_the_images_are_refused(tmp_path):
    path = write_images(tmp_path / "x.npz", labels=np.zeros(59, dtype=np.int64))
    _refused(path, tmp_path, str(path), "'labels' has shape (59,)", "60 images")


def test_a_kind_that_does_not_match_the_path_is_refused(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    with pytest.raises(SystemExit, match="kind='image' was asked for"):
        sweep.main(sweep_argv(folder, tmp_path, "--kind", "image"))
    assert not (tmp_path / "res").exists()


# ----------------------------------------------------------------------------------------------
# the runs: identity, resumption, results
# ----------------------------------------------------------------------------------------------


def test_the_run_id_covers_the_data_not_where_it_lives(tmp_path):
    a = write_corpus(tmp_path / "a")
    same = write_corpus(tmp_path / "elsewhere" / "a")  # the same bytes in another folder
    changed = write_corpus(tmp_path / "b")
    lines = (changed / "train.txt").read_text().splitlines()
    lines[0] = "up\tthe dog sat"
    (changed / "train.txt").write_text("\n".join(lines) + "\n")
    ids = {name: [c.run_id() for c in yours.runs("smoke", 1, ["vae", "du_vae"], folder)]
           for name, folder in (("a", a), ("same", same), ("changed", changed))}
    assert ids["a"] == ids["same"]
    assert all(x != y for x, y in zip(ids["a"], ids["changed"]))
    assert all(i.startswith("yours_text-") for i in ids["a"])
    # a run planned on the old bytes refuses the new ones instead of training on them
    cfg = yours.runs("smoke", 1, ["vae"], changed)[0]
    (changed / "test.txt").write_text((changed / "test.txt").read_text() + "up\tthe end\n")
    with pytest.raises(DataError, match="changed since run"):
        load_run_data(cfg)


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    cfg = yours.runs("smoke", 1, ["du_vae"], folder)[0]
    cfg = cfg.with_(train=dataclasses.replace(cfg.train, epochs=4, steps_per_epoch=None))
    data = load_run_data(cfg)
    assert data.kind == "text" and data.n_train == 128  # smoke keeps 128 training documents

    def fresh():
        torch.manual_seed(cfg.train.seed)
        return build_model(cfg, vocab_size=data.vocab_size)

    full = fresh()
    hist_full = fit(full, data, cfg, tmp_path / "full", progress=False)
    part = fresh()
    fit(part, data, cfg, tmp_path / "resumed", progress=False, stop_after_epochs=2)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["state"]["epoch"] == 2
    torch.manual_seed(12345)  # a resumed process starts with unrelated RNG state
    resumed = fresh()
    hist_resumed = fit(resumed, data, cfg, tmp_path / "resumed", progress=False)
    assert len(hist_full) == len(hist_resumed) == 4
    assert [r["loss"] for r in hist_full] == [r["loss"] for r in hist_resumed]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_the_sweep_writes_results_to_the_users_folder_and_reads_them_back(tmp_path, monkeypatch):
    folder = write_corpus(tmp_path / "corpus")
    argv = ["yours", "--data", str(folder), "--profile", "smoke", "--seeds", "1", "--models", "vae", "du_vae",
            "--executor", "inline", "--device", "cpu"]
    assert sweep.main(argv) == 0
    out = tmp_path / "yours" / "smoke" / "yours"  # $DUVAE_YOURS_DIR, not the paper's results/
    assert sorted(p.name.split("-")[1] for p in out.glob("*.json")) == ["du_vae", "vae"]
    assert not (tmp_path / "results").exists()
    records = yours.results("smoke", 1, ["vae", "du_vae"], folder)
    assert [r["model"] for r in records] == ["vae", "du_vae"]
    for r in records:
        e = r["extra"]
        assert math.isfinite(r["metrics"]["nll"]) and r["dataset"] == "yours_text"
        assert e["probe"]["classes"] == 2 and 0 <= e["probe"]["accuracy"] <= 1
        assert len(e["code_gain"]["per_example"]) == 16 and e["reconstructions"] and e["homotopies"]
        assert e["data"]["train"]["used"] == 128 and e["data"]["labels"] == ["down", "up"]
    t = yours.table(records)
    assert list(t.index) == ["VAE", "DU-VAE (0.6, 0.8)"] and set(t["verdict"]) <= {yours.ALIVE, yours.COLLAPSED,
                                                                                  yours.PARTLY}
    assert "probe accuracy" in t.columns
    text = yours.reading(records)
    assert "nats per document" in text and "One seed per model" in text

    # a second sweep finds both runs done and trains nothing
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("duvae.runs.trainer.fit", no_training)
    assert sweep.main(argv) == 0
    # the run's checkpoint is there, and loading it gives the committed metrics
    run = train_or_load(yours.runs("smoke", 1, ["vae"], folder)[0], device="cpu", progress=False)
    assert run.metrics["nll"] == records[0]["metrics"]["nll"]


def test_an_image_run_gets_its_grids_and_its_probe(tmp_path):
    path = write_images(tmp_path / "shapes.npz")
    assert sweep.main(sweep_argv(path, tmp_path, "--models", "vae")) == 0
    records = yours.results("smoke", 1, ["vae"], path, results_dir=tmp_path / "res")
    (r,) = records
    assert r["dataset"] == "yours_image" and r["extra"]["probe"]["classes"] == 3
    folder = tmp_path / "res" / "smoke" / "yours"
    names = {"reconstructions", "prior", "homotopy"}
    grids = yours.grid_paths(records, folder)
    assert grids and set(grids[0][1]) == names and all(p.is_file() for p in grids[0][1].values())
    data = yours.data_report(path, None, "smoke")[0]
    assert list(data["images"]) == [48, 6, 6] and list(data["used"]) == [48, 6, 6]


# ----------------------------------------------------------------------------------------------
# the verdict and the gain, on constructed numbers and models
# ----------------------------------------------------------------------------------------------


def test_the_collapse_verdict_follows_its_stated_rule():
    noise = 0.2
    assert yours.collapse_verdict(5.0, 2.0, 12, noise) == yours.ALIVE
    assert yours.collapse_verdict(0.05, 0.1, 0, noise) == yours.COLLAPSED
    assert yours.collapse_verdict(0.05, 0.39, 3, noise) == yours.COLLAPSED  # MI within 2 x its noise
    assert yours.collapse_verdict(5.0, 0.3, 12, noise) == yours.PARTLY  # a KL, but no MI above noise
    assert yours.collapse_verdict(1.0, 0.9, 2, noise) == yours.PARTLY  # MI, but a KL under 1.5 nats
    assert yours.collapse_verdict(2.0, None, None, None, iaf=True) == yours.ALIVE  # IAF: KL alone
    assert yours.collapse_verdict(0.2, None, None, None, iaf=True) == yours.COLLAPSED


def _record(model: str, label: str, seed: int, nll: float, kl: float, mi: float, au: int) -> dict:
    return {"model": model, "seed": seed, "wall_seconds": 60.0, "dataset": "yours_text",
            "metrics": {"nll": nll, "kl": kl, "mi": mi, "au": au},
            "extra": {"row": label, "kind": "text", "mi": {"collapsed_std": 0.2}, "draws": 100,
                      "code_gain": {"mean": 3.0 if kl > 1 else 0.0}, "probe": {},
                      "reconstructions": [{"distinct": 40 if kl > 1 else 1}]}}


def test_the_reading_names_the_model_that_stayed_alive_and_its_cost_against_the_seed_spread():
    vae = [_record("vae", "VAE", s, 100.0 + 0.1 * s, 0.01, 0.02, 0) for s in range(3)]
    du = [_record("du_vae", "DU-VAE (0.6, 0.8)", s, 102.0 + 0.1 * s, 6.0, 4.0, 20) for s in range(3)]
    text = yours.reading(vae + du)
    assert "**Kept the latent space alive:** DU-VAE (0.6, 0.8) (rule" in text
    assert "it costs 2.00 nats per document against the best NLL, VAE's 100.10 (collapsed)" in text
    assert "larger than the seed spread (0.10): a real cost" in text
    assert "**Collapsed:** VAE" in text
    close = [_record("du_vae", "DU-VAE (0.6, 0.8)", s, 100.1 + 0.5 * s, 6.0, 4.0, 20) for s in range(3)]
    assert "within the seed spread" in yours.reading(vae + close)
    assert [v for v in yours.table(vae + du)["verdict"]] == [yours.COLLAPSED, yours.ALIVE]


class _Posterior:
    def __init__(self, mu):
        self.mu = mu


class _Model:
    """``x [B, 1, 2, 2]`` images; the code is the image's mean, the decoder a Gaussian around ``w * z``."""

    def __init__(self, uses_z: bool, same_code: bool = False):
        self.w = 1.0 if uses_z else 0.0
        self.same_code = same_code

    def posterior(self, x):
        mu = x.flatten(1).mean(1, keepdim=True)
        return _Posterior(torch.zeros_like(mu) if self.same_code else mu)

    def log_likelihood(self, x, z):  # [S, B]
        return -((x.flatten(1)[None] - self.w * z) ** 2).sum(-1)


def test_the_gain_from_the_code_is_zero_when_the_decoder_ignores_it_or_every_code_is_the_same():
    x = torch.rand(40, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    batches = list(x.split(8))
    gains = {}
    for name, model in (("uses", _Model(True)), ("ignores", _Model(False)), ("same", _Model(True, same_code=True))):
        gains[name] = yours.code_gain(model, batches, 24, 5, torch.Generator().manual_seed(1))
    assert gains["uses"]["mean"] > 0.05 and gains["uses"]["n"] == 24
    assert gains["ignores"]["mean"] == 0.0 and gains["same"]["mean"] == 0.0


# ----------------------------------------------------------------------------------------------
# notebook 13, through papermill, on a corpus given as its data parameter
# ----------------------------------------------------------------------------------------------


def test_notebook_13_runs_on_given_data_at_smoke(tmp_path):
    folder = write_corpus(tmp_path / "corpus")
    source = NOTEBOOK_DIR / "13_your_data.py"
    run = run_notebook(source, tmp_path / "build", profile="smoke", seed=0, device="cpu", timeout=300,
                       extra={"data": str(folder), "kind": "text", "unknown": 1})
    assert run.ok, run.error
    tables = tmp_path / "build" / "tables"
    models = (tables / "13_models.md").read_text()
    assert "DU-VAE (0.6, 0.8)" in models and "probe accuracy" in models
    reading = (tables / "13_reading.md").read_text()
    assert "Demo data" not in reading and "nats per document" in reading
    assert len(list((tmp_path / "yours" / "smoke" / "yours").glob("*.json"))) == 3  # the default three models
    assert (tmp_path / "build" / "figures" / "13_curves.png").is_file()
