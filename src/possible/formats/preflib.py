"""PrefLib's kidney matching data (MD-00001 and the like): ``.wmd`` graphs and ``.dat`` tables.

A ``.wmd`` file is a weighted directed graph whose vertices are pairs (a patient with a donor)
and altruists (non-directed donors). The current layout declares vertices in its header and
numbers them from 1::

    # NUMBER ALTERNATIVES: 3
    # ALTERNATIVE NAME 1: Pair 1
    # ALTERNATIVE NAME 2: Pair 2
    # ALTERNATIVE NAME 3: Altruist 3
    1,2,1.0
    3,1,1.0

The older layout starts with ``vertices,edges``, lists one ``number,name`` line per vertex,
then the edges, which number the vertices *from 0* in the order they were listed::

    3,2
    1,Pair 1
    2,Pair 2
    3,Altruist 3
    0,1,1.0
    2,0,1.0

An edge ``i,j,w`` is an arc from the donor of vertex ``i`` to the patient of pair ``j`` with
score ``w``. Vertex ``i`` becomes patient ``p<i>`` and donor ``d<i>`` (an altruist only the
donor). Edges *into* an altruist (weight 0 in the published data) only say that a chain may end
there; possible lets every chain end anywhere, so they are dropped.

The ``.dat`` file beside a ``.wmd`` one (same name) gives each vertex's blood groups and PRA::

    Pair,Patient,Donor,Wife-P?,%Pra,Out-Deg,Altruist
    1,A,B,0,0.05,2,0

It is read when present; ``%Pra`` (a fraction, the generator's probability of a positive
crossmatch) becomes the patient's cPRA. ``Wife-P?`` and ``Out-Deg`` are not used.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from possible.domain import BloodGroup, Donor, Patient, Pool
from possible.errors import FormatError, ValidationError
from possible.formats._fields import build_pool, parse_blood_group
from possible.formats._source import PathOrText, document, logical_name, read_text, sourced

__all__ = ["read_preflib"]

_ALTERNATIVE = re.compile(r"#\s*ALTERNATIVE NAME\s+([0-9]+)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_COUNT = re.compile(r"#\s*NUMBER ALTERNATIVES\s*:\s*([0-9]+)\s*$", re.IGNORECASE)
MAX_VERTICES = 10_000_000
"""Largest vertex number or count read (a pool is thousands; a bigger one is a broken file)."""
_OLD_HEADER = re.compile(r"\s*(\d+)\s*,\s*(\d+)\s*")
# "Alturist" is how some published files spell it.
_ALTRUIST_WORDS = ("altruist", "alturist", "ndd", "non-directed")
_DAT_COLUMNS = ("Pair", "Patient", "Donor", "%Pra", "Altruist")


@dataclass(slots=True)
class _Graph:
    """A parsed ``.wmd`` file: vertex kinds, and the edges as arrays with their line numbers."""

    altruist: dict[int, bool] = field(default_factory=dict)
    sources: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    targets: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    weights: NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))
    lines: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))


@dataclass(frozen=True, slots=True)
class _Attributes:
    """One ``.dat`` row."""

    patient_blood_group: BloodGroup | None
    cpra: float | None
    donor_blood_group: BloodGroup


def read_preflib(path_or_text: PathOrText) -> Pool:
    """Read PrefLib kidney matching data.

    Parameters
    ----------
    path_or_text
        The path of a ``.wmd`` file, whose ``.dat`` sibling (same name) is read too if it
        exists; or of a ``.dat`` file, whose ``.wmd`` sibling must exist (``.xz`` and ``.gz``
        variants of either are found and decompressed); or the ``.wmd`` text itself (a string
        of several lines), read without attributes.

    Returns
    -------
    Pool
        Patients ``p<i>`` and donors ``d<i>`` for pair ``i``, donor ``d<i>`` for altruist
        ``i``; blood groups and cPRA from the ``.dat`` file if there is one.

    Raises
    ------
    FormatError
        If a line does not parse, an edge names an undeclared vertex, or a ``.dat`` file has
        no ``.wmd`` beside it. Errors name the file and the line.
    ValidationError
        If an edge is negative, duplicated or from a pair to itself, or a ``.dat`` row
        contradicts the graph.
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return _read(path_or_text, None, None)
    return _read_path(Path(path_or_text), is_dat=logical_name(path_or_text).endswith(".dat"))


