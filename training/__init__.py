"""Training recipes and the training entry point (``python -m training.train``)."""
