"""The plots evaluate writes: CSV for `dvc plots` and the same as PNG (matplotlib Agg, byte-stable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from strata.model.metrics import DIGITS, curves


def write_curve_csvs(folder: Path, arrays: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """confusion.csv, and roc.csv / pr.csv in long format (a `class` column) for `dvc plots`: dvc.yaml draws
    each as one plot coloured by class (.dvc/plots/by_class.json), so it names no class of any target."""
    import pandas as pd

    confusion = pd.DataFrame({"actual": arrays["y_true"], "predicted": arrays["y_pred"]})
    confusion = confusion.astype(str).sort_values(["actual", "predicted"], kind="stable")
    confusion.to_csv(folder / "confusion.csv", index=False)
    lines = curves(arrays["y_true"], arrays["proba"], arrays["classes"])
    for kind, per_class in lines.items():
        frames = []
        for cls, cols in per_class.items():
            frames.append(pd.DataFrame(cols).assign(**{"class": cls})[["class", *cols]])
        long = pd.concat(frames) if frames else pd.DataFrame(columns=["class"])
        long.round(DIGITS).to_csv(folder / f"{kind}.csv", index=False)
    return lines


def render_pngs(folder: Path, arrays: dict[str, Any], lines: dict[str, dict[str, Any]]) -> None:
    """confusion.png, roc.png, pr.png with matplotlib Agg; fixed dpi, hash salt and no metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style: Any = {"svg.hashsalt": "strata", "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9}
    with plt.rc_context(style):
        _confusion_png(plt, folder / "confusion.png", arrays)
        for kind, x, y, title in (
            ("roc", "fpr", "tpr", "ROC (one-vs-rest)"),
            ("pr", "recall", "precision", "Precision-recall (one-vs-rest)"),
        ):
            fig, ax = plt.subplots(figsize=(5, 4))
            for cls, cols in lines[kind].items():
                ax.plot(cols[x], cols[y], label=cls, linewidth=1.2)
            if kind == "roc":
                ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
            ax.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
            ax.legend(loc="lower right" if kind == "roc" else "lower left")
            fig.tight_layout()
            fig.savefig(folder / f"{kind}.png", dpi=100, metadata={"Software": None})
            plt.close(fig)


def _confusion_png(plt: Any, path: Path, arrays: dict[str, Any]) -> None:
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(arrays["classes"]) | set(arrays["y_true"].tolist()))
    matrix = confusion_matrix(arrays["y_true"], arrays["y_pred"], labels=labels)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    for (row, col), count in sorted(_cells(matrix)):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix (test split)")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def _cells(matrix: Any) -> list[tuple[tuple[int, int], int]]:
    return [((r, c), int(matrix[r, c])) for r in range(matrix.shape[0]) for c in range(matrix.shape[1])]
