"""HLA names as labs write them, and how antigens relate.

A typing or an antibody list names HLA specificities in one of two ways:

* serologically: ``A2``, ``B44``, ``Cw7`` (or ``C7``), ``DR4``, ``DR51``, ``DQ8``, the public
  epitopes ``Bw4`` and ``Bw6``;
* molecularly: ``A*02:01``, ``B*44:02:01:01``, ``DRB1*04:01``, with G and P groups
  (``A*02:01:01G``, ``A*02:01P``), low-resolution codes (``A*02:XX``, ``A*02``), and ambiguity
  strings whose alternatives are all possible (``A*02:01/02:06``, ``A*02:01/A*02:06``).

Each is read into a *token*: a serological antigen name, or for molecular names the two-field
allele (``A*02:01``). Tokens form a forest through :meth:`Nomenclature.parent`:

    allele A*24:03 -> associated antigen A2403 -> split A24 -> broad A9

using the shipped table ``data/serology.json`` (see ``docs/hla-data.md`` for its sources). An
allele group written without its second field (``A*24``, ``A*24:XX``, or with a multiple-allele
code) is read as the group (``A*24``), whose parent is the antigen most of its alleles express
(``A24``); the crossmatch takes it to carry any antigen of its alleles
(:meth:`Nomenclature.possible_antigens`). Loci without serology (DQA1, DPB1) keep allele names;
their group name (``DQA1*05``) is the parent of the group's alleles. Null alleles (suffix ``N``)
express no antigen and are read as nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Nomenclature", "Specificity", "nomenclature"]

MOLECULAR = re.compile(
    r"^(?:HLA-)?(?P<locus>[A-Z]+[0-9]?)\*(?P<f1>\d{2,4})"
    r"(?::(?P<f2>\d{2,4}|[A-Z]{2,6}))?(?::\d{2,3})?(?::\d{2,3})?(?P<suffix>[NLSCAQGP])?$"
)
"""A molecular name: locus, first field, optional second field (digits or a letter code),
optional third and fourth fields, optional expression or group suffix."""

GROUPS_OF_LOCI_WITHOUT_SEROLOGY: dict[str, frozenset[str] | None] = {
    "DQA1": frozenset({"01", "02", "03", "04", "05", "06"}),
    "DPB1": None,
}
"""Allele groups of the loci without serology (IPD-IMGT/HLA). DQA1 has six; DPB1 numbers its
alleles in order of discovery (first fields beyond 1000), so any number of two to four digits
is taken: a closed list would go stale with each release."""

PUBLIC_EPITOPES = ("Bw4", "Bw6")
"""Serological public epitopes, which a patient's antibodies may target."""

GROUPS_WITHOUT_SEROLOGY = frozenset(
    {"C*12", "C*14", "C*15", "C*16", "C*17", "C*18", "B*83", "DRB4*02", "DRB4*03"}
)
"""Allele groups of loci with serology that have no serological antigen (WHO: ``?``; the
DRB4 ones are null groups). Their alleles are valid names that express no listed antigen; any
other group missing from the table is a typing error."""


_PARSED_CACHE_SIZE = 100_000
"""Names whose reading is remembered (labs repeat a few thousand names across a pool)."""


@dataclass(frozen=True, slots=True)
class Specificity:
    """One HLA specificity read from a name.

    Attributes
    ----------
    locus
        Gene: ``"A"``, ``"B"``, ``"C"``, ``"DRB1"``, ``"DRB3"``, ``"DRB4"``, ``"DRB5"``,
        ``"DQB1"``, ``"DQA1"`` or ``"DPB1"`` (``"B"`` for the public epitopes).
    token
        The canonical name: a serological antigen (``"A24"``), a two-field allele
        (``"A*24:02"``), or an allele group at a locus without serology (``"DQA1*05"``).
    molecular
        Whether `token` is an allele or allele group rather than a serological antigen.
    """

    locus: str
    token: str
    molecular: bool


