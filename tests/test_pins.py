"""The pinned environment (duvae.runs.pins): pyproject, constraints.txt, environment.yml, Makefile and CI agree.

A notebook and the package drift apart when the environment that runs the notebook is not the one
the tests passed with. These tests fail as soon as a requirement is not pinned, a pin leaves its
range in pyproject.toml, environment.yml installs other extras or another Python, or the
environment the tests run in differs from the pins.
"""

from __future__ import annotations

import shutil

import pytest

from duvae.runs import pins


def test_pyproject_constraints_environment_yml_makefile_and_ci_agree():
    assert pins.problems(installed=False) == []


def test_the_environment_the_tests_run_in_is_the_pinned_one():
    assert pins.problems(installed=True) == []


def test_constraints_pin_every_requirement_and_torch_without_its_build_label():
    pinned, python = pins.read_constraints()
    assert python is not None
    for req in pins.project_requirements():
        assert req.specifier.contains(pinned[pins.canonicalize_name(req.name)], prereleases=True), req
    assert pinned["torch"] == pins.TORCH and "+" not in pinned["torch"]
    assert "duvae" not in pinned


def _copy_repo(tmp_path):
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    for name in ("pyproject.toml", "constraints.txt", "environment.yml", "Makefile", ".ci/run"):
        shutil.copy(pins.REPO_ROOT / name, root / name)
    return root


@pytest.mark.parametrize("file,old,new,complaint", [
    ("environment.yml", "python=3.11", "python=3.12", "environment.yml has python=3.12"),
    ("environment.yml", "-e .[notebooks,dev]", "-e .[notebooks]", "environment.yml's pip section"),
    ("environment.yml", "      - -c constraints.txt\n", "", "environment.yml's pip section"),
    ("pyproject.toml", '"numpy>=1.24"', '"numpy>=99"', "outside pyproject's numpy>=99"),
    ("pyproject.toml", '"tqdm>=4.65",', '"tqdm>=4.65",\n    "left-pad>=1",', "does not pin left-pad"),
    ("Makefile", '-c constraints.txt -e ".[notebooks,dev]"', '-e ".[notebooks,dev]"', "the Makefile does not install"),
    (".ci/run", "torch==2.13.0", "torch==2.12.0", ".ci/run does not install torch==2.13.0"),
])
def test_a_disagreement_is_found(tmp_path, file, old, new, complaint):
    root = _copy_repo(tmp_path)
    text = (root / file).read_text()
    assert old in text
    (root / file).write_text(text.replace(old, new))
    found = pins.problems(root, installed=False)
    assert any(complaint in p for p in found), found
