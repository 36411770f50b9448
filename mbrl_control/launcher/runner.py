"""Run node commands as child processes until they exit or the runner is told to stop.

Each child runs in its own process group with stdin closed. Output is relayed line by line,
prefixed with ``[label]``: ``screen`` sends stdout and stderr to the screen (our stdout);
``log`` writes both to ``<log dir>/<label>.log`` and also shows stderr (on our stderr),
like upstream; ``both`` does both. Shutdown (on SIGINT/SIGTERM to the runner, or when a
required node exits) sends SIGINT to every child's process group, SIGTERM to those still
running after ``sigterm_timeout`` seconds and SIGKILL after a further ``sigkill_timeout``;
a second SIGINT/SIGTERM skips straight to SIGKILL.

A command with ``activate`` (a ``lifecycle_node`` with ``autostart``) is brought to active
over its ``change_state`` service once it appears (:mod:`mbrl_control.launcher.lifecycle`);
a refused transition is reported and the launch goes on, as upstream.

Exit code: 128 + signal number when the runner was interrupted (130 for SIGINT, 143 for
SIGTERM); else the code of the required node whose exit ended the launch; else, once all
nodes have exited by themselves, 0 if they all succeeded or the first failure's code.
A child killed by signal N counts as 128 + N.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from mbrl_control.launcher.model import NodeCommand

if TYPE_CHECKING:
    from mbrl_control.launcher.lifecycle import Activator

_POLL_S = 0.1  # how often exits are checked when no signal wakes the loop


@dataclass
class _Child:
    command: NodeCommand
    popen: subprocess.Popen
    pumps: list[threading.Thread] = field(default_factory=list)
    reported: bool = False


class Runner:
    """Start ``commands``, relay their output, and stop them together (see module doc)."""

    def __init__(
        self,
        commands: Sequence[NodeCommand],
        *,
        environ: Mapping[str, str],
        log_dir: Path,
        sigterm_timeout: float = 5.0,
        sigkill_timeout: float = 5.0,
    ) -> None:
        self.commands = list(commands)
        self.environ = dict(environ)
        self.environ.setdefault("PYTHONUNBUFFERED", "1")  # Python nodes: no block buffering
        self.log_dir = log_dir
        self.sigterm_timeout, self.sigkill_timeout = sigterm_timeout, sigkill_timeout
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._signals: list[int] = []
        self._children: list[_Child] = []
        self._stopping = threading.Event()  # set once shutdown has begun

    def run(self) -> int:
        """Start everything, supervise until all children are gone, return the exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)
        self._wake.set()

    def _supervise(self) -> int:
        code: int | None = None  # decided by a signal, a required exit or a failed start
        shutdown_at: float | None = None
        escalated = 0  # shutdown signals sent so far: SIGINT, SIGTERM, SIGKILL
        first_failure: int | None = None
        activator = self._activator()
        for command in self.commands:
            if self._signals:
                break
            try:
                child = self._start(command)
            except OSError as exc:
                self._say(f"{command.label}: cannot start {command.argv[0]}: {exc}")
                code, shutdown_at = 1, time.monotonic()
                break
            self._children.append(child)
            if activator is not None and command.activate is not None:
                activator.activate(command.label, command.activate, self._alive(child))
        while True:
            for child in self._children:
                rc = child.popen.poll()
                if rc is None or child.reported:
                    continue
                child.reported = True
                rc = 128 - rc if rc < 0 else rc
                self._say(f"{child.command.label}: process exited with code {rc}")
                first_failure = first_failure or rc
                if child.command.required and shutdown_at is None:
                    self._say(f"{child.command.label} is required: shutting down the others")
                    code, shutdown_at = rc, time.monotonic()
            while self._signals:
                sig = self._signals.pop(0)
                if shutdown_at is None:
                    self._say(f"received {signal.Signals(sig).name}: shutting down")
                    code, shutdown_at = 128 + sig, time.monotonic()
                else:  # asked again while shutting down: no more waiting
                    self._signal_all(signal.SIGKILL)
                    escalated = 3
            if shutdown_at is not None:
                self._stopping.set()
                escalated = self._escalate(time.monotonic() - shutdown_at, escalated)
            if all(child.reported for child in self._children):
                break
            self._wake.wait(_POLL_S)
            self._wake.clear()
        self._stopping.set()
        if activator is not None:
            activator.close()
        for child in self._children:
            for pump in child.pumps:
                pump.join(timeout=2.0)
        return code if code is not None else first_failure or 0

    def _activator(self) -> Activator | None:
        """The lifecycle activator when some command asks for autostart (else None)."""
        if not any(c.activate for c in self.commands):
            return None
        from mbrl_control.launcher.lifecycle import Activator

        try:
            return Activator(self.environ, self._say)
        except ImportError as exc:
            self._say(f"cannot autostart lifecycle nodes: {exc} (install rclpy and lifecycle_msgs)")
        except Exception as exc:  # rclpy could not start (bad domain id, middleware, ...)
            self._say(f"cannot autostart lifecycle nodes: rclpy did not start: {exc}")
        return None

    def _alive(self, child: _Child) -> Callable[[], bool]:
        return lambda: child.popen.poll() is None and not self._stopping.is_set()

    def _escalate(self, elapsed: float, done: int) -> int:
        """Send the signals due ``elapsed`` seconds into shutdown; returns how many were sent."""
        steps = [
            (0.0, signal.SIGINT),
            (self.sigterm_timeout, signal.SIGTERM),
            (self.sigterm_timeout + self.sigkill_timeout, signal.SIGKILL),
        ]
        while done < len(steps) and elapsed >= steps[done][0]:
            self._signal_all(steps[done][1])
            done += 1
        return done

    def _signal_all(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process group of every child still running."""
        for child in self._children:
            if child.popen.poll() is None:
                if sig != signal.SIGINT:
                    self._say(f"{child.command.label}: still running, sending {sig.name}")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.popen.pid, sig)

    def _start(self, command: NodeCommand) -> _Child:
        merged = command.output in ("screen", "both")
        popen = subprocess.Popen(
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            env=self.environ,
            start_new_session=True,
        )
        child = _Child(command, popen)
        log = None
        if command.output in ("log", "both"):
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = (self.log_dir / f"{command.label}.log").open("a", encoding="utf-8")
        prefix = f"[{command.label}] "
        to_screen = self._writer(sys.stdout, prefix)
        to_log = self._writer(log, "") if log is not None else None
        if merged:
            sinks = [to_screen] + ([to_log] if to_log else [])
            streams = [(popen.stdout, sinks)]
        else:
            assert to_log is not None
            streams = [
                (popen.stdout, [to_log]),
                (popen.stderr, [to_log, self._writer(sys.stderr, prefix)]),
            ]
        for stream, stream_sinks in streams:
            pump = threading.Thread(target=_pump, args=(stream, stream_sinks), daemon=True)
            pump.start()
            child.pumps.append(pump)
        self._say(f"{command.label}: process started with pid {popen.pid}")
        return child

    def _writer(self, sink: IO[str], prefix: str) -> Callable[[str], None]:
        def write(line: str) -> None:
            with self._lock:
                sink.write(prefix + line)
                sink.flush()

        return write

    def _say(self, message: str) -> None:
        self._writer(sys.stderr, "[launch] ")(message + "\n")


def _pump(stream: IO[bytes], sinks: list[Callable[[str], None]]) -> None:
    """Copy ``stream`` line by line to every sink until EOF."""
    with stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            if not line.endswith("\n"):
                line += "\n"
            for sink in sinks:
                sink(line)


def default_log_dir(environ: Mapping[str, str]) -> Path:
    """Where ``output: log`` files go: a fresh folder under the ROS log directory."""
    if environ.get("ROS_LOG_DIR"):
        base = Path(environ["ROS_LOG_DIR"])
    elif environ.get("ROS_HOME"):
        base = Path(environ["ROS_HOME"]) / "log"
    else:
        base = Path.home() / ".ros" / "log"
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
    return base / f"mbrl_launch-{stamp}-{os.getpid()}"
