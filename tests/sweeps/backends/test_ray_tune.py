"""The Ray backend on real Ray: a local instance, and a two-node cluster the tests start.

Every Ray process these tests start talks over loopback only: the tests run in
a network namespace of their own with only loopback, and a PID namespace, so
that the kernel ends every Ray process when they end
(``test_the_ray_tests_pass_in_a_loopback_only_namespace`` re-runs this module
there; elsewhere the Ray tests skip). The nodes join with Ray's token
authentication: ``RAY_AUTH_MODE=token`` and one ``RAY_AUTH_TOKEN_PATH`` for
every process (head, worker, driver), a fresh token per run.

The cluster (one per module): a head node and a worker node, separate ``ray
start --block`` processes on 127.0.0.1 with one CPU each and the labels
``reglab-node=head`` / ``worker``. The tests run in file order: the sweep that
loses the worker node leaves the head alone for the driver-loss and ASHA tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("ray.tune", reason="the ray extra is not installed (pip install 'reglab[ray]')")

from reglab.sweeps import read_results, resume_sweep, run_sweep
from reglab.sweeps.store import read_journal
from tests.helpers import in_loopback_namespace, loopback_namespace_refusal, run_in_loopback_namespace

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RAY = str(Path(sys.executable).with_name("ray"))
# Ten trials of about a second each (one torch thread): long enough to lose a node in the middle.
CLUSTER_GRID = [
    "p1=lin:0:0.9:10",
    "p2=0",
    "epochs=4",
    "train_subset=4096",
    "hidden1=32",
    "hidden2=32",
    "init_std=0.1",
    "lr=0.1",
    "batch_size=64",
]
SELECT = "val=0.25"

inside = pytest.mark.skipif(
    not in_loopback_namespace(),
    reason="runs inside its own loopback-only network namespace: see test_the_ray_tests_pass_in_a_loopback_only_namespace",
)


def test_the_ray_tests_pass_in_a_loopback_only_namespace():
    if in_loopback_namespace():
        pytest.skip("this is the run inside the namespace")
    refusal = loopback_namespace_refusal()
    if refusal is not None:
        pytest.skip(f"the Ray tests need a loopback-only network namespace, and {refusal}")
    tmp = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))  # Ray's socket paths must stay short
    try:
        token = tmp / "token"
        token.write_text(secrets.token_hex(32))
        env = {
            **os.environ,
            "RAY_TMPDIR": str(tmp / "ray"),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        args = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q", "-rs", __file__]
        proc = run_in_loopback_namespace(args, env, timeout=540)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-8000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "failed" not in summary, proc.stdout[-8000:]
    assert "1 skipped" in summary  # only this test, which does not run inside


@inside
def test_local_instance_writes_the_same_rows_as_local(fashion, tmp_path):
    grid = ["p1=0.0,0.5", "epochs=1", "train_subset=256", "hidden1=16", "hidden2=16"]
    ray_result = run_sweep("dropout", grid, seeds=1, backend="ray", workers=1, out=tmp_path, quiet=True)
    local = run_sweep("dropout", grid, seeds=1, backend="local", workers=1, out=tmp_path, quiet=True)
    rows = read_results(ray_result.path / "results.csv")
    assert [r["trial"] for r in rows] == [0, 1] and all(r["status"] == "complete" for r in rows)
    for a, b in zip(rows, local.rows):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-6)
        assert a["train_acc"] == pytest.approx(b["train_acc"])
    assert ray_result.backend == "ray" and (ray_result.path / "summary.json").is_file()
    assert all(r["node_ip"] == "127.0.0.1" for r in rows)  # the namespace has no other address


@inside
def test_ray_workers_import_a_users_experiment_file(tmp_path, user_experiments):
    from tests.helpers import write_user_experiment

    file = write_user_experiment(tmp_path / "exp.py")
    result = run_sweep(f"{file}:user-linear", ["lr=0.05,0.2"], backend="ray", workers=2, out=tmp_path, quiet=True)
    assert [(r["trial"], r["status"], r["error"]) for r in result.rows] == [(0, "complete", ""), (1, "complete", "")]
    assert result.path.parent == tmp_path / "user-linear"


# An experiment whose trial takes its Ray worker process down the first `deaths` times
# it runs; every attempt leaves a file in `marks`.
CRASHING_EXPERIMENT = """

