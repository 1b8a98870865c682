"""English copy: short, punchy, second person, the register of English quiz Shorts."""

from __future__ import annotations

from agents.drafting.phrasebook import Phrasebook

_SENTENCE_END = ".!?"


def _label(index: int) -> str:
    return chr(ord("A") + index)


def _spoken_choices(choices: tuple[str, ...]) -> str:
    return " ".join(
        f"{_label(i)}: {choice.rstrip(_SENTENCE_END)}." for i, choice in enumerate(choices)
    )


def _reveal_choice(choice: str, subject: str) -> str:
    # A sentence answer is quoted so the reveal's own "!" does not read as part of it.
    del subject  # English needs no subject-specific quoting
    bare = choice.strip().rstrip(_SENTENCE_END)
    return f"“{bare}”" if bare != choice.strip() else bare


PHRASEBOOK = Phrasebook(
    language="en",
    hooks={
        "question_first": (
            "Quick {subject} question. Can you get it?",
            "Here's your {subject} question. Ready?",
            "Answer this in {countdown} seconds.",
            "Pop quiz! What do you know?",
            "One question, {countdown} seconds. Go!",
        ),
        "surprising_fact": (
            "Most people get this {subject} question wrong.",
            "This one surprises almost everyone.",
            "The answer might surprise you.",
            "Even adults mix this one up.",
            "This {subject} question fools most people.",
        ),
        "challenge": (
            "Only true {subject} fans get this right.",
            "Think you're smart? Prove it.",
            "Get this right and you're a genius.",
            "Bet you can't answer in {countdown} seconds.",
            "Ready for a real {subject} challenge?",
        ),
        "story": (
            "Picture this: the final quiz show question.",
            "Your friend bets you can't answer this.",
            "Ten seconds left. Last exam question.",
            "Imagine a million dollars rides on this.",
            "Final exam. One {subject} question left.",
        ),
    },
    prefaces={
        "surprising_fact": (
            "It looks easy, but there's a catch.",
            "Plenty of people second-guess themselves here.",
            "Listen closely before you answer.",
        ),
        "story": (
            "Everyone is waiting for your answer.",
            "No phone, no hints. Just you.",
            "You only get one shot.",
        ),
    },
    ctas={
        "follow": (
            "Follow for a new quiz every day!",
            "Subscribe for more {subject} questions!",
            "Hit subscribe and train your brain daily.",
            "Want more like this? Subscribe!",
            "Subscribe so you never miss a quiz.",
        ),
        "comment_answer": (
            "Did you get it? Tell us in the comments!",
            "Comment how many seconds it took you!",
            "Be honest: right or wrong? Comment below!",
            "Which answer did you pick? Comment below!",
            "Got a harder one? Drop it in the comments!",
        ),
        "see_part2": (
            "Part two is even harder. Watch it next!",
            "Think that was tough? Part two awaits.",
            "The next question is waiting in part two!",
            "Ready for round two? It's in the next video.",
            "Part two separates the pros. See you there!",
        ),
    },
    reveals=(
        "The answer is {label}: {choice}!",
        "The correct answer is {label}: {choice}!",
        "And the answer is {label}: {choice}!",
    ),
    subjects={
        "history": "history",
        "science": "science",
        "geography": "geography",
        "math": "math",
        "language": "English",
        "general": "trivia",
    },
    subject_tags={"spelling": "spelling", "grammar": "grammar"},
    default_subject="trivia",
    max_hook_units=10,
    label=_label,
    spoken_choices=_spoken_choices,
    reveal_choice=_reveal_choice,
)
