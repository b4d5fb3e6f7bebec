"""The getting-started pipeline: summarize each document in one sentence."""
