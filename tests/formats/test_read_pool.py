from __future__ import annotations

import doctest
import gzip
import lzma
import shutil
from pathlib import Path

import pytest

import possible.formats
from possible.errors import FormatError, InputError, ValidationError
from possible.formats import kep_json, pool_json, read_pool

GOLDEN_POOL = "pool.json"
# Every golden file of the kep_solver family describes the same pool as pool.json (XML
# without patient attributes; PrefLib files describe their own).
SAME_AS_POOL_JSON = ["kep_v1.json", "kep_v2.json", "kep.yaml"]


def test_public_api() -> None:
    assert possible.formats.__all__ == [
        "read_kep_json",
        "read_kep_xml",
        "read_kep_yaml",
        "read_pool",
        "read_pool_json",
        "read_preflib",
        "write_kep_json",
        "write_pool_json",
    ]


@pytest.mark.parametrize("name", SAME_AS_POOL_JSON)
def test_format_is_told_by_extension(golden: Path, name: str) -> None:
    assert read_pool(golden / name).digest() == read_pool(golden / GOLDEN_POOL).digest()


@pytest.mark.parametrize(
    "name", [*SAME_AS_POOL_JSON, GOLDEN_POOL, "kep.xml", "kidney.wmd", "old_layout.wmd"]
)
def test_format_is_told_by_content_when_the_extension_is_unknown(
    golden: Path, tmp_path: Path, name: str
) -> None:
    shutil.copy(golden / name, tmp_path / "instance.txt")
    expected = read_pool(golden / name)
    if name == "kidney.wmd":  # its .dat sibling is found by stem whatever the extension
        shutil.copy(golden / "kidney.dat", tmp_path / "instance.dat")
    assert read_pool(tmp_path / "instance.txt").digest() == expected.digest()


@pytest.mark.parametrize("name", [*SAME_AS_POOL_JSON, GOLDEN_POOL, "kep.xml", "old_layout.wmd"])
@pytest.mark.parametrize("suffix", [".xz", ".gz"])
def test_compressed_files_are_decompressed(
    golden: Path, tmp_path: Path, name: str, suffix: str
) -> None:
    compress = lzma.compress if suffix == ".xz" else gzip.compress
    target = tmp_path / (name + suffix)
    target.write_bytes(compress((golden / name).read_bytes()))
    assert read_pool(target).digest() == read_pool(golden / name).digest()
    # Compression is recognised by content, so a misnamed file reads too.
    misnamed = tmp_path / ("copy" + Path(name).suffix)
    shutil.copy(target, misnamed)
    assert read_pool(misnamed).digest() == read_pool(golden / name).digest()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("mystery.bin", b"\x00\x01 binary", "mystery.bin: not a known pool format"),
        ("mystery.txt", b"just: some\nyaml: here\n", "mystery.txt: not a known pool format"),
        ("empty.txt", b"   \n", "empty.txt: an empty file"),
        ("latin1.json", '{"data": {"é": {}}}'.encode("latin-1"), "latin1.json: not UTF-8 text"),
        ("broken.json.xz", b"\xfd7zXZ\x00 truncated", "broken.json.xz: cannot decompress"),
        ("list.json", b"[]", "list.json: a JSON document, but not a pool"),
        ("xml.json", b"<data></data>", "not valid JSON.*it looks like XML \\(name it .xml\\)"),
        ("yaml.json", b"schema: 1\ndata: {}\n", "not valid JSON.*it may be YAML"),
    ],
)
def test_unknown_or_unreadable_files_are_named(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FormatError, match=message):
        read_pool(tmp_path / name)


KEP = '{"data": {"d1": {"sources": ["p1"], "bloodgroup": "O", "matches": [%s]}, "d7": %s},'
KEP_END = ' "recipients": {"p1": {"cPRA": 0.5}, "p2": {}}}'
POOL = (
    '{"format": "possible.pool", "version": 1, "patients": [{"id": "p1"}, {"id": "p2"}],'
    ' "donors": [{"id": "d1", "patient": "p1"}, %s], "arcs": [%s]}'
)
GOOD_MATCH = '{"recipient": "p2", "score": 1.0}'
D7 = '{"sources": ["p2"]}'


