"""Build (and optionally run) the lesson notebooks from the cells written here.

    .venv/bin/python lessons/build.py             # write lessons/*.ipynb without outputs
    .venv/bin/python lessons/build.py --execute   # run them fully and save their outputs

Keeping the cells in one Python file makes the lessons reviewable as text; the committed
notebooks carry outputs from a full run on a 2-core CPU. CONVLENS_QUICK=1 (the tests) shrinks
data and epochs so every lesson runs in seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = """import os
from pathlib import Path
import matplotlib.pyplot as plt
QUICK = os.environ.get("CONVLENS_QUICK") == "1"     # the tests run every lesson in quick mode
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").is_file())
RUNS = ROOT / "runs" / ("lessons-quick" if QUICK else "lessons")"""

LESSONS: dict[str, list[tuple[str, str]]] = {}

LESSONS["01_convolution_and_pooling"] = [
    (
        "md",
        """# 1. Convolution and pooling, by hand

A convolutional layer slides a small grid of weights, the **kernel**, over its input and
writes one number per position: the sum of the input values under the kernel, each
multiplied by the kernel weight on top of it. Pooling slides a window too, but keeps the
largest (max pooling) or the average (mean pooling) value instead of a weighted sum.
`convlens.primer.convmath` computes both with plain numpy, slowly enough to read, and is checked
against PyTorch, numpy and scipy in the tests.""",
    ),
    (
        "code",
        SETUP
        + """
import numpy as np
from convlens.primer import convmath""",
    ),
    (
        "md",
        """## One dimension first

Signal `[1, 3, 2, 4, 5, 6, 1, 3]`, kernel `[1, 0, 3, 1, 2]`, two zeros of padding on each
side. `flip=True` turns the kernel around first: that is the textbook convolution (and
what `numpy.convolve` computes). Without the flip it is a *cross-correlation*, which is what
`torch.nn.Conv2d` computes; for learned kernels the difference does not matter, because the
network simply learns the flipped weights.""",
    ),
    (
        "code",
        """signal, kernel = [1, 3, 2, 4, 5, 6, 1, 3], [1, 0, 3, 1, 2]
print("convolution      :", convmath.conv1d(signal, kernel, padding=2, flip=True))
print("numpy.convolve    :", np.convolve(signal, kernel, mode="same"))
print("cross-correlation:", convmath.conv1d(signal, kernel, padding=2))""",
    ),
    (
        "md",
        """## Two dimensions, and the three padding modes

`valid` uses no padding (the output shrinks), `same` pads so the output keeps the input's
size at stride 1, `full` pads enough that every overlap of kernel and input counts.""",
    ),
    (
        "code",
        """X = np.array([[1, 3, 2, 4], [5, 6, 1, 3], [1, 2, 0, 2], [3, 4, 3, 2]])
W = np.array([[1, 0, 3], [1, 2, 1], [0, 1, 1]])
for mode in ("valid", "same", "full"):
    out = convmath.conv2d(X, W, padding=mode, flip=True)
    print(f"{mode:5} -> {out.shape}\\n{out.astype(int)}\\n")""",
    ),
    (
        "md",
        """## How one output value comes about

`conv2d_steps` yields the arithmetic of every output cell: which input rows and columns the
window covers (in the padded input), the products and their sum.""",
    ),
    (
        "code",
        """step = next(convmath.conv2d_steps(X, W, padding="valid", flip=True))
print("window rows", step.rows, "cols", step.cols)
print("patch:\\n", step.patch.astype(int))
print("products:\\n", step.products.astype(int), "\\nsum =", step.value)""",
    ),
    (
        "md",
        """## The output-size formula

