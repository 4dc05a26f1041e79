"""convlens: a PyTorch workbench for learning, building, training and looking inside CNNs.

The front door, `import convlens as cl`:

Models
    build(model, input_shape=None, *, num_classes=None) -- a model from a registry name, spec
        text ("conv 32 3, maxpool 2, dense 10") or YAML spec file; it remembers input_shape.
    summary(model, input_shape=None) -- the layer table (shapes, parameters, mult-adds,
        receptive field); any nn.Module, on its own input_shape by default.
    draw(model, input_shape=None, *, out=None) -- the architecture as a picture.
    list_models() -- the model registry as a table (name, parameters, input, source, what it
        is); prints as text, shows as HTML in Jupyter.
    feature_maps(model, image) -- {layer name: tensor} of every conv and pooling layer for
        one image, for a model trained or not (or a Run).

Data
    load_dataset(name, split="train") -- one split of a data set as a Dataset (.classes,
        .images, .labels, len(), ds[i], .show_batch(n)).
    photo(name="camera", *, gray=False) -- a real photo (offline) as uint8 pixels, to try
        kernels and models on: camera, astronaut, coffee, chelsea, rocket, moon, ...

Training and runs
    train(model, data, *, out=None, resume=False, quiet=False, **options) -- train a
        registry model, a spec or any nn.Module; options are TrainConfig fields (epochs,
        lr, ...); quiet=True prints nothing; returns a Run.
    sweep(model, grid, data=None, *, seeds=1, **options) -- every combination of a grid
        ({"k": [3, 5]} fills "conv 32 {k}, ..."; or settings like batch_size), each trained
        `seeds` times; returns an Experiment: a table of mean accuracy and spread, .plot().
    compare(models, data=None, *, seeds=1, **options) -- several models on the same data and
        budget (e.g. ["mlp", "keras_mnist"]); the same Experiment table.
    lr_find(model, data, *, steps=100, rule="min/10") -- a short exponential sweep of the
        learning rate on a copy of the model; .suggestion, .rule, .plot(). `train(...,
        lr="find")` runs it first and trains with its suggestion.
    load(path, model=None) -- open a run folder (pass a fresh instance for a run of your own
        nn.Module class); returns a Run.
    Run -- .history (per-epoch metrics, .plot()), .evaluate() (accuracy, confusion, most
        confused, top losses), .predict(images), .show(kind) (every `convlens show` picture),
        .report() (report.html), .explore() (the explorer page on a local server).

The primer (NumPy)
    conv2d(x, kernel, *, stride=1, padding=0, dilation=1) -- what a conv layer computes.
    conv1d(signal, kernel, ...) -- the same on a 1-D signal.
    pool2d(x, size, *, stride=None, padding=0, mode="max") -- max or mean pooling.
    output_size(n, kernel, *, stride=1, padding=0, dilation=1) -- the output size formula.
    conv_transpose2d(x, kernel, *, stride=1, padding=0, output_padding=0) -- a transposed
        convolution (each input cell scatters kernel * value); transposed_output_size(...)
        its output size.
    KERNELS -- the classic hand-made kernels (blur, sharpen, edges) by name.
    check(yours, reference, *, mistakes=None) -- a lesson exercise's verdict: "correct", or
        what differs (shape, dtype, first differing element, a flipped kernel, transposed,
        off by a constant, or a named mistake).

Pictures are `Picture` objects: they display in Jupyter and save with `.savefig(path)`.
Errors are `ConvlensError`s with a one-line message. The same tools from the shell:
`convlens --help`.

Example:
    >>> import convlens as cl
    >>> model = cl.build("conv 32 3, maxpool 2, dense 10", input_shape="1x28x28")
    >>> cl.summary(model)
    >>> run = cl.train(model, data="digits", epochs=1)
    >>> run.evaluate().accuracy
"""

import importlib as _importlib
from typing import TYPE_CHECKING
from typing import Any as _Any

from convlens._version import __version__
from convlens.errors import ConvlensError

if TYPE_CHECKING:  # what editors and mypy see: the real signatures (loaded on first use below)
    from convlens.api.data import Dataset, load_dataset
    from convlens.api.experiments import Experiment, compare, sweep
    from convlens.api.images import photo
    from convlens.api.inside import feature_maps
    from convlens.api.lr_find import lr_find
    from convlens.api.models import draw, list_models
    from convlens.api.run import Run, load
    from convlens.api.training import train
    from convlens.look.picture import Picture
    from convlens.models.build import build
    from convlens.models.summary import summary
    from convlens.primer.check import check
    from convlens.primer.convmath import conv1d, conv2d, pool2d
    from convlens.primer.geometry import output_size
    from convlens.primer.kernels import KERNELS
    from convlens.primer.transposed import conv_transpose2d, transposed_output_size

# The front door, loaded on first use: `import convlens` stays fast (the CLI imports the
# package on every call, and torch takes seconds to import). The TYPE_CHECKING block above
# and __all__ name the same things (tests/test_front_door.py holds the three together).
_FRONT_DOOR = {
    "build": "convlens.models.build",
    "summary": "convlens.models.summary",
    "draw": "convlens.api.models",
    "list_models": "convlens.api.models",
    "feature_maps": "convlens.api.inside",
    "load_dataset": "convlens.api.data",
    "Dataset": "convlens.api.data",
    "photo": "convlens.api.images",
    "train": "convlens.api.training",
    "lr_find": "convlens.api.lr_find",
    "sweep": "convlens.api.experiments",
    "compare": "convlens.api.experiments",
    "Experiment": "convlens.api.experiments",
    "load": "convlens.api.run",
    "Run": "convlens.api.run",
    "Picture": "convlens.look.picture",
    "conv2d": "convlens.primer.convmath",
    "conv1d": "convlens.primer.convmath",
    "pool2d": "convlens.primer.convmath",
    "output_size": "convlens.primer.geometry",
    "conv_transpose2d": "convlens.primer.transposed",
    "transposed_output_size": "convlens.primer.transposed",
    "KERNELS": "convlens.primer.kernels",
    "check": "convlens.primer.check",
}

__all__ = [
    "ConvlensError",
    "__version__",
    "build",
    "summary",
    "draw",
    "list_models",
    "feature_maps",
    "load_dataset",
    "Dataset",
    "photo",
    "train",
    "lr_find",
    "sweep",
    "compare",
    "Experiment",
    "load",
    "Run",
    "Picture",
    "conv2d",
    "conv1d",
    "pool2d",
    "output_size",
    "conv_transpose2d",
    "transposed_output_size",
    "KERNELS",
    "check",
]


if not TYPE_CHECKING:  # hidden from type checkers: a misspelt `cl.trian` is their error

    def __getattr__(name: str) -> _Any:
        """`convlens.NAME` for a front-door name: imported from its module on first use."""
        module = _FRONT_DOOR.get(name)
        if module is None:
            raise AttributeError(f"module 'convlens' has no attribute {name!r}")
        value = getattr(_importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
