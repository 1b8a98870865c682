"""Korean copy, written the way a Korean quiz Shorts channel talks (friendly 해요체/합니다체)."""

from __future__ import annotations

from agents.drafting.phrasebook import Phrasebook

_SENTENCE_END = ".!?。"


def _label(index: int) -> str:
    return f"{index + 1}번"


def _spoken_choices(choices: tuple[str, ...]) -> str:
    return " ".join(
        f"{_label(i)}, {choice.rstrip(_SENTENCE_END)}." for i, choice in enumerate(choices)
    )


def _reveal_choice(choice: str, subject: str) -> str:
    # '입니다' glued to an expression or a sentence reads wrong ("오랜만에입니다"), so
    # language answers and sentence-like choices are quoted, as Korean quiz captions do.
    bare = choice.strip().rstrip(_SENTENCE_END)
    if subject == "language" or bare != choice.strip():
        return f"‘{bare}’"
    return bare


PHRASEBOOK = Phrasebook(
    language="ko",
    hooks={
        "question_first": (
            "바로 문제 나갑니다!",
            "{subject} 문제, 바로 갑니다!",
            "{countdown}초 안에 맞혀 보세요!",
            "이 문제, 풀 수 있나요?",
            "오늘의 {subject} 퀴즈, 시작!",
        ),
        "surprising_fact": (
            "어른들도 자주 틀리는 {subject} 문제!",
            "의외로 많이 헷갈리는 문제!",
            "정답 듣고 깜짝 놀랄 문제!",
            "다들 안다고 착각하는 문제!",
            "쉬워 보여도 함정 있는 {subject} 문제!",
        ),
        "challenge": (
            "{subject} 고수만 맞히는 문제!",
            "이거 맞히면 상위권입니다!",
            "{countdown}초 안에 맞히면 천재!",
            "{subject} 자신 있으면 도전!",
            "딱 한 문제, 자신 있나요?",
        ),
        "story": (
            "퀴즈쇼 마지막 문제라고 상상해 보세요.",
            "친구가 내기를 걸어 왔습니다.",
            "시험 종료 10초 전, 마지막 문제!",
            "상금이 걸린 {subject} 결승 문제!",
            "선생님이 칠판에 문제를 적습니다.",
        ),
    },
    prefaces={
        "surprising_fact": (
            "생각보다 많은 분이 여기서 헷갈려요.",
            "정답을 들으면 다시 생각하게 될 거예요.",
            "끝까지 보면 확실히 기억에 남을 거예요.",
        ),
        "story": (
            "모두가 당신의 답을 기다리고 있어요.",
            "힌트는 없습니다. 잘 들어 보세요.",
            "기회는 단 한 번뿐입니다.",
        ),
    },
    ctas={
        "follow": (
            "매일 새 퀴즈, 구독하고 같이 풀어요!",
            "{subject} 퀴즈 더 보고 싶다면 구독!",
            "구독하면 내일도 문제 배달해 드려요!",
            "구독하고 매일 두뇌 운동해요!",
            "놓치기 싫다면 지금 바로 구독!",
        ),
        "comment_answer": (
            "맞혔다면 댓글로 인증해 주세요!",
            "몇 초 만에 맞혔는지 댓글로 알려 주세요!",
            "여러분은 몇 번을 골랐나요? 댓글로 알려 주세요!",
            "틀렸다면 솔직하게 댓글로 고백!",
            "더 헷갈리는 문제가 있다면 댓글로 내 주세요!",
        ),
        "see_part2": (
            "더 어려운 2탄, 다음 영상에서 만나요!",
            "2탄은 더 어렵습니다. 다음 영상 확인!",
            "다음 문제는 2탄에서 공개합니다!",
            "이어지는 2탄도 꼭 풀어 보세요!",
            "진짜 고수는 2탄에서 가려집니다!",
        ),
    },
    reveals=(
        "정답은 {label}, {choice}입니다!",
        "정답은 바로 {label}, {choice}입니다!",
        "정답 공개! {label}, {choice}입니다!",
    ),
    subjects={
        "history": "역사",
        "science": "과학",
        "geography": "지리",
        "math": "수학",
        "language": "국어",
        "general": "상식",
    },
    subject_tags={
        "한국사": "한국사",
        "세계사": "세계사",
        "한국지리": "한국지리",
        "세계지리": "세계지리",
        "맞춤법": "맞춤법",
        "속담": "속담",
        "사자성어": "사자성어",
    },
    default_subject="상식",
    max_hook_units=8,
    label=_label,
    spoken_choices=_spoken_choices,
    reveal_choice=_reveal_choice,
)
