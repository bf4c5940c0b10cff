"""Feature extractors ("backbones") and the two-part network every deep method trains.

A deep DA model is ``DANetwork(extractor, head)``: the extractor maps an input to a
feature vector (the representation that alignment losses act on and that
:meth:`~shiftlab.deep.estimator.BaseDeepDA.transform` returns), the head maps features
to class logits (or to one regression output).

Backbones provided:

* :class:`MLP` for feature vectors (pre-extracted CNN features such as the
  Office-Caltech DeCAF / GoogLeNet features, text embeddings, tabular data);
* :class:`SmallCNN`, a two-convolution network with batch normalisation for 16x16 and
  28x28 digit images;
* :class:`MNISTConvNet`, SKADA-Bench's MNIST/USPS backbone (PyTorch's MNIST example
  network: two 3x3 convolutions, no batch normalisation, dropout);
* any user ``torch.nn.Module`` (or a callable ``f(input_shape) -> nn.Module``), whose
  output is flattened into the feature vector.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

from shiftlab.deep._torch import require_torch
from shiftlab.exceptions import DataValidationError

torch = require_torch()
nn = torch.nn

__all__ = [
    "MLP",
    "DANetwork",
    "MNISTConvNet",
    "SmallCNN",
    "infer_image_shape",
    "make_backbone",
]


class MLP(nn.Module):
    """Multi-layer perceptron feature extractor: ``[Linear -> (BatchNorm) -> ReLU] x L``.

    Parameters
    ----------
    in_features : int
        Input size (inputs with more dimensions are flattened).
    hidden_sizes : sequence of int, default=(128,)
        Sizes of the hidden layers, before the feature layer.
    feature_dim : int, default=64
        Size of the output feature vector (the "bottleneck").
    batch_norm : bool, default=True
        Batch normalisation after every linear layer. TENT adapts these layers, and
        BN helps the joint source+target batches used by most methods.
    dropout : float, default=0.0
        Dropout after every hidden activation (not after the feature layer).
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = (128,),
        feature_dim: int = 64,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        sizes = [int(in_features), *[int(h) for h in hidden_sizes], int(feature_dim)]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU())
            if dropout > 0 and i < len(sizes) - 2:
                layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)
        self.out_features = int(feature_dim)

    def forward(self, x):
        return self.layers(x)


class SmallCNN(nn.Module):
    """Two-convolution network for small grey-level images (16x16 or 28x28 digits).

    ``conv(32, 5x5) -> BN -> ReLU -> maxpool 2 -> conv(64, 5x5) -> BN -> ReLU ->
    maxpool 2 -> Linear(feature_dim) -> BN -> ReLU``, padded so that any image side of at
    least 8 pixels works. This is the size of the 2-conv LeNet-style backbone used for
    MNIST/USPS in SKADA-Bench (Lalou et al., 2024) and in DANN (Ganin et al., 2016).

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)``. Flat inputs of ``prod(input_shape)`` values are
        reshaped, so the 256-column MNIST/USPS arrays work as they are.
    feature_dim : int, default=64
        Size of the output feature vector.
    channels : tuple of int, default=(32, 64)
        Number of filters of the two convolutions.
    dropout : float, default=0.0
        Dropout before the feature layer.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        feature_dim: int = 64,
        channels: Sequence[int] = (32, 64),
        dropout: float = 0.0,
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise DataValidationError(
                f"SmallCNN needs input_shape=(channels, height, width), got {tuple(input_shape)}."
            )
        self.input_shape = tuple(int(s) for s in input_shape)
        c, h, w = self.input_shape
        c1, c2 = (int(k) for k in channels)
        self.conv = nn.Sequential(
            nn.Conv2d(c, c1, kernel_size=5, padding=2),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = c2 * (h // 4) * (w // 4)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(flat, int(feature_dim)),
            nn.BatchNorm1d(int(feature_dim)),
            nn.ReLU(),
        )
        self.out_features = int(feature_dim)

    def forward(self, x):
        return self.fc(self.conv(x.reshape(x.shape[0], *self.input_shape)))


class MNISTConvNet(nn.Module):
    """SKADA-Bench's deep MNIST/USPS backbone, the network of PyTorch's MNIST example.

    ``conv(32, 3x3) -> ReLU -> conv(64, 3x3) -> ReLU -> maxpool 2 -> dropout 0.25 ->
    Linear(feature_dim) -> ReLU -> dropout 0.5``, unpadded, no batch normalisation
    (Lalou et al., 2024: ``ShallowConvNet``, whose last layer, ``Linear(128, 10)``, is the
    head here). On 28x28 images the flattened convolution output has 9,216 values.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)``, each side at least 6; flat inputs are reshaped.
    feature_dim : int, default=128
        Size of the output feature vector (SKADA-Bench: 128).
    """

    def __init__(self, input_shape: Sequence[int], feature_dim: int = 128):
        super().__init__()
        if len(input_shape) != 3 or min(input_shape[1:]) < 6:
            raise DataValidationError(
                "MNISTConvNet needs input_shape=(channels, height, width) with sides of at "
                f"least 6, got {tuple(input_shape)}."
            )
        self.input_shape = tuple(int(s) for s in input_shape)
        c, h, w = self.input_shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, 32, kernel_size=3),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
        )
        flat = 64 * ((h - 4) // 2) * ((w - 4) // 2)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, int(feature_dim)),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        self.out_features = int(feature_dim)

    def forward(self, x):
        return self.fc(self.conv(x.reshape(x.shape[0], *self.input_shape)))


class _FlattenOutput(nn.Module):
    """Wrap a user module so that its output is a flat feature vector."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        out = self.module(x)
        if isinstance(out, (tuple, list)):  # e.g. modules returning (features, aux)
            out = out[0]
        return out.reshape(out.shape[0], -1)


