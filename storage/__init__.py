"""The store: SQLite or PostgreSQL, repositories over one connection, migrations, the word index."""
