"""Verified downloads: every public file the project reads, pinned by URL, size and SHA-256.

A file named ``omniglot/images_background.npz`` is *fetched* into a cache directory and is only
ever used after its bytes hash to the pinned digest,

.. math::  \\operatorname{sha256}(\\text{bytes}) = h_{\\text{pinned}},

so a run on a laptop that downloaded the file and a run on a machine that copied it from an
offline mirror read exactly the same data.

Where files come from, in order of preference:

1. the cache, ``$DUVAE_DATA_DIR`` if set, else ``<repo root>/data/cache`` (git-ignored). A cached
   file whose size matches and that carries a ``<file>.sha256`` stamp (written right after it was
   verified) is returned without re-hashing;
2. a local mirror directory laid out like the registry names (``mirror=`` argument, else
   ``$DUVAE_DATA_MIRROR``), e.g. the ``shared/data`` folder beside the repository;
3. the pinned public URL, downloaded with :mod:`urllib`.

A relative ``$DUVAE_DATA_DIR`` or ``$DUVAE_DATA_MIRROR`` means the directory the command was run
in, as it would for any other command-line path. The data layer reads them against the current
directory, and the commands that start other processes in other directories (the main job's
kernels run in ``notebooks/``; sweep workers) first make them absolute with
:func:`absolute_env_paths`, so that every process reads the same folder.

Bytes are always written to a temporary file inside the cache directory and moved into place with
``os.replace`` only after the digest matched, so an interrupted or corrupted transfer never leaves a
file that looks valid. A mismatch deletes the temporary file and raises :class:`ChecksumError`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

#: environment variable naming the cache directory (default ``<repo root>/data/cache``)
ENV_CACHE_DIR = "DUVAE_DATA_DIR"
#: environment variable naming an offline mirror directory (default: none, download)
ENV_MIRROR = "DUVAE_DATA_MIRROR"
#: every environment variable of the project that names a directory: the two above, He et al.'s
#: full corpora (:mod:`duvae.runs.run_data`), the run directories (:mod:`duvae.runs.trainer`) and the
#: committed results (:mod:`duvae.runs.results`), and your own data and its results
#: (:mod:`duvae.experiments.yours`). :func:`absolute_env_paths` resolves them all.
ENV_PATHS = (ENV_CACHE_DIR, ENV_MIRROR, "DUVAE_HE2019_DIR", "DUVAE_RUNS_DIR", "DUVAE_RESULTS_DIR",
             "DUVAE_YOURS_DATA", "DUVAE_YOURS_DIR")

_CHUNK = 1 << 20  # bytes per read while copying / downloading
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    """One pinned public file.

    ``name`` is the path relative to the cache (and to a mirror); ``sha256`` the hex digest of its
    bytes; ``size`` its length in bytes; ``url`` an immutable (commit-pinned) public address.
    """

    name: str
    sha256: str
    size: int
    url: str


_OMNIGLOT = "https://github.com/bitsandscraps/omniglot/raw/b0481240b7eb42393285a93ce7d2f266ff10c62b"
_YAHOO = "https://github.com/yaoxiaoyuan/vae/raw/3695d4217ac00cc75d7efe1b6042d91c744b5d6b/data/yahoo"
_YELP = (
    "https://github.com/shentianxiao/language-style-transfer/raw/"
    "f078a9d342705ea62b04dd3ac5926d3467c2ac63/data/yelp"
)

#: Every file the data layer may fetch, keyed by its relative name. Frozen entries in a plain dict
#: (tests swap an entry with ``monkeypatch.setitem`` to simulate a corrupted source).
FILES: dict[str, RemoteFile] = {
    f.name: f
    for f in (
        # Omniglot, all 1623 characters x 20 drawers, 105x105 bool images (True = background).
        RemoteFile(
            "omniglot/images_background.npz",
            "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199",
            3_340_794,
            f"{_OMNIGLOT}/images_background.npz",
        ),
        RemoteFile(
            "omniglot/images_evaluation.npz",
            "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276",
            2_415_269,
            f"{_OMNIGLOT}/images_evaluation.npz",
        ),
        # Yahoo Answers (Yang et al. 2017 sample): the public validation / test splits + vocabulary.
        RemoteFile(
            "yahoo/yahoo.valid.txt",
            "3247ac3ffcc4d4bfd6216f2aaa617f6706cdc4081874da39245fe156825898d1",
            3_683_468,
            f"{_YAHOO}/val.txt",
        ),
        RemoteFile(
            "yahoo/yahoo.test.txt",
            "ad843c4363adbdd07d8055d9bf121e5f23c285760df43a0031b89d8538293075",
            3_679_881,
            f"{_YAHOO}/test.txt",
        ),
        RemoteFile(
            "yahoo/vocab.txt",
            "8f4cf601bc7e5c3acf8b7e712e3c8e39fe330147e12682291c462b5b2ac0a73a",
            262_915,
            f"{_YAHOO}/vocab.txt",
        ),
        # Yelp sentiment (Shen et al. 2017): dev / test sentences, suffix = label (0 neg, 1 pos).
        RemoteFile(
            "yelp_sentiment/sentiment.dev.0",
            "405ef6d4bfbc8bb92c3c55b496f315069cb5edb49ed34a07b1206341b83c344b",
            1_164_707,
            f"{_YELP}/sentiment.dev.0",
        ),
        RemoteFile(
            "yelp_sentiment/sentiment.dev.1",
            "3509f6573411bbda2d5c071ed72ad276c12356c15c06205b8fdf74b217970c61",
            1_603_395,
            f"{_YELP}/sentiment.dev.1",
        ),
        RemoteFile(
            "yelp_sentiment/sentiment.test.0",
            "b7466e8859e9948892a859af7938a82c801c99b69f884014082fd072a155bbf2",
            2_295_973,
            f"{_YELP}/sentiment.test.0",
        ),
        RemoteFile(
            "yelp_sentiment/sentiment.test.1",
            "a66e0ec3f0e1230ad4d2c822750a381cf6d99a99fa9b5ae79546f21ff79ed5c3",
            3_172_601,
            f"{_YELP}/sentiment.test.1",
        ),
    )
}


class ChecksumError(RuntimeError):
    """The bytes of a fetched file do not hash to the pinned SHA-256."""


class DownloadError(RuntimeError):
    """A file could not be downloaded (no network, HTTP error) and no mirror was given."""


def repo_root() -> Path:
    """The repository root: the parent of the ``duvae`` package directory."""
    return Path(__file__).resolve().parents[2]


def absolute_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """``path`` with ``~`` expanded, made absolute against ``base`` (default: the current directory).

    Symbolic links are kept as they are (``os.path.abspath``, not ``Path.resolve``), so a message
    names the path the user wrote, only completed.
    """
    path = Path(path).expanduser()
    if not path.is_absolute():
        path = Path(base if base is not None else os.getcwd()) / path
    return Path(os.path.abspath(path))


def absolute_env_paths(
    names: tuple[str, ...] = ENV_PATHS,
    *,
    environ: dict | None = None,
    base: str | os.PathLike | None = None,
) -> dict[str, tuple[str, str]]:
    """Rewrite each relative directory variable of ``names`` in ``environ`` as an absolute path.

    ``environ`` defaults to :data:`os.environ`, so child processes (papermill's kernels, submitit's
    workers) inherit the absolute paths; ``base`` defaults to the current directory, the one the
    user ran the command in. Call it once, before starting any child process; it is idempotent.
    Unset or empty variables stay as they are. Returns ``{name: (as given, absolute)}`` for the
    variables it changed.
    """
    environ = os.environ if environ is None else environ
    changed = {}
    for name in names:
        value = environ.get(name)
        if not value:
            continue
        absolute = str(absolute_path(value, base))
        if absolute != value:
            environ[name] = absolute
            changed[name] = (value, absolute)
    return changed


def default_cache_dir() -> Path:
    """``$DUVAE_DATA_DIR`` (relative: to the current directory) if set, else ``<repo root>/data/cache``."""
    env = os.environ.get(ENV_CACHE_DIR)
    return absolute_path(env) if env else repo_root() / "data" / "cache"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory to use, absolute: the argument, else :func:`default_cache_dir`."""
    return absolute_path(cache_dir) if cache_dir is not None else default_cache_dir()


