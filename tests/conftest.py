"""Shared fixtures: isolated ROS 2 domains, subprocess nodes that always die, a probe node,
and the suite-wide seed.

No seeding or environment changes happen at import time; everything is a fixture or an
explicitly requested option:

- ``--seed N`` (or env ``MBRL_TEST_SEED=N``; default 0): every seeded test reads it through
  the ``seed`` fixture (an int) or ``seeds(k)`` (``1000 * N + k``: stream k of run N, so
  ``--seed 0`` reproduces the historical per-test seeds).
- ``--torch-threads T`` (or env ``MBRL_TEST_THREADS=T``; default: torch's own choice):
  ``torch.set_num_threads(T)`` for the test process and ``OMP_NUM_THREADS=T`` for the
  subprocesses it starts.

Both are printed in the pytest header. Example: ``pytest --seed 1 --torch-threads 2 tests/``.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
_domain_counter = itertools.count()
SEED_ENV, THREADS_ENV = "MBRL_TEST_SEED", "MBRL_TEST_THREADS"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mbrl_control")
    group.addoption(
        "--seed",
        type=int,
        default=int(os.environ.get(SEED_ENV, "0")),
        help=f"suite-wide seed every seeded test reads (env {SEED_ENV}; default 0)",
    )
    threads = os.environ.get(THREADS_ENV)
    group.addoption(
        "--torch-threads",
        type=int,
        default=int(threads) if threads else None,
        help=f"torch intra-op threads (and OMP_NUM_THREADS of subprocesses; env {THREADS_ENV}; "
        "default: torch's own, under pytest-xdist each worker's share of the cores)",
    )


def _worker_share() -> int | None:
    """Under pytest-xdist, this worker's share of the cores (>= 1); else None."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    return max(1, (os.cpu_count() or 1) // count) if count > 1 else None


def pytest_configure(config: pytest.Config) -> None:
    threads = config.getoption("--torch-threads")
    if threads is None and (share := _worker_share()) is not None:
        threads = share  # N workers x default torch threads would oversubscribe the cores
        config.option.torch_threads = threads
    if threads is not None:
        if threads < 1:
            raise pytest.UsageError(f"--torch-threads must be >= 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # for the nodes/CLIs tests start


def pytest_report_header(config: pytest.Config) -> str:
    threads = config.getoption("--torch-threads")
    return (
        f"mbrl_control: --seed {config.getoption('--seed')}, --torch-threads {threads or 'default'}"
    )


@pytest.fixture(scope="session")
def seed(pytestconfig: pytest.Config) -> int:
    """The suite-wide seed N (``--seed N`` / env ``MBRL_TEST_SEED``, default 0)."""
    return int(pytestconfig.getoption("--seed"))


@pytest.fixture(scope="session")
def seeds(seed: int) -> Callable[[int], int]:
    """``seeds(k) -> 1000 * N + k``: the seed of a test's k-th random stream in run N."""
    return lambda k: 1000 * seed + k


def _next_domain() -> int:
    """The next ROS_DOMAIN_ID of this pytest process (1..100 are safe on Linux)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... under xdist
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    k = next(_domain_counter)
    if worker.startswith("gw") and worker[2:].isdigit() and 1 < count <= 100:
        span = 100 // count  # each worker its own ids
        return 1 + span * (int(worker[2:]) % count) + (os.getpid() * 7 + k) % span
    return 1 + (os.getpid() * 7 + k) % 100


@pytest.fixture
def ros_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A ROS 2 environment of its own for this test: a fresh domain id, loopback discovery.

    The id mixes the pytest process id with a counter so that parallel runs on one machine
    and consecutive tests in one run do not hear each other; under pytest-xdist each worker
    draws from its own ids (with 2 workers gw0: 1-50, gw1: 51-100): workers never share one.
    Returns the full environment for subprocesses (the test process's ``os.environ`` is
    patched the same way).
    """
    domain = _next_domain()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    return dict(os.environ)


class Proc:
    """A started subprocess whose combined output goes to a log file."""

    def __init__(self, name: str, popen: subprocess.Popen, log: Path) -> None:
        self.name, self.popen, self.log = name, popen, log

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGINT, grace: float = 10.0) -> int:
        """Send ``sig`` to the process group, then SIGKILL after ``grace`` seconds."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
            except ProcessLookupError:
                pass
        return self.popen.returncode


@pytest.fixture
def spawn(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Proc]]:
    """Start commands as subprocesses (own process group); all are torn down after the test.

    ``spawn(name, argv, env=None)`` returns a :class:`Proc`. On test failure every process's
    log is printed so that CI output shows what the nodes said.
    """
    procs: list[Proc] = []

    def _spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = tmp_path / f"{name}.log"
        fh = log.open("wb")
        popen = subprocess.Popen(
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env if env is not None else dict(os.environ),
            cwd=REPO,
            start_new_session=True,
        )
        fh.close()
        proc = Proc(name, popen, log)
        procs.append(proc)
        return proc

    yield _spawn
    for proc in reversed(procs):
        proc.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for proc in procs:
            print(f"----- {proc.name} (rc={proc.popen.returncode}) -----\n{proc.output()[-4000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class RosProbe:
    """An rclpy node inside the test process, on its own context, spinning in a thread."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("test_probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()

    def collect(self, msg_type: Any, topic: str) -> list[Any]:
        """Subscribe and return the (growing) list of received messages."""
        received: list[Any] = []

        def _cb(msg: Any) -> None:
            with self._lock:
                received.append(msg)

        self.node.create_subscription(msg_type, topic, _cb, 50)
        return received

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate():
                    return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 30.0) -> Any:
        """Call a service and return its response (waits for the server first)."""
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {name} not available after {timeout:.0f} s")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise AssertionError(f"service {name} did not answer in {timeout:.0f} s")
            time.sleep(0.02)
        return future.result()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)


@pytest.fixture
def ros_probe(ros_env: dict[str, str]) -> Iterator[RosProbe]:
    """A probe node on this test's ROS domain (see :class:`RosProbe`)."""
    pytest.importorskip("rclpy")
    probe = RosProbe(int(ros_env["ROS_DOMAIN_ID"]))
    yield probe
    probe.close()
