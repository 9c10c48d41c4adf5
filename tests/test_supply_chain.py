"""A supply chain that cannot bite (issue 25, guarantee 12 of docs/reliability.md).

lightning / pytorch-lightning 2.6.2 and 2.6.3 are compromised releases (GHSA-w37p-236h-pfx3): pyproject.toml
excludes them, constraints.txt (the tested set, which `make setup` installs with) never pins them, and the
suite fails when one of them is installed.
"""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
RERECORD = "pip freeze --exclude-editable | grep -v '^anymae' >> constraints.txt, under its header"
COMPROMISED = {"lightning": {"2.6.2", "2.6.3"}, "pytorch-lightning": {"2.6.2", "2.6.3"}}


def requirement(spec: str) -> tuple[str, str]:
    name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0)
    return name.lower().replace("_", "-"), spec[len(name):]


@pytest.mark.parametrize("package", sorted(COMPROMISED))
def test_no_compromised_release_is_installed(package):
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        return
    assert version not in COMPROMISED[package], \
        f"{package} {version} is a compromised release (GHSA-w37p-236h-pfx3): uninstall it, then `make setup`"


def test_pyproject_excludes_the_compromised_releases():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = dict(requirement(s) for s in project["dependencies"])
    for package, versions in COMPROMISED.items():
        assert package in specs, package
        for version in versions:
            assert f"!={version}" in specs[package].replace(" ", ""), (package, version)


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, rest = requirement(line)
            assert rest.startswith("=="), f"constraints.txt pins exact versions: {line!r}"
            pins[name] = rest[2:]
    return pins


def test_constraints_pin_the_tested_set_and_make_setup_uses_them():
    pins = constraints()
    for package, versions in COMPROMISED.items():
        assert pins.get(package) not in versions
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert "anymae" not in pins
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [requirement(s)[0] for s in project["dependencies"]]
    wanted += [requirement(s)[0] for extra in ("test", "points", "tiff", "png16")
               for s in project["optional-dependencies"][extra]]
    unpinned = [name for name in wanted if name not in pins]
    assert not unpinned, f"not in constraints.txt: {unpinned}; re-record it ({RERECORD})"
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and "upgrade pip" not in line]
    assert installs and all("-c constraints.txt" in line for line in installs)


def test_installed_versions_are_the_pinned_ones():
    """The suite runs on the set constraints.txt records (a drifted package is named, to re-record)."""
    drifted = {}
    for package, version in constraints().items():
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue  # pinned for an extra this machine did not install
        if installed != version:
            drifted[package] = (version, installed)
    assert not drifted, f"installed versions differ from constraints.txt (pinned, installed): {drifted}; " \
        f"once `make test` passes with them, re-record it ({RERECORD})"
