#!/usr/bin/env python3
"""Client-side load balancing across replicas, the way the headless Service is used on Kubernetes.

    tests/deploy/lb_test.py [BUILD_DIR]

Starts three servers on 127.0.0.1 (free ports) and runs
    theano-serving-cli bench --server ipv4:127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 --lb round_robin
        --duration_s 6 --concurrency 6
After 2 s every server's /metrics must show OK requests (all three took traffic); then the third
server is killed with SIGKILL. The bench must still finish with zero failed requests: requests that
were on the dead connection fail with UNAVAILABLE and the CLI's retry policy (client/channel.cc:
UNAVAILABLE, 3 attempts) resends them to the surviving servers, which must keep taking traffic.
Exit 0 pass, 1 fail.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_util as du  # noqa: E402

BIN = os.path.join(du.build_dir(sys.argv[1] if len(sys.argv) > 1 else None), "bin")
CLI = os.path.join(BIN, "theano-serving-cli")
SAMPLES = os.path.join(du.ROOT, "models/fashion_lenet/samples")
failures = []


def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures.append(msg)


def ok_requests(metrics_port):
    text = du.http_get(f"http://127.0.0.1:{metrics_port}/metrics")
    return du.metric_sum(du.parse_metrics(text), "theano_serving_requests_total", code="OK")


def main():
    with du.Processes() as procs:
        servers = [procs.start_server(BIN, f"server{i}") for i in range(3)]
        target = "ipv4:" + ",".join(f"127.0.0.1:{g}" for _, g, _ in servers)
        bench = procs.start([CLI, "bench", "--server", target, "--lb", "round_robin", "--duration_s", "6",
                             "--concurrency", "6", "--json", SAMPLES], "bench.log")
        time.sleep(2)
        before = [ok_requests(m) for _, _, m in servers]
        check(all(n > 0 for n in before),
              f"round_robin over {target}: OK requests per server after 2 s: {[int(n) for n in before]}")
        victim = servers[2][0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        print(f"killed server2 (SIGKILL) with {int(before[2])} requests served")
        try:
            bench.wait(timeout=60)
        except subprocess.TimeoutExpired:
            check(False, "bench did not finish within 60 s")
            return 1
        log = procs.log("bench.log")
        try:
            result = json.loads(log.strip().splitlines()[-1])
        except (ValueError, IndexError):
            result = {}
        check(bench.returncode == 0, f"bench exit code {bench.returncode}")
        failed = result.get("requests", -1) - result.get("ok", 0)
        check(result.get("requests", 0) > 0 and failed == 0 and not result.get("errors"),
              f"bench: {result.get('requests')} requests, {result.get('ok')} OK, {failed} failed, "
              f"errors {result.get('errors')}, {result.get('throughput_rps', 0):.0f} req/s")
        after = [ok_requests(m) for _, _, m in servers[:2]]
        check(all(a > b for a, b in zip(after, before)),
              f"surviving servers kept taking traffic: {[int(b) for b in before[:2]]} -> {[int(a) for a in after]}")
        total = sum(after) + before[2]
        # A response lost with the killed server can be counted there and again on its retry: the
        # slack is the number of requests in flight (--concurrency).
        check(total <= result.get("ok", 0) + 6,
              f"servers counted {int(total)}+ OK requests (the killed one until 2 s), the client {result.get('ok')}")
        if failures:
            print(log)
    if failures:
        print(f"lb_test: {len(failures)} failure(s)")
        return 1
    print("lb_test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
