"""strata: the library behind the pipeline, one package per concern (see docs/architecture.md).

`stages/` holds what DVC runs (one thin module per dvc.yaml stage); everything they share lives here.
"""

__version__ = "0.1.0"
