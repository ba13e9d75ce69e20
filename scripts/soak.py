#!/usr/bin/python3
"""Soak test of `modelgrid serve`: a mixed KServe v2 load for a given time, with the
latency, the errors and the memory (RSS) of the server and of its workers per minute.

Usage (scripts/soak.sh passes its arguments here):
  scripts/soak.py [--minutes M | --seconds S] [--repo REPO] [--port P] [--concurrency C]
  scripts/soak.py --url http://127.0.0.1:PORT [--server-pid PID] [--minutes M] ...

Without --url it starts `build/modelgrid serve REPO --gpus cpu --port P --footprints TMP`
(REPO defaults to .fixtures/repo, P to 0, any free port), waits for its "serving KServe v2
on http://127.0.0.1:PORT" line, soaks it, and stops it with SIGTERM at the end. With --url
it soaks a server that already runs; --server-pid names its process for the RSS lines.

C client threads (default 8) each keep one HTTP/1.1 keep-alive connection (reconnecting
when the server closes it) and send a mix of: JSON and binary-tensor infer requests to
add_one, two_in_two_out, transformer and tiny_cnn (add_one's and two_in_two_out's answers
are checked exactly, the transformer's against the Python reference when the fixtures have
one), resnet18 at a low rate (one request every --resnet-interval seconds at most), model
metadata and readiness, /v2/health/ready, /v2/models/stats, /metrics, and ~5% bad requests
(malformed JSON, wrong datatype, unknown model, ...) whose exact 4xx is "expected".

Unexpected errors: any 5xx, a connection failure or timeout, a wrong status, a wrong
answer, a worker process that restarted, a started server that does not exit 0 on SIGTERM.
Exit status: 0 when there were none, 1 otherwise, 2 when the soak could not start, 130
when SIGINT or SIGTERM ended it early without unexpected errors (the summary covers what
ran).
Python 3 standard library only; every socket operation has a timeout; traffic goes to
127.0.0.1 only.
"""
import argparse
import array
import base64
import ctypes
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")
READY_LINE = re.compile(r"serving KServe v2 on http://127\.0\.0\.1:(\d+)")
STRUCT = {"FP32": "f", "FP64": "d", "INT64": "q", "INT32": "i", "INT16": "h", "INT8": "b",
          "UINT8": "B", "BOOL": "?"}


def die(message):
    """Could not start the soak: exit status 2."""
    print("soak: " + message, file=sys.stderr, flush=True)
    sys.exit(2)


class Bad(Exception):
    """An answer that is not what the request should get (an unexpected error)."""


# ---------------------------------------------------------------------------------------
# HTTP: one keep-alive connection per thread

