"""convlens's version, in a module of its own: `convlens.__version__`, the CLI's --version,
the run provenance and the package metadata (pyproject.toml) all read it from here."""

__version__ = "0.1.0"
