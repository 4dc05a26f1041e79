"""Build (and optionally run) the lesson notebooks from the cells written here.

    .venv/bin/python lessons/build.py             # write lessons/*.ipynb without outputs
    .venv/bin/python lessons/build.py --execute   # run them fully and save their outputs
    .venv/bin/python lessons/build.py --prose     # new text only: keep the outputs of the run

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
import numpy as np
import convlens as cl
QUICK = os.environ.get("CONVLENS_QUICK") == "1"     # the tests run every lesson in quick mode
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").is_file())
RUNS = ROOT / "runs" / ("lessons-quick" if QUICK else "lessons")"""

# Notebook 004's network, written out; lessons 2 (inspect) and 3 (train) both define it.
NET_004 = """from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_shape = (1, 28, 28)
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(576, 64)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.conv3(x)).flatten(1)
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))
"""

LESSONS: dict[str, list[tuple[str, str]]] = {}

LESSONS["01_convolution_and_pooling"] = [
    (
        "md",
        """# 1. Convolution and pooling, by hand

**What you will be able to do after this lesson**

- compute a convolution of a small image with a small filter on paper, and check it with
  `cl.conv2d` / `cl.conv1d`;
- say what padding (`valid`, `same`, `full`) and stride do, and predict the output size with
  `floor((n + 2p - m) / s) + 1` before running anything;
- tell convolution from cross-correlation, and why `W[::-1, ::-1]` is a flip and not a transpose;
- explain what max pooling keeps, what it throws away, and why a small shift often does not
  change its output.

A convolutional layer slides a small grid of weights, the **kernel** (or filter), over its
input. At every position it multiplies each input value under the kernel by the weight on top
of it and adds the products up: one output number per position. Pooling slides a window too,
but keeps the largest (max pooling) or the average (mean pooling) value instead of a weighted
sum. Everything in this lesson runs in plain NumPy through the front door `import convlens as
cl`; the functions are checked against PyTorch, NumPy and SciPy in convlens's tests.""",
    ),
    ("code", SETUP),
    (
        "md",
        """## The smallest case: a 3x3 image and a 2x2 filter

Write the image as letters and the filter as f1..f4:

```
| a b c |     | f1 f2 |     | f1a+f2b+f3d+f4e   f1b+f2c+f3e+f4g |
| d e g |  *  | f3 f4 |  =  | f1d+f2e+f3h+f4j   f1e+f2g+f3j+f4k |
| h j k |
```

Line the filter up with the top-left corner, multiply the four pairs, add: that is the
top-left output. Move one step right for the next output, one step down for the next row. A
2x2 filter fits in 2 positions across and 2 down, so the output is 2x2.

Try it with numbers before running the cell: image 1..9 row by row, filter `[[1, 0], [0, -1]]`.
The top-left output is 1*1 + 0*2 + 0*4 + (-1)*5 = **-4**. Every other position also gives
-4, because this filter measures "top-left minus bottom-right", and in this image every
pixel is 4 less than its lower-right neighbour. A second one, from the d2l book: image 0..8,
kernel `[[0, 1], [2, 3]]`; the top-left output is 0*0 + 1*1 + 3*2 + 4*3 = **19**.""",
    ),
    (
        "code",
        """image = np.arange(1, 10).reshape(3, 3)
f = np.array([[1, 0], [0, -1]])
print(image, "\\n")
print(cl.conv2d(image, f), "\\n")
print(cl.conv2d(np.arange(9).reshape(3, 3), [[0, 1], [2, 3]]))   # d2l: [[19, 25], [37, 43]]""",
    ),
    (
        "md",
        """## A horizontal-edge detector, by hand

Take an image with a clear horizontal edge: three rows of 200 (bright) above three rows of 0
(dark), 6 rows by 5 columns. The filter has 10s on top, 0s in the middle and -10s at the
bottom. Where the filter sits entirely in the bright part, the top row gives 3 * 10 * 200 =
6000 and the bottom row -6000: they cancel, the output is 0. The same in the dark part. Only
where the top of the filter is on bright pixels and the bottom on dark ones does it give
6000 + 0 - 0 = **6000**. A 3x3 filter fits in 6 - 3 + 1 = 4 positions down and 5 - 3 + 1 = 3
across, so the output is 4x3. Work it out, then run the cell. (`cl.KERNELS` holds this filter
as `horizontal_edge`, beside the other classic kernels.)""",
    ),
    (
        "code",
        """edge = np.array([[200] * 5] * 3 + [[0] * 5] * 3)
h_edge = cl.KERNELS["horizontal_edge"].weights
print(edge, "\\n")
print(h_edge, "\\n")
print(cl.conv2d(edge, h_edge).astype(int))""",
    ),
    (
        "md",
        """The edge is now "highlighted": the two middle rows, where the filter straddles the
boundary, are 6000; everywhere else is 0. A CNN learns filters like this one from data
instead of being given them.

## Convolution or cross-correlation?

What we computed above slides the filter as it is. The textbook *convolution* first turns the
filter around (rotates it by 180 degrees), which is what `numpy.convolve` and
`scipy.signal.convolve2d` do. Sliding without turning is *cross-correlation*, and it is what
`torch.nn.Conv2d` (and `cl.conv2d` by default) computes. For a learned filter the difference
does not matter: the network simply learns the turned-around weights. `flip=True` asks
convlens for the textbook version.

In NumPy, `W[::-1, ::-1]` reverses the rows and reverses the columns: a rotation by 180
degrees. That is **not** the transpose `W.T`, which mirrors the matrix across its diagonal.
Compare them on a 3x3 filter:""",
    ),
    (
        "code",
        """W = np.array([[1, 0, 3], [1, 2, 1], [0, 1, 1]])
print("W\\n", W)
print("W[::-1, ::-1]  (flip: rotate 180 degrees)\\n", W[::-1, ::-1])
print("W.T            (transpose: mirror on the diagonal)\\n", W.T)
print("the flipped edge filter:\\n", h_edge[::-1, ::-1].astype(int))
print("convolution (flip=True) of the edge image:\\n", cl.conv2d(edge, h_edge, flip=True).astype(int))""",
    ),
    (
        "md",
        """Flipping the edge filter turns it upside down, so the true convolution reports the same
edge as **-6000**: the sign of the answer depends on which convention you use, the position
of the edge does not.

## One dimension: padding and stride

A 1-D signal `x = [1, 3, 2, 4, 5, 6, 1, 3]` (n = 8) and a kernel `w = [1, 0, 3, 1, 2]`
(m = 5). **Padding** p adds p zeros on each side, so the kernel can also be centred on the
edge elements. Three padding modes are common:

- **valid**: p = 0. The kernel fits in n - m + 1 = 4 places, so 4 outputs.
- **same**: p chosen so the output has n elements; here p = (m - 1) / 2 = 2. This is the
  usual choice in CNNs: the size stays put and pooling does the shrinking.
- **full**: p = m - 1 = 4: every overlap counts, n + m - 1 = 12 outputs. Rare in CNNs.

With the flipped kernel `[2, 1, 3, 0, 1]` and two zeros of padding, the first output covers
`[0, 0, 1, 3, 2]`: 0*2 + 0*1 + 1*3 + 3*0 + 2*1 = **5**. NumPy's `np.convolve(x, w, "same")`
must agree.""",
    ),
    (
        "code",
        """x, w = [1, 3, 2, 4, 5, 6, 1, 3], [1, 0, 3, 1, 2]
for mode in ("valid", "same", "full"):
    print(f"{mode:5}", cl.conv1d(x, w, padding=mode, flip=True))
print("numpy same", np.convolve(x, w, mode="same"))""",
    ),
    (
        "md",
        """**Stride** s is the step between two positions of the kernel. With
`x = (3, 2, 1, 7, 1, 2, 5, 4)`, `w = (1/2, 3/4, 1, 1/4)`, no padding and stride 2, the flipped
kernel `(1/4, 1, 3/4, 1/2)` visits `x[0:4]`, `x[2:6]` and `x[4:8]`:

- 3/4 + 2 + 3/4 + 7/2 = **7**
- 1/4 + 7 + 3/4 + 1 = **9**
- 1/4 + 2 + 15/4 + 2 = **8**

## The output-size formula

For input size n, kernel m, padding p on each side and stride s:
`o = floor((n + 2p - m) / s) + 1`. The example above: floor((8 + 0 - 4) / 2) + 1 = **3**. A
second one to do by hand: n = 10, m = 5, p = 2, s = 1 gives floor((10 + 4 - 5) / 1) + 1 =
**10**, the same size as the input, so p = 2 is "same" padding for m = 5. (`cl.output_size`
also takes a dilation d, which spreads the kernel's taps apart: m becomes d(m - 1) + 1.)""",
    ),
    (
        "code",
        """print(cl.conv1d([3, 2, 1, 7, 1, 2, 5, 4], [1 / 2, 3 / 4, 1, 1 / 4], stride=2, flip=True))
print("n=8,  m=4, p=0, s=2 ->", cl.output_size(8, 4, stride=2))
print("n=10, m=5, p=2, s=1 ->", cl.output_size(10, 5, padding=2))
print("n=28, m=3 (a 3x3 conv on a 28x28 image) ->", cl.output_size(28, 3))
print("n=28, m=3, dilation 2 ->", cl.output_size(28, 3, dilation=2))""",
    ),
    (
        "md",
        """## How many outputs does each input element feed?

Without padding the border elements are used less. With n = 5 and m = 3, p = 0: `x[0]` takes
part in only one output, `x[1]` in two, the middle `x[2]` in three. The middle gets more say
than the border. With p = 2 (full padding for m = 3) every element takes part in exactly
three outputs. The cell counts it: convolve a one-hot signal with a kernel of ones and count
the outputs it touched.""",
    ),
    (
        "code",
        """n, m = 5, 3
for p in (0, 1, 2):
    counts = [int(np.count_nonzero(cl.conv1d(np.eye(n)[i], np.ones(m), padding=p))) for i in range(n)]
    print(f"p={p}: outputs per input element {counts}   (output length {cl.output_size(n, m, padding=p)})")""",
    ),
    (
        "md",
        """## Two dimensions: the same rules on both axes

A 4x4 input X and a 3x3 kernel W. Valid padding: 4 - 3 + 1 = 2 positions each way, a 2x2
output. The top-left value of the true convolution is the sum of
`X[0:3, 0:3] * W[::-1, ::-1]`: 1*1 + 3*1 + 2*0 + 5*1 + 6*2 + 1*1 + 1*3 + 2*0 + 0*1 = **25**.
SciPy's `convolve2d(X, W, mode="same")` pads by one and keeps the 4x4 size; its middle four
values are the valid ones.""",
    ),
    (
        "code",
        """X = np.array([[1, 3, 2, 4], [5, 6, 1, 3], [1, 2, 0, 2], [3, 4, 3, 2]])
print("top-left by hand:", int((X[0:3, 0:3] * W[::-1, ::-1]).sum()))
for mode in ("valid", "same", "full"):
    print(f"{mode}:\\n{cl.conv2d(X, W, padding=mode, flip=True).astype(int)}")""",
    ),
    (
        "md",
        """### Padding 1, stride 2

Now a 3x3 input with padding p = 1 on each side (the padded input is 5x5) and stride s = 2
in both directions. The formula says floor((3 + 2 - 3) / 2) + 1 = **2** outputs each way.
The kernel sits on the padded rows and columns 0-2 and 2-4: four windows. The first window
is the top-left 3x3 of the padded input, whose top row and left column are zeros.""",
    ),
    (
        "code",
        """X3 = np.array([[1, 3, 2], [5, 6, 1], [1, 2, 0]])
padded = np.pad(X3, 1)
print("padded input:\\n", padded)
print("output size:", cl.output_size(3, 3, padding=1, stride=2))
first = padded[0:3, 0:3] * W[::-1, ::-1]
print("first window times the flipped kernel:\\n", first, "\\nsum =", first.sum())
print("all four:\\n", cl.conv2d(X3, W, padding=1, stride=2, flip=True).astype(int))""",
    ),
    (
        "md",
        """## Several input channels

A colour image has 3 channels, and every layer after the first sees as many channels as the
layer before had filters. A filter then has one k x k slice **per input channel**: each slice
is slid over its own channel, the results are **added**, and one bias is added at the end.
So a filter over c_in channels has k * k * c_in weights + 1 bias, and a layer of c_out filters
has **k * k * c_in * c_out + c_out** parameters (lesson 2 checks this on a real model).

Here: a 2-channel 3x3 input and one filter of two 2x2 slices, bias 1.""",
    ),
    (
        "code",
        """x2 = np.array([[[1, 2, 0], [0, 1, 3], [2, 1, 1]],      # channel 0
               [[0, 1, 1], [2, 0, 1], [1, 1, 0]]])     # channel 1
k2 = np.array([[[[1, 0], [0, 1]], [[2, 0], [0, -1]]]])  # 1 filter x 2 channels x 2 x 2
bias = 1
per_channel = [cl.conv2d(x2[c], k2[0, c]) for c in range(2)]
print("channel 0 alone:\\n", per_channel[0], "\\nchannel 1 alone:\\n", per_channel[1])
print("sum + bias:\\n", per_channel[0] + per_channel[1] + bias)
print("cl.conv2d on both channels at once, + bias:\\n", cl.conv2d(x2, k2)[0] + bias)
print("parameters of this layer: 2*2*2*1 + 1 =", k2.size + 1)""",
    ),
    (
        "md",
        """The same arithmetic as a picture: each row is one input channel, convolved with its own
slice of the filter; the two results are added, with the bias, into the one output map.""",
    ),
    (
        "code",
        """import matplotlib.pyplot as plt

def numbers(ax, a, title, cmap="Greys"):
    \"\"\"A small matrix as coloured cells with its numbers written in.\"\"\"
    top = abs(a).max() * 2.5 if cmap == "RdBu" else a.max() + 2  # pale colours: numbers stay legible
    ax.imshow(a, cmap=cmap, vmin=-top if cmap == "RdBu" else a.min(), vmax=top)
    for (i, j), v in np.ndenumerate(a):
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=12)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([]); ax.set_yticks([])

fig, axes = plt.subplots(2, 4, figsize=(9, 4.6), layout="constrained")
for c in range(2):
    numbers(axes[c, 0], x2[c], f"input channel {c}")
    numbers(axes[c, 1], k2[0, c], f"filter slice {c}", cmap="RdBu")
    numbers(axes[c, 2], per_channel[c], f"channel {c} alone")
for ax in axes[:, 3]:
    ax.remove()
out_ax = fig.add_subplot(1, 4, 4)
numbers(out_ax, per_channel[0] + per_channel[1] + bias, f"sum of both + bias {bias}\\n= the output map")
fig.suptitle("one filter over 2 input channels: 2*2*2 weights + 1 bias = 9 parameters")
cl.Picture(fig)""",
    ),
    (
        "md",
        """## Classic kernels on a real photo

Before networks learned their kernels, people designed them: blurs average, sharpening adds
the difference from the neighbours, Sobel kernels respond to brightness changes in one
direction, the outline kernel (8 in the centre, -1 around it, notebook 002's hand-made
filter) to edges in every direction, and emboss lights the image from one corner. A CNN's
first layer often learns kernels that look much like these (lesson 4).""",
    ),
    (
        "code",
        """import matplotlib.pyplot as plt
print(", ".join(cl.KERNELS))
photo = cl.photo("camera") / 255                         # a real gray photo (offline), 0-1
names = ["box_blur", "sharpen", "sobel_x", "sobel_y", "horizontal_edge", "outline", "emboss"]
fig, axes = plt.subplots(2, 4, figsize=(13, 6.8), layout="constrained")
axes[0, 0].imshow(photo, cmap="gray"); axes[0, 0].set_title("original")
for ax, name in zip(axes.flat[1:], names):
    out = cl.conv2d(photo, cl.KERNELS[name].weights, padding="same")
    if name in ("box_blur", "sharpen", "emboss"):         # these keep the brightness scale
        ax.imshow(out.clip(0, 1), cmap="gray", vmin=0, vmax=1)
    else:                                                 # edges: +/- values, show their size
        ax.imshow(np.abs(out), cmap="gray", vmax=np.percentile(np.abs(out), 99))
    ax.set_title(f"{name}\\n{cl.KERNELS[name].weights.round(2).tolist()}", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
cl.Picture(fig)""",
    ),
    (
        "md",
        """## Histogram equalisation: not a kernel

Notebook 004 ends its kernel examples by sharpening a photo and then *equalising its
histogram* to fix the contrast. That second step is a different kind of operation. A kernel
computes each output pixel from its **neighbourhood**, with the same weights everywhere.
Histogram equalisation maps each pixel through one **lookup table** built from the whole
image: a pixel of gray level v becomes 255 x (the share of pixels at or below v). A gray
level that 30% of the pixels are darker than becomes about 0.3 x 255 = 77, wherever it sits
and whatever its neighbours are. Levels crowded into a narrow band get spread over 0-255, so a
dull photo gains contrast. No kernel can do this: the table depends on the whole image, and
it is not a weighted sum. The cell does it by hand on a dull photo of the moon, beside what
the sharpen kernel does, and checks the table against scikit-image: 90% of the moon's pixels
lie between gray levels 96 and 123; equalised, the same pixels spread from 13 to 244, while
sharpening leaves the histogram almost as narrow as it was.""",
    ),
    (
        "code",
        """from skimage import exposure
moon = cl.photo("moon")                                   # uint8, a dull gray photo
counts = np.bincount(moon.ravel(), minlength=256)         # pixels per gray level
cdf = counts.cumsum() / counts.sum()                      # share of pixels at or below each level
equalised = np.round(255 * cdf[moon]).astype(np.uint8)    # the lookup table, applied per pixel
sharp = np.clip(cl.conv2d(moon / 255, cl.KERNELS["sharpen"].weights, padding="same"), 0, 1)
sharp_eq = np.round(255 * exposure.equalize_hist(sharp)).astype(np.uint8)
print(f"original gray levels: {moon.min()}..{moon.max()}, middle 90% within "
      f"{np.percentile(moon, 5):.0f}..{np.percentile(moon, 95):.0f}")
print(f"equalised:            {equalised.min()}..{equalised.max()}, middle 90% within "
      f"{np.percentile(equalised, 5):.0f}..{np.percentile(equalised, 95):.0f}")
for v in (100, 120, 140):
    print(f"level {v}: {cdf[v]:.1%} of the pixels are at or below it -> {round(255 * cdf[v])}")
print("same table as skimage.exposure.equalize_hist:",
      np.abs(equalised / 255 - exposure.equalize_hist(moon, nbins=256)).max() < 0.01)
panels = [("original", moon), ("sharpen (a 3x3 kernel)", np.round(255 * sharp).astype(np.uint8)),
          ("equalised (a lookup table)", equalised), ("sharpen, then equalised", sharp_eq)]
fig, axes = plt.subplots(2, 4, figsize=(13, 5.6), layout="constrained", height_ratios=[3, 1])
for (title, img), top, bottom in zip(panels, axes[0], axes[1]):
    top.imshow(img, cmap="gray", vmin=0, vmax=255); top.set_title(title, fontsize=10); top.axis("off")
    bottom.hist(img.ravel(), bins=64, range=(0, 255), color="0.4")
    bottom.set_yticks([]); bottom.set_xlabel("gray level", fontsize=8)
cl.Picture(fig)""",
    ),
    (
        "md",
        """## Pooling

Max pooling with a 2x2 window and stride 2 splits the map into 2x2 blocks and keeps the
largest value of each: it halves height and width and has no weights to learn. Mean pooling
keeps the average. For the 4x4 X above, the top-left block `[[1, 3], [5, 6]]` gives 6 (max)
and 15 / 4 = 3.75 (mean).""",
    ),
    (
        "code",
        """print("max :\\n", cl.pool2d(X, 2, mode="max"))
print("mean:\\n", cl.pool2d(X, 2, mode="mean"))""",
    ),
    (
        "md",
        """### Small shifts often do not matter

Max pooling only asks "how strong is the strongest response in this block?", not "where in
the block?". Move a bright pixel by one step *inside* its 2x2 block and the pooled map does
not change: this is the local invariance that makes pooled features robust to small shifts
and noise. Move it *across* a block boundary and the pooled map does change: the invariance
is only local.""",
    ),
    (
        "code",
        """def spot(r, c):
    img = np.zeros((4, 4), dtype=int)
    img[r, c] = 9
    return img
for r, c in [(0, 0), (1, 1), (0, 2)]:
    print(f"bright pixel at ({r}, {c}) -> max pool\\n{cl.pool2d(spot(r, c), 2).astype(int)}")""",
    ),
    (
        "md",
        """### Overlapping pooling

Usually the pooling window and its stride are equal (2 and 2), so the windows tile the map
without overlap. With a stride *smaller* than the window they overlap: AlexNet (Krizhevsky,
Sutskever and Hinton, 2012) pooled 3x3 windows with stride 2 and reported slightly lower
error than with 2x2 / 2. On a 7x7 map both give a 3x3 output (floor((7 - 2) / 2) + 1 = 3 and
floor((7 - 3) / 2) + 1 = 3), but 2x2 / 2 never looks at the last row and column, while 3x3 / 2
reads every cell, the shared rows and columns twice (four times where they cross). The cell
counts how many windows read each input cell.""",
    ),
    (
        "code",
        """Y = np.arange(49).reshape(7, 7) * 37 % 10              # the digits 0-9, scattered
print(Y)
for size, stride in ((2, 2), (3, 2)):
    reads = np.zeros((7, 7), dtype=int)
    n = cl.output_size(7, size, stride=stride)
    for i in range(n):
        for j in range(n):
            reads[i * stride:i * stride + size, j * stride:j * stride + size] += 1
    print(f"\\n{size}x{size} window, stride {stride}: output {n}x{n}\\n{cl.pool2d(Y, size, stride=stride).astype(int)}")
    print(f"windows that read each input cell:\\n{reads}")""",
    ),
    (
        "md",
        """## Watching it happen: the animations

convlens animates the same arithmetic one window at a time (`convlens conv-explain` and
`convlens pool-explain` on the command line; the library functions behind them return the
frames, and `IPython.display.Image` shows the GIF in the notebook). First a 5x5 input, a 3x3
kernel, padding 1 and stride 2: the output-size formula gives floor((5 + 2 - 3) / 2) + 1 = 3,
so nine windows.""",
    ),
    (
        "code",
        """from IPython.display import Image
from convlens.io import gif_bytes
from convlens.look.explain import conv_explain_frames, pool_explain_frames
x5 = np.arange(25).reshape(5, 5) % 4
frames = conv_explain_frames(x5, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]), stride=2, padding=1)
Image(data=gif_bytes(frames), format="gif")""",
    ),
    (
        "md",
        """Your own matrix works the same: here the smallest case from the top of this lesson, the
image 1..9 and the filter `[[1, 0], [0, -1]]`; every frame should say -4. On the command
line: `convlens conv-explain --values "1 2 3; 4 5 6; 7 8 9" --kernel-values "1 0; 0 -1"`.""",
    ),
    (
        "code",
        """mine = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
Image(data=gif_bytes(conv_explain_frames(mine, np.array([[1, 0], [0, -1]]))), format="gif")""",
    ),
    (
        "md",
        """And max pooling of the 4x4 X from above with a 2x2 window (`convlens pool-explain
--values "1 3 2 4; 5 6 1 3; 1 2 0 2; 3 4 3 2" --size 2`):""",
    ),
    ("code", """Image(data=gif_bytes(pool_explain_frames(X, 2)), format="gif")"""),
    (
        "md",
        """## Exercises

**1.** Turn the edge filter on its side, `h_edge.T` (10s in the left column, -10s in the
right). What does it give on the 6x5 edge image, and why?

<details><summary>Answer</summary>

All zeros (a 4x3 map of 0). `h_edge.T` is a *vertical*-edge detector: it compares the left
column of each window with the right one. Every row of the image is constant (all 200 or all
0), so left and right are always equal. Check: `cl.conv2d(edge, h_edge.T)`.
</details>

**2.** A 28x28 image, a 5x5 kernel, no padding, stride 2. What is the output size? What
padding keeps 28x28 at stride 1?

<details><summary>Answer</summary>

floor((28 + 0 - 5) / 2) + 1 = floor(11.5) + 1 = **12**. For "same" at stride 1,
p = (5 - 1) / 2 = **2**: floor((28 + 4 - 5) / 1) + 1 = 28. Check with
`cl.output_size(28, 5, stride=2)` and `cl.output_size(28, 5, padding=2)`.
</details>

**3.** Max-pool `[[1, 2, 0, 0], [3, 4, 0, 1], [0, 0, 5, 0], [2, 0, 0, 0]]` with a 2x2
window and stride 2, then with mean pooling.

<details><summary>Answer</summary>

Max: `[[4, 1], [2, 5]]`. Mean: `[[2.5, 0.25], [0.5, 1.25]]` (for example (1+2+3+4)/4 = 2.5).
</details>

**4.** With n = 5, m = 3 and p = 1 (same padding), how many outputs does `x[0]` feed, and
how many does `x[2]`?

<details><summary>Answer</summary>

`x[0]` feeds 2 outputs, `x[2]` feeds 3: with p = 1 the border elements are still used less
than the middle, only p = 2 (full) evens it out. The counting cell above prints
`[2, 3, 3, 3, 2]` for p = 1.
</details>""",
    ),
]

