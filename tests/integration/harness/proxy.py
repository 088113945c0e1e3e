"""Runs the real podproxy binary for a test: writes its config, starts it, collects its JSON log
lines, learns the ports it bound (port 0 in configs), and always kills what it started."""

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .client import http_request
from .yamlgen import to_yaml

_REPO_ROOT = Path(__file__).resolve().parents[3]


def podproxy_binary():
    """$PODPROXY_BIN (set by ctest), else build/podproxy in the repository."""
    path = os.environ.get("PODPROXY_BIN") or str(_REPO_ROOT / "build" / "podproxy")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"podproxy binary not found at {path}: build it (scripts/build) or set PODPROXY_BIN")
    return path


def run_podproxy(args, timeout=10.0, binary=None, input=None):
    """Runs podproxy to completion (e.g. --version, validate). Returns CompletedProcess (text)."""
    return subprocess.run([binary or podproxy_binary(), *args], capture_output=True, text=True,
                          timeout=timeout, input=input, stdin=None if input else subprocess.DEVNULL)


def rss_bytes(pid):
    """The resident set size of process `pid` (VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def write_config(config, path):
    """Writes a dict as YAML, or a str verbatim (for deliberately broken configs)."""
    path = Path(path)
    path.write_text(config if isinstance(config, str) else to_yaml(config))
    return path


class ProxyError(AssertionError):
    pass


class Proxy:
    """One podproxy process.

    config: dict (written as YAML), str (written verbatim), or None (embedded default).
    args: extra command-line arguments. workdir: where the config file goes.
    """

    def __init__(self, config=None, *, args=(), workdir=None, binary=None, env=None,
                 concurrency=None, log_level=None, name="podproxy"):
        self.binary = binary or podproxy_binary()
        self.name = name
        self.config = config
        self.workdir = Path(workdir) if workdir else None  # default: a new temporary dir
        self.config_path = None
        self.args = [str(a) for a in args]
        if concurrency is not None:
            self.args += ["--concurrency", str(concurrency)]
        if log_level is not None:
            self.args += ["--log-level", log_level]
        self.env = env
        self.proc = None
        self.lines = []  # every output line (stdout and stderr), as text
        self.logs = []  # the lines that parsed as JSON objects
        self._cond = threading.Condition()
        self._reader = None
        self._expected_exit = False
        self._output_flowing = threading.Event()  # cleared: nobody reads the proxy's stdout
        self._output_flowing.set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, wait_ready=True, ready_timeout=10.0):
        cmd = [self.binary]
        if self.config is not None:
            if self.workdir is None:
                self.workdir = Path(tempfile.mkdtemp(prefix="podproxy-test-"))
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.config_path = write_config(self.config, self.workdir / f"{self.name}.yaml")
            cmd += ["-c", str(self.config_path)]
        cmd += self.args
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self._reader = threading.Thread(target=self._read_output, name=f"{self.name}-output",
                                        daemon=True)
        self._reader.start()
        if wait_ready:
            self.wait_ready(ready_timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def wait_ready(self, timeout=10.0):
        """Waits for the "ready" log line; fails with the output if the process exits first."""
        if not self.wait_for_log(lambda e: e.get("msg") == "ready", timeout, fail=False):
            code = self.proc.poll()
            state = f"exited with {code}" if code is not None else "still running"
            raise ProxyError(f"{self.name} not ready within {timeout}s ({state}); "
                             f"command: {self.proc.args}\n{self.output_tail()}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Sends `sig` and waits for the exit. Returns the exit code (negative: killed by a
        signal, as in subprocess). Raises ProxyError (after SIGKILL) if it does not exit."""
        self._expected_exit = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def signal(self, sig):
        """Sends a signal without waiting (e.g. SIGHUP for a reload)."""
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=20.0):
        """Waits for the process to exit by itself; returns its exit code."""
        self._expected_exit = True
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ProxyError(f"{self.name} did not exit within {timeout}s; killed\n"
                             f"{self.output_tail()}") from None
        self._join_reader()
        return code

    def kill(self):
        """SIGKILL by PID; never leaves the process behind."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._join_reader()

    def close(self):
        """Teardown: stops the process gracefully (SIGTERM, bounded), else kills it. Returns a
        problem description when it had crashed (died from a signal the test did not send) or
        reported libuv handles left open at exit (a leak), else None."""
        if self.proc is None:
            return None
        self._output_flowing.set()  # a proxy blocked on a full stdout could not exit
        problem = None
        code = self.proc.poll()
        if code is not None and code < 0 and not self._expected_exit:
            problem = (f"{self.name} (pid {self.proc.pid}) died from signal {-code} during the "
                       f"test\n{self.output_tail()}")
        if code is None:
            # A graceful exit at every teardown makes each test also check drain and cleanup.
            self._expected_exit = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        leaks = [e for e in self.logs
                 if e.get("msg") in ("leaked libuv handle",
                                     "event loops closed with handles still open")]
        if leaks and problem is None:
            problem = f"{self.name} left libuv handles open at exit: {leaks}\n{self.output_tail()}"
        if self.proc.stdout:
            self.proc.stdout.close()
        return problem

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.close()

    # -- output -------------------------------------------------------------------------------

    def pause_output(self):
        """Stops reading the proxy's stdout, as a stalled log collector would: once the pipe is
        full, the proxy's writes to it block."""
        self._output_flowing.clear()

    def resume_output(self):
        self._output_flowing.set()

    def _read_output(self):
        while True:
            self._output_flowing.wait()
            raw = self.proc.stdout.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            entry = None
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = None
            with self._cond:
                self.lines.append(line)
                if isinstance(entry, dict):
                    self.logs.append(entry)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _join_reader(self):
        self._output_flowing.set()
        if self._reader is not None:
            self._reader.join(5)

    def wait_for_log(self, predicate=None, timeout=5.0, *, fail=True, start=0, **fields):
        """Waits for a JSON log entry for which predicate(entry) holds and whose fields equal
        `fields` (e.g. msg="listening", listener="ingress"). Looks at entries from index `start`
        on. Returns the entry, or None / ProxyError (fail=True) on timeout or exit."""
        def matches(e):
            return all(e.get(k) == v for k, v in fields.items()) and (
                predicate is None or predicate(e))

        deadline = time.monotonic() + timeout
        seen = start
        with self._cond:
            while True:
                for e in self.logs[seen:]:
                    if matches(e):
                        return e
                seen = len(self.logs)
                left = deadline - time.monotonic()
                exited = not self._reader.is_alive()
                if left <= 0 or exited:
                    break
                self._cond.wait(min(left, 0.1))
        if fail:
            raise ProxyError(f"no log entry matching {fields or predicate} within {timeout}s\n"
                             f"{self.output_tail()}")
        return None

    def garbled_lines(self):
        """Output lines that begin a JSON object but do not parse: lines torn apart by writes
        that interleaved."""
        with self._cond:
            return [line for line in self.lines if line.startswith("{") and not _parses(line)]

    def find_logs(self, **fields):
        """All JSON log entries whose fields equal `fields`."""
        with self._cond:
            return [e for e in self.logs if all(e.get(k) == v for k, v in fields.items())]

    def access_logs(self, **fields):
        """The access-log lines among them (they carry response_flags and no msg)."""
        return [e for e in self.find_logs(**fields) if "response_flags" in e and "msg" not in e]

    def output_tail(self, n=60):
        with self._cond:
            tail = self.lines[-n:]
        return "--- last output lines of podproxy ---\n" + "\n".join(tail)

    # -- addresses ----------------------------------------------------------------------------

    def address(self, listener):
        """The "host:port" the named listener bound, from its "listening" log line."""
        with self._cond:
            for e in self.logs:
                if e.get("msg") == "listening" and e.get("listener") == listener:
                    return e.get("address")
        raise ProxyError(f"no 'listening' log line for listener {listener!r}\n"
                         f"{self.output_tail()}")

    def port(self, listener):
        return int(self.address(listener).rsplit(":", 1)[1])

    @property
    def admin_port(self):
        return self.port("admin")

    def stats(self):
        """The admin /stats counters and gauges, name -> int."""
        body = http_request(self.admin_port, "GET", "/stats", timeout=5).body.decode()
        pairs = (line.split(": ", 1) for line in body.splitlines() if ": " in line)
        return {name: int(value) for name, value in pairs if value.isdigit()}

    def metric(self, name, labels):
        """One sample of the admin /stats/prometheus exposition, e.g.
        metric("podproxy_upstream_cx_total", 'cluster="backend"'), as a float; None if absent."""
        text = http_request(self.admin_port, "GET", "/stats/prometheus", timeout=5).body.decode()
        m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
        return float(m.group(1)) if m else None

    def url(self, listener, path="/"):
        host = self.address(listener).rsplit(":", 1)[0]
        return f"http://{host}:{self.port(listener)}{path}"


def _parses(line):
    try:
        json.loads(line)
        return True
    except ValueError:
        return False
