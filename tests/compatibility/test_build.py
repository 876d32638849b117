"""Arcs from clinical records: each rule on a hand-made pool, and the bulk path against a per-pair
oracle (:meth:`Compatibility.explain`, which checks one pair at a time with plain sets)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from possible.compatibility import AboRule, Exclusion, Rules, ScoringPolicy, build_arcs
from possible.domain import BloodGroup as G
from possible.domain import Donor, DonorStatus, Patient, PatientStatus, Pool
from possible.errors import ValidationErrors
from possible.generate.clinical import clinical_pool
from possible.hla.cpra import Panel
from possible.optimise import solve

DAY = dt.date(2026, 1, 1)
HLA = ("A1", "A2", "B8", "B44", "DR17", "DR4")


def donor(did: str, patient: str | None, group: G = G.O, **kw: object) -> Donor:
    kw.setdefault("hla", ("A3", "A11", "B7", "B35", "DR15", "DR1"))
    kw.setdefault("consent", DAY)
    return Donor(did, patient, group, **kw)  # type: ignore[arg-type]


def patient(pid: str, group: G = G.A, **kw: object) -> Patient:
    kw.setdefault("hla", HLA)
    kw.setdefault("cpra", 0.0)
    return Patient(pid, group, **kw)  # type: ignore[arg-type]


def reason(pool: Pool, did: str, pid: str, **kw: object) -> Exclusion:
    compat = build_arcs(pool, scoring="transplants", **kw)  # type: ignore[arg-type]
    i, j = pool.donor_index(did), pool.patient_index(pid)
    return Exclusion(int(compat.exclusion[i, j]))


def test_each_rule_excludes_and_explains() -> None:
    pool = Pool.build(
        [
            patient("own"),
            patient("ok"),
            patient("suspended", status=PatientStatus.SUSPENDED),
            patient("group-O", G.O),
            patient("anti-A9", unacceptable=("A9",)),
            patient("declines", declined_donors=("d-ok",)),
            patient("young-only", max_donor_age=40),
        ],
        [
            donor("d-ok", "own", age=50),
            donor("d-withdrawn", None, status=DonorStatus.WITHDRAWN),
            donor("d-no-consent", None, consent=None),
            donor("d-A", None, G.A),
            donor("d-A24", None, hla=("A*24:02", "A3", "B7", "DR15")),
        ],
    )
    assert reason(pool, "d-ok", "own") is Exclusion.OWN_DONOR
    assert reason(pool, "d-ok", "ok") is Exclusion.COMPATIBLE
    assert reason(pool, "d-withdrawn", "ok") is Exclusion.DONOR_UNAVAILABLE
    assert reason(pool, "d-no-consent", "ok") is Exclusion.DONOR_UNAVAILABLE
    assert reason(pool, "d-ok", "suspended") is Exclusion.PATIENT_UNAVAILABLE
    assert reason(pool, "d-A", "group-O") is Exclusion.BLOOD_GROUP
    assert reason(pool, "d-A24", "anti-A9") is Exclusion.UNACCEPTABLE_ANTIGEN
    assert reason(pool, "d-ok", "anti-A9") is Exclusion.COMPATIBLE
    assert reason(pool, "d-ok", "declines") is Exclusion.DECLINED
    assert reason(pool, "d-ok", "young-only") is Exclusion.DONOR_TOO_OLD
    relaxed = Rules(centre_exclusions=False)
    assert reason(pool, "d-ok", "declines", rules=relaxed) is Exclusion.COMPATIBLE
    assert reason(pool, "d-ok", "young-only", rules=relaxed) is Exclusion.COMPATIBLE

    compat = build_arcs(pool)
    assert compat.explain("d-A24", "anti-A9").reasons == (
        "unacceptable antigen A9: the donor is typed A*24:02",
    )
    assert compat.explain("d-withdrawn", "ok").reasons == ("the donor is withdrawn",)
    assert compat.explain("d-no-consent", "ok").reasons == ("the donor has no consent on record",)
    assert compat.explain("d-A", "group-O").reasons == ("blood group A cannot give to O",)
    assert compat.explain("d-ok", "young-only").reasons == (
        "donor age 50 is above the centre's limit 40",
    )
    verdict = compat.explain("d-ok", "ok")
    assert verdict.compatible
    assert verdict.reasons == ()
    assert verdict.basis == ("ABO compatible", "virtual crossmatch negative")
    assert verdict.score == pytest.approx(sum(verdict.breakdown.values()))


def test_dr51_52_53_follow_from_drb1_when_not_typed() -> None:
    pool = Pool.build(
        [patient("anti-DR52", unacceptable=("DR52",)), patient("own")],
        [
            donor("d-DR17", "own", hla=("A1", "B8", "DRB1*03:01", "DR1")),  # DR17 brings DR52
            donor("d-DR1-DR8", None, hla=("A1", "B8", "DR1", "DR8")),  # no DRB3/4/5 product
            donor("d-typed", None, hla=("A1", "B8", "DR1", "DR4", "DR53")),  # DRB4 typed
            # DR53 typed, DR52 not: DR17's DR52 is still inferred.
            donor("d-partial", None, hla=("A1", "B8", "DR17", "DR4", "DR53")),
            donor("d-DRB3", None, hla=("A1", "B8", "DR17", "DRB3*01:01")),  # DRB3 typed: stands
        ],
    )
    assert reason(pool, "d-DR17", "anti-DR52") is Exclusion.UNACCEPTABLE_ANTIGEN
    assert reason(pool, "d-DR1-DR8", "anti-DR52") is Exclusion.COMPATIBLE
    assert reason(pool, "d-typed", "anti-DR52") is Exclusion.COMPATIBLE
    assert reason(pool, "d-partial", "anti-DR52") is Exclusion.UNACCEPTABLE_ANTIGEN
    assert reason(pool, "d-DRB3", "anti-DR52") is Exclusion.UNACCEPTABLE_ANTIGEN
    assert build_arcs(pool).explain("d-DR17", "anti-DR52").reasons == (
        "unacceptable antigen DR52: the donor is typed DR52 (inferred from DRB1)",
    )


def test_a_donor_not_typed_where_the_patient_has_antibodies_is_not_crossmatch_negative() -> None:
    pool = Pool.build(
        [
            patient("anti-DQ8", unacceptable=("DQ8", "DQ7")),
            patient("anti-DPB1", unacceptable=("DPB1*04:01",)),
            patient("no-antibodies"),
            patient("own"),
        ],
        [
            donor("d-ABDR", "own", hla=("A1", "B8", "DR17")),
            donor("d-untyped", None, hla=()),
            donor("d-DQ", None, hla=("A1", "B8", "DR17", "DQ2", "DPB1*02:01")),
        ],
    )
    assert reason(pool, "d-ABDR", "anti-DQ8") is Exclusion.UNACCEPTABLE_ANTIGEN
    assert reason(pool, "d-ABDR", "anti-DPB1") is Exclusion.UNACCEPTABLE_ANTIGEN
    assert reason(pool, "d-untyped", "anti-DQ8") is Exclusion.UNACCEPTABLE_ANTIGEN
    assert reason(pool, "d-untyped", "no-antibodies") is Exclusion.COMPATIBLE
    assert reason(pool, "d-ABDR", "no-antibodies") is Exclusion.COMPATIBLE
    assert reason(pool, "d-DQ", "anti-DQ8") is Exclusion.COMPATIBLE
    assert reason(pool, "d-DQ", "anti-DPB1") is Exclusion.COMPATIBLE
    assert build_arcs(pool).explain("d-ABDR", "anti-DQ8").reasons == (
        "the donor is not typed at HLA-DQB1, where the patient has unacceptable antigens "
        "(DQ8, DQ7)",
    )


def test_a_serological_c_typing_with_one_antigen_may_hide_a_group_serology_cannot_see() -> None:
    # C*12 has no serological antigen: a donor typed only Cw7 may be Cw7 and C*12.
    pool = Pool.build(
        [patient("p", unacceptable=("C*12:03",)), patient("own")],
        [
            donor("cw7", "own", hla=(*HLA, "Cw7")),
            donor("molecular", None, hla=(*HLA, "C*07:01")),  # molecular: nothing hidden
            donor("two", None, hla=(*HLA, "Cw7", "Cw4")),  # two antigens: nothing hidden
            donor("group", None, hla=(*HLA, "C*12")),  # typed at the group: may be C*12:03
        ],
    )
    compat = build_arcs(pool, scoring="transplants")
    assert compat.explain("cw7", "p").reasons == (
        "the donor is typed at HLA-C by serology with one antigen: the other may be a group"
        " serology cannot see, as the patient's unacceptable C*12:03",
    )
    assert compat.explain("molecular", "p").compatible
    assert compat.explain("two", "p").compatible
    assert compat.explain("group", "p").reasons == (
        "unacceptable antigen C*12:03: the donor is typed C*12",
    )


def test_a2_rule_opens_arcs_only_when_switched_on() -> None:
    pool = Pool.build(
        [patient("p-O", G.O, anti_a_titre=4), patient("own")],
        [donor("d-A2", "own", G.A, subgroup="A2")],
    )
    assert reason(pool, "d-A2", "p-O") is Exclusion.BLOOD_GROUP
    rules = Rules(abo=AboRule(a2_max_titre=8))
    assert reason(pool, "d-A2", "p-O", rules=rules) is Exclusion.COMPATIBLE
    compat = build_arcs(pool, rules=rules)
    assert compat.explain("d-A2", "p-O").basis[0] == "A2 rule (low anti-A titre)"


def test_when_the_a2_rule_does_not_open_an_arc_the_reason_says_why() -> None:
    pool = Pool.build(
        [patient("high", G.O, anti_a_titre=64), patient("no-titre", G.O), patient("own")],
        [donor("d-A2", "own", G.A, subgroup="A2"), donor("d-A1", None, G.A, subgroup="A1")],
    )
    compat = build_arcs(pool, rules=Rules(abo=AboRule(a2_max_titre=8)))
    assert compat.explain("d-A2", "high").reasons == (
        "blood group A cannot give to O (A2 rule: anti-A titre 64 is above 8)",
    )
    assert compat.explain("d-A2", "no-titre").reasons == (
        "blood group A cannot give to O (A2 rule: no anti-A titre on record for the patient; "
        "at most 8)",
    )
    assert compat.explain("d-A1", "high").reasons == ("blood group A cannot give to O",)
    assert build_arcs(pool).explain("d-A2", "high").reasons == ("blood group A cannot give to O",)


def test_scores_keep_their_breakdown_and_use_mismatch_and_waiting_time() -> None:
    pool = Pool.build(
        [
            patient("p1", listed=dt.date(2023, 1, 1), age=40, cpra=0.97, matching_runs=12),
            patient("p2", listed=dt.date(2025, 1, 1), age=70, matching_runs=4),
            patient("own"),
        ],
        [
            donor("d", "own", age=45, hla=HLA),  # a full match for both patients
            donor("d1", "p1", G.AB, age=60),  # 15 years from d
            donor("d2", "p2", G.AB, age=70),  # 25 years from d
        ],
    )
    compat = build_arcs(pool, scoring="uk", as_of=dt.date(2026, 1, 1))
    arcs = compat.pool.arcs
    got = {
        compat.pool.patients[int(p)].id: {k: float(v[k2]) for k, v in arcs.parts.items()}
        for k2, p in enumerate(arcs.patient)
    }
    assert got["p1"] == {
        "transplant": 1.0,
        "sensitisation": 10.0,
        "waiting time": 3.0,  # 12 earlier runs
        "HLA mismatch": 10.0,  # level 1: 000
        "age difference": 3.0,
    }
    assert got["p2"]["sensitisation"] == 0.0
    assert got["p2"]["age difference"] == 0.0  # the donors 25 years apart: no bonus
    assert got["p2"]["waiting time"] == 1.0
    assert compat.facts.values["waiting_years"][0] == pytest.approx(3.0, abs=0.01)
    assert compat.unscored() == {}
    assert np.allclose(arcs.score, sum(arcs.parts.values()))
    assert compat.explain("d", "p1").mismatch == ("000", 1)


def test_mismatch_is_explained_per_locus() -> None:
    pool = Pool.build(
        [patient("p", hla=("A1", "A2", "B8", "B44", "DR17", "DR4")), patient("own")],
        [donor("d", "own", hla=("A1", "A3", "B7", "B57", "DR4"))],
    )
    assert build_arcs(pool).explain("d", "p").mismatch == ("120", 3)  # 0 DR, 2 B: level 3
    untyped = Pool.build([patient("p", hla=()), patient("own")], [donor("d", "own")])
    assert build_arcs(untyped).explain("d", "p").mismatch == ("???", 0)


def test_abo_inclusive_cpra_is_a_switch() -> None:
    panel = Panel(
        (("A1", "A2"), ("A2", "A3"), ("A3", "A11"), ("A1", "A24")),
        (G.O, G.A, G.B, G.O),
        "hand",
    )
    pool = Pool.build([Patient("p", G.O, unacceptable=("A24",))], [donor("d", "p")])
    assert build_arcs(pool, panel=panel).pool.patients[0].cpra == 0.25
    rules = Rules(cpra_with_abo=True)
    assert build_arcs(pool, panel=panel, rules=rules).pool.patients[0].cpra == 0.75


def test_cpra_is_computed_only_where_not_recorded() -> None:
    panel = Panel((("A1", "A2"), ("A2", "A3"), ("A3", "A11"), ("A1", "A24")), None, "hand")
    pool = Pool.build(
        [
            Patient("given", G.A, cpra=0.4, unacceptable=("A2",)),
            Patient("computed", G.A, unacceptable=("A2",)),
        ],
        [donor("d", "given")],
    )
    compat = build_arcs(pool, panel=panel)
    assert [p.cpra for p in compat.pool.patients] == [0.5, 0.4]  # sorted: computed, given
    assert compat.cpra_computed == frozenset({"computed"})


def test_a_computed_cpra_is_in_whole_percent_so_the_value_shown_is_the_value_scored() -> None:
    # 5,051 of 5,317 panel donors ruled out is 0.94997: shown as 95 %, it must score as 95 %.
    panel = Panel((("A2", "B8"),) * 5051 + (("A1", "B8"),) * 266, None, "5,317 donors")
    pool = Pool.build(
        [patient("p", cpra=None, unacceptable=("A2",)), patient("own")],
        [donor("d", "own")],  # typed A3, A11: no A2
    )
    compat = build_arcs(pool, panel=panel, scoring="uk")
    assert compat.pool.patients[compat.pool.patient_index("p")].cpra == 0.95
    assert compat.explain("d", "p").breakdown["sensitisation"] == 10.0  # the top band


def test_a_proposal_says_what_its_points_were_counted_from_and_whence_the_cpra() -> None:
    panel = Panel((("A1", "A2"), ("A2", "A3"), ("A3", "A11"), ("A1", "A24")), None, "hand")
    pool = Pool.build(
        [
            patient("p1", cpra=None, unacceptable=("A2",), matching_runs=8),  # cPRA 2/4
            patient("p2", cpra=0.3, matching_runs=2),
        ],
        [donor("d1", "p1", age=50), donor("d2", "p2", age=60)],
    )
    compat = build_arcs(pool, panel=panel, rules=Rules(cpra_with_abo=False))
    result = compat.explain_result(solve(compat.pool, max_cycle=2, max_chain=0))
    (exchange,) = result.exchanges
    facts = {t.patient: dict(t.facts) for t in exchange.transplants}
    # Only the facts the uk policy scores; d2 -> p1 is scored against p1's own donor d1.
    assert facts["p1"] == {
        "cpra": 0.5,
        "matching_runs": 8.0,
        "mismatch_level": 4.0,  # 2-2-2 mismatched
        "donor_age_difference": 10.0,
    }
    assert facts["p2"]["cpra"] == 0.3
    assert result.policy["cpra_computed_for"] == ["p1"]
    assert result.policy["cpra_panel"] == "hand"
    assert result.policy["cpra_panel_digest"] == panel.digest()
    assert result.policy["cpra_with_abo"] is False
    verdict = compat.explain("d2", "p1")
    assert verdict.sensitisation == (0.5, "computed from the unacceptable antigens, against hand")
    assert verdict.facts["cpra"] == 0.5
    assert verdict.facts["donor_age"] == 60.0  # every known fact, not only the scored ones
    summary = compat.patient_summary("p2")
    assert (summary["cpra"], summary["cpra_source"]) == (0.3, "recorded")


def test_the_uk_objective_counts_the_age_term_once_where_the_policy_scores_it() -> None:
    # A swap whose donors are 5 years apart: the uk policy gives each arc its 3 age points,
    # and the UK hierarchy's score level must not add its own age bonus on top.
    pool = Pool.build(
        [patient("p1", G.O), patient("p2", G.O)],
        [donor("d1", "p1", age=40.0, hla=HLA), donor("d2", "p2", age=45.0, hla=HLA)],
    )
    compat = build_arcs(pool, scoring="uk")
    assert compat.pool.age_scored
    result = solve(compat.pool, max_cycle=2, max_chain=0, objective="uk")
    scores = [t.score for e in result.exchanges for t in e.transplants]
    assert [
        dict(t.breakdown)["age difference"] for e in result.exchanges for t in e.transplants
    ] == [3.0, 3.0]
    assert result.levels[-1].name == "uk.score"
    assert result.levels[-1].value == pytest.approx(sum(scores))
    # A policy without the age term leaves it to the objective, as for given arcs.
    plain = build_arcs(pool, scoring="transplants")
    assert not plain.pool.age_scored
    result = solve(plain.pool, max_cycle=2, max_chain=0, objective="uk")
    assert result.levels[-1].value == pytest.approx(2 + 2 * (3 + round(1e-5 * 65**2, 5)))


def test_all_bad_hla_names_are_reported_together() -> None:
    pool = Pool.build(
        [Patient("p1", G.A, hla=("A2", "A99")), Patient("p2", G.A, unacceptable=("B*4x:01",))],
        [Donor("d1", "p1", G.O, hla=("DRB9*01:01",), consent=DAY)],
    )
    with pytest.raises(ValidationErrors) as info:
        build_arcs(pool)
    lines = info.value.lines()
    assert len(lines) == 3
    assert "record 'd1': field 'hla[0]'" in lines[0]
    assert "record 'p2': field 'unacceptable[0]'" in lines[1]
    assert "record 'p1': field 'hla[1]'" in lines[2]


def test_a_run_date_before_a_listing_is_refused_for_every_such_patient() -> None:
    pool = Pool.build(
        [
            patient("p1", listed=dt.date(2024, 3, 1)),
            patient("p2", listed=dt.date(2019, 1, 1), dialysis_start=dt.date(2020, 6, 1)),
        ],
        [donor("d1", "p1"), donor("d2", "p2")],
    )
    with pytest.raises(ValidationErrors) as info:
        build_arcs(pool, as_of=dt.date(2020, 1, 1))
    assert info.value.lines() == [
        "record 'p1': field 'listed': 2024-03-01 is after the run date 2020-01-01",
        "record 'p2': field 'dialysis_start': 2020-06-01 is after the run date 2020-01-01",
    ]


def test_bw4_and_bw6_in_typings_do_not_change_the_mismatch() -> None:
    typing = ("A1", "A2", "B44", "Bw4", "B8", "Bw6", "DR4", "DR17")
    pool = Pool.build([patient("p1", hla=typing), patient("own")], [donor("d", "own", hla=typing)])
    compat = build_arcs(pool, scoring="uk")
    assert compat.explain("d", "p1").mismatch == ("000", 1)
    assert compat.explain("d", "p1").breakdown["HLA mismatch"] == 10.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_arcs_agree_with_the_per_pair_oracle(seed: int) -> None:
    pool = clinical_pool(25, seed=seed)
    compat = build_arcs(pool, rules=Rules(abo=AboRule(a2_max_titre=8)))
    arcs = {
        (int(d), int(p))
        for d, p in zip(compat.pool.arcs.donor, compat.pool.arcs.patient, strict=True)
    }
    for i, d in enumerate(pool.donors):
        for j, p in enumerate(pool.patients):
            verdict = compat.explain(d.id, p.id)
            assert verdict.compatible == (not verdict.reasons), (d.id, p.id)
            assert ((i, j) in arcs) == verdict.compatible, (d.id, p.id, verdict.reasons)


def test_the_run_date_is_the_pools_and_else_the_latest_listing_or_dialysis_date() -> None:
    listed = dt.date(2024, 1, 1)
    pool = Pool.build(
        [patient("p1", listed=listed, dialysis_start=dt.date(2025, 6, 1)), patient("own")],
        [donor("d", "own", consent=listed)],
    )
    policy = ScoringPolicy.from_mapping(
        {"name": "t", "component": [{"name": "dialysis", "fact": "dialysis_years", "per_unit": 1}]}
    )
    # No run date: the latest date in the pool (the dialysis start), never a negative time.
    compat = build_arcs(pool, scoring=policy)
    assert compat.as_of == dt.date(2025, 6, 1)
    assert compat.explain("d", "p1").breakdown == {"dialysis": 0.0}
    dated = dataclasses.replace(pool, as_of=dt.date(2026, 6, 1))
    compat = build_arcs(dated, scoring=policy)
    assert compat.as_of == dt.date(2026, 6, 1)
    assert compat.explain("d", "p1").breakdown["dialysis"] == pytest.approx(1.0, abs=0.01)


def test_consent_dated_after_the_run_date_does_not_count_yet() -> None:
    later = dt.date(2026, 6, 1)
    pool = Pool.build(
        [patient("p1"), patient("own")],
        [donor("d-later", "own", consent=later), donor("d-now", None, consent=DAY)],
    )
    compat = build_arcs(pool, as_of=DAY)
    assert Exclusion(int(compat.exclusion[0, 1])) is Exclusion.DONOR_UNAVAILABLE
    assert compat.explain("d-later", "p1").reasons == (
        "the donor's consent is dated 2026-06-01, after the run date 2026-01-01",
    )
    assert compat.explain("d-now", "p1").compatible
    assert not build_arcs(pool, as_of=later).explain("d-later", "p1").reasons


def test_age_limits_count_completed_years_and_an_unknown_age_is_not_within_a_limit() -> None:
    pool = Pool.build(
        [patient("limit-60", max_donor_age=60), patient("no-limit"), patient("own")],
        [
            donor("d-60.6", "own", age=60.6),
            donor("d-61", None, age=61.0),
            donor("d-unknown", None),
        ],
    )
    assert reason(pool, "d-60.6", "limit-60") is Exclusion.COMPATIBLE
    assert reason(pool, "d-61", "limit-60") is Exclusion.DONOR_TOO_OLD
    assert reason(pool, "d-unknown", "limit-60") is Exclusion.DONOR_TOO_OLD
    assert reason(pool, "d-unknown", "no-limit") is Exclusion.COMPATIBLE
    assert build_arcs(pool).explain("d-unknown", "limit-60").reasons == (
        "the donor's age is not recorded; the centre's limit is 60",
    )


def test_a_pools_own_run_date_before_a_listing_scores_no_waiting_and_does_not_fail() -> None:
    # A registry snapshot is dated the day it is taken; a patient may be entered ahead of
    # their listing. Only a run date asked for explicitly is checked against listings.
    pool = Pool.build(
        [patient("p1", listed=dt.date(2026, 2, 1)), patient("own")],
        [donor("d", "own", consent=dt.date(2025, 1, 1))],
        as_of=DAY,
    )
    compat = build_arcs(pool)
    assert compat.explain("d", "p1").breakdown["waiting time"] == 0.0
    with pytest.raises(ValidationErrors, match="after the run date"):
        build_arcs(pool, as_of=DAY)


def test_the_pool_build_arcs_returns_carries_the_run_date_it_used() -> None:
    later = dt.date(2026, 6, 1)
    pool = Pool.build(
        [patient("p1"), patient("own")],
        [donor("d", "own", consent=dt.date(2026, 3, 1)), donor("n", None, consent=DAY)],
        as_of=DAY,
    )
    compat = build_arcs(pool, as_of=later)
    assert compat.pool.as_of == later
    # So the solver reads consent against the same date: d's consent (March) counts.
    from possible.graph import build_graph

    graph = build_graph(compat.pool)
    assert graph.n_pairs == 1  # the pair of "own", whose donor d may give


def test_the_uk_age_bonus_compares_the_two_donors_at_most_twenty_years_apart() -> None:
    # The UK compares the donor giving with the patient's own donor, who gives onward, in
    # completed years: 20 years apart earns the bonus, 21 does not. The patients' own ages
    # (here 80) play no part.
    pool = Pool.build(
        [
            patient("p20", age=80),
            patient("p21", age=80),
            patient("closest", age=80),
            patient("withdrawn-own", age=80),
            patient("no-donor", age=80),
            patient("own"),
        ],
        [
            donor("d", "own", age=45.9),
            donor("d-p20", "p20", G.AB, age=65.5),
            donor("d-p21", "p21", G.AB, age=66.0),
            donor("far", "closest", G.AB, age=70),
            donor("near", "closest", G.AB, age=50),
            donor("gone", "withdrawn-own", G.AB, age=45, status=DonorStatus.WITHDRAWN),
            donor("ndd", None, age=40),
        ],
    )
    compat = build_arcs(pool, scoring="uk")

    def bonus(did: str, pid: str) -> float:
        return compat.explain(did, pid).breakdown["age difference"]

    assert bonus("d", "p20") == 3.0  # 45 and 65 in completed years
    assert bonus("d", "p21") == 0.0  # 45 and 66
    assert bonus("d", "closest") == 3.0  # scored with "near", who may give onward
    assert bonus("d", "withdrawn-own") == 0.0  # a withdrawn donor gives nothing onward
    assert bonus("d", "no-donor") == 0.0  # no second donor to compare with
    assert bonus("ndd", "p20") == 0.0  # 40 and 65
    assert bonus("ndd", "closest") == 3.0  # 40 and 50
    facts = compat.facts.values["donor_age_difference"]
    arcs = compat.pool.arcs
    by_arc = {
        (compat.pool.donors[int(i)].id, compat.pool.patients[int(j)].id): float(v)
        for i, j, v in zip(arcs.donor, arcs.patient, facts, strict=True)
    }
    assert by_arc[("d", "closest")] == 5.0
    assert math.isnan(by_arc[("d", "no-donor")])


def test_consent_is_checked_against_a_real_run_date_only() -> None:
    # No run date: waiting time counts to the latest listing, but that says nothing about
    # when a donor may have agreed, so a consent recorded later still counts.
    pool = Pool.build(
        [patient("p1", listed=dt.date(2025, 6, 1)), patient("own")],
        [donor("n", None, consent=dt.date(2025, 9, 1)), donor("d", "own")],
    )
    compat = build_arcs(pool)
    assert compat.as_of == dt.date(2025, 6, 1)
    assert compat.pool.as_of is None
    assert compat.explain("n", "p1").compatible


def test_arcs_built_from_birth_dates_without_a_run_date_write_and_read_back() -> None:
    from possible.formats.pool_json import pool_json_text, read_pool_json

    pool = Pool.build(
        [patient("p1", listed=dt.date(2024, 6, 1), max_donor_age=60), patient("own")],
        [donor("d", "own", age=59.0, date_of_birth=dt.date(1960, 1, 1))],
    )
    compat = build_arcs(pool, scoring="transplants")
    assert compat.explain("d", "p1").compatible
    again = read_pool_json(pool_json_text(compat.pool))
    assert again.donors[0].age == 59.0
