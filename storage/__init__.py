"""SQLite storage: items, summaries, subscribers, deliveries and Russian full-text search."""
