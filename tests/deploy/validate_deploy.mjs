// Offline validation of deploy/ (run by tests/deploy/deploy_validate_test.sh from BUILD/deploy-npm,
// where the pinned npm packages are installed):
//  - every object in deploy/k8s/*.yaml against the Kubernetes OpenAPI schema of kubernetes-models
//    4.x (@kubernetes-models/validate 4.x), plus unknown fields (the schemas do not reject them: a
//    Proxy records every field the validator reads, and fields it never read are unknown);
//  - the rules of docs/DEPLOY.md that tie the files together: gRPC probes on the gRPC port, grace
//    period > preStop + --drain_timeout_s, non-root + read-only root, resources, scrape annotations,
//    selectors, ConfigMap flags, HPA/PDB targets, kustomization listing every manifest;
//  - deploy/compose.yaml, the Grafana provisioning and dashboard, and deploy/prometheus.yml agree.
//
//   node validate_deploy.mjs REPO_ROOT          exit 0 valid, 1 with every problem listed
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments, parse } from "yaml";

const root = process.argv[2];
const deploy = path.join(root, "deploy");
const problems = [];
const fail = (where, msg) => problems.push(`${where}: ${msg}`);
const ok = (msg) => console.log(`ok: ${msg}`);

function track(obj, p, seen) {
  if (obj === null || typeof obj !== "object") return obj;
  return new Proxy(obj, {
    get(t, k, r) {
      if (typeof k === "string") seen.add(`${p}/${k}`);
      return track(Reflect.get(t, k, r), `${p}/${k}`, seen);
    },
  });
}
function unknownFields(obj, p, seen, out) {
  if (obj === null || typeof obj !== "object") return;
  for (const k of Object.keys(obj)) {
    const q = `${p}/${k}`;
    if (!seen.has(q)) out.push(q);
    else unknownFields(obj[k], q, seen, out);
  }
}

// apiVersion + kind -> the compiled JSON-schema validator of kubernetes-models.
async function schemaValidator(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  const g = group === "core" ? "Core" : group.split(".")[0].replace(/^./, (c) => c.toUpperCase());
  const file = `IoK8sApi${g}${version.replace(/^./, (c) => c.toUpperCase())}${kind}.mjs`;
  const url = new URL(`./node_modules/kubernetes-models/_schemas/${file}`, import.meta.url);
  if (!fs.existsSync(url)) return null;
  return (await import(url)).validate;
}

