#!/usr/bin/python3
"""Checks the deployment files under deploy/ against ModelGrid itself.

Usage: /usr/bin/python3 scripts/check-manifests.py [--binary build/modelgrid] [--deploy DIR]
       /usr/bin/python3 scripts/check-manifests.py --self-test

Reads every YAML document under DIR (default: deploy/ beside this script's folder) and
checks, per kind: the fields a Deployment, Service, ServiceMonitor or ModelMesh
ServingRuntime needs; that every `--flag` of a ModelGrid container is a flag of
`modelgrid serve` (read from `BINARY serve --help`, so a flag the build lacks fails); that
the ports in its args (--port, --grpc-port) agree with its containerPorts, probes, the
Services and ServiceMonitors that reach it, the ServingRuntime's endpoints and every
deploy/Dockerfile*'s EXPOSE; that probes use ModelGrid's health endpoints and can reach
them (--host). Prints one line per problem, then "N manifests checked, M problems"; exits
1 when there are problems, 2 when it cannot run (no PyYAML, no binary).

--self-test runs the checks on in-memory manifests, each broken in one way, and fails
unless every break is reported and the unbroken set is clean.
"""
import argparse
import copy
import glob
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    yaml = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEALTH_PATHS = ("/v2/health/ready", "/v2/health/live")
METRICS_PATH = "/metrics"
DEFAULT_HTTP_PORT = 8000  # `modelgrid serve` defaults
DEFAULT_GRPC_PORT = 8001
DEFAULT_HOST = "127.0.0.1"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ENDPOINT = re.compile(r"^port:(\d+)$")


# ---- `modelgrid serve --help` ----

def parse_serve_help(text):
    """Returns ({flag: takes_value}, number of positionals) from CLI11's help text."""
    flags, positionals, section = {}, 0, None
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line.rstrip(":").strip()
            continue
        m = re.match(r"^\s+(?:-\w,)?(--[A-Za-z0-9][\w-]*)(.*)$", line)
        if section == "Options" and m:
            # "--gpus TEXT   ..." takes a value; "--modelmesh      Be a ..." does not.
            flags[m.group(1)] = bool(re.match(r"^ [A-Z][A-Z:]*\b", m.group(2)))
        elif section == "Positionals" and re.match(r"^  \w", line):
            positionals += 1
    return flags, positionals


def serve_flags_from_binary(binary):
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError("%s serve --help exited %d: %s" % (binary, out.returncode,
                                                              out.stderr.strip()))
    flags, positionals = parse_serve_help(out.stdout)
    if "--port" not in flags:
        raise RuntimeError("%s serve --help lists no --port: not ModelGrid's help" % binary)
    return flags, positionals


# ---- reading deploy/ ----

def load_manifests(deploy):
    """[(path, document)] for every YAML document under `deploy`, and load errors."""
    docs, errors = [], []
    paths = sorted(glob.glob(os.path.join(deploy, "**", "*.yaml"), recursive=True) +
                   glob.glob(os.path.join(deploy, "**", "*.yml"), recursive=True))
    for path in paths:
        try:
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    if doc is not None:
                        docs.append((path, doc))
        except yaml.YAMLError as e:
            errors.append("%s: not valid YAML: %s" % (path, str(e).replace("\n", " ")))
    return docs, errors


def exposed_ports(deploy):
    """{Dockerfile path: set of EXPOSEd port numbers} for deploy/Dockerfile*."""
    result = {}
    for path in sorted(glob.glob(os.path.join(deploy, "Dockerfile*"))):
        if path.endswith(".dockerignore"):
            continue
        ports = set()
        with open(path) as f:
            for line in f:
                words = line.split()
                if words and words[0].upper() == "EXPOSE":
                    ports.update(int(w.split("/")[0]) for w in words[1:] if w[0].isdigit())
        result[path] = ports
    return result


# ---- the checks ----

