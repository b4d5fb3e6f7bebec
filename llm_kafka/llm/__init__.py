"""The LLM client layer; plugin authors import ``hookimpl`` from here."""

from llm_kafka.llm.hookspecs import hookimpl

__all__ = ["hookimpl"]
