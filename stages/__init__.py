"""strata: a data-versioned ML pipeline on DVC (one module per stage, see dvc.yaml)."""

__version__ = "0.1.0"
