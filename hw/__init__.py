"""fuzzymemo hw package."""
