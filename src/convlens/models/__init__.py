"""Models: the spec language, layers, the one builder, the registry, hooks and the summary.

`convlens.models.build.build` builds any model; the registry (`registry`) names the ready
ones and `table` lists them as a table (the front door's `cl.list_models()`).
"""
