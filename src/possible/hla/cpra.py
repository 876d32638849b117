"""Sensitisation: the calculated panel-reactive antibodies (cPRA; the UK's cRF).

A patient's cPRA is the share of a reference panel of donors that the patient's unacceptable
antigens would rule out: 0 for an unsensitised patient, 1 for one no donor in the panel suits.
Programmes compute it against their own donor population; :meth:`Panel.shipped` builds a panel
of 10,000 donors from published HLA haplotype and antigen frequencies
(``data/frequencies.json``, sources named there and in ``docs/hla-data.md``), and
:meth:`Panel.read` loads a programme's own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from possible.domain import ABO_COMPATIBLE, BLOOD_GROUP_ORDER, BloodGroup
from possible.errors import (
    FormatError,
    InputError,
    PolicyError,
    ValidationError,
    ValidationErrors,
)
from possible.hla.nomenclature import Nomenclature, nomenclature
from possible.hla.typing import (
    carries_unacceptable,
    crossmatch_typing,
    read_names,
    serology_blank_hits,
)

__all__ = ["Panel", "cpra"]

PANEL_SIZE = 10_000
"""Donors in the shipped panel (the size of the UK's cRF reference panel)."""
PANEL_SEED = 20_221_028
"""Seed of the shipped panel, so that every installation computes the same cPRA."""
PANEL_BLOOD_GROUPS = {"O": 0.493, "A": 0.399, "B": 0.0939, "AB": 0.0141}
"""Blood groups of the shipped panel: UK non-directed donors (Delorme et al. 2022)."""


@dataclass(frozen=True, slots=True)
class Panel:
    """A reference panel of donors: HLA typings and, optionally, blood groups.

    Attributes
    ----------
    typings
        One tuple of tokens per panel donor.
    blood_groups
        One blood group per panel donor, or ``None``.
    source
        Where the panel comes from, for reports.
    """

    typings: tuple[tuple[str, ...], ...]
    blood_groups: tuple[BloodGroup, ...] | None
    source: str

    def __len__(self) -> int:
        return len(self.typings)

    def digest(self) -> str:
        """Return a short fingerprint of the panel's donors, recorded with a run beside its source.

        Examples
        --------
        >>> Panel((("A1", "B8"),), None, "a").digest() == Panel((("A1", "B8"),), None, "b").digest()
        True
        """
        groups = None if self.blood_groups is None else [g.value for g in self.blood_groups]
        text = json.dumps([self.typings, groups])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def shipped(cls) -> Panel:
        """Return the panel built from the shipped frequencies (same on every machine)."""
        return _shipped_panel()

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Panel:
        """Read a panel file (the JSON document of :meth:`from_document`).

        Raises
        ------
        FormatError
            If the file cannot be read or is not such a document.
        ValidationErrors
            Every bad panel donor at once (see :meth:`from_document`).
        """
        where = str(path)
        try:
            doc = json.loads(Path(path).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FormatError(f"cannot read panel: {err}", source=where) from None
        return cls.from_document(doc, where=where)

    @classmethod
    def from_document(cls, doc: object, *, where: str = "panel") -> Panel:
        """Build a panel from its JSON document.

        The document is ``{"source": ..., "donors": [{"hla": [...], "blood_group": "O"},
        ...]}``; ``blood_group`` is optional, but then needed for every donor. Without a
        ``source``, `where` names the panel.

        Raises
        ------
        FormatError
            If `doc` is not such a document.
        ValidationErrors
            Every bad panel donor at once, each naming the donor and field: an unknown HLA
            name, a typing with three antigens at a locus, a bad blood group, a donor that is
            not an object with a list ``hla``.
        """
        donors = doc.get("donors") if isinstance(doc, dict) else None
        if not isinstance(donors, list) or not donors:
            raise FormatError("a panel needs a non-empty list 'donors'", source=where)
        typings: list[tuple[str, ...]] = []
        groups: list[BloodGroup] = []
        errors: list[InputError] = []  # every bad panel donor is reported at once
        for k, raw in enumerate(donors):
            record = f"donors[{k}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("hla"), list):
                errors.append(
                    FormatError("expected an object with a list 'hla'", source=where, record=record)
                )
                continue
            try:
                specs = read_names(raw["hla"], record=record, field="hla", typing=True)
                typings.append(tuple(s.token for s in specs))
            except ValidationErrors as err:
                errors.extend(err.errors)
            if "blood_group" in raw:
                try:
                    groups.append(BloodGroup.parse(raw["blood_group"]))
                except ValueError as err:
                    errors.append(ValidationError(str(err), record=record, field="blood_group"))
        if errors:
            raise ValidationErrors(errors, source=where)
        if groups and len(groups) != len(typings):
            raise FormatError("blood_group is given for some panel donors only", source=where)
        assert isinstance(doc, dict)
        source = str(doc.get("source") or where)
        return cls(tuple(typings), tuple(groups) if groups else None, source)


def cpra(
    unacceptable: Sequence[Iterable[str]],
    panel: Panel | None = None,
    *,
    blood_groups: Sequence[BloodGroup | None] | None = None,
    table: Nomenclature | None = None,
) -> NDArray[np.float64]:
    """Compute the cPRA of each patient: the share of the panel their antibodies rule out.

    Parameters
    ----------
    unacceptable
        One list of unacceptable tokens (see :mod:`possible.hla.nomenclature`) per patient.
    panel
        The reference panel; the shipped one by default.
    blood_groups
        If given, one blood group per patient: a panel donor who is ABO-incompatible with the
        patient is ruled out too (the ABO-inclusive variant of cPRA).
    table
        The nomenclature; the shipped one by default.

    Returns
    -------
    numpy.ndarray
        One value in [0, 1] per patient.

    Examples
    --------
    >>> float(cpra([[]])[0])
    0.0
    """
    panel = panel or Panel.shipped()
    table = table or nomenclature()
    if blood_groups is not None and panel.blood_groups is None:
        raise PolicyError(
            f"a cPRA with blood group needs a panel with blood groups; {panel.source} has none"
        )
    lists = [list(tokens) for tokens in unacceptable]
    # Panel donors as the crossmatch sees donors: typed at DRB1, they carry its DR51/52/53.
    typings = _crossmatch_typings(panel, table)
    _warn_untyped_loci(lists, typings, panel.source, table)
    ruled_out = carries_unacceptable(typings, lists, table)
    # As the crossmatch: a panel donor typed by serology with one antigen may hide a group
    # without serology that the patient has antibodies to.
    ruled_out |= serology_blank_hits(typings, lists, table)
    if blood_groups is not None:
        assert panel.blood_groups is not None
        donors = np.array([_GROUP_CODE[g] for g in panel.blood_groups], dtype=np.int8)
        for p, group in enumerate(blood_groups):
            if group is not None:
                ruled_out[p] |= ~ABO_COMPATIBLE[donors, _GROUP_CODE[group]]
    out: NDArray[np.float64] = ruled_out.mean(axis=1) if len(panel) else np.zeros(len(lists))
    return out


_log = logging.getLogger(__name__)

_GROUP_CODE = {group: code for code, group in enumerate(BLOOD_GROUP_ORDER)}


@lru_cache(maxsize=2)  # the shipped panel and a programme's own
def _crossmatch_typings(panel: Panel, table: Nomenclature) -> list[tuple[str, ...]]:
    return [crossmatch_typing(t, table) for t in panel.typings]


def _warn_untyped_loci(
    unacceptable: Sequence[Iterable[str]],
    typings: Sequence[Sequence[str]],
    source: str,
    table: Nomenclature,
) -> None:
    """Log (counts only, never who) antibodies at loci the panel is not typed at.

    They cannot rule out any panel donor, so the computed cPRA leaves them out: the shipped
    panel, drawn from A, B, C, DR and DQ frequencies, has no DQA1 or DPB1.
    """
    typed = {table.locus(t) for typing in typings for t in typing}
    missing: dict[str, int] = {}
    for tokens in unacceptable:
        for locus in {table.locus(t) for t in tokens} - typed:
            missing[locus] = missing.get(locus, 0) + 1
    if missing:
        counts = ", ".join(f"HLA-{locus} for {n}" for locus, n in sorted(missing.items()))
        _log.warning(
            "the cPRA panel (%s) is not typed at every locus of the patients' unacceptable "
            "antigens (%s patient(s)); those antibodies do not count towards a computed cPRA: "
            "record the lab's cRF, or use a panel typed there",
            source.split(":", 1)[0],
            counts,
        )


@cache
def _shipped_panel() -> Panel:
    text = resources.files("possible.hla").joinpath("data", "frequencies.json").read_text("utf-8")
    freq = json.loads(text)
    rng = np.random.default_rng(PANEL_SEED)
    haplotypes = sample_haplotypes(freq, 2 * PANEL_SIZE, rng)
    typings = tuple(
        tuple(dict.fromkeys(haplotypes[2 * i] + haplotypes[2 * i + 1])) for i in range(PANEL_SIZE)
    )
    names = list(PANEL_BLOOD_GROUPS)
    weights = np.array([PANEL_BLOOD_GROUPS[g] for g in names])
    draws = rng.choice(len(names), size=PANEL_SIZE, p=weights / weights.sum())
    groups = tuple(BloodGroup(names[k]) for k in draws)
    return Panel(
        typings,
        groups,
        f"shipped panel {freq.get('version', '')} (possible/hla/data/frequencies.json)",
    )


def sample_haplotypes(
    freq: dict[str, object], n: int, rng: np.random.Generator
) -> list[tuple[str, ...]]:
    """Draw `n` haplotypes (tuples of serological antigens) from a frequencies document.

    A listed haplotype is drawn with its frequency; the remaining mass is drawn locus by
    locus from the per-locus antigen frequencies (as if the loci were independent), and the
    DR51/52/53 antigen follows the DR antigen.
    """
    listed = freq["haplotypes"]
    loci = freq["loci"]
    drb345 = freq.get("drb345", {})
    assert isinstance(listed, list)
    assert isinstance(loci, dict)
    assert isinstance(drb345, dict)
    keys = [k for k in ("A", "C", "B", "DR", "DQ") if k in loci]
    listed_p = np.array([float(h["frequency"]) for h in listed])
    total = float(listed_p.sum())
    pick = rng.random(n)
    which = rng.choice(len(listed), size=n, p=listed_p / total) if listed else np.zeros(n, int)
    per_locus = {}
    for key in keys:
        names = list(loci[key])
        weights = np.array([float(loci[key][a]) for a in names])
        per_locus[key] = [
            names[k] for k in rng.choice(len(names), size=n, p=weights / weights.sum())
        ]
    out: list[tuple[str, ...]] = []
    for i in range(n):
        if pick[i] < total:
            row = listed[int(which[i])]
            antigens = [str(row[k]) for k in keys if row.get(k)]
        else:
            antigens = [per_locus[k][i] for k in keys]
        dr = next((a for a in antigens if a.startswith("DR")), None)
        extra = drb345.get(dr) if dr is not None else None
        if extra:
            antigens.append(str(extra))
        out.append(tuple(a for a in antigens if a and a != "other"))
    return out
