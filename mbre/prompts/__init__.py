"""The prompt templates (the TOML files here) and the rendering of a sentence into them."""