@pytest.mark.parametrize(
    ("name", "text", "record", "field", "message"),
    [
        # the example of docs/formats.md
        (
            "pool.json",
            KEP % (GOOD_MATCH, '{"bloodgroup": "Q"}') + KEP_END,
            "d7",
            "bloodgroup",
            "unknown blood group 'Q'",
        ),
        (
            "pool.json",
            KEP % ('{"recipient": "p2"}', D7) + KEP_END,
            "d1",
            "score",
            "match 0 has no 'score'",
        ),
        (
            "pool.json",
            KEP % ('{"recipient": "p2", "score": "12.5"}', D7) + KEP_END,
            "d1",
            "score",
            "expected a number, got a string '12.5'",
        ),
        (
            "pool.json",
            KEP % ('{"recipient": "p9", "score": 1}', D7) + KEP_END,
            "d1",
            "recipient",
            "match to unknown patient 'p9'",
        ),
        (
            "pool.json",
            KEP % ('{"recipient": "p2", "score": -2}', D7) + KEP_END,
            "d1",
            "score",
            "arc to 'p2' has score -2.0",
        ),
        (
            "pool.json",
            KEP % (GOOD_MATCH, '{"dage": "old"}') + KEP_END,
            "d7",
            "dage",
            "expected a number, got a string 'old'",
        ),
        (
            "pool.json",
            KEP % (GOOD_MATCH, "[]") + KEP_END,
            "d7",
            None,
            "expected an object, got a list",
        ),
        (
            "ours.json",
            POOL % ('{"id": "d7", "blood_group": "Q"}', ""),
            "d7",
            "blood_group",
            "unknown blood group 'Q'",
        ),
        ("ours.json", POOL % ('{"id": "d1"}', ""), "d1", "id", "duplicate donor id"),
        (
            "ours.json",
            POOL % ('{"id": "d7"}', '{"donor": "d7", "patient": "p1", "score": "1"}'),
            "d7",
            "score",
            "expected a number, got a string '1'",
        ),
        (
            "ours.json",
            POOL % ('{"id": "d7"}', '{"donor": "d7", "patient": "p9", "score": 1}'),
            "d7",
            "patient",
            "arc to unknown patient 'p9'",
        ),
        (
            "ours.json",
            POOL % ('{"id": "d7"}', '{"donor": "d7", "patient": "p1", "score": -1}'),
            "d7",
            "score",
            "arc to 'p1' has score -1.0",
        ),
        (
            "ours.json",
            POOL
            % (
                '{"id": "d7"}',
                '{"donor": "d7", "patient": "p1", "score": 1},'
                ' {"donor": "d7", "patient": "p1", "score": 2}',
            ),
            "d7",
            "patient",
            "duplicate arc to patient 'p1'",
        ),
        (
            "kep.yaml",
            "schema: 1\ndonors:\n  d7: {recipients: [p1], age: [1]}\n",
            "d7",
            "age",
            "expected a number, got a list",
        ),
        (
            "kep.xml",
            '<data><entry donor_id="d7"><bloodgroup>Q</bloodgroup></entry></data>',
            "d7",
            "bloodgroup",
            "unknown blood group 'Q'",
        ),
        (
            "graph.wmd",
            "# ALTERNATIVE NAME 1: Pair 1\n1,1,1.0\n",
            "line 2",
            "target",
            "an edge from pair 1 to itself",
        ),
    ],
)
def test_bad_input_names_file_record_and_field(
    tmp_path: Path, name: str, text: str, record: str, field: str | None, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    where = f"{path}: record '{record}': " + (f"field '{field}': " if field else "")
    with pytest.raises(InputError) as info:
        read_pool(path)
    assert str(info.value).startswith(where + message)
    assert (info.value.source, info.value.record, info.value.field) == (str(path), record, field)


def test_the_documented_example_reads_as_documented(tmp_path: Path) -> None:
    (tmp_path / "pool.json").write_text('{"data": {"d7": {"bloodgroup": "Q"}}}')
    with pytest.raises(ValidationError) as info:
        read_pool(tmp_path / "pool.json")
    assert str(info.value).endswith(
        "pool.json: record 'd7': field 'bloodgroup': "
        "unknown blood group 'Q' (expected O, A, B or AB)"
    )


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_pool(tmp_path / "absent.json")


@pytest.mark.parametrize("module", [kep_json, pool_json])
def test_docstring_examples_run(module: object) -> None:
    failures, _ = doctest.testmod(module)  # type: ignore[arg-type]
    assert failures == 0


def test_writing_into_a_missing_directory_names_the_directory(tmp_path: Path) -> None:
    from possible.formats import read_pool_json, write_pool_json

    empty = '{"format":"possible.pool","version":1,"patients":[],"donors":[],"arcs":[]}'
    pool = read_pool_json(empty)
    with pytest.raises(FileNotFoundError) as info:
        write_pool_json(pool, tmp_path / "missing" / "pool.json")
    assert info.value.filename == str(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_written_files_get_the_usual_mode_and_keep_a_replaced_files(tmp_path: Path) -> None:
    import os
    import stat

    from possible.formats import read_pool_json, write_pool_json

    empty = '{"format":"possible.pool","version":1,"patients":[],"donors":[],"arcs":[]}'
    pool = read_pool_json(empty)
    old = os.umask(0o027)
    try:
        write_pool_json(pool, tmp_path / "new.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o664)
    write_pool_json(pool, shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    with pytest.raises(IsADirectoryError) as info:
        write_pool_json(pool, tmp_path)
    assert info.value.filename == str(tmp_path)


BIG = "1" + "0" * 400


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        # numbers too large for a float, or for Python to convert at all
        ("big.json", '{"format":"possible.pool","version":1,"patients":[{"id":"p"}],'
         f'"donors":[{{"id":"d","patient":"p","age":{BIG}}}],"arcs":[]}}', "expected a number"),
        ("huge.json", "[" + "1" * 5000 + "]", "not valid JSON"),
        ("deep.json", "[" * 100_000, "not valid JSON"),
        # a lone surrogate in an id (a valid JSON escape, not valid text)
        ("surrogate.json", '{"format":"possible.pool","version":1,"patients":[{"id":"\\ud800"}],'
         '"donors":[],"arcs":[]}', "not valid Unicode"),
        # YAML tags whose values their constructors cannot build, and recursive aliases
        ("tag.yaml", "schema: 1\ndonors: {d: {age: !!int x}}\n", "not valid YAML"),
        ("tag2.yaml", "schema: 1\ndonors: {d: {age: !!bool x}}\n", "not valid YAML"),
        ("map.yaml", "schema: 1\ndonors: !!map xy\n", "not valid YAML"),
        ("alias.yaml", "schema: 1\ndonors: {d: {recipients: [p]}}\n"
         "recipients: {p: {cPRA: &a [*a], pra: &b [*b]}}\n", "not valid YAML"),
        # PrefLib vertex numbers beyond any pool, and digits that are not ASCII
        ("big.wmd", "# ALTERNATIVE NAME 99999999999999999999: Pair 1\n", "vertex number"),
        ("count.wmd", "# NUMBER ALTERNATIVES: 10000000000\n", "vertex number"),
        ("arabic.wmd", "# ALTERNATIVE NAME 1: Pair 1\n# ALTERNATIVE NAME 2: Pair 2\n"
         "\u0661,2,1\n", "vertex number"),
    ],
)  # fmt: skip
def test_hostile_input_is_a_clear_error_never_a_crash(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_pool(path)


def test_counts_and_scores_beyond_any_real_pool_are_refused() -> None:
    from possible.formats import read_pool_json

    doc = (
        '{"format":"possible.pool","version":2,"patients":[{"id":"p","previous_transplants":%s}],'
        '"donors":[],"arcs":[]}'
    )
    with pytest.raises(InputError, match="previous_transplants"):
        read_pool_json(doc % BIG)
    with pytest.raises(InputError, match="previous_transplants"):
        read_pool_json(doc % "51")
    arcs = (
        '{"format":"possible.pool","version":1,"patients":[{"id":"p"},{"id":"q"}],'
        '"donors":[{"id":"d","patient":"p"}],"arcs":[{"donor":"d","patient":"q","score":1e308}]}'
    )
    with pytest.raises(InputError, match="at most 1e\\+09"):
        read_pool_json(arcs)
