"""From the text users have to discover's input: documents, sentences, entities and their candidate pairs."""
