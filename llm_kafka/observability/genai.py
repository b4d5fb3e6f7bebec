"""OpenTelemetry GenAI semantic-convention names, in one place, pinned to one version.

Every span attribute, metric name and enumerated value that llm-kafka emits for model calls
comes from this module, so a move to a newer convention version changes one file. The names
follow the GenAI conventions of semantic-conventions v1.37.0, the first version that names
the provider ``gen_ai.provider.name`` (earlier versions called it ``gen_ai.system``). The
conventions are still marked "Development" upstream, so names can change between versions.
Values the conventions do not define (cached and reasoning tokens, cost) use the
``llm_kafka.`` prefix.
"""

from __future__ import annotations

SEMCONV_VERSION = "1.37.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

# Span and metric attributes.
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
OUTPUT_TYPE = "gen_ai.output.type"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

# Values of gen_ai.operation.name.
OPERATION_CHAT = "chat"
OPERATION_EMBEDDINGS = "embeddings"

# Values of gen_ai.token.type.
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"

# Values of gen_ai.output.type.
OUTPUT_TYPE_TEXT = "text"
OUTPUT_TYPE_JSON = "json"

# Values of gen_ai.provider.name for the built-in providers.
PROVIDER_OPENAI = "openai"
PROVIDER_ANTHROPIC = "anthropic"

# Metrics: a histogram of tokens per operation and a histogram of operation durations.
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_TOKEN_USAGE_UNIT = "{token}"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_OPERATION_DURATION_UNIT = "s"

# Bucket boundaries the conventions recommend for the two histograms.
TOKEN_USAGE_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
OPERATION_DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)

# llm-kafka's own attributes for values the conventions leave out.
USAGE_CACHED_INPUT_TOKENS = "llm_kafka.usage.cached_input_tokens"
USAGE_REASONING_TOKENS = "llm_kafka.usage.reasoning_tokens"
USAGE_COST = "llm_kafka.usage.cost"
ATTEMPTS = "llm_kafka.llm.attempts"


def span_name(operation: str, model: str) -> str:
    """Return the span name the conventions prescribe: ``"{operation} {model}"``."""
    return f"{operation} {model}" if model else operation
