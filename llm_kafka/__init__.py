"""llm-kafka: LLM work over Kafka streams."""
