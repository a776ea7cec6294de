"""The nouns of mbre: relation inventories, sentences, the answers asked for, results and run choices."""
