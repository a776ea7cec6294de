"""M-BRe steps 2 and 3 for one sentence, as a LangGraph graph: read builder.py for the route it takes."""
