"""Readers and writers for pool files: kep_solver's JSON, XML and YAML, PrefLib, and our own.

:func:`read_pool` reads any of them, telling them apart by extension (or by content, for an
unknown one) and decompressing ``.xz`` and ``.gz`` files. Every error raised while reading is
an :class:`~possible.errors.InputError` naming the file, the record and the field::

    pool.json: record 'd7': field 'bloodgroup': unknown blood group 'Q' (expected O, A, B or AB)

``docs/formats.md`` describes each format and how its counts compare with the peers'.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from possible.domain import Pool
from possible.errors import FormatError
from possible.formats import kep_json, kep_xml, kep_yaml, pool_json, preflib
from possible.formats._source import load_json, logical_name, read_text, sourced
from possible.formats.kep_json import read_kep_json, write_kep_json
from possible.formats.kep_xml import read_kep_xml
from possible.formats.kep_yaml import read_kep_yaml
from possible.formats.pool_json import read_pool_json, write_pool_json
from possible.formats.preflib import read_preflib

__all__ = [
    "read_kep_json",
    "read_kep_xml",
    "read_kep_yaml",
    "read_pool",
    "read_pool_json",
    "read_preflib",
    "write_kep_json",
    "write_pool_json",
]

_BY_EXTENSION = {
    ".json": "json",
    ".xml": "xml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".wmd": "wmd",
    ".dat": "dat",
}
_WMD_HEADER = re.compile(
    r"^#\s*(ALTERNATIVE NAME|NUMBER ALTERNATIVES|DATA TYPE\s*:\s*wmd)", re.IGNORECASE | re.MULTILINE
)
_WMD_OLD_HEADER = re.compile(r"\s*\d+\s*,\s*\d+\s*")
_KNOWN = "expected kep_solver JSON, XML or YAML, PrefLib .wmd or .dat, or possible's pool JSON"


def read_pool(path: str | os.PathLike[str], *, as_of: dt.date | None = None) -> Pool:
    """Read a pool from a file in any supported format.

    The format comes from the extension once ``.xz`` or ``.gz`` is set aside (compressed files
    are decompressed): ``.json`` (kep_solver's JSON, or possible's own if its ``"format"`` is
    ``"possible.pool"``), ``.xml``, ``.yaml`` or ``.yml``, ``.wmd`` and ``.dat`` (PrefLib).
    Any other extension is recognised by content.

    Parameters
    ----------
    path
        The file to read.
    as_of
        The date of the matching run, for possible's pool JSON: it gives ages from dates of
        birth, and becomes the pool's ``as_of``, in place of the file's own.

    Returns
    -------
    Pool
        The validated pool.

    Raises
    ------
    FormatError
        If the file is no known format, or is malformed for its format. The message names the
        file, and the record (an id, or a line) and field at fault.
    ValidationError
        If a record breaks a rule of the domain (unknown blood group, duplicate id, negative
        score, an arc to an unknown patient ...), named the same way.
    OSError
        If the file cannot be read.

    See Also
    --------
    read_kep_json, read_kep_xml, read_kep_yaml, read_preflib, read_pool_json
        The readers of the single formats.
    """
    source = os.fspath(path)
    kind = _BY_EXTENSION.get(os.path.splitext(logical_name(path))[1])
    if kind in ("wmd", "dat"):
        return preflib._read_path(Path(path), is_dat=kind == "dat")
    with sourced(source):
        text = read_text(path)
        if kind is None:
            kind = _sniff(text)
        if kind == "json":
            return _json_pool(load_json(text), as_of)
        if kind == "xml":
            return kep_xml._pool_from_text(text)
        if kind == "wmd":
            return preflib._read(text, source, preflib._sibling(Path(path), ".dat"))
        if kind == "dat":
            return preflib._read_path(Path(path), is_dat=True)
        return kep_yaml._read(text)


def _json_pool(doc: object, as_of: dt.date | None = None) -> Pool:
    if isinstance(doc, dict):
        if "format" in doc:
            return pool_json._pool_from_document(doc, as_of)
        if "data" in doc or "donors" in doc:
            return kep_json._pool_from_document(doc)
    raise FormatError(f"a JSON document, but not a pool: {_KNOWN}")


def _sniff(text: str) -> str:
    """Tell a document's format from its content."""
    head = text.lstrip()
    if not head:
        raise FormatError(f"an empty file: {_KNOWN}")
    if head.startswith("{"):
        return "json"
    if head.startswith("<"):
        return "xml"
    first_line = head.split("\n", 1)[0].strip()
    if _WMD_HEADER.search(head[:10_000]) or _WMD_OLD_HEADER.fullmatch(first_line):
        return "wmd"
    if first_line.lower().startswith("pair,"):
        return "dat"
    try:
        doc = kep_yaml._load(text)
    except FormatError:
        doc = None
    if isinstance(doc, dict) and "donors" in doc:
        return "yaml"
    raise FormatError(f"not a known pool format: {_KNOWN}")
