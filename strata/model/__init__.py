"""The model: features, the scikit-learn Pipeline, its byte-stable file and card, metrics, plots."""
