"""``python -m llm_kafka.cli``: the same as the ``llm-kafka`` command."""

import sys

from llm_kafka.cli import main

sys.exit(main())