class Checker:
    """Collects problems as 'FILE: Kind/name: field: what is wrong'."""

    def __init__(self, flags, positionals):
        self.flags, self.positionals = flags, positionals
        self.problems = []
        self.servers = []  # (path, what, ServeArgs) of every ModelGrid container

    def problem(self, path, what, field, message):
        self.problems.append("%s: %s: %s: %s" % (rel(path), what, field, message))

    def check(self, docs, dockerfiles):
        for path, doc in docs:
            if not isinstance(doc, dict):
                self.problem(path, "?", "(document)", "not a mapping")
        docs = [(path, doc) for path, doc in docs if isinstance(doc, dict)]
        for path, doc in docs:
            what = "%s/%s" % (doc.get("kind", "?"), get(doc, "metadata", "name") or "?")
            for field in ("apiVersion", "kind"):
                if not doc.get(field):
                    self.problem(path, what, field, "missing")
            if not get(doc, "metadata", "name"):
                self.problem(path, what, "metadata.name", "missing")
            kind_check = {"Deployment": self.deployment, "Service": self.service,
                          "ServiceMonitor": self.service_monitor,
                          "ServingRuntime": self.serving_runtime}.get(doc.get("kind"))
            if kind_check:
                kind_check(path, what, doc, docs)
        self.dockerfiles(dockerfiles)
        return self.problems

    def deployment(self, path, what, doc, docs):
        selector = get(doc, "spec", "selector", "matchLabels") or {}
        labels = get(doc, "spec", "template", "metadata", "labels") or {}
        if not selector:
            self.problem(path, what, "spec.selector.matchLabels", "missing")
        elif not matches(selector, labels):
            self.problem(path, what, "spec.selector.matchLabels",
                         "%s does not match the template's labels %s" % (selector, labels))
        pod = get(doc, "spec", "template", "spec") or {}
        self.containers(path, what, "spec.template.spec", pod, modelmesh=False)
        volumes = {v.get("name") for v in pod.get("volumes") or []}
        for i, c in enumerate(pod.get("containers") or []):
            for m in c.get("volumeMounts") or []:
                if m.get("name") not in volumes:
                    self.problem(path, what, "spec.template.spec.containers[%d].volumeMounts" % i,
                                 "volume %r is not in spec.template.spec.volumes" % m.get("name"))

    def serving_runtime(self, path, what, doc, docs):
        spec = doc.get("spec") or {}
        formats = spec.get("supportedModelFormats") or []
        names = [f.get("name") for f in formats if isinstance(f, dict)]
        if not formats or not all(names):
            self.problem(path, what, "spec.supportedModelFormats",
                         "missing, or a format has no name")
        elif "pytorch" not in names:
            self.problem(path, what, "spec.supportedModelFormats",
                         "no 'pytorch' format (ModelGrid serves TorchScript as pytorch)")
        if spec.get("multiModel") is not True:
            self.problem(path, what, "spec.multiModel", "must be true (a ModelMesh runtime)")
        if "builtInAdapter" in spec:
            self.problem(path, what, "spec.builtInAdapter",
                         "ModelGrid implements the ModelMesh SPI itself: no adapter")
        endpoints = {}
        for field in ("grpcEndpoint", "grpcDataEndpoint"):
            m = ENDPOINT.match(str(spec.get(field, "")))
            if not m:
                self.problem(path, what, "spec." + field,
                             "%r is not port:N (ModelGrid listens on TCP)" % spec.get(field))
            else:
                endpoints[field] = int(m.group(1))
        servers = self.containers(path, what, "spec", spec, modelmesh=True)
        if len(servers) != 1:
            self.problem(path, what, "spec.containers", "needs exactly one ModelGrid container")
            return
        args = servers[0]
        for field, port in endpoints.items():
            if port != args.grpc_port:
                self.problem(path, what, "spec." + field,
                             "port %d, but the container serves gRPC (SPI and inference) on "
                             "--grpc-port %s" % (port, args.grpc_port))

    def containers(self, path, what, where, pod, modelmesh):
        """Checks a pod spec's containers; returns the ServeArgs of ModelGrid's."""
        containers = pod.get("containers") or []
        if not containers:
            self.problem(path, what, where + ".containers", "missing")
        servers = []
        for i, c in enumerate(containers):
            field = "%s.containers[%d]" % (where, i)
            for key in ("name", "image"):
                if not c.get(key):
                    self.problem(path, what, field + "." + key, "missing")
            args = [str(a) for a in c.get("args") or []]
            if not args and "modelgrid" not in str(c.get("image", "")):
                continue  # not ModelGrid: nothing more to check
            if not args or args[0] != "serve":
                self.problem(path, what, field + ".args",
                             "must start with 'serve' (the image's entrypoint is modelgrid)")
                continue
            serve = ServeArgs(args[1:], self.flags)
            serve.container_name = c.get("name")
            self.server(path, what, field, c, serve, modelmesh)
            servers.append(serve)
            self.servers.append((path, what, serve))
        return servers

    def server(self, path, what, field, c, serve, modelmesh):
        def p(sub, message):
            self.problem(path, what, field + sub, message)

        for message in serve.errors:
            p(".args", message)
        if not serve.unknown and len(serve.positionals) > self.positionals:
            p(".args", "more arguments than `serve` takes: %s" % serve.positionals)
        if modelmesh and "--modelmesh" not in serve.options:
            p(".args", "a ServingRuntime's ModelGrid needs --modelmesh")
        if not modelmesh and not serve.positionals and "--modelmesh" not in serve.options:
            p(".args", "no model repository to serve")
        if modelmesh and serve.grpc_port == 0:
            p(".args", "--grpc-port 0 turns off gRPC, which ModelMesh needs")
        gpus = serve.value("--gpus", "cpu")
        limits = get(c, "resources", "limits") or {}
        if gpus == "auto" and not limits.get("nvidia.com/gpu"):
            p(".resources.limits", "--gpus auto without nvidia.com/gpu: NVML would see no GPU")
        if gpus.startswith("cpu") and limits.get("nvidia.com/gpu"):
            p(".resources.limits", "requests nvidia.com/gpu but serves --gpus %s" % gpus)
        ports = {}
        for port in c.get("ports") or []:
            number = port.get("containerPort")
            ports[port.get("name")] = number
            if number not in serve.listening():
                p(".ports", "containerPort %s is neither --port %s nor --grpc-port %s" %
                  (number, serve.http_port, serve.grpc_port))
        if ports:
            for flag, number in (("--port", serve.http_port), ("--grpc-port", serve.grpc_port)):
                if number and number not in ports.values():
                    p(".ports", "no containerPort for %s %s" % (flag, number))
        serve.container_ports = ports
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if c.get(probe):
                self.probe(p, "." + probe, c[probe], serve, probe)

    def probe(self, p, field, probe, serve, kind):
        http = probe.get("httpGet")
        if http:
            path = http.get("path")
            if path not in HEALTH_PATHS:
                p(field + ".httpGet.path", "%r is not a ModelGrid health endpoint %s" %
                  (path, HEALTH_PATHS))
            elif kind == "livenessProbe" and path != "/v2/health/live":
                p(field + ".httpGet.path", "liveness must be /v2/health/live: %s fails while "
                  "models load, and the kubelet would restart the pod" % path)
            port = resolve(http.get("port"), serve.container_ports)
            if port != serve.http_port:
                p(field + ".httpGet.port", "%s is not --port %s" % (http.get("port"),
                                                                    serve.http_port))
            if serve.host in LOOPBACK:
                p(field, "--host %s: the kubelet probes the pod's address, give --host 0.0.0.0"
                  % serve.host)
        elif probe.get("grpc"):
            if probe["grpc"].get("port") != serve.grpc_port:
                p(field + ".grpc.port", "%s is not --grpc-port %s" % (probe["grpc"].get("port"),
                                                                     serve.grpc_port))
        elif probe.get("tcpSocket"):
            port = resolve(probe["tcpSocket"].get("port"), serve.container_ports)
            if port not in serve.listening():
                p(field + ".tcpSocket.port", "%s is not a port ModelGrid listens on" % port)

    def service(self, path, what, doc, docs):
        spec = doc.get("spec") or {}
        ports = spec.get("ports") or []
        if not ports:
            self.problem(path, what, "spec.ports", "missing")
        pods = self.selected_pods(doc, docs)
        if not pods:
            self.problem(path, what, "spec.selector",
                         "%s selects no Deployment here" % spec.get("selector"))
        for i, port in enumerate(ports):
            field = "spec.ports[%d]" % i
            if len(ports) > 1 and not port.get("name"):
                self.problem(path, what, field + ".name", "missing (needed with several ports)")
            if not isinstance(port.get("port"), int):
                self.problem(path, what, field + ".port", "missing or not a number")
            target = port.get("targetPort", port.get("port"))
            for pod in pods:
                for serve in self.pod_servers(pod):
                    number = resolve(target, serve.container_ports)
                    if number not in serve.listening():
                        self.problem(path, what, field + ".targetPort",
                                     "%s is neither --port %s nor --grpc-port %s" %
                                     (target, serve.http_port, serve.grpc_port))
                    elif serve.host_of(number) in LOOPBACK:
                        self.problem(path, what, field + ".targetPort",
                                     "port %d listens on %s only: unreachable through a Service"
                                     % (number, serve.host_of(number)))

    def service_monitor(self, path, what, doc, docs):
        spec = doc.get("spec") or {}
        selector = get(spec, "selector", "matchLabels") or {}
        services = [d for _, d in docs if d.get("kind") == "Service" and selector and
                    matches(selector, get(d, "metadata", "labels") or {})]
        if not services:
            self.problem(path, what, "spec.selector.matchLabels",
                         "%s selects no Service here" % selector)
        endpoints = spec.get("endpoints") or []
        if not endpoints:
            self.problem(path, what, "spec.endpoints", "missing")
        for i, endpoint in enumerate(endpoints):
            field = "spec.endpoints[%d]" % i
            if endpoint.get("path", METRICS_PATH) != METRICS_PATH:
                self.problem(path, what, field + ".path", "%r: ModelGrid's metrics are at %s" %
                             (endpoint.get("path"), METRICS_PATH))
            for service in services:
                named = {p.get("name"): p for p in get(service, "spec", "ports") or []}
                if endpoint.get("port") not in named:
                    self.problem(path, what, field + ".port", "%r is not a port name of "
                                 "Service/%s" % (endpoint.get("port"),
                                                 get(service, "metadata", "name")))
                    continue
                port = named[endpoint["port"]]
                target = port.get("targetPort", port.get("port"))
                for pod in self.selected_pods(service, docs):
                    for serve in self.pod_servers(pod):
                        if resolve(target, serve.container_ports) != serve.http_port:
                            self.problem(path, what, field + ".port", "%r does not reach "
                                         "--port %s, where /metrics is" % (endpoint["port"],
                                                                           serve.http_port))

    def selected_pods(self, service, docs):
        selector = get(service, "spec", "selector") or {}
        return [d for _, d in docs if d.get("kind") == "Deployment" and selector and
                matches(selector, get(d, "spec", "template", "metadata", "labels") or {})]

    def pod_servers(self, deployment):
        names = {c.get("name") for c in get(deployment, "spec", "template", "spec",
                                            "containers") or []}
        dname = get(deployment, "metadata", "name")
        return [s for _, what, s in self.servers
                if what == "Deployment/%s" % dname and s.container_name in names]

    def dockerfiles(self, dockerfiles):
        if not dockerfiles:
            self.problems.append("deploy/: no Dockerfile* to check EXPOSE against")
        users = {}  # port -> "--flag of Kind/name", first user
        for path, what, serve in self.servers:
            for flag, port in (("--port", serve.http_port), ("--grpc-port", serve.grpc_port)):
                if port:
                    users.setdefault(port, "the %s of %s (%s)" % (flag, what, rel(path)))
        for dockerfile, exposed in dockerfiles.items():
            for port in sorted(set(users) - exposed):
                self.problems.append("%s: EXPOSE: port %d is not exposed; it is %s" %
                                     (rel(dockerfile), port, users[port]))