@dataclass(frozen=True)
class CrashConfig:
    deaths: int = 0
    marks: str = ""
    seed: int = 0


@register("user-crash", summary="dies with its worker the first `deaths` times", config_type=CrashConfig)
def run_crash(config, ctx):
    import os
    import pathlib
    import uuid

    marks = pathlib.Path(config.marks)
    attempts = len(list(marks.glob(f"{config.deaths}-*")))
    (marks / f"{config.deaths}-{uuid.uuid4().hex}").touch()
    if attempts < config.deaths:
        os._exit(1)
    return Result(summary={"attempts": attempts + 1})
"""


@inside
def test_a_trial_whose_worker_dies_runs_again_then_fails_with_rays_error(tmp_path, user_experiments, capfd):
    from tests.helpers import write_user_experiment

    file = write_user_experiment(tmp_path / "exp.py", extra=CRASHING_EXPERIMENT)
    marks = tmp_path / "marks"
    marks.mkdir()
    grid = ["deaths=0,1,5", f"marks={marks}"]
    result = run_sweep(
        f"{file}:user-crash", grid, seeds=1, backend="ray", workers=2, retries=2, out=tmp_path, quiet=True
    )
    rows = {r["deaths"]: r for r in read_results(result.path / "results.csv")}
    attempts = {deaths: len(list(marks.glob(f"{deaths}-*"))) for deaths in (0, 1, 5)}
    assert attempts == {0: 1, 1: 2, 5: 3}  # retries=2: at most three runs of a trial
    assert (rows[0]["status"], rows[1]["status"]) == ("complete", "complete"), rows
    # Out of retries: failed, with Ray's reason in one line (not a traceback, not lost).
    assert rows[5]["status"] == "failed" and rows[5]["error"].startswith("ray: "), rows[5]
    assert "actor died" in rows[5]["error"].lower() and "\n" not in rows[5]["error"]
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["trials"]["complete"] == 2 and summary["trials"]["failed"] == 1
    # Each loss is one line of reglab's; Tune's tracebacks and boxes stay out of the terminal.
    out, err = capfd.readouterr()
    said = [line for line in err.splitlines() if line.startswith("reglab: trial ")]
    assert len(said) == 1 + 3 and sum("no retries left" in line for line in said) == 1, err
    assert "Traceback" not in out + err and "Trials did not complete" not in out + err
    assert "Configuration for experiment" not in out + err


# --- a two-node cluster --------------------------------------------------------------


class Cluster:
    """A head and a worker node, each a ``ray start --block`` process group of its own."""

    def __init__(self, logs: Path) -> None:
        self.port = 6390
        self.address = f"127.0.0.1:{self.port}"
        self.logs = logs
        self.env = {
            **os.environ,
            # The head notices a lost node within seconds (default: about 15 s).
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        }
        self.head = self._start("head", "--head", "--port", str(self.port), "--include-dashboard=false")
        _wait_for_port(self.port)
        self.worker: subprocess.Popen[bytes] | None = self._start("worker", "--address", self.address)
        self.wait_for_nodes(2)

    def _start(self, label: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{label}.log").open("wb")
        return subprocess.Popen(
            [RAY, "start", *args, "--num-cpus", "1", "--node-ip-address", "127.0.0.1"]
            + ["--labels", f"reglab-node={label}", "--disable-usage-stats", "--block"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )

    def wait_for_nodes(self, count: int, timeout: float = 90.0) -> None:
        import ray

        ray.init(address=self.address, log_to_driver=False)
        try:
            deadline = time.monotonic() + timeout
            while sum(n["Alive"] for n in ray.nodes()) != count:
                assert time.monotonic() < deadline, f"the cluster did not reach {count} nodes: {self.log_tail()}"
                time.sleep(0.5)
        finally:
            ray.shutdown()

    def kill_worker(self) -> None:
        """The worker node's machine is lost: its raylet and workers die at once. Every
        descendant of its ``ray start`` is killed, not only its process group: Ray's worker
        processes may sit in groups of their own, and a surviving one would go on running
        trials it is handed directly (a reused actor) after its node is gone."""
        assert self.worker is not None
        doomed = _descendants(self.worker.pid)
        os.killpg(self.worker.pid, signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.worker.wait()
        self.worker = None

    def log_tail(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        for process in (self.worker, self.head):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Inside the test's PID namespace `ray stop` sees only this namespace's processes.
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=60)


def _descendants(root: int) -> list[int]:
    """The processes below ``root`` (by parent PID, from /proc), children first."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")"
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        found.extend(children)
        frontier = children
    return found


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on 127.0.0.1:{port}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not in_loopback_namespace():
        pytest.skip("the cluster is started inside a loopback-only namespace only")
    logs = tmp_path_factory.mktemp("ray-logs")
    started = None
    try:
        started = Cluster(logs)
        yield started
    finally:
        if started is not None:
            started.stop()
        else:  # a node started before the failure
            subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def reference(fashion, tmp_path_factory):
    """The cluster grid's rows from one local process that lost nothing."""
    result = run_sweep(
        "dropout",
        CLUSTER_GRID,
        select=SELECT,
        backend="local",
        workers=1,
        out=tmp_path_factory.mktemp("reference"),
        quiet=True,
    )
    assert all(r["status"] == "complete" for r in result.rows)
    return result.rows