For input size n, kernel k, padding p (each side), stride s and dilation d:
`out = floor((n + 2p - d(k-1) - 1) / s) + 1`. Stride skips positions; dilation spreads the
kernel's taps apart so it sees a wider area with the same number of weights.""",
    ),
    (
        "code",
        """print(convmath.explain_output_size(7, 3, stride=2, padding=1))
print(convmath.explain_output_size(28, 3))                 # a 3x3 conv on MNIST: 26
print(convmath.explain_output_size(28, 3, dilation=2))     # dilated: reaches 5 pixels, 24""",
    ),
    (
        "md",
        """## Classic kernels on a real photo

Before networks learned their kernels, people designed them: blurs average, sharpening
adds the difference to the neighbours, Sobel kernels respond to brightness changes in one
direction. A CNN's first layer often learns kernels that look much like these.""",
    ),
    (
        "code",
        """from convlens.look.kernels import draw_kernels, sample_photo
fig = draw_kernels(sample_photo(), ["box_blur", "sharpen", "sobel_x", "sobel_y", "outline"])""",
    ),
    (
        "md",
        """## Pooling

Max pooling with a 2x2 window and stride 2 keeps the strongest response of each block and
halves the height and width; it has no weights to learn.""",
    ),
    (
        "code",
        """A = np.array([[1, 3, 2, 4], [5, 6, 1, 3], [1, 2, 0, 2], [3, 4, 3, 2]])
print("max :\\n", convmath.pool2d(A, 2, mode="max"))
print("mean:\\n", convmath.pool2d(A, 2, mode="mean"))""",
    ),
    (
        "md",
        """From the command line, `convlens conv-explain --input 7x7 --kernel 3 --stride 2
--padding 1` and `convlens pool-explain` animate the same arithmetic as GIFs.""",
    ),
]

LESSONS["02_build_and_inspect"] = [
    (
        "md",
        """# 2. Building a CNN from a spec, and reading its summary

A CNN is a list of layers. convlens writes that list as text: `conv 32 3` is a convolution
with 32 filters of 3x3 (ReLU unless `act=` says otherwise), `maxpool 2` halves the size,
`dense 64` is a fully connected layer; the last `dense` gives the class scores (logits).""",
    ),
    (
        "code",
        SETUP
        + """
from convlens.models.build import build
from convlens.models.summary import summary
spec = "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 3, flatten, dense 64, dense 10"
model = build(spec, input_shape=(1, 28, 28))
model""",
    ),
    (
        "md",
        """## The summary: shapes, parameters, cost

Every row is one layer: its output shape, its parameters, how many multiply-adds one image
costs there, how much of the input one output pixel sees (receptive field), and memory.""",
    ),
    (
        "code",
        """s = summary(model, (1, 28, 28))
print(s)""",
    ),
    (
        "md",
        """## Where the parameter counts come from

A conv layer with `c_in` input channels, `c_out` filters and a k x k kernel has
k * k * c_in * c_out weights plus one bias per filter. The first layer here: 3 * 3 * 1 * 32
+ 32 = **320**. A dense layer has in * out weights plus out biases: the 3 * 3 * 64 = 576
flattened values times 64 units, plus 64, gives 36,928.""",
    ),
    ("code", """print(s.explain())"""),
    (
        "md",
        """## The same model from a tuple list

Notebook-style tuple lists work too: `('c', 64, 3)` is a conv with same padding and ReLU,
`('m', 2)` max pooling, `('f', None)` flatten, `('d', n)` dense.""",
    ),
    (
        "code",
        """vgg = build([('c', 64, 3), ('c', 64, 3), ('m', 2), ('c', 128, 3), ('m', 2), ('c', 128, 3),
             ('f', None), ('d', 1024), ('d', 10)], input_shape=(3, 32, 32))
print(f"{sum(p.numel() for p in vgg.parameters()):,} parameters")   # the notebook's 8,660,042""",
    ),
    (
        "md",
        """## A picture of the architecture

Each box is a feature map, sized by its height, width and number of channels.""",
    ),
    (
        "code",
        """from convlens.look.architecture import draw_architecture
draw_architecture(model, (1, 28, 28))""",
    ),
    (
        "md",
        """## Mistakes are explained

A kernel that does not fit, an unknown word: the message names the layer, the shape that
came in and what would work.""",
    ),
    (
        "code",
        """from convlens.errors import SpecError
for bad in ("conv 32 3, maxpool 2, conv 64 15", "conv 32 3, maxpul 2", "conv 32 3, dropout 1.5"):
    try:
        build(bad, input_shape=(1, 28, 28))
    except SpecError as err:
        print(err)""",
    ),
]