LESSONS["02_build_and_inspect"] = [
    (
        "md",
        """# 2. Building a CNN, and reading its summary

**What you will be able to do after this lesson**

- write a CNN as one line of text (a *spec*) or as your own `nn.Module`, and build it with
  `cl.build`;
- read `cl.summary`: output shapes, parameters, multiply-adds, receptive field;
- derive every parameter count by hand (k * k * c_in * c_out + c_out for a conv layer,
  in * out + out for a dense one) and check one conv output over 32 channels by hand;
- say in numbers what *sparse connectivity* and *parameter sharing* save;
- look at what an untrained layer's random filters do to a real image.

A CNN is a list of layers. convlens writes that list as text: `conv 32 3` is a convolution
with 32 filters of 3x3 (followed by ReLU unless `act=` says otherwise), `maxpool 2` halves
height and width, `flatten` turns the maps into one vector, `dense 64` is a fully connected
layer; the last `dense` gives one score (logit) per class. This is the classic Keras MNIST
network of the notebooks.""",
    ),
    (
        "code",
        SETUP
        + """
import torch
spec = "conv 32 3, maxpool 2, conv 64 3, maxpool 2, conv 64 3, flatten, dense 64, dense 10"
model = cl.build(spec, input_shape=(1, 28, 28))
model""",
    ),
    (
        "md",
        """## The summary: shapes, parameters, cost

Every row is one layer: its output shape, its parameters, how many multiply-adds one image
costs there, and its receptive field (how many input pixels one output pixel can see). Follow
the sizes with the formula of lesson 1: 28 -> 26 (3x3, no padding) -> 13 (pool) -> 11 -> 5
(pool, floor(11 / 2)) -> 3; 3 * 3 * 64 = 576 values reach the first dense layer.""",
    ),
    (
        "code",
        """s = cl.summary(model)
print(s)""",
    ),
    (
        "md",
        """## Where the parameter counts come from

A conv layer with c_in input channels, c_out filters and a k x k kernel has k * k * c_in *
c_out weights plus one bias per filter (lesson 1: one k x k slice per input channel, summed):

| layer | k * k * c_in * c_out + c_out | parameters |
|---|---|---:|
| conv 32 3 on 1 channel | 3 * 3 * 1 * 32 + 32 | 320 |
| conv 64 3 on 32 channels | 3 * 3 * 32 * 64 + 64 | 18,496 |
| conv 64 3 on 64 channels | 3 * 3 * 64 * 64 + 64 | 36,928 |
| dense 64 on 576 values | 576 * 64 + 64 | 36,928 |
| dense 10 on 64 values | 64 * 10 + 10 | 650 |

Pooling and flatten have no parameters. The total is 93,322. The cell reads the same numbers
off the model's tensors.""",
    ),
    (
        "code",
        """for name, p in model.named_parameters():
    print(f"{name:12} {str(tuple(p.shape)):16} {p.numel():>7,}")
print(f"{'total':29} {sum(p.numel() for p in model.parameters()):>7,}")
print(s.explain())""",
    ),
    (
        "md",
        """## One output of the second conv layer, by hand

The second conv layer sees 32 channels (the first layer's 32 maps, pooled to 13x13). One of
its 64 filters is a 32 x 3 x 3 block of weights. Its output at position (5, 5) is: for each of
the 32 channels, the 3x3 window times that channel's 3x3 slice, summed; then the 32 sums
added; then the bias. 3 * 3 * 32 = 288 multiplications and one bias, for every filter and
every position. The cell does exactly that on a real image and compares it with PyTorch.""",
    ),
    (
        "code",
        """test = cl.load_dataset("fashion-mnist", "test", limit=100)
x = test.images[:1].float() / 255                        # one image, 0-1
conv1, conv2 = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][:2]
with torch.no_grad():
    a = torch.max_pool2d(torch.relu(conv1(x)), 2)[0]      # 32 maps of 13x13: conv2's input
    w, b = conv2.weight[0], conv2.bias[0]                 # filter 0: (32, 3, 3) and its bias
    per_channel = [(a[c, 5:8, 5:8] * w[c]).sum() for c in range(32)]   # the window at (5, 5)
    by_hand = sum(per_channel) + b
    torch_value = conv2(a[None])[0, 0, 5, 5]
print("input", tuple(a.shape), " filter", tuple(w.shape))
print("first four channel sums:", [round(float(v), 4) for v in per_channel[:4]], "...")
print(f"32 channel sums + bias = {float(by_hand):.5f};  torch: {float(torch_value):.5f}")""",
    ),
    (
        "md",
        """## Sparse connectivity and parameter sharing, in numbers

*Sparse connectivity*: each output of the first conv layer depends on a 3x3 = 9 pixel patch,
not on all 784 pixels. *Parameter sharing*: the same 9 weights (and one bias) are used at all
26 * 26 = 676 positions. A dense layer producing the same 26 x 26 x 32 outputs from the 784
pixels would need one weight per (input, output) pair. The receptive field column of the
summary shows the other side of the coin: stacking small kernels lets deeper outputs see
more (3x3 for the first conv, 8x8 for the second, 18x18 for the third).""",
    ),
    (
        "code",
        """outputs = 26 * 26 * 32
print(f"conv 32 3:               {3 * 3 * 1 * 32 + 32:>12,} parameters for {outputs:,} outputs")
print(f"dense, same outputs:     {784 * outputs + outputs:>12,} parameters")
print(f"weights used per output:  conv {3 * 3}, dense {784}")
print("receptive fields:", [(r.name, r.rf_size[0]) for r in s.rows if r.rf_size])""",
    ),
    (
        "md",
        """## The architecture as a picture

Each box is a feature map, sized by its height, width and number of channels; the dense
layers are bars.""",
    ),
    ("code", """cl.draw(model)"""),
    (
        "md",
        """## Your own `nn.Module`: notebook 004's `Net`

Specs are short, but any PyTorch module works the same way. This is the PyTorch notebook's
network, written out: three conv layers without padding, two max pools, a 64-unit dense layer
with dropout and 10 outputs. Give it an `input_shape` attribute (or pass one to `cl.summary`)
and convlens reads it like a spec. It is the same network as the spec above (plus dropout), so
the parameter counts must match: 93,322. Lesson 3 trains it with `cl.train`.""",
    ),
    (
        "code",
        NET_004
        + """
print(cl.summary(Net()))""",
    ),
    (
        "md",
        """## The same ideas, bigger: a VGG-style tuple list

Notebook-style tuple lists work too: `('c', 64, 3)` is a conv with same padding and ReLU,
`('m', 2)` max pooling, `('f', None)` flatten, `('d', n)` dense. On 32x32 colour images this
one has 8,660,042 parameters, almost all of them in the first dense layer: 8 * 8 * 128 =
8,192 flattened values times 1,024 units.""",
    ),
    (
        "code",
        """vgg = cl.build([('c', 64, 3), ('c', 64, 3), ('m', 2), ('c', 128, 3), ('m', 2), ('c', 128, 3),
                ('f', None), ('d', 1024), ('d', 10)], input_shape=(3, 32, 32))
print(f"{sum(p.numel() for p in vgg.parameters()):,} parameters")
print(f"first dense layer: 8*8*128*1024 + 1024 = {8 * 8 * 128 * 1024 + 1024:,}")""",
    ),
    (
        "md",
        """## An untrained layer already transforms the image

Before any training, the first layer's 32 filters hold small random numbers. Each still
slides over the image and gives a map. Some maps are copies of the input seen through a random
mix of neighbouring pixels (blurred, embossed, inverted); many are almost black, because ReLU
sets every negative response to 0 and a random filter is as likely to respond negatively as
positively. Training will turn them into
deliberate edge and texture detectors (lesson 4). `cl.feature_maps` returns every conv and
pooling layer's output for one image; the cell draws all 32 maps of the first layer.""",
    ),
    (
        "code",
        """import matplotlib.pyplot as plt
image, label = test[0]
maps = cl.feature_maps(model, image)
print({name: tuple(m.shape) for name, m in maps.items()})
first = next(iter(maps.values()))
fig, axes = plt.subplots(4, 9, figsize=(11, 5.2))
axes[0, 0].imshow(image[0], cmap="gray"); axes[0, 0].set_title(test.classes[label], fontsize=8)
for ax, m in zip(axes.flat[1:], first):
    ax.imshow(m, cmap="viridis")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("the input and the 32 maps of an untrained conv 32 3")
cl.Picture(fig)""",
    ),
    (
        "md",
        """## Mistakes are explained

A kernel that does not fit, an unknown word, a dropout rate above 1: the message names the
layer, the shape that came in and what would work.""",
    ),
    (
        "code",
        """for bad in ("conv 32 3, maxpool 2, conv 64 15", "conv 32 3, maxpul 2", "conv 32 3, dropout 1.5"):
    try:
        cl.build(bad, input_shape=(1, 28, 28))
    except cl.ConvlensError as err:
        print(err)""",
    ),
    (
        "md",
        """## Exercises

**1.** How many parameters does `conv 16 5` have on a 3-channel (colour) input? And a
following `conv 32 3`?

<details><summary>Answer</summary>

5 * 5 * 3 * 16 + 16 = **1,216**; then 3 * 3 * 16 * 32 + 32 = **4,640**. Check with
`cl.summary(cl.build("conv 16 5, conv 32 3, flatten, dense 10", input_shape=(3, 32, 32)))`.
</details>

**2.** In the model above, change the first layer to `conv 32 5`. What are the feature-map
sizes now, and how many values reach the first dense layer?

<details><summary>Answer</summary>

28 -> 24 -> 12 (pool) -> 10 -> 5 (pool) -> 3, so still 3 * 3 * 64 = 576 values; the first
layer has 5 * 5 * 32 + 32 = 832 parameters instead of 320.
</details>

**3.** Why does the first dense layer of the VGG-style model hold almost all its parameters,
and what would halve it?

<details><summary>Answer</summary>

It connects every one of the 8 * 8 * 128 = 8,192 flattened values to each of its 1,024 units
(8.4 M weights), while each conv weight is shared over all positions. One more `('m', 2)`
before flatten makes it 4 * 4 * 128 = 2,048 inputs (a quarter); 512 units instead of 1,024
halves it.
</details>

**4.** The second conv layer computes 3 * 3 * 32 = 288 multiply-adds per output value. How
many for the whole layer on one image? Compare with the summary's mult-adds column.

<details><summary>Answer</summary>

Its output is 11 x 11 x 64 = 7,744 values, times 288 = **2,230,272** multiply-adds, the
number the summary lists for that layer.
</details>""",
    ),
]