def resolve_mirror(mirror: str | os.PathLike | None = None) -> Path | None:
    """The mirror directory to use, absolute: the argument, else ``$DUVAE_DATA_MIRROR``, else ``None``.

    A relative path means the current directory's; the error for a missing mirror names both
    the path as given and where it was looked for (see :func:`_open_source`).
    """
    if mirror is not None:
        return absolute_path(mirror)
    env = os.environ.get(ENV_MIRROR)
    return absolute_path(env) if env else None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lookup(name: str) -> RemoteFile:
    """The registry entry of ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return FILES[name]
    except KeyError:
        known = ", ".join(sorted(FILES))
        raise ValueError(f"unknown data file {name!r}; known files: {known}") from None


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _is_cached(entry: RemoteFile, path: Path) -> bool:
    """Is ``path`` a verified copy of ``entry``? Size, then the SHA-256 of the bytes, on every call.

    The files are a few MB, so hashing costs milliseconds; trusting a stamp instead would let a
    file changed in place (same size, one byte flipped) load silently. A file that fails the check
    is deleted with its stamp, so :func:`fetch` fetches it again.
    """
    if not path.is_file():
        return False
    if path.stat().st_size == entry.size and sha256_file(path) == entry.sha256:
        return True
    path.unlink()
    _stamp_path(path).unlink(missing_ok=True)
    return False


def _stream_to(src: BinaryIO, dst: BinaryIO, *, total: int, desc: str, progress: bool) -> str:
    """Copy ``src`` into ``dst`` in chunks with a progress bar; return the SHA-256 of the bytes."""
    digest = hashlib.sha256()
    with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            dst.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _open_source(entry: RemoteFile, mirror: Path | None) -> BinaryIO:
    """Open the bytes of ``entry`` from the mirror, or from its URL when no mirror is given."""
    if mirror is not None:
        if not mirror.is_dir():
            env = os.environ.get(ENV_MIRROR)
            given = f"={env}" if env and env != str(mirror) else ""
            raise FileNotFoundError(
                f"data mirror directory {str(mirror)!r} does not exist "
                f"(check the mirror= argument or ${ENV_MIRROR}{given}; a relative path means the "
                f"directory the command was run in)"
            )
        source = mirror / entry.name
        if not source.is_file():
            raise FileNotFoundError(
                f"{entry.name!r} is missing from the data mirror {str(mirror)!r} "
                f"(expected the file at {str(source)!r})"
            )
        return open(source, "rb")
    try:
        return urllib.request.urlopen(entry.url, timeout=_DOWNLOAD_TIMEOUT_S)
    except OSError as err:  # URLError, HTTPError, timeouts and socket errors are all OSErrors
        raise DownloadError(
            f"could not download {entry.name!r} from {entry.url} ({err}). Without network access, "
            f"copy the files from a local mirror instead: pass mirror='/path/to/data' or set "
            f"${ENV_MIRROR}=/path/to/data (a folder holding {entry.name!r} under that relative path)."
        ) from err


def fetch(
    name: str,
    *,
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Return the local path of the verified file ``name`` (a key of :data:`FILES`).

    Cached copies are reused after their size and SHA-256 are checked again (every call). Otherwise the file is copied from ``mirror``
    (or ``$DUVAE_DATA_MIRROR``) if one is given, else downloaded from its pinned URL; its SHA-256 is
    checked before it is moved into the cache.

    Raises
    ------
    ValueError
        ``name`` is not in the registry.
    FileNotFoundError
        a mirror was given but does not hold the file.
    DownloadError
        no mirror and the download failed (e.g. no network).
    ChecksumError
        the copied / downloaded bytes do not match the pinned digest (nothing is left behind).
    """
    return fetch_file(lookup(name), mirror=mirror, cache_dir=cache_dir, progress=progress)


