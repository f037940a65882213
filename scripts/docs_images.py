#!/usr/bin/env python3
"""Make the README's pictures of reports and comparisons.

    python scripts/docs_images.py sweep-report   # a small dropout sweep, its report.html, a Chromium screenshot
    python scripts/docs_images.py compare        # 10 small dropout runs (p1 = p2 = 0.2 / 0.5, seeds 1-5), reglab compare
    python scripts/docs_images.py compare --runs DIR   # compare runs made before with the same commands

They write docs/images/sweep-report.png and docs/images/compare-dropout.png;
the runs and sweeps go under --work (default: a new temporary folder).
`compare` trains 10 runs of the `dropout` experiment on a small budget (5
epochs on 10,000 training images: about 2 minutes on a quiet 2-core machine)
and prints what `reglab compare` printed, for the README. Needs Debian's chromium for the screenshot.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def reglab(*args: str) -> str:
    """Run ``python -m reglab ARGS``; return its standard output (echoed)."""
    print("$ reglab " + " ".join(args), flush=True)
    done = subprocess.run([sys.executable, "-m", "reglab", *args], capture_output=True, text=True, check=False)
    print(done.stdout, end="")
    if done.returncode != 0:
        sys.exit(f"reglab {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def screenshot(page: Path, out: Path, work: Path, *, width: int = 1280, height: int = 1450) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium)")
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={work / 'chromium-profile'}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    print(f"wrote {out.relative_to(ROOT)}")


def sweep_report(work: Path) -> None:
    out = reglab(
        "sweep", "dropout", "p1=0,0.2,0.5,0.8", "epochs=5", "train_subset=10000",
        "--seeds", "2", "--select", "val=0.2", "--quiet", "--out", str(work / "sweeps"),
    )  # fmt: skip
    folder = Path(out.strip().splitlines()[-1].removeprefix("sweep directory: "))
    screenshot(folder / "report.html", IMAGES / "sweep-report.png", work)


def compare(work: Path, runs: Path | None) -> None:
    if runs is None:
        runs = work / "runs"
        for p in ("0.2", "0.5"):
            for seed in range(1, 6):
                budget = ("epochs=5", "train_subset=10000")
                reglab(
                    "run", "dropout", f"p1={p}", f"p2={p}", *budget, "--seed", str(seed), "--quiet", "--out", str(runs)
                )
    reglab("compare", str(runs / "dropout"), "--out", str(work / "compare"))
    shutil.copyfile(work / "compare" / "compare.png", IMAGES / "compare-dropout.png")
    print(f"wrote {(IMAGES / 'compare-dropout.png').relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["sweep-report", "compare"])
    parser.add_argument("--work", type=Path, default=None, help="folder for the runs and sweeps (default: temporary)")
    parser.add_argument("--runs", type=Path, default=None, help="compare: an --out folder of earlier runs to reuse")
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="reglab-docs-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.what == "sweep-report":
        sweep_report(work)
    else:
        compare(work, args.runs)


if __name__ == "__main__":
    main()