class Client:
    """One keep-alive connection to 127.0.0.1:port; reconnects when the server closed it."""

    def __init__(self, port, timeout_s):
        self.port = port
        self.timeout_s = timeout_s
        self.conn = None
        self.connects = 0
        self.reconnects = 0  # retries after the server closed a kept-alive connection

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers with lower-case names, body bytes); raises OSError or
        http.client.HTTPException on a connection failure or timeout."""
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                # The timeout covers connect, every send and every receive.
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout_s)
                self.connects += 1
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
            except (ConnectionResetError, BrokenPipeError, http.client.BadStatusLine,
                    http.client.CannotSendRequest) as e:
                # A kept-alive connection that the server closed (idle timeout) fails
                # like this before any answer: retry once on a fresh connection.
                self.close()
                if fresh or attempt == 1:
                    raise
                self.reconnects += 1
                continue
            except BaseException:
                self.close()
                raise
            if resp.will_close:
                self.close()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------
# Tensors

def pack(dtype, values):
    return struct.pack("<%d%s" % (len(values), STRUCT[dtype]), *values)


def unpack(dtype, raw):
    if dtype not in STRUCT:
        raise Bad("output datatype %s not understood by the soak test" % dtype)
    size = struct.calcsize(STRUCT[dtype])
    if len(raw) % size:
        raise Bad("%d binary bytes for %s" % (len(raw), dtype))
    return list(struct.unpack("<%d%s" % (len(raw) // size, STRUCT[dtype]), raw))


def flatten(data):
    out = []
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(reversed(x))
        else:
            out.append(x)
    return out


def json_infer(inputs, binary_outputs=False):
    """inputs: [(name, dtype, shape, values)] -> (body, headers) with JSON data."""
    req = {"inputs": [{"name": n, "datatype": d, "shape": s, "data": v} for n, d, s, v in inputs]}
    if binary_outputs:
        req["parameters"] = {"binary_data_output": True}
    return json.dumps(req).encode(), {"Content-Type": "application/json"}


def binary_infer(inputs, binary_outputs):
    """inputs: [(name, dtype, shape, raw bytes)] -> (body, headers), binary tensor extension."""
    req = {"inputs": [{"name": n, "datatype": d, "shape": s,
                       "parameters": {"binary_data_size": len(raw)}} for n, d, s, raw in inputs]}
    if binary_outputs:
        req["parameters"] = {"binary_data_output": True}
    header = json.dumps(req).encode()
    return header + b"".join(raw for _, _, _, raw in inputs), {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream"}


def parse_outputs(status, headers, body):
    """A 200 infer answer -> {name: (datatype, shape, values)}; raises Bad otherwise."""
    if status != 200:
        raise Bad("HTTP %d: %s" % (status, body[:200].decode("utf-8", "replace")))
    n = headers.get("inference-header-content-length")
    header, blob = body, b""
    if n is not None:
        n = int(n)
        if n > len(body):
            raise Bad("Inference-Header-Content-Length %d > body %d" % (n, len(body)))
        header, blob = body[:n], body[n:]
    try:
        doc = json.loads(header)
        outs = doc["outputs"]
    except (ValueError, KeyError, TypeError):
        raise Bad("not an infer answer: %r" % header[:200])
    result, offset = {}, 0
    for o in outs:
        dtype, shape = o["datatype"], o["shape"]
        params = o.get("parameters") or {}
        if "binary_data_size" in params:
            size = int(params["binary_data_size"])
            if offset + size > len(blob):
                raise Bad("binary output %s overruns the body" % o["name"])
            values = unpack(dtype, blob[offset:offset + size])
            offset += size
        else:
            values = flatten(o["data"])
        if len(values) != math.prod(shape):
            raise Bad("output %s: %d values for shape %s" % (o["name"], len(values), shape))
        result[o["name"]] = (dtype, shape, values)
    if offset != len(blob):
        raise Bad("%d binary bytes that belong to no output" % (len(blob) - offset))
    return result


def expect_output(outputs, name, dtype, shape):
    if name not in outputs:
        raise Bad("no output %s (got %s)" % (name, sorted(outputs)))
    got_dtype, got_shape, values = outputs[name]
    if got_dtype != dtype or list(got_shape) != list(shape):
        raise Bad("output %s is %s %s, expected %s %s" % (name, got_dtype, got_shape, dtype, shape))
    return values


def expect_finite(name, values):
    for v in values:
        if not math.isfinite(v):
            raise Bad("output %s has a non-finite value %r" % (name, v))


def expect_equal(name, got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise Bad("%s[%d] = %r, expected %r" % (name, i, g, w))


def expect_close(name, got, want, rtol, atol):
    for i, (g, w) in enumerate(zip(got, want)):
        if not abs(g - w) <= atol + rtol * abs(w):
            raise Bad("%s[%d] = %r, expected %r (rtol %g, atol %g)" % (name, i, g, w, rtol, atol))


# ---------------------------------------------------------------------------------------
# The operations of the mix. Each returns "ok" or "expected" (a 4xx the request was built
# to get) and raises Bad for an unexpected answer.

class Load:
    """What the operations share: the models found, inputs and the resnet18 rate limit."""

    def __init__(self, models, reference, resnet_interval_s):
        self.models = models  # names of the models that answered their metadata
        self.reference = reference  # transformer reference from the fixtures, or None
        self.resnet_interval_s = resnet_interval_s
        self.resnet_lock = threading.Lock()
        self.resnet_next = 0.0
        self.resnet_busy = False
        rng = random.Random(1)
        # Pixels rounded to float32 once; each resnet18/tiny_cnn request takes a slice.
        self.pixels = pack("FP32", [rng.uniform(-1, 1) for _ in range(3 * 224 * 224 + 4096)])

    def take_resnet(self):
        """True when this thread may send a resnet18 request now (at most one in flight,
        one every resnet_interval_s)."""
        with self.resnet_lock:
            now = time.monotonic()
            if self.resnet_busy or now < self.resnet_next:
                return False
            self.resnet_busy = True
            self.resnet_next = now + self.resnet_interval_s
            return True

    def release_resnet(self):
        with self.resnet_lock:
            self.resnet_busy = False


def quarters(rng, n, lo=-4000, hi=4000):
    # Multiples of 1/4 below 1000 are exact in FP32, and so is each plus one.
    return [rng.randint(lo, hi) / 4.0 for _ in range(n)]


def op_add_one(client, rng, load, binary):
    batch, n = rng.randint(1, 8), rng.randint(1, 32)
    x = quarters(rng, batch * n)
    if binary:
        body, headers = binary_infer([("INPUT__0", "FP32", [batch, n], pack("FP32", x))],
                                     rng.random() < 0.75)
    else:
        body, headers = json_infer([("INPUT__0", "FP32", [batch, n], x)], rng.random() < 0.2)
    outputs = parse_outputs(*client.request("POST", "/v2/models/add_one/infer", body, headers))
    got = expect_output(outputs, "OUTPUT__0", "FP32", [batch, n])
    expect_equal("add_one OUTPUT__0", got, [v + 1.0 for v in x])
    return "ok"


def op_two_in_two_out(client, rng, load, binary):
    batch = rng.randint(1, 8)
    a = [rng.randint(-100000, 100000) for _ in range(batch * 4)]
    b = quarters(rng, batch * 4)
    if binary:
        body, headers = binary_infer([("INPUT__0", "INT64", [batch, 4], pack("INT64", a)),
                                      ("INPUT__1", "FP32", [batch, 4], pack("FP32", b))],
                                     rng.random() < 0.75)
    else:
        body, headers = json_infer([("INPUT__0", "INT64", [batch, 4], a),
                                    ("INPUT__1", "FP32", [batch, 4], b)], rng.random() < 0.2)
    outputs = parse_outputs(*client.request("POST", "/v2/models/two_in_two_out/infer", body,
                                            headers))
    doubled = expect_output(outputs, "OUTPUT__0", "INT64", [batch, 4])
    summed = expect_output(outputs, "OUTPUT__1", "FP32", [batch, 4])
    expect_equal("two_in_two_out OUTPUT__0", doubled, [2 * v for v in a])
    # b + a in FP32: a up to 1e5 and b a multiple of 1/4 below 1000 are exact in FP32.
    want = list(struct.unpack("<%df" % len(a), pack("FP32", [x + y for x, y in zip(a, b)])))
    expect_equal("two_in_two_out OUTPUT__1", summed, want)
    return "ok"


def op_transformer(client, rng, load, binary):
    ref = load.reference
    if ref is not None and rng.random() < 0.25:
        shape, x, want = ref["shape"], ref["input"], ref["output"]
    else:
        batch = rng.randint(1, 4)
        shape, want = [batch, 16, 64], None
        start = rng.randrange(0, 4096) * 4
        x = unpack("FP32", load.pixels[start:start + batch * 16 * 64 * 4])
    if binary:
        body, headers = binary_infer([("INPUT__0", "FP32", shape, pack("FP32", x))],
                                     rng.random() < 0.75)
    else:
        body, headers = json_infer([("INPUT__0", "FP32", shape, x)], rng.random() < 0.2)
    outputs = parse_outputs(*client.request("POST", "/v2/models/transformer/infer", body, headers))
    got = expect_output(outputs, "OUTPUT__0", "FP32", shape)
    expect_finite("transformer OUTPUT__0", got)
    if want is not None:
        expect_close("transformer OUTPUT__0", got, want, ref["rtol"], ref["atol"])
    return "ok"


def op_tiny_cnn(client, rng, load, binary):
    batch = rng.randint(1, 4)
    start = rng.randrange(0, 4096) * 4
    raw = load.pixels[start:start + batch * 3 * 32 * 32 * 4]
    body, headers = binary_infer([("INPUT__0", "FP32", [batch, 3, 32, 32], raw)],
                                 rng.random() < 0.75)
    outputs = parse_outputs(*client.request("POST", "/v2/models/tiny_cnn/infer", body, headers))
    expect_finite("tiny_cnn OUTPUT__0", expect_output(outputs, "OUTPUT__0", "FP32", [batch, 10]))
    return "ok"


def op_resnet18(client, rng, load, binary):
    start = rng.randrange(0, 1024) * 4
    raw = load.pixels[start:start + 3 * 224 * 224 * 4]
    body, headers = binary_infer([("INPUT__0", "FP32", [1, 3, 224, 224], raw)], True)
    outputs = parse_outputs(*client.request("POST", "/v2/models/resnet18/infer", body, headers))
    expect_finite("resnet18 OUTPUT__0", expect_output(outputs, "OUTPUT__0", "FP32", [1, 1000]))
    return "ok"


def get_json(client, path):
    status, _, body = client.request("GET", path)
    if status != 200:
        raise Bad("GET %s: HTTP %d: %s" % (path, status, body[:200].decode("utf-8", "replace")))
    try:
        return json.loads(body)
    except ValueError:
        raise Bad("GET %s: not JSON: %r" % (path, body[:200]))


def op_metadata(client, rng, load, binary):
    m = rng.choice(load.models)
    if rng.random() < 0.3:
        status, _, body = client.request("GET", "/v2/models/%s/ready" % m)
        if status != 200:
            raise Bad("%s not ready: HTTP %d %r" % (m, status, body[:200]))
        return "ok"
    doc = get_json(client, "/v2/models/" + m)
    if doc.get("name") != m or not doc.get("inputs"):
        raise Bad("metadata of %s: %r" % (m, str(doc)[:200]))
    return "ok"


def op_health(client, rng, load, binary):
    status, _, body = client.request("GET", "/v2/health/ready")
    if status != 200:
        raise Bad("/v2/health/ready: HTTP %d %r" % (status, body[:200]))
    return "ok"


def op_stats(client, rng, load, binary):
    if rng.random() < 0.3:
        m = rng.choice(load.models)
        doc = get_json(client, "/v2/models/%s/stats" % m)
        want = 1
    else:
        doc = get_json(client, "/v2/models/stats")
        want = len(load.models)
    stats = doc.get("model_stats")
    if not isinstance(stats, list) or len(stats) < want:
        raise Bad("stats: %r" % str(doc)[:200])
    return "ok"


def op_metrics(client, rng, load, binary):
    status, _, body = client.request("GET", "/metrics")
    if status != 200 or b"nv_inference_request_success" not in body:
        raise Bad("/metrics: HTTP %d %r" % (status, body[:200]))
    return "ok"


def bad_requests():
    """(why, method, path, body, headers, expected status): the server must refuse each."""
    def floats(dtype, shape, data):
        return json_infer([("INPUT__0", dtype, shape, data)])[0]
    add_one = "/v2/models/add_one/infer"
    binary_header = json.dumps({"inputs": [{"name": "INPUT__0", "datatype": "FP32",
                                            "shape": [1, 4],
                                            "parameters": {"binary_data_size": 12}}]}).encode()
    return [
        ("malformed JSON", "POST", add_one, b'{"inputs": [', {}, 400),
        ("not an object", "POST", add_one, b"[1, 2, 3]", {}, 400),
        ("wrong datatype", "POST", add_one, floats("INT64", [1, 4], [1, 2, 3, 4]), {}, 400),
        ("unknown datatype", "POST", add_one, floats("FP99", [1, 4], [1, 2, 3, 4]), {}, 400),
        ("data count != shape", "POST", add_one, floats("FP32", [1, 4], [1, 2, 3]), {}, 400),
        ("batch above max_batch_size", "POST", add_one,
         floats("FP32", [9, 1], list(range(9))), {}, 400),
        ("binary byte count != shape", "POST", add_one, binary_header + bytes(12),
         {"Inference-Header-Content-Length": str(len(binary_header))}, 400),
        ("unknown model", "POST", "/v2/models/no_such_model/infer",
         floats("FP32", [1, 4], [1, 2, 3, 4]), {}, 404),
        ("unknown model metadata", "GET", "/v2/models/no_such_model", None, {}, 404),
        ("unknown version", "POST", "/v2/models/add_one/versions/7/infer",
         floats("FP32", [1, 4], [1, 2, 3, 4]), {}, 404),
    ]


BAD = bad_requests()


def op_bad(client, rng, load, binary):
    why, method, path, body, headers, want = rng.choice(BAD)
    status, _, reply = client.request(method, path, body, headers)
    if status != want:
        raise Bad("bad request (%s) answered HTTP %d, expected %d: %r" % (why, status, want,
                                                                          reply[:200]))
    try:
        if "error" not in json.loads(reply):
            raise ValueError
    except (ValueError, TypeError):
        raise Bad("bad request (%s): the %d has no {\"error\": ...} body: %r" % (why, status,
                                                                                 reply[:200]))
    return "expected"


# (kind, function, binary, weight, model it needs or None)
MIX = [
    ("add_one json", op_add_one, False, 20, "add_one"),
    ("add_one binary", op_add_one, True, 10, "add_one"),
    ("two_in_two_out json", op_two_in_two_out, False, 12, "two_in_two_out"),
    ("two_in_two_out binary", op_two_in_two_out, True, 8, "two_in_two_out"),
    ("transformer json", op_transformer, False, 7, "transformer"),
    ("transformer binary", op_transformer, True, 8, "transformer"),
    ("tiny_cnn binary", op_tiny_cnn, True, 4, "tiny_cnn"),
    ("resnet18 binary", op_resnet18, True, 3, "resnet18"),  # also rate limited
    ("metadata/ready", op_metadata, False, 6, None),
    ("health ready", op_health, False, 5, None),
    ("stats", op_stats, False, 3, None),
    ("metrics", op_metrics, False, 3, None),
]
BAD_KIND = "bad request (expect 4xx)"


# ---------------------------------------------------------------------------------------
# Results

def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1)]


class Tally:
    def __init__(self):
        self.requests = self.errors = self.expected = 0
        self.latencies_ms = array.array("d")

    def add(self, outcome, ms):
        self.requests += 1
        self.errors += outcome == "error"
        self.expected += outcome == "expected"
        self.latencies_ms.append(ms)

    def merge(self, other):
        self.requests += other.requests
        self.errors += other.errors
        self.expected += other.expected
        self.latencies_ms.extend(other.latencies_ms)

    def p(self, q):
        return percentile(sorted(self.latencies_ms), q)


class Results:
    """Per-interval and per-kind tallies, and the unexpected errors seen (thread-safe)."""

    def __init__(self, start, interval_s, max_printed_errors):
        self.lock = threading.Lock()
        self.start, self.interval_s = start, interval_s
        self.intervals = {}  # index -> Tally
        self.kinds = {}  # kind -> Tally
        self.error_counts = {}  # message without its numbers -> (count, first message)
        self.printed_errors = 0
        self.max_printed_errors = max_printed_errors

    def add(self, kind, outcome, ms, done, message=None):
        index = int((done - self.start) // self.interval_s)
        with self.lock:
            self.intervals.setdefault(index, Tally()).add(outcome, ms)
            self.kinds.setdefault(kind, Tally()).add(outcome, ms)
            if message is not None:
                key = "%s: %s" % (kind, message[:300])
                # Grouped with the numbers left out; the first of a group is its example.
                group = NUMBER.sub("N", key)
                count, example = self.error_counts.get(group, (0, key))
                self.error_counts[group] = (count + 1, example)
                if self.printed_errors < self.max_printed_errors:
                    self.printed_errors += 1
                    print("  ! t=%.1fs unexpected error, %s" % (done - self.start, key),
                          flush=True)
                    if self.printed_errors == self.max_printed_errors:
                        print("  ! (further errors are only counted; see the summary)",
                              flush=True)

    def take(self, first, last=None):
        """Merges and removes the intervals first..last (all from first when last is None)."""
        out = Tally()
        with self.lock:
            for i in sorted(self.intervals):
                if i >= first and (last is None or i <= last):
                    out.merge(self.intervals.pop(i))
        return out


def client_thread(port, args, load, results, end, stop, seed, clients):
    rng = random.Random(seed)
    client = Client(port, args.request_timeout)
    clients.append(client)
    mix = [(k, f, b, w) for k, f, b, w, m in MIX if m is None or m in load.models]
    kinds = [(k, f, b) for k, f, b, _ in mix]
    weights = [w for _, _, _, w in mix]
    while not stop.is_set() and time.monotonic() < end:
        if rng.random() < args.bad_share:
            kind, fn, binary = BAD_KIND, op_bad, False
        else:
            kind, fn, binary = rng.choices(kinds, weights)[0]
        took_resnet = False
        if fn is op_resnet18:
            took_resnet = load.take_resnet()
            if not took_resnet:
                kind, fn, binary = "add_one json", op_add_one, False
                if "add_one" not in load.models:
                    kind, fn = "health ready", op_health
        t0 = time.monotonic()
        message = None
        try:
            outcome = fn(client, rng, load, binary)
        except Bad as e:
            outcome, message = "error", str(e)
        except (OSError, http.client.HTTPException) as e:
            outcome, message = "error", "connection: %s: %s" % (type(e).__name__, e)
        finally:
            if took_resnet:
                load.release_resnet()
        done = time.monotonic()
        results.add(kind, outcome, (done - t0) * 1000.0, done, message)
        if message is not None and message.startswith("connection: "):
            stop.wait(0.5)  # no busy loop against a server that is gone
    client.close()


# ---------------------------------------------------------------------------------------
# Processes and memory

def read_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def workers_of(server_pid):
    """{worker name: pid} of the server's children whose cmdline has --shm-fd."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
            if int(stat[stat.rindex(")") + 2:].split()[1]) != server_pid:
                continue
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().decode("utf-8", "replace").split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if "--shm-fd" not in argv:
            continue
        name = argv[argv.index("--name") + 1] if "--name" in argv[:-1] else "pid%d" % pid
        found[name] = pid
    return found


