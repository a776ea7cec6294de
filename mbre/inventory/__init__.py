"""M-BRe step 1, built once per relation schema: the grouping, the retrieval index and the routing."""
