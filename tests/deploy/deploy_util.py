"""Helpers for tests/deploy/*.py: start the real binaries on 127.0.0.1 with free ports, bounded waits,
and kill everything started (use Processes as a context manager)."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir(arg):
    b = arg or "build"
    return b if os.path.isabs(b) else os.path.join(ROOT, b)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_until(what, fn, timeout_s, interval=0.2):
    """Calls fn until it returns a truthy value (returned) or timeout_s passes (RuntimeError)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - anything may fail while a process starts
            last = e
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout_s} s waiting for {what} (last error: {last})")


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric_sum(samples, name, **labels):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items()))


class Processes:
    """Starts child processes and kills every one of them on exit (SIGKILL after 5 s of SIGTERM)."""

    def __init__(self):
        self.procs = []
        self.tmp = tempfile.TemporaryDirectory(prefix="ts-deploy-")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def start(self, args, log_name):
        log = open(self.path(log_name), "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append(p)
        return p

    def log(self, log_name):
        with open(self.path(log_name)) as f:
            return f.read()

    def start_server(self, bindir, name, *flags):
        """The real server on 127.0.0.1, free ports; returns (process, grpc_port, metrics_port)."""
        port_file = self.path(f"{name}.ports.json")
        p = self.start([os.path.join(bindir, "theano-serving"), "--insecure", "--host=127.0.0.1",
                        "--grpc_port=0", "--metrics_port=0", f"--port_file={port_file}", *flags],
                       f"{name}.log")

        def ports():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name + '.log')}")
            with open(port_file) as f:
                return json.load(f)
        ports = wait_until(f"{name}'s port file", ports, 20)
        cli = os.path.join(bindir, "theano-serving-cli")
        wait_until(f"{name} SERVING", lambda: subprocess.run(
            [cli, "health", "--server", f"127.0.0.1:{ports['grpc']}", "--timeout_ms", "2000"],
            capture_output=True).returncode == 0, 30)
        return p, ports["grpc"], ports["metrics"]

    def stop(self, p, sig=signal.SIGTERM, timeout=30):
        p.send_signal(sig)
        return p.wait(timeout=timeout)