def fetch_file(
    entry: RemoteFile,
    *,
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    mirror_optional: bool = False,
) -> Path:
    """:func:`fetch` for any pinned file, in the registry or not (e.g. the book's MathJax).

    With ``mirror_optional``, a mirror that lacks the file is passed over for the pinned URL: the
    data mirror need not hold the tools, and one that does serves them offline.
    """
    target = resolve_cache_dir(cache_dir) / entry.name
    if _is_cached(entry, target):
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    mirror_dir = resolve_mirror(mirror)
    if mirror_optional and mirror_dir is not None and not (mirror_dir / entry.name).is_file():
        mirror_dir = None
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst, _open_source(entry, mirror_dir) as src:
            desc = f"{'copy' if mirror_dir is not None else 'download'} {entry.name}"
            actual = _stream_to(src, dst, total=entry.size, desc=desc, progress=progress)
        if actual != entry.sha256:
            raise ChecksumError(
                f"checksum mismatch for {entry.name!r}: expected sha256 {entry.sha256}, "
                f"got {actual} (source: {mirror_dir / entry.name if mirror_dir else entry.url})"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached data is ordinary readable data
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _stamp_path(target).write_text(entry.sha256 + "\n")
    return target


def fetch_all(
    prefix: str = "",
    *,
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Fetch every registry file whose name starts with ``prefix`` (e.g. ``"yahoo/"``)."""
    names = [n for n in FILES if n.startswith(prefix)]
    if not names:
        raise ValueError(f"no data file starts with {prefix!r}; known files: {', '.join(sorted(FILES))}")
    return {n: fetch(n, mirror=mirror, cache_dir=cache_dir, progress=progress) for n in names}


__all__ = [
    "ENV_CACHE_DIR",
    "ENV_MIRROR",
    "FILES",
    "ChecksumError",
    "DownloadError",
    "RemoteFile",
    "default_cache_dir",
    "fetch",
    "fetch_all",
    "fetch_file",
    "lookup",
    "repo_root",
    "resolve_cache_dir",
    "resolve_mirror",
    "sha256_file",
]
