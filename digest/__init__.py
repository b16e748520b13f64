"""The digest: stories and events, their ranking, the rendered pages, the maker that caches them."""
