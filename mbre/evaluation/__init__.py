"""Scoring against gold data: formats, gold slices, metrics, the strategy comparison, replays and reports."""
