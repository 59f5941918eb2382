"""A tiny git repo shaped like a registry project, without DVC runs: the artifact's card and metrics are
committed to git, so GTO tags, the gate and the watcher can be tested in a second, hermetically."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

DVC_YAML = {
    "stages": {
        "train": {
            "cmd": "true",
            "outs": [
                {"models/model.skops": {"remote": "shared"}},
                {"models/card.json": {"remote": "shared"}},
            ],
            "metrics": [{"eval/metrics.json": {"remote": "shared"}}],
        }
    },
    "artifacts": {
        "model": {
            "path": "models/model.skops",
            "type": "model",
            "meta": {"card": "models/card.json", "metrics": "eval/metrics.json"},
        }
    },
}
PARAMS = {
    "registry": {
        "artifact": "model",
        "stages": ["staging", "prod"],
        "gated_stages": ["prod"],
        "poll_seconds": 1,
        "bump": "patch",
    },
    "gate": {"max_drop": {"accuracy": 0.01, "macro_f1": 0.02}},
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def init(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "strata-test")
    git(root, "config", "user.email", "test@strata.local")
    (root / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    return root


def commit_model(root: Path, seed: str, accuracy: float, card_sha: str | None = None) -> str:
    """Write a model, its card and metrics, commit them; return the commit."""
    blob = hashlib.sha256(seed.encode()).digest() * 8
    (root / "models").mkdir(exist_ok=True)
    (root / "eval").mkdir(exist_ok=True)
    (root / "models" / "model.skops").write_bytes(blob)
    card = {
        "model": {"sha256": card_sha or hashlib.sha256(blob).hexdigest(), "kind": "test"},
        "lineage": {"partitions": ["acme/01", "acme/02", "birch/03"], "split": {"train_rows": 10}},
    }
    (root / "models" / "card.json").write_text(json.dumps(card))
    metrics = {"accuracy": accuracy, "macro_f1": accuracy - 0.1}
    (root / "eval" / "metrics.json").write_text(json.dumps(metrics))
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"model {seed}")
    return git(root, "rev-parse", "HEAD")