LESSONS["03_train_evaluate_predict"] = [
    (
        "md",
        """# 3. Training on Fashion-MNIST, evaluating, predicting your own image

**What you will be able to do after this lesson**

- load a data set, look at a batch of it, and count steps per epoch for a batch size;
- say what ReLU and the other activations do, and turn a network's logits into probabilities
  with softmax, by hand and on a real prediction;
- tell integer labels from one-hot labels and pick the matching loss;
- train with `cl.train`, read the curves (`run.history.plot()`), evaluate
  (`run.evaluate()`), predict your own image (`run.predict`);
- show why inputs are normalised, by training on raw 0-255 pixels and reading the doctor's
  diagnosis;
- train your own `nn.Module` through the same door.

Fashion-MNIST has 60,000 training and 10,000 test images of clothing, 28 x 28 gray pixels, in
10 classes. convlens keeps each split in memory as one tensor of bytes (`ds.images`) and one
of labels (`ds.labels`).""",
    ),
    (
        "code",
        SETUP
        + """
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
train = cl.load_dataset("fashion-mnist", "train")
test = cl.load_dataset("fashion-mnist", "test")
print(train)
print(len(train), len(test), train.input_shape, train.images.dtype)
print(train.classes)""",
    ),
    ("code", """train.show_batch(24, cols=8)"""),
    (
        "md",
        """## Samples, batches and epochs

A **sample** is one image with its label. A **batch** is the group of samples used for one
update of the weights: the loss is averaged over the batch and one gradient step is taken.
An **epoch** is one pass over the whole training set, so with batches of 256 one epoch is
60,000 / 256 = 234.4, that is 234 full steps (convlens drops the last partial batch while
training).""",
    ),
    (
        "code",
        """for batch in (32, 128, 256, 1024):
    print(f"batch {batch:5}: {len(train) // batch:5} steps per epoch")""",
    ),
    (
        "md",
        """## Activations

Between layers a network applies a non-linear function to every value. Without one, two
layers in a row would be one linear map, however many you stacked. **ReLU**, max(0, x), is the
default in CNNs: cheap, and its gradient is 1 for every positive input, so it does not fade
in deep networks. Sigmoid and tanh squash everything into (0, 1) and (-1, 1); their gradient
is close to 0 for large inputs, which slows learning. Leaky ReLU keeps a small slope (here
0.1) for negative inputs so a unit is never completely silent.""",
    ),
    (
        "code",
        """z = torch.linspace(-4, 4, 200)
acts = {"ReLU": torch.relu(z), "leaky ReLU (0.1)": F.leaky_relu(z, 0.1),
        "sigmoid": torch.sigmoid(z), "tanh": torch.tanh(z)}
fig, axes = plt.subplots(1, 4, figsize=(12, 2.8), sharex=True)
for ax, (name, y) in zip(axes, acts.items()):
    ax.plot(z, y); ax.axhline(0, color="gray", lw=0.5); ax.axvline(0, color="gray", lw=0.5)
    ax.set_title(name)
fig.tight_layout()
cl.Picture(fig)""",
    ),
    (
        "md",
        """## Softmax and the loss, by hand

The network's last layer gives one score per class, a **logit**, any real number. **Softmax**
turns scores into probabilities: exponentiate each, divide by the sum. For logits
`[2.0, 0.5, -1.0]`: e^2 = 7.389, e^0.5 = 1.649, e^-1 = 0.368, sum 9.406, so the
probabilities are **0.786, 0.175, 0.039**. **Cross-entropy** is minus the log of the
probability given to the true class: -ln(0.786) = **0.241** when class 0 is right; it is 0
when the model is sure and right, large when it is sure and wrong.

**Labels.** convlens (like PyTorch) stores a label as the class index, an *integer*: 0 for
class 0. Keras notebooks often turn it into a *one-hot* vector, `[1, 0, 0]`, and then need
`categorical_crossentropy`; with integer labels the same loss is called
`sparse_categorical_crossentropy`. The number is the same either way; only the label format
differs. In PyTorch, `F.cross_entropy` takes either and applies softmax itself, so the last
layer outputs raw logits (no softmax layer). The pairs to remember: softmax + (sparse)
categorical cross-entropy for one label among several classes; sigmoid + binary
cross-entropy for yes/no (or several independent yes/no labels); nothing + mean squared error
for a number.""",
    ),
    (
        "code",
        """logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
labels = torch.tensor([0, 0])                          # integer labels
one_hot = F.one_hot(labels, 3).float()                 # the same labels, one-hot
probs = logits.softmax(1)
print("softmax:\\n", probs.numpy().round(3))
print("-log p(true class) by hand :", (-probs[torch.arange(2), labels].log()).numpy().round(3))
print("cross_entropy, integer     :", F.cross_entropy(logits, labels, reduction="none").numpy().round(3))
print("cross_entropy, one-hot     :", F.cross_entropy(logits, one_hot, reduction="none").numpy().round(3))
print("with label smoothing 0.1   :", F.cross_entropy(logits, labels, reduction="none",
                                                     label_smoothing=0.1).numpy().round(3))""",
    ),
    (
        "md",
        """Notebook 004's softmax example, and the two other losses of its cheat sheet on three yes/no
predictions: binary cross-entropy (a sigmoid output per label, each judged on its own) and
mean squared error (for numbers rather than classes). Check the first by hand: e^4 = 54.6 and
the seven exponentials sum to 114.98, so the largest logit gets 0.475.""",
    ),
    (
        "code",
        """z = torch.tensor([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0])
print("softmax of", z.tolist(), "->", z.softmax(0).numpy().round(3))
y_hat, y = torch.tensor([0.9, 0.2, 0.7]), torch.tensor([1.0, 0.0, 0.0])  # predicted, true
print("binary cross-entropy per label:", F.binary_cross_entropy(y_hat, y, reduction="none").numpy().round(3))
print("mean squared error            :", round(F.mse_loss(y_hat, y).item(), 4))""",
    ),
    (
        "md",
        """The third yes/no prediction (0.7 for a label that is 0) costs the most, -ln(0.3) = 1.204.
Notebook 004 also calls RMSprop "good enough, whatever your problem"; convlens offers `sgd`
(with Nesterov momentum), `adam` and `adamw` (its default). Adam keeps RMSprop's running
average of squared gradients to scale each weight's step, and adds momentum; AdamW adds weight
decay that does not pass through that scaling.

Back to the two samples of the first cell: the second is confidently wrong (class 2 gets 0.90, the true class 0 only 0.05), and
its loss is 3.0, about twelve times the first. Label smoothing asks for 90% on the true class
instead of 100%, so even a right answer keeps a small loss and the model is discouraged from
becoming over-confident.

## Training the default recipe

`cl.train` trains a registry model, a spec or any `nn.Module` and returns a `Run`. The default
`fastcnn` is a small batch-norm CNN, trained with AdamW, a one-cycle learning-rate schedule,
label smoothing and random horizontal flips. Each epoch prints one line: training loss and
accuracy (measured while the weights were still changing, with augmentation), test loss and
accuracy, learning rate and speed. Everything lands in a run folder: config, metrics,
checkpoints. (To stay within minutes on 2 CPU cores, the full run here trains 2 epochs on
20,000 of the 60,000 images; 8 epochs on all of them gave about 93% in a separate run, the
benchmark in the main README.)""",
    ),
    (
        "code",
        """import shutil
shutil.rmtree(RUNS / "fashion", ignore_errors=True)
run = cl.train("fastcnn", data="fashion-mnist", epochs=1 if QUICK else 2,
               limit_train=2000 if QUICK else 20000, out=RUNS / "fashion", progress=False)
run""",
    ),
    (
        "md",
        """## Learning curves

Loss and accuracy per epoch for the training and the test set. The training loss includes
label smoothing and augmentation, so it can sit above the test loss; a test accuracy that
stops rising while the training accuracy keeps climbing would be the sign of overfitting.""",
    ),
    ("code", """run.history.plot()"""),
    (
        "md",
        """## Logits beside probabilities, on real test images

The same softmax as above, now on the trained model's scores for three test images. A logit
of 5 against 0 means e^5 = 148 times more likely; the largest logit always gives the largest
probability, but how *sure* the model is shows only after softmax.""",
    ),
    (
        "code",
        """preds = run.predict([0, 1, 2])                          # test-set indices
for i, p in enumerate(preds):
    top = np.argsort(-p.probs)[:3]
    print(f"test image {i} (true: {test.classes[int(test.labels[i])]})")
    for c in top:
        print(f"   {run.classes[c]:12} logit {float(p.logits[c]):6.2f}   probability {float(p.probs[c]):.3f}")
    e = np.exp(p.logits - p.logits.max())                   # subtract the max: same result, no overflow
    print(f"   softmax by hand of the top logit: e^z / sum e^z = {e[top[0]] / e.sum():.3f}")""",
    ),
    (
        "md",
        """## Evaluation

Accuracy alone hides which classes are hard. **Precision**: of the images predicted as a
class, how many are it. **Recall**: of the images of a class, how many were found. Shirts are
usually the hardest class: they look like T-shirts, pullovers and coats.""",
    ),
    (
        "code",
        """ev = run.evaluate()
ev""",
    ),
    ("code", """print("\\n".join(f"{t} -> {p}: {n}" for t, p, n in ev.most_confused(5)))"""),
    ("code", """run.show("confusion")"""),
    (
        "md",
        """## Predicting your own image

A drawing is dark on light paper, but Fashion-MNIST items are light on black: convlens notices
the light background and inverts it, crops to the object, fits it into 28 x 28 keeping its
shape, and normalises it like the training data. The picture shows the image as the model saw
it and its top probabilities.""",
    ),
    (
        "code",
        """mine = run.predict(ROOT / "docs" / "sneaker_drawing.png")
print(mine[0].line())
mine.plot()""",
    ),
    (
        "md",
        """## Why inputs are normalised

Pixels are stored as 0-255. convlens divides by 255, subtracts the training set's mean and
divides by its standard deviation, so by default the network sees values with mean 0 and
spread 1 (about -0.8 to 2 for Fashion-MNIST). With `normalize=False` it sees the raw bytes,
whose spread is about 90.

Notebook 001 trained a CNN with Keras and plain SGD (learning rate 0.01, no momentum) on raw
CIFAR-10 pixels, and its accuracy stayed at chance, 10%. Whether raw pixels break training
depends on how large the *starting weights* are, since every layer's output scales with its
input times its weights. Keras starts each layer with Glorot-uniform weights, drawn from
+-sqrt(6 / (fan_in + fan_out)), and zero biases; PyTorch, and so convlens, draws from
+-1/sqrt(fan_in). For a 3x3 conv from 32 to 32 channels (fan_in = fan_out = 3 * 3 * 32 = 288)
that is +-0.102 for Keras against +-0.059 for PyTorch, and through several ReLU layers the
difference multiplies.

The first cell measures it before any training: the spread of the logits (the last layer's
outputs) for 256 training images, with each start and each kind of input, for a 4-conv
network like notebook 001's.""",
    ),
    (
        "code",
        """from torch import nn
deep = "conv 32 3, conv 32 3, maxpool 2, conv 64 3, conv 64 3, maxpool 2, flatten, dense 128, dense 10"

def started(init, seed):
    \"\"\"The network with PyTorch's default start, or with Keras' (Glorot uniform, zero biases).\"\"\"
    torch.manual_seed(seed)
    model = cl.build(deep, input_shape=(1, 28, 28))
    if init == "Keras":
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    return model

raw = train.images[:256].float()                            # (256, 1, 28, 28), 0..255
normalised = (raw / 255 - train.mean[0]) / train.std[0]     # what convlens feeds by default
print(f"input spread: raw {raw.std():.1f}, normalised {normalised.std():.2f}")
print(f"{'start':8} {'logit spread, raw':>18} {'normalised':>11}")
for init in ("PyTorch", "Keras"):
    with torch.no_grad():
        m = started(init, 0).eval()
        print(f"{init:8} {float(m(raw).std()):>18.2f} {float(m(normalised).std()):>11.3f}")""",
    ),
    (
        "md",
        """With Keras' start, raw pixels give logits about 10 times larger than a softmax can use
sensibly: the first losses are huge, and so are the gradients. With PyTorch's start the
normalised input *fades* on its way through the layers (the logits hardly differ from 0),
while the raw input, 90 times larger, happens to arrive at a usable size.

Now train as notebook 001 did: Keras' start, raw pixels, plain SGD at 0.01, batch 100. The
training doctor looks at the first batch and says what is wrong; convlens checks every loss
and stops the run when it becomes NaN (not a number), with one line saying where and what to
try. Keras keeps going on NaN: every prediction is then the same class, which is notebook 001's
10%.""",
    ),
    (
        "code",
        """sgd = dict(data="fashion-mnist", optimizer="sgd", lr=0.01, momentum=0.0, schedule="constant",
           weight_decay=0.0, label_smoothing=0.0, augment="none", batch_size=100,
           epochs=1 if QUICK else 2, limit_train=2000 if QUICK else 10000,
           record_filters="none", progress=False)
shutil.rmtree(RUNS / "raw-keras", ignore_errors=True)
try:
    cl.train(started("Keras", 0), normalize=False, out=RUNS / "raw-keras", seed=0, **sgd)
except cl.ConvlensError as err:
    print("convlens stopped the run:", err)""",
    ),
    (
        "md",
        """The whole picture: both starts, both kinds of input, two seeds each, the same plain SGD.""",
    ),
    (
        "code",
        """rows = {}
for init in ("Keras", "PyTorch"):
    for normalize in (False, True):
        for seed in (0, 1):
            out = RUNS / "normalize" / f"{init}-{'normalised' if normalize else 'raw'}-{seed}"
            shutil.rmtree(out, ignore_errors=True)
            try:
                r = cl.train(started(init, seed), normalize=normalize, out=out, seed=seed,
                             quiet=True, **sgd)
                acc = r.history[-1]["test_accuracy"]
            except cl.ConvlensError:
                acc = None  # the loss became NaN and the run stopped
            rows.setdefault((init, normalize), []).append(acc)
print(f"{'start':8} {'pixels':11} {'seed 0':>9} {'seed 1':>9}")
for (init, normalize), accs in rows.items():
    cells = [f"{a:.2%}" if a is not None else "NaN loss" for a in accs]
    print(f"{init:8} {'normalised' if normalize else 'raw 0-255':11} {cells[0]:>9} {cells[1]:>9}")""",
    ),
    (
        "md",
        """In the committed run (10,000 images, 2 epochs): with Keras' start the raw runs blew up
within the first ten batches on both seeds, while normalised inputs trained to 61.4% and
58.0%. With PyTorch's start the result turns round: raw pixels reached 79.7% and 78.3%, and
normalised ones only 25.8% and 10.8%, because plain SGD at 0.01 barely moves a network whose
signal has faded to almost nothing (its first seed is learning, its second has not started).
So notebook 001's failure is not "raw pixels never work": it is a signal of the wrong size.
Normalising fixes the size where the data enters; a start matched to it (and the momentum,
warm-up and Adam of convlens's defaults) keeps it right inside. Batch norm, which rescales
every channel by its own batch statistics, makes the input's scale almost irrelevant: see
exercise 4.

## Your own `nn.Module`, trained like any spec

Notebook 004 trains its `Net` with a hand-written loop: device, optimiser, loss, batches,
evaluation. `cl.train` takes the module instead of a spec and does all of that, with the same
run folder, history and pictures. Dropout is active while training and off in evaluation,
which `cl.train` and `run.evaluate` handle.""",
    ),
    (
        "code",
        NET_004
        + """
shutil.rmtree(RUNS / "net", ignore_errors=True)
net_run = cl.train(Net(), data="fashion-mnist", epochs=1 if QUICK else 2,
                   limit_train=2000 if QUICK else 10000, out=RUNS / "net", progress=False)
print(f"test accuracy {net_run.evaluate().accuracy:.2%}")
print(net_run.summary())""",
    ),
    (
        "md",
        """Looking inside works the same as for a spec: the first layer's 32 learned filters, each
beside the classic kernel it resembles most.""",
    ),
    ("code", """net_run.show("filters")"""),
    (
        "md",
        """The same from the command line: `convlens train`, `convlens eval RUN`,
`convlens predict RUN IMAGE --show`, and `convlens train --normalize none --optimizer sgd` for
the experiment above.

## Exercises

**1.** Logits `[1.0, 1.0, 1.0, 1.0]` for a 4-class problem: what are the probabilities and
the cross-entropy for any true class? What if every logit is 100?

<details><summary>Answer</summary>

All four probabilities are 1/4 and the loss is ln 4 = 1.386, whatever the true class. Adding
the same number to every logit changes nothing (it cancels in the division), so logits of
100 give the same answer. An untrained 10-class network starts near ln 10 = 2.303.
</details>

**2.** With 60,000 images and a batch of 100, how many weight updates do 2 epochs make? And
with a batch of 32?

<details><summary>Answer</summary>

60,000 / 100 = 600 per epoch, 1,200 in all. With 32: 60,000 / 32 = 1,875 per epoch
(exactly), 3,750 in all: more, smaller and noisier steps.
</details>

**3.** Your labels are one-hot vectors in a Keras notebook and you pass them to
`sparse_categorical_crossentropy`. What goes wrong, and what are the two fixes?

<details><summary>Answer</summary>

The sparse loss expects one integer per sample and receives 10 numbers: Keras fails with a
shape error. Either use `categorical_crossentropy` with the one-hot labels, or keep the sparse
loss and pass integer labels (`y.argmax(1)`).
</details>

**4.** Add batch norm after every conv of `deep` (`conv 32 3 bn=1`, and so on) and train it
with PyTorch's start on raw and on normalised pixels, with the same `sgd` settings. Does the
input's scale still matter, and why?

<details><summary>Answer</summary>

```python
bn = deep.replace(" 3,", " 3 bn=1,")
for normalize in (False, True):
    r = cl.train(bn, normalize=normalize, out=RUNS / f"bn-{normalize}", seed=0, quiet=True, **sgd)
    print(normalize, r.history[-1]["test_accuracy"])
```

Hardly at all: while writing this lesson (two seeds, 10,000 images, 2 epochs) raw pixels gave
78.3% and 77.9%, normalised ones 78.4% and 78.0%. Batch norm divides each channel by its own
spread over the batch, so a 90 times larger input gives the same normalised values after the
first conv; and the signal no longer fades, so even plain SGD trains far better than without
it (compare 25.8% and 10.8% above).
</details>""",
    ),
]

