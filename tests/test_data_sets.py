"""The four data sets and the text batching (duvae.data.{omniglot,text,yahoo,short_yelp,synthetic}).

The loaders read the local mirror (fixture ``mirror``) and cache into the session's ``data_cache``;
each data set is loaded once per module. Checks compare against independent computations (raw
files re-read here, pooling done another way, counts recomputed).
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from duvae.data import omniglot as omni
from duvae.data.short_yelp import LABEL_SUBSET_SIZES, labelled_subset, load_short_yelp, sentence_pools
from duvae.data.synthetic import MIXTURE_MEANS, SyntheticConfig, load_synthetic, mixture_log_density
from duvae.data.text import BOS_ID, EOS_ID, PAD_ID, UNK_ID, TextDataset, Vocab, bucket_batches
from duvae.data.yahoo import load_yahoo

# ----------------------------------------------------------------------------------------------
# fixtures: each data set once per module
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def omniglot(mirror, data_cache):
    return omni.load_omniglot(mirror, data_cache, progress=False)


@pytest.fixture(scope="module")
def yahoo(mirror, data_cache):
    return load_yahoo(mirror, data_cache, progress=False)


@pytest.fixture(scope="module")
def yelp(mirror, data_cache):
    return load_short_yelp(mirror, data_cache, progress=False)


SMALL_SYNTHETIC = SyntheticConfig(n_train=1500, n_test=500)


@pytest.fixture(scope="module")
def synthetic():
    return load_synthetic(SMALL_SYNTHETIC)


# ----------------------------------------------------------------------------------------------
# Omniglot
# ----------------------------------------------------------------------------------------------


def test_omniglot_sizes_and_shapes(omniglot):
    assert len(omniglot.train) + len(omniglot.valid) == 1623 * 15 == 24_345
    assert len(omniglot.valid) == 2000 and len(omniglot.test) == 1623 * 5 == 8_115
    for split in (omniglot.train, omniglot.valid, omniglot.test):
        assert split.images.shape == (len(split), 1, 28, 28) and split.images.dtype == torch.float32
        assert split.images.min() >= 0 and split.images.max() <= 1
        for labels in (split.char_id, split.alphabet, split.char_in_alphabet, split.drawer):
            assert labels.shape == (len(split),) and labels.dtype == torch.long


def test_omniglot_binarisation_and_gray_levels(omniglot):
    for split in (omniglot.valid, omniglot.test):
        assert split.binarized and set(split.images.unique().tolist()) <= {0.0, 1.0}
    train = omniglot.train.images
    assert not omniglot.train.binarized
    assert ((train > 0) & (train < 1)).float().mean() > 0.01  # genuinely gray
    # ink is 1: strokes are a small fraction of the image (raw files: background mean ~0.92)
    assert 0.03 < train.mean() < 0.2


def test_omniglot_drawer_split_and_labels(omniglot):
    pool_char = torch.cat([omniglot.train.char_id, omniglot.valid.char_id])
    pool_drawer = torch.cat([omniglot.train.drawer, omniglot.valid.drawer])
    assert torch.equal(torch.bincount(pool_char, minlength=1624)[1:], torch.full((1623,), 15))
    assert torch.equal(torch.bincount(omniglot.test.char_id, minlength=1624)[1:], torch.full((1623,), 5))
    assert pool_drawer.max() == 14 and omniglot.test.drawer.min() == 15
    # every (character, drawer) pair exactly once across the three splits
    keys = torch.cat([pool_char * 20 + pool_drawer, omniglot.test.char_id * 20 + omniglot.test.drawer])
    assert keys.unique().numel() == 1623 * 20
    for split in (omniglot.train, omniglot.test):
        assert split.alphabet.unique().numel() == 50


def test_omniglot_alphabet_table():
    # independent lookup: one entry per character id from the (name, first, last) table
    table = torch.full((1624,), -1, dtype=torch.long)
    within = torch.full((1624,), -1, dtype=torch.long)
    for a, (_, first, last) in enumerate(omni.ALPHABETS):
        assert (table[first : last + 1] == -1).all()  # ranges do not overlap
        table[first : last + 1] = a
        within[first : last + 1] = torch.arange(last - first + 1)
    assert (table[1:] >= 0).all() and len(omni.ALPHABETS) == 50  # contiguous cover of 1..1623
    assert sum(last - first + 1 for _, first, last in omni.ALPHABETS[:30]) == 964
    ids = torch.arange(1, 1624)
    alphabet, index = omni.alphabet_of(ids)
    assert torch.equal(alphabet, table[1:]) and torch.equal(index, within[1:])
    with pytest.raises(ValueError, match="1624"):
        omni.alphabet_of(torch.tensor([1624]))


def test_area_resize_matrix_is_a_box_filter():
    R = omni.area_resize_matrix(105, 28)
    assert torch.allclose(R.sum(1), torch.ones(28, dtype=torch.float64))
    x = torch.rand(3, 8, 8)
    assert torch.allclose(omni.resize_images(x, 4), F.avg_pool2d(x[:, None], 2)[:, 0], atol=1e-6)
    # 105 -> 28: replicate every pixel 4x (420 = 28 * 15) and average 15x15 blocks, an exact
    # area average computed another way
    x = (torch.rand(2, 105, 105) > 0.7).float()
    up = x.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, None]
    assert torch.allclose(omni.resize_images(x, 28), F.avg_pool2d(up, 15)[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="bicubic"):
        omni.resize_images(x, 28, method="bicubic")


def test_omniglot_images_match_the_raw_files(omniglot, mirror):
    raw = np.load(mirror / "omniglot/images_evaluation.npz")["images"]  # chars 965..1623
    train = omniglot.train
    evaluation = (train.char_id > 964).nonzero().squeeze(1)
    for i in (evaluation[0], evaluation[311], evaluation[-1]):
        c, d = int(train.char_id[i]), int(train.drawer[i])
        ink = torch.from_numpy(~raw[c - 965, d]).float()  # True = background in the file
        expected = F.avg_pool2d(ink.repeat_interleave(4, 0).repeat_interleave(4, 1)[None, None], 15)[0]
        assert torch.allclose(train.images[i], expected, atol=1e-5)


def test_dynamic_binarize(omniglot):
    x = omniglot.train.images
    a, b = omni.dynamic_binarize(x), omni.dynamic_binarize(x)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and not torch.equal(a, b)
    assert abs(a.mean() - x.mean()) < 2e-3  # E[Bernoulli(p)] = p, over 17.5M pixels
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(omni.dynamic_binarize(x[:50], g1), omni.dynamic_binarize(x[:50], g2))
    with pytest.raises(ValueError, match="dtype"):
        omni.dynamic_binarize(torch.zeros(2, dtype=torch.long))


def test_omniglot_seeds_cache_and_options(omniglot, mirror, data_cache, monkeypatch):
    # the processed gray array is cached: a reload must not touch the raw files
    monkeypatch.setattr(omni, "_load_raw", lambda path: pytest.fail("raw files re-processed"))
    again = omni.load_omniglot(mirror, data_cache, progress=False)
    assert torch.equal(again.test.images, omniglot.test.images)
    assert torch.equal(again.valid.char_id, omniglot.valid.char_id)
    other = omni.load_omniglot(mirror, data_cache, seed=1, n_valid=0, max_train=1000, progress=False)
    assert not torch.equal(other.test.images, omniglot.test.images)
    assert len(other.valid) == 0 and len(other.train) == 1000
    assert other.train.drawer.max() <= 14
    for bad in ({"n_valid": -1}, {"n_valid": 24_345}, {"max_train": 0}, {"resize": "nearest"}):
        with pytest.raises(ValueError):
            omni.load_omniglot(mirror, data_cache, progress=False, **bad)


# ----------------------------------------------------------------------------------------------
# Vocab, TextDataset, bucketing
# ----------------------------------------------------------------------------------------------


def test_vocab_build_encode_decode(tmp_path):
    sentences = [["a", "b", "a"], ["b", "c"], ["a"]]
    vocab = Vocab.build(sentences, min_count=2)
    assert vocab.itos == ["<pad>", "<s>", "</s>", "<unk>", "a", "b"]  # a:3, b:2, c:1 dropped
    assert vocab.encode(["a", "c", "b"]) == [BOS_ID, 4, UNK_ID, 5, EOS_ID]
    assert vocab.decode([BOS_ID, 4, UNK_ID, 5, EOS_ID, 4]) == ["a", "<unk>", "b"]
    vocab.save(tmp_path / "v.txt")
    assert Vocab.from_file(tmp_path / "v.txt").itos == vocab.itos
    (tmp_path / "bad.txt").write_text("a\nb\nc\nd\n")
    with pytest.raises(ValueError, match="special"):
        Vocab.from_file(tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="min_count"):
        Vocab.build(sentences, min_count=0)


def _ragged(seed: int = 0, n: int = 300) -> tuple[TextDataset, list[list[int]]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 12, (n,), generator=g).tolist()
    seqs = [[BOS_ID] + torch.randint(4, 50, (k,), generator=g).tolist() + [EOS_ID] for k in lengths]
    labels = torch.randint(0, 3, (n,), generator=g)
    return TextDataset.from_sequences(seqs, labels=labels), seqs


def test_text_dataset_access_subset_pad():
    data, seqs = _ragged()
    assert len(data) == len(seqs) and all(data[i].tolist() == s for i, s in enumerate(seqs))
    idx = torch.tensor([5, 0, 17, 5])
    sub = data.subset(idx)
    assert [sub[i].tolist() for i in range(4)] == [seqs[i] for i in idx.tolist()]
    assert torch.equal(sub.labels, data.labels[idx])
    x, lengths = data.pad(idx)
    for row, i in zip(x.tolist(), idx.tolist()):
        assert row == seqs[i] + [PAD_ID] * (x.shape[1] - len(seqs[i]))
    assert lengths.tolist() == [len(seqs[i]) for i in idx.tolist()]
    words = [["x", "y"], [], ["zz", "x", "q"]]
    vocab = Vocab.build(words)
    encoded = TextDataset.from_sentences(words, vocab)
    assert [encoded[i].tolist() for i in range(3)] == [vocab.encode(w) for w in words]
    with pytest.raises(ValueError, match="identical length"):
        data.gather(idx)


@pytest.mark.parametrize("batch_size, min_batch_size", [(32, 1), (7, 1), (8, 4)])
def test_bucket_batches_cover_and_drop(batch_size, min_batch_size):
    data, seqs = _ragged(n=500)
    batches = data.batch_indices(batch_size, seed=3, min_batch_size=min_batch_size)
    for index in batches:
        assert min_batch_size <= len(index) <= batch_size
        assert data.lengths[index].unique().numel() == 1
    # independent count: per length, full batches plus the remainder if it is big enough
    counts = collections.Counter(len(s) for s in seqs)
    expected = sum(c // batch_size + (c % batch_size >= min_batch_size) for c in counts.values())
    assert len(batches) == expected
    seen = torch.cat(batches).sort().values
    if min_batch_size == 1:
        assert torch.equal(seen, torch.arange(len(seqs)))  # each sentence exactly once
    else:
        assert seen.unique().numel() == len(seen)


def test_bucket_batch_order_is_seeded():
    lengths = _ragged(n=400)[0].lengths
    a = bucket_batches(lengths, 16, seed=1)
    b = bucket_batches(lengths, 16, seed=1)
    c = bucket_batches(lengths, 16, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    plain = bucket_batches(lengths, 16)
    assert torch.equal(torch.cat(plain), torch.argsort(lengths, stable=True))  # sorted, no seed
    shuffled = bucket_batches(lengths, 16, seed=1, shuffle_within_length=True)
    assert torch.equal(torch.cat(shuffled).sort().values, torch.arange(len(lengths)))
    with pytest.raises(ValueError, match="min_batch_size"):
        bucket_batches(lengths, 16, min_batch_size=17)


def test_batches_yield_rows_and_labels():
    data, seqs = _ragged()
    n_rows = 0
    for x, y in data.batches(10, seed=0):
        assert x.dtype == torch.long and x.dim() == 2 and y.shape == (x.shape[0],)
        assert (x[:, 0] == BOS_ID).all() and (x[:, -1] == EOS_ID).all()
        n_rows += x.shape[0]
    assert n_rows == len(seqs)
    assert all(isinstance(x, torch.Tensor) for x in data.batches(10, with_labels=False))


# ----------------------------------------------------------------------------------------------
# Yahoo
# ----------------------------------------------------------------------------------------------


def test_yahoo_mirror_variant(yahoo, mirror):
    assert yahoo.variant == "mirror-valid-split"
    assert (len(yahoo.train), len(yahoo.valid), len(yahoo.test)) == (9_000, 1_000, 10_000)
    assert len(yahoo.vocab) == 20_000
    assert yahoo.vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "_UNK"]
    assert yahoo.vocab.stoi["_UNK"] == UNK_ID and yahoo.vocab.stoi["<bos>"] == BOS_ID
    # independent re-read: the first training document is line 1 of the validation file and the
    # first validation document is its line 9001; ids follow vocab.txt
    ids = {line.split("\t")[0]: int(line.split("\t")[1]) for line in open(mirror / "yahoo/vocab.txt")}
    lines = open(mirror / "yahoo/yahoo.valid.txt").read().splitlines()
    for doc, line in ((yahoo.train[0], lines[0]), (yahoo.valid[0], lines[9000])):
        assert doc.tolist() == [BOS_ID] + [ids[w] for w in line.split()] + [EOS_ID]
    test_lines = open(mirror / "yahoo/yahoo.test.txt").read().splitlines()
    assert yahoo.test[-1].tolist() == [BOS_ID] + [ids[w] for w in test_lines[-1].split()] + [EOS_ID]
    assert "9,000" in yahoo.describe() and "mirror-valid-split" in repr(yahoo)


def test_yahoo_bucketed_batches(yahoo):
    rows = 0
    for x in yahoo.train.batches(32, seed=7):
        assert (x[:, 0] == BOS_ID).all() and (x[:, -1] == EOS_ID).all()
        assert not ((x[:, 1:-1] == BOS_ID) | (x[:, 1:-1] == EOS_ID)).any()
        rows += x.shape[0]
    assert rows == 9_000
    trained = sum(len(i) for i in yahoo.train.batch_indices(32, seed=7, min_batch_size=16))
    assert 0 < trained < 9_000  # the reference's skipping of small batches drops sentences


def test_yahoo_full_files_and_subsampling(yahoo, mirror, data_cache, tmp_path):
    lines = open(mirror / "yahoo/yahoo.test.txt").read().splitlines()
    for name, chunk in (("train", lines[:30]), ("valid", lines[30:40]), ("test", lines[40:55])):
        (tmp_path / f"yahoo.{name}.txt").write_text("\n".join(chunk) + "\n")
    full = load_yahoo(mirror, data_cache, full_dir=tmp_path, progress=False)
    assert full.variant == "he2019-full"
    assert (len(full.train), len(full.valid), len(full.test)) == (30, 10, 15)
    assert torch.equal(full.train[0], yahoo.test[0])
    (tmp_path / "yahoo.test.txt").unlink()
    with pytest.raises(FileNotFoundError, match="yahoo.test.txt"):
        load_yahoo(mirror, data_cache, full_dir=tmp_path, progress=False)
    small = load_yahoo(mirror, data_cache, max_train=50, max_len=40, progress=False)
    assert len(small.train) == 50 and int(small.train.lengths.max()) <= 42
    assert int(small.test.lengths.max()) <= 42 and len(small.test) < 10_000


# ----------------------------------------------------------------------------------------------
# short Yelp
# ----------------------------------------------------------------------------------------------


def _rows(data: TextDataset) -> list[tuple[int, ...]]:
    """Every sentence as a tuple of ids (padded to the longest)."""
    return list(map(tuple, data.pad(torch.arange(len(data)))[0].tolist()))


def _no_unk_sentences(data: TextDataset) -> set[tuple[int, ...]]:
    """Sentences without <unk>: their id sequence identifies their text."""
    return {row for row in _rows(data) if UNK_ID not in row}


def test_short_yelp_sizes_balance_disjoint(yelp):
    for split, n in ((yelp.train, 100_000), (yelp.valid, 10_000), (yelp.test, 10_000)):
        assert len(split) == n
        assert torch.bincount(split.labels).tolist() == [n // 2, n // 2]
        assert int(split.lengths.max()) <= 15 + 2
    train, valid, test = (_no_unk_sentences(s) for s in (yelp.train, yelp.valid, yelp.test))
    assert len(test) > 5_000  # most sentences have no unknown word, so the check has teeth
    assert not (train & valid) and not (train & test) and not (valid & test)
    assert "shen-dev-test-balanced" in yelp.describe()


def test_short_yelp_vocab_and_sentences(yelp, mirror):
    # every vocabulary word occurs at least min_count = 2 times in the training split
    counts = torch.bincount(yelp.train.tokens, minlength=len(yelp.vocab))
    assert (counts[4:] >= 2).all() and (counts[4:] == 2).any()
    assert 7_000 < len(yelp.vocab) < 10_000  # reference: 8,411
    # a training sentence (without <unk>) is a line of the source file of its label
    i = next(i for i in range(len(yelp.train)) if UNK_ID not in yelp.train[i].tolist())
    text = " ".join(yelp.vocab.decode(yelp.train[i]))
    label = int(yelp.train.labels[i])
    source = set()
    for part in ("dev", "test"):
        source |= {line.strip() for line in open(mirror / f"yelp_sentiment/sentiment.{part}.{label}")}
    assert text in source


def test_short_yelp_pools_are_deduplicated(mirror, data_cache):
    pools = sentence_pools(mirror, data_cache, progress=False)
    texts = {label: [" ".join(s) for s in pool] for label, pool in pools.items()}
    assert all(len(set(t)) == len(t) for t in texts.values())
    # independently: distinct lines of each label, minus lines found under both labels
    lines = {
        label: {" ".join(line.split()) for part in ("dev", "test")
                for line in open(mirror / f"yelp_sentiment/sentiment.{part}.{label}")}
        for label in (0, 1)
    }
    both = lines[0] & lines[1]
    assert both  # the corpus does have a few, so the rule is exercised
    for label in (0, 1):
        assert set(texts[label]) == lines[label] - both


def test_short_yelp_small_and_errors(mirror, data_cache):
    small = load_short_yelp(mirror, data_cache, n_train=200, n_valid=20, n_test=20, progress=False)
    assert torch.bincount(small.train.labels).tolist() == [100, 100]
    with pytest.raises(ValueError, match="even"):
        load_short_yelp(mirror, data_cache, n_train=101, progress=False)
    with pytest.raises(ValueError, match="per label"):
        load_short_yelp(mirror, data_cache, n_train=200_000, progress=False)


def test_labelled_subsets(yelp):
    subsets = {n: labelled_subset(yelp.train, n) for n in LABEL_SUBSET_SIZES}
    previous = None
    for n, sub in subsets.items():
        assert len(sub) == n and torch.bincount(sub.labels).tolist() == [n // 2, n // 2]
        rows = {row + (int(y),) for row, y in zip(_rows(sub), sub.labels)}
        if previous is not None:
            assert previous <= rows  # nested
        previous = rows
    again = labelled_subset(yelp.train, 100)
    other = labelled_subset(yelp.train, 100, seed=1)
    assert torch.equal(again.tokens, subsets[100].tokens)
    assert not torch.equal(other.tokens, subsets[100].tokens)
    with pytest.raises(ValueError, match="even"):
        labelled_subset(yelp.train, 99)


# ----------------------------------------------------------------------------------------------
# synthetic
# ----------------------------------------------------------------------------------------------


def test_synthetic_layout(synthetic):
    assert (len(synthetic.train), len(synthetic.test)) == (1500, 500)
    assert synthetic.valid is synthetic.test
    assert len(synthetic.vocab) == 1004 and synthetic.vocab.itos[4] == "0"
    for split in (synthetic.train, synthetic.test):
        x = split.tokens.view(len(split), 12)
        assert (x[:, 0] == BOS_ID).all() and (x[:, -1] == EOS_ID).all()
        assert x[:, 1:-1].min() >= 4 and x[:, 1:-1].max() <= 1003
        assert split.z.shape == (len(split), 2) and split.labels.max() <= 4
    defaults = SyntheticConfig()
    sizes = (defaults.n_train, defaults.n_test, defaults.vocab_size, defaults.length)
    assert sizes == (16_000, 4_000, 1000, 10)
    assert defaults.means[0] == (0.0, 0.0) and len(defaults.means) == 5


def test_synthetic_is_seeded(synthetic):
    same = load_synthetic(SMALL_SYNTHETIC)
    assert torch.equal(same.train.tokens, synthetic.train.tokens)
    assert torch.equal(same.train.z, synthetic.train.z)
    other = load_synthetic(SMALL_SYNTHETIC, seed=1)
    assert not torch.equal(other.train.tokens, synthetic.train.tokens)


def test_synthetic_latents_follow_the_mixture(synthetic):
    z = torch.cat([synthetic.train.z, synthetic.test.z])
    k = torch.cat([synthetic.train.labels, synthetic.test.labels])
    assert torch.bincount(k, minlength=5).min() > 300  # uniform weights: ~400 each of 2000
    for c, mean in enumerate(MIXTURE_MEANS):
        zc = z[k == c]
        assert torch.allclose(zc.mean(0), torch.tensor(mean), atol=0.2)
        assert torch.allclose(zc.std(0), torch.ones(2), atol=0.15)


def test_synthetic_words_depend_on_the_latent(synthetic):
    """Second-word distributions of two far-apart components differ (the oracle uses z)."""
    x = synthetic.train.tokens.view(-1, 12)[:, 2] - 4
    k = synthetic.train.labels
    p1 = torch.bincount(x[k == 1], minlength=1000).float()
    p2 = torch.bincount(x[k == 2], minlength=1000).float()
    tv = 0.5 * (p1 / p1.sum() - p2 / p2.sum()).abs().sum()
    assert tv > 0.5


def test_mixture_density_integrates_to_one():
    step = 0.05
    axis = torch.arange(-9, 9, step, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    density = mixture_log_density(grid).exp()
    assert abs(float(density.sum()) * step**2 - 1.0) < 1e-3
    # at a mean: (1/5) sum_k N(m_0; m_k, I), written out
    expected = sum(math.exp(-0.5 * (mx**2 + my**2)) for mx, my in MIXTURE_MEANS) / (2 * math.pi * 5)
    value = mixture_log_density(torch.zeros(1, 2, dtype=torch.float64)).exp().item()
    assert abs(value - expected) < 1e-12


def test_yahoo_max_vocab_keeps_the_most_frequent_tokens(yahoo, mirror, data_cache):
    full = load_yahoo(mirror, data_cache, max_len=40, progress=False)
    small = load_yahoo(mirror, data_cache, max_len=40, max_vocab=50, progress=False)
    assert len(small.vocab) == 50 and small.vocab.itos == yahoo.vocab.itos[:50]
    for name in ("train", "valid", "test"):
        a, b = getattr(full, name), getattr(small, name)
        assert len(a) == len(b) > 0
        ids, capped = torch.cat([a[i] for i in range(len(a))]), torch.cat([b[i] for i in range(len(b))])
        # every word outside the 50 most frequent tokens becomes _UNK, the others keep their id
        assert torch.equal(capped, torch.where(ids >= 50, torch.full_like(ids, UNK_ID), ids))
        assert bool((ids >= 50).any())
    with pytest.raises(ValueError, match="max_vocab"):
        load_yahoo(mirror, data_cache, max_vocab=3, progress=False)
