"""Domain pipelines built from ``sciarch.layers``; each sub-package registers one pipeline."""
