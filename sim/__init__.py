"""fuzzymemo sim package."""
