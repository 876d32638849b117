"""Draw the benchmark instances with kep_solver's own UK generator.

Each instance is drawn by ``uk_nhs_generator2022()`` (Delorme et al. 2022, the generator kep_solver
publishes) with ``n`` patients and ``round(0.05 * n)`` non-directed donors, after
``random.seed(seed)``, and written as kep_solver JSON version 1 to
``bench/instances/uk_{n}_{seed}.json``.

The generator gives donors no age, and kep_solver's own writer wants integer ids, so the file
is written here: ids stay the generator's strings (``R12``, ``R12_D1``, ``NDD3``), and every donor
gets an age drawn from a separate ``random.Random`` (so the compatibility draw is exactly
kep_solver's). Every file is read back with ``kep_solver.fileio.read_json`` and its counts
checked.

Run with the benchmark's venv (``bash bench/setup.sh`` first)::

    bench/.venv/bin/python bench/make_instances.py
    bench/.venv/bin/python bench/make_instances.py --sizes 250 500 --seeds 1
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INSTANCES = HERE / "instances"
SIZES = (250, 500, 1000, 2000)
SEEDS = (1, 2)
NDD_SHARE = 0.05
MIN_AGE, MAX_AGE = 18, 70


def instance_path(n: int, seed: int, out: Path = INSTANCES) -> Path:
    """Where the instance with `n` patients drawn with `seed` lives.

    Parameters
    ----------
    n
        Number of patients.
    seed
        Seed given to ``random.seed`` before the draw.
    out
        Directory of the instances.

    Returns
    -------
    Path
        ``out / f"uk_{n}_{seed}.json"``.
    """
    return out / f"uk_{n}_{seed}.json"


def draw(n: int, seed: int) -> dict[str, Any]:
    """Draw one instance with kep_solver's UK generator and return it as kep_solver JSON v1.

    Parameters
    ----------
    n
        Number of patients (kep_solver: recipients).
    seed
        Seed for python's ``random`` (which kep_solver's generator draws from) and, separately,
        for the donor ages.

    Returns
    -------
    dict
        ``{"data": {donor_id: ...}, "recipients": {patient_id: ...}}``, with string ids.
    """
    from kep_solver.published_generators import uk_nhs_generator2022

    random.seed(seed)
    instance = uk_nhs_generator2022().draw(n, round(NDD_SHARE * n))
    # Ages come from their own stream: the generator's draws stay exactly kep_solver's.
    ages = random.Random(f"possible-bench-dage-{n}-{seed}")
    data: dict[str, dict[str, Any]] = {}
    recipients: dict[str, dict[str, Any]] = {}
    for donor in instance.allDonors():
        entry: dict[str, Any] = {
            "sources": [],
            "bloodgroup": str(donor.bloodGroup),
            "dage": ages.randint(MIN_AGE, MAX_AGE),
            "matches": [
                {"recipient": str(t.recipient.id), "score": t.weight} for t in donor.transplants()
            ],
        }
        if donor.NDD:
            entry["altruistic"] = True
        else:
            patient = donor.recipient
            entry["sources"] = [str(patient.id)]
            recipients[str(patient.id)] = {
                "cPRA": patient.cPRA,
                "bloodgroup": str(patient.bloodGroup),
            }
        data[str(donor.id)] = entry
    for patient in instance.allRecipients():
        recipients.setdefault(
            str(patient.id), {"cPRA": patient.cPRA, "bloodgroup": str(patient.bloodGroup)}
        )
    return {"data": data, "recipients": recipients}


def counts(doc: dict[str, Any]) -> dict[str, int]:
    """Patients, paired donors, non-directed donors and arcs of a kep_solver JSON v1 document.

    Parameters
    ----------
    doc
        The parsed document.

    Returns
    -------
    dict
        Keys ``patients``, ``paired_donors``, ``ndds``, ``arcs``.
    """
    donors = doc["data"].values()
    ndds = sum(1 for d in donors if not d.get("sources"))
    return {
        "patients": len(doc["recipients"]),
        "paired_donors": len(donors) - ndds,
        "ndds": ndds,
        "arcs": sum(len(d.get("matches", [])) for d in donors),
    }


def check_with_kep(path: Path, expected: dict[str, int]) -> None:
    """Read `path` back with kep_solver's reader and compare its counts with `expected`.

    Parameters
    ----------
    path
        The written instance.
    expected
        What :func:`counts` says the file holds.

    Raises
    ------
    SystemExit
        If kep_solver reads different counts.
    """
    from kep_solver.fileio import read_json

    instance = read_json(str(path))
    donors = list(instance.allDonors())
    got = {
        "patients": len(instance.allRecipients()),
        "paired_donors": sum(1 for d in donors if not d.NDD),
        "ndds": sum(1 for d in donors if d.NDD),
        "arcs": sum(len(d.transplants()) for d in donors),
    }
    if got != expected:
        sys.exit(f"{path.name}: kep_solver reads {got}, expected {expected}")


def main(argv: list[str] | None = None) -> int:
    """Draw, write and check the instances.

    Parameters
    ----------
    argv
        Command-line arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="N")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), metavar="S")
    parser.add_argument("--out", type=Path, default=INSTANCES, help="default: %(default)s")
    parser.add_argument("--force", action="store_true", help="redraw files that exist")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        for seed in args.seeds:
            path = instance_path(n, seed, args.out)
            if path.exists() and not args.force:
                doc = json.loads(path.read_text())
                print(f"{path.name}: exists ({_describe(counts(doc))})")
                continue
            t0 = time.perf_counter()
            doc = draw(n, seed)
            path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
            expected = counts(doc)
            check_with_kep(path, expected)
            seconds = time.perf_counter() - t0
            print(f"{path.name}: {_describe(expected)}, drawn in {seconds:.1f} s, read back by kep")
    return 0


def _describe(c: dict[str, int]) -> str:
    return (
        f"{c['patients']} patients, {c['paired_donors']} paired donors, "
        f"{c['ndds']} NDDs, {c['arcs']} arcs"
    )


if __name__ == "__main__":
    raise SystemExit(main())
