"""Summary table of a model: shapes, parameters, mult-adds, receptive field, memory.

`summary(model, input_shape)` (default: the model's own `input_shape`) runs one real forward
pass (batch 1, eval mode, no grad) with forward hooks on every module that computes something
and returns a `ModelSummary`: one `LayerRow` per layer call, `str()` for the table,
`explain()` for the formulas.
`convlens.summary` is this function.

Conventions (per sample, batch 1):
- Mult-adds count only the multiply-accumulates of weights, like torchinfo:
  conv = output elements * (in_channels / groups) * kh * kw, linear = in_features * out_features
  (per output row); bias adds, batch norm, activations and pooling count 0.
- Recurrent layers (nn.RNN, nn.GRU, nn.LSTM and their cells) count their weights once per
  time step: gates * hidden * (inputs + hidden) per layer and direction (input-hidden plus
  hidden-hidden; gates = 4 for LSTM, 3 for GRU, 1 for RNN; a later layer's inputs are the
  earlier layer's outputs, both directions), plus hidden * proj_size for an LSTM projection,
  times the sequence length.
- Receptive field uses the standard recursion along the path of each tensor:
  r_out = r_in + (k - 1) * dilation * j_in and j_out = j_in * stride, for conv and pooling;
  linear, flatten and adaptive/global pooling see the whole input ("full"); element-wise
  modules keep it. Functional calls (`F.max_pool2d`) are invisible to hooks and not counted.
- Activation memory is output elements * 4 bytes (float32) per row.

The package, one concern per module: `record` (the hooked forward pass and the rows),
`facts` (what one call costs and sees), `explain` (the formulas), `result` (the returned
types), `format` (text and HTML).
"""

from __future__ import annotations

from convlens.models.summary.format import parse_shape, shape_text
from convlens.models.summary.record import model_input_shape, summary
from convlens.models.summary.result import LayerRow, ModelSummary

__all__ = [
    "LayerRow",
    "ModelSummary",
    "model_input_shape",
    "parse_shape",
    "shape_text",
    "summary",
]
