"""Compare the arc density of possible's clinical generator with kep_solver's UK generator.

*Arc density* of a patient: the number of distinct donors with an arc to the patient, leaving
out the patient's own donors, divided by the number of donors in the pool, again leaving out
the patient's own (non-directed donors count). It is averaged over the patients of each (cPRA
band, patient blood group) cell and of each cPRA band, pooling all instances of a generator.

* UK: every ``uk_*.json`` present in ``bench/instances/`` (the benchmark's instances, seeds 1
  and 2) and ``bench/instances/stats/`` (more seeds, for these statistics only), drawn by
  ``make_instances.py`` with ``uk_nhs_generator2022()`` (Delorme et al. 2022) and read with
  ``possible.read_pool``.
* possible: ``clinical_pool(n, seed=s)`` for the same sizes and seeds, arcs from
  ``build_arcs(pool)``.

Writes ``bench/results/generator_stats.json`` and ``docs/generator.md``. Nothing is downloaded.

Run with the repository's venv, from the repository::

    .venv/bin/python bench/generator_stats.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import platform
import re
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INSTANCES = HERE / "instances"
STATS_INSTANCES = INSTANCES / "stats"
"""More UK instances, for these statistics only (the benchmark reads ``INSTANCES`` alone)."""
RESULTS = HERE / "results"
OUT_JSON = RESULTS / "generator_stats.json"
OUT_DOC = ROOT / "docs" / "generator.md"
SIZES = (250, 500, 1000, 2000)
SEEDS = (1, 2, 3, 4, 5, 6)
"""Seeds 1 and 2 are the benchmark's instances; 3 to 6 are drawn for these statistics."""
UK_NAME = re.compile(r"^uk_(\d+)_(\d+)\.json$")

BANDS = ((0.0, 0.01), (0.01, 0.5), (0.5, 0.85), (0.85, 0.95), (0.95, 0.99), (0.99, 1.0))
"""cPRA bands, each [low, high) except the last, which is [0.99, 1.0]."""
GROUPS = ("O", "A", "B", "AB")
ABS_TOLERANCE = 0.05
"""Largest accepted |possible - UK| mean density, for cells whose UK density is >= 0.1."""
REL_TOLERANCE = 0.25
"""Largest accepted |possible - UK| / UK, for cells whose UK density is below 0.1."""
LOW_DENSITY = 0.1
MIN_PATIENTS = 30
"""A cell is judged only when both generators have at least this many patients in it."""


def band_label(band: tuple[float, float]) -> str:
    low, high = band
    return f"[{low:g}, {high:g}]" if high >= 1.0 else f"[{low:g}, {high:g})"


def band_of(cpra: float) -> int:
    for k, (low, high) in enumerate(BANDS):
        if low <= cpra < high:
            return k
    if cpra == BANDS[-1][1]:
        return len(BANDS) - 1
    raise ValueError(f"cPRA {cpra} outside [0, 1]")


def patient_densities(pool: Any) -> list[tuple[int, str, float]]:
    """(band index, blood group, arc density) for every patient of a pool with arcs."""
    n_p, n_d = len(pool.patients), len(pool.donors)
    owner = np.full(n_d, -1, dtype=np.int64)
    for i, donor in enumerate(pool.donors):
        if donor.patient is not None:
            owner[i] = pool.patient_index(donor.patient)
    own = np.bincount(owner[owner >= 0], minlength=n_p)
    donor = np.asarray(pool.arcs.donor, dtype=np.int64)
    patient = np.asarray(pool.arcs.patient, dtype=np.int64)
    keep = owner[donor] != patient
    pairs = np.unique(donor[keep] * n_p + patient[keep])
    incoming = np.bincount(pairs % n_p, minlength=n_p)
    others = n_d - own
    out = []
    for j, p in enumerate(pool.patients):
        if p.cpra is None or p.blood_group is None:
            raise ValueError(f"patient {p.id} has no cPRA or no blood group")
        density = float(incoming[j] / others[j]) if others[j] else 0.0
        out.append((band_of(float(p.cpra)), p.blood_group.value, density))
    return out


