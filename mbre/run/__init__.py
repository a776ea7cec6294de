"""A file of sentences through the graph: discover, the run directory, settings, budget, plan and tracing."""
