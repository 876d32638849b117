"""The command line, run in-process through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from possible.cli import app
from possible.formats import read_pool
from possible.hla.cpra import Panel, cpra

GOLDEN = Path(__file__).parent / "formats" / "golden"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_solve_example_prints_a_summary(runner: CliRunner) -> None:
    result = runner.invoke(app, ["solve", "--example"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Matching run: optimal")
    assert "transplants in" in result.stdout
    assert "patients unmatched" in result.stdout


def test_solve_json_has_the_documented_keys(runner: CliRunner) -> None:
    result = runner.invoke(app, ["solve", "--example", "--json", "--objective", "uk"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for key in ("status", "objective", "bound", "exchanges", "unmatched", "timings", "solver"):
        assert key in doc
    assert doc["status"] == "optimal"
    assert len(doc["objective"]) == 5
    assert {"read", "graph", "enumerate", "model", "solve", "total"} <= set(doc["timings"])
    for exchange in doc["exchanges"]:
        assert exchange["kind"] in ("cycle", "chain")
        for t in exchange["transplants"]:
            assert set(t) == {"donor", "patient", "score"}
        if exchange["kind"] == "chain":
            assert exchange["to_waiting_list"]


def test_solve_json_is_the_same_bytes_on_every_run(runner: CliRunner) -> None:
    def run() -> dict[str, object]:
        out = runner.invoke(app, ["solve", "--example", "--json", "--max-chain", "3"])
        assert out.exit_code == 0, out.output
        doc: dict[str, object] = json.loads(out.stdout)
        doc.pop("timings")
        return doc

    first, second = run(), run()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    # Without the seconds, the very bytes are the same.
    args = ["solve", "--example", "--json", "--objective", "uk", "--no-timings"]
    outputs = {runner.invoke(app, args).stdout for _ in range(3)}
    assert len(outputs) == 1
    assert "timings" not in json.loads(outputs.pop())


def test_solve_reads_a_peer_format_and_writes_the_result(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["solve", str(GOLDEN / "kep_v1.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["status"] == "optimal"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"data": {"1": {"sources": [], "bloodgroup": "Q", "matches": []}}, "recipients": {}}',
            "unknown blood group",
        ),
        ("hello, this is not a pool\n", "not a known pool format"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(
    runner: CliRunner, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(content)
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["solve", str(bad), "-o", str(out)])
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("possible: error: ")
    assert str(bad) in line
    assert message in line
    assert not out.exists(), "nothing is written when the command fails"


def test_a_missing_file_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["solve", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    result = runner.invoke(app, ["solve", str(tmp_path)])
    assert result.exit_code == 2
    assert "a directory, not a pool file" in result.stderr
    result = runner.invoke(app, ["solve", "--example", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"possible: error: {tmp_path}: a directory"


def test_solve_needs_a_file_or_the_example(runner: CliRunner) -> None:
    result = runner.invoke(app, ["solve"])
    assert result.exit_code == 2
    assert "--example" in result.stderr


def test_an_impossible_policy_is_refused(runner: CliRunner) -> None:
    result = runner.invoke(app, ["solve", "--example", "--max-chain", "-1"])
    assert result.exit_code == 2
    assert "max_chain" in result.stderr


def test_unbounded_chains_are_asked_for_by_name(runner: CliRunner) -> None:
    out = runner.invoke(app, ["solve", "--example", "--json", "--max-chain", "unbounded"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["status"] == "optimal"
    assert doc["policy"]["max_chain"] is None
    capped = runner.invoke(app, ["solve", "--example", "--json", "--max-chain", "3"])
    assert json.loads(capped.stdout)["transplants"] <= doc["transplants"]
    summary = runner.invoke(app, ["solve", "--example", "--max-chain", "Unbounded"])
    assert "max chain unbounded" in summary.stdout


@pytest.mark.parametrize(
    ("cap", "objective", "message"),
    [
        ("lots", "transplants", "--max-chain must be a whole number or 'unbounded'"),
        ("unbounded", "uk", "unbounded chains are not offered with the UK hierarchy"),
    ],
)
def test_an_unknown_or_unsupported_chain_cap_is_refused(
    runner: CliRunner, cap: str, objective: str, message: str
) -> None:
    result = runner.invoke(
        app, ["solve", "--example", "--max-chain", cap, "--objective", objective]
    )
    assert result.exit_code == 2
    assert message in result.stderr


def test_generate_writes_a_seeded_pool(runner: CliRunner, tmp_path: Path) -> None:
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        result = runner.invoke(
            app,
            ["generate", "--patients", "30", "--ndd-share", "0.1", "--seed", "7", "-o", str(path)],
        )
        assert result.exit_code == 0, result.output
    assert paths[0].read_bytes() == paths[1].read_bytes()
    pool = read_pool(paths[0])
    assert len(pool.patients) == 30
    assert sum(d.non_directed for d in pool.donors) == 3


def test_generate_kep_format_reads_back(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "kep.json"
    result = runner.invoke(
        app, ["generate", "--patients", "20", "--seed", "1", "--format", "kep", "-o", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert len(read_pool(path).patients) == 20


def test_generate_refuses_impossible_shares_in_one_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "pool.json"
    result = runner.invoke(
        app, ["generate", "--patients", "5", "--seed", "1", "--ndd-share", "-1", "-o", str(path)]
    )
    assert result.exit_code == 2
    assert "possible: error: ndd_share must be" in result.stderr
    assert not path.exists()


def test_clinical_pool_end_to_end(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "clinical.json"
    args = ["generate", "--clinical", "--patients", "40", "--seed", "3", "-o", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "arcs derived at solve time" in result.stderr
    assert read_pool(path).clinical_arcs
    result = runner.invoke(app, ["solve", str(path), "--json", "--objective", "score"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "optimal"
    assert doc["policy"]["scoring"] == "uk"
    assert len(doc["policy"]["scoring_digest"]) == 16  # which table, not only its name
    assert doc["policy"]["as_of"] == "2026-01-01"
    assert "compatibility" in doc["timings"]
    transplants = [t for e in doc["exchanges"] for t in e["transplants"]]
    assert transplants
    for t in transplants:
        assert set(t["breakdown"]) == {
            "transplant", "sensitisation", "waiting time", "HLA mismatch", "age difference"
        }  # fmt: skip
        assert abs(sum(t["breakdown"].values()) - t["score"]) < 1e-9
    assert "gave no points" not in result.stderr  # generated pools record matching runs
    # The same file and policy give the same result, byte for byte.
    again = runner.invoke(app, ["solve", str(path), "--json", "--objective", "score"])
    strip = [json.loads(r.stdout) for r in (result, again)]
    for d in strip:
        del d["timings"]
    assert strip[0] == strip[1]


def test_a_scoring_component_whose_fact_no_record_holds_is_reported(
    runner: CliRunner, tmp_path: Path
) -> None:
    # The uk policy counts waiting in matching runs; a file that records none gets no waiting
    # points, and says so rather than scoring everyone zero in silence.
    path = tmp_path / "clinical.json"
    args = ["generate", "--clinical", "--patients", "30", "--seed", "3", "-o", str(path)]
    assert runner.invoke(app, args).exit_code == 0
    doc = json.loads(path.read_text())
    for patient in doc["patients"]:
        del patient["matching_runs"]
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["solve", str(path), "--json", "--objective", "score"])
    assert result.exit_code == 0, result.output
    assert (
        "note: scoring component 'waiting time' gave no points: 'matching_runs' is not known"
        in result.stderr
    )
    for e in json.loads(result.stdout)["exchanges"]:
        assert all(t["breakdown"]["waiting time"] == 0 for t in e["transplants"])


def test_clinical_pool_with_transplants_scoring(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "clinical.json"
    runner.invoke(
        app, ["generate", "--clinical", "--patients", "20", "--seed", "1", "-o", str(path)]
    )
    result = runner.invoke(app, ["solve", str(path), "--json", "--scoring", "transplants"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    scores = {t["score"] for e in doc["exchanges"] for t in e["transplants"]}
    assert scores <= {1}


def test_an_unrecorded_cpra_is_computed_with_abo_when_asked_and_shown(
    runner: CliRunner, tmp_path: Path
) -> None:
    doc = json.loads((GOLDEN / "clinical_pool.json").read_text())
    first = doc["patients"][0]
    first.pop("cpra", None)
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(doc))
    cpras = []
    for extra in ([], ["--cpra-with-abo"]):
        result = runner.invoke(app, ["explain", str(path), first["id"], "--json", *extra])
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert shown["cpra_source"].startswith("computed from the unacceptable antigens")
        assert ("blood group included" in shown["cpra_source"]) == bool(extra)
        cpras.append(shown["cpra"])
        result = runner.invoke(app, ["solve", str(path), "--json", "--no-timings", *extra])
        policy = json.loads(result.stdout)["policy"]
        assert policy["cpra_computed_for"] == [p["id"] for p in doc["patients"] if "cpra" not in p]
        assert policy["cpra_with_abo"] is bool(extra)
    assert cpras[1] >= cpras[0]  # ABO can only rule out more panel donors
    text = runner.invoke(app, ["explain", str(path), first["id"]]).stdout
    assert f"  cPRA {cpras[0]:.1%} (computed from the unacceptable antigens" in text


def test_cpra_with_abo_and_a_panel_without_blood_groups_is_a_clear_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    panel = tmp_path / "panel.json"
    panel.write_text(json.dumps({"source": "typings only", "donors": [{"hla": ["A1", "B8"]}]}))
    pool = _tiny_clinical_pool(tmp_path)  # no patient has a recorded cPRA
    result = runner.invoke(app, ["solve", str(pool), "--panel", str(panel), "--cpra-with-abo"])
    assert result.exit_code == 2
    assert "a cPRA with blood group needs a panel with blood groups" in result.stderr
    assert "Traceback" not in result.output


def test_a_points_table_with_several_bad_lines_lists_each(
    runner: CliRunner, tmp_path: Path
) -> None:
    table = tmp_path / "mine.toml"
    table.write_text(
        'name = "mine"\n'
        '[[component]]\nname = "a"\nfact = "height"\nper_unit = 1\n'
        '[[component]]\nname = "b"\npoints = -2\n'
    )
    pool = GOLDEN / "clinical_pool.json"
    result = runner.invoke(app, ["solve", str(pool), "--scoring", str(table)])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("possible: error:")]
    assert len(errors) == 2
    assert "component 'a': unknown fact 'height'" in errors[0]
    assert "component 'b': points must be >= 0" in errors[1]


def test_clinical_pool_with_bad_hla_lists_every_problem(runner: CliRunner, tmp_path: Path) -> None:
    doc = json.loads((GOLDEN / "clinical_pool.json").read_text())
    doc["patients"][0]["hla"].append("A*99:99:99:99:99")
    doc["donors"][2]["hla"] = ["Zz1"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["solve", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("possible: error: ") for line in lines)
    assert "record 'P1': field 'hla[6]'" in lines[0]
    assert "record 'N1': field 'hla[0]'" in lines[1]


def test_generate_clinical_needs_pool_format(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    args = ["generate", "--clinical", "--patients", "5", "--seed", "1", "--format", "kep"]
    result = runner.invoke(app, [*args, "-o", str(path)])
    assert result.exit_code == 2
    assert "pool JSON only" in result.stderr


def test_serve_refuses_demo_data_in_production(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSSIBLE_ENVIRONMENT", "production")
    monkeypatch.setenv("POSSIBLE_SECRET_KEY", "s" * 40)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(app, ["serve", "--demo", "--database", url])
    assert result.exit_code == 2
    assert "--demo is for development" in result.stderr


def test_serve_refuses_the_default_secret_in_production(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSSIBLE_ENVIRONMENT", "production")
    monkeypatch.delenv("POSSIBLE_SECRET_KEY", raising=False)
    result = runner.invoke(app, ["serve", "--database", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2
    assert "refusing to start in production" in result.stderr


def _tiny_clinical_pool(tmp_path: Path, **top: object) -> Path:
    doc = {
        "format": "possible.pool",
        "version": 2,
        "patients": [
            {"id": "p1", "blood_group": "O", "unacceptable": ["A2"], "hla": ["A1", "B8"]},
            {"id": "p2", "blood_group": "A", "hla": ["A2", "B7"]},
        ],
        "donors": [
            {"id": "d1", "patient": "p1", "blood_group": "A", "hla": ["A1", "B8"],
             "consent": "2026-01-01"},
            {"id": "d2", "patient": "p2", "blood_group": "O", "hla": ["A2", "B7"],
             "consent": "2026-01-01"},
        ],
        **top,
    }  # fmt: skip
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    return path


def test_explain_says_why_a_transplant_is_ruled_out_or_possible(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _tiny_clinical_pool(tmp_path)
    result = runner.invoke(app, ["explain", str(path), "p1", "d2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "d2 -> p1: ruled out",
        "  - unacceptable antigen A2: the donor is typed A2",
    ]
    result = runner.invoke(app, ["explain", str(path), "p2", "d1", "--json"])
    doc = json.loads(result.stdout)
    assert doc["compatible"] is True
    assert doc["basis"] == ["ABO compatible", "virtual crossmatch negative"]
    assert doc["score"] == pytest.approx(sum(doc["breakdown"].values()))
    assert doc["mismatch"] == {"a_b_dr": "11?", "level": 0}  # DR typed on neither side
    shipped = Panel.shipped()
    shipped_cpra = round(float(cpra([["A2"]], shipped)[0]), 2)  # whole percent, as a cRF
    result = runner.invoke(app, ["explain", str(path), "p1", "--json"])
    assert json.loads(result.stdout) == {
        "patient": "p1",
        "status": "active",
        "own_donors": {"d1": []},
        "can_join_an_exchange": True,
        "compatible_donors": [],
        "compatible_but_cannot_give": {},
        "excluded": {"unacceptable_antigen": 1},
        "cpra": shipped_cpra,
        "cpra_source": "computed from the unacceptable antigens, against shipped panel "
        f"{shipped.source.removeprefix('shipped panel ')}",
    }
    result = runner.invoke(app, ["explain", str(path), "p1", "d1"])
    assert "patient's cPRA" not in result.stdout  # shown where it scores: a possible arc
    result = runner.invoke(app, ["explain", str(path), "p9"])
    assert result.exit_code == 2
    assert "no patient 'p9'" in result.stderr


def test_solve_says_how_many_donors_each_rule_ruled_out_for_a_patient_with_none(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["solve", str(_tiny_clinical_pool(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    unmatched = {u["patient"]: u for u in json.loads(result.stdout)["unmatched"]}
    assert unmatched["p1"] == {
        "patient": "p1",
        "reason": "no_compatible_donor",
        "excluded": {"unacceptable_antigen": 1},
    }
    assert "excluded" not in unmatched["p2"]
    # Neither patient has a recorded cPRA, so the run names the panel that computed it.
    policy = json.loads(result.stdout)["policy"]
    assert policy["cpra_panel"] == Panel.shipped().source
    assert policy["cpra_panel_digest"] == Panel.shipped().digest()


def test_a_run_date_on_the_command_line_gives_ages_from_dates_of_birth(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _tiny_clinical_pool(tmp_path)
    doc = json.loads(path.read_text())
    doc["patients"][1]["date_of_birth"] = "1980-01-01"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["solve", str(path)])
    assert result.exit_code == 2
    assert "needs the run date" in result.stderr
    result = runner.invoke(app, ["solve", str(path), "--as-of", "2026-01-01", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["policy"]["as_of"] == "2026-01-01"


def test_explain_a_patient_whose_donor_withdrew_and_a_donor_whose_patient_is_suspended(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _tiny_clinical_pool(tmp_path)
    doc = json.loads(path.read_text())
    doc["donors"][0]["status"] = "withdrawn"  # p1's only donor
    doc["patients"].append({"id": "p3", "blood_group": "O", "status": "suspended"})
    doc["donors"].append({"id": "d3", "patient": "p3", "blood_group": "O", "hla": ["A3", "B7"],
                          "consent": "2026-01-01"})  # fmt: skip
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["explain", str(path), "p1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        "p1: active",
        "  own donor d1: the donor is withdrawn",
        "  cannot join an exchange (not active, or no own donor who may give)",
    ]
    summary = json.loads(runner.invoke(app, ["explain", str(path), "p2", "--json"]).stdout)
    assert summary["compatible_but_cannot_give"] == {"d3": "their patient p3 is suspended"}
    assert "d3" not in summary["compatible_donors"]


def test_clinical_options_on_a_pool_with_given_arcs_are_refused(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        ["solve", str(GOLDEN / "kep_v2.json"), "--scoring", "transplants", "--a2-max-titre", "8"],
    )
    assert result.exit_code == 2
    assert "--scoring and --a2-max-titre apply to clinical pools only" in result.stderr


def test_a_files_own_run_date_before_a_listing_is_not_an_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _tiny_clinical_pool(tmp_path, as_of="2025-12-01")
    doc = json.loads(path.read_text())
    doc["patients"][1]["listed"] = "2026-01-15"  # entered ahead of the listing
    for d in doc["donors"]:
        d["consent"] = "2025-11-01"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["solve", str(path), "--json", "--no-timings"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["solve", str(path), "--as-of", "2026-01-01"])
    assert result.exit_code == 2
    assert "after the run date 2026-01-01" in result.stderr


def test_python_dash_m_runs_the_same_command_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "possible", "solve", "--example", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "optimal"