def _read_path(path: Path, *, is_dat: bool) -> Pool:
    if is_dat:
        wmd_path = _sibling(path, ".wmd")
        if wmd_path is None:
            raise FormatError(
                "a PrefLib .dat file holds no arcs; its .wmd file must sit beside it",
                source=str(path),
            )
        dat_path: Path | None = path
    else:
        wmd_path, dat_path = path, _sibling(path, ".dat")
    text, source = document(wmd_path)
    return _read(text, source, dat_path)


def _sibling(path: Path, extension: str) -> Path | None:
    """Find the file beside `path` with the same stem and `extension` (maybe compressed)."""
    name = path.name
    if logical_name(path) != name.lower():
        name = name[: len(logical_name(path))]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    for candidate in (stem + extension, stem + extension + ".xz", stem + extension + ".gz"):
        sibling = path.with_name(candidate)
        if sibling.is_file():
            return sibling
    return None


def _read(text: str, source: str | None, dat_path: Path | None) -> Pool:
    with sourced(source):
        graph = _parse_wmd(text)
    attributes: dict[int, _Attributes] = {}
    if dat_path is not None:
        with sourced(str(dat_path)):
            attributes = _parse_dat(read_text(dat_path), graph)
    with sourced(source):
        return _build(graph, attributes)


def _parse_wmd(text: str) -> _Graph:
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise FormatError("empty file: expected a PrefLib .wmd graph")
    if lines[first].lstrip().startswith("#"):
        return _parse_current(lines)
    if _OLD_HEADER.fullmatch(lines[first]):
        return _parse_old(lines, first)
    raise FormatError(
        "not a PrefLib .wmd graph: expected '#' header lines or 'vertices,edges'",
        record=f"line {first + 1}",
    )


def _parse_current(lines: list[str]) -> _Graph:
    graph = _Graph()
    count: int | None = None
    edge_lines: list[str] = []
    edge_numbers: list[int] = []
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] != "#":
            edge_lines.append(stripped)
            edge_numbers.append(number)
        elif match := _ALTERNATIVE.match(stripped):
            vertex = _integer(match[1], number, "vertex")
            if vertex in graph.altruist:
                raise ValidationError(
                    f"vertex {vertex} is declared twice", record=f"line {number}", field="name"
                )
            graph.altruist[vertex] = _is_altruist(match[2], number)
        elif match := _COUNT.match(stripped):
            count = _integer(match[1], number, "number of alternatives")
    if not graph.altruist:
        if count is None:
            raise FormatError(
                "no vertices: expected '# ALTERNATIVE NAME' or '# NUMBER ALTERNATIVES' lines"
            )
        graph.altruist = dict.fromkeys(range(1, count + 1), False)
    _parse_edges(graph, edge_lines, edge_numbers)
    return graph


def _parse_old(lines: list[str], first: int) -> _Graph:
    graph = _Graph()
    header = _OLD_HEADER.fullmatch(lines[first])
    assert header is not None  # checked by the caller
    n_vertices = int(header[1])
    order: list[int] = []
    number = first + 1
    while len(order) < n_vertices:
        if number >= len(lines):
            raise FormatError(
                f"ends after {len(order)} of the {n_vertices} vertex lines the header announces"
            )
        line = lines[number].strip()
        number += 1
        if not line:
            continue
        vertex_text, _, name = line.partition(",")
        vertex = _integer(vertex_text, number, "vertex")
        if vertex in graph.altruist:
            raise ValidationError(
                f"vertex {vertex} is declared twice", record=f"line {number}", field="vertex"
            )
        graph.altruist[vertex] = _is_altruist(name, number)
        order.append(vertex)
    edge_lines: list[str] = []
    edge_numbers: list[int] = []
    for k in range(number, len(lines)):
        stripped = lines[k].strip()
        if stripped and stripped[0] != "#":
            edge_lines.append(stripped)
            edge_numbers.append(k + 1)
    _parse_edges(graph, edge_lines, edge_numbers)
    # The older layout numbers edge ends from 0, in the order the vertices were listed.
    vertices = np.asarray(order, dtype=np.int64)
    for name in ("source", "target"):
        ends = graph.sources if name == "source" else graph.targets
        bad = np.flatnonzero((ends < 0) | (ends >= len(order)))
        if bad.size:
            k = int(bad[0])
            raise FormatError(
                f"no vertex at position {int(ends[k])} (edges count the {len(order)} vertices "
                "from 0)",
                record=f"line {int(graph.lines[k])}",
                field=name,
            )
    graph.sources = vertices[graph.sources]
    graph.targets = vertices[graph.targets]
    return graph