class Nomenclature:
    """The antigen table: which names exist and how they nest.

    Use :func:`nomenclature` for the shipped table. Names are read case-insensitively.

    Parameters
    ----------
    table
        The content of ``serology.json``: ``loci`` (locus -> serological prefix or ``None``),
        ``antigens`` (locus -> names), ``parents`` (antigen -> broader antigen), ``alleles``
        (allele group or two-field allele -> antigen), ``bw4`` and ``bw6`` (antigens carrying
        each public epitope), ``drb345`` (DRB1 antigen -> the DR51, DR52 or DR53 of its
        haplotype, or null for none).
    """

    def __init__(self, table: dict[str, object]) -> None:
        loci = table["loci"]
        antigens = table["antigens"]
        parents = table["parents"]
        alleles = table["alleles"]
        assert isinstance(loci, dict)
        assert isinstance(antigens, dict)
        assert isinstance(parents, dict)
        assert isinstance(alleles, dict)
        self.source = str(table.get("source", ""))
        self.version = str(table.get("version", ""))
        self.loci: dict[str, str | None] = {str(k): v for k, v in loci.items()}
        self._locus_of: dict[str, str] = {}
        self._by_lower: dict[str, str] = {}
        for locus, names in antigens.items():
            for name in names:
                self._locus_of[name] = locus
                self._by_lower[name.lower()] = name
        for name in PUBLIC_EPITOPES:
            self._locus_of[name] = "B"
            self._by_lower[name.lower()] = name
        # "C7" for "Cw7": labs write both; the WHO name keeps the w.
        for name in antigens.get("C", []):
            if name.startswith("Cw"):
                self._by_lower.setdefault("c" + name[2:].lower(), name)
        self._parents: dict[str, str] = {str(k): str(v) for k, v in parents.items()}
        self._splits: dict[str, list[str]] = {}
        for child, parent in self._parents.items():
            if not _associated(child, parent):
                self._splits.setdefault(parent, []).append(child)
        self._alleles: dict[str, str] = {str(k): str(v) for k, v in alleles.items()}
        self._groups = {k.split(":", 1)[0] for k in self._alleles} | GROUPS_WITHOUT_SEROLOGY
        # Per allele group: its default antigen, then every other antigen its alleles express.
        self._group_antigens: dict[str, list[str]] = {}
        for key, antigen in self._alleles.items():
            found = self._group_antigens.setdefault(key.split(":", 1)[0], [])
            if ":" not in key:
                found.insert(0, antigen)
            elif antigen not in found:
                found.append(antigen)
        drb345 = table.get("drb345") or {}
        assert isinstance(drb345, dict)
        self._drb345: dict[str, str | None] = {
            str(k): None if v is None else str(v) for k, v in drb345.items()
        }
        self._epitopes: dict[str, str] = {}
        self._ancestors: dict[str, tuple[str, ...]] = {}  # filled as tokens are met
        self._chains: dict[str, tuple[str, ...]] = {}
        self._parsed: dict[str, tuple[Specificity, ...]] = {}
        for epitope in PUBLIC_EPITOPES:
            for name in table.get(epitope.lower(), []) or []:  # type: ignore[attr-defined]
                self._epitopes[str(name)] = epitope

    # -- reading names -------------------------------------------------------------------

    def parse(self, text: str) -> tuple[Specificity, ...]:
        """Read one name into the specificities it may stand for.

        An ambiguity string gives one specificity per alternative; a null allele gives none.

        Raises
        ------
        ValueError
            If `text` is no known antigen or no well-formed allele name of a supported locus.

        Examples
        --------
        >>> n = nomenclature()
        >>> [s.token for s in n.parse("A*02:01/02:06")]
        ['A*02:01', 'A*02:06']
        >>> n.parse("cw7")[0].token
        'Cw7'
        """
        known = self._parsed.get(text) if isinstance(text, str) else None
        if known is not None:
            return known
        read = self._parse(text)
        if len(self._parsed) < _PARSED_CACHE_SIZE:
            self._parsed[text] = read
        return read

    def _parse(self, text: str) -> tuple[Specificity, ...]:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"empty HLA name {text!r}")
        name = text.strip()
        if "*" not in name:
            token = self._by_lower.get(name.lower())
            if token is None:
                raise ValueError(f"unknown HLA antigen {name!r}")
            return (Specificity(self._locus_of[token], token, molecular=False),)
        first, *rest = (part.strip() for part in name.split("/"))
        prefix = first.split("*", 1)[0]
        out = [self._molecular(first, name)]
        for alternative in rest:
            full = alternative if "*" in alternative else f"{prefix}*{alternative}"
            if full.split("*", 1)[0].upper() != prefix.upper():
                raise ValueError(f"ambiguity {name!r} mixes loci: its alternatives must share one")
            out.append(self._molecular(full, name))
        return tuple(dict.fromkeys(s for group in out for s in group))

    def _molecular(self, text: str, whole: str) -> tuple[Specificity, ...]:
        m = MOLECULAR.match(text.strip().upper())
        if m is None:
            raise ValueError(f"malformed HLA allele name {whole!r}")
        locus = m["locus"]
        if locus not in self.loci:
            raise ValueError(f"HLA locus {locus!r} in {whole!r} is not one used in kidney matching")
        if len(m["f1"]) == 4 and (locus != "DPB1" or m["f1"].startswith("0")):
            # DPB1's four-digit numbers start at 1000; DPB1*0401 is the old way of DPB1*04:01.
            raise ValueError(
                f"malformed HLA allele name {whole!r}: fields are separated by colons since"
                f" 2010 (write {locus}*{m['f1'][:2]}:{m['f1'][2:]})"
            )
        if self.loci[locus] is None:
            groups = GROUPS_OF_LOCI_WITHOUT_SEROLOGY.get(locus)
            if groups is not None and m["f1"] not in groups:
                raise ValueError(f"allele group {locus}*{m['f1']} in {whole!r} does not exist")
        if m["suffix"] == "N":
            return ()  # a null allele expresses no antigen
        group = f"{locus}*{m['f1']}"
        second = m["f2"]
        if second is None or not second.isdigit():
            # Allele group only (A*02, A*02:XX, or a multiple-allele code we cannot expand
            # offline): the group, which may be any of its alleles.
            known = group in self._alleles or group in GROUPS_WITHOUT_SEROLOGY
            if self.loci[locus] is not None and not known:
                raise ValueError(f"allele group {group!r} in {whole!r} has no known antigen")
            return (Specificity(locus, group, molecular=True),)
        if self.loci[locus] is not None and group not in self._groups:
            raise ValueError(f"allele group {group!r} in {whole!r} is not a known {locus} group")
        return (Specificity(locus, f"{group}:{second}", molecular=True),)

    # -- relations -----------------------------------------------------------------------

    def locus(self, token: str) -> str:
        """Return the locus of a token."""
        if "*" in token:
            return token.split("*", 1)[0]
        return self._locus_of[token]

    def antigen(self, token: str) -> str | None:
        """Return the serological antigen a token expresses (itself for an antigen), if any."""
        if "*" not in token:
            return token
        if token in self._alleles:
            return self._alleles[token]
        return self._alleles.get(token.split(":", 1)[0])

    def parent(self, token: str) -> str | None:
        """Return the next broader token: allele -> antigen (or allele group), split -> broad."""
        if "*" not in token:
            return self._parents.get(token)
        antigen = self.antigen(token)
        if antigen is not None:
            return antigen
        if ":" in token:
            return token.split(":", 1)[0]
        return None

    def ancestors(self, token: str) -> tuple[str, ...]:
        """`token` and every broader token, narrowest first, then any public epitope."""
        known = self._ancestors.get(token)
        if known is None:
            known = self._ancestors[token] = self._walk_up(token)
        return known

    def _walk_up(self, token: str) -> tuple[str, ...]:
        chain = [token]
        seen = {token}
        parent = self.parent(token)
        while parent is not None and parent not in seen:
            chain.append(parent)
            seen.add(parent)
            parent = self.parent(parent)
        for t in chain:
            epitope = self._epitopes.get(t)
            if epitope is not None and epitope not in seen:
                chain.append(epitope)
                seen.add(epitope)
        return tuple(chain)

    def drb345(self, token: str) -> tuple[bool, str | None]:
        """Return the DR51, DR52 or DR53 antigen that comes with a DRB1 token's haplotype.

        Returns
        -------
        tuple
            ``(known, antigen)``: whether the table's ``drb345`` rule covers the token (or a
            broader antigen of it), and the antigen, ``None`` where the haplotype carries no
            DRB3/4/5 product (DR1, DR8, DR10).

        Examples
        --------
        >>> n = nomenclature()
        >>> n.drb345("DRB1*03:01"), n.drb345("DR1"), n.drb345("A2")
        ((True, 'DR52'), (True, None), (False, None))
        """
        for t in self.ancestors(token):
            if t in self._drb345:
                return True, self._drb345[t]
        return False, None

    def without_serology(self, token: str) -> bool:
        """Whether `token` is an allele or allele group that serology cannot see.

        Such groups (``C*12``, ``C*17``, ...) sit at loci with serology, so a serological
        typing there may hide one.

        Examples
        --------
        >>> n = nomenclature()
        >>> n.without_serology("C*12:03"), n.without_serology("C*07:01"), n.without_serology("Cw7")
        (True, False, False)
        """
        return "*" in token and token.split(":", 1)[0] in GROUPS_WITHOUT_SEROLOGY

    def possible_antigens(self, token: str) -> tuple[str, ...]:
        """Return the serological antigens someone typed `token` may express.

        An antigen is itself. An allele expresses its antigen: the table's, or for an allele it
        does not list, its group's (the antigen most of the group's alleles express), and where
        that is a broad known only as such, any of its splits (:meth:`splits`). An allele group
        may be any of its alleles, so any antigen they express (``B*15`` may be B62 or B63, but
        also B70, B71, B72 or B35); so may an unlisted allele of a group whose alleles are
        known only at a broad, since its serology is not known.

        Examples
        --------
        >>> n = nomenclature()
        >>> "B72" in n.possible_antigens("B*15"), n.possible_antigens("B*44:02")
        (True, ('B44',))
        """
        if "*" not in token:
            return (token,)
        listed = self._alleles.get(token) if ":" in token else None
        if listed is not None:
            return (listed, *self.splits(listed))
        found = self._group_antigens.get(token.split(":", 1)[0], [])
        if ":" in token and found and not self.splits(found[0]):
            return (found[0],)  # an unlisted allele of a group with a definite antigen
        return tuple(dict.fromkeys(x for a in found for x in (a, *self.splits(a))))

    def splits(self, antigen: str) -> tuple[str, ...]:
        """Return the splits of a broad antigen (not its associated antigens); empty otherwise.

        Examples
        --------
        >>> n = nomenclature()
        >>> n.splits("DR3"), n.splits("A2"), n.splits("DR17")
        (('DR17', 'DR18'), (), ())
        """
        return tuple(self._splits.get(antigen, ()))

    def allele_names(self) -> tuple[str, ...]:
        """Return the allele groups and alleles the table maps to antigens, in table order."""
        return tuple(self._alleles)

    def antigens(self, locus: str) -> tuple[str, ...]:
        """Serological antigens of a locus, in table order."""
        return tuple(t for t, loc in self._locus_of.items() if loc == locus)

    def related(self, a: str, b: str) -> bool:
        """Whether one token is the other or broader than it (the two cannot be told apart).

        An allele group is broader than its alleles (``A*02`` and ``A*02:01``), and an
        imprecise name (:meth:`imprecise`) than each antigen it may be (``B*15`` and ``B72``).
        Public epitopes are left out: sharing Bw4 does not make two antigens the same.
        """
        chain_a = self._chain(a)
        chain_b = self._chain(b)
        if a in chain_b or b in chain_a:
            return True
        if ("*" in a and b.startswith(a + ":")) or ("*" in b and a.startswith(b + ":")):
            return True
        # An imprecise name and an antigen one of its possibilities cannot be told from.
        for x, y in ((a, b), (b, a)):
            if (
                "*" not in y
                and self.imprecise(x)
                and any(
                    y in self._chain(z) or z in self._chain(y) for z in self.possible_antigens(x)
                )
            ):
                return True
        return False

    def imprecise(self, token: str) -> bool:
        """Whether a molecular token stands for several possible antigens.

        That is an allele group (``B*15``), or an allele whose serology is known only at a
        broad antigen (``DRB1*03:05``, or an allele of the DRB1*03 group the table does not
        list): :meth:`possible_antigens` gives more than one.
        """
        return "*" in token and (":" not in token or len(self.possible_antigens(token)) > 1)

    def _chain(self, token: str) -> tuple[str, ...]:
        known = self._chains.get(token)
        if known is None:
            known = self._chains[token] = tuple(
                t for t in self.ancestors(token) if t not in PUBLIC_EPITOPES
            )
        return known


def _associated(child: str, parent: str) -> bool:
    """Whether `child` is an associated antigen of `parent` rather than a split of it.

    WHO names an associated antigen after its antigen, two digits longer (``A2`` -> ``A203``,
    ``DR14`` -> ``DR1403``); splits are numbered on their own (``DR3`` -> ``DR17``; ``B5`` ->
    ``B51``, one digit longer).
    """
    return child.startswith(parent) and len(child) == len(parent) + 2


@cache
def nomenclature() -> Nomenclature:
    """Return the shipped antigen table (``possible/hla/data/serology.json``), read once."""
    text = resources.files("possible.hla").joinpath("data", "serology.json").read_text("utf-8")
    table = json.loads(text)
    return Nomenclature(table)
