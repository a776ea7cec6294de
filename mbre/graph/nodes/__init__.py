"""One module per graph node; each node is a small function that returns a partial state update."""