def _is_altruist(name: str, line: int) -> bool:
    lowered = name.strip().lower()
    if any(word in lowered for word in _ALTRUIST_WORDS):
        return True
    if "pair" in lowered:
        return False
    raise FormatError(
        f"vertex name {name.strip()!r} is neither a pair nor an altruist",
        record=f"line {line}",
        field="name",
    )


def _parse_edges(graph: _Graph, lines: list[str], numbers: list[int]) -> None:
    """Parse ``source,target,weight`` lines into `graph`'s arrays.

    NumPy's parser reads well-formed files (hundreds of thousands of lines) quickly; a file it
    refuses is read again line by line to name the line at fault.
    """
    if not lines:
        return
    try:
        table = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=",", ndmin=2)
    except ValueError:
        table = np.array([_edge_cells(line, n) for line, n in zip(lines, numbers, strict=True)])
    if table.shape[1] != 3:
        _edge_cells(lines[0], numbers[0])  # raises: no line has three cells
    for column, name in ((0, "source"), (1, "target")):
        ends = table[:, column]
        bad = np.flatnonzero(~(ends == np.floor(ends)) | (np.abs(ends) > 2**53))
        if bad.size:
            k = int(bad[0])
            cell = lines[k].split(",")[column].strip()
            raise FormatError(
                f"expected a vertex number, got {cell!r}", record=f"line {numbers[k]}", field=name
            )
    bad = np.flatnonzero(~np.isfinite(table[:, 2]))
    if bad.size:
        k = int(bad[0])
        cell = lines[k].split(",")[2].strip()
        raise FormatError(
            f"expected a number, got {cell!r}", record=f"line {numbers[k]}", field="weight"
        )
    graph.sources = table[:, 0].astype(np.int64)
    graph.targets = table[:, 1].astype(np.int64)
    graph.weights = np.ascontiguousarray(table[:, 2])
    graph.lines = np.asarray(numbers, dtype=np.int64)


def _edge_cells(line: str, number: int) -> tuple[float, float, float]:
    """Parse one edge line strictly, naming what is wrong with it."""
    parts = line.split(",")
    if len(parts) != 3:
        raise FormatError(f"expected 'source,target,weight', got {line!r}", record=f"line {number}")
    source = _integer(parts[0], number, "source")
    target = _integer(parts[1], number, "target")
    try:
        weight = float(parts[2])
    except ValueError:
        raise FormatError(
            f"expected a number, got {parts[2].strip()!r}", record=f"line {number}", field="weight"
        ) from None
    return float(source), float(target), weight


def _integer(text: str, line: int, name: str) -> int:
    """Read a vertex number: ASCII digits (a sign allowed), at most :data:`MAX_VERTICES`."""
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", stripped) or len(stripped) > 12:
        raise FormatError(
            f"expected a vertex number, got {stripped[:40]!r}", record=f"line {line}", field=name
        )
    value = int(stripped)
    if abs(value) > MAX_VERTICES:
        raise FormatError(
            f"vertex number {value} is beyond {MAX_VERTICES:,}", record=f"line {line}", field=name
        )
    return value


