"""The deep estimators' scikit-learn API, inputs, backbones, training core and registry."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

import shiftlab.deep as deep  # noqa: E402
from _deep_task import make_shift_task, torch_single_thread  # noqa: E402,F401
from shiftlab.deep.training import DomainBalancedSampler  # noqa: E402
from shiftlab.exceptions import DataValidationError, UnknownNameError  # noqa: E402

pytestmark = pytest.mark.deep

QUICK = {"n_epochs": 2, "batch_size": 32, "random_state": 0, "device": "cpu"}




@pytest.fixture(scope="module")
def small():
    return make_shift_task(seed=2, n=60)


def _quick(name, **kw):
    extra = {"n_iter": 10} if name == "TIM" else {}
    if name == "TENT":
        extra["source_epochs"] = 2
    return deep.make_deep_da(name, **{**QUICK, **extra, **kw})


# ------------------------------------------------------------------- sklearn API
@pytest.mark.parametrize("spec", deep.list_deep_methods(), ids=lambda s: s.name)
def test_params_clone_and_signature(spec):
    model = spec.cls(random_state=3, lr=0.5)
    params = model.get_params()
    for name in deep.TRAINING_PARAMS:
        assert name in params
    for name in [*spec.grid, *spec.cpu_grid]:
        assert name in params, f"{spec.name} grid names unknown parameter {name}"
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    assert twin.set_params(lr=0.1) is twin and twin.lr == 0.1
    assert "lr=0.5" in repr(model)


@pytest.mark.parametrize("name", [s.name for s in deep.list_deep_methods()])
def test_fit_returns_self_and_outputs_have_the_right_shapes(name, small):
    X, y, sd, y_true = small
    model = _quick(name)
    with pytest.raises(NotFittedError):
        model.predict(X)
    if name == "TargetOnly":
        out = model.fit(X, y, sd, oracle_target_labels=y_true)
    else:
        out = model.fit(X, y, sd)
    assert out is model
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4) and np.allclose(proba.sum(1), 1)
    assert model.decision_function(X).shape == (len(X), 4)
    pred = model.predict(X, sample_domain=sd)
    assert set(np.unique(pred)) <= set(model.classes_)
    assert np.array_equal(pred, model.classes_[proba.argmax(1)])
    feats = model.transform(X)
    assert feats.shape[0] == len(X) and feats.dtype == np.float64
    assert 0 <= model.score(X[sd < 0], y_true[sd < 0]) <= 1
    assert model.n_features_in_ == X.shape[1] and model.history_


def test_final_outputs_equal_the_single_outputs_from_one_forward_pass(small, monkeypatch):
    import shiftlab.deep.estimator as est_module

    X, y, sd, _ = small
    model = _quick("DANN").fit(X, y, sd)
    methods = ("predict", "predict_proba", "decision_function")
    calls = []
    real = est_module.embed_rows

    def counting(*args, **kwargs):  # the real forward pass, counted
        calls.append(1)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(est_module, "embed_rows", counting)
        out = model.final_outputs(X[sd < 0], sd[sd < 0], methods)
    assert len(calls) == 1
    np.testing.assert_array_equal(out["predict"], model.predict(X[sd < 0], sd[sd < 0]))
    np.testing.assert_allclose(out["predict_proba"], model.predict_proba(X[sd < 0]))
    np.testing.assert_allclose(out["decision_function"], model.decision_function(X[sd < 0]))
    np.testing.assert_allclose(out["features"], model.transform(X[sd < 0]))

    class Shifted(type(model)):  # a subclass with its own predict is asked for it
        def predict(self, X, sample_domain=None):
            return np.zeros(len(X), dtype=int)

    shifted = Shifted(**model.get_params()).fit(X, y, sd)
    assert not shifted.final_outputs(X, sd, ("predict",))["predict"].any()
    X_r, y_r, sd_r, _ = _regression_task()
    reg = deep.make_deep_da("SourceOnly", n_epochs=2, random_state=0, device="cpu")
    reg.fit(X_r, y_r, sd_r)
    out_r = reg.final_outputs(X_r, sd_r, methods)
    assert set(out_r) == {"features", "predict"}
    np.testing.assert_allclose(out_r["predict"], reg.predict(X_r))


def test_labels_are_returned_in_the_callers_encoding(small):
    X, y, sd, _ = small
    y_named = np.where(y >= 0, y * 10 + 5, -1)
    model = deep.SourceOnly(**QUICK).fit(X, y_named, sd)
    assert list(model.classes_) == [5, 15, 25, 35]
    assert set(model.predict(X)) <= {5, 15, 25, 35}


def test_shape_mismatch_and_bad_params_are_reported(small):
    X, y, sd, _ = small
    model = deep.SourceOnly(**QUICK).fit(X, y, sd)
    with pytest.raises(DataValidationError, match="shape"):
        model.predict(X[:, :5])
    with pytest.raises(ValueError, match="n_epochs"):
        deep.SourceOnly(n_epochs=0).fit(X, y, sd)
    with pytest.raises(ValueError, match="optimizer"):
        deep.SourceOnly(optimizer="lbfgs").fit(X, y, sd)
    with pytest.raises(ValueError, match="early_stopping"):
        deep.DANN(early_stopping="target_accuracy").fit(X, y, sd)
    with pytest.raises(ValueError, match="reg"):
        deep.DAN(reg=-1).fit(X, y, sd)
    with pytest.raises(ValueError, match="mixed_precision"):
        deep.SourceOnly(mixed_precision="fp8", **QUICK).fit(X, y, sd)
    with pytest.raises(DataValidationError, match="target"):
        deep.MCC(**QUICK).fit(X[sd >= 0], y[sd >= 0])


def test_auto_device_and_precision_on_cpu(small):
    X, y, sd, _ = small
    model = deep.DANN(n_epochs=1, random_state=0).fit(X, y, sd)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.device_.type == expected
    if expected == "cpu":
        assert model._amp is None  # float32 on CPU: what makes runs bit-reproducible


# ------------------------------------------------------------------- regression
def _regression_task(n=80, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=5)
    Xs, Xt = rng.normal(size=(n, 5)), rng.normal(size=(n, 5)) + 0.5
    X = np.concatenate([Xs, Xt])
    y_true = X @ w + 0.1 * rng.normal(size=2 * n)
    sd = np.r_[np.ones(n, dtype=int), -2 * np.ones(n, dtype=int)]
    return X, np.where(sd < 0, np.nan, y_true), sd, y_true


@pytest.mark.parametrize("name", ["SourceOnly", "DeepCORAL", "DAN", "DANN", "DeepJDOT"])
def test_regression(name):
    X, y, sd, y_true = _regression_task()
    model = deep.make_deep_da(name, n_epochs=30, random_state=0, device="cpu").fit(X, y, sd)
    pred = model.predict(X)
    assert model.label_kind_ == "regression" and pred.shape == (len(X),)
    assert not hasattr(model, "predict_proba")
    assert model.score(X[sd >= 0], y_true[sd >= 0]) > 0.5


@pytest.mark.parametrize("name", ["MCC", "CDAN", "SHOT", "TIM"])
def test_classification_only_methods_refuse_regression(name):
    X, y, sd, _ = _regression_task()
    with pytest.raises(DataValidationError, match="classification"):
        _quick(name).fit(X, y, sd)


# ------------------------------------------------------------- inputs & backbones
def test_torch_dataset_input_matches_arrays(small):
    X, y, sd, _ = small
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(X, dtype=torch.float32))
    a = deep.DAN(**QUICK).fit(X, y, sd)
    b = deep.DAN(**QUICK).fit(dataset, y, sd)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(dataset))
    assert np.array_equal(a.transform(X), b.transform(dataset))


def _digits(n=40, side=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    imgs = rng.uniform(0, 0.2, size=(n, side, side))
    imgs[y == 0, :, side // 2] = 1.0  # vertical bar
    imgs[y == 1, side // 2, :] = 1.0  # horizontal bar
    return imgs, y


@pytest.mark.parametrize("side", [16, 28])
def test_small_cnn_on_images_in_every_layout(side):
    imgs, labels = _digits(side=side)
    sd = np.r_[np.ones(20, dtype=int), -2 * np.ones(20, dtype=int)]
    y = np.where(sd < 0, -1, labels)
    # Image-shaped arrays pick the CNN by themselves; flat ones need backbone="cnn".
    layouts = [(imgs[:, None], "auto"), (imgs, "auto"), (imgs.reshape(len(imgs), -1), "cnn")]
    for X, backbone in layouts:
        model = deep.DeepCORAL(backbone=backbone, **QUICK).fit(X, y, sd)
        assert isinstance(model.network_.extractor, deep.SmallCNN)
        assert model.predict_proba(X).shape == (40, 2)
    assert model.n_features_in_ == side * side


def test_mnist_cnn_is_skada_benchs_digit_network():
    """backbone="mnist_cnn" is SKADA-Bench's ShallowConvNet without its last layer: two
    unpadded 3x3 convolutions, 9,216 values into a 128-feature layer, no batch norm."""
    imgs, labels = _digits(side=28)
    sd = np.r_[np.ones(20, dtype=int), -2 * np.ones(20, dtype=int)]
    y = np.where(sd < 0, -1, labels)
    model = deep.DeepCORAL(backbone="mnist_cnn", input_shape=(1, 28, 28), feature_dim=128,
                           **QUICK).fit(imgs.reshape(40, -1), y, sd)
    extractor = model.network_.extractor
    assert isinstance(extractor, deep.MNISTConvNet)
    linear = [m for m in extractor.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(9216, 128)]
    # conv1 320 + conv2 18,496 + fc1 1,179,776 parameters, as ShallowConvNet's.
    assert sum(p.numel() for p in extractor.parameters()) == 1_198_592
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                   for m in extractor.modules())
    assert model.predict_proba(imgs.reshape(40, -1)).shape == (40, 2)
    with pytest.raises(DataValidationError, match="MNISTConvNet needs input_shape"):
        deep.MNISTConvNet((1, 4, 4))


def test_user_module_backbone_is_copied_not_modified(small):
    X, y, sd, _ = small
    torch.manual_seed(0)
    user = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU())
    before = [p.detach().clone() for p in user.parameters()]
    model = deep.MCC(backbone=user, **QUICK).fit(X, y, sd)
    assert model.transform(X).shape == (len(X), 16)
    for p, q in zip(user.parameters(), before, strict=True):
        assert torch.equal(p, q)

    def factory(sample_shape):
        return torch.nn.Sequential(torch.nn.Linear(sample_shape[0], 8), torch.nn.Tanh())

    model = deep.DAN(backbone=factory, **QUICK).fit(X, y, sd)
    assert model.transform(X).shape == (len(X), 8)
    with pytest.raises(DataValidationError, match="backbone"):
        deep.DAN(backbone="resnet", **QUICK).fit(X, y, sd)


# ----------------------------------------------------------------- training core
def test_domain_balanced_batches():
    domains = np.r_[np.full(10, 1), np.full(100, 3), np.full(30, -2)]
    sampler = DomainBalancedSampler(domains[:110], 20, np.random.default_rng(0))
    seen = []
    for _ in range(10):
        batch = sampler.next()
        assert len(batch) == 20
        counts = np.unique(domains[batch], return_counts=True)[1]
        assert list(counts) == [10, 10]  # equal share per source domain
        seen.append(batch)
    seen = np.concatenate(seen)
    assert set(seen[domains[seen] == 3]) == set(range(10, 110))  # the big domain is covered


@pytest.mark.parametrize("criterion", ["source_loss", "target_entropy"])
def test_label_free_early_stopping(criterion, small):
    X, y, sd, _ = small
    model = deep.DANN(
        n_epochs=30, patience=2, early_stopping=criterion, random_state=0, device="cpu"
    ).fit(X, y, sd)
    crit = [h["criterion"] for h in model.history_]
    assert len(crit) == model.n_epochs_ <= 30
    assert model.best_epoch_ == int(np.argmin(crit))
    if model.n_epochs_ < 30:
        assert model.n_epochs_ - 1 - model.best_epoch_ == 2


def test_schedules_and_sgd_train(small):
    X, y, sd, _ = small
    for schedule in ("cosine", "inverse"):
        model = deep.DANN(
            optimizer="sgd",
            lr=0.05,
            lr_schedule=schedule,
            n_epochs=4,
            random_state=0,
            device="cpu",
        ).fit(X, y, sd)
        lrs = [h["lr"] for h in model.history_]
        assert lrs[-1] < lrs[0] <= 0.05


def test_verbose_prints_one_line_per_epoch(small, capsys):
    X, y, sd, _ = small
    deep.BNM(verbose=1, **QUICK).fit(X, y, sd)
    assert capsys.readouterr().out.count("epoch ") == QUICK["n_epochs"]


# ----------------------------------------------------------------- source-free
def test_source_free_adaptation_from_a_source_model_on_target_rows_only(small):
    X, y, sd, y_true = small
    src = sd >= 0
    source = deep.SourceOnly(**QUICK).fit(X, y, sd)
    state = {k: v.clone() for k, v in source.network_.state_dict().items()}
    X_target = X[~src]
    for cls in (deep.SHOT, deep.EntropyKLPrior, deep.TENT):
        model = cls(source_model=source, **QUICK).fit(X_target)  # no y at all
        assert model.source_model_ is source
        assert model.predict_proba(X_target).shape == (len(X_target), 4)
        # The source model is untouched; adaptation worked on a copy.
        for k, v in source.network_.state_dict().items():
            assert torch.equal(v, state[k])
    # With a source model, source rows are ignored: giving them changes nothing.
    a = deep.SHOT(source_model=source, **QUICK).fit(X, y_true, sd)
    b = deep.SHOT(source_model=source, **QUICK).fit(X_target)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_shot_freezes_the_head_and_tent_only_moves_normalisation(small):
    X, y, sd, _ = small
    source = deep.SourceOnly(**QUICK).fit(X, y, sd)
    shot = deep.SHOT(source_model=source, **QUICK).fit(X[sd < 0])
    for p, q in zip(
        shot.network_.head.parameters(), source.network_.head.parameters(), strict=True
    ):
        assert torch.equal(p, q)
    tent = deep.TENT(source_model=source, **QUICK).fit(X[sd < 0])
    for (name, p), q in zip(
        tent.network_.named_parameters(), source.network_.parameters(), strict=True
    ):
        is_norm = any(
            name.startswith(prefix)
            for prefix, m in tent.network_.named_modules()
            if isinstance(m, torch.nn.BatchNorm1d) and prefix
        )
        assert torch.equal(p, q) != is_norm, name
        assert p.requires_grad
    no_bn = deep.SourceOnly(batch_norm=False, **QUICK).fit(X, y, sd)
    with pytest.raises(DataValidationError, match="BatchNorm"):
        deep.TENT(source_model=no_bn, **QUICK).fit(X[sd < 0])


def test_entropy_kl_prior_choices(small):
    X, y, sd, _ = small
    source = deep.SourceOnly(**QUICK).fit(X, y, sd)
    model = deep.EntropyKLPrior(source_model=source, class_prior="source", **QUICK)
    assert np.allclose(model.fit(X[sd < 0]).prior_, source.class_prior_)
    prior = [0.4, 0.3, 0.2, 0.1]
    model = deep.EntropyKLPrior(source_model=source, class_prior=prior, **QUICK)
    assert np.allclose(model.fit(X[sd < 0]).prior_, prior)
    with pytest.raises(ValueError, match="class_prior"):
        deep.EntropyKLPrior(source_model=source, class_prior=[1, 0], **QUICK).fit(X[sd < 0])


def test_tim_on_a_given_feature_extractor(small):
    X, y, sd, _ = small
    base = deep.DAN(**QUICK).fit(X, y, sd)
    tim = deep.TIM(base_model=base, n_iter=50, **QUICK).fit(X, y, sd)
    assert tim.base_model_ is base
    feats = tim.transform(X)
    assert np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    assert tim.history_[-1]["loss"] < tim.history_[0]["loss"]


# --------------------------------------------------------------------- registry
def test_registry_lookup_and_grids():
    names = [s.name for s in deep.list_deep_methods()]
    for required in (
        "SourceOnly",
        "TargetOnly",
        "DeepCORAL",
        "DAN",
        "DANN",
        "CDAN",
        "DeepJDOT",
        "MCC",
        "MDD",
        "CAN",
        "SPA",
        "SHOT",
        "EntropyKLPrior",
        "TENT",
        "TIM",
        "BNM",
    ):
        assert required in names
    assert deep.get_deep_method("dann").name == "DANN"
    with pytest.raises(UnknownNameError, match="Did you mean 'DANN'"):
        deep.get_deep_method("DANNN")
    for spec in deep.list_deep_methods():
        assert spec.reference
        for param, values in spec.cpu_grid.items():
            assert set(values) <= set(spec.grid[param]), (spec.name, param)
    assert deep.get_deep_method("DeepCORAL").grid["reg"] == [
        1e-5,
        1e-4,
        1e-3,
        1e-2,
        0.1,
        1.0,
        10.0,
        100.0,
        1000.0,
    ]
    assert deep.get_deep_method("DANN").sgd_training == {"lr_scale": 0.1, "momentum": 0.9}
    assert isinstance(deep.make_deep_da("MCC", reg=0.1), deep.MCC)


def test_one_namespace_with_the_shallow_methods():
    """A deep method's qualified name is deep:NAME; bare names shared with a shallow
    method are the known ones only (a new shared name would change what a bare name in
    an existing definition means: register it under another name)."""
    from shiftlab.methods.registry import list_methods

    specs = deep.list_deep_methods()
    assert all(s.qualified_name == f"deep:{s.name}" for s in specs)
    assert deep.get_deep_method("deep:DANN") is deep.get_deep_method("DANN")
    assert deep.get_deep_method("Deep:sourceonly").cls is deep.SourceOnly
    shallow = {s.name for s in list_methods()}
    assert shallow & {s.name for s in specs} == {"SourceOnly"}
    assert not shallow & {s.qualified_name for s in specs}
    for spec in specs:  # the decorator sits on the class it registers
        assert spec.cls_name == spec.cls.__name__
        assert spec.cls.__module__ in ("shiftlab.deep.methods", "shiftlab.deep.source_free",
                                       "shiftlab.deep.transductive")
    with pytest.raises(ValueError, match="already registered"):
        deep.register_deep_method(name="DANN", family="x", setting="unsupervised",
                                  reference="x")(type("Other", (), {}))
    with pytest.raises(ValueError, match="not in its grid"):
        deep.register_deep_method(name="Broken", family="x", setting="unsupervised",
                                  reference="x", grid={"reg": [1.0]},
                                  cpu_grid={"reg": [2.0]})(type("Broken", (), {}))
    assert "Broken" not in {s.name for s in deep.list_deep_methods()}


@pytest.mark.parametrize("name", ["DANN", "DeepJDOT", "SPA"])
def test_mixed_precision_code_path(name, small):
    """bfloat16 autocast (forced on CPU here; the default on CUDA) trains and predicts."""
    X, y, sd, _ = small
    model = deep.make_deep_da(name, mixed_precision=True, **QUICK).fit(X, y, sd)
    assert model._amp == torch.bfloat16
    assert np.isfinite([h["loss"] for h in model.history_]).all()
    proba = model.predict_proba(X)
    assert proba.dtype == np.float64 and np.allclose(proba.sum(1), 1)


# --------------------------------------------------------- model-selection records
def test_deep_models_work_with_the_selection_protocol():
    """Scorers read predict_proba / transform records of a deep model (DEV, SND, ...)."""
    selection = pytest.importorskip("shiftlab.selection")
    if not hasattr(selection, "evaluate_split"):
        pytest.skip("shiftlab.selection.evaluate_split is not available")
    X, _, sd, y_true = make_shift_task(seed=0, n=100)
    idx = np.random.default_rng(0).permutation(len(X))
    # MixVal-intra: defined for every model, so its probes are read on each record (the
    # combined MixVal is NaN, by design, for a 2-epoch model predicting one class).
    scorers = ["SrcVal", "IW", "DEV", "PE", "SND", "MixVal-intra", "BNM", "ClassAMI"]
    table = selection.evaluate_split(
        deep.DAN(n_epochs=2, random_state=0, device="cpu"),
        {"reg": [0.1, 10.0]},
        X,
        y_true,
        sd,
        idx[:160],
        idx[160:],
        scorers=scorers,
        inner_cv=2,
        random_state=0,
        n_jobs=1,
    )
    for scorer in scorers:
        scores = table.loc[table["scorer"] == scorer, "inner_score"].to_numpy(dtype=float)
        assert scores.shape == (2,) and np.isfinite(scores).all(), scorer


def test_cloned_source_free_and_tim_retrain_their_template(small):
    """clone() drops fitted state (as grid searches do): the model is then a template."""
    X, y, sd, _ = small
    source = deep.SourceOnly(**QUICK).fit(X, y, sd)
    shot = clone(deep.SHOT(source_model=source, **QUICK))
    assert not hasattr(shot.source_model, "network_")
    shot.fit(X, y, sd)
    assert shot.source_model_ is not shot.source_model and hasattr(shot.source_model_, "network_")
    with pytest.raises(DataValidationError, match="No source sample"):
        clone(shot).fit(X[sd < 0], y[sd < 0], sd[sd < 0])
    with pytest.raises(DataValidationError, match="source rows alone"):
        deep.TENT(source_model=deep.DANN(), **QUICK).fit(X, y, sd)
    tim = deep.TIM(base_model=deep.DAN(**QUICK), n_iter=5, **QUICK).fit(X, y, sd)
    assert isinstance(tim.base_model_, deep.DAN) and hasattr(tim.base_model_, "network_")


def test_cdan_randomized_map_and_spa_propagation_run(small):
    X, y, sd, _ = small
    cdan = deep.CDAN(max_map_dim=32, entropy_conditioning=True, **QUICK).fit(X, y, sd)
    assert isinstance(cdan.modules_["mapper"], deep.losses.RandomizedMultilinearMap)
    spa = deep.SPA(nap=1.0, n_neighbors=3, **QUICK).fit(X, y, sd)
    assert all(np.isfinite(h["nap"]) for h in spa.history_)
    can = deep.CAN(**QUICK).fit(X, y, sd)
    assert can.target_pseudo_labels_.shape == (int((sd < 0).sum()),)


def test_fitted_models_pickle(small):
    import pickle

    X, y, sd, _ = small
    model = deep.CDAN(**QUICK).fit(X, y, sd)
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.get_params() == model.get_params()
