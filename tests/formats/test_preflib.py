from __future__ import annotations

import lzma
import shutil
from pathlib import Path

import pytest

from possible.domain import BloodGroup, Donor, Patient, Pool
from possible.errors import FormatError, InputError, ValidationError
from possible.formats import read_pool, read_preflib


def triples(pool: Pool) -> list[tuple[str, str, float]]:
    return [
        (pool.donors[i].id, pool.patients[j].id, s)
        for i, j, s in zip(
            pool.arcs.donor.tolist(),
            pool.arcs.patient.tolist(),
            pool.arcs.score.tolist(),
            strict=True,
        )
    ]


# kidney.wmd's edges, less "1,4,0.0": an edge into altruist 4 only says a chain may end there.
KIDNEY_ARCS = [
    ("d1", "p2", 1.0),
    ("d2", "p1", 1.0),
    ("d2", "p3", 2.5),
    ("d3", "p1", 1.0),
    ("d4", "p2", 1.0),
]


def test_wmd_with_its_dat_gives_the_pool_field_by_field(golden: Path) -> None:
    pool = read_preflib(golden / "kidney.wmd")
    assert pool.patients == (
        Patient("p1", BloodGroup.A, 0.05),
        Patient("p2", BloodGroup.O, 0.5875),
        Patient("p3", BloodGroup.B, 0.45),
    )
    assert pool.donors == (
        Donor("d1", "p1", BloodGroup.B),
        Donor("d2", "p2", BloodGroup.A),
        Donor("d3", "p3", BloodGroup.O),
        Donor("d4", None, BloodGroup.O),
    )
    assert triples(pool) == KIDNEY_ARCS


def test_dat_path_reads_the_wmd_beside_it(golden: Path) -> None:
    assert read_pool(golden / "kidney.dat").digest() == read_pool(golden / "kidney.wmd").digest()


def test_wmd_alone_has_no_attributes(golden: Path, tmp_path: Path) -> None:
    shutil.copy(golden / "kidney.wmd", tmp_path / "alone.wmd")
    pool = read_preflib(tmp_path / "alone.wmd")
    assert pool.patients == (Patient("p1"), Patient("p2"), Patient("p3"))
    assert pool.donors[3] == Donor("d4")
    assert triples(pool) == KIDNEY_ARCS
    text = (golden / "kidney.wmd").read_text()
    assert read_preflib(text).digest() == pool.digest()


def test_compressed_siblings_are_found(golden: Path, tmp_path: Path) -> None:
    for name in ("kidney.wmd", "kidney.dat"):
        (tmp_path / f"{name}.xz").write_bytes(lzma.compress((golden / name).read_bytes()))
    pool = read_pool(tmp_path / "kidney.wmd.xz")
    assert pool.digest() == read_pool(golden / "kidney.wmd").digest()


def test_older_layout_numbers_edges_from_zero(golden: Path) -> None:
    pool = read_preflib(golden / "old_layout.wmd")
    assert [p.id for p in pool.patients] == ["p1", "p2", "p3"]
    assert [(d.id, d.patient) for d in pool.donors] == [
        ("d1", "p1"),
        ("d2", "p2"),
        ("d3", "p3"),
        ("d4", None),  # spelt "Alturist", as in some published files
    ]
    assert triples(pool) == [
        ("d1", "p2", 1.0),
        ("d2", "p1", 1.0),
        ("d2", "p3", 2.5),
        ("d3", "p1", 1.0),
        ("d4", "p2", 1.0),
    ]


def test_header_count_alone_declares_pairs() -> None:
    pool = read_preflib("# NUMBER ALTERNATIVES: 2\n1,2,1.0\n2,1,3\n")
    assert [d.patient for d in pool.donors] == ["p1", "p2"]
    assert triples(pool) == [("d1", "p2", 1.0), ("d2", "p1", 3.0)]


