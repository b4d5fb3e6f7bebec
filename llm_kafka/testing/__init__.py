"""Local services for tests and demos: an Apache Kafka broker and an LLM server.

``llm_kafka.testing.kafka_broker`` starts Apache Kafka from the Maven Central jars, and
``llm_kafka.testing.llm_server`` serves OpenAI- and Anthropic-compatible answers with
injectable faults. Both bind 127.0.0.1 only.
"""
