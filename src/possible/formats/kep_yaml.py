"""kep_solver's YAML instance format (schema 1).

::

    schema: 1
    donors:
      d1: {recipients: [p1], bloodgroup: O, age: 45,
           matches: [{recipient_id: p2, score: 12.5}]}
      n1: {altruistic: true, bloodgroup: A, matches: []}
    recipients:
      p1: {cPRA: 0.85, bloodgroup: A}

cPRA is a fraction (``pra`` and ``cPra`` are accepted too). Ids may be written as integers;
they are read as their decimal text, so an id written ``007`` must be quoted to keep its zeros.
"""

from __future__ import annotations

from typing import Any

import yaml

from possible.domain import Pool
from possible.errors import FormatError
from possible.formats._fields import expect_id, expect_mapping, require
from possible.formats._kep import YAML_V1, build_kep_pool
from possible.formats._source import PathOrText, document, sourced

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

__all__ = ["read_kep_yaml"]


class _StrictLoader(_SafeLoader):
    """A safe loader that refuses a key repeated in one mapping (PyYAML keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise FormatError(
            f"not valid YAML: a mapping tag on a {node.id} (line {node.start_mark.line + 1})"
        )
    seen: set[object] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node)
            if key in seen:
                raise FormatError(
                    f"duplicate key {key!r} (line {key_node.start_mark.line + 1}): it appears "
                    "twice in one mapping"
                )
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_kep_yaml(path_or_text: PathOrText) -> Pool:
    """Read a kep_solver YAML instance (schema 1).

    Parameters
    ----------
    path_or_text
        A path (``.xz`` and ``.gz`` files are decompressed), or the YAML text itself (a
        string of several lines).

    Returns
    -------
    Pool
        Donors with no (or empty) ``recipients``, or with ``altruistic: true``, are
        non-directed; dynamic-simulation keys are ignored.

    Raises
    ------
    FormatError
        If the text is not YAML, the schema is not 1, or a key is missing or of the wrong type.
    ValidationError
        If a value breaks a rule (unknown blood group, negative score, unknown patient ...).
    """
    text, source = document(path_or_text)
    with sourced(source):
        return _read(text)


def _read(text: str) -> Pool:
    """Load and read a document; aliases that refer to themselves are refused."""
    try:
        return _pool_from_document(_load(text))
    except RecursionError:
        raise FormatError(
            "not valid YAML: an alias refers to itself, or nesting is too deep"
        ) from None


def _load(text: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as err:
        where = f" (line {err.problem_mark.line + 1})" if err.problem_mark is not None else ""
        raise FormatError(f"not valid YAML: {err.problem}{where}") from None
    except yaml.YAMLError as err:
        raise FormatError(f"not valid YAML: {err}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as err:
        # PyYAML's constructors raise these for tags whose values they cannot build
        # (!!int x, !!bool x, !!map on a scalar, ...).
        raise FormatError(f"not valid YAML: a value its tag cannot hold ({err!r})") from None


def _pool_from_document(doc: object) -> Pool:
    top = expect_mapping(doc, record_id=None, field=None)
    schema = require(top, "schema", record_id=None)
    if schema != 1 or isinstance(schema, bool):
        raise FormatError(f"unsupported schema {schema!r} (expected 1)", field="schema")
    donors = expect_mapping(require(top, "donors", record_id=None), record_id=None, field="donors")
    recipients = top.get("recipients")
    recipient_records = (
        {} if recipients is None else expect_mapping(recipients, record_id=None, field="recipients")
    )
    return build_kep_pool(
        _with_text_ids(donors, "donors"), _with_text_ids(recipient_records, "recipients"), YAML_V1
    )


def _with_text_ids(records: dict[Any, object], field: str) -> list[tuple[str, object]]:
    return [(expect_id(key, record_id=None, field=field), value) for key, value in records.items()]
