r"""Text data: vocabulary, encoded sentences, and length-bucketed batches.

**Token layout** (docs/implementation.md §2.1). Every sentence :math:`w_1 \dots w_L` is stored
as the id sequence :math:`\langle s\rangle\, w_1 \dots w_L\, \langle/s\rangle` of length
:math:`L + 2`. The encoder reads all of it; the decoder reads ``x[:, :-1]`` and predicts
``x[:, 1:]``. Ids 0..3 always play the four special roles

================  ====  =======================================
role              id    surface names accepted
================  ====  =======================================
padding           0     ``<pad>``
begin             1     ``<s>`` (DU / He et al.), ``<bos>`` (mirrored Yahoo vocabulary)
end               2     ``</s>``, ``<eos>``
unknown word      3     ``<unk>``, ``_UNK``
================  ====  =======================================

and a word that is not in the vocabulary is encoded as the unknown id.

**Length bucketing** (docs/implementation.md §3.1). Sentences are sorted by length and cut into batches of
*identical* length of at most ``batch_size`` (so an LSTM's last state is the true last state and no
padding is needed); the order of the batches is permuted every epoch with a seeded generator;
training skips batches with fewer than ``min_batch_size`` (16 in the reference) sentences. As in
the reference, the buckets are fixed across epochs unless ``shuffle_within_length=True``.

Storage is ragged: one flat ``LongTensor`` of all tokens plus offsets, so gathering a batch of
equal-length rows is a single indexing operation.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
#: the project's own surface names of the four special tokens (ids 0..3)
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
#: surface names of ids 0..3 in vocabulary files we know how to read
KNOWN_SPECIALS = (SPECIALS, ("<pad>", "<bos>", "<eos>", "_UNK"))


# ----------------------------------------------------------------------------------------------
# vocabulary
# ----------------------------------------------------------------------------------------------


class Vocab:
    """Token <-> id map whose ids 0..3 are ``pad``, ``bos``, ``eos``, ``unk`` (in that order).

    ``tokens``: the surface form of every id, ``tokens[i]`` for id ``i``; the first four must be
    one of :data:`KNOWN_SPECIALS`.
    """

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tuple(tokens[:4]) not in KNOWN_SPECIALS:
            raise ValueError(
                f"ids 0..3 must be the special tokens (pad, bos, eos, unk) named as one of "
                f"{KNOWN_SPECIALS}, got {tuple(tokens[:4])}"
            )
        stoi = {tok: i for i, tok in enumerate(tokens)}
        if len(stoi) != len(tokens):
            dup = [t for t, c in Counter(tokens).items() if c > 1][:5]
            raise ValueError(f"duplicate tokens in vocabulary: {dup}")
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = stoi

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        sentences: Iterable[Sequence[str]],
        *,
        min_count: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Vocabulary of the words occurring at least ``min_count`` times in ``sentences``.

        Words are ordered by decreasing count, ties alphabetically (deterministic); ``max_size``
        caps the size *including* the 4 specials. Words equal to a special name are not added.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must be >= {len(SPECIALS)} (the specials), got {max_size}")
        counts = Counter(w for sentence in sentences for w in sentence)
        special_names = {name for names in KNOWN_SPECIALS for name in names}
        words = sorted(
            (w for w, c in counts.items() if c >= min_count and w not in special_names),
            key=lambda w: (-counts[w], w),
        )
        if max_size is not None:
            words = words[: max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + words)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Vocab:
        """Read a vocabulary file: one ``token`` or ``token<TAB>id`` per line, ids 0, 1, 2, ...

        The first four entries must be special tokens (e.g. the mirrored Yahoo file's
        ``<pad> <bos> <eos> _UNK``); they are mapped to the pad / bos / eos / unk roles.
        """
        tokens = []
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f):
                fields = line.rstrip("\n").split("\t")
                if len(fields) == 2 and int(fields[1]) != line_no:
                    raise ValueError(
                        f"{path}: line {line_no + 1} has id {fields[1]}, expected {line_no}"
                    )
                if len(fields) > 2 or not fields[0]:
                    raise ValueError(f"{path}: malformed line {line_no + 1}: {line!r}")
                tokens.append(fields[0])
        return cls(tokens)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``token<TAB>id`` lines (readable by :meth:`from_file`)."""
        Path(path).write_text("".join(f"{t}\t{i}\n" for i, t in enumerate(self.itos)), encoding="utf-8")

    # -- lookup ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens, specials {tuple(self.itos[:4])})"

    def encode(self, words: Sequence[str]) -> list[int]:
        """``<s> w_1 .. w_L </s>`` as ids; unknown words -> ``unk_id``."""
        get, unk = self.stoi.get, self.unk_id
        return [self.bos_id, *(get(w, unk) for w in words), self.eos_id]

    def decode(self, ids: Iterable[int], *, strip: bool = True) -> list[str]:
        """Ids -> tokens; ``strip`` drops ``<pad>`` / ``<s>`` and stops at the first ``</s>``."""
        out = []
        for i in (int(i) for i in ids):
            if strip and i == self.eos_id:
                break
            if strip and i in (self.pad_id, self.bos_id):
                continue
            out.append(self.itos[i])
        return out