class DANetwork(nn.Module):
    """Feature extractor followed by a linear head; ``forward`` returns both outputs.

    Parameters
    ----------
    extractor : nn.Module
        Maps a batch of inputs to ``(batch, feature_dim)`` features.
    head : nn.Module
        Maps features to ``(batch, n_outputs)`` logits (or regression outputs).
    """

    def __init__(self, extractor: nn.Module, head: nn.Module):
        super().__init__()
        self.extractor = extractor
        self.head = head

    def forward(self, x):
        features = self.extractor(x)
        return features, self.head(features)


def infer_image_shape(sample_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(channels, height, width)`` of an image input, from the shape of one sample.

    ``(H, W)`` means one channel; a flat vector whose length is a perfect square
    (256 for 16x16, 784 for 28x28) is read as a one-channel square image.
    """
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)  # type: ignore[return-value]
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return (1, side, side)
    raise DataValidationError(
        f"Cannot read samples of shape {shape} as images; pass input_shape=(channels, "
        "height, width) or use backbone='mlp'."
    )


def make_backbone(
    backbone: str | nn.Module | Callable,
    sample_shape: Sequence[int],
    *,
    hidden_sizes: Sequence[int] = (128,),
    feature_dim: int = 64,
    batch_norm: bool = True,
    dropout: float = 0.0,
    input_shape: Sequence[int] | None = None,
) -> tuple[nn.Module, int]:
    """Build a fresh feature extractor and return it with its feature size.

    Parameters
    ----------
    backbone : {"auto", "mlp", "cnn", "mnist_cnn"}, nn.Module or callable
        ``"auto"`` picks ``"cnn"`` for inputs with more than one dimension per sample
        and ``"mlp"`` otherwise; ``"mnist_cnn"`` is :class:`MNISTConvNet`. A module is
        deep-copied (the caller's stays untouched); a callable is called with the sample
        shape and must return a module.
    sample_shape : tuple of int
        Shape of one input sample (``X.shape[1:]``).
    hidden_sizes, feature_dim, batch_norm, dropout
        Settings of the built-in backbones (see :class:`MLP` and :class:`SmallCNN`).
    input_shape : tuple of int, optional
        Image shape for ``"cnn"`` when it cannot be inferred from ``sample_shape``.
    """
    sample_shape = tuple(int(s) for s in sample_shape)
    if isinstance(backbone, str):
        name = backbone.lower()
        if name == "auto":
            name = "cnn" if len(sample_shape) > 1 or input_shape is not None else "mlp"
        if name == "mlp":
            module = MLP(math.prod(sample_shape), hidden_sizes, feature_dim, batch_norm, dropout)
            return module, module.out_features
        if name in ("cnn", "mnist_cnn"):
            shape = (
                tuple(input_shape) if input_shape is not None else infer_image_shape(sample_shape)
            )
            if math.prod(shape) != math.prod(sample_shape):
                raise DataValidationError(
                    f"input_shape {shape} holds {math.prod(shape)} values but each sample has "
                    f"{math.prod(sample_shape)}."
                )
            if name == "mnist_cnn":
                module = MNISTConvNet(shape, feature_dim)
            else:
                module = SmallCNN(shape, feature_dim, dropout=dropout)
            return module, module.out_features
        raise DataValidationError(
            f"Unknown backbone {backbone!r}: use 'auto', 'mlp', 'cnn', 'mnist_cnn', an "
            "nn.Module or a callable returning one."
        )
    if isinstance(backbone, nn.Module):
        module = copy.deepcopy(backbone)
    elif callable(backbone):
        module = backbone(sample_shape)
        if not isinstance(module, nn.Module):
            raise DataValidationError(
                f"The backbone factory returned {type(module).__name__}, not an nn.Module."
            )
    else:
        raise DataValidationError(
            f"backbone must be a name, an nn.Module or a callable, got {type(backbone).__name__}."
        )
    module = _FlattenOutput(module)
    # The feature size of a user module is found with a dry run on two zero samples
    # (two, so that BatchNorm layers accept the batch).
    was_training = module.training
    module.eval()
    with torch.no_grad():
        probe = next((p for p in module.parameters()), None)
        dev = probe.device if probe is not None else torch.device("cpu")
        out = module(torch.zeros((2, *sample_shape), device=dev))
    module.train(was_training)
    return module, int(out.shape[1])
