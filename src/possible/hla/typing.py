"""Reading people's typings and antibody lists, and testing them against each other in bulk.

A *typing* is what a person carries; an *antibody list* is what a patient must not receive
(unacceptable antigens). :class:`TokenSpace` turns typings into bit sets over a common list of
tokens so that a whole pool (thousands of donors against thousands of patients) is
crossmatched with a few array operations, never a loop over every donor-patient pair.

A donor *may carry* a token when one of its typed tokens is that token, is narrower than it
(a donor typed ``A*24:02`` carries ``A24`` and ``A9``), or is broader than it: a donor typed
only as ``A9`` may carry ``A24``, and a donor typed ``A2`` may carry ``A*02:01``. An allele
whose serological equivalent is only a broad antigen (``DRB1*03:05`` is ``DR3``, as is an
allele of the DRB1*03 group missing from the table) may be any of the broad's splits. An
allele group (``B*15``, from ``B*15:XX`` or a multiple-allele code) may be any of its alleles,
so any antigen they express (B62, but also B72); an antibody so written targets them all. And a
donor may carry a public epitope (``Bw4``, ``Bw6``) of any antigen it may carry, so one typed
``B12`` may carry both (``B44`` is Bw4, ``B45`` Bw6). These rules are conservative on purpose:
a virtual crossmatch must not call compatible what a better typing might show to be
incompatible.

Two more rules keep it so (:func:`crossmatch_typing`, :func:`typed_loci`):

* a donor typed at DRB1 but not at DRB3/4/5 carries the DR51, DR52 or DR53 that comes with
  each DRB1 antigen's haplotype (``DR17`` brings ``DR52``), as labs infer it;
* a donor not typed at a locus where the patient has unacceptable antigens cannot have a
  negative virtual crossmatch there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from possible.errors import InputError, ValidationError, ValidationErrors
from possible.hla.nomenclature import PUBLIC_EPITOPES, Nomenclature, Specificity, nomenclature

__all__ = [
    "TokenSpace",
    "carries_unacceptable",
    "crossmatch_typing",
    "locus_bits",
    "matching_typing",
    "read_names",
    "serology_blank_hits",
    "serology_blanks",
    "typed_loci",
]

DRB345 = ("DRB3", "DRB4", "DRB5")
"""The loci of the DR51, DR52 and DR53 antigens."""


def read_names(
    names: Iterable[str],
    *,
    record: str,
    field: str,
    table: Nomenclature | None = None,
    typing: bool = False,
) -> tuple[Specificity, ...]:
    """Read a list of HLA names (a typing or an antibody list) of one record.

    With `typing`, the names are one person's HLA type, so no locus may carry more than two
    different antigens (names that cannot be told apart, such as ``A2`` and ``A*02:01``, or
    a broad and its split, count once; ``Bw4`` and ``Bw6`` are epitopes, not antigens).
    Without it, they are antibody specificities, which a null allele (expressing nothing)
    cannot be.

    Raises
    ------
    ValidationErrors
        Every bad entry at once, each naming `record`, `field` and the entry: an unknown
        antigen, a malformed allele name, a typing's third antigen at one locus, or a null
        allele listed as an antibody specificity.

    Examples
    --------
    >>> [s.token for s in read_names(["A2", "B*44:02"], record="p1", field="hla")]
    ['A2', 'B*44:02']
    """
    table = table or nomenclature()
    out: list[Specificity] = []
    errors: list[InputError] = []
    # Per locus, the names of a typing (index, name, what it may stand for).
    at_locus: dict[str, list[tuple[int, str, tuple[Specificity, ...]]]] = {}
    for k, name in enumerate(names):
        try:
            specs = table.parse(name)
        except ValueError as err:
            errors.append(ValidationError(str(err), record=record, field=f"{field}[{k}]"))
            continue
        if not specs and not typing:
            errors.append(
                ValidationError(
                    f"null allele {name!r} expresses no antigen, so no antibody can target it:"
                    " list the antigen meant",
                    record=record,
                    field=f"{field}[{k}]",
                )
            )
            continue
        out.extend(specs)
        if typing and specs and not all(s.token in PUBLIC_EPITOPES for s in specs):
            at_locus.setdefault(specs[0].locus, []).append((k, name, specs))
    for locus, entries in at_locus.items():
        problem = _more_than_two(entries, table)
        if problem is not None:
            k, listed = problem
            errors.append(
                ValidationError(
                    f"{len(listed)} different antigens at HLA-{locus} ({', '.join(listed)}); "
                    "a person carries at most two",
                    record=record,
                    field=f"{field}[{k}]",
                )
            )
    if errors:
        raise ValidationErrors(errors)
    return tuple(dict.fromkeys(out))


def serology_blanks(tokens: Sequence[str], table: Nomenclature) -> frozenset[str]:
    """Return the loci where a typing may hide an antigen serology cannot see.

    That is where it is typed by serology alone with one antigen: the second may be the same
    (homozygous) or a group without serology (``C*12``, ``C*17``, ...), which a serological
    typing reports as a blank. A typing with any molecular name at the locus, or two
    antigens, hides nothing.

    Examples
    --------
    >>> from possible.hla.nomenclature import nomenclature
    >>> sorted(serology_blanks(("A1", "A2", "Cw7", "B8"), nomenclature()))
    ['B', 'C']
    """
    at: dict[str, list[str]] = {}
    for t in tokens:
        if t not in PUBLIC_EPITOPES:
            at.setdefault(table.locus(t), []).append(t)
    out = set()
    for locus, names in at.items():
        if any("*" in t for t in names):
            continue
        narrowest = [t for t in names if not any(t != u and t in table.ancestors(u) for u in names)]
        if len(narrowest) < 2:
            out.add(locus)
    return frozenset(out)


def serology_blank_hits(
    typings: Sequence[Sequence[str]],
    unacceptable: Sequence[Sequence[str]],
    table: Nomenclature,
) -> NDArray[np.bool_]:
    """Who may hide, in a serological blank, a group a patient has antibodies to.

    Returns
    -------
    numpy.ndarray
        Boolean ``(len(unacceptable), len(typings))``: the patient has an antibody to a group
        without serology (``C*12:03``) at a locus where the person is typed by serology with
        one antigen (:func:`serology_blanks`).
    """
    unseen_sets = [{table.locus(t) for t in u if table.without_serology(t)} for u in unacceptable]
    if not any(unseen_sets):
        return np.zeros((len(unacceptable), len(typings)), dtype=bool)
    unseen, blank = locus_bits(unseen_sets, [serology_blanks(t, table) for t in typings])
    return np.asarray((unseen[:, None] & blank[None, :]) != 0)


def locus_bits(*families: Sequence[Iterable[str]]) -> tuple[NDArray[np.int64], ...]:
    """Write sets of loci as bit masks, one bit per locus, the same bits in every family.

    Examples
    --------
    >>> [m.tolist() for m in locus_bits([{"A"}, {"A", "C"}], [{"C"}, set()])]
    [[1, 3], [2, 0]]
    """
    codes: dict[str, int] = {}

    def mask(loci: Iterable[str]) -> int:
        out = 0
        for locus in sorted(loci):
            out |= 1 << codes.setdefault(locus, len(codes))
        return out

    return tuple(np.array([mask(x) for x in family], dtype=np.int64) for family in families)


def matching_typing(names: Iterable[str], table: Nomenclature | None = None) -> tuple[str, ...]:
    """Read a valid typing for counting HLA mismatches: one token per name.

    An ambiguity string whose alternatives express different antigens stands for the narrowest
    antigen they share (``B*40:01/40:02``, B60 or B61, is ``B40``), so that it takes one of
    the person's two places at the locus, not two; one with no shared antigen is left out. A
    group-level name beside a name of an antigen it may be is left out too (``B*15:XX`` with
    ``B72``: that place is B72). The crossmatch keeps every alternative instead
    (:func:`read_names`): a donor may carry any.

    Examples
    --------
    >>> matching_typing(["B*40:01/40:02", "B44", "A*02:01/02:06"])
    ('B40', 'B44', 'A*02:01')
    """
    table = table or nomenclature()
    out: list[str] = []
    for name in names:
        specs = table.parse(name)
        if len(specs) <= 1:
            out.extend(s.token for s in specs)
            continue
        antigens = [table.antigen(s.token) or s.token for s in specs]
        if len(set(antigens)) == 1:
            out.append(specs[0].token)
            continue
        shared = [
            a
            for a in table.ancestors(antigens[0])
            if a not in PUBLIC_EPITOPES and all(a in table.ancestors(b) for b in antigens[1:])
        ]
        out.extend(shared[:1])
    # A group-level name beside a name of an antigen it may be is that antigen (B*15:XX with
    # B72 is B72), not a place of its own.
    return tuple(
        t
        for t in out
        if not table.imprecise(t)
        or not any(
            not table.imprecise(u) and table.locus(u) == table.locus(t) and table.related(t, u)
            for u in out
        )
    )


def _more_than_two(
    entries: list[tuple[int, str, tuple[Specificity, ...]]], table: Nomenclature
) -> tuple[int, list[str]] | None:
    """Whether one locus's names need more than two antigens, whatever their order.

    Names that may be the same antigen (:func:`_same_antigen`) can share one of the two
    places; the typing fits when its names split into at most two sets of such names, that
    is when the names that cannot be the same form no odd cycle. Returns the place and names
    of the problem: three names no two of which can be the same, or else all of them.
    """
    n = len(entries)
    apart = [
        [j != i and not _same_antigen(entries[i][2], entries[j][2], table) for j in range(n)]
        for i in range(n)
    ]
    side: dict[int, int] = {}
    fits = True
    for first in range(n):
        if first in side:
            continue
        side[first] = 0
        queue = [first]
        while queue and fits:
            i = queue.pop()
            for j in range(n):
                if apart[i][j]:
                    if j not in side:
                        side[j] = 1 - side[i]
                        queue.append(j)
                    elif side[j] == side[i]:
                        fits = False
    if fits:
        return None
    for c in range(n):
        for b in range(c):
            for a in range(b):
                if apart[a][b] and apart[a][c] and apart[b][c]:
                    return entries[c][0], [entries[x][1] for x in (a, b, c)]
    return entries[-1][0], [e[1] for e in entries]


def _same_antigen(
    a: tuple[Specificity, ...], b: tuple[Specificity, ...], table: Nomenclature
) -> bool:
    """Whether two names may stand for the same antigen (one is, or is broader than, the other)."""
    return any(table.related(x.token, y.token) for x in a for y in b)


def crossmatch_typing(tokens: Sequence[str], table: Nomenclature) -> tuple[str, ...]:
    """Return a donor's tokens with the DR51/52/53 antigens their DRB1 antigens imply.

    Each DRB1 antigen brings its haplotype's DRB3/4/5 antigen unless the donor is typed at
    that antigen's own locus (DRB3 for DR52, DRB4 for DR53, DRB5 for DR51): a typing there
    stands, one at another of the three loci does not.

    Examples
    --------
    >>> from possible.hla.nomenclature import nomenclature
    >>> crossmatch_typing(("A1", "DRB1*03:01", "DR4"), nomenclature())
    ('A1', 'DRB1*03:01', 'DR4', 'DR52', 'DR53')
    >>> crossmatch_typing(("DR17", "DR52"), nomenclature())
    ('DR17', 'DR52')
    >>> crossmatch_typing(("DR17", "DR4", "DR53"), nomenclature())
    ('DR17', 'DR4', 'DR53', 'DR52')
    """
    loci = [table.locus(t) for t in tokens]
    typed = {locus for locus in loci if locus in DRB345}
    implied = []
    for t, locus in zip(tokens, loci, strict=True):
        if locus != "DRB1":
            continue
        # An imprecise name may be any of its antigens, so it brings each one's (DRB1*08:XX
        # may be DR11, which brings DR52).
        for candidate in table.possible_antigens(t) if table.imprecise(t) else (t,):
            antigen = table.drb345(candidate)[1]
            if antigen is not None and table.locus(antigen) not in typed:
                implied.append(antigen)
    return tuple(dict.fromkeys([*tokens, *implied]))


def typed_loci(tokens: Sequence[str], table: Nomenclature) -> frozenset[str]:
    """Return the loci a typing covers (``"B"`` covers Bw4/Bw6).

    DRB3, DRB4 and DRB5 each count as covered when typed, or when every DRB1 token says which
    of them its haplotype carries (:meth:`Nomenclature.drb345`): then their absence is known
    too.
    """
    loci = {table.locus(t) for t in tokens}
    drb1 = [t for t in tokens if table.locus(t) == "DRB1"]
    if drb1 and all(table.drb345(t)[0] for t in drb1):
        loci.update(DRB345)
    return frozenset(loci)


class TokenSpace:
    """Every token that matters for one set of typings and antibody lists, with bit sets.

    Parameters
    ----------
    tokens
        Tokens that occur in the data (typed or unacceptable); every serological antigen of
        the table is included as well.
    table
        The nomenclature; the shipped one by default.
    """

    def __init__(self, tokens: Iterable[str], *, table: Nomenclature | None = None) -> None:
        self.table = table or nomenclature()
        names: dict[str, None] = {}
        for locus in self.table.loci:
            names.update(dict.fromkeys(self.table.antigens(locus)))
        names.update(dict.fromkeys(PUBLIC_EPITOPES))
        for token in tokens:
            names.update(dict.fromkeys(self.table.ancestors(token)))
        self.tokens: tuple[str, ...] = tuple(names)
        self.index: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}
        up: list[tuple[int, ...]] = []
        down: list[list[int]] = [[] for _ in self.tokens]
        for i, token in enumerate(self.tokens):
            chain = tuple(self.index[t] for t in self.table.ancestors(token))
            up.append(chain)
            for j in chain[1:]:
                if self.tokens[j] not in PUBLIC_EPITOPES:
                    down[j].append(i)
        self._up = up
        self._down = [tuple(d) for d in down]
        # Imprecise tokens (allele groups, alleles known only at a broad): an antibody so
        # written targets donors typed with their antigen (the group's, or the broad, and its
        # splits), not every antigen a rare allele of the group expresses (DRB1*14:53 is DR13:
        # anti-DRB1*14:XX does not rule out every DR13 donor).
        self._alleles_of: dict[str, list[int]] = {}
        self._group_at: dict[str, int] = {}
        self._imprecise_for: dict[int, set[int]] = {}
        for v, t in enumerate(self.tokens):
            if "*" not in t:
                continue
            group = t.split(":", 1)[0]
            if ":" in t:
                self._alleles_of.setdefault(group, []).append(v)
            else:
                self._group_at[group] = v
            if not self.table.imprecise(t):
                continue
            own = self.table.antigen(t)
            for antigen in () if own is None else (own, *self.table.splits(own)):
                j = self.index[antigen]
                for k in (*self._up[j], *self._down[j]):
                    if "*" not in self.tokens[k] and self.tokens[k] not in PUBLIC_EPITOPES:
                        self._imprecise_for.setdefault(k, set()).add(v)
        self._carried: dict[int, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    def carried(self, token: str) -> tuple[int, ...]:
        """Return the indices of the tokens someone typed `token` may carry (see module notes)."""
        i = self.index[token]
        out = self._carried.get(i)
        if out is None:
            narrower = set(self._down[i])
            if "*" in token:
                # An allele known only at a broad antigen may be any antigen narrower than it;
                # a group (or an allele the table does not list) any antigen of the group's
                # alleles, with their broads, and any allele of the group.
                own = self.table.antigen(token)
                for antigen in self.table.possible_antigens(token):
                    j = self.index[antigen]
                    narrower.update(k for k in self._up[j] if self.tokens[k] not in PUBLIC_EPITOPES)
                if own is not None and self.table.splits(own):
                    j = self.index[own]
                    narrower.update(k for k in self._down[j] if "*" not in self.tokens[k])
                if ":" not in token:  # a group may be any of its alleles
                    narrower.update(self._alleles_of.get(token, ()))
            epitopes = {
                k for d in narrower for k in self._up[d] if self.tokens[k] in PUBLIC_EPITOPES
            }
            # Imprecise tokens this typing may be (their epitopes are not its own: B45 may be
            # a B*44 allele, and is still Bw6).
            if "*" not in token:
                maybe = set(self._imprecise_for.get(i, ()))
            else:
                group = self._group_at.get(token.split(":", 1)[0]) if ":" in token else None
                maybe = set() if group is None else {group}
            out = tuple(sorted(set(self._up[i]) | narrower | epitopes | maybe))
            self._carried[i] = out
        return out

    def carried_by(self, typing: Iterable[str]) -> set[int]:
        """Return the indices of every token a person with this typing may carry."""
        out: set[int] = set()
        for token in typing:
            out.update(self.carried(token))
        return out

    def bitsets(self, typings: Sequence[Iterable[str]]) -> NDArray[np.uint8]:
        """For each token, the packed bit set of the people (rows of `typings`) who may carry it.

        Returns
        -------
        numpy.ndarray
            ``uint8`` array of shape ``(len(self), ceil(len(typings) / 8))``.
        """
        n = len(typings)
        rows: list[int] = []
        cols: list[int] = []
        for person, typing in enumerate(typings):
            carried = self.carried_by(typing)
            rows.extend(carried)
            cols.extend([person] * len(carried))
        dense = np.zeros((len(self.tokens), n), dtype=bool)
        dense[np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)] = True
        return np.packbits(dense, axis=1)

    def hits(
        self, unacceptable: Sequence[Iterable[str]], bits: NDArray[np.uint8], n: int
    ) -> NDArray[np.bool_]:
        """For each antibody list, which of the `n` people behind `bits` carry any of it.

        Parameters
        ----------
        unacceptable
            One list of unacceptable tokens per patient.
        bits
            Bit sets from :meth:`bitsets` over `n` people.
        n
            How many people `bits` covers.

        Returns
        -------
        numpy.ndarray
            Boolean array ``(len(unacceptable), n)``: True where the person carries at least
            one unacceptable token.
        """
        packed = np.zeros((len(unacceptable), bits.shape[1]), dtype=np.uint8)
        for p, tokens in enumerate(unacceptable):
            idx = [self.index[t] for t in tokens]
            if idx:
                np.bitwise_or.reduce(bits[idx], axis=0, out=packed[p])
        out: NDArray[np.bool_] = np.unpackbits(packed, axis=1, count=n).astype(bool)
        return out


def carries_unacceptable(
    typings: Sequence[Sequence[str]],
    unacceptable: Sequence[Sequence[str]],
    table: Nomenclature | None = None,
) -> NDArray[np.bool_]:
    """Crossmatch everyone at once: who may carry an antigen of each antibody list.

    Parameters
    ----------
    typings
        One tuple of tokens per person (donors, or a reference panel).
    unacceptable
        One list of unacceptable tokens per patient.
    table
        The nomenclature; the shipped one by default.

    Returns
    -------
    numpy.ndarray
        Boolean array ``(len(unacceptable), len(typings))``.

    Examples
    --------
    >>> carries_unacceptable([("A2", "B7"), ("A*24:02",)], [("A9",), ()]).tolist()
    [[False, True], [False, False]]
    """
    space = TokenSpace(
        {t for ts in typings for t in ts} | {t for ts in unacceptable for t in ts}, table=table
    )
    return space.hits([list(u) for u in unacceptable], space.bitsets(typings), len(typings))
