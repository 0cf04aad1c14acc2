"""warmstart: pre-train encoders on unlabeled data, then fine-tune, evaluate, export and serve them."""

__version__ = "0.1.0"
