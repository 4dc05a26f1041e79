"""Layer-spec language: parse -> validate -> infer shapes (`convlens.models.build` builds).

One spec, three spellings, all parsed into the same list of `LayerSpec`:

1. Text, layers separated by commas or new lines (`#` starts a comment)::

       conv 32 3, maxpool 2, conv 32 3, maxpool 2, conv 64 3, flatten, dense 64, dense 10

2. A YAML file: a list of those strings, or a mapping with `layers:` (list or text) and an
   optional `input: 1x28x28`.
3. The tuple list of notebook 001, as a Python list or as its text (read with
   `ast.literal_eval`): `[('c', 64, 3), ('m', 2), ('f', None), ('d', 1024), ('d', 10)]`
   where `c` = conv with pad=same and ReLU, `m` = maxpool, `f` = flatten, `d` = dense.
   A tuple whose first word is a full keyword reads as its words: `('dropout', 0.5)`.

Layers (`[...]` = optional, defaults shown)::

    conv C K [stride=1] [pad=valid|same|INT] [dil=1] [act=relu] [bn=0]
    dense N [act=relu]              alias `linear`; the LAST dense defaults to act=none (logits)
    res C [stride=1]                two 3x3 conv-BN with a skip (1x1 conv-BN projection when
                                    channels or stride change), ReLU after the add
    maxpool K [stride=K] [pad=0]    avgpool K [stride=K] [pad=0]
    gap                             global average pool, output is a vector of C
    bn                              BatchNorm2d (BatchNorm1d on vectors)
    dropout P                       0 <= P < 1
    flatten                         must not be the last layer
    relu | gelu | silu | tanh | sigmoid | leaky_relu | act NAME     an activation layer

`conv ... bn=1` is Conv2d(bias=False) + BatchNorm2d + activation. A `dense` after a feature
map gets an implicit `flatten` (`implicit=True`) inserted by `resolve`. Every mistake is a
one-line `SpecError` naming the layer, its text, the shape coming in and what would work.

The package: `layer` (the vocabulary and `LayerSpec`), `grammar` (parse and print specs),
`shapes` (shapes through a spec); `convlens.models.build` builds the modules.
"""

from __future__ import annotations

from convlens.models.spec.grammar import looks_like_path, parse, read_spec_file, to_text
from convlens.models.spec.layer import (
    ACTIVATION_NAMES,
    ALIASES,
    KINDS,
    SPEC_FILE_SUFFIXES,
    LayerSpec,
    SpecFile,
    shape_text,
)
from convlens.models.spec.shapes import infer_shapes, resolve

__all__ = [
    "ACTIVATION_NAMES",
    "ALIASES",
    "KINDS",
    "SPEC_FILE_SUFFIXES",
    "LayerSpec",
    "SpecFile",
    "infer_shapes",
    "looks_like_path",
    "parse",
    "read_spec_file",
    "resolve",
    "shape_text",
    "to_text",
]
