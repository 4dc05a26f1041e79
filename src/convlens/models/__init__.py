"""Models: the spec language, layers, the one builder, the registry, hooks and the summary."""