LESSONS["04_look_inside"] = [
    (
        "md",
        """# 4. Looking inside a trained CNN

**What you will be able to do after this lesson**

- draw a trained network's first-layer filters, name the classic kernel each resembles, and
  watch them change epoch by epoch;
- show every feature map of a layer for one image, and say what early and deep layers respond
  to;
- compare a CNN's filters with an MLP's first- and second-layer weights drawn as images;
- find the model's most confident mistakes and see where it looked (saliency, Grad-CAM).

What did the network learn? Its first-layer filters are small images and can be drawn
directly. Deeper filters act on 32 or 64 channels at once and are hard to read, so for them we
look at what they *do*: the feature maps they produce for one image. Attribution maps answer
a third question: which pixels pushed the decision.

We train a small batch-norm CNN (`fastcnn`) for a few epochs; convlens records the first
layer's filters after every epoch.""",
    ),
    (
        "code",
        SETUP
        + """
import shutil
shutil.rmtree(RUNS / "inside", ignore_errors=True)
run = cl.train("fastcnn", data="fashion-mnist", epochs=1 if QUICK else 3,
               limit_train=2000 if QUICK else 12000, out=RUNS / "inside", progress=False)
test = cl.load_dataset("fashion-mnist", "test")""",
    ),
    (
        "md",
        """## Learning curves

Training and test loss and accuracy per epoch (the same as `run.show("curves")`).""",
    ),
    ("code", """run.history.plot()"""),
    (
        "md",
        """## First-layer filters beside the classic kernels

Each learned 3x3 filter is shown next to the hand-made kernel of lesson 1 it resembles most,
with their cosine similarity (1 = the same pattern, a minus sign = the turned-around kernel).
Filters with a bright side and a dark side are edge detectors, the job the hand-made Sobel
and edge kernels do.""",
    ),
    ("code", """run.show("filters")"""),
    (
        "md",
        """## The second layer's filters

A second-layer filter is not one 3x3 picture: it has one 3x3 slice per input channel (32
here), the slices of lesson 1's "several input channels". Row = filter, column = the input
channel its slice reads. Single slices rarely look like clean edges; what a second-layer
filter responds to is a *combination* of first-layer maps, which is why feature maps (below)
say more about deeper layers than their weights do.""",
    ),
    ("code", """run.show("filters", layer="conv2")"""),
    (
        "md",
        """## How the filters changed during training

Epoch 0 is the random start. Each later frame is the first layer after that epoch, with a
number for how much each filter changed since the previous epoch. With a one-cycle schedule
the learning rate is largest in the middle of training and small at the end, so the last
epoch usually changes the filters least; read the numbers to see how it went here. In Jupyter
the picture is an animation (save it with `.savefig("evolution.gif")`).""",
    ),
    ("code", """run.show("evolution")"""),
    (
        "md",
        """## Notebook 003's exercise: a second layer of only 2 filters

Notebook 003 builds two 5x5 conv layers (32 and 64 filters, each followed by 2x2 max
pooling), a dense layer of 100 and 10 outputs, trains on 6,000 images and stores both conv
layers' weights after every epoch. Its exercise: give the second conv layer only **2**
filters and watch them. Each of those 2 filters still has one 5x5 slice per input channel,
so 5 * 5 * 32 * 2 + 2 = **1,602** parameters, not 5 * 5 * 2 + 2 (the notebook's own note).
Only 2 maps of 4 x 4 reach the dense layer: 32 numbers per image, a narrow bottleneck. With
`record_filters="conv1,conv2"` convlens keeps both layers' kernels after every epoch.""",
    ),
    (
        "code",
        """shutil.rmtree(RUNS / "two-filters", ignore_errors=True)
two = cl.train("conv 32 5, maxpool 2, conv 2 5, maxpool 2, flatten, dense 100, dense 10",
               data="fashion-mnist", epochs=1 if QUICK else 6, limit_train=2000 if QUICK else 6000,
               out=RUNS / "two-filters", record_filters="conv1,conv2", progress=False)
conv2 = two.model.conv2[0]
print("conv2 weights", tuple(conv2.weight.shape), "->",
      sum(p.numel() for p in conv2.parameters()), "parameters")
print(f"test accuracy per epoch: {[round(m['test_accuracy'], 3) for m in two.history]}")""",
    ),
    (
        "md",
        """The evolution of the second layer: each frame shows the 2 filters (their slice for input
channel 0) after one epoch, with how much each filter changed since the epoch before.""",
    ),
    ("code", """two.show("evolution", layer="conv2")"""),
    (
        "md",
        """In the committed run the 2-filter network reached 49% after the first epoch and 76% after
the sixth, gaining 2.7 points over the last three epochs and less than one in each of the last
two: the 32 numbers that pass the bottleneck limit what the dense layers can tell apart. The
filters moved most at the start (a mean change of 92% in epoch 1, 70% in epoch 2) and settled
as the one-cycle learning rate fell (about 1% in the last epoch).

Below, both filters after training, the slices for the first 8 of their 32 input channels
(row = filter, column = the input channel the slice reads): one filter is 32 small 5x5
patterns, one per map of conv1, whose responses are summed.""",
    ),
    ("code", """two.show("filters", layer="conv2")"""),
    (
        "md",
        """And the first layer of the same network: 32 filters of 5x5 on one input channel, drawn
as a grid (notebook 003 draws its first layer the same way). Each is a small pattern the
layer looks for everywhere in the image; many are edge detectors at some angle, like the
classic kernels of lesson 1.""",
    ),
    ("code", """two.show("filters", layer="conv1")"""),
    (
        "md",
        """## Every feature map of a layer, for one image

A feature map is a filter's response at every position. The first conv layer's maps are at
full resolution and look like the input seen through different edge and brightness filters;
maps of deeper layers are smaller (pooling) and respond to larger parts of the object. With
`maps="all"` and a `layer`, convlens draws every map of that layer in a grid.""",
    ),
    (
        "code",
        """image, label = test[0]
maps = cl.feature_maps(run, image)
print(test.classes[label], {name: tuple(m.shape) for name, m in maps.items()})
first_conv = next(iter(maps))
run.show("features", layer=first_conv, maps="all", index=0)""",
    ),
    (
        "md",
        """And the first eight maps of every layer in one picture, to follow the image down the
network:""",
    ),
    ("code", """run.show("features", index=0)"""),
    (
        "md",
        """## An MLP's weights as images

A multilayer perceptron has no filters, but each first-layer unit has one weight per pixel:
784 weights that can be drawn as a 28 x 28 image. After a short training they are noisy, but
many show parts of garment outlines (shoulders, sleeves, a sole) spread over the whole image:
templates, not small edge detectors, because nothing ties a unit to one neighbourhood. The
second layer's units combine first-layer units, so convlens draws each as the weighted sum of
the templates it reads; these are smoother and more clearly garment-shaped.""",
    ),
    (
        "code",
        """shutil.rmtree(RUNS / "mlp", ignore_errors=True)
mlp = cl.train("mlp", data="fashion-mnist", epochs=1 if QUICK else 2,
               limit_train=2000 if QUICK else 20000, out=RUNS / "mlp", progress=False)
mlp.show("mlp")""",
    ),
    (
        "md",
        """## Predictions and mistakes

A grid of test images with the predicted class (red when wrong), then the most confident
mistakes: often ambiguous images, such as a pullover taken for a T-shirt or a coat.""",
    ),
    ("code", """run.show("predictions", n=18)"""),
    ("code", """run.show("mistakes", n=6)"""),
    (
        "md",
        """## Where the model looked

**Saliency** is the gradient of the winning score with respect to each pixel: how much a tiny
change of that pixel would change the score. **Grad-CAM** weights the last conv layer's maps
by how much they raise the predicted class, and overlays the result on the image: coarse, but
usually on the object. Here on the test image with the highest loss. In the committed run
that is a sleeveless top on two thin straps, labelled T-shirt/top, that the model called a bag
(69%). Grad-CAM's heat sits mostly on the body of the garment, brightest at its upper right,
with a weaker strip along the right edge of the frame: the model did look at the object. The
mistake comes from the image itself, a wide body hanging from two straps much like a bag from
its handles, rather than from looking in the wrong place (exercise 4 looks at the next one).""",
    ),
    (
        "code",
        """worst = int(run.evaluate().top_losses(1)[0])
print("test image", worst, "is a", test.classes[int(test.labels[worst])])
run.show("gradcam", index=worst)""",
    ),
    ("code", """run.show("saliency", index=worst)"""),
    (
        "md",
        """`convlens show KIND RUN` draws each of these from the command line, `convlens report RUN`
puts them all on one HTML page (`run.report()`), and `run.explore()` opens the explorer, where
you can draw an image and watch every layer respond.

## Exercises

**1.** A first-layer filter is `[[-1, -1, -1], [0, 0, 0], [1, 1, 1]]` up to a scale. Which
classic kernel does it resemble, with which sign, and what does it detect?

<details><summary>Answer</summary>

The horizontal-edge kernel of lesson 1 with a minus sign (or Sobel-y without the 2s): it
responds to dark-above-bright horizontal boundaries, and with the opposite sign to
bright-above-dark ones.
</details>

**2.** The first conv layer of `fastcnn` gives maps of the full 28 x 28 size, the last ones
are much smaller. Why, and what does a single pixel of a deep map "see"?

<details><summary>Answer</summary>

Padding keeps the size at each conv; pooling halves it. A pixel of a deep map depends on a
large patch of the input (its receptive field, the RF column of `run.summary()`), so it can
respond to parts of the garment rather than to edges.
</details>

**3.** Why do the MLP's first-layer weights look like whole garments while the CNN's filters
look like edges?

<details><summary>Answer</summary>

Each MLP unit has its own weight for every pixel of the image, so it learns a template of
whole images; a CNN filter has 9 weights shared over all positions, so it can only learn a
local pattern that is useful everywhere, and edges are the most useful local patterns.
</details>

**4.** Pick the test image with the second-highest loss (`run.evaluate().top_losses(2)[1]`)
and draw its Grad-CAM. Is the model looking at the garment?

<details><summary>Answer</summary>

`run.show("gradcam", index=int(run.evaluate().top_losses(2)[1]))`. Usually the heat is on the
object; when it is on the background or an edge of the frame, the mistake is less about
confusing two classes and more about the image itself.
</details>""",
    ),
]

