#!/usr/bin/env python3
"""Writes deploy/grafana/dashboards/theano-serving.json (the Grafana dashboard of deploy/compose.yaml).

The dashboard is generated so that every panel has the same datasource, units and layout; edit the
PANELS table and re-run `python3 deploy/grafana/make_dashboard.py` (or `... OUT.json` to write elsewhere). Every PromQL expression is
checked against a live server's metric names and evaluated by a real Prometheus in
tests/deploy/prometheus_test.sh.
"""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "theano-serving-prometheus"}
M = 'model=~"$model"'
RI = "$__rate_interval"


def q(expr, legend):
    return {"expr": expr, "legendFormat": legend}


def quantiles(metric, by, legend):
    return [q(f'histogram_quantile({p}, sum by (le, {by}) (rate({metric}_bucket{{{M}}}[{RI}])))',
              f"p{int(p * 100)} {legend}") for p in (0.5, 0.99)]


# (title, unit, targets, description)
PANELS = [
    ("Request rate by API and code", "reqps",
     [q(f'sum by (api, code) (rate(theano_serving_requests_total{{{M}}}[{RI}]))', "{{api}} {{code}}")],
     "Finished requests per second (theano_serving_requests_total)."),
    ("Error rate by code", "reqps",
     [q(f'sum by (code) (rate(theano_serving_requests_total{{{M}, code!="OK"}}[{RI}]))', "{{code}}"),
      q(f'sum by (code, reason) (rate(theano_serving_request_errors_total[{RI}]))', "{{code}} {{reason}}")],
     "Failed requests per second by gRPC code, and by reason (all models)."),
    ("Error ratio", "percentunit",
     [q(f'sum(rate(theano_serving_requests_total{{{M}, code!="OK"}}[{RI}])) / '
        f'sum(rate(theano_serving_requests_total{{{M}}}[{RI}]))', "errors / requests")],
     "Share of requests that did not end OK."),
    ("Request latency p50 / p99", "s",
     quantiles("theano_serving_request_duration_seconds", "api", "{{api}}"),
     "Arrival to answer, every request."),
    ("Latency p50 / p99 by stage", "s",
     quantiles("theano_serving_stage_duration_seconds", "stage", "{{stage}}"),
     "decode, queue (waiting for a batch), inference (model run of the batch), total."),
    ("Batch size", "short",
     quantiles("theano_serving_batch_size", "model", "{{model}}") +
     [q(f'sum by (model) (rate(theano_serving_images_total{{{M}}}[{RI}])) / '
        f'sum by (model) (rate(theano_serving_inferences_total{{{M}}}[{RI}]))', "mean {{model}}")],
     "Images per model run (dynamic batching)."),
    ("Queue depth", "short",
     [q(f'sum by (model) (theano_serving_queue_images{{{M}}})', "{{model}}")],
     "Images waiting in the batching queue."),
    ("In-flight requests", "short",
     [q('sum by (api) (theano_serving_inflight_requests)', "{{api}}")],
     "Requests being processed."),
    ("Images classified per second", "short",
     [q(f'sum by (model, version) (rate(theano_serving_images_total{{{M}}}[{RI}]))', "{{model}} v{{version}}")],
     "Images (tensor rows) classified per second."),
    ("Model versions ready", "short",
     [q(f'sum by (model, version) (theano_serving_model_ready{{{M}}})', "{{model}} v{{version}}"),
      q(f'sum by (model, result) (increase(theano_serving_model_loads_total{{{M}}}[1h]))', "loads {{result}} (1h)")],
     "1 while a version is READY; version loads in the last hour."),
    ("Scrape targets up", "short",
     [q('up{job="theano-serving"}', "{{instance}}")],
     "Prometheus' own up metric: 1 when the last scrape of a replica succeeded."),
]


def panel(i, title, unit, targets, description):
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "multi"}},
        "targets": [dict(t, datasource=DS, refId=chr(ord("A") + k)) for k, t in enumerate(targets)],
    }


dashboard = {
    "uid": "theano-serving",
    "title": "theano-serving",
    "tags": ["theano-serving"],
    "timezone": "browser",
    "schemaVersion": 39,
    "version": 1,
    "refresh": "10s",
    "time": {"from": "now-30m", "to": "now"},
    "templating": {"list": [{
        "name": "model",
        "label": "model",
        "type": "query",
        "datasource": DS,
        "query": {"query": "label_values(theano_serving_model_ready, model)", "refId": "model"},
        "definition": "label_values(theano_serving_model_ready, model)",
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
    }]},
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "dashboards", "theano-serving.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
print(out)
