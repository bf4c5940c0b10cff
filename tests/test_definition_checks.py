"""Runs you can trust: what a definition checks before any job runs, and a job whose every
candidate fails stops with the reason instead of a table of NaN."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError

from shiftlab.bench.definition import (
    DefinitionError,
    definition_from_dict,
    list_presets,
    load_definition,
)
from shiftlab.exceptions import AllCandidatesFailedError, ShiftlabError
from shiftlab.methods import make_da
from shiftlab.methods.label_shift import BBSE
from shiftlab.methods.registry import list_methods
from shiftlab.methods.reweight import KMM, DensityReweight, NearestNeighborReweight
from shiftlab.methods.selflabel import DASVM
from shiftlab.methods.subspace import TCA
from shiftlab.selection import DomainSearchCV, StratifiedDomainShuffleSplit, evaluate_split

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEF = """\
[benchmark]
name = "checks"

[protocol]
outer_splits = 2
inner_splits = 2
seed = 3

[[datasets]]
name = "sim-conditional"
tasks = ["source->target"]
options = { n_samples_source = 30, n_samples_target = 30 }

[estimator]
name = "LogisticRegression"
params = { max_iter = 200 }

[methods."Train Src"]
[methods.DensityReweight]
grid = { bandwidth = [0.5, "scott"] }
[methods.LinOT]
grid = { reg = [1e-6, 1.0] }

[scorers]
names = ["IW", "oracle"]

[execution]
executor = "inprocess"
"""


def _write(tmp_path: Path, old: str = "", new: str = "", name: str = "checks.toml") -> Path:
    assert old in DEF
    path = tmp_path / name
    path.write_text(DEF.replace(old, new, 1) if old else DEF)
    return path


def _line(path: Path, text: str) -> int:
    """1-based line of the first line holding ``text``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _error(path: Path) -> str:
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    return str(info.value)


def test_the_template_loads(tmp_path):
    definition = load_definition(_write(tmp_path))
    assert definition.name == "checks"
    assert [m.name for m in definition.methods] == ["Train Src", "DensityReweight", "LinOT"]


# ------------------------------------------------------ 1. constraints of the methods
@pytest.mark.parametrize("spec", list_methods(), ids=lambda s: s.name)
def test_every_registered_method_declares_its_parameter_constraints(spec):
    """Every shallow method states the type and range of each of its parameters; its
    defaults and the registry's grid (SKADA-Bench's) satisfy them."""
    assert "_parameter_constraints" in vars(spec.cls), f"{spec.name} declares none"
    params = spec.cls().get_params(deep=False)
    assert set(spec.cls._parameter_constraints) == set(params)
    spec.cls()._validate_params()
    for param, values in spec.grid.items():
        for value in values:
            spec.cls(**{param: value})._validate_params()


@pytest.mark.parametrize(
    "model",
    [
        DensityReweight(bandwidth="banana"),
        KMM(B="big"),
        TCA(n_components="3"),
        DASVM(k="many"),
        # Accepted without a word before (a truthy string, a smoothing that was on):
        NearestNeighborReweight(laplace_smoothing="no"),
        BBSE(soft="yes"),
    ],
    ids=repr,
)
def test_fit_validates_parameters_with_scikit_learn_constraints(model):
    """fit starts with scikit-learn's parameter validation (its contract): the error is
    sklearn's InvalidParameterError, which names the parameter and what it must be."""
    X, y = np.zeros((8, 2)), np.r_[0, 1, 0, 1, -1, -1, -1, -1]
    with pytest.raises(InvalidParameterError, match=r"parameter of \w+ must be"):
        model.fit(X, y)


def test_a_bad_grid_value_is_an_error_at_load_with_its_place(tmp_path):
    """Before: every candidate failed inside the job and every score was NaN."""
    path = _write(tmp_path, 'bandwidth = [0.5, "scott"]', 'bandwidth = [0.5, "banana"]')
    message = _error(path)
    line = _line(path, "banana")
    assert message.startswith(
        f"{path}:{line}: [methods.DensityReweight] bandwidth: 'banana' is not valid: "
        "The 'bandwidth' parameter of DensityReweight must be a float in the range"
    ), message
    assert message.endswith("Got 'banana' instead.")