def memory_snapshot(server_pid):
    """{process label: (pid, RSS KiB)}: the server and each worker."""
    if server_pid is None:
        return {}
    snap = {"server": (server_pid, read_rss_kib(server_pid))}
    for name, pid in sorted(workers_of(server_pid).items()):
        snap["worker " + name] = (pid, read_rss_kib(pid))
    return snap


def print_memory(title, snap):
    if not snap:
        print("%s: no server pid given (--server-pid), RSS not measured" % title)
        return
    print("%s:" % title)
    for label, (pid, kib) in snap.items():
        rss = "gone" if kib is None else "%.1f MiB" % (kib / 1024.0)
        print("  %-28s pid %-8d RSS %s" % (label, pid, rss))


def rss_totals(snap):
    server = sum(k or 0 for label, (_, k) in snap.items() if label == "server")
    workers = sum(k or 0 for label, (_, k) in snap.items() if label != "server")
    return server / 1024.0, workers / 1024.0


def pr_set_pdeathsig():
    # The server gets SIGTERM if this script dies without stopping it.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_server(args, tmp):
    binary = os.path.abspath(args.modelgrid)
    repo = os.path.abspath(args.repo)
    if not os.access(binary, os.X_OK):
        die("%s not found or not executable (build it first)" % binary)
    if not os.path.isdir(repo):
        die("no model repository at %s (scripts/make-fixtures.sh makes .fixtures/repo)"
                 % repo)
    out_path, err_path = os.path.join(tmp, "serve.out"), os.path.join(tmp, "serve.log")
    cmd = [binary, "serve", repo, "--gpus", "cpu", "--port", str(args.port), "--grpc-port", "0",
           "--footprints", os.path.join(tmp, "footprints.json")]
    print("starting: %s" % " ".join(cmd), flush=True)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        # Its own session: a Ctrl-C on the terminal reaches this script, which then stops
        # the server itself after the summary.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, preexec_fn=pr_set_pdeathsig)
    deadline = time.monotonic() + args.start_timeout
    while True:
        with open(out_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        m = READY_LINE.search(text)
        if m:
            print(text[:m.start()].rstrip("\n"))
            print(m.group(0), flush=True)
            return proc, int(m.group(1)), out_path, err_path
        if proc.poll() is not None or time.monotonic() > deadline:
            why = ("exited with status %d" % proc.returncode if proc.returncode is not None
                   else "did not print its serving line within %d s" % args.start_timeout)
            print("soak: the server %s; its output:" % why, file=sys.stderr)
            print(tail(out_path, 20) + tail(err_path, 40), file=sys.stderr)
            stop_server(proc, 10)
            sys.exit(2)
        time.sleep(0.25)


def tail(path, n):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "".join("    | %s\n" % line for line in lines[-n:])


def stop_server(proc, wait_s):
    """SIGTERM, then SIGKILL after wait_s; returns (exit status, seconds, killed)."""
    t0 = time.monotonic()
    if proc.poll() is not None:
        return proc.returncode, 0.0, False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=wait_s)
        return proc.returncode, time.monotonic() - t0, False
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return proc.returncode, time.monotonic() - t0, True