class ServeArgs:
    """The arguments after `serve`, read as `modelgrid serve` would read them."""

    def __init__(self, args, flags):
        self.options, self.positionals, self.unknown, self.errors = {}, [], [], []
        self.container_ports, self.container_name = {}, None
        i = 0
        while i < len(args):
            token = args[i]
            i += 1
            if not token.startswith("-") or token == "-":
                self.positionals.append(token)
                continue
            name, eq, value = token.partition("=")
            if name not in flags and name != "-h":
                self.unknown.append(name)
                self.errors.append("%s is not a flag of `modelgrid serve`" % name)
                continue
            if flags.get(name) and not eq:
                if i >= len(args):
                    self.errors.append("%s needs a value" % name)
                    continue
                value = args[i]
                i += 1
            self.options[name] = value
        self.http_port = self.port("--port", DEFAULT_HTTP_PORT)
        self.grpc_port = self.port("--grpc-port", DEFAULT_GRPC_PORT)
        self.host = self.value("--host", DEFAULT_HOST)
        self.grpc_host = self.value("--grpc-host", self.host)

    def value(self, flag, default):
        return str(self.options.get(flag, default))

    def port(self, flag, default):
        text = self.value(flag, default)
        if not text.isdigit():
            self.errors.append("%s %s: a manifest needs a fixed port number to route to" %
                               (flag, text))
            return None
        return int(text)

    def listening(self):
        return {p for p in (self.http_port, self.grpc_port) if p}

    def host_of(self, port):
        return self.host if port == self.http_port else self.grpc_host