def test_a_boolean_grid_value_is_only_taken_where_a_boolean_is_meant(tmp_path):
    """scikit-learn reads true as 1 in a number range; a definition does not."""
    path = _write(tmp_path, "reg = [1e-6, 1.0]", "reg = [true]")
    message = _error(path)
    assert f":{_line(path, 'reg = [true]')}: [methods.LinOT] reg: True is not valid: " \
           "The 'reg' parameter of LinearOTMapping must be a float" in message
    path = _write(tmp_path, "reg = [1e-6, 1.0]", "reg = [1e-6], bias = [true, false]")
    load_definition(path)  # bias is a boolean


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        ("params = { max_iter = 200 }", "params = { max_iter = 200, C = -1 }", "[estimator]",
         "params.C: -1 is not valid: The 'C' parameter of LogisticRegression must be a "
         "float in the range (0.0, inf]. Got -1 instead."),
        ('tasks = ["source->target"]',
         'tasks = ["source->target"]\nestimator = { name = "SVC", params = { C = 0 } }',
         "[datasets #1.estimator]", "params.C: 0 is not valid: The 'C' parameter of SVC"),
        ("params = { max_iter = 200 }", 'params = { max_iter = "many" }', "[estimator]",
         "params.max_iter: 'many' is not valid: The 'max_iter' parameter of "
         "LogisticRegression must be an int"),
    ],
)
def test_estimator_parameters_are_validated_at_load(tmp_path, old, new, where, expected):
    path = _write(tmp_path, old, new)
    message = _error(path)
    key = re.search(r"params\.(\w+)", expected).group(1)
    line = _line(path, f"{key} =")
    assert message.startswith(f"{path}:{line}: {where} {expected}"), message


@pytest.mark.deep
@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ('reg = ["x"]', "reg: 'x' is not valid: DANN's 'reg' must be a number."),
        ("reg = [-1.0]", "reg: -1.0 is not valid: reg must be >= 0, got -1.0."),
        ("disc_hidden = [[64, 0]]",
         "disc_hidden: [64, 0] is not valid: DANN's 'disc_hidden' must be a list of "
         "positive integers."),
        ('n_epochs = ["x"]', "n_epochs must be a non-negative integer, got 'x'."),
    ],
)
def test_deep_grid_values_are_type_checked_at_load(tmp_path, grid, expected):
    pytest.importorskip("torch")
    path = _write(tmp_path, "[methods.LinOT]",
                  f'[methods.DANN]\nclass = "shiftlab.deep.DANN"\ngrid = {{ {grid} }}\n'
                  "[methods.LinOT]")
    message = _error(path)
    assert message.startswith(f"{path}:{_line(path, grid)}: [methods.DANN] {expected}"), message


