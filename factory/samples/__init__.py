"""The sample problem bank shipped with the package (Korean and English quiz problems).

Read through ``importlib.resources`` so it works from a source checkout, a wheel or a zip.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SAMPLE_FILE = "problems.jsonl"


def load_sample_problems() -> list[dict[str, Any]]:
    """Every sample problem, in file order, as ProblemSubmitted-shaped dicts (without ``meta``
    and ``submitted_by``, which the submitter adds)."""
    text = resources.files(__name__).joinpath(SAMPLE_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
