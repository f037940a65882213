"""Make docs/images/tensorboard-hparams.png: a sweep's trials in TensorBoard's HParams tab.

    .venv/bin/python scripts/screenshot_hparams.py [--out PNG] [--epochs N] [--keep DIR | --sweep DIR]

1. runs a small sweep of the dropout MLP (p1 x p2, 2 seeds, validation
   selection) with ``logger="tensorboard"``, on the local backend so that every
   trial logs its epochs;
2. starts TensorBoard on the sweep's ``tb/`` folder, on loopback (127.0.0.1)
   and a free port, and waits until it answers;
3. has headless Chromium (Debian's ``chromium``) load the HParams tab and save
   a screenshot;
4. stops TensorBoard, whatever happened.

Needs the tensorboard extra (``pip install 'reglab[tensorboard]'``), Chromium and
Fashion-MNIST; about a minute on two cores. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import reglab

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"TensorBoard exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"TensorBoard did not answer at {url} within {timeout:.0f} s")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Chromium is not installed (Debian: apt-get install -y chromium)")


def screenshot(url: str, out: Path, width: int, height: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--virtual-time-budget=30000",  # let the page fetch its data and render
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "tensorboard-hparams.png")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="sweep into this folder and keep it")
    parser.add_argument("--sweep", type=Path, default=None, help="show this sweep folder instead of running one")
    args = parser.parse_args()
    chromium()  # fail before training when it is missing
    work = args.keep or Path(tempfile.mkdtemp(prefix="reglab-hparams-"))
    if args.sweep is None:
        folder = reglab.sweep(
            "dropout",
            p1=[0.2, 0.5],
            p2=[0.0, 0.5],
            epochs=args.epochs,
            seeds=2,
            select="val=0.2",
            backend="local",
            out=work / "sweeps",
            quiet=True,
            logger="tensorboard",
        ).path
        print(f"sweep: {folder}")
    else:
        folder = args.sweep
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(folder / "tb"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/data/plugins_listing", server)
        screenshot(f"http://127.0.0.1:{port}/?darkMode=false#hparams", args.out, 2500, 560)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"screenshot: {args.out}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