def _metrics(row):
    return {k: v for k, v in row.items() if k.startswith(("train_", "val_", "test_"))}


def _assert_same_results(rows, reference):
    assert [r["trial"] for r in rows] == [r["trial"] for r in reference]
    assert all(r["status"] == "complete" for r in rows), [(r["trial"], r["status"], r["error"]) for r in rows]
    for row, ref in zip(rows, reference):
        # One torch thread on the same CPU: a trial's numbers do not depend on where it ran.
        assert _metrics(row) == _metrics(ref), row["trial"]


@inside
def test_a_sweep_on_both_nodes_loses_the_worker_and_no_trial(cluster, reference, tmp_path):
    total = len(reference)
    killed_at: list[int] = []

    def kill_when_the_worker_has_finished_a_trial() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for journal in tmp_path.glob("dropout/*/trials.jsonl"):
                rows = read_journal(journal)
                if any(r.get("node_label") == "worker" for r in rows):
                    killed_at.append(len(rows))
                    cluster.kill_worker()
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_the_worker_has_finished_a_trial)
    killer.start()
    try:
        result = run_sweep(
            "dropout",
            CLUSTER_GRID,
            select=SELECT,
            backend="ray",
            ray_address=cluster.address,
            retries=3,
            out=tmp_path,
            quiet=True,
        )
    finally:
        killer.join()
    assert killed_at and killed_at[0] < total - 2, f"the worker was not lost mid-sweep: {killed_at}"
    rows = read_results(result.path / "results.csv")
    # The results of one process that lost nothing, from trials that ran on both nodes.
    _assert_same_results(rows, reference)
    assert {r["node_label"] for r in rows} == {"head", "worker"}
    assert len({r["node"] for r in rows}) == 2 and {r["node_ip"] for r in rows} == {"127.0.0.1"}
    worker_rows = {r["trial"] for r in rows if r["node_label"] == "worker"}
    assert worker_rows and len(worker_rows) <= killed_at[0]  # nothing ran there after the loss
    # The trial that was running on the lost node failed once and ran again on the head.
    tune_errors = list((result.path / "ray").glob("tune-*/*/error.txt"))
    assert tune_errors, "no trial was lost with the node"
    assert (result.path / "ray" / "tune-2").is_dir()  # the lost trials' second Tune run
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["trials"] == {"complete": total, "diverged": 0, "failed": 0, "stopped": 0, "missing": 0}


