"""Summaries of Russian statements (seq2seq model or extractive fallback) and digests."""
