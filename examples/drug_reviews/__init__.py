"""Demo of llm-kafka on the UCI Drug Review sample."""