def _parse_dat(text: str, graph: _Graph) -> dict[int, _Attributes]:
    rows = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not rows:
        raise FormatError("empty file: expected a PrefLib .dat table")
    header_line, header = rows[0]
    names = [name.strip().lower() for name in header.split(",")]
    columns: dict[str, int] = {}
    for column in _DAT_COLUMNS:
        if column.lower() not in names:
            raise FormatError(
                f"the header has no {column!r} column", record=f"line {header_line}", field=column
            )
        columns[column] = names.index(column.lower())
    width = len(names)
    attributes: dict[int, _Attributes] = {}
    for number, line in rows[1:]:
        cells = [cell.strip() for cell in line.split(",")]
        record = f"line {number}"
        if len(cells) != width:
            raise FormatError(f"expected {width} columns, got {len(cells)}", record=record)
        vertex = _integer(cells[columns["Pair"]], number, "Pair")
        if vertex not in graph.altruist:
            raise ValidationError(
                f"vertex {vertex} is not in the .wmd graph", record=record, field="Pair"
            )
        if vertex in attributes:
            raise ValidationError(f"vertex {vertex} has two rows", record=record, field="Pair")
        flag = cells[columns["Altruist"]]
        if flag not in ("0", "1"):
            raise FormatError(f"expected 0 or 1, got {flag!r}", record=record, field="Altruist")
        if (flag == "1") != graph.altruist[vertex]:
            kind = "an altruist" if graph.altruist[vertex] else "a pair"
            raise ValidationError(
                f"contradicts the .wmd graph, where vertex {vertex} is {kind}",
                record=record,
                field="Altruist",
            )
        donor_group = parse_blood_group(cells[columns["Donor"]], record_id=record, field="Donor")
        if graph.altruist[vertex]:
            attributes[vertex] = _Attributes(None, None, donor_group)
            continue
        attributes[vertex] = _Attributes(
            parse_blood_group(cells[columns["Patient"]], record_id=record, field="Patient"),
            _fraction(cells[columns["%Pra"]], record),
            donor_group,
        )
    return attributes


def _fraction(text: str, record: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"expected a number, got {text!r}", record=record, field="%Pra") from None
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"{value!r} is outside [0, 1]", record=record, field="%Pra")
    return value


def _build(graph: _Graph, attributes: dict[int, _Attributes]) -> Pool:
    patients: list[Patient] = []
    donors: list[Donor] = []
    for vertex, altruist in graph.altruist.items():
        info = attributes.get(vertex)
        donor_group = None if info is None else info.donor_blood_group
        if altruist:
            donors.append(Donor(f"d{vertex}", None, donor_group))
            continue
        patients.append(
            Patient(
                f"p{vertex}",
                None if info is None else info.patient_blood_group,
                None if info is None else info.cpra,
            )
        )
        donors.append(Donor(f"d{vertex}", f"p{vertex}", donor_group))

    vertices = np.array(sorted(graph.altruist), dtype=np.int64)
    is_altruist = np.array([graph.altruist[v] for v in vertices.tolist()], dtype=bool)
    sources, targets, weights, lines = graph.sources, graph.targets, graph.weights, graph.lines
    positions = {}
    for name, ends in (("source", sources), ("target", targets)):
        at = np.searchsorted(vertices, ends).clip(max=max(len(vertices) - 1, 0))
        bad = np.flatnonzero(vertices[at] != ends) if len(vertices) else np.arange(ends.size)
        if bad.size:
            k = int(bad[0])
            raise FormatError(
                f"vertex {int(ends[k])} is not declared", record=f"line {int(lines[k])}", field=name
            )
        positions[name] = at
    # An edge into an altruist says "a chain may end here", which is true of every chain.
    keep = ~is_altruist[positions["target"]]
    sources, targets, weights, lines = sources[keep], targets[keep], weights[keep], lines[keep]
    _refuse(
        sources == targets, lines, "target", lambda k: f"an edge from pair {sources[k]} to itself"
    )
    _refuse(weights < 0, lines, "weight", lambda k: f"weight {float(weights[k])!r} is negative")
    order = np.lexsort((lines, targets, sources))
    repeat = np.zeros(order.size, dtype=bool)
    repeat[1:] = (sources[order][1:] == sources[order][:-1]) & (
        targets[order][1:] == targets[order][:-1]
    )
    second = np.zeros(order.size, dtype=bool)
    second[order] = repeat
    _refuse(
        second,
        lines,
        "target",
        lambda k: f"a second edge from {sources[k]} to {targets[k]}",
    )
    donor_ids = np.array([f"d{v}" for v in vertices.tolist()], dtype=object)
    patient_ids = np.array([f"p{v}" for v in vertices.tolist()], dtype=object)
    return build_pool(
        patients,
        donors,
        (
            donor_ids[positions["source"][keep]].tolist(),
            patient_ids[positions["target"][keep]].tolist(),
            weights.tolist(),
        ),
        fields={},
    )


def _refuse(
    bad: NDArray[np.bool_], lines: NDArray[np.int64], field: str, message: Callable[[int], str]
) -> None:
    """Raise a ValidationError for the earliest line where `bad` holds, if any."""
    where = np.flatnonzero(bad)
    if where.size:
        k = int(where[np.argmin(lines[where])])
        raise ValidationError(message(k), record=f"line {int(lines[k])}", field=field)
