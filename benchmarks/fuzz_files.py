"""Attack the decoder and the prior loader with seeded hostile inputs; print what happened.

Runs ``--files`` mutated and forged ``.cmb`` files (half each) spread over the shipped CIFAR,
speech and Kodak priors through ``codec.decompress``, ``--cli`` of them through
``combiner decompress`` (checking that no file is left behind), and ``--priors`` malformed
prior files through ``PriorFile.load``. Pass criteria (issue 11): only the documented error
types, every case under 2 s, peak memory growth under 1 GiB, nothing left behind.

    python benchmarks/fuzz_files.py                 # 10,000 files, 200 via the CLI, 100 priors
    python benchmarks/fuzz_files.py --files 1000    # a quicker look
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np

from combiner import cli, codec, fuzz
from combiner.errors import ContainerError
from combiner.priorfile import PriorFile
from combiner.shipped import load_prior

PRIORS = ("cifar-learned-beta2e-05", "speech-learned-beta1e-07", "kodak-learned-beta1e-08")
GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "combiner" / "golden"


def _files(count: int, rng: np.random.Generator) -> list[tuple[str, list[bytes], int]]:
    """``(prior name, valid files, cases)`` for every prior, ``count`` cases in all."""
    plan = []
    for i, name in enumerate(PRIORS):
        valid = fuzz.valid_files(load_prior(name), rng, 8)
        if name == PRIORS[0]:
            valid.append((GOLDEN / "cifar10_01-v2.cmb").read_bytes())  # a real encode
        plan.append((name, valid, count // len(PRIORS) + (i < count % len(PRIORS))))
    return plan


def _report(title: str, outcomes: fuzz.Outcomes) -> bool:
    ok = (
        not outcomes.failures
        and outcomes.slowest_s < 2.0
        and outcomes.peak_rss_growth_bytes < 2**30
    )
    print(f"\n### {title}: {outcomes.cases} cases, {'PASS' if ok else 'FAIL'}\n")
    print(outcomes.table())
    print(
        f"\nslowest case {outcomes.slowest_s:.3f} s; peak memory growth "
        f"{outcomes.peak_rss_growth_bytes / 2**20:.0f} MiB"
    )
    for kind, err in outcomes.failures[:20]:
        print(f"  FAILED {kind}: {err}")
    return ok


def _through_cli(cases: list[fuzz.Case], prior: str, folder: Path) -> tuple[fuzz.Outcomes, int]:
    """Decompress every case with the CLI; count exit codes and files left behind."""
    source, out = folder / "in.cmb", folder / "out.png"
    leftovers = 0

    def attack(data: bytes) -> None:
        nonlocal leftovers
        source.write_bytes(data)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["decompress", str(source), "-o", str(out), "--prior", prior])
        names = sorted(p.name for p in folder.iterdir())
        leftovers += names != (["in.cmb", "out.png"] if code == 0 else ["in.cmb"])
        out.unlink(missing_ok=True)
        if code not in (0, 2) or "Traceback" in stderr.getvalue():
            raise AssertionError(f"exit {code}: {stderr.getvalue()[:200]}")
        if code == 2:
            raise ContainerError("refused")

    return fuzz.run_cases(iter(cases), attack, fuzz.FILE_ERRORS), leftovers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--cli", type=int, default=200)
    parser.add_argument("--priors", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start, ok = time.perf_counter(), True
    for name, valid, count in _files(args.files, rng):
        prior = load_prior(name)
        for generator in (fuzz.mutated_files, fuzz.forged_files):
            cases = generator(
                valid, rng, count // 2 + (generator is fuzz.forged_files) * (count % 2)
            )
            outcomes = fuzz.run_cases(
                cases, lambda d, p=prior: codec.decompress(d, p), fuzz.FILE_ERRORS
            )
            ok &= _report(f"{generator.__name__} with {name}", outcomes)
    valid = fuzz.valid_files(load_prior(PRIORS[0]), rng, 4)
    cases = list(fuzz.forged_files(valid, rng, args.cli // 2)) + list(
        fuzz.mutated_files(valid, rng, args.cli - args.cli // 2)
    )
    with tempfile.TemporaryDirectory() as folder:
        outcomes, leftovers = _through_cli(cases, PRIORS[0], Path(folder))
    ok &= _report("the CLI (combiner decompress)", outcomes) and leftovers == 0
    print(f"files left behind: {leftovers}")
    raw = (Path(codec.__file__).parent / "priors" / f"{PRIORS[0]}.npz").read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.npz"

        def load(data: bytes) -> PriorFile:
            path.write_bytes(data)
            return PriorFile.load(path)

        cases = fuzz.malformed_priors(raw, rng, args.priors)
        ok &= _report("malformed priors", fuzz.run_cases(cases, load, fuzz.PRIOR_ERRORS))
    print(f"\n{'ALL PASS' if ok else 'SOME FAILED'} in {time.perf_counter() - start:.0f} s")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
