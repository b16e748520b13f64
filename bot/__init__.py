"""The Telegram bot and the `newsbot` command line."""
