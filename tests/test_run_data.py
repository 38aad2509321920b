"""A run's data (duvae.runs.run_data) on the real data sets, at smoke sizes."""

from __future__ import annotations

import pytest
import torch

from duvae.runs.run_data import load_run_data
from duvae.runs.zoo import run_config


@pytest.mark.parametrize("dataset", ["yahoo", "short_yelp", "synthetic", "omniglot"])
def test_run_data_batches(dataset, mirror, data_cache):
    cfg = run_config("vae", dataset, "smoke")
    data = load_run_data(cfg, mirror=mirror, cache_dir=data_cache)
    t = cfg.train
    epoch0 = list(data.train_batches(0))
    assert len(epoch0) == data.n_train_batches > 0
    assert all(t.min_batch_size <= len(b) <= t.batch_size for b in epoch0)
    # the order of an epoch is a function of (seed, epoch) only: a resumed run sees the same batches
    again = list(data.train_batches(0))
    assert all(torch.equal(a, b) for a, b in zip(epoch0, again))
    epoch1 = list(data.train_batches(1))
    assert not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(epoch0, epoch1))
    assert data.valid and data.test
    g = torch.Generator().manual_seed(0)
    extra = data.sample_train_batch(g)
    if data.kind == "text":
        assert data.vocab_size and data.vocab_size > 4
        for b in epoch0 + data.valid + [extra]:
            assert b.dtype == torch.long and (b[:, 0] == 1).all() and (b[:, -1] == 2).all()
            assert int(b.max()) < data.vocab_size
        n_valid = sum(len(b) for b in data.valid)
        assert n_valid <= (t.max_valid or n_valid)
    else:
        for b in epoch0 + data.valid + data.test + [extra]:
            assert b.shape[1:] == (1, 28, 28)
            assert set(b.unique().tolist()) <= {0.0, 1.0}
        assert sum(len(b) for b in data.test) == t.max_test


def test_long_yelp_is_refused_with_a_clear_error(mirror, data_cache):
    with pytest.raises(FileNotFoundError, match="Yelp"):
        load_run_data(run_config("vae", "yelp", "smoke"), mirror=mirror, cache_dir=data_cache)
