"""Process helpers: spawn pinned processes, read CPU time and RSS of a process tree, stop by PID."""

import os
import resource
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children_map():
    """Maps ppid -> [pid] for every process visible in /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read_stat(int(entry))
        if stat is None:
            continue
        children.setdefault(stat["ppid"], []).append(int(entry))
    return children


def _read_stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = raw[raw.rindex(")") + 2:].split()
    # rest[0] is field 3 (state), so field N is rest[N - 3].
    return {
        "ppid": int(rest[4 - 3]),
        "utime": int(rest[14 - 3]),
        "stime": int(rest[15 - 3]),
        "starttime": int(rest[22 - 3]),
    }


def _identity(pid):
    """(pid, start time): tells a process apart from a later one that reuses its PID."""
    stat = _read_stat(pid)
    return None if stat is None else (pid, stat["starttime"])


def process_tree(pid):
    """pid and all its descendants (processes; threads are accounted inside their process)."""
    children = _children_map()
    tree, stack = [], [pid]
    while stack and len(tree) < 10000:
        p = stack.pop()
        tree.append(p)
        stack.extend(children.get(p, []))
    return tree


def tree_cpu_seconds(pid):
    """utime + stime (fields 14, 15 of /proc/PID/stat, all threads) summed over the process tree."""
    ticks = 0
    for p in process_tree(pid):
        stat = _read_stat(p)
        if stat is not None:
            ticks += stat["utime"] + stat["stime"]
    return ticks / CLK_TCK


def tree_rss_bytes(pid):
    """VmRSS summed over the process tree (pages shared between master and worker count twice)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def tree_pss_bytes(pid):
    """Pss summed over the process tree: shared pages split between the sharers (JSON only)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return total


def cpu_times():
    """Per-CPU (busy, steal) seconds from /proc/stat; busy = user+nice+system+irq+softirq."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if not parts[0].startswith("cpu") or parts[0] == "cpu":
                continue
            v = [int(x) for x in parts[1:9]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = v
            out[int(parts[0][3:])] = ((user + nice + system + irq + softirq) / CLK_TCK,
                                      steal / CLK_TCK)
    return out


def free_port():
    """A currently free TCP port on 127.0.0.1 (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout_s=10.0):
    """Polls until 127.0.0.1:port accepts, the process dies, or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class ProcessSet:
    """Owns every process the runner starts so a finally block can stop them all by PID."""

    def __init__(self):
        self._procs = []  # (name, Popen, known descendant pids)

    def spawn(self, name, argv, cpus, nofile, log_path, cwd=None, stdin=None, stdout=None):
        """Starts argv pinned to `cpus` with RLIMIT_NOFILE raised to `nofile` (soft and hard)."""

        def pin_and_raise():
            os.sched_setaffinity(0, cpus)
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, max(hard, nofile)))

        log = open(log_path, "ab")
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=stdout if stdout is not None else log,
                stderr=log,
                preexec_fn=pin_and_raise,
                start_new_session=True,  # Ctrl-C in the terminal reaches only the runner
            )
        finally:
            log.close()
        self._procs.append([name, proc, set()])
        return proc

    def remember_tree(self, proc):
        """Records the current descendants so they can be stopped even if the parent dies first."""
        for entry in self._procs:
            if entry[1] is proc:
                entry[2].update(_identities(process_tree(proc.pid)[1:]))

    def stop(self, proc, timeout_s=10.0):
        for entry in list(self._procs):
            if entry[1] is proc:
                self._stop_entry(entry, timeout_s)
                self._procs.remove(entry)

    def stop_all(self):
        while self._procs:
            entry = self._procs.pop()
            try:
                self._stop_entry(entry, 10.0)
            except Exception as e:  # keep stopping the others
                print(f"warning: stopping {entry[0]} (pid {entry[1].pid}) failed: {e}")

    @staticmethod
    def _stop_entry(entry, timeout_s):
        name, proc, descendants = entry
        if proc.poll() is None:
            descendants.update(_identities(process_tree(proc.pid)[1:]))
            _signal(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                print(f"warning: {name} (pid {proc.pid}) ignored SIGTERM for {timeout_s}s; SIGKILL")
                _signal(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # A worker whose master died abruptly is reparented, not killed: stop it by PID too.
        for ident in descendants:
            if _identity(ident[0]) == ident:
                _signal(ident[0], signal.SIGKILL)


def _identities(pids):
    return {i for i in (_identity(p) for p in pids) if i is not None}


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
