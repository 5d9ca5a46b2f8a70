"""A review's scores as learner and assessor read them, one line a criterion."""

from __future__ import annotations

from bot.domain import Criterion, Score, rubric_from_data
from bot.storage import Review


def level_name(s: Score, criterion: Criterion | None) -> str:
    if s.passing is None:
        return "not judged"
    return next((lv.name for lv in criterion.levels if lv.key == s.level), s.level) if criterion else s.level


def score_line(s: Score, criterion: Criterion | None) -> str:
    """One criterion's result, as learner and assessor read it."""
    name = criterion.name if criterion else s.criterion
    if s.passing is None:
        return f"➖ {name} — not judged"
    default = "" if s.mentioned else " (not mentioned; counts as met for this credential)"
    return f"{'✅' if s.passing else '❌'} {name} — {level_name(s, criterion)}{default}" + (
        f": {s.comment}" if s.comment else ""
    )


def scores_lines(review: Review, cohort_rubric: list[dict], *, judged_only: bool = False) -> list[str]:
    rubric = {c.key: c for c in rubric_from_data(cohort_rubric)}
    scores = [
        s for s in map(Score.from_data, review.scores or []) if s.passing is not None or not judged_only
    ]
    return [score_line(s, rubric.get(s.criterion)) for s in scores]