LESSONS["03_train_evaluate_predict"] = [
    (
        "md",
        """# 3. Training on Fashion-MNIST, evaluating, predicting your own image

Fashion-MNIST has 60,000 training and 10,000 test images of clothing, 28 x 28 gray pixels,
in 10 classes. convlens keeps the whole set in memory as one tensor of bytes.""",
    ),
    (
        "code",
        SETUP
        + """
import numpy as np
import torch
from convlens.data import load_dataset
train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
print(len(train), len(test), train.input_shape, train.classes)
fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
for ax, i in zip(axes.flat, range(16)):
    ax.imshow(train.images[i, 0], cmap="gray"); ax.set_title(train.classes[train.labels[i]], fontsize=8)
    ax.axis("off")""",
    ),
    (
        "md",
        """## Samples, batches and epochs

A **sample** is one image with its label. A **batch** is the group of samples used for one
update of the weights: the loss is averaged over the batch and one gradient step is taken.
An **epoch** is one pass over the whole training set, so with a batch of 256 one epoch is
60,000 / 256 = 234 steps (the last partial batch is dropped).""",
    ),
    (
        "code",
        """batch = 256
print(f"{len(train) // batch} steps per epoch with batches of {batch}")""",
    ),
    (
        "md",
        """## Softmax and the loss, on real numbers

The network's last layer gives one score (logit) per class. **Softmax** turns scores into
probabilities: exponentiate, divide by the sum. **Cross-entropy** is minus the log of the
probability given to the true class: 0 when the model is sure and right, large when it is
sure and wrong. Label smoothing asks for 90% on the true class instead of 100%, which keeps
the model from becoming over-confident.""",
    ),
    (
        "code",
        """import torch.nn.functional as F
logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
targets = torch.tensor([0, 0])
probs = logits.softmax(1)
print("softmax:", probs.numpy().round(3))
print("by hand:", (-probs[torch.arange(2), targets].log()).numpy().round(3))
print("F.cross_entropy per sample:", F.cross_entropy(logits, targets, reduction="none").numpy().round(3))
print("with label smoothing 0.1:", F.cross_entropy(logits, targets, reduction="none",
                                                   label_smoothing=0.1).numpy().round(3))""",
    ),
    (
        "md",
        """## Training the default recipe

A small batch-norm CNN (`fastcnn`), AdamW with a one-cycle learning-rate schedule, label
smoothing, horizontal flips. On 2 CPU cores it reaches about 93% test accuracy in
2-3 minutes; the run folder keeps config, metrics and checkpoints.""",
    ),
    (
        "code",
        """from convlens.config import TrainConfig
from convlens.engine.train import train as fit_run
cfg = TrainConfig(epochs=1 if QUICK else 8, limit_train=2000 if QUICK else None,
                  progress=False, out=str(RUNS / "fashion"))
import shutil; shutil.rmtree(cfg.out, ignore_errors=True)
result = fit_run(cfg)""",
    ),
    (
        "md",
        """## Evaluation

Accuracy alone hides which classes are hard. Precision: of the images predicted as a class,
how many are it. Recall: of the images of a class, how many were found. Shirts are the
hardest class: they look like T-shirts, pullovers and coats.""",
    ),
    (
        "code",
        """from convlens.engine.evaluate import evaluate_run
ev = evaluate_run(cfg.out)
ev""",
    ),
    ("code", """print("\\n".join(f"{t} -> {p}: {n}" for t, p, n in ev.most_confused(5)))"""),
    (
        "md",
        """## Predicting your own image

A drawing is dark on light paper, but Fashion-MNIST items are light on black: convlens
notices the light background and inverts it, crops to the object, fits it into 28 x 28
keeping its shape, and normalises it like the training data.""",
    ),
    (
        "code",
        """from convlens.engine.predict import predict
from convlens.look.results import draw_predictions
preds = predict(cfg.out, [ROOT / "docs" / "sneaker_drawing.png"])
print(preds[0].line())
fig = draw_predictions(preds)""",
    ),
    (
        "md",
        """The same from the command line: `convlens train`, `convlens eval RUN`,
`convlens predict RUN IMAGE --show`. MNIST and CIFAR-10 work the same way with
`--data mnist` or `--data cifar10` when you have their files (`--data-dir`), and
`--data digits` gives 5,000 MNIST digits offline.""",
    ),
]

