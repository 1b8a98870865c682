"""The README must stay true: its configuration table lists exactly the settings that exist,
and its example request is valid input for the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.api.models import ProblemIn
from streams.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    block = README.read_text(encoding="utf-8").split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


def test_configuration_table_matches_settings() -> None:
    documented = set(re.findall(r"^\| `MUNJERO_([A-Z0-9_]+)`", README.read_text(), re.M))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_example_problem_is_accepted_by_the_api_model() -> None:
    text = README.read_text(encoding="utf-8")
    body = re.search(r"-d '(\{.*?\})'", text, re.S)
    assert body is not None
    problem = ProblemIn.model_validate_json(json.dumps(json.loads(body.group(1))))
    assert problem.choices[problem.answer_index] == "세종대왕"
