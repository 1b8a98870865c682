"""Request and response bodies of the producer API.

Strict: no type coercion (``"1"`` is not an index) and unknown fields are rejected, so a typo in
a client surfaces as a 422 naming the field instead of silently dropped data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from streams import text

ClientId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$"),
    Field(description="Client-chosen id: 1-128 of A-Z a-z 0-9 . _ : -"),
]


def _shown(value: str) -> str:
    """Text that will be drawn or spoken: NFC, and nothing invisible or direction-changing
    (streams/text.py): the 422 names each offending character."""
    try:
        return text.clean(value)
    except text.UnsafeTextError as exc:
        raise PydanticCustomError(
            "unsafe_text", "text cannot be shown as written: {problems}", {"problems": str(exc)}
        ) from None


def _document(value: str) -> str:
    # Long pasted documents carry stray soft hyphens and direction marks: dropped, not refused.
    return text.sanitise(value)


Shown = AfterValidator(_shown)
Language = Literal["ko", "en"]
Subject = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Shown
]
Choice = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Shown
]
Tags = Annotated[
    list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Shown]
    ],
    Field(max_length=16, description="Up to 16 tags of 1-64 characters."),
]

PROBLEM_EXAMPLE: dict[str, Any] = {
    "problem_id": "ko-history-0001",
    "language": "ko",
    "subject": "한국사",
    "question": "조선을 건국한 인물은 누구인가?",
    "choices": ["이성계", "왕건", "세종", "정도전"],
    "answer_index": 0,
    "explanation": "이성계가 1392년에 조선을 건국했다.",
    "difficulty": "easy",
    "tags": ["조선", "건국"],
}


class ProblemIn(BaseModel):
    """A multiple-choice quiz problem."""

    model_config = ConfigDict(
        strict=True, extra="forbid", json_schema_extra={"examples": [PROBLEM_EXAMPLE]}
    )

    problem_id: ClientId | None = Field(
        default=None,
        description="Your id for the problem. Absent: the API derives one (a UUID) from the "
        "request, so a retried request gets the same id.",
    )
    language: Language = Field(description="Language of the problem text.")
    subject: Subject = Field(description="Subject area, e.g. 한국사 or physics.")
    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), Shown
    ] = Field(description="The question, 1-1000 characters after trimming.")
    choices: Annotated[list[Choice], Field(min_length=2, max_length=6)] = Field(
        description="2-6 distinct answer choices of 1-200 characters."
    )
    answer_index: int = Field(ge=0, description="0-based index of the correct choice.")
    explanation: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=2000), Shown
    ] = Field(default="", description="Why the answer is right (up to 2000 characters).")
    difficulty: Literal["easy", "medium", "hard"] | None = None
    tags: Tags = []

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[str]) -> list[str]:
        seen: dict[str, int] = {}
        for index, choice in enumerate(choices):
            # Distinct as read, not as stored: "１９４５" repeats "1945".
            first = seen.setdefault(text.fold(choice), index)
            if first != index:
                raise PydanticCustomError(
                    "duplicate_choice",
                    'choices must be distinct: choice {index} repeats choice {first} ("{choice}")',
                    {"index": index, "first": first, "choice": choice},
                )
        return choices

    @field_validator("answer_index")
    @classmethod
    def _within_choices(cls, index: int, info: ValidationInfo) -> int:
        choices = info.data.get("choices")  # absent when the choices themselves were invalid
        if choices is not None and index >= len(choices):
            raise PydanticCustomError(
                "answer_out_of_range",
                "answer_index {index} is out of range: there are {count} choices, so it must be "
                "0..{last}",
                {"index": index, "count": len(choices), "last": len(choices) - 1},
            )
        return index


class ProblemBatch(BaseModel):
    """Problems accepted all together or not at all."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={"examples": [{"problems": [PROBLEM_EXAMPLE]}]},
    )

    problems: list[ProblemIn] = Field(
        min_length=1, description="The problems; at most the server's batch limit."
    )

    @field_validator("problems", mode="before")
    @classmethod
    def _within_limit(cls, problems: Any, info: ValidationInfo) -> Any:
        # Before item validation: an oversized batch is refused without validating its items.
        limit = (info.context or {}).get("max_batch")
        if limit is not None and isinstance(problems, list) and len(problems) > limit:
            raise PydanticCustomError(
                "too_long",
                "a batch holds at most {limit} problems, got {count}: split it into several "
                "requests",
                {"limit": limit, "count": len(problems)},
            )
        return problems

    @field_validator("problems")
    @classmethod
    def _distinct_ids(cls, problems: list[ProblemIn]) -> list[ProblemIn]:
        seen: dict[str, int] = {}
        for index, problem in enumerate(problems):
            if problem.problem_id is None:
                continue
            first = seen.setdefault(problem.problem_id, index)
            if first != index:
                raise PydanticCustomError(
                    "duplicate_problem_id",
                    'problem {index} repeats problem_id "{problem_id}" of problem {first}',
                    {"index": index, "first": first, "problem_id": problem.problem_id},
                )
        return problems