def find_models(port, timeout_s, wait_s):
    """Waits for /v2/health/ready, then returns the mix's models that the server serves."""
    client = Client(port, timeout_s)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            status, _, _ = client.request("GET", "/v2/health/ready")
            if status == 200:
                break
        except (OSError, http.client.HTTPException):
            client.close()
        if time.monotonic() > deadline:
            die("/v2/health/ready did not answer 200 within %d s" % wait_s)
        time.sleep(0.5)
    models = []
    for name in ["add_one", "two_in_two_out", "transformer", "tiny_cnn", "resnet18"]:
        try:
            status, _, body = client.request("GET", "/v2/models/" + name)
        except (OSError, http.client.HTTPException) as e:
            die("metadata of %s: %s" % (name, e))
        if status == 200:
            models.append(name)
    client.close()
    return models


def load_reference(repo):
    """The transformer's Python reference from the fixtures (repo/../serve/reference)."""
    path = os.path.join(os.path.dirname(os.path.abspath(repo)), "serve", "reference",
                        "transformer.json")
    try:
        with open(path) as f:
            ref = json.load(f)
        x, y = ref["input_data"][0], ref["output_data"][0]
        if x["dtype"] != "FP32" or y["dtype"] != "FP32" or x["shape"] != y["shape"]:
            return None
        return {"shape": x["shape"], "input": unpack("FP32", base64.b64decode(x["data"])),
                "output": unpack("FP32", base64.b64decode(y["data"])),
                "rtol": max(float(ref.get("rtol", 1e-4)), 1e-4),
                "atol": max(float(ref.get("atol", 1e-4)), 1e-4), "path": path}
    except (OSError, ValueError, KeyError, TypeError, Bad):
        return None