# ---------------------------------------------------------------- 2. value types
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('executor = "inprocess"', 'executor = "dask"\ndask_address = 12345',
         "[execution] dask_address must be a scheduler address (a string), "
         'e.g. "tcp://host:8786", got 12345 (an integer).'),
        ('executor = "inprocess"', 'executor = "local"\nn_jobs = "all"',
         "[execution] n_jobs must be an integer"),
        ('executor = "inprocess"', 'executor = "local"\nn_jobs = 2.5',
         "[execution] n_jobs must be an integer"),
        ('executor = "inprocess"', 'executor = "local"\ntimeout = -5',
         "[execution] timeout must be a positive number of seconds"),
        ('executor = "inprocess"', 'executor = "local"\ntimeout = "1h"',
         "[execution] timeout must be a positive number of seconds"),
        ('executor = "inprocess"', 'executor = "dask"\ndask_workers = 0',
         "[execution] dask_workers must be a positive integer, got 0 (an integer)."),
        ('executor = "inprocess"', 'executor = "dask"\ndask_workers = 1.5',
         "[execution] dask_workers must be a positive integer"),
        ('executor = "inprocess"', 'executor = "inprocess"\ndevice = "gpu"',
         "[execution] unknown device 'gpu'."),
        ('executor = "inprocess"', 'executor = "inprocess"\ndevice = 0',
         "[execution] unknown device 0."),
        ('executor = "inprocess"', "executor = 1", "[execution] unknown executor 1."),
        ('executor = "inprocess"', 'executor = "dask"\ndask_no_worker_timeout = 0',
         "[execution] dask_no_worker_timeout must be a positive number of seconds"),
        ("inner_splits = 2", "inner_splits = 2.0",
         "[protocol] inner_splits must be a positive integer, got 2.0 (a float)."),
        ("inner_splits = 2", "inner_splits = true",
         "[protocol] inner_splits must be a positive integer, got True (a boolean)."),
        ("seed = 3", "seed = 3.5", "[protocol] seed must be an integer"),
        ("seed = 3", "seed = -1", "[protocol] seed must be an integer in [0, 2**32 - 1]"),
        ("seed = 3", 'seed = 3\nouter_test_size = "0.2"',
         "[protocol] outer_test_size must be a fraction in (0, 1), got '0.2' (a string)."),
        ("seed = 3", "seed = 3\ninner_val_size = 1",
         "[protocol] inner_val_size must be a fraction in (0, 1)"),
        ("seed = 3", 'seed = 3\nrefit_candidates = "best"',
         '[protocol] refit_candidates must be "all" or "selected", got \'best\''),
        ('tasks = ["source->target"]', 'tasks = ["source->target"]\nmax_samples_per_domain = 0',
         "[datasets #1] max_samples_per_domain must be a positive integer"),
        ('tasks = ["source->target"]',
         'tasks = ["source->target"]\nmax_samples_per_domain = "all"',
         "[datasets #1] max_samples_per_domain must be a positive integer"),
        ('tasks = ["source->target"]', 'tasks = "source->target"',
         '[datasets #1] tasks must be a list of "SOURCE->TARGET" strings'),
        ('tasks = ["source->target"]', 'tasks = ["source->target", 3]',
         '[datasets #1] tasks must be a list of "SOURCE->TARGET" strings'),
        ('tasks = ["source->target"]', 'tasks = ["source_to_target"]',
         "[datasets #1] tasks: 'source_to_target' is not a task: Cannot parse task"),
        ('tasks = ["source->target"]', 'tasks = ["target->target"]',
         "[datasets #1] tasks: 'target->target' is not a task: Domain 'target' is both"),
        ('tasks = ["source->target"]', 'tasks = ["->target"]',
         "[datasets #1] tasks: '->target' names an empty domain"),
        ("options = { n_samples_source = 30, n_samples_target = 30 }", "options = 3",
         "[datasets #1] options must be a table"),
        ("params = { max_iter = 200 }", 'params = { max_iter = 200 }\nstandardize = "no"',
         "[estimator] standardize must be true or false, got 'no' (a string)."),
        ('names = ["IW", "oracle"]', 'names = "IW"', "[scorers] names must be a non-empty list"),
        ('names = ["IW", "oracle"]', "names = []", "[scorers] names must be a non-empty list"),
        ('name = "checks"', 'name = "checks"\ndescription = 3',
         "[benchmark] description must be a string, got 3 (an integer)."),
        ("[methods.LinOT]\ngrid = { reg = [1e-6, 1.0] }", "[methods]\nLinOT = 3",
         "[methods.LinOT] methods.LinOT must be a table"),
    ],
)
def test_wrongly_typed_values_are_located_errors(tmp_path, old, new, expected):
    path = _write(tmp_path, old, new)
    message = _error(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", message), message
    assert expected in message, message
    # The line is the one of the offending key.
    assert message.startswith(f"{path}:{_line(path, new.splitlines()[-1])}: "), message


# -------------------------------------------------------------- 3. names as folders
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ('"../escape"', "it holds a path separator"),
        ('"runs/mine"', "it holds a path separator"),
        ('"runs\\\\mine"', "it holds a path separator"),
        ('"/tmp/abs"', "it holds a path separator"),
        ('".."', "it starts with '.'"),
        ('".hidden"', "it starts with '.'"),
        ('""', "it is empty"),
        ('"a\\u0000b"', "it holds a NUL character"),
        ('"C:evil"', "it holds ':'"),
        ('"two words"', "it holds ' '"),
    ],
)
def test_the_name_must_be_a_safe_folder_name(tmp_path, name, why):
    path = _write(tmp_path, 'name = "checks"', f"name = {name}")
    message = _error(path)
    assert message.startswith(f"{path}:{_line(path, 'name = ')}: [benchmark] name "), message
    assert "names the run folder (shiftlab-runs/NAME)" in message
    assert why in message
    assert "Use letters, digits, '-', '_' and '.' (not first)" in message


def test_name_type_safe_names_and_names_taken_from_the_file(tmp_path):
    message = _error(_write(tmp_path, 'name = "checks"', "name = 3"))
    assert "[benchmark] name must be a string, got 3 (an integer)." in message
    for ok in ("my-bench_2", "v1.0", "A.b-c_d"):
        assert load_definition(_write(tmp_path, 'name = "checks"', f'name = "{ok}"')).name == ok
    # Without a name, the file's name is used, and must be safe as well.
    assert load_definition(_write(tmp_path, 'name = "checks"\n', "", "from-file.toml")).name \
        == "from-file"
    message = _error(_write(tmp_path, 'name = "checks"\n', "", "two words.toml"))
    assert "the name (none given: the file's name, 'two words')" in message
    assert 'Set [benchmark] name = "..."' in message