def get(doc, *keys):
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def resolve(port, named):
    """A port number, or a container port's name resolved through `named`."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    return named.get(port)


def rel(path):
    return os.path.relpath(path, ROOT) if os.path.isabs(path) else path


def run_checks(docs, flags, positionals, dockerfiles):
    """The problems of `docs` ([(path, document)]) as one list of lines."""
    # Pods first, so that Services and ServiceMonitors find the servers they route to.
    order = {"Deployment": 0, "ServingRuntime": 0, "Service": 1, "ServiceMonitor": 2}
    ordered = sorted(docs, key=lambda d: order.get(d[1].get("kind") if isinstance(d[1], dict)
                                                   else None, 3))
    return Checker(flags, positionals).check(ordered, dockerfiles)


# ---- --self-test ----

SELF_TEST_HELP = """Serve a Triton-style model repository over KServe v2 from shared workers
Usage: modelgrid serve [OPTIONS] [repository]

Positionals:
  repository TEXT             REPO/<model>/config.pbtxt

Options:
  -h,--help                   Print this help message and exit
  --gpus TEXT                 cpu (default), auto (NVML) or a spec like 2xH100-80GB
  --host TEXT                 Address to listen on (default 127.0.0.1)
  --port INT:INT in [0 - 65535]
                              Port (default 8000; 0 picks a free one)
  --modelmesh                 Be a KServe ModelMesh serving runtime
  --grpc-port TEXT            KServe v2 gRPC port
  --grpc-host TEXT            Address for gRPC (default: --host)
  --log-format TEXT           text or json (one object per line)
