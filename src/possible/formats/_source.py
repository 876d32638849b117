"""Getting a pool document's text in and out: paths or literal text, ``.xz`` and ``.gz``.

Every reader goes through :func:`document` and :func:`sourced`, so that a file's errors all
name the file, however deep in a parser they were raised.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import lzma
import os
import stat
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from possible.errors import FormatError, InputError

__all__ = [
    "PathOrText",
    "compression_suffix",
    "document",
    "load_json",
    "logical_name",
    "read_text",
    "sourced",
    "write_text",
]

PathOrText = str | os.PathLike[str]

_XZ_MAGIC = b"\xfd7zXZ\x00"
_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSION_SUFFIXES = (".xz", ".gz")


def compression_suffix(path: str | os.PathLike[str]) -> str | None:
    """Return the compression suffix (``.xz`` or ``.gz``) of `path`, if it has one."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix in _COMPRESSION_SUFFIXES else None


def logical_name(path: str | os.PathLike[str]) -> str:
    """Return the file name of `path` without a compression suffix, in lower case."""
    name = Path(path).name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 text file, decompressing it if it is xz or gzip compressed.

    Compression is recognised by the file's first bytes, not its name, so a compressed file
    is read whatever it is called, and a mislabelled plain one too. A byte-order mark is
    dropped.

    Raises
    ------
    FormatError
        If the file cannot be decompressed or is not UTF-8 text (without a source: wrap the
        call in :func:`sourced`).
    OSError
        If the file cannot be read.
    """
    raw = Path(path).read_bytes()
    try:
        if raw.startswith(_XZ_MAGIC):
            raw = lzma.decompress(raw)
        elif raw.startswith(_GZIP_MAGIC):
            raw = gzip.decompress(raw)
    except (lzma.LZMAError, EOFError, OSError, zlib.error) as err:
        raise FormatError(f"cannot decompress: {err}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise FormatError(f"not UTF-8 text (bad byte at offset {err.start})") from None


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` as UTF-8, compressed if the name ends in ``.xz`` or ``.gz``.

    Output is byte-for-byte deterministic: the gzip header carries no time stamp or name. The
    file appears whole or not at all: the bytes go to a temporary file beside it, which is
    then renamed over the target.
    """
    data = text.encode("utf-8")
    suffix = compression_suffix(path)
    if suffix == ".xz":
        data = lzma.compress(data)
    elif suffix == ".gz":
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as stream:
            stream.write(data)
        data = buffer.getvalue()
    target = Path(path)
    # Problems are said of the target: the temporary file's name would only puzzle.
    if not target.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such directory", str(target.parent))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a directory", str(target))
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would: the
        # replaced file's, or the default for new files under the user's umask.
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """Return the permission bits a file written at `target` should get."""
    try:
        return stat.S_IMODE(target.stat().st_mode) & 0o777  # never setuid, setgid or sticky
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """Return the umask, read from Linux without changing it (elsewhere set and set back)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def document(path_or_text: PathOrText, *, opening: tuple[str, ...] = ()) -> tuple[str, str | None]:
    """Return the text of a document given as a path or as the text itself, and its source.

    A :class:`str` is taken as the document itself when it spans several lines or starts
    (after white space) with one of `opening`; anything else is a path. The source is the
    path as given, or ``None`` for literal text.
    """
    if isinstance(path_or_text, str) and (
        "\n" in path_or_text or (opening and path_or_text.lstrip().startswith(opening))
    ):
        return path_or_text, None
    source = os.fspath(path_or_text)
    with sourced(source):
        return read_text(path_or_text), source


@contextmanager
def sourced(source: str | None) -> Iterator[None]:
    """Name `source` in every :class:`InputError` raised inside the block.

    Errors that already name a source (a sibling file's, say) are left alone.
    """
    try:
        yield
    except InputError as err:
        if source is None or err.source is not None:
            raise
        raise err.with_source(source).with_traceback(err.__traceback__) from None


def load_json(text: str) -> object:
    """Parse JSON strictly: no duplicate keys in an object, no ``NaN`` or ``Infinity``.

    Raises
    ------
    FormatError
        Naming the line and column of a syntax error, or the duplicated key.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise FormatError("not valid JSON: nested too deeply") from None
    except json.JSONDecodeError as err:
        head = text.lstrip()[:1]
        hint = {"<": "; it looks like XML (name it .xml)"}.get(head, "")
        if not hint and head not in ("{", "[", ""):
            hint = "; it may be YAML (name it .yaml)" if ":" in text[:200] else ""
        raise FormatError(
            f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno}){hint}"
        ) from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise FormatError(f"not valid JSON: {err}") from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise FormatError(f"duplicate key {key!r}: it appears twice in one JSON object")
            seen.add(key)
    return obj


def _no_constant(name: str) -> object:
    raise FormatError(f"{name} is not a number JSON allows")
