"""Benchmark definitions: a readable TOML file, validated with located errors.

A definition names the datasets (and tasks), the methods with their grids, the base
estimator, the scorers, the protocol (outer / inner splits, sizes, seed) and how to
execute the jobs. Presets ship with the package (``quick``, ``skada-bench``); any other
argument is read as a path. Example::

    [benchmark]
    name = "my-bench"

    [protocol]
    outer_splits = 5
    inner_splits = 5

    [[datasets]]
    name = "sim-conditional"

    [estimator]
    name = "LogisticRegression"

    [methods.CORAL]
    grid = { assume_centered = [false, true] }

    [scorers]
    names = ["IW", "PE", "SND", "oracle"]

The ``[scorers]`` table may also set ``metric``, the *selection metric* of the scorers
that compare predictions with labels (``SrcVal``, ``IW``, ``DEV``/``DEVN``, ``CircV`` and
the oracle; see :mod:`shiftlab.selection.scorers`): ``"accuracy"`` (the default: each of
these scorers keeps its usual score), ``"balanced_accuracy"``, ``"roc_auc"`` or
``"log_loss"`` (scored as the negative log-loss)::

    [scorers]
    names = ["IW", "DEV", "oracle"]
    metric = "balanced_accuracy"

``[scorers] pool`` asks for selection *across* methods: for each task and outer split,
the candidates of every shallow method (and source-only, which the run adds when no
``[methods.SourceOnly]`` is given) are pooled from their stored records, and each named
selector chooses (``EnsV``, ``zconsensus``, ``safe``, or any realistic scorer of
``names``) or aggregates (``Average``, ``IWA``) among them, with no refit. The report
shows one row per selector, as the method ``shiftlab: <selector>`` (``shiftlab: oracle``
is the cross-method oracle when ``names`` has the oracle). Pools refit nothing, so they
need ``[protocol] refit_candidates = "all"`` (the default)::

    [scorers]
    names = ["IW", "PE", "oracle"]
    pool = ["EnsV", "zconsensus", "safe", "IWA"]

A method may set ``max_samples_per_domain``: it is then *fitted* on at most that many
rows per domain, as SKADA-Bench subsampled its slow methods (JDOT, DASVM, TCA, TSL)::

    [methods.JDOT]
    grid = { alpha = [0.1, 0.3, 0.5, 0.7, 0.9] }
    max_samples_per_domain = 500

Its semantics, chosen so that the report's rows stay comparable:

* what is capped is the **outer-train part** of each outer split: each domain keeps at
  most ``N`` of its outer-train rows (source domains stratified on the class, target
  domains uniformly: their labels are hidden), drawn from the job's seed
  (:func:`shiftlab.bench.jobs.job_seed`, which depends on the task and outer split only,
  so every capped method of a task and split gets the same rows). The method's inner
  splits are drawn from those rows, and its selected candidates are refitted on them;
* the method is **evaluated on the same outer test rows** as every other method (the
  test part is never capped), so its test scores are those of the other rows of the
  report, on the same target rows;
* the cap is part of the job key of the methods that set it only: every other method
  keeps the key it has in a definition without caps, and a definition without caps
  keeps its dict and digest (the field is left out at its default);
* a cross-method pool (``[scorers] pool``) leaves capped methods out: their inner
  splits are drawn from other rows, and a pool's selectors compare candidates on common
  inner validation folds. The run summary says which methods were left out, and
  ``shiftlab select`` leaves them out of its pool the same way.

The dataset-level ``max_samples_per_domain`` (a ``[[datasets]]`` key) differs: it
subsamples the whole dataset before the outer splits, for every method (test rows
included).

A method's ``dataset_grids`` table replaces its ``grid`` on the datasets it names, as
SKADA-Bench cuts some grids on some datasets; each grid is checked as ``grid`` is, and
only the jobs of those datasets and that method change keys::

    [methods.TSL]
    grid = { n_components = [1, 2, 5, 10, 20, 50, 100], mu = [0.1, 1, 10] }

    [methods.TSL.dataset_grids]
    mushrooms = { n_components = [5, 10, 20], mu = [1], max_iter = [4] }

Deep methods (:mod:`shiftlab.deep`, needs torch) are methods like the others, in the
same namespace: ``[methods."deep:NAME"]`` names the deep method ``NAME`` (the qualified
name, which no shallow method can take), with a grid of the deep estimator's parameters
and optional ``sgd_training`` changes applied on datasets that train with SGD
(``lr_scale`` multiplies the learning rate, other keys replace training parameters). A
bare ``[methods.NAME]`` is the shallow method when there is one (``SourceOnly``), else
the deep one (``DANN``). The older ``class = "shiftlab.deep.NAME"`` key still marks a
deep method; every form gives the same method, digest and job keys. Each dataset may
carry a ``training`` table (backbone, optimiser, epochs...: the shared parameters of
:class:`shiftlab.deep.BaseDeepDA`) used by every deep method on it, and ``[execution]
device`` picks ``"auto"``, ``"cpu"`` or ``"cuda"``::

    [[datasets]]
    name = "mnist_usps"
    tasks = ["mnist->usps"]
    training = { backbone = "cnn", input_shape = [1, 16, 16], n_epochs = 5 }

    [methods."deep:SourceOnly"]

    [methods."deep:DANN"]
    grid = { reg = [0.1, 1.0] }
    sgd_training = { lr_scale = 0.1, momentum = 0.9 }

    [execution]
    device = "cpu"

The ``[execution]`` table (every key optional; the command line overrides them)::

    [execution]
    executor = "local"              # "inprocess", "local" (processes) or "dask"
    n_jobs = -1                     # local workers; negative: cores + 1 + n_jobs
    timeout = 3600                  # seconds per job (a positive number); absent: none
    device = "auto"                 # deep methods: "auto", "cpu" or "cuda"
    dask_address = "tls://scheduler:8786"   # absent: a local Dask cluster
    dask_workers = 2                # workers of that local cluster (a positive integer)
    dask_no_worker_timeout = 300.0  # seconds a Dask run waits with no worker, then stops
    dask_tls_ca_file = "ca.pem"     # PEM files for TLS to the scheduler: the CA, and
    dask_tls_cert_file = "me.pem"   # this client's certificate and key (both or neither;
    dask_tls_key_file = "me.key"    # relative paths are read from the current folder)

Everything is validated when the definition is loaded, before any job runs, so that a
typo costs an error message rather than a run of failed jobs:

* every key is known and every value has its type and range (an integer, a positive
  number, a fraction in (0, 1), one of a list of names, tasks as ``"SRC->TGT"``...);
* the benchmark's ``name`` names its run folder (``shiftlab-runs/NAME``), so it holds
  only letters, digits, ``-``, ``_`` and ``.`` (not first): no path separator, no
  ``..``, no hidden or absolute path;
* every grid value of a shallow method passes the method's parameter constraints
  (scikit-learn's ``_parameter_constraints``, which its ``fit`` checks too), and the base
  estimators' parameters pass scikit-learn's; a deep method's grid values are checked
  for their type and by the method's own parameter checks;
* the Dask TLS files exist.

Every error names the file, the line (when it can be found), the table and the
offending key, says what is expected, and suggests the nearest valid name.
"""


