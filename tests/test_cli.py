"""The `shiftlab` command line, run as a user would (a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shiftlab.data import DomainDataset


def shiftlab(*args, timeout=180):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "shiftlab.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.parametrize(
    "args",
    [[], ["datasets"], ["datasets", "info"], ["simulate"], ["demo"], ["run"], ["report"],
     ["status"], ["list"], ["diagnose"], ["select"], ["predict"]],
)
def test_help_everywhere(args):
    out = shiftlab(*args, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_version():
    out = shiftlab("--version")
    assert out.returncode == 0 and out.stdout.startswith("shiftlab, version")


@pytest.mark.data
def test_datasets_table_lists_every_catalog_entry(shared_data_home):
    from shiftlab.data.catalog import catalog

    out = shiftlab("datasets", "--data-home", str(shared_data_home))
    assert out.returncode == 0, out.stderr
    for info in catalog():
        assert info.name in out.stdout
    assert "yes" in out.stdout  # the shared files are available


def test_datasets_info_and_unknown_name(shared_data_home):
    out = shiftlab("datasets", "info", "mushrooms")
    assert out.returncode == 0, out.stderr
    assert "enlarging" in out.stdout or "stalk" in out.stdout
    bad = shiftlab("datasets", "info", "mushroms")
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[0].startswith("error: Unknown dataset 'mushroms'")
    assert "Did you mean 'mushrooms'" in bad.stderr
    assert "Traceback" not in bad.stderr
    debug = shiftlab("--debug", "datasets", "info", "mushroms")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize("generator", ["blobs", "gaussians"])
def test_simulate_writes_a_loadable_dataset(tmp_path, generator):
    path = tmp_path / "cov.npz"
    out = shiftlab("simulate", "covariate", "-o", str(path), "--generator", generator,
                   "--n-source", "60", "--n-target", "40", "--seed", "3")
    assert out.returncode == 0, out.stderr
    ds = DomainDataset.load(path)
    assert ds.domain_names == ["source", "target"]
    assert ds.metadata  # provenance of the generator
    bad = shiftlab("simulate", "covarite", "-o", str(path))
    assert bad.returncode == 2 and "covariate" in bad.stderr


def test_demo_shows_the_drop_caused_by_the_shift():
    out = shiftlab("demo", "--shift", "conditional")
    assert out.returncode == 0, out.stderr
    values = {}
    for line in out.stdout.splitlines():
        if "accuracy" in line:
            key, _, value = line.rpartition(":")
            values[key.strip()] = float(value)
    src = values["source accuracy (held-out source)"]
    tgt = values["target accuracy"]
    assert tgt < src - 0.05


def test_list_commands():
    for what, expected in (("methods", "CORAL"), ("scorers", "oracle"),
                           ("datasets", "sim-covariate"), ("presets", "quick")):
        out = shiftlab("list", what)
        assert out.returncode == 0, out.stderr
        assert expected in out.stdout
