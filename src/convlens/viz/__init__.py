"""Pictures: one module per kind (filters, feature maps, curves, architecture, ...)."""
