from __future__ import annotations

from pathlib import Path

import pytest

from possible.domain import BloodGroup, Donor, Patient
from possible.errors import FormatError, InputError
from possible.formats import read_kep_xml

ARCS = [
    ("d1", "p2", 12.5),
    ("d2", "p1", 10.0),
    ("d2", "p3", 1.0),
    ("d3", "p2", 8.0),
    ("d4", "p1", 3.0),
    ("n1", "p1", 5.0),
    ("n1", "p2", 6.0),
]


def test_golden_file_gives_the_pool_field_by_field(golden: Path) -> None:
    pool = read_kep_xml(golden / "kep.xml")
    # The XML format has no recipient records: patients are ids only.
    assert pool.patients == (Patient("p1"), Patient("p2"), Patient("p3"))
    assert pool.donors == (
        Donor("d1", "p1", BloodGroup.O, 45.0),
        Donor("d2", "p2", BloodGroup.A, 52.0),
        Donor("d3", "p1", BloodGroup.B, 38.0),
        Donor("d4", "p3", BloodGroup.AB),
        Donor("n1", None, BloodGroup.O, 60.0),
    )
    got = [
        (pool.donors[i].id, pool.patients[j].id, s)
        for i, j, s in zip(
            pool.arcs.donor.tolist(),
            pool.arcs.patient.tolist(),
            pool.arcs.score.tolist(),
            strict=True,
        )
    ]
    assert got == ARCS


def test_text_is_read_as_the_document() -> None:
    pool = read_kep_xml(
        '<data><entry donor_id="1"><sources><source>2</source></sources>'
        '</entry><entry donor_id="3"/></data>'
    )
    assert pool.donors == (Donor("1", "2"), Donor("3"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<data><entry></entry></data>",
            "record 'entry 1': field 'donor_id': <entry> number 1 has",
        ),
        (
            '<data><entry donor_id="1"><dage>old</dage></entry></data>',
            "record '1': field 'dage': expected a number, got 'old'",
        ),
        (
            '<data><entry donor_id="1"><matches><match><recipient>2</recipient><score>nan</score>'
            "</match></matches></entry></data>",
            "record '1': field 'score': expected a number",
        ),
        (
            '<data><entry donor_id="1"><matches><match><score>1</score></match></matches>'
            "</entry></data>",
            "record '1': field 'recipient': match 0 has no <recipient>",
        ),
        (
            '<data><entry donor_id="1"><sources><source>2</source><source>3</source></sources>'
            "</entry></data>",
            "record '1': field 'sources': lists 2 patients",
        ),
        (
            '<data><entry donor_id="1"><altruistic>maybe</altruistic></entry></data>',
            "record '1': field 'altruistic': expected true or false",
        ),
        (
            '<data><entry donor_id="1"><bloodgroup>Q</bloodgroup></entry></data>',
            "record '1': field 'bloodgroup': unknown blood group 'Q'",
        ),
        (
            '<data><entry donor_id="1"><matches><match><recipient>9</recipient><score>1</score>'
            "</match></matches></entry></data>",
            "record '1': field 'recipient': match to unknown",
        ),
        ("<data><entry donor_id='1'></data>", r"not valid XML: mismatched tag \(line 1, column"),
    ],
)
def test_malformed_documents_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_kep_xml(text)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text("<data><entry/></data>")
    with pytest.raises(FormatError, match=r"bad\.xml: record 'entry 1': field 'donor_id'"):
        read_kep_xml(path)
