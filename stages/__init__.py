"""What DVC runs: one thin module per dvc.yaml stage (simulate, ingest, validate, split, train, evaluate)."""
