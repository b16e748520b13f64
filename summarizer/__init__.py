"""Statements summarized: cleaned text, a seq2seq model or the extractive fallback, headlines, not-news rules."""
