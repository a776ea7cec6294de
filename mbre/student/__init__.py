"""Downstream classifiers trained on discovered samples and on gold ones: what the samples are worth."""
