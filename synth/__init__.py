"""fuzzymemo synth package."""
