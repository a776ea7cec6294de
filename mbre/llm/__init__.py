"""LLM back ends of mbre: the embedded local model and OpenAI-compatible clients."""
