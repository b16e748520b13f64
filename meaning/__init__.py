"""The sentence encoder: statements and queries as vectors, for search by meaning and for stories."""