"""

SELF_TEST_YAML = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mg}
spec:
  selector: {matchLabels: {app: mg}}
  template:
    metadata: {labels: {app: mg}}
    spec:
      containers:
        - name: modelgrid
          image: modelgrid:cuda
          args: [serve, /models, --gpus, auto, --host, 0.0.0.0, --port, "8000",
                 --grpc-port, "8001", --grpc-host, 0.0.0.0]
          ports: [{name: http, containerPort: 8000}, {name: grpc, containerPort: 8001}]
          readinessProbe: {httpGet: {path: /v2/health/ready, port: 8000}}
          livenessProbe: {httpGet: {path: /v2/health/live, port: http}}
          resources: {limits: {nvidia.com/gpu: 1}}
          volumeMounts: [{name: models, mountPath: /models}]
      volumes: [{name: models, persistentVolumeClaim: {claimName: modelgrid-models}}]
---
apiVersion: v1
kind: Service
metadata: {name: mg, labels: {app: mg}}
spec:
  selector: {app: mg}
  ports: [{name: http, port: 8000, targetPort: http}, {name: grpc, port: 8001, targetPort: 8001}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: mg}
spec:
  selector: {matchLabels: {app: mg}}
  endpoints: [{port: http, path: /metrics}]
---
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: modelgrid}
spec:
  supportedModelFormats: [{name: pytorch, autoSelect: true}, {name: python}]
  multiModel: true
  grpcEndpoint: "port:8085"
  grpcDataEndpoint: "port:8085"
  containers:
    - name: modelgrid
      image: modelgrid:cuda
      args: [serve, --modelmesh, --gpus, auto, --host, 0.0.0.0, --grpc-host, 127.0.0.1,
             --grpc-port, "8085"]
      resources: {limits: {nvidia.com/gpu: 1}}
      livenessProbe: {httpGet: {path: /v2/health/live, port: 8000}}
"""


