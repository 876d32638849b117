"""kep_solver's XML instance format.

::

    <data>
      <entry donor_id="1">
        <dage>45</dage>
        <bloodgroup>O</bloodgroup>
        <sources><source>2</source></sources>
        <matches>
          <match><recipient>4</recipient><score>12.5</score></match>
        </matches>
      </entry>
      <entry donor_id="3">
        <altruistic>true</altruistic>
        ...
      </entry>
    </data>

Every child of the root element is a donor. The format has no recipient records, so patients
are known only by id (as their donors' sources), without blood group or cPRA.
"""

from __future__ import annotations

import math
from xml.etree import ElementTree

from possible.domain import Pool
from possible.errors import FormatError
from possible.formats._kep import JSON_V1, build_kep_pool
from possible.formats._source import PathOrText, document, sourced

__all__ = ["read_kep_xml"]


def read_kep_xml(path_or_text: PathOrText) -> Pool:
    """Read a kep_solver XML instance.

    Parameters
    ----------
    path_or_text
        A path (``.xz`` and ``.gz`` files are decompressed), or the XML text itself (a string
        starting with ``<``).

    Returns
    -------
    Pool
        Donors without ``<sources>`` (or with an empty one, or ``<altruistic>true``) are
        non-directed; patients carry no attributes, as the format has none for them.

    Raises
    ------
    FormatError
        If the text is not XML, an entry has no ``donor_id``, a number does not parse, or a
        donor lists more than one source.
    ValidationError
        If a value breaks a rule (unknown blood group, negative score, unknown patient ...).
    """
    text, source = document(path_or_text, opening=("<",))
    with sourced(source):
        return _pool_from_text(text)


def _pool_from_text(text: str) -> Pool:
    try:
        # ElementTree never fetches external entities, and expat 2.4.1 and later stop runaway
        # entity expansion ("billion laughs"), so untrusted files are safe to parse.
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as err:
        line, column = err.position
        raise FormatError(f"not valid XML: {_reason(err)} (line {line}, column {column})") from None
    donors = [_donor_record(k, entry) for k, entry in enumerate(root)]
    return build_kep_pool(donors, (), JSON_V1)


def _reason(err: ElementTree.ParseError) -> str:
    # The message ends with its own "line l, column c", which we put in our own words.
    return str(err).split(":", 1)[0]


def _donor_record(k: int, entry: ElementTree.Element) -> tuple[str, object]:
    did = entry.get("donor_id", "").strip()
    if not did:
        raise FormatError(
            f"<{entry.tag}> number {k + 1} has no donor_id",
            record=f"entry {k + 1}",
            field="donor_id",
        )
    record: dict[str, object] = {}
    age = entry.find("dage")
    if age is not None:
        record["dage"] = _number(age, did)
    for tag in ("bloodgroup", "bloodtype"):
        element = entry.find(tag)
        if element is not None:
            record[tag] = _text(element)
    altruistic = entry.find("altruistic")
    if altruistic is not None:
        flag = _text(altruistic).lower()
        if flag not in ("true", "false"):
            raise FormatError(
                f"expected true or false, got {_text(altruistic)!r}", record=did, field="altruistic"
            )
        record["altruistic"] = flag == "true"
    sources = entry.find("sources")
    if sources is not None:
        record["sources"] = [_text(source) for source in sources]
    matches = entry.find("matches")
    if matches is not None:
        record["matches"] = [_match(did, m, match) for m, match in enumerate(matches)]
    return did, record


def _match(did: str, m: int, match: ElementTree.Element) -> dict[str, object]:
    recipient = match.find("recipient")
    if recipient is None:
        raise FormatError(f"match {m} has no <recipient>", record=did, field="recipient")
    score = match.find("score")
    if score is None:
        raise FormatError(f"match {m} has no <score>", record=did, field="score")
    return {"recipient": _text(recipient), "score": _number(score, did)}


def _text(element: ElementTree.Element) -> str:
    return (element.text or "").strip()


def _number(element: ElementTree.Element, did: str) -> float:
    text = _text(element)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise FormatError(f"expected a number, got {text!r}", record=did, field=element.tag)
    return number
