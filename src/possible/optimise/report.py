"""Reports of a matching result: the JSON document and a readable summary.

The JSON document is :meth:`MatchingResult.to_dict` with sorted keys, two-space indentation and
a final newline. Everything but ``timings`` depends only on the pool and the policy, so two runs
of the same input give the same bytes once ``timings`` is left out (``timings=False``).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter

from possible.formats._source import write_text
from possible.optimise.result import MatchingResult, Status, UnmatchedReason

__all__ = ["result_json", "result_summary", "write_result_json"]

_REASONS = {
    UnmatchedReason.NO_PAIRED_DONOR: "no paired donor in the pool who may give",
    UnmatchedReason.NO_COMPATIBLE_DONOR: "no compatible donor",
    UnmatchedReason.NO_EXCHANGE_WITHIN_CAPS: "compatible donors, but no exchange within the caps",
    UnmatchedReason.OUTCOMPETED: "compatible only in exchanges that lost to better ones",
    UnmatchedReason.NOT_SETTLED: (
        "compatible in exchanges, but the run stopped before settling them"
    ),
    UnmatchedReason.NOT_ACTIVE: "not active (suspended, matched, transplanted or withdrawn)",
}


def result_json(result: MatchingResult, *, timings: bool = True) -> str:
    """Return the result as a JSON document (sorted keys, trailing newline).

    Parameters
    ----------
    result
        A matching result.
    timings
        Include the seconds per phase. Leave them out for byte-identical documents.
    """
    return json.dumps(result.to_dict(timings=timings), indent=2, sort_keys=True) + "\n"


def write_result_json(
    result: MatchingResult, path: str | os.PathLike[str], *, timings: bool = True
) -> None:
    """Write :func:`result_json` to `path`, whole or not at all."""
    write_text(path, result_json(result, timings=timings))


def result_summary(result: MatchingResult) -> str:
    """Return a summary of the result for a person to read.

    It names the status, each objective level with its bound, every exchange with its
    transplants, and counts the unmatched patients by reason.
    """
    lines: list[str] = []
    policy = result.policy
    max_chain = policy.get("max_chain", "?")
    lines.append(
        f"Matching run: {_STATUS[result.status]} "
        f"(max cycle {policy.get('max_cycle')}, "
        f"max chain {'unbounded' if max_chain is None else max_chain}, "
        f"objective {_objective_name(policy.get('objective'))})"
    )
    for i, level in enumerate(result.levels, start=1):
        gap = "" if math.isnan(level.gap) or level.gap < 1e-9 else f", gap {level.gap:.2%}"
        value, bound = _fmt(level.value), _fmt(level.bound)
        lines.append(f"  level {i}: {level.description}: {value} (bound {bound}{gap})")
    cycles = [e for e in result.exchanges if e.kind == "cycle"]
    chains = [e for e in result.exchanges if e.kind == "chain"]
    lines.append(
        f"{_count(result.transplants, 'transplant')} in {_count(len(cycles), 'cycle')} "
        f"and {_count(len(chains), 'chain')}"
    )
    by_length = Counter((e.kind, e.length) for e in result.exchanges)
    if by_length:
        parts = [
            f"{n} {kind}{'' if n == 1 else 's'} of {k}"
            for (kind, k), n in sorted(by_length.items())
        ]
        lines.append("  " + ", ".join(parts))
    lines.append("")
    for number, exchange in enumerate(result.exchanges, start=1):
        steps = "; ".join(
            f"{t.donor} -> {t.patient} ({_fmt(t.score)})" for t in exchange.transplants
        )
        tail = f"; {exchange.to_waiting_list} -> waiting list" if exchange.to_waiting_list else ""
        lines.append(f"{number:>4}. {exchange.kind} of {exchange.length}: {steps}{tail}")
    if result.ndds_to_waiting_list:
        lines.append("")
        lines.append(
            "Non-directed donors in no chain (to the waiting list): "
            + ", ".join(result.ndds_to_waiting_list)
        )
    if result.unmatched:
        lines.append("")
        lines.append(f"{_count(len(result.unmatched), 'patient')} unmatched:")
        reasons = Counter(u.reason for u in result.unmatched)
        for reason in UnmatchedReason:
            if reasons[reason]:
                lines.append(f"  {reasons[reason]:>5}  {_REASONS[reason]}")
    lines.append("")
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    lines.append(
        f"Solver {result.solver.get('name')} {result.solver.get('version')}; "
        f"input {result.input_digest[:16]}; {timing}"
    )
    return "\n".join(lines) + "\n"


_STATUS = {
    Status.OPTIMAL: "optimal",
    Status.FEASIBLE: "feasible, not proven optimal (time limit)",
    Status.INFEASIBLE: "infeasible",
    Status.TIME_LIMIT: "time limit reached before any solution",
}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _objective_name(objective: object) -> str:
    if isinstance(objective, list):
        return " > ".join(str(o) for o in objective)
    return str(objective)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value == int(value):
        return str(int(value))
    return f"{value:.5g}"