class ProblemAccepted(BaseModel):
    """A problem on its way into the pipeline."""

    problem_id: str = Field(examples=["ko-history-0001"])
    event_id: str = Field(
        description="Id of the ProblemSubmitted event; the same on an idempotent retry.",
        examples=["0b8e2c1e-51f4-5d55-9a57-2f4f4c1f0e8e"],
    )
    status_url: str = Field(examples=["/v1/problems/ko-history-0001"])


class BatchAccepted(BaseModel):
    """The accepted problems, in request order."""

    count: int
    problems: list[ProblemAccepted]


class KnowledgeDocumentIn(BaseModel):
    """A document to index for retrieval (replaces an earlier version with the same id)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "document_id": "joseon-founding",
                    "title": "조선의 건국",
                    "subject": "한국사",
                    "language": "ko",
                    "content_type": "text/markdown",
                    "content": "# 조선의 건국\n1392년 이성계가 ...",
                    "tags": ["조선"],
                }
            ]
        },
    )

    document_id: ClientId | None = Field(
        default=None, description="Your id; absent: derived from the request (a UUID)."
    )
    deleted: Literal[False] = False
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Shown] = ""
    subject: Subject
    language: Language
    content_type: Literal["text/plain", "text/markdown", "text/html"]
    content: Annotated[str, StringConstraints(min_length=1), AfterValidator(_document)] = Field(
        description="The text (NFC; invisible and direction-control characters are dropped); "
        "bounded by the request body limit."
    )
    tags: Tags = []

    @field_validator("content")
    @classmethod
    def _not_blank(cls, content: str) -> str:
        if not content.strip():
            raise PydanticCustomError("blank_content", "content must not be blank")
        return content


class KnowledgeDeletion(BaseModel):
    """Remove a document (and its indexed chunks)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={"examples": [{"document_id": "joseon-founding", "deleted": True}]},
    )

    document_id: ClientId
    deleted: Literal[True]


def _knowledge_kind(value: Any) -> str:
    deleted = value.get("deleted") if isinstance(value, dict) else getattr(value, "deleted", None)
    return "deletion" if deleted is True else "document"


# Error locations name the branch: ["body", "document", "content"] / ["body", "deletion", ...].
KnowledgeIn = Annotated[
    Annotated[KnowledgeDocumentIn, Tag("document")] | Annotated[KnowledgeDeletion, Tag("deletion")],
    Discriminator(_knowledge_kind),
]


class KnowledgeAccepted(BaseModel):
    """A document (or deletion) on its way to the index."""

    document_id: str = Field(examples=["joseon-founding"])
    event_id: str
    deleted: bool
    content_sha256: str = Field(description="SHA-256 (hex) of the content as stored.")


class CheckResult(BaseModel):
    status: Literal["ok", "fail"]
    latency_ms: float
    error: str | None = None


class Readiness(BaseModel):
    """Per-check readiness; any failing check makes the answer 503."""

    status: Literal["ready", "unready"]
    checks: dict[str, CheckResult]


class Liveness(BaseModel):
    status: Literal["ok"]
    version: str
