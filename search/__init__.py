"""Search: the query language, the searcher over the word index and the vector graph, fusion, the service."""