def hla_ceilings(pool: Any) -> list[tuple[int, str, float]]:
    """(band index, blood group, the largest density the patient's own cPRA allows) per patient.

    cPRA is the share of donors, drawn like the reference panel, that the patient's antibodies
    rule out. A cPRA recorded in whole percent as c is at least c - 0.005, so at most
    1 - c + 0.005 of such donors are HLA-compatible, and the patient's expected density is at
    most that share of the ABO-compatible donors among the others (own donors left out).
    """
    groups = Counter(d.blood_group for d in pool.donors)
    own: dict[str, Counter[Any]] = {}
    for donor in pool.donors:
        if donor.patient is not None:
            own.setdefault(donor.patient, Counter())[donor.blood_group] += 1
    out = []
    for p in pool.patients:
        mine = own.get(p.id, Counter())
        others = len(pool.donors) - mine.total()
        abo = sum(n - mine[g] for g, n in groups.items() if g.can_give_to(p.blood_group))
        hla = min(1.0, 1.0 - float(p.cpra) + 0.005)
        density = hla * abo / others if others else 0.0
        out.append((band_of(float(p.cpra)), p.blood_group.value, density))
    return out


def summarise(rows: Iterable[tuple[int, str, float]]) -> dict[str, Any]:
    """Mean density and patient count per (band, group) cell, per band, and band shares."""
    cells: dict[tuple[int, str], list[float]] = {}
    for band, group, density in rows:
        cells.setdefault((band, group), []).append(density)
    total = sum(len(v) for v in cells.values())

    def stats(values: Sequence[float]) -> dict[str, Any]:
        if not values:
            return {"patients": 0, "mean": None, "sd": None}
        a = np.asarray(values)
        return {"patients": len(values), "mean": float(a.mean()), "sd": float(a.std())}

    by_cell = []
    by_band = []
    for k, band in enumerate(BANDS):
        for g in GROUPS:
            by_cell.append({"band": band_label(band), "group": g, **stats(cells.get((k, g), []))})
        values = [d for g in GROUPS for d in cells.get((k, g), [])]
        by_band.append(
            {
                "band": band_label(band),
                **stats(values),
                "share": len(values) / total if total else None,
            }
        )
    return {"patients": total, "cells": by_cell, "bands": by_band}