# Implementation: _spec (the dataclasses and fixed choices), _checker (DefinitionError
# messages and shared value tests), _params (methods and their grids), _sections (the
# other tables) and _load (load_definition, definition_from_dict, presets).
from shiftlab.bench.definition._load import (
    definition_from_dict,
    list_presets,
    load_definition,
)
from shiftlab.bench.definition._params import effective_training
from shiftlab.bench.definition._sections import POOL_ONLY_SCORERS as POOL_ONLY_SCORERS
from shiftlab.bench.definition._sections import PREPROCESSING_KEYS as PREPROCESSING_KEYS
from shiftlab.bench.definition._sections import TABLE_KEYS as TABLE_KEYS
from shiftlab.bench.definition._spec import AUTO_ESTIMATOR as AUTO_ESTIMATOR
from shiftlab.bench.definition._spec import BACKBONES as BACKBONES
from shiftlab.bench.definition._spec import (
    BASELINES,
    BenchmarkDefinition,
    DatasetSpec,
    DefinitionError,
    EstimatorSpec,
    ExecutionSpec,
    MethodEntry,
    ProtocolSpec,
)
from shiftlab.bench.definition._spec import DEVICES as DEVICES
from shiftlab.bench.definition._spec import ESTIMATORS as ESTIMATORS
from shiftlab.bench.definition._spec import EXECUTORS as EXECUTORS
from shiftlab.bench.definition._spec import RUNNER_PARAMS as RUNNER_PARAMS
from shiftlab.bench.definition._spec import probabilistic_svc as probabilistic_svc

__all__ = [
    "BASELINES",
    "BenchmarkDefinition",
    "DatasetSpec",
    "DefinitionError",
    "EstimatorSpec",
    "ExecutionSpec",
    "MethodEntry",
    "ProtocolSpec",
    "definition_from_dict",
    "effective_training",
    "list_presets",
    "load_definition",
]