def worker_restarts(port, timeout_s):
    """modelgrid_worker_restarts_total summed over the workers, or None."""
    try:
        client = Client(port, timeout_s)
        status, _, body = client.request("GET", "/metrics")
        client.close()
    except (OSError, http.client.HTTPException):
        return None
    if status != 200:
        return None
    total = 0.0
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("modelgrid_worker_restarts_total"):
            try:
                total += float(line.rsplit(None, 1)[1])
            except (ValueError, IndexError):
                pass
    return int(total)


# ---------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    ap.add_argument("--seconds", type=float, help="soak length in seconds (overrides --minutes)")
    ap.add_argument("--repo", default=None,
                    help="model repository to serve (default .fixtures/repo)")
    ap.add_argument("--port", type=int, default=0, help="port for the started server (0: any)")
    ap.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    ap.add_argument("--url", help="soak this running server (http://127.0.0.1:PORT) instead")
    ap.add_argument("--server-pid", type=int, help="with --url: the server's pid, for RSS")
    ap.add_argument("--modelgrid", default=os.path.join(ROOT, "build", "modelgrid"),
                    help="the modelgrid executable (default build/modelgrid)")
    ap.add_argument("--interval", type=float, default=60.0,
                    help="seconds per report line (default 60: one line a minute)")
    ap.add_argument("--bad-share", type=float, default=0.05,
                    help="share of deliberately bad requests (default 0.05)")
    ap.add_argument("--resnet-interval", type=float, default=2.0,
                    help="at most one resnet18 request every this many seconds (default 2)")
    ap.add_argument("--request-timeout", type=float, default=60.0,
                    help="socket timeout of each request, seconds (default 60)")
    ap.add_argument("--start-timeout", type=float, default=180.0,
                    help="seconds to wait for the started server's serving line (default 180)")
    ap.add_argument("--stop-timeout", type=float, default=45.0,
                    help="seconds to wait for the server after SIGTERM before SIGKILL")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the started server's output and footprints directory")
    args = ap.parse_args()
    args.duration_s = args.seconds if args.seconds is not None else args.minutes * 60.0
    if args.duration_s <= 0 or args.concurrency < 1 or args.interval <= 0:
        ap.error("the duration, --concurrency and --interval must be positive")
    if args.server_pid is not None and args.url is None:
        ap.error("--server-pid goes with --url")
    args.repo_given = args.repo is not None
    if args.repo is None:
        args.repo = os.path.join(ROOT, ".fixtures", "repo")
    return args