LESSONS["05_experiments"] = [
    (
        "md",
        """# 5. Experiments: kernel size, batch size, epochs, initialisation, CNN versus MLP, transfer

**What you will be able to do after this lesson**

- change one setting at a time, train, and read a table of measured results;
- tell a real difference from seed noise by repeating runs with other seeds;
- explain why all-zero weights cannot learn and random ones can;
- compare a CNN with an MLP of the same size, and start a model from another one's weights.

Every run below is a real run folder, and every table is measured on this machine, not quoted.
The full run uses 6,000 training images and 2 epochs per run to stay within a few minutes on
2 CPU cores, so the accuracies are below what a long run reaches; what matters is the
comparison inside each table. (In quick mode the tests use 2,000 images and one epoch, and the
numbers are lower still.) A difference smaller than the spread between two seeds of the same
setting is not a finding.""",
    ),
    (
        "code",
        SETUP
        + """
import shutil
import torch
# the settings every run of this lesson shares (any cl.train option)
base = dict(data="fashion-mnist", epochs=1 if QUICK else 2, limit_train=2000 if QUICK else 6000,
            batch_size=128, optimizer="adam", lr=2e-3, weight_decay=0.0, label_smoothing=0.0,
            augment="none", record_filters="none", doctor=False)""",
    ),
    (
        "md",
        """## Kernel size

The same one-layer network with filters of 2x2 up to 7x7, two seeds each (`cl.sweep` fills
`{k}` from the grid, trains every combination and seed, and tabulates the mean and the spread
over seeds). A bigger kernel sees more at once but has more weights per filter (4, 9, 16, 25,
49) and its output is smaller (27, 26, 25, 24, 22 pixels across without padding).""",
    ),
    (
        "code",
        """kernel = cl.sweep("conv 32 {k}, maxpool 2, flatten, dense 10", {"k": [2, 3, 4, 5, 7]},
                  seeds=2, out=RUNS / "kernel", quiet=True, **base)
kernel""",
    ),
    ("code", """kernel.plot()"""),
    (
        "md",
        """The picture shows each setting as a dot at its mean with a bar over the spread between
its seeds: where two bars overlap, this experiment cannot tell the settings apart.

### Why odd kernels are usual

An even kernel trains like any other (it is in the table above), but it has no centre pixel.
"Same" padding must add k - 1 pixels in all, which for k = 4 is 3: it cannot be split evenly,
so one side gets 1 and the other 2 (convlens, like PyTorch, puts the extra one at the bottom
and right), and the output is shifted by half a pixel against the input. The cell builds
`pad=same` layers of size 2 to 5 and shows where the padding goes on a 4x4 input: a single
bright pixel, convolved with a kernel of ones.""",
    ),
    (
        "code",
        """for k in (2, 3, 4, 5):
    m = cl.build(f"conv 8 {k} pad=same, maxpool 2, flatten, dense 10", input_shape=(1, 28, 28))
    out = m.conv1(torch.zeros(1, 1, 28, 28))
    print(f"k={k}: valid output {cl.output_size(28, k)}, same output {out.shape[-1]}, "
          f"padding in all {k - 1}: {(k - 1) // 2} before, {k - 1 - (k - 1) // 2} after")
dot = np.zeros((4, 4)); dot[1, 1] = 1
print("a dot at (1, 1), 2x2 kernel of ones, same padding:\\n", cl.conv2d(dot, np.ones((2, 2)), padding="same"))
print("3x3 kernel of ones:\\n", cl.conv2d(dot, np.ones((3, 3)), padding="same"))""",
    ),
    (
        "md",
        """In the committed run all five sizes ended within about one point of each other (81.8% for
7x7 to 82.8% for 3x3), and neighbours in the table differ by at most 0.4 points, never more
than the larger of their two seed spreads (0.1 to 0.7 points): at this budget kernel size
hardly matters. The even 2x2 and 4x4 kernels trained
as well as the odd ones (82.1% and 82.4%); what makes odd sizes usual is the next cell, not
accuracy. The 3x3 layer is on top with less arithmetic than every size but 2x2. (The seconds
and images/s columns are wall time on a shared 2-core machine, and noisy.)

## Batch size

Smaller batches take more, noisier steps per epoch (6,000 / 32 = 187 against 6,000 / 512 =
11); larger ones fewer, faster steps. With the same number of epochs and the same learning
rate, the small batch gets many more updates. Two seeds each.""",
    ),
    (
        "code",
        """batch = cl.sweep("conv 32 3, maxpool 2, flatten, dense 10", {"batch_size": [32, 128, 512]},
                 seeds=2, out=RUNS / "batch", quiet=True, **base)
batch""",
    ),
    ("code", """batch.plot()"""),
    (
        "md",
        """In the committed run the smallest batch won clearly: 85.6% for batch 32 against 82.8% for 128
and 75.6% for 512, with seed spreads of 0.1 to 0.2 points, far below the gaps. With the same
2 epochs, batch 32 made 17 times as many updates as batch 512 (374 against 22). Whether a
larger learning rate closes part of the gap is a sweep away: add `lr` to the grid.

## Epochs, with seeds

Repeating a run with another seed changes the random start and the order of the batches.
The spread between two seeds is the noise floor for every other table in this lesson.""",
    ),
    (
        "code",
        """cl.sweep("conv 32 3, maxpool 2, flatten, dense 10", {"epochs": [1, 2]}, seeds=2,
         out=RUNS / "epochs", quiet=True, **base)""",
    ),
    (
        "md",
        """## Initialisation: why the weights start random

Start every weight and bias at **zero**. Every filter of a layer then computes the same thing
and, because the gradient of each filter depends only on what it computes, gets the same
update: the filters stay identical forever (the *symmetry* is never broken). With all zeros it
is worse: the ReLU outputs are all 0, so no gradient reaches the conv weights at all, and only
the last layer's bias learns, which predicts the most common class: chance level, 10%. Start
every weight at the same small **constant** (0.01): the network now learns something, but its
32 filters stay copies of one another, a network with one filter. PyTorch's default random
start (Kaiming uniform) gives every filter a different start. The cell trains all three, two
seeds each, and measures how different the 32 first-layer filters are at the end (the largest
standard deviation across filters: 0 means all equal).""",
    ),
    (
        "code",
        """spec = "conv 32 3, maxpool 2, flatten, dense 10"
def started(how):
    model = cl.build(spec, input_shape=(1, 28, 28))
    with torch.no_grad():
        for p in model.parameters():
            if how == "zeros":
                p.zero_()
            elif how == "constant 0.01":
                p.fill_(0.01)
    return model
print(f"{'start':16} {'seed':>4} {'test acc':>8} {'filter spread':>13}")
for how in ("zeros", "constant 0.01", "random (default)"):
    for seed in (0, 1):
        out = RUNS / "init" / f"{how.split()[0]}-{seed}"
        shutil.rmtree(out, ignore_errors=True)
        torch.manual_seed(seed)
        r = cl.train(started(how), out=out, seed=seed, quiet=True, **base)  # quiet: no epoch lines
        w = next(p for n, p in r.model.named_parameters() if n.endswith("weight"))
        spread = float(w.detach().flatten(1).std(0).max())
        print(f"{how:16} {seed:>4} {r.history[-1]['test_accuracy']:>8.2%} {spread:>13.4f}")""",
    ),
    (
        "md",
        """## CNN versus MLP

An MLP sees the image as 784 unrelated numbers; a CNN reuses its small kernels at every
position. `cl.compare` trains several models on the same data with the same budget: the
registry's `mlp`, the Keras MNIST CNN (`keras_mnist`, about the MLP's size) and notebook
003's CNN, two 5x5 conv layers of 32 and 64 filters with pooling, a dense layer of 100 and 10
outputs. Two seeds each; the table gives parameters, arithmetic per image and accuracy.""",
    ),
    (
        "code",
        """nb003 = "conv 32 5, maxpool 2, conv 64 5, maxpool 2, flatten, dense 100, dense 10"
cnn_mlp = cl.compare(["mlp", "keras_mnist", nb003], seeds=2, out=RUNS / "compare", quiet=True, **base)
cnn_mlp""",
    ),
    ("code", """cnn_mlp.plot()"""),
    (
        "md",
        """The committed run goes against the usual expectation: the MLP came out ahead, 78.8% (spread
0.3) against 77.8% (spread 1.3) for notebook 003's CNN, a gap inside that CNN's seed spread,
and 74.9% for `keras_mnist`, a gap well beyond both spreads. With 6,000 images and 2 epochs
the CNNs, which spend 30 to 41 times more arithmetic per image, have not caught up; their
advantage shows with more data and epochs (lesson 3's CNN reached 87% on 20,000 images).
Notebook 003's CNN also has the most parameters, 155,606, two thirds of them in its dense
layer of 100 (4 * 4 * 64 * 100 + 100 = 102,500). Try it: raise `limit_train` and `epochs`
in `base` and run the cell again.

## Transfer: from digits to clothes

Start a Fashion-MNIST model from one trained on MNIST digits (the offline `digits` set), and
compare with training from scratch on the same small budget (3,000 images, one epoch), two
seeds each. With `freeze="conv"` the copied conv layers are not trained at all; only the
classifier learns.""",
    ),
    (
        "code",
        """import statistics
from IPython.display import Markdown
small = dict(epochs=1, limit_train=1000 if QUICK else 3000, progress=False,
             record_filters="none", doctor=False)
shutil.rmtree(RUNS / "digits", ignore_errors=True)
digits = cl.train("fastcnn", data="digits", out=RUNS / "digits", quiet=True,
                  **{**small, "limit_train": None, "epochs": 1 if QUICK else 2})
print(f"source: digits, test accuracy {digits.history[-1]['test_accuracy']:.2%}")
results = {}
for name, extra in {"scratch": {}, "from digits": {"init_from": str(digits.path)},
                    "from digits, convs frozen": {"init_from": str(digits.path), "freeze": "conv"}}.items():
    for seed in (0, 1):
        out = RUNS / "transfer" / f"{name.replace(' ', '_').replace(',', '')}-seed{seed}"
        shutil.rmtree(out, ignore_errors=True)
        r = cl.train("fastcnn", data="fashion-mnist", out=out, seed=seed, quiet=True, **small, **extra)
        results.setdefault(name, []).append(r.history[-1]["test_accuracy"])
Markdown("| start | seed 0 | seed 1 | mean | ± (seeds) |\\n|---|---:|---:|---:|---:|\\n" + "\\n".join(
    f"| {k} | {v[0]:.2%} | {v[1]:.2%} | {statistics.fmean(v):.2%} | {statistics.stdev(v):.2%} |"
    for k, v in results.items()))""",
    ),
    (
        "md",
        """The committed run again goes against expectation: starting from the digits model was *worse*
than starting from scratch after one epoch, 54.0% against 65.1% on average, a gap of 11
points, far larger than the spread of either (0.1 and 2.2 points); even the better seed from
digits (54.1%) stayed more than 9 points below the worse seed from scratch (63.6%). Freezing
the copied convs changed nothing measurable (54.2% on average, with the widest spread, 4.4
points). Pen strokes
on black are not clothes: the copied filters, batch-norm statistics and classifier fit
digits, and one short epoch is likely not enough to unlearn them. Transfer pays when the
source task resembles the target (for example a model trained on many natural images), not
by default.

The same experiments from the command line: `convlens sweep "conv 32 {k}, maxpool 2,
flatten, dense 10" --grid k=3,5,7 --seeds 2`, `convlens compare mlp keras_mnist`, and
`convlens train --init-from RUN --freeze conv`.

## Exercises

**1.** Sweep the number of filters: `"conv {n} 3, maxpool 2, flatten, dense 10"` with
n = 4, 16, 64 and two seeds. How do parameters and accuracy grow?

<details><summary>Answer</summary>

`cl.sweep("conv {n} 3, maxpool 2, flatten, dense 10", {"n": [4, 16, 64]}, seeds=2,
out=RUNS / "filters", quiet=True, **base)`. The conv layer grows as 10 * n parameters, the dense
layer as 13 * 13 * n * 10. Expect accuracy to rise from 4 to 16 filters and gain less after
that; compare each gain with the seed spread before calling it real.
</details>

**2.** Try an even kernel, `conv 32 4`. What output size do you get, and why are even kernels
rare?

<details><summary>Answer</summary>

28 - 4 + 1 = 25. It works, but an even kernel has no centre pixel: "same" padding would need
1.5 pixels on each side, so it pads unevenly (one more on one side) and the output is shifted
by half a pixel against the input.
</details>

**3.** Why does the all-zero network reach exactly the share of the most common class in the
test set, and why does a constant start of 0.01 do better but still far below random?

<details><summary>Answer</summary>

With zero weights every ReLU output is 0, so the conv and first weights get zero gradient;
only the last bias moves, and it can only predict one class for every image (10% on the
balanced Fashion-MNIST test set). With a constant start the signals and gradients are not
zero, so the network learns, but all 32 filters receive identical updates and stay identical
(filter spread 0): it has the power of a single filter. In the committed run: 10.0% for
zeros, 74.6% and 74.1% for the constant start, 82.9% and 82.7% for the random one.
</details>

**4.** Build a 2-conv network in the style of the MNIST notebooks,
`"conv 32 3, maxpool 2, conv 64 3, maxpool 2, flatten, dense 10"`, and add it to the CNN-MLP
comparison. Where does it land?

<details><summary>Answer</summary>

`cl.compare(["mlp", "keras_mnist", "conv 32 3, maxpool 2, conv 64 3, maxpool 2, flatten,
dense 10"], seeds=2, out=RUNS / "compare2", quiet=True, **base)`. It has far fewer parameters
than the MLP (320 + 18,496 in its convs, 5 * 5 * 64 * 10 + 10 = 16,010 in the dense layer:
34,826 in all, against 93,834), and more arithmetic per image. No result is quoted here: read
its mean against the other rows, and call a difference real only when it is larger than the
seed spreads.
</details>""",
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


def with_new_prose(cells: list[tuple[str, str]], path: Path) -> nbformat.NotebookNode:
    """The executed notebook at `path` with its markdown taken from `cells`; its code (and so
    its outputs) must be what `cells` says, or the notebook has to be run again."""
    old = nbformat.read(path, as_version=4)
    new = build_notebook(cells)
    kinds = [(c.cell_type, c.source if c.cell_type == "code" else "") for c in old.cells]
    if kinds != [(c.cell_type, c.source if c.cell_type == "code" else "") for c in new.cells]:
        sys.exit(f"{path.name}: its code cells differ from build.py; run --execute instead")
    for before, after in zip(old.cells, new.cells):
        if before.cell_type == "markdown":
            before.source = after.source
    return old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run them and keep outputs")
    parser.add_argument(
        "--prose", action="store_true", help="replace the text only, keeping the outputs"
    )
    parser.add_argument("names", nargs="*", help="only these lessons (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for name, cells in LESSONS.items():
        if args.names and not any(n in name for n in args.names):
            continue
        path = HERE / f"{name}.ipynb"
        if args.prose:
            nbformat.write(with_new_prose(cells, path), path)
            print(f"wrote the text of {path}", file=sys.stderr)
            continue
        nbformat.write(build_notebook(cells), path)
        if args.execute:
            nbformat.write(execute(path), path)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