HEADER = "# ALTERNATIVE NAME 1: Pair 1\n# ALTERNATIVE NAME 2: Pair 2\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER + "1,2\n", "record 'line 3': expected 'source,target,weight', got '1,2'"),
        (HEADER + "1,x,1.0\n", "record 'line 3': field 'target': expected a vertex number"),
        (HEADER + "1,2,heavy\n", "record 'line 3': field 'weight': expected a number"),
        (HEADER + "1,2,inf\n", "record 'line 3': field 'weight': expected a number"),
        (HEADER + "1,2,-1\n", "record 'line 3': field 'weight': weight -1.0 is negative"),
        (HEADER + "1,3,1\n", "record 'line 3': field 'target': vertex 3 is not declared"),
        (HEADER + "1,1,1\n", "record 'line 3': field 'target': an edge from pair 1 to itself"),
        (HEADER + "1,2,1\n1,2,2\n", "record 'line 4': field 'target': a second edge"),
        ("# ALTERNATIVE NAME 1: Donor 1\n", "record 'line 1': field 'name': vertex name 'Donor 1'"),
        (HEADER + "# ALTERNATIVE NAME 2: Pair 2\n", "record 'line 3': field 'name': vertex 2 is"),
        ("# TITLE: nothing\n1,2,1\n", "no vertices"),
        ("2,1\n1,Pair 1\n", "ends after 1 of the 2 vertex lines"),
        (
            "2,1\n1,Pair 1\n2,Pair 2\n1,2,1\n",
            "record 'line 4': field 'target': no vertex at position 2",
        ),
        ("hello\nworld\n", "record 'line 1': not a PrefLib .wmd graph"),
    ],
)
def test_malformed_graphs_name_the_line_and_field(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_preflib(text)


def _pair(tmp_path: Path, dat: str) -> Path:
    (tmp_path / "g.wmd").write_text(HEADER + "# ALTERNATIVE NAME 3: Altruist 3\n1,2,1\n")
    (tmp_path / "g.dat").write_text(dat)
    return tmp_path / "g.wmd"


@pytest.mark.parametrize(
    ("dat", "message"),
    [
        ("Pair,Patient,Donor\n", "line 1': field '%Pra': the header has no '%Pra' column"),
        ("Pair,Patient,Donor,%Pra,Altruist\n1,A,B,0.1\n", "line 2': expected 5 columns, got 4"),
        (
            "Pair,Patient,Donor,%Pra,Altruist\n1,Q,B,0.1,0\n",
            "line 2': field 'Patient': unknown blood group 'Q'",
        ),
        (
            "Pair,Patient,Donor,%Pra,Altruist\n1,A,B,12,0\n",
            r"line 2': field '%Pra': 12.0 is outside",
        ),
        (
            "Pair,Patient,Donor,%Pra,Altruist\n1,A,B,0.1,1\n",
            "line 2': field 'Altruist': contradicts the .wmd graph, where vertex 1 is a pair",
        ),
        (
            "Pair,Patient,Donor,%Pra,Altruist\n9,A,B,0.1,0\n",
            "line 2': field 'Pair': vertex 9 is not",
        ),
        (
            "Pair,Patient,Donor,%Pra,Altruist\n1,A,B,0.1,0\n1,A,B,0.1,0\n",
            "line 3': field 'Pair': vertex 1 has two rows",
        ),
    ],
)
def test_malformed_dat_files_are_named(tmp_path: Path, dat: str, message: str) -> None:
    wmd = _pair(tmp_path, dat)
    with pytest.raises(InputError, match=r"g\.dat: record '" + message):
        read_preflib(wmd)


def test_dat_rows_may_leave_vertices_out(tmp_path: Path) -> None:
    pool = read_preflib(_pair(tmp_path, "Pair,Patient,Donor,%Pra,Altruist\n3,O,AB,0,1\n"))
    assert pool.donors[2] == Donor("d3", None, BloodGroup.AB)
    assert pool.patients[0] == Patient("p1")


def test_a_dat_file_needs_its_wmd(tmp_path: Path) -> None:
    (tmp_path / "lonely.dat").write_text("Pair,Patient,Donor,%Pra,Altruist\n")
    with pytest.raises(FormatError, match=r"lonely\.dat: a PrefLib \.dat file holds no arcs"):
        read_pool(tmp_path / "lonely.dat")


def test_graph_errors_name_the_wmd_file(tmp_path: Path) -> None:
    (tmp_path / "bad.wmd").write_text(HEADER + "1,2,-5\n")
    with pytest.raises(ValidationError, match=r"bad\.wmd: record 'line 3': field 'weight'"):
        read_pool(tmp_path / "bad.wmd")
