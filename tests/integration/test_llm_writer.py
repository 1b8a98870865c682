"""The LLM script writer against a real HTTP server speaking the chat-completions API.

The server is local and scripted per test (``llm.reply``), so every failure mode of a real
endpoint (slow, 5xx, prose instead of JSON, wrong answers) is reproducible offline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from agents.drafting.arms import Arm
from agents.drafting.llm_writer import LLMScriptWriter
from agents.drafting.speech import estimate_script_seconds
from agents.drafting.template_writer import TemplateWriter, phrasebook
from agents.drafting.writer_port import Fact, WrittenScript
from connectors.llm import ChatCompletionsClient
from streams.errors import ValidationError
from tests.factories import problem_event
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

MODEL = "test-model"
KEY = "sk-test-123"
KO = 0  # 훈민정음 -> 세종대왕 (index 2)
EN = 40
ARM = Arm("surprising_fact", "comment_answer")
KO_FACTS = (
    Fact("kb-hangul#0", 0.93, "세종대왕은 1443년에 훈민정음을 창제했다."),
    Fact("kb-hangul#1", 0.81, "훈민정음은 1446년에 반포되었다."),
)
EN_FACTS = (Fact("kb-en#7", 0.88, "A reference fact for the English problem."),)

Reply = Callable[[dict[str, Any]], Awaitable[Response]]


@dataclass
class FakeLLM:
    """What the server answers next, and every request it received."""

    reply: Reply | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)


def completion(content: str) -> JSONResponse:
    return JSONResponse(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def answers(content: str) -> Reply:
    async def reply(_: dict[str, Any]) -> Response:
        return completion(content)

    return reply


def answers_json(**copy: Any) -> Reply:
    return answers(json.dumps(copy, ensure_ascii=False))


def build_app(llm: FakeLLM) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        llm.requests.append(body)
        llm.auth.append(request.headers.get("authorization"))
        assert llm.reply is not None, "the test did not script a reply"
        return await llm.reply(body)

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeLLM]]:
    llm = FakeLLM()
    with serve_in_thread(build_app(llm), health_path="/health", name="fake LLM server") as url:
        yield f"{url}/v1", llm


@pytest.fixture
def llm(server: tuple[str, FakeLLM]) -> FakeLLM:
    fake = server[1]
    fake.reply, fake.requests[:], fake.auth[:] = None, [], []
    return fake


async def write(
    server: tuple[str, FakeLLM],
    index: int,
    facts: tuple[Fact, ...] = KO_FACTS,
    *,
    timeout_s: float = 5.0,
    **overrides: Any,
) -> tuple[dict[str, Any], WrittenScript]:
    problem = problem_event(index, **overrides)
    async with ChatCompletionsClient(server[0], KEY, MODEL, timeout_s) as client:
        writer = LLMScriptWriter(client, TemplateWriter())
        return problem, await writer.write(problem, ARM, facts)


def assert_fell_back(problem: dict[str, Any], written: WrittenScript, reason: str) -> None:
    assert written.draft == TemplateWriter().write(problem, ARM)
    assert written.fallback_reason is not None
    assert written.fallback_reason.startswith(reason), written.fallback_reason


KO_COPY = {
    "hook": "한글을 만든 왕, 알고 계셨나요?",
    "preface": "우리가 매일 쓰는 글자에도 만든 사람이 있어요.",
    "explanation": "정답은 세종대왕입니다. 1443년에 훈민정음을 창제하고 1446년에 반포했어요.",
    "cta": "몇 문제 맞혔는지 댓글로 알려 주세요!",
}


async def test_valid_korean_reply_becomes_the_draft(
    server: tuple[str, FakeLLM], llm: FakeLLM
) -> None:
    llm.reply = answers_json(**KO_COPY)

    problem, written = await write(server, KO)

    assert written.fallback_reason is None
    draft, template = written.draft, TemplateWriter().write(problem, ARM)
    assert (draft.hook, draft.preface, draft.explanation, draft.cta) == tuple(KO_COPY.values())
    assert draft.writer == f"llm:{MODEL}"
    # The answer key and everything around it come from the problem, never from the model.
    assert draft.question == template.question
    assert draft.choices == template.choices == tuple(problem["choices"])
    assert draft.answer_index == problem["answer_index"]
    assert draft.answer_reveal == template.answer_reveal
    assert draft.countdown_seconds == template.countdown_seconds
    assert draft.trimmed == ()
    parts = (
        draft.hook,
        draft.preface,
        draft.question,
        phrasebook("ko").spoken_choices(draft.choices),
        draft.answer_reveal,
        draft.explanation,
        draft.cta,
    )
    expected = estimate_script_seconds(parts, "ko", draft.countdown_seconds)
    assert draft.estimated_speech_seconds == round(expected, 2)


async def test_request_carries_model_key_format_and_facts(
    server: tuple[str, FakeLLM], llm: FakeLLM
) -> None:
    llm.reply = answers_json(**KO_COPY)

    await write(server, KO)

    (request,) = llm.requests
    assert llm.auth == [f"Bearer {KEY}"]
    assert request["model"] == MODEL
    assert request["response_format"] == {"type": "json_object"}
    assert isinstance(request["temperature"], float)
    system, user = request["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert "JSON" in system["content"]
    for fact in KO_FACTS:
        assert f"[{fact.chunk_id}] {fact.text}" in user["content"]
    assert "세종대왕" in user["content"]  # the answer, so the model can explain it
    assert "놀라운 사실" in user["content"]  # the arm's hook style, in the problem's language


async def test_valid_english_reply_becomes_the_draft(
    server: tuple[str, FakeLLM], llm: FakeLLM
) -> None:
    problem = problem_event(EN)
    answer = problem["choices"][problem["answer_index"]]
    copy = {
        "hook": "Bet you didn't know this one!",
        "preface": "",
        "explanation": f"The answer is {answer}. {EN_FACTS[0].text}",
        "cta": "Comment your answer below!",
    }
    llm.reply = answers_json(**copy)

    _, written = await write(server, EN, EN_FACTS)

    assert written.fallback_reason is None
    assert written.draft.explanation == copy["explanation"]
    assert written.draft.cta == copy["cta"]
    user = llm.requests[0]["messages"][1]["content"]
    assert "[kb-en#7]" in user
    assert "surprising fact" in user


async def test_prose_instead_of_json_falls_back(server: tuple[str, FakeLLM], llm: FakeLLM) -> None:
    llm.reply = answers("Sure! Here's a fun script about King Sejong...")

    problem, written = await write(server, KO)

    assert_fell_back(problem, written, "invalid LLM output: not JSON")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"explanation": "가" * 401},
            "invalid LLM output: explanation: String should have at most 400 characters",
        ),
        ({"hook": ""}, "invalid LLM output: hook: String should have at least 1 character"),
        ({"answer_index": 0}, "invalid LLM output: answer_index: Extra inputs are not permitted"),
    ],
)
async def test_schema_violation_falls_back(
    server: tuple[str, FakeLLM], llm: FakeLLM, change: dict[str, Any], reason: str
) -> None:
    llm.reply = answers_json(**{**KO_COPY, **change})

    problem, written = await write(server, KO)

    assert_fell_back(problem, written, reason)
    assert written.fallback_reason == reason


async def test_server_error_falls_back(server: tuple[str, FakeLLM], llm: FakeLLM) -> None:
    async def fail(_: dict[str, Any]) -> Response:
        return PlainTextResponse("upstream exploded", status_code=500)

    llm.reply = fail

    problem, written = await write(server, KO)

    assert_fell_back(problem, written, "LLM unavailable: chat endpoint answered HTTP 500")


async def test_rejected_request_falls_back(server: tuple[str, FakeLLM], llm: FakeLLM) -> None:
    async def reject(_: dict[str, Any]) -> Response:
        return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)

    llm.reply = reject

    problem, written = await write(server, KO)

    assert_fell_back(problem, written, "LLM error: chat endpoint rejected the request, HTTP 401")


@pytest.mark.alone  # bounds a time: not beside the parallel phase
async def test_slow_reply_times_out_and_falls_back(
    server: tuple[str, FakeLLM], llm: FakeLLM
) -> None:
    async def slow(_: dict[str, Any]) -> Response:
        await asyncio.sleep(1.5)
        return completion(json.dumps(KO_COPY, ensure_ascii=False))

    llm.reply = slow

    started = time.monotonic()
    problem, written = await write(server, KO, timeout_s=0.3)

    assert time.monotonic() - started < 1.4
    assert_fell_back(problem, written, "LLM unavailable: chat completion timed out")


@pytest.mark.parametrize(
    ("index", "explanation", "wrong"),
    [
        (KO, "정답은 세조입니다. 세조는 훈민정음을 만들었어요.", "세조"),
        (KO, "사실 정답: 1번 태조예요.", "태조"),
        (EN, "The answer is {wrong}, obviously.", None),
    ],
)
async def test_explanation_claiming_a_wrong_answer_falls_back(
    server: tuple[str, FakeLLM],
    llm: FakeLLM,
    index: int,
    explanation: str,
    wrong: str | None,
) -> None:
    problem = problem_event(index)
    if wrong is None:
        wrong = next(c for i, c in enumerate(problem["choices"]) if i != problem["answer_index"])
        explanation = explanation.format(wrong=wrong)
    llm.reply = answers_json(**{**KO_COPY, "explanation": explanation})

    problem, written = await write(server, index)

    assert_fell_back(problem, written, "wrong answer in LLM explanation")
    assert repr(wrong) in (written.fallback_reason or "")


async def test_long_preface_is_dropped_to_fit(server: tuple[str, FakeLLM], llm: FakeLLM) -> None:
    # ~28 s of preface on its own: over budget with it, within budget without it.
    llm.reply = answers_json(**{**KO_COPY, "preface": "가나다라마바사아자차" * 20})

    _, written = await write(server, KO)

    assert written.fallback_reason is None
    assert written.draft.preface == ""
    assert written.draft.trimmed == ("preface",)
    assert written.draft.estimated_speech_seconds <= TemplateWriter().max_seconds


async def test_over_budget_without_preface_falls_back(
    server: tuple[str, FakeLLM], llm: FakeLLM
) -> None:
    llm.reply = answers_json(**{**KO_COPY, "explanation": "정답은 세종대왕입니다. " + "가" * 380})

    problem, written = await write(server, KO)

    assert_fell_back(problem, written, "LLM script over budget")


async def test_undraftable_problem_raises_before_asking(
    server: tuple[str, FakeLLM], llm: FakeLLM
) -> None:
    with pytest.raises(ValidationError):
        await write(server, KO, answer_index=9)
    assert llm.requests == []