def self_test_cases():
    """(what is broken, how, text that must be in a problem). Documents: 0 Deployment,
    1 Service, 2 ServiceMonitor, 3 ServingRuntime."""
    def container(docs):
        return docs[0]["spec"]["template"]["spec"]["containers"][0]

    def runtime(docs):
        return docs[3]["spec"]

    def put(getter, key, value):
        return lambda docs: getter(docs).__setitem__(key, value)

    return [
        ("an unknown flag", lambda d: container(d)["args"].append("--gpu-count"), "--gpu-count"),
        ("a flag without its value", lambda d: container(d)["args"].append("--gpus"),
         "--gpus needs a value"),
        ("no metadata.name", lambda d: d[1]["metadata"].pop("name"), "metadata.name: missing"),
        ("a selector that misses the pod",
         lambda d: d[0]["spec"]["selector"]["matchLabels"].update(app="other"),
         "spec.selector.matchLabels"),
        ("a readiness path ModelGrid does not serve",
         lambda d: container(d)["readinessProbe"]["httpGet"].update(path="/healthz"),
         "readinessProbe.httpGet.path"),
        ("liveness on readiness", lambda d: container(d)["livenessProbe"]["httpGet"].update(
            path="/v2/health/ready"), "liveness must be /v2/health/live"),
        ("a probe on the wrong port",
         lambda d: container(d)["readinessProbe"]["httpGet"].update(port=9000),
         "readinessProbe.httpGet.port"),
        ("probes against a loopback --host",
         lambda d: container(d)["args"].__setitem__(5, "127.0.0.1"), "--host 127.0.0.1"),
        ("--port that no containerPort has",
         lambda d: container(d)["args"].__setitem__(7, "8080"), "no containerPort for --port"),
        ("a Service targetPort nothing listens on",
         lambda d: d[1]["spec"]["ports"][1].update(targetPort=9001), "spec.ports[1].targetPort"),
        ("a ServiceMonitor port the Service lacks",
         lambda d: d[2]["spec"]["endpoints"][0].update(port="metrics"), "spec.endpoints[0].port"),
        ("a ServiceMonitor on the gRPC port",
         lambda d: d[2]["spec"]["endpoints"][0].update(port="grpc"), "where /metrics is"),
        ("--gpus auto without a GPU", lambda d: container(d)["resources"]["limits"].clear(),
         "nvidia.com/gpu"),
        ("a volumeMount without its volume", lambda d: d[0]["spec"]["template"]["spec"].pop(
            "volumes"), "volumeMounts"),
        ("no pytorch format", put(runtime, "supportedModelFormats", [{"name": "onnx"}]),
         "spec.supportedModelFormats"),
        ("multiModel false", put(runtime, "multiModel", False), "spec.multiModel"),
        ("a builtInAdapter", put(runtime, "builtInAdapter", {"serverType": "triton"}),
         "spec.builtInAdapter"),
        ("grpcEndpoint off --grpc-port", put(runtime, "grpcEndpoint", "port:8001"),
         "spec.grpcEndpoint"),
        ("a unix grpcDataEndpoint", put(runtime, "grpcDataEndpoint", "unix:/tmp/mm.sock"),
         "spec.grpcDataEndpoint"),
        ("a runtime without --modelmesh", lambda d: runtime(d)["containers"][0]["args"].remove(
            "--modelmesh"), "needs --modelmesh"),
        ("an unknown kind's missing apiVersion", lambda d: d.append({"kind": "ConfigMap",
                                                                     "metadata": {"name": "x"}}),
         "ConfigMap/x: apiVersion: missing"),
    ]


