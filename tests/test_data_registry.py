"""Verified fetching (duvae.data.registry): cache, mirror, download, and every failure path.

Nothing here touches the network: downloads are simulated by monkeypatching ``urlopen``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import urllib.error
from pathlib import Path

import pytest

from duvae.data import registry
from duvae.data.registry import FILES, ChecksumError, DownloadError, fetch

SMALL = "yahoo/vocab.txt"  # the smallest registry file (263 kB)


def _files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def no_env(monkeypatch):
    """Neither $DUVAE_DATA_MIRROR nor $DUVAE_DATA_DIR set."""
    monkeypatch.delenv(registry.ENV_MIRROR, raising=False)
    monkeypatch.delenv(registry.ENV_CACHE_DIR, raising=False)


def test_registry_matches_the_mirror(mirror):
    """Every pinned size and digest is that of the mirrored bytes (hashed independently)."""
    for name, entry in FILES.items():
        path = mirror / name
        assert path.stat().st_size == entry.size, name
        assert _sha256(path) == entry.sha256, name
        assert entry.url.startswith("https://") and entry.name == name


def test_unknown_name_lists_known_files(tmp_path):
    with pytest.raises(ValueError) as err:
        fetch("omniglot/nope.npz", cache_dir=tmp_path)
    assert "omniglot/nope.npz" in str(err.value)
    assert all(name in str(err.value) for name in FILES)


def test_mirror_copy_then_cache_hit(mirror, tmp_path, monkeypatch, no_env):
    path = fetch(SMALL, mirror=mirror, cache_dir=tmp_path, progress=False)
    assert path == tmp_path / SMALL
    assert path.read_bytes() == (mirror / SMALL).read_bytes()
    assert (tmp_path / (SMALL + ".sha256")).read_text().strip() == FILES[SMALL].sha256
    assert [p.name for p in _files_under(tmp_path)] == ["vocab.txt", "vocab.txt.sha256"]

    # second call: not copied again, but its bytes are hashed again (a file changed in place is caught)
    def fail(*args, **kwargs):
        raise AssertionError("the cached file was fetched again")

    hashed = []
    real_sha = registry.sha256_file
    monkeypatch.setattr(registry, "_open_source", fail)
    monkeypatch.setattr(registry, "sha256_file", lambda p: hashed.append(p) or real_sha(p))
    assert fetch(SMALL, mirror=mirror, cache_dir=tmp_path, progress=False) == path
    assert hashed == [path]


def test_env_variables_select_mirror_and_cache(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ENV_MIRROR, str(mirror))
    monkeypatch.setenv(registry.ENV_CACHE_DIR, str(tmp_path / "cache"))
    assert registry.default_cache_dir() == tmp_path / "cache"
    path = fetch(SMALL, progress=False)
    assert path == tmp_path / "cache" / SMALL and _sha256(path) == FILES[SMALL].sha256


def test_default_cache_dir_is_in_the_repository(no_env):
    root = Path(registry.__file__).resolve().parents[2]
    assert (root / "duvae").is_dir()
    assert registry.default_cache_dir() == root / "data" / "cache"


def test_wrong_pinned_checksum_raises_and_leaves_nothing(mirror, tmp_path, monkeypatch, no_env):
    wrong = "0" * 64
    monkeypatch.setitem(FILES, SMALL, dataclasses.replace(FILES[SMALL], sha256=wrong))
    with pytest.raises(ChecksumError) as err:
        fetch(SMALL, mirror=mirror, cache_dir=tmp_path, progress=False)
    message = str(err.value)
    assert SMALL in message and wrong in message and _sha256(mirror / SMALL) in message
    assert isinstance(err.value, RuntimeError)
    assert _files_under(tmp_path) == []  # neither the target nor a temporary file


def test_corrupted_mirror_copy_raises_and_leaves_nothing(mirror, tmp_path, no_env):
    fake = tmp_path / "mirror"
    (fake / "yahoo").mkdir(parents=True)
    data = bytearray((mirror / SMALL).read_bytes())
    data[1000] ^= 0xFF  # same size, one byte flipped
    (fake / SMALL).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError) as err:
        fetch(SMALL, mirror=fake, cache_dir=cache, progress=False)
    assert FILES[SMALL].sha256 in str(err.value)
    assert hashlib.sha256(bytes(data)).hexdigest() in str(err.value)
    assert _files_under(cache) == []


def test_corrupted_cached_file_is_replaced(mirror, tmp_path, no_env):
    target = tmp_path / SMALL
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * FILES[SMALL].size)  # right size, wrong bytes, no stamp
    path = fetch(SMALL, mirror=mirror, cache_dir=tmp_path, progress=False)
    assert _sha256(path) == FILES[SMALL].sha256


def test_byte_flipped_in_a_stamped_cache_file_is_refetched(mirror, tmp_path, no_env):
    path = fetch(SMALL, mirror=mirror, cache_dir=tmp_path, progress=False)  # cached and stamped
    data = bytearray(path.read_bytes())
    data[1000] ^= 0x01  # same size, one bit changed, stamp untouched
    path.write_bytes(bytes(data))
    assert _sha256(path) != FILES[SMALL].sha256
    again = fetch(SMALL, mirror=mirror, cache_dir=tmp_path, progress=False)
    assert again == path and _sha256(again) == FILES[SMALL].sha256


def test_missing_mirror_file_is_a_clear_error(tmp_path, no_env):
    empty = tmp_path / "mirror"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        fetch(SMALL, mirror=empty, cache_dir=tmp_path / "cache", progress=False)
    assert SMALL in str(err.value) and str(empty) in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fetch(SMALL, mirror=tmp_path / "absent", cache_dir=tmp_path / "cache", progress=False)
    assert _files_under(tmp_path / "cache") == []


def test_no_network_explains_the_mirror(tmp_path, monkeypatch, no_env):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(registry.urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError) as err:
        fetch(SMALL, cache_dir=tmp_path, progress=False)
    message = str(err.value)
    assert FILES[SMALL].url in message
    assert "mirror=" in message and registry.ENV_MIRROR in message
    assert _files_under(tmp_path) == []


def test_download_path_verifies_and_caches(mirror, tmp_path, monkeypatch, no_env):
    """A simulated download of the right bytes is cached; of wrong bytes, rejected."""
    payload = (mirror / SMALL).read_bytes()
    urls = []

    def fake_urlopen(url, timeout=None):
        urls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(registry.urllib.request, "urlopen", fake_urlopen)
    path = fetch(SMALL, cache_dir=tmp_path / "ok", progress=False)
    assert urls == [FILES[SMALL].url] and path.read_bytes() == payload

    truncated = io.BytesIO(payload[:-1])
    monkeypatch.setattr(registry.urllib.request, "urlopen", lambda url, timeout=None: truncated)
    with pytest.raises(ChecksumError):
        fetch(SMALL, cache_dir=tmp_path / "bad", progress=False)
    assert _files_under(tmp_path / "bad") == []


def test_a_file_outside_the_registry_passes_over_a_mirror_that_lacks_it(mirror, tmp_path, monkeypatch, no_env):
    """``fetch_file(..., mirror_optional=True)`` (the book's MathJax): a mirror without the file is
    passed over for the pinned URL, one with it serves it; either way the digest is checked."""
    import hashlib

    payload = b"a tool that is not data\n"
    entry = registry.RemoteFile("tools/tool.tgz", hashlib.sha256(payload).hexdigest(), len(payload),
                                "https://registry.example/tool.tgz")
    urls = []
    monkeypatch.setattr(registry.urllib.request, "urlopen", lambda url, timeout=None: urls.append(url) or io.BytesIO(payload))
    path = registry.fetch_file(entry, mirror=mirror, cache_dir=tmp_path / "a", progress=False, mirror_optional=True)
    assert urls == [entry.url] and path.read_bytes() == payload
    with pytest.raises(FileNotFoundError):  # without the flag a mirror must hold it
        registry.fetch_file(entry, mirror=mirror, cache_dir=tmp_path / "b", progress=False)
    local = tmp_path / "local-mirror"
    (local / "tools").mkdir(parents=True)
    (local / "tools" / "tool.tgz").write_bytes(payload)
    urls.clear()
    path = registry.fetch_file(entry, mirror=local, cache_dir=tmp_path / "c", progress=False, mirror_optional=True)
    assert urls == [] and path.read_bytes() == payload
    (local / "tools" / "tool.tgz").write_bytes(payload[:-1] + b"!")
    with pytest.raises(ChecksumError):
        registry.fetch_file(entry, mirror=local, cache_dir=tmp_path / "d", progress=False, mirror_optional=True)
