"""Subcommands of the fuzzymemo CLI."""