def verdict(uk: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Difference and verdict for one cell (or band): ``ok``, ``FAIL`` or too few to judge."""
    out: dict[str, Any] = {
        "difference": None,
        "relative": None,
        "z": None,
        "verdict": "no patients",
    }
    if uk["mean"] is None or ours["mean"] is None:
        if uk["patients"] or ours["patients"]:
            out["verdict"] = "too few to judge"
        return out
    diff = ours["mean"] - uk["mean"]
    out["difference"] = diff
    se = (uk["sd"] ** 2 / uk["patients"] + ours["sd"] ** 2 / ours["patients"]) ** 0.5
    out["z"] = diff / se if se > 0 else None
    out["relative"] = diff / uk["mean"] if uk["mean"] > 0 else None
    if min(uk["patients"], ours["patients"]) < MIN_PATIENTS:
        out["verdict"] = "too few to judge"
    elif uk["mean"] < LOW_DENSITY:
        rel = abs(diff) / uk["mean"] if uk["mean"] > 0 else (0.0 if diff == 0 else float("inf"))
        out["verdict"] = "ok" if rel <= REL_TOLERANCE else "FAIL"
        out["rule"] = f"relative <= {REL_TOLERANCE:.0%}"
        out["lenient_ok"] = abs(diff) <= ABS_TOLERANCE or rel <= REL_TOLERANCE
    else:
        out["verdict"] = "ok" if abs(diff) <= ABS_TOLERANCE else "FAIL"
        out["rule"] = f"absolute <= {ABS_TOLERANCE}"
    return out


def compare(uk: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    cells = []
    for a, b in zip(uk["cells"], ours["cells"], strict=True):
        cells.append(
            {"band": a["band"], "group": a["group"], "uk": a, "possible": b, **verdict(a, b)}
        )
    bands = []
    for a, b in zip(uk["bands"], ours["bands"], strict=True):
        bands.append({"band": a["band"], "uk": a, "possible": b, **verdict(a, b)})
    return {"cells": cells, "bands": bands}


TOP_EDGES = (0.95, 0.98, 0.99, 0.995, 1.0)


def top_cpra(pool: Any) -> dict[str, int]:
    """How many patients have cPRA in [0.95, 0.98), [0.98, 0.99), [0.99, 0.995), [0.995, 1), 1."""
    cpra = np.array([float(p.cpra) for p in pool.patients])
    out = {}
    for low, high in itertools.pairwise(TOP_EDGES):
        out[f"[{low:g}, {high:g})"] = int(((cpra >= low) & (cpra < high)).sum())
    out["1"] = int((cpra >= 1.0).sum())
    return out


def add_counts(total: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def uk_instances(directories: Iterable[Path]) -> list[Path]:
    found = [p for d in directories for p in d.glob("uk_*.json") if UK_NAME.match(p.name)]
    return sorted(found, key=lambda p: tuple(int(x) for x in UK_NAME.match(p.name).groups()))  # type: ignore[union-attr]


def kep_solver_version() -> str:
    """kep_solver's version in the benchmark venv (it is not importable from the repo venv)."""
    for info in sorted((HERE / ".venv").glob("lib/python*/site-packages/kep_solver-*.dist-info")):
        return info.name.removeprefix("kep_solver-").removesuffix(".dist-info")
    return "unknown (bench/.venv not found)"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("possible", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["kep_solver (drew the UK instances)"] = kep_solver_version()
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _signed(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def _z(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}"


def _verdict_cell(row: dict[str, Any]) -> str:
    v = row["verdict"]
    if v == "FAIL":
        return "**FAIL**"
    return v


ABOUT = """\
# possible's clinical pool generator

`possible.generate.clinical.clinical_pool(n_patients, *, ndd_share=0.05, seed=S)` draws a pool
the way a registry would hold it: people with blood groups, HLA typings and antibodies, and no
arcs. `possible.compatibility.build_arcs(pool)` then derives the arcs from those records, so a
generated pool exercises the whole clinical pipeline (typing, virtual crossmatch, arcs, scores,
solve) rather than starting from a ready-made graph.

## What it draws

The parameters follow the UK Living Kidney Sharing Scheme as published by Delorme et al.,
*Improved instance generation for kidney exchange programmes* (Computers & Operations Research
144, 2022), the paper whose generator kep_solver ships as `uk_nhs_generator2022()`. For `n`
patients:

1. **Blood groups and donors.** Each patient gets a blood group and one to four paired donors
   (91 % bring one), whose blood groups depend on the patient's, all with the paper's
   frequencies. `round(ndd_share * n)` non-directed donors get the paper's blood groups for
   non-directed donors.
2. **A target cPRA**, from the paper's cPRA distribution, which is different for patients with
   at least one ABO-compatible donor and for patients whose donors are all ABO-incompatible.
3. **HLA typings.** Everyone gets two haplotypes drawn from the HLA frequencies shipped with
   `possible`; about half are written as serological antigens (`A2`) and half as two-field
   alleles (`A*02:01`), as laboratories send them. Someone whose two C alleles both belong to
   groups without serology (the frequencies' `other`) is typed with such an allele (`C*17:01`,
   ...), as a lab would report it, so the crossmatch knows the C locus was typed.
4. **Unacceptable antigens**, added one at a time (common antigens more often, never one the
   patient carries) until the patient's cPRA against the shipped reference panel reaches the
   target band. The patient's recorded cPRA is the one actually reached, not the target.
5. **Declined donors.** HLA alone makes more donors compatible than the UK sees, since real
   programmes also lose pairs to positive physical crossmatches and clinical declines. The
   paper gives the chance that a patient suits an ABO-compatible donor as a function of cPRA;
   each patient's centre declines each otherwise compatible donor with the probability that
   brings the patient's share of compatible donors down to that chance. The declines are kept
   in the patient's `declined_donors`, which `build_arcs` honours like any other record. They
   can only remove arcs: a patient whose HLA already leaves fewer compatible donors than the
   chance keeps them all.
6. **Everything else** (ages, listing and dialysis dates, previous transplants, A2 subgroups,
   anti-A titres, centres, consent dates) comes from simple distributions documented by the
   constants in `src/possible/generate/clinical.py`.

The same seed gives the same pool. kep_solver's generator, by contrast, has no HLA: for every
blood-group-compatible donor and patient (other than the patient's own donors) it draws the arc
with the patient's compatibility chance.

## Does it reproduce the UK generator's arc density?

The *arc density* of a patient is the number of distinct donors with an arc to that patient,
divided by the number of donors in the pool; both leave out the patient's own donors, and
non-directed donors count. It is averaged over the patients of each cPRA band and patient blood
group, pooling all instances of a generator.
"""

WIDTH = 96


def para(text: str) -> list[str]:
    return [*textwrap.wrap(text, WIDTH, break_on_hyphens=False), ""]


def bullet(text: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
    )


def render_doc(doc: dict[str, Any]) -> str:
    comp = doc["comparison"]
    inputs = doc["inputs"]
    fails = [c for c in comp["cells"] if c["verdict"] == "FAIL"]
    judged = [c for c in comp["cells"] if c["verdict"] in ("ok", "FAIL")]
    unjudged = len(comp["cells"]) - len(judged)
    band_fails = [b for b in comp["bands"] if b["verdict"] == "FAIL"]
    lenient = [c for c in fails if c.get("lenient_ok")]
    uk_files = ", ".join(f"`{Path(i['file']).name}`" for i in inputs["uk"])
    sizes = ", ".join(str(n) for n in sorted({i["patients"] for i in inputs["possible"]}))
    seeds = ", ".join(str(s) for s in sorted({i["seed"] for i in inputs["possible"]}))
    kep = doc["versions"].get("kep_solver (drew the UK instances)")

    lines = [*ABOUT.splitlines(), ""]
    lines += bullet(
        f"**UK generator**: {len(inputs['uk'])} instances drawn by kep_solver's"
        f" `uk_nhs_generator2022()` (kep_solver {kep}) with `bench/make_instances.py`"
        f" ({uk_files} in `bench/instances/` and `bench/instances/stats/`),"
        f" {doc['uk']['patients']} patients in all."
    )
    lines += bullet(
        f"**possible**: `clinical_pool(n, seed=s)` for n in {sizes} and seeds {seeds}, arcs from"
        f" `build_arcs(pool)` with its defaults, {doc['possible']['patients']} patients in all."
    )
    lines.append("")
    lines += para(
        f"**Tolerance.** A cell passes when |possible - UK| <= {ABS_TOLERANCE} (absolute"
        f" density). For a cell whose UK density is below {LOW_DENSITY}, where {ABS_TOLERANCE}"
        f" would be half the value or more, it must instead be within {REL_TOLERANCE:.0%} of"
        f" the UK density. Cells with fewer than {MIN_PATIENTS} patients on either side are not"
        ' judged ("too few to judge"). Bands pooled over blood groups are judged the same way.'
    )
    lines += ["### Verdict", ""]
    if not judged:
        lines += para("No cell has enough patients on both sides to be judged.")
    elif not fails:
        lines += para(
            f"All {len(judged)} judged cells are within the tolerance ({unjudged} have too few"
            " patients to judge)."
        )
    else:
        lines += para(
            f"**{len(fails)} of {len(judged)} judged cells fail** the tolerance ({unjudged} have"
            " too few patients to judge):"
        )
        for c in fails:
            rel = f", {c['relative']:+.0%}" if c["relative"] is not None else ""
            lines += bullet(
                f"cPRA {c['band']}, group {c['group']}: UK {_num(c['uk']['mean'])}, possible"
                f" {_num(c['possible']['mean'])} ({_signed(c['difference'])}{rel})"
            )
        lines.append("")
        noisy = [c for c in fails if c["z"] is not None and abs(c["z"]) < 2]
        if noisy:
            lines += para(
                "Of these, "
                + ", ".join(f"cPRA {c['band']} group {c['group']}" for c in noisy)
                + (" differs" if len(noisy) == 1 else " differ")
                + " by less than two standard errors (column *z*: the difference over its"
                " standard error, treating patients as independent), so sampling noise may"
                " explain it; the other failures are systematic."
            )
        if lenient:
            lines += para(
                f"{len(lenient)} of the failing low-density cells would pass if the absolute"
                f" {ABS_TOLERANCE} were accepted for them as well; that reading is not used."
            )
    systematic_ok = [c for c in comp["cells"] if c["verdict"] == "ok" and abs(c["z"] or 0) >= 3]
    if systematic_ok:
        lines += para(
            "Within the tolerance but clearly not noise (|z| >= 3): "
            + ", ".join(
                f"cPRA {c['band']} group {c['group']} ({_signed(c['difference'])}, z {_z(c['z'])})"
                for c in systematic_ok
            )
            + "."
        )
    if band_fails:
        lines += para(
            "Pooled over blood groups, these bands fail: "
            + ", ".join(f"cPRA {b['band']} ({_signed(b['difference'])})" for b in band_fails)
            + f". Mean density over all patients: UK {_num(doc['uk']['overall_mean'])},"
            f" possible {_num(doc['possible']['overall_mean'])}."
        )
    elif any(b["verdict"] == "ok" for b in comp["bands"]):
        lines += para("Every judged band passes when all blood groups are pooled.")

    top_failing = [c for c in fails if c["band"] in {band_label(b) for b in BANDS[-2:]}]
    if top_failing:
        uk_top, ours_top = doc["uk"]["top_cpra"], doc["possible"]["top_cpra"]
        high = doc["possible"]["high_cpra_hla_limited"]
        lines += para(
            "**Where the high-cPRA failures seem to come from** (observations from this run):"
        )
        lines += bullet(
            "*The cPRA mix at the top.* Patients with cPRA in [0.95, 0.98), [0.98, 0.99),"
            " [0.99, 0.995), [0.995, 1) and exactly 1: UK "
            + ", ".join(str(v) for v in uk_top.values())
            + "; possible "
            + ", ".join(str(v) for v in ours_top.values())
            + ". Both generators record cPRA in whole percent (possible rounds the value its"
            " antibodies reach against the reference panel), so the band shares can be compared"
            " directly; any difference here is a difference in the mix, not in rounding."
        )
        lines += bullet(
            "*HLA already leaves fewer compatible donors than the published chance.* Of"
            f" possible's {high['patients']} patients with cPRA >= {BANDS[-2][0]:g},"
            f" {high['no_declined_donors']} have no declined donors: their share of compatible"
            " donors was at or below the published chance before any decline, and the generator"
            " only removes arcs. The published chances (5.8 % down to 1.2 % at cPRA 1.0) are"
            " more than a virtual crossmatch lets through at these cPRAs, so these cells come"
            " out below the UK's."
        )
        lines.append("")
        lines += para(
            "**The most a consistent crossmatch allows.** A cPRA recorded as c (whole percent)"
            " means the patient's antibodies rule out at least c - 0.005 of donors drawn like"
            " the reference panel, so at most 1 - c + 0.005 of them are HLA-compatible. Times"
            " the share of ABO-compatible donors among the others, that is the largest"
            " density any generator can reach in which arcs follow from a virtual crossmatch"
            " and donors are drawn like the panel, as possible's are (column *ceiling*,"
            " averaged over each cell's patients, from each generator's own pools):"
        )
        ceilings = {
            (c["band"], c["group"]): (u["mean"], o["mean"])
            for c, u, o in zip(
                comp["cells"],
                doc["uk"]["hla_ceiling"],
                doc["possible"]["hla_ceiling"],
                strict=True,
            )
        }
        lines += [
            "| cPRA band | group | UK density | ceiling, UK pools | possible density"
            " | ceiling, possible pools |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        above = 0
        for c in top_failing:
            uk_ceiling, our_ceiling = ceilings[(c["band"], c["group"])]
            above += c["uk"]["mean"] > uk_ceiling
            lines.append(
                f"| {c['band']} | {c['group']} | {_num(c['uk']['mean'])} | {_num(uk_ceiling)}"
                f" | {_num(c['possible']['mean'])} | {_num(our_ceiling)} |"
            )
        lines.append("")
        lines += para(
            f"In {above} of these {len(top_failing)} cells the UK generator's density is above"
            " the ceiling its own patients' cPRAs allow: its arcs are drawn from the published"
            " compatibility chances, independently of cPRA, and at the top those chances exceed"
            " the share of donors that cPRA leaves compatible. A generator whose arcs come from"
            " a virtual crossmatch consistent with the recorded cPRA cannot reach them there"
            " without changing the cPRA mix or the rule that the pool's donors are drawn like"
            " the reference panel."
            if above
            else "Every one of these cells is within the ceiling, so a consistent crossmatch"
            " could reach the UK density there; the gap is possible's."
        )
    lines += [
        "### By cPRA band and patient blood group",
        "",
        "| cPRA band | group | UK density | possible density | difference | z | UK patients "
        "| possible patients | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in comp["cells"]:
        lines.append(
            f"| {c['band']} | {c['group']} | {_num(c['uk']['mean'])} "
            f"| {_num(c['possible']['mean'])} | {_signed(c['difference'])} | {_z(c['z'])} "
            f"| {c['uk']['patients']} | {c['possible']['patients']} | {_verdict_cell(c)} |"
        )
    lines += [
        "",
        "*z* is the difference divided by its standard error, treating patients as independent"
        " (they",
        "are not quite: patients of one pool share donors). It is shown, not judged.",
        "",
        "### By cPRA band, all blood groups",
        "",
        "| cPRA band | UK density | possible density | difference | UK patients "
        "| possible patients | UK share | possible share | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for b in comp["bands"]:
        lines.append(
            f"| {b['band']} | {_num(b['uk']['mean'])} | {_num(b['possible']['mean'])} "
            f"| {_signed(b['difference'])} | {b['uk']['patients']} | {b['possible']['patients']} "
            f"| {_pct(b['uk']['share'])} | {_pct(b['possible']['share'])} | {_verdict_cell(b)} |"
        )
    overall_uk = doc["uk"]["overall_mean"]
    overall_ours = doc["possible"]["overall_mean"]
    lines += [
        "",
        f"Mean density over all patients: UK {_num(overall_uk)}, possible {_num(overall_ours)}.",
        "The band shares are not judged against a tolerance; they are shown so that a difference",
        "in the pooled band densities can be told apart from a difference in the band mix.",
        "",
        "### Instances",
        "",
        "| generator | instance | patients | donors | arcs | mean density |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for i in inputs["uk"]:
        lines.append(
            f"| UK | `{i['file']}` | {i['patients']} | {i['donors']} | {i['arcs']} "
            f"| {_num(i['mean_density'])} |"
        )
    for i in inputs["possible"]:
        lines.append(
            f"| possible | `clinical_pool({i['patients']}, seed={i['seed']})` | {i['patients']} "
            f"| {i['donors']} | {i['arcs']} | {_num(i['mean_density'])} |"
        )
    lines += [
        "",
        "## Reproducing",
        "",
        "```sh",
        "bench/.venv/bin/python bench/make_instances.py   # the UK instances, once (kep_solver)",
        "bench/.venv/bin/python bench/make_instances.py --seeds 3 4 5 6 \\",
        "    --out bench/instances/stats                    # more seeds, for this page only",
        ".venv/bin/python bench/generator_stats.py        # this page and the JSON",
        "```",
        "",
        "`bench/generator_stats.py` rewrites this page and `bench/results/generator_stats.json`",
        "(both tables with standard deviations, the inputs with their SHA-256 prefixes, versions",
        f"and date). This page was generated on {doc['date']} with possible"
        f" {doc['versions'].get('possible')}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--instances",
        type=Path,
        nargs="+",
        default=[INSTANCES, STATS_INSTANCES],
        help="directories of uk_*.json; default: %(default)s",
    )
    parser.add_argument("--json", type=Path, default=OUT_JSON, help="default: %(default)s")
    parser.add_argument("--doc", type=Path, default=OUT_DOC, help="default: %(default)s")
    args = parser.parse_args(argv)

    import possible
    from possible.compatibility import build_arcs
    from possible.generate.clinical import clinical_pool

    paths = uk_instances(args.instances)
    if not paths:
        sys.exit(f"no uk_*.json in {args.instances}: run bench/make_instances.py first")
    # possible is drawn at the UK instances' own sizes and seeds, so the two sides match.

    uk_rows: list[tuple[int, str, float]] = []
    uk_ceilings: list[tuple[int, str, float]] = []
    ours_ceilings: list[tuple[int, str, float]] = []
    uk_inputs = []
    uk_top: dict[str, int] = {}
    pairs = []
    for path in paths:
        t0 = time.perf_counter()
        pool = possible.read_pool(path)
        rows = patient_densities(pool)
        uk_rows += rows
        uk_ceilings += hla_ceilings(pool)
        add_counts(uk_top, top_cpra(pool))
        n, seed = (int(x) for x in UK_NAME.match(path.name).groups())  # type: ignore[union-attr]
        pairs.append((n, seed))
        uk_inputs.append(
            {
                "file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
                "sha256": digest(path),
                "patients": len(pool.patients),
                "donors": len(pool.donors),
                "arcs": len(pool.arcs),
                "mean_density": float(np.mean([d for _, _, d in rows])),
            }
        )
        print(f"UK {path.name}: {len(pool.arcs)} arcs, {time.perf_counter() - t0:.1f} s")

    ours_rows: list[tuple[int, str, float]] = []
    ours_inputs = []
    ours_top: dict[str, int] = {}
    high = {"patients": 0, "no_declined_donors": 0}
    for n, seed in sorted(pairs):
        t0 = time.perf_counter()
        pool = build_arcs(clinical_pool(n, seed=seed)).pool
        rows = patient_densities(pool)
        ours_rows += rows
        ours_ceilings += hla_ceilings(pool)
        add_counts(ours_top, top_cpra(pool))
        for p in pool.patients:
            if float(p.cpra) >= BANDS[-2][0]:
                high["patients"] += 1
                high["no_declined_donors"] += not p.declined_donors
        ours_inputs.append(
            {
                "call": f"clinical_pool({n}, seed={seed})",
                "seed": seed,
                "patients": len(pool.patients),
                "donors": len(pool.donors),
                "arcs": len(pool.arcs),
                "mean_density": float(np.mean([d for _, _, d in rows])),
            }
        )
        print(
            f"possible n={n} seed={seed}: {len(pool.arcs)} arcs, {time.perf_counter() - t0:.1f} s"
        )

    uk = summarise(uk_rows)
    uk["overall_mean"] = float(np.mean([d for _, _, d in uk_rows]))
    ours = summarise(ours_rows)
    ours["overall_mean"] = float(np.mean([d for _, _, d in ours_rows]))
    uk["top_cpra"] = uk_top
    ours["top_cpra"] = ours_top
    ours["high_cpra_hla_limited"] = high
    uk["hla_ceiling"] = summarise(uk_ceilings)["cells"]
    ours["hla_ceiling"] = summarise(ours_ceilings)["cells"]
    doc = {
        "what": "mean arc density per (cPRA band, patient blood group): UK generator vs possible",
        "definition": (
            "density of a patient = distinct donors with an arc to the patient, excluding the "
            "patient's own donors / donors in the pool excluding the patient's own donors"
        ),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "tolerance": {
            "absolute": ABS_TOLERANCE,
            "relative_below": {"uk_density": LOW_DENSITY, "relative": REL_TOLERANCE},
            "min_patients_each_side": MIN_PATIENTS,
        },
        "bands": [band_label(b) for b in BANDS],
        "inputs": {"uk": uk_inputs, "possible": ours_inputs},
        "uk": uk,
        "possible": ours,
        "comparison": compare(uk, ours),
    }
    if sorted(pairs) != sorted((n, s) for n in SIZES for s in SEEDS):
        doc["note"] = f"UK instances present: {sorted(pairs)}; possible drawn at the same"

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(render_doc(doc))
    fails = [c for c in doc["comparison"]["cells"] if c["verdict"] == "FAIL"]
    judged = [c for c in doc["comparison"]["cells"] if c["verdict"] in ("ok", "FAIL")]
    print(f"{len(judged) - len(fails)} of {len(judged)} judged cells within tolerance")
    for c in fails:
        print(
            f"  FAIL cPRA {c['band']} {c['group']}: UK {c['uk']['mean']:.3f} "
            f"possible {c['possible']['mean']:.3f}"
        )
    print(f"wrote {args.json} and {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
