"""An enrichment pipeline that adds an embedding vector to each document."""