// 1. Kubernetes manifests.
const k8sDir = path.join(deploy, "k8s");
const manifests = fs.readdirSync(k8sDir).filter((f) => f.endsWith(".yaml")).sort();
const objects = [];
for (const f of manifests) {
  if (f === "kustomization.yaml") continue;
  for (const doc of parseAllDocuments(fs.readFileSync(path.join(k8sDir, f), "utf8"))) {
    if (doc.errors.length) { fail(f, doc.errors.map((e) => e.message).join("; ")); continue; }
    const obj = doc.toJS();
    if (obj === null) continue;
    const where = `${f} ${obj.kind}/${obj.metadata?.name}`;
    const validate = await schemaValidator(obj.apiVersion ?? "", obj.kind ?? "");
    if (!validate) { fail(where, `no schema for ${obj.apiVersion} ${obj.kind}`); continue; }
    const seen = new Set();
    if (!validate(track(obj, "", seen))) {
      for (const e of validate.errors) fail(where, `${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
    }
    const extra = [];
    unknownFields(obj, "", seen, extra);
    for (const e of extra) fail(where, `unknown field ${e}`);
    objects.push({ file: f, obj });
  }
}
const find = (kind, pred = () => true) => objects.map((o) => o.obj).filter((o) => o.kind === kind && pred(o));
if (!problems.length) ok(`${objects.length} Kubernetes objects valid against the schemas: ${objects.map((o) => o.obj.kind).join(", ")}`);

const kust = parse(fs.readFileSync(path.join(k8sDir, "kustomization.yaml"), "utf8"));
const listed = [...(kust.resources ?? [])].sort();
const expected = manifests.filter((f) => f !== "kustomization.yaml");
if (JSON.stringify(listed) !== JSON.stringify(expected)) fail("kustomization.yaml", `resources ${listed} != files ${expected}`);

const [dep] = find("Deployment");
const [cm] = find("ConfigMap");
const matches = (sel, labels) => Object.entries(sel ?? {}).every(([k, v]) => labels?.[k] === v);
if (!dep || !cm) {
  fail("k8s", "need a Deployment and a ConfigMap");
} else {
  const pod = dep.spec.template;
  const c = pod.spec.containers[0];
  const flags = Object.fromEntries(cm.data.flags.split("\n").filter(Boolean).map((l) => {
    const m = l.trim().match(/^--([a-z_]+)(?:=(.*))?$/);
    if (!m) fail("configmap.yaml", `not a --flag line: ${l}`);
    return m ? [m[1], m[2] ?? "true"] : ["", ""];
  }));
  const portOf = (name) => c.ports.find((p) => p.name === name)?.containerPort;
  if (String(portOf("grpc")) !== flags.grpc_port) fail("deployment.yaml", `grpc port ${portOf("grpc")} != --grpc_port ${flags.grpc_port}`);
  if (String(portOf("metrics")) !== flags.metrics_port) fail("deployment.yaml", `metrics port != --metrics_port`);
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    if (c[probe]?.grpc?.port !== portOf("grpc")) fail("deployment.yaml", `${probe} must be a native gRPC probe on port ${portOf("grpc")}`);
  }
  const stop = c.lifecycle?.preStop?.exec?.command ?? [];
  const preStop = stop[0]?.endsWith("sleep") ? Number(stop[1]) : NaN;
  const drain = Number(flags.drain_timeout_s ?? 10);
  if (!(pod.spec.terminationGracePeriodSeconds > preStop + drain)) {
    fail("deployment.yaml", `terminationGracePeriodSeconds ${pod.spec.terminationGracePeriodSeconds} must exceed preStop ${preStop} s + --drain_timeout_s ${drain}`);
  }
  const psc = pod.spec.securityContext ?? {}, csc = c.securityContext ?? {};
  if (!psc.runAsNonRoot || !(psc.runAsUser > 0)) fail("deployment.yaml", "runAsNonRoot with a non-zero runAsUser");
  if (!csc.readOnlyRootFilesystem || csc.allowPrivilegeEscalation !== false) fail("deployment.yaml", "readOnlyRootFilesystem, no privilege escalation");
  const dockerUser = fs.readFileSync(path.join(root, "Dockerfile"), "utf8").match(/^USER (\d+)/m)?.[1];
  if (String(psc.runAsUser) !== dockerUser) fail("deployment.yaml", `runAsUser ${psc.runAsUser} != Dockerfile USER ${dockerUser}`);
  for (const kind of ["requests", "limits"]) {
    if (!c.resources?.[kind]?.cpu || !c.resources?.[kind]?.memory) fail("deployment.yaml", `resources.${kind} cpu and memory`);
  }
  const a = pod.metadata.annotations ?? {};
  if (a["prometheus.io/scrape"] !== "true" || a["prometheus.io/port"] !== String(portOf("metrics"))) fail("deployment.yaml", "prometheus.io scrape annotations on the metrics port");
  const flagfile = (c.args ?? []).find((x) => x.startsWith("--flagfile="))?.slice(11);
  const vol = pod.spec.volumes.find((v) => v.configMap?.name === cm.metadata.name);
  const mount = vol && c.volumeMounts.find((m) => m.name === vol.name);
  if (!mount || flagfile !== `${mount.mountPath}/flags`) fail("deployment.yaml", `--flagfile ${flagfile} is not the ConfigMap's "flags" key`);
  if (!matches(dep.spec.selector.matchLabels, pod.metadata.labels)) fail("deployment.yaml", "selector does not match the pod labels");
  const services = find("Service");
  if (!services.some((s) => s.spec.clusterIP === "None")) fail("service.yaml", "a headless Service (clusterIP: None)");
  if (!services.some((s) => (s.spec.type ?? "ClusterIP") === "ClusterIP" && s.spec.clusterIP !== "None")) fail("service.yaml", "a ClusterIP Service");
  for (const s of services) {
    if (!matches(s.spec.selector, pod.metadata.labels)) fail("service.yaml", `${s.metadata.name}: selector does not select the pods`);
    for (const p of s.spec.ports) if (!portOf(p.targetPort)) fail("service.yaml", `${s.metadata.name}: targetPort ${p.targetPort} is no container port name`);
  }
  const [hpa] = find("HorizontalPodAutoscaler");
  if (!hpa || hpa.spec.scaleTargetRef.kind !== "Deployment" || hpa.spec.scaleTargetRef.name !== dep.metadata.name) fail("hpa.yaml", "must scale the Deployment");
  const [pdb] = find("PodDisruptionBudget");
  if (!pdb || !matches(pdb.spec.selector.matchLabels, pod.metadata.labels)) fail("pdb.yaml", "must select the pods");
  else if (hpa && !(Number(pdb.spec.maxUnavailable) < hpa.spec.minReplicas)) fail("pdb.yaml", "maxUnavailable must be below the HPA's minReplicas");
  if (!problems.length) ok(`Deployment: gRPC probes on ${portOf("grpc")}, grace ${pod.spec.terminationGracePeriodSeconds} s > preStop ${preStop} s + drain ${drain} s, uid ${psc.runAsUser}, read-only root; Services, HPA (${hpa.spec.minReplicas}-${hpa.spec.maxReplicas}), PDB, ConfigMap consistent`);
}

// 2. compose + Prometheus + Grafana.
const n0 = problems.length;
const compose = parse(fs.readFileSync(path.join(deploy, "compose.yaml"), "utf8"));
const svc = compose.services ?? {};
for (const name of ["theano-serving", "prometheus", "grafana"]) if (!svc[name]) fail("compose.yaml", `service ${name} missing`);
const hostPath = (v) => v.split(":")[0];
for (const [name, s] of Object.entries(svc)) {
  for (const v of s.volumes ?? []) {
    const src = hostPath(v);
    if (src.startsWith(".") && !fs.existsSync(path.join(deploy, src))) fail("compose.yaml", `${name}: ${src} does not exist`);
  }
  for (const d of s.depends_on ?? []) if (!svc[d]) fail("compose.yaml", `${name}: depends on unknown ${d}`);
}
const ts = svc["theano-serving"] ?? {};
if (ts.build && !fs.existsSync(path.join(deploy, ts.build.context, ts.build.dockerfile))) fail("compose.yaml", "build context/dockerfile not found");
const drainFlag = (ts.command ?? []).find((x) => x.startsWith("--drain_timeout_s="));
const grace = parseInt(ts.stop_grace_period ?? "10", 10);
if (!(grace > Number(drainFlag ? drainFlag.split("=")[1] : 10))) fail("compose.yaml", "stop_grace_period must exceed --drain_timeout_s");
const prom = parse(fs.readFileSync(path.join(deploy, "prometheus.yml"), "utf8"));
const targets = prom.scrape_configs.flatMap((j) => (j.static_configs ?? []).flatMap((sc) => sc.targets));
if (!targets.includes("theano-serving:8502")) fail("prometheus.yml", `targets ${targets}: want theano-serving:8502 (the compose service)`);
const promMount = (svc.prometheus?.volumes ?? []).find((v) => hostPath(v) === "./prometheus.yml");
if (!promMount || !(svc.prometheus.command ?? []).some((x) => x === `--config.file=${promMount.split(":")[1]}`)) fail("compose.yaml", "prometheus must load ./prometheus.yml");
const ds = parse(fs.readFileSync(path.join(deploy, "grafana/provisioning/datasources/prometheus.yaml"), "utf8")).datasources;
const provider = parse(fs.readFileSync(path.join(deploy, "grafana/provisioning/dashboards/theano-serving.yaml"), "utf8")).providers[0];
const dashMount = (svc.grafana?.volumes ?? []).find((v) => hostPath(v) === "./grafana/dashboards");
if (!dashMount || dashMount.split(":")[1] !== provider.options.path) fail("grafana", `dashboard provider path ${provider.options.path} is not where compose mounts ./grafana/dashboards`);
if (ds[0].url !== `http://prometheus:${(svc.prometheus?.ports ?? [""])[0].split(":").pop()}`) fail("grafana", `datasource url ${ds[0].url} is not the compose prometheus service`);
const dash = JSON.parse(fs.readFileSync(path.join(deploy, "grafana/dashboards/theano-serving.json"), "utf8"));
const ids = new Set();
for (const p of dash.panels) {
  if (ids.has(p.id)) fail("dashboard", `duplicate panel id ${p.id}`);
  ids.add(p.id);
  for (const t of [p, ...(p.targets ?? [])]) {
    if (t.datasource?.uid !== ds[0].uid) fail("dashboard", `panel "${p.title}": datasource uid ${t.datasource?.uid} != provisioned ${ds[0].uid}`);
  }
  if (!p.targets?.length || p.targets.some((t) => !t.expr)) fail("dashboard", `panel "${p.title}": no PromQL`);
}
for (const want of ["request rate", "error rate", "by stage", "batch size", "queue depth", "in-flight"]) {
  if (!dash.panels.some((p) => p.title.toLowerCase().includes(want))) fail("dashboard", `no panel about ${want}`);
}
if (problems.length === n0) ok(`compose.yaml, prometheus.yml, Grafana datasource/provider and dashboard (${dash.panels.length} panels) consistent`);

if (problems.length) {
  for (const p of problems) console.error(`FAIL: ${p}`);
  process.exit(1);
}
console.log("validate_deploy: all checks passed");
