"""One self-contained HTML page per run: every sample, its answers on demand, filters and charts."""