LESSONS["04_look_inside"] = [
    (
        "md",
        """# 4. Looking inside a trained CNN

What did the network learn? Its first-layer filters can be drawn directly; its feature maps
show what each layer responds to in one image; saliency and Grad-CAM show where it looked.""",
    ),
    (
        "code",
        SETUP
        + """
from convlens.config import TrainConfig
from convlens.engine.train import train as fit_run
from convlens.look.inspector import Inspector
cfg = TrainConfig(epochs=1 if QUICK else 4, limit_train=2000 if QUICK else None,
                  progress=False, out=str(RUNS / "inside"))
import shutil; shutil.rmtree(cfg.out, ignore_errors=True)
fit_run(cfg, log=None)
look = Inspector.open(cfg.out)""",
    ),
    (
        "md",
        """## Learning curves

Training and test loss per epoch. Train loss includes label smoothing, so it stays higher
than the test loss; a test accuracy that stops rising while train accuracy climbs is the
sign of overfitting.""",
    ),
    ("code", """fig = look.picture("curves")"""),
    (
        "md",
        """## First-layer filters beside the classic kernels

Each learned 3x3 filter is shown next to the hand-made kernel it resembles most (cosine
similarity; a minus sign means the flipped kernel). Many look like edge detectors.""",
    ),
    ("code", """fig = look.picture("filters")"""),
    (
        "md",
        """## How the filters changed during training

Training recorded the first layer after every epoch (epoch 0 = the random start).""",
    ),
    (
        "code",
        """from convlens.look.weights import draw_evolution_strip
fig = draw_evolution_strip(look.run)""",
    ),
    (
        "md",
        """## Feature maps of every layer for one image

Early layers respond to edges and textures at full resolution; deeper layers are smaller
and respond to larger parts of the object.""",
    ),
    ("code", """fig = look.picture("features", index=0)"""),
    (
        "md",
        """## Mistakes, and where the model looked

The most confident mistakes are often ambiguous images (shirts versus T-shirts). Grad-CAM
weights the last conv layer's maps by how much they raise the predicted class.""",
    ),
    ("code", """fig = look.picture("mistakes", n=12)"""),
    (
        "code",
        """worst = int(look.evaluation().top_losses(1)[0])
fig = look.picture("gradcam", index=worst)
fig = look.picture("saliency", index=worst)""",
    ),
    (
        "md",
        """`convlens show KIND RUN` draws each of these from the command line, and
`convlens report RUN` puts them all on one HTML page.""",
    ),
]