def read_tokenized(path: str | os.PathLike) -> list[list[str]]:
    """One whitespace-tokenised sentence per line (empty lines are kept as empty sentences)."""
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f]


# ----------------------------------------------------------------------------------------------
# length bucketing
# ----------------------------------------------------------------------------------------------


def bucket_batches(
    lengths: torch.Tensor,
    batch_size: int,
    *,
    seed: int | None = None,
    min_batch_size: int = 1,
    shuffle_within_length: bool = False,
) -> list[torch.Tensor]:
    """Index batches of identical length (docs/implementation.md §3.1).

    ``lengths``: LongTensor ``[N]``. Sentences are sorted by length (stable, so ties keep their
    dataset order), each run of equal length is cut into chunks of at most ``batch_size``, and
    chunks smaller than ``min_batch_size`` are dropped. With ``seed`` the batch order is a random
    permutation drawn from ``torch.Generator().manual_seed(seed)`` (pass a different seed each
    epoch); ``shuffle_within_length`` also permutes sentences inside each length before chunking.
    Returns a list of LongTensors ``[B]`` with ``min_batch_size <= B <= batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 1 <= min_batch_size <= batch_size:
        raise ValueError(f"min_batch_size must be in 1..batch_size={batch_size}, got {min_batch_size}")
    if shuffle_within_length and seed is None:
        raise ValueError("shuffle_within_length=True needs a seed")
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None

    if shuffle_within_length:
        start = torch.randperm(len(lengths), generator=generator)
        order = start[torch.argsort(lengths[start], stable=True)]
    else:
        order = torch.argsort(lengths, stable=True)
    _, counts = torch.unique_consecutive(lengths[order], return_counts=True)
    batches = [
        chunk
        for same_length in order.split(counts.tolist())
        for chunk in same_length.split(batch_size)
        if len(chunk) >= min_batch_size
    ]
    if generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


# ----------------------------------------------------------------------------------------------
# dataset
# ----------------------------------------------------------------------------------------------


class TextDataset:
    """Encoded sentences (each ``<s> .. </s>``), optional labels and optional true latents.

    Stored ragged: ``tokens`` LongTensor ``[T]`` (all sentences back to back) and ``offsets``
    LongTensor ``[N + 1]`` (sentence ``i`` is ``tokens[offsets[i]:offsets[i+1]]``). ``labels``:
    LongTensor ``[N]`` or ``None`` (sentiment, mixture component, ...). ``z``: FloatTensor
    ``[N, nz]`` or ``None`` (the generating latent, known only for synthetic data).
    """

    def __init__(
        self,
        tokens: torch.Tensor,
        offsets: torch.Tensor,
        labels: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        name: str = "",
    ):
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        offsets = torch.as_tensor(offsets, dtype=torch.long)
        if offsets.dim() != 1 or offsets[0] != 0 or offsets[-1] != len(tokens):
            raise ValueError("offsets must be [N + 1], start at 0 and end at len(tokens)")
        n = len(offsets) - 1
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long)
            if labels.shape != (n,):
                raise ValueError(f"labels must have shape [{n}], got {tuple(labels.shape)}")
        if z is not None and (z.dim() != 2 or z.shape[0] != n):
            raise ValueError(f"z must have shape [{n}, nz], got {tuple(z.shape)}")
        self.tokens, self.offsets, self.labels, self.z, self.name = tokens, offsets, labels, z, name
        self.lengths = offsets[1:] - offsets[:-1]  # [N], counting <s> and </s>
        if n and self.lengths.min() < 2:
            raise ValueError("every sentence needs at least <s> and </s> (length >= 2)")

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_sequences(
        cls,
        sequences: Sequence[Sequence[int]],
        labels: Sequence[int] | torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        name: str = "",
    ) -> TextDataset:
        """From id lists that already include ``<s>`` and ``</s>``."""
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        offsets = torch.zeros(len(sequences) + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(lengths, 0)
        tokens = torch.tensor([t for s in sequences for t in s], dtype=torch.long)
        return cls(tokens, offsets, labels, z, name)

    @classmethod
    def from_sentences(
        cls,
        sentences: Sequence[Sequence[str]],
        vocab: Vocab,
        labels: Sequence[int] | torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        name: str = "",
    ) -> TextDataset:
        """Encode word lists with ``vocab`` (adds ``<s>`` / ``</s>``, unknown words -> unk).

        Same result as ``from_sequences([vocab.encode(s) for s in sentences])``, but the word
        lookup runs over one flat list and ``<s>`` / ``</s>`` are placed by tensor indexing.
        """
        get, unk = vocab.stoi.get, vocab.unk_id
        word_ids = torch.tensor([get(w, unk) for s in sentences for w in s], dtype=torch.long)
        lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long) + 2  # + <s>, </s>
        offsets = torch.zeros(len(sentences) + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(lengths, 0)
        tokens = torch.empty(int(offsets[-1]), dtype=torch.long)
        is_word = torch.ones_like(tokens, dtype=torch.bool)
        is_word[offsets[:-1]] = False
        is_word[offsets[1:] - 1] = False
        tokens[offsets[:-1]] = vocab.bos_id
        tokens[offsets[1:] - 1] = vocab.eos_id
        tokens[is_word] = word_ids
        return cls(tokens, offsets, labels, z, name)

    @classmethod
    def from_matrix(
        cls,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        name: str = "",
    ) -> TextDataset:
        """From an equal-length id matrix ``[N, L]`` that already includes ``<s>`` / ``</s>``."""
        if x.dim() != 2:
            raise ValueError(f"expected an id matrix [N, L], got shape {tuple(x.shape)}")
        n, length = x.shape
        offsets = torch.arange(n + 1, dtype=torch.long) * length
        return cls(x.reshape(-1), offsets, labels, z, name)

    # -- access ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Sentence ``i`` as LongTensor ``[L_i]`` (with ``<s>`` and ``</s>``); ``i < 0`` counts
        from the end."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sentence index {i} out of range for {n} sentences")
        i = i % n
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def __repr__(self) -> str:
        return f"TextDataset({self.describe()})"

    @property
    def n_tokens(self) -> int:
        """Number of predicted tokens, words + ``</s>`` (the perplexity denominator)."""
        return int((self.lengths - 1).sum())

    def describe(self) -> str:
        n = len(self)
        words = (self.lengths - 2).float()
        text = f"{self.name or 'text'}: {n:,} sentences"
        if n:
            text += f", words/sentence mean {words.mean():.1f} max {int(words.max())}"
        if self.labels is not None and n:
            counts = torch.bincount(self.labels).tolist()
            text += f", label counts {counts}"
        return text

    def _positions(self, index: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat token positions ``[B, width]`` of sentences ``index`` and the in-sentence mask."""
        steps = torch.arange(width)
        mask = steps[None, :] < self.lengths[index][:, None]
        pos = (self.offsets[index][:, None] + steps[None, :]).clamp(max=max(len(self.tokens) - 1, 0))
        return pos, mask

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """Sentences ``index`` (LongTensor ``[B]``, all of one length ``L``) as ``[B, L]``."""
        index = torch.as_tensor(index, dtype=torch.long)
        lengths = self.lengths[index]
        if len(index) == 0 or (lengths != lengths[0]).any():
            raise ValueError(
                "gather needs a non-empty index of sentences of identical length; use pad()"
            )
        pos, _ = self._positions(index, int(lengths[0]))
        return self.tokens[pos]

    def pad(self, index: torch.Tensor, pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentences ``index`` right-padded with ``pad_id``: ids ``[B, L_max]`` and lengths ``[B]``."""
        index = torch.as_tensor(index, dtype=torch.long)
        lengths = self.lengths[index]
        pos, mask = self._positions(index, int(lengths.max()) if len(index) else 0)
        return torch.where(mask, self.tokens[pos], pad_id), lengths

    def subset(self, index: torch.Tensor, name: str | None = None) -> TextDataset:
        """A new dataset with the sentences ``index`` (LongTensor ``[M]`` or bool mask ``[N]``)."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().squeeze(1)
        lengths = self.lengths[index]
        offsets = torch.zeros(len(index) + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(lengths, 0)
        # position of every kept token in the old flat array, vectorised over sentences
        starts = torch.repeat_interleave(self.offsets[index], lengths)
        within = torch.arange(int(offsets[-1])) - torch.repeat_interleave(offsets[:-1], lengths)
        return TextDataset(
            self.tokens[starts + within],
            offsets,
            None if self.labels is None else self.labels[index],
            None if self.z is None else self.z[index],
            self.name if name is None else name,
        )

    def head(self, n: int) -> TextDataset:
        """The first ``n`` sentences (all of them if there are fewer)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return self.subset(torch.arange(min(n, len(self))))

    def shorter_than(self, max_len: int) -> TextDataset:
        """Sentences with at most ``max_len`` words (``<s>`` / ``</s>`` not counted)."""
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        return self.subset(self.lengths - 2 <= max_len)

    def subsample(self, max_len: int | None = None, max_n: int | None = None) -> TextDataset:
        """Explicit subsampling: drop sentences longer than ``max_len`` words, keep the first ``max_n``."""
        data = self if max_len is None else self.shorter_than(max_len)
        return data if max_n is None else data.head(max_n)

    # -- batching ----------------------------------------------------------------------------

    def batch_indices(
        self,
        batch_size: int,
        *,
        seed: int | None = None,
        min_batch_size: int = 1,
        shuffle_within_length: bool = False,
    ) -> list[torch.Tensor]:
        """Length-bucketed index batches of this dataset, see :func:`bucket_batches`."""
        return bucket_batches(
            self.lengths,
            batch_size,
            seed=seed,
            min_batch_size=min_batch_size,
            shuffle_within_length=shuffle_within_length,
        )

    def batches(
        self,
        batch_size: int,
        *,
        seed: int | None = None,
        min_batch_size: int = 1,
        shuffle_within_length: bool = False,
        with_labels: bool | None = None,
        device: torch.device | str | None = None,
    ) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """Iterate over one epoch of length-bucketed batches (docs/implementation.md §3.1).

        Yields ids ``[B, L]`` (every row ``<s> .. </s>`` of the same length ``L``), or
        ``(ids [B, L], labels [B])`` when ``with_labels`` (default: when the dataset has labels).
        ``seed``: the per-epoch seed of the batch order (``None``: sorted by length, for
        evaluation). Training in the reference uses ``batch_size=32, min_batch_size=16``.
        """
        if with_labels is None:
            with_labels = self.labels is not None
        if with_labels and self.labels is None:
            raise ValueError(f"with_labels=True but dataset {self.name!r} has no labels")
        for index in self.batch_indices(
            batch_size, seed=seed, min_batch_size=min_batch_size,
            shuffle_within_length=shuffle_within_length,
        ):
            x = self.gather(index).to(device)
            yield (x, self.labels[index].to(device)) if with_labels else x


# ----------------------------------------------------------------------------------------------
# corpus = vocabulary + three splits
# ----------------------------------------------------------------------------------------------


@dataclass
class TextCorpus:
    """A text data set as used by one experiment: vocabulary and train / valid / test splits.

    ``variant`` names how the splits were made (e.g. ``"mirror-valid-split"``); ``notes`` says
    anything a reader of the results must know (deviations from the paper's data).
    """

    name: str
    variant: str
    vocab: Vocab
    train: TextDataset
    valid: TextDataset
    test: TextDataset
    notes: str = ""

    def describe(self) -> str:
        lines = [f"{self.name} [{self.variant}], vocabulary {len(self.vocab):,} (incl. 4 specials)"]
        for split in ("train", "valid", "test"):
            lines.append(f"  {split:5s} {getattr(self, split).describe()}")
        if self.notes:
            lines.append(f"  note: {self.notes}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"TextCorpus<{self.describe()}>"


__all__ = [
    "BOS_ID",
    "EOS_ID",
    "KNOWN_SPECIALS",
    "PAD_ID",
    "SPECIALS",
    "UNK_ID",
    "TextCorpus",
    "TextDataset",
    "Vocab",
    "bucket_batches",
    "read_tokenized",
]