def self_test():
    flags, positionals = parse_serve_help(SELF_TEST_HELP)
    failures = []
    if flags.get("--gpus") is not True or flags.get("--modelmesh") is not False or \
            "--help" not in flags or positionals != 1:
        failures.append("help parser: read %s, %d positionals" % (flags, positionals))
    base = [("self-test.yaml", d) for d in yaml.safe_load_all(SELF_TEST_YAML)]
    dockerfiles = {"Dockerfile": {8000, 8001, 8085}}
    clean = run_checks(copy.deepcopy(base), flags, positionals, dockerfiles)
    if clean:
        failures.append("the unbroken manifests have problems:\n  " + "\n  ".join(clean))
    cases = self_test_cases() + [("EXPOSE without 8085", None, "EXPOSE: port 8085")]
    for what, breaks, expected in cases:
        docs = [d for _, d in copy.deepcopy(base)]
        exposed = dockerfiles
        if breaks:
            breaks(docs)
        else:
            exposed = {"Dockerfile": {8000, 8001}}
        found = run_checks([("self-test.yaml", d) for d in docs], flags, positionals, exposed)
        caught = any(expected in p for p in found)
        print("ok     " + what if caught else
              "FAILED %s: no problem mentions %r; got %s" % (what, expected, found))
        if not caught:
            failures.append(what)
    for f in failures:
        print("FAILED: " + f)
    print("self-test: %d cases, %d failed" % (len(cases), len(failures)))
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "modelgrid"))
    parser.add_argument("--deploy", default=os.path.join(ROOT, "deploy"))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if yaml is None:
        print("check-manifests: PyYAML is missing: apt-get install python3-yaml "
              "(scripts/install-deps.sh installs it)", file=sys.stderr)
        return 2
    if args.self_test:
        return self_test()
    try:
        flags, positionals = serve_flags_from_binary(args.binary)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        print("check-manifests: cannot read the flags of `modelgrid serve`: %s" % e,
              file=sys.stderr)
        return 2
    docs, problems = load_manifests(args.deploy)
    if not docs and not problems:
        problems.append("%s: no YAML manifests found" % rel(args.deploy))
    problems += run_checks(docs, flags, positionals, exposed_ports(args.deploy))
    for p in problems:
        print(p)
    print("%d manifests checked, %d problems" % (len(docs), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