def url_port(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost") or not u.port:
        die("--url must be http://127.0.0.1:PORT (the soak only talks to 127.0.0.1)")
    return u.port


def main():
    args = parse_args()
    stop = threading.Event()
    # SIGINT or SIGTERM: during the start, abort (the server is stopped on the way out);
    # once the load runs, stop it early and print the summary of what ran.
    interrupted = []

    def on_signal(signum, frame):
        if not loading:
            raise KeyboardInterrupt
        interrupted.append(signal.Signals(signum).name)
        stop.set()
    loading = False
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    proc = tmp = err_path = None
    failed = True  # until the soak has run and passed
    if args.url:
        port, server_pid = url_port(args.url), args.server_pid
    else:
        tmp = tempfile.mkdtemp(prefix="modelgrid-soak-")
    try:
        if tmp is not None:
            proc, port, _, err_path = start_server(args, tmp)
            server_pid = proc.pid
        models = find_models(port, args.request_timeout, 60)
        if not models:
            die("the server serves none of add_one, two_in_two_out, transformer, "
                     "tiny_cnn, resnet18")
        reference = load_reference(args.repo) if (proc is not None or args.repo_given) else None
        load = Load(models, reference, args.resnet_interval)
        print("soak: %.0f s against http://127.0.0.1:%d, %d clients, models %s; transformer "
              "reference %s" % (args.duration_s, port, args.concurrency, ", ".join(models),
                                reference["path"] if reference else "none"), flush=True)
        loading = True
        first_snap = memory_snapshot(server_pid)
        print_memory("RSS at the start", first_snap)
        restarts_before = worker_restarts(port, args.request_timeout)
        if proc is not None:
            alive = lambda: proc.poll() is None
        elif server_pid is not None:
            alive = lambda: read_rss_kib(server_pid) is not None  # gone or a zombie
        else:
            alive = lambda: True
        total, results, elapsed_s, snaps, clients, died = run_load(args, port, load, server_pid,
                                                                   alive, stop)
        last_snap = memory_snapshot(server_pid)
        print_memory("RSS at the end", last_snap)
        restarts_after = worker_restarts(port, args.request_timeout)
        restarts = (restarts_after - restarts_before
                    if restarts_before is not None and restarts_after is not None else None)
        errors = print_summary(args, total, results, elapsed_s, first_snap, snaps, last_snap,
                               clients, restarts)
        if died:
            print("unexpected: the server process exited during the soak")
            errors += 1
        if proc is not None:
            if proc.poll() is not None:
                print("the server had exited by itself with status %d" % proc.returncode)
                errors += not died
            status, took_s, killed = stop_server(proc, args.stop_timeout)
            if killed:
                print("server: did not exit within %.0f s of SIGTERM; killed" % args.stop_timeout)
                errors += 1
            else:
                print("server: exited with status %s %.1f s after SIGTERM" % (status, took_s))
                errors += status != 0
            errors += report_log(err_path)
        failed = errors != 0
        if interrupted and not failed:
            print("RESULT: INTERRUPTED by %s after %.0f of %.0f s, no unexpected errors until "
                  "then" % (interrupted[0], elapsed_s, args.duration_s))
            return 130
        print("RESULT: %s" % ("PASS" if errors == 0 else "FAIL"))
        return 0 if errors == 0 else 1
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 1
    finally:
        if proc is not None and proc.poll() is None:
            stop_server(proc, args.stop_timeout)
        if tmp is not None:
            if args.keep_logs or failed:
                print("server output kept in %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)


def report_log(path):
    """Prints the started server's warning and error log lines; returns 0 (they are shown
    for judgement, not counted)."""
    if path is None:
        return 0
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    odd = [l for l in lines if re.search(r"\b(warn|warning|error|critical|fatal)\b", l, re.I)]
    if odd:
        print("server log: %d warning/error line(s) of %d (%.1f KiB); the last ones:" % (
            len(odd), len(lines), os.path.getsize(path) / 1024.0))
        for line in odd[-10:]:
            print("    | " + line[:300])
    else:
        print("server log: %d line(s) (%.1f KiB), no warnings or errors" % (
            len(lines), os.path.getsize(path) / 1024.0))
    return 0


def run_load(args, port, load, server_pid, alive, stop):
    """Runs the clients until the end, printing a line per interval. Stops early on SIGTERM,
    Ctrl-C, or when the server process is gone (alive() false)."""
    start = time.monotonic()
    end = start + args.duration_s
    results = Results(start, args.interval, 20)
    clients = []
    threads = [threading.Thread(target=client_thread, daemon=True,
                                args=(port, args, load, results, end, stop, 1000 + i, clients))
               for i in range(args.concurrency)]
    for t in threads:
        t.start()
    label = "minute" if args.interval == 60 else "interval"
    snaps = []  # (interval number, memory snapshot)
    total = Tally()
    k = 1
    died = False
    try:
        while True:
            boundary = min(start + k * args.interval, end)
            while not stop.is_set() and time.monotonic() < boundary:
                stop.wait(min(1.0, max(0.0, boundary - time.monotonic())))
                if not died and not alive():
                    died = True
                    print("  ! t=%.1fs the server process is gone; stopping the soak"
                          % (time.monotonic() - start), flush=True)
                    stop.set()
            last = stop.is_set() or boundary >= end
            if last:
                stop.set()
                for t in threads:
                    t.join(args.request_timeout + 5)
            tally = results.take(k - 1, None if last else k - 1)
            snap = memory_snapshot(server_pid)
            snaps.append((k, snap))
            total.merge(tally)
            span_s = min(time.monotonic(), end) - (start + (k - 1) * args.interval)
            rss = ""
            if snap:
                server_mib, workers_mib = rss_totals(snap)
                rss = "  RSS server %.1f MiB workers %.1f MiB" % (server_mib, workers_mib)
            partial = "" if abs(span_s - args.interval) < 0.5 else " (%.0f s)" % span_s
            print("%s %d%s: requests %d  errors %d  expected-4xx %d  p50 %.2f ms  p99 %.2f ms"
                  "  | %.0f req/s%s" % (label, k, partial, tally.requests, tally.errors,
                                        tally.expected, tally.p(50), tally.p(99),
                                        tally.requests / max(span_s, 1e-9), rss), flush=True)
            if last:
                break
            k += 1
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(args.request_timeout + 5)
        total.merge(results.take(0))
        print("soak: interrupted; summary of what ran", flush=True)
    return total, results, time.monotonic() - start, snaps, clients, died


def print_summary(args, total, results, elapsed_s, first_snap, snaps, last_snap, clients,
                  restarts):
    """Prints the summary; returns the unexpected errors (requests, restarted or missing
    workers)."""
    print()
    print("summary: %.0f s, %d requests (%.0f/s), %d unexpected errors, %d expected 4xx, "
          "p50 %.2f ms, p99 %.2f ms; %d connections opened, %d reconnects after the server "
          "closed one" % (elapsed_s, total.requests, total.requests / max(elapsed_s, 1e-9),
                          total.errors, total.expected, total.p(50), total.p(99),
                          sum(c.connects for c in clients), sum(c.reconnects for c in clients)))
    print("  %-26s %9s %7s %9s %9s %9s" % ("kind", "requests", "errors", "exp. 4xx",
                                          "p50 ms", "p99 ms"))
    for kind, t in sorted(results.kinds.items(), key=lambda kv: -kv[1].requests):
        print("  %-26s %9d %7d %9d %9.2f %9.2f" % (kind, t.requests, t.errors, t.expected,
                                                    t.p(50), t.p(99)))
    if results.error_counts:
        print("unexpected errors by message:")
        groups = sorted(results.error_counts.values(), key=lambda ce: -ce[0])
        for n, example in groups[:20]:
            print("  %6d x  %s" % (n, example))
        if len(groups) > 20:
            print("  (and %d more kinds)" % (len(groups) - 20))
    if first_snap:
        # The first interval includes warm-up effects (allocator caches, graph
        # specialisation); growth after it is what a leak would show.
        after_first = snaps[0][1] if len(snaps) > 1 else None
        print("RSS growth per process (start -> end%s):" % (
            "; and since the end of the first %s" % ("minute" if args.interval == 60
                                                      else "interval") if after_first else ""))
        for label, (pid, kib) in last_snap.items():
            before = first_snap.get(label)
            if before is None:
                print("  %-28s new process (pid %d), RSS %.1f MiB" % (label, pid,
                                                                      (kib or 0) / 1024.0))
                continue
            if before[0] != pid:
                print("  %-28s RESTARTED (pid %d -> %d), RSS %.1f MiB" % (
                    label, before[0], pid, (kib or 0) / 1024.0))
                continue
            if kib is None or before[1] is None:
                print("  %-28s gone" % label)
                continue
            line = "  %-28s %8.1f -> %8.1f MiB  %+8.1f MiB (%+.1f%%)" % (
                label, before[1] / 1024.0, kib / 1024.0, (kib - before[1]) / 1024.0,
                100.0 * (kib - before[1]) / max(before[1], 1))
            mid = after_first.get(label) if after_first else None
            if mid and mid[0] == pid and mid[1] is not None:
                line += "   since the first: %+8.1f MiB" % ((kib - mid[1]) / 1024.0)
            print(line)
        for label in first_snap:
            if label not in last_snap:
                print("  %-28s gone at the end" % label)
    changed = [label for label, (pid, _) in first_snap.items()
               if label in last_snap and last_snap[label][0] != pid] if first_snap else []
    gone = [label for label in first_snap if label not in last_snap] if first_snap else []
    if restarts is not None:
        print("worker restarts during the soak (modelgrid_worker_restarts_total): %d" % restarts)
    problems = max(len(changed) + len(gone), restarts or 0)
    if problems:
        print("unexpected: %d worker restart(s) or missing worker(s)" % problems)
    print("unexpected errors: %d" % (total.errors + problems))
    return total.errors + problems


if __name__ == "__main__":
    sys.exit(main())
