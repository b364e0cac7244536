#!/usr/bin/env python3
"""deploy/prometheus.yml and the Grafana dashboard against the real server and a real Prometheus.

    tests/deploy/prometheus_test.py [BUILD_DIR]

1. The dashboard JSON is what deploy/grafana/make_dashboard.py generates.
2. A server (BUILD_DIR/bin) on 127.0.0.1 takes traffic: classify requests, a bench, a request for
   an unknown model (so error series exist). Every metric the dashboard queries exists in the
   server's /metrics, and every label it groups or filters by exists on those series.
3. /usr/bin/prometheus runs with deploy/prometheus.yml whose target (the compose service
   theano-serving:8502) is replaced by the test server's metrics port and scrape interval set to
   1 s (promtool checks that file too); through the HTTP API: up == 1, the OK request counter
   equals the number of OK requests the server counted, and every dashboard expression (with
   $model = .* and $__rate_interval = 1m) evaluates without error and returns data.
Exit 0 pass, 1 fail.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_util as du  # noqa: E402

BIN = os.path.join(du.build_dir(sys.argv[1] if len(sys.argv) > 1 else None), "bin")
CLI = os.path.join(BIN, "theano-serving-cli")
SAMPLES = os.path.join(du.ROOT, "models/fashion_lenet/samples")
DASHBOARD = os.path.join(du.ROOT, "deploy/grafana/dashboards/theano-serving.json")
failures = []


def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures.append(msg)


def dashboard_exprs():
    d = json.load(open(DASHBOARD))
    exprs = [(p["title"], t["expr"]) for p in d["panels"] for t in p["targets"]]
    for v in d.get("templating", {}).get("list", []):
        exprs.append((f"variable {v['name']}", v["definition"]))
    return exprs


def instantiate(expr):
    return expr.replace("$__rate_interval", "1m").replace("$model", ".*")


def referenced(expr):
    """(metric names, label names) of a PromQL expression (ours: no offsets or subqueries)."""
    metrics = set(re.findall(r"\b(theano_serving_[a-z0-9_]+|up)\b(?=\s*[{\[)]|\s*$|\s*,)", expr))
    labels = set()
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        labels |= {x.strip() for x in group.split(",") if x.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    if expr.startswith("label_values("):
        m = re.match(r"label_values\((\w+),\s*(\w+)\)", expr)
        metrics, labels = {m.group(1)}, {m.group(2)}
    return metrics, labels - {"le"}


def prom_query(base, q):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    return json.loads(du.http_get(url))


def main():
    # 1. Generated dashboard up to date.
    with du.Processes() as procs:
        regen = procs.path("dashboard.json")
        subprocess.run([sys.executable, os.path.join(du.ROOT, "deploy/grafana/make_dashboard.py"), regen],
                       check=True, capture_output=True)
        check(open(regen).read() == open(DASHBOARD).read(),
              "deploy/grafana/dashboards/theano-serving.json is make_dashboard.py's output")

        # 2. Server with traffic.
        server, grpc, metrics = procs.start_server(BIN, "server")
        target = f"127.0.0.1:{grpc}"
        r = subprocess.run([CLI, "classify", "--server", target, "--top_k", "1", SAMPLES],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"classify the samples on {target}")
        r = subprocess.run([CLI, "classify", "--server", target, "--model", "no_such_model",
                            os.path.join(SAMPLES, "0000_ankle_boot.png")], capture_output=True, timeout=30)
        check(r.returncode != 0, "a request for an unknown model fails (error series exist)")

        # 3. Prometheus with deploy/prometheus.yml pointed at the test server.
        config = open(os.path.join(du.ROOT, "deploy/prometheus.yml")).read()
        check("theano-serving:8502" in config, "deploy/prometheus.yml targets theano-serving:8502")
        config = config.replace("theano-serving:8502", f"127.0.0.1:{metrics}")
        config = re.sub(r"(scrape_interval|evaluation_interval): \S+", r"\1: 1s", config)
        config_path = procs.path("prometheus.yml")
        open(config_path, "w").write(config)
        r = subprocess.run(["promtool", "check", "config", config_path], capture_output=True, text=True)
        check(r.returncode == 0, f"promtool check config (test copy): {r.stdout.strip().splitlines()[-1:]}")
        port = du.free_port()
        base = f"http://127.0.0.1:{port}"
        procs.start(["prometheus", f"--config.file={config_path}",
                     f"--storage.tsdb.path={procs.path('tsdb')}",
                     f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], "prometheus.log")
        try:
            du.wait_until("Prometheus ready", lambda: du.http_get(f"{base}/-/ready"), 60, 0.5)
        except RuntimeError:
            print(procs.log("prometheus.log"))
            raise
        # Traffic during the scrapes, so that rate() sees it.
        bench = subprocess.run([CLI, "bench", "--server", target, "--duration_s", "4", "--concurrency", "2",
                                SAMPLES], capture_output=True, text=True, timeout=60)
        check(bench.returncode == 0, "bench: " + " ".join(bench.stdout.split("\n")[1:2]))

        up = du.wait_until("up == 1", lambda: [
            s for s in prom_query(base, 'up{job="theano-serving"}')["data"]["result"] if s["value"][1] == "1"], 30)
        check(len(up) == 1, f"Prometheus: up{{job=\"theano-serving\", instance=\"{up[0]['metric']['instance']}\"}} == 1")

        # The server's own OK count once traffic stopped; Prometheus must read back the same value.
        samples = du.parse_metrics(du.http_get(f"http://127.0.0.1:{metrics}/metrics"))
        ok_requests = du.metric_sum(samples, "theano_serving_requests_total", code="OK")

        def prom_ok():
            res = prom_query(base, 'sum(theano_serving_requests_total{job="theano-serving",code="OK"})')
            res = res["data"]["result"]
            return res and float(res[0]["value"][1]) == ok_requests
        try:
            du.wait_until("the request counter in Prometheus", prom_ok, 30, 0.5)
            check(True, f"Prometheus: sum(theano_serving_requests_total{{code=\"OK\"}}) == {ok_requests:.0f}, as the server counts")
        except RuntimeError as e:
            check(False, str(e))

        # 4. Dashboard: metric and label names exist in the live /metrics; every expression evaluates.
        samples = du.parse_metrics(du.http_get(f"http://127.0.0.1:{metrics}/metrics"))
        names = {n for n, _, _ in samples} | {"up"}
        labels_of = {}
        for n, l, _ in samples:
            labels_of.setdefault(n, set()).update(l)
        labels_of["up"] = {"job", "instance"}
        exprs = dashboard_exprs()
        missing = []
        for title, expr in exprs:
            metrics_used, labels_used = referenced(expr)
            if not metrics_used:
                missing.append(f"{title}: no metric found in {expr}")
            for m in metrics_used:
                if m not in names:
                    missing.append(f"{title}: metric {m} is not exported")
                elif not labels_used <= labels_of[m]:
                    missing.append(f"{title}: {m} has no label(s) {sorted(labels_used - labels_of[m])}")
        for m in missing:
            print("FAIL: " + m)
        check(not missing, f"dashboard: the {len(exprs)} queries use only exported metrics and labels "
                           f"({len({m for _, e in exprs for m in referenced(e)[0]})} metrics)")

        def all_have_data():
            empty = []
            for title, expr in exprs:
                if expr.startswith("label_values("):
                    continue
                res = prom_query(base, instantiate(expr))
                if res.get("status") != "success":
                    raise AssertionError(f"{title}: {expr}: {res}")
                if not res["data"]["result"]:
                    empty.append(f"{title}: {instantiate(expr)}")
            return empty
        # Rates need two scrapes inside the window: retry for up to 10 s.
        deadline = time.monotonic() + 10
        try:
            empty = all_have_data()
            while empty and time.monotonic() < deadline:
                time.sleep(0.5)
                empty = all_have_data()
        except AssertionError as e:
            empty = [str(e)]
        for e in empty:
            print("FAIL: no data: " + e)
        check(not empty, f"Prometheus evaluates all {len(exprs) - 1} dashboard expressions with data")

        code = procs.stop(server)
        check(code == 0, f"server exit code {code} after SIGTERM")
    if failures:
        print(f"prometheus_test: {len(failures)} failure(s)")
        return 1
    print("prometheus_test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