def test_presets_load_and_keep_their_dicts():
    """Every shipped preset passes every check, and the new execution keys stay out of its
    dict at their defaults (so digests and job keys of existing runs do not move)."""
    has_torch = importlib.util.find_spec("torch") is not None
    for preset in list_presets():
        if preset.startswith("deep") and not has_torch:
            continue  # deep methods need torch
        definition = load_definition(preset)
        execution = definition.to_dict()["execution"]
        assert set(execution) <= {"executor", "n_jobs", "timeout", "dask_address",
                                  "dask_workers", "device"}, execution


# ------------------------------------------------------------ 5. new execution keys
def _pem(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_new_execution_keys_parse_and_stay_out_of_the_dict_at_defaults(tmp_path):
    base = load_definition(_write(tmp_path))
    ex = base.execution
    assert ex.dask_no_worker_timeout == 300.0
    assert ex.dask_tls_ca_file is ex.dask_tls_cert_file is ex.dask_tls_key_file is None
    assert not set(base.to_dict()["execution"]) & {
        "dask_no_worker_timeout", "dask_tls_ca_file", "dask_tls_cert_file", "dask_tls_key_file"}
    ca, cert, key = (_pem(tmp_path, n) for n in ("ca.pem", "me.pem", "me.key"))
    path = _write(tmp_path, 'executor = "inprocess"',
                  f'executor = "dask"\ndask_no_worker_timeout = 30\n'
                  f'dask_tls_ca_file = "{ca}"\ndask_tls_cert_file = "{cert}"\n'
                  f'dask_tls_key_file = "{key}"')
    tls = load_definition(path)
    assert tls.execution.dask_no_worker_timeout == 30.0
    assert (tls.execution.dask_tls_ca_file, tls.execution.dask_tls_cert_file,
            tls.execution.dask_tls_key_file) == (ca, cert, key)
    assert tls.to_dict()["execution"]["dask_tls_key_file"] == key
    assert tls.digest() != "" and tls.to_dict()["methods"] == base.to_dict()["methods"]


def test_tls_files_must_exist_and_come_as_a_pair(tmp_path):
    missing = str(tmp_path / "absent.pem")
    path = _write(tmp_path, 'executor = "inprocess"',
                  f'executor = "dask"\ndask_tls_ca_file = "{missing}"')
    message = _error(path)
    assert message.startswith(f"{path}:{_line(path, 'dask_tls_ca_file')}: [execution] "
                              f"dask_tls_ca_file: no file at {missing!r}"), message
    cert = _pem(tmp_path, "me.pem")
    path = _write(tmp_path, 'executor = "inprocess"',
                  f'executor = "dask"\ndask_tls_cert_file = "{cert}"')
    assert ("[execution] dask_tls_cert_file is set but dask_tls_key_file is not"
            in _error(path))
    path = _write(tmp_path, 'executor = "inprocess"', 'executor = "dask"\ndask_tls_key_file = 1')
    assert "dask_tls_key_file must be the path of a PEM file (a string), got 1" in _error(path)
    # A client certificate without the cluster's CA (or the reverse) would connect in clear.
    key = _pem(tmp_path, "me.key")
    path = _write(tmp_path, 'executor = "inprocess"',
                  f'executor = "dask"\ndask_tls_cert_file = "{cert}"\n'
                  f'dask_tls_key_file = "{key}"')
    assert "dask_tls_cert_file is set but dask_tls_ca_file is not" in _error(path)


def test_with_execution_takes_the_new_keys_and_checks_them(tmp_path):
    base = load_definition(_write(tmp_path))
    cert, key = _pem(tmp_path, "me.pem"), _pem(tmp_path, "me.key")
    ca = _pem(tmp_path, "ca.pem")
    moved = base.with_execution(executor="dask", dask_no_worker_timeout=5,
                                dask_tls_cert_file=cert, dask_tls_key_file=key,
                                dask_tls_ca_file=ca)
    assert moved.execution.executor == "dask"
    assert moved.execution.dask_no_worker_timeout == 5.0
    assert (moved.execution.dask_tls_cert_file, moved.execution.dask_tls_key_file) == (cert, key)
    assert moved.digest() == base.digest()  # execution settings are not in the digest
    with pytest.raises(DefinitionError, match="dask_tls_key_file is set but dask_tls_cert"):
        base.with_execution(dask_tls_key_file=key)
    with pytest.raises(DefinitionError, match="timeout must be a positive number"):
        base.with_execution(timeout=-1)


def test_dict_definitions_take_none_as_left_out():
    data = tomllib.loads(DEF)
    data["execution"].update(timeout=None, dask_address=None, dask_tls_ca_file=None)
    data["protocol"]["seed"] = None
    definition = definition_from_dict(data)
    assert definition.execution.timeout is None and definition.protocol.seed == 0


# ------------------------------------------------ 4. every candidate failed: no NaN job
def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    ys, yt = rng.integers(0, 2, n), rng.integers(0, 2, n)
    X = np.r_[rng.normal(size=(n, 2)) + 1.5 * ys[:, None],
              rng.normal(size=(n, 2)) + 1.5 * yt[:, None] + 1.0]
    return X, np.r_[ys, yt], np.r_[np.ones(n, dtype=int), -2 * np.ones(n, dtype=int)]


def test_a_split_whose_every_candidate_fails_raises_with_the_first_error():
    X, y, sd = _data()
    train, test = next(StratifiedDomainShuffleSplit(1, test_size=0.25, random_state=0)
                       .split(X, y, sd))
    pipe = make_da("DensityReweight", LogisticRegression())
    grid = {"densityreweight__bandwidth": ["banana", -1.0]}
    with pytest.warns(UserWarning, match="failed to fit"):  # each fit still says so
        with pytest.raises(AllCandidatesFailedError) as info:
            evaluate_split(pipe, grid, X, y, sd, train, test, inner_cv=2, random_state=0,
                           scorers=["IW", "oracle"])
    message = str(info.value)
    assert isinstance(info.value, ShiftlabError) and isinstance(info.value, ValueError)
    assert message.startswith("All 2 candidates failed to fit on every inner split "
                              "(4 fits on 2 split(s), all failed)"), message
    assert '{"densityreweight__bandwidth": "banana"}' in message
    assert "InvalidParameterError(\"The 'bandwidth' parameter of DensityReweight" in message
    assert "Got 'banana' instead." in message
    assert "Other errors: 2 fit(s) with InvalidParameterError" in message  # the -1.0 fits


def test_some_candidates_failing_still_selects_among_the_others():
    X, y, sd = _data()
    train, test = next(StratifiedDomainShuffleSplit(1, test_size=0.25, random_state=0)
                       .split(X, y, sd))
    pipe = make_da("DensityReweight", LogisticRegression())
    grid = {"densityreweight__bandwidth": ["banana", 1.0]}
    with pytest.warns(UserWarning, match="failed"):  # its inner fits and its refit
        table = evaluate_split(pipe, grid, X, y, sd, train, test, inner_cv=2, random_state=0,
                               scorers=["IW", "oracle"])
    assert set(table.loc[table["selected"], "candidate"]) == {1}


def test_domain_search_cv_raises_when_no_candidate_fits():
    X, y, sd = _data()
    search = DomainSearchCV(make_da("DensityReweight", LogisticRegression()),
                            {"densityreweight__bandwidth": ["banana"]}, scorers=["IW"],
                            cv=2, inner_cv=2, random_state=0)
    with pytest.warns(UserWarning, match="failed to fit"):
        with pytest.raises(AllCandidatesFailedError, match=r"^1 candidate failed to fit"):
            search.fit(X, y, sd)


# ------------------------------------------------------------ selection across methods
def test_pool_selectors_are_checked_and_safe_belongs_to_the_pool(tmp_path):
    names = next(line for line in DEF.splitlines() if line.startswith("names = "))
    ok = load_definition(_write(tmp_path, names, names + '\npool = ["EnsV", "safe", "IWA"]'))
    assert ok.pool == ("EnsV", "safe", "IWA") and tuple(ok.to_dict()["pool"]) == ok.pool
    assert "pool" not in load_definition(_write(tmp_path)).to_dict()  # digest unchanged
    path = _write(tmp_path, names, names + '\npool = ["EnsVV"]')
    assert "pool: unknown selector 'EnsVV'. Did you mean 'EnsV'?" in _error(path)
    path = _write(tmp_path, names, names + '\npool = ["oracle"]')
    assert "the oracle is not a realistic selector" in _error(path)
    path = _write(tmp_path, names, names.replace("[", '["safe", ', 1))
    assert "'safe' selects across methods" in _error(path)
    path = _write(tmp_path, names, names + "\npool = []")
    assert "pool must be a non-empty list of selectors" in _error(path)
    text = _write(tmp_path, names, names + '\npool = ["EnsV"]').read_text()
    selected = tmp_path / "selected.toml"
    selected.write_text(text.replace("[protocol]", '[protocol]\nrefit_candidates = "selected"'))
    assert 'pool needs [protocol] refit_candidates = "all"' in _error(selected)
