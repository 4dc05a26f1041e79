"""The Python front door behind `import convlens as cl`: thin wrappers over the library.

Like `convlens.cli` and `convlens.web`, this is a face: it holds no mechanism of its own, only
what makes the library short to call from a notebook (defaults, one-line errors, result
objects that display themselves). `convlens/__init__.py` loads these modules on first use.

Modules: `models` (`draw`), `data` (`load_dataset` and the `Dataset` it returns), `training`
(`train`), `run` (the `Run` that `train` and `load` return), `results` (its `History` and
`Predictions`), `inside` (`feature_maps`), `images` (what counts as an image, and `photo`),
`experiments` (`sweep`, `compare` and the `Experiment` they return), `explore` (the explorer
on a background server). `build`, `summary` and `models()` come straight from
`convlens.models`, `Picture` from `convlens.look.picture`, the primer from `convlens.primer`.
"""
