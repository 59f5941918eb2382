"""The model card: what the model is, what it reads, what it was trained on, and from which data."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from strata.contract.spec import arrow_type, to_metadata
from strata.model.features import model_inputs

if TYPE_CHECKING:
    from strata.config import TrainParams
    from strata.contract.spec import Contract


def card(
    model: Any, contract: Contract, params: TrainParams, facts: dict[str, Any], summary: dict[str, Any]
) -> dict[str, Any]:
    """The model card: what the model is, what it reads, what it was trained on, and from which data."""
    import sklearn
    import skops

    inputs = model_inputs(model)
    return {
        "version": 1,
        "model": {"kind": params.model, "estimator": type(model[-1]).__name__, "format": "skops"},
        "params": dataclasses.asdict(params),
        "versions": {"sklearn": sklearn.__version__, "skops": skops.__version__},
        # the whole contract, as the exact JSON clean files carry in their Parquet metadata (a string, so the
        # card's sorted keys keep the column order): scoring checks events with it and needs nothing else
        "contract": to_metadata(contract).decode(),
        "key": list(contract.key),
        "target": contract.target,
        "input_schema": [
            {"name": name, "type": ctype, "arrow_type": str(arrow_type(ctype))} for name, ctype in inputs
        ],
        "model_features": [str(name) for name in model.named_steps["preprocess"].get_feature_names_out()],
        "classes": [str(c) for c in model.classes_],
        "training": facts,
        "lineage": {
            "partitions": sorted(summary.get("partitions", [])),
            "split": {k: summary.get(k) for k in ("train_rows", "test_rows", "seed", "test_fraction")},
        },
    }
