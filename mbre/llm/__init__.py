"""How a question reaches a model: providers, structured answers, the call cache, retries and rate limits."""