LESSONS["05_experiments"] = [
    (
        "md",
        """# 5. Experiments: kernel size, batch size, epochs, CNN versus MLP, transfer

Changing one thing at a time and measuring is how you learn what matters. Every run below
is a real run folder; the tables are measured, not quoted. (In quick mode they use a few
thousand images and one epoch, so their numbers are much lower.)""",
    ),
    (
        "code",
        SETUP
        + """
from convlens.config import TrainConfig
from convlens.engine.sweep import summarize, sweep, table
from IPython.display import Markdown
base = TrainConfig(epochs=1 if QUICK else 3, limit_train=2000 if QUICK else 20000,
                   batch_size=128, optimizer="adam", lr=2e-3, weight_decay=0.0,
                   label_smoothing=0.0, augment="none", progress=False, record_filters="none",
                   doctor=False)""",
    ),
    (
        "md",
        """## Kernel size

Same network, filters of 3x3, 5x5 or 7x7. Bigger kernels see more at once but cost more
parameters and arithmetic.""",
    ),
    (
        "code",
        """rows = summarize(sweep("conv 32 {k}, maxpool 2, flatten, dense 10", {"k": ["3", "5", "7"]},
                      base, RUNS / "kernel", log=None))
Markdown(table(rows))""",
    ),
    (
        "md",
        """## Batch size

Smaller batches take more (noisier) steps per epoch; larger ones fewer, faster steps.""",
    ),
    (
        "code",
        """rows = summarize(sweep("conv 32 3, maxpool 2, flatten, dense 10",
                      {"batch_size": ["32", "128", "512"]}, base, RUNS / "batch", log=None))
Markdown(table(rows))""",
    ),
    (
        "md",
        """## Epochs, with seeds

Repeating a run with other seeds shows how much of a difference is noise.""",
    ),
    (
        "code",
        """rows = summarize(sweep("conv 32 3, maxpool 2, flatten, dense 10", {"epochs": ["1", "3"]},
                      base, RUNS / "epochs", seeds=2, log=None))
Markdown(table(rows))""",
    ),
    (
        "md",
        """## CNN versus MLP with the same number of parameters

An MLP sees the image as 784 unrelated numbers; a CNN reuses its small kernels at every
position. With about 93,000 parameters each, the CNN spends far more arithmetic per image
and makes fewer mistakes.""",
    ),
    (
        "code",
        """from convlens.engine.compare import compare, table as compare_table
rows = compare(["mlp", "keras_mnist"], base, RUNS / "compare", log=None)
Markdown(compare_table(rows))""",
    ),
    (
        "md",
        """## Transfer: from digits to clothes

Start a Fashion-MNIST model from one trained on MNIST digits (the offline `digits` set) and
compare with training from scratch on the same small budget.""",
    ),
    (
        "code",
        """from convlens.engine.train import train as fit_run
import shutil
small = base.replace(model="fastcnn", epochs=1, limit_train=1000 if QUICK else 3000)
digits = small.replace(data="digits", limit_train=None, epochs=1 if QUICK else 5,
                       out=str(RUNS / "digits"))
shutil.rmtree(digits.out, ignore_errors=True); fit_run(digits, log=None)
results = {}
for name, extra in {"scratch": {}, "from digits": {"init_from": digits.out},
                    "from digits, convs frozen": {"init_from": digits.out, "freeze": "conv"}}.items():
    cfg = small.replace(out=str(RUNS / "transfer" / name.replace(" ", "_").replace(",", "")), **extra)
    shutil.rmtree(cfg.out, ignore_errors=True)
    results[name] = fit_run(cfg, log=None).best_accuracy
Markdown("| start | test accuracy |\\n|---|---:|\\n" + "\\n".join(f"| {k} | {v:.2%} |" for k, v in results.items()))""",
    ),
]


def build_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook(
        cells=[
            new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def execute(path: Path, *, timeout: int = 900) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in lessons/ and return it with outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run them and keep outputs")
    parser.add_argument("names", nargs="*", help="only these lessons (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for name, cells in LESSONS.items():
        if args.names and not any(n in name for n in args.names):
            continue
        path = HERE / f"{name}.ipynb"
        nbformat.write(build_notebook(cells), path)
        if args.execute:
            nbformat.write(execute(path), path)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