def _driver(cluster, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "reglab", "sweep", *args, "--ray-address", cluster.address, "--quiet"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _journal_when(tmp_path, driver, count: int) -> list[dict]:
    """The sweep's journal once it holds ``count`` rows (the driver still running)."""
    deadline = time.monotonic() + 120
    while True:
        assert driver.poll() is None, "the driver ended before it could be stopped"
        assert time.monotonic() < deadline, "the driver stored too few rows"
        journals = list(tmp_path.glob("dropout/*/trials.jsonl"))
        rows = read_journal(journals[0]) if journals else []
        if len(rows) >= count:
            return rows
        time.sleep(0.05)


@inside
def test_ctrl_c_and_a_killed_driver_lose_nothing_and_resume_finishes(cluster, reference, tmp_path):
    first = _driver(cluster, "dropout", *CLUSTER_GRID, "--select", SELECT, "--backend", "ray", "--out", str(tmp_path))
    try:
        _journal_when(tmp_path, first, 2)
        first.send_signal(signal.SIGINT)  # Ctrl-C
        assert first.wait(timeout=120) == 130
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    (path,) = tmp_path.glob("dropout/*")
    interrupted = read_journal(path / "trials.jsonl")
    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert summary["trials"]["complete"] == len(interrupted) < len(reference)
    assert summary["trials"]["missing"] == len(reference) - len(interrupted)  # none recorded as failed

    second = _driver(cluster, "--resume", str(path), "--backend", "ray")
    try:
        _journal_when(tmp_path, second, len(interrupted) + 2)
    finally:
        os.killpg(second.pid, signal.SIGKILL)  # the driver's machine is lost
        second.wait()
    killed = read_journal(path / "trials.jsonl")
    assert killed[: len(interrupted)] == interrupted and len(killed) < len(reference)

    result = resume_sweep(path, backend="ray", ray_address=cluster.address, quiet=True)
    rows = read_results(path / "results.csv")
    _assert_same_results(rows, reference)
    journal = read_journal(path / "trials.jsonl")
    assert journal[: len(killed)] == killed  # the rows stored before were kept as they were
    assert sorted(r["trial"] for r in journal) == list(range(len(reference)))  # and not run again
    assert result.status == "complete"


# --- ASHA ---------------------------------------------------------------------------


@inside
def test_asha_stops_the_hopeless_settings_and_keeps_the_selection(cluster, fashion, tmp_path):
    # Two good settings and two with nearly every unit dropped, hopeless from epoch 1.
    grid = ["p1=0,0.2,0.95,0.99", *CLUSTER_GRID[1:]]
    plain = run_sweep("dropout", grid, select=SELECT, backend="local", workers=1, out=tmp_path / "plain", quiet=True)
    best = plain.report["selected"]["p1"]
    assert best in (0.0, 0.2)
    # One trial at a time, the best first: ASHA never stops the first trial to reach
    # a rung, so what it stops depends on nothing but the numbers.
    order = [best, 0.2 if best == 0.0 else 0.0, 0.95, 0.99]
    asha = run_sweep(
        "dropout",
        [f"p1={','.join(map(str, order))}", *CLUSTER_GRID[1:]],
        select=SELECT,
        backend="ray",
        ray_address=cluster.address,
        workers=1,
        scheduler="asha",
        out=tmp_path / "asha",
        quiet=True,
    )
    rows = {r["p1"]: r for r in read_results(asha.path / "results.csv")}
    assert (rows[best]["status"], rows[best]["epochs_run"]) == ("complete", 4)
    for hopeless in (0.95, 0.99):
        assert rows[hopeless]["status"] == "stopped" and rows[hopeless]["epochs_run"] < 4
        assert rows[hopeless]["error"].startswith("stopped by the asha scheduler after epoch")
    assert asha.report["selected"] == plain.report["selected"]
    stopped = [r for r in rows.values() if r["status"] == "stopped"]
    saved = asha.search["scheduler"]
    assert saved["name"] == "asha" and saved["stopped"] == len(stopped)
    assert saved["epochs_full"] == 4 * 4
    assert saved["epochs_saved"] == sum(4 - r["epochs_run"] for r in stopped) >= 2 * 2
