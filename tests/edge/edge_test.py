#!/usr/bin/python3
"""Network-edge abuse suite: drives the real `modelgrid serve` over loopback sockets.

Usage:
  /usr/bin/python3 tests/edge/edge_test.py [--binary build/modelgrid] [--fixtures .fixtures]
                                           [-k SUBSTRING]...

Defaults are relative to the repository root; MODELGRID_BINARY and MODELGRID_FIXTURES
override them, and the flags override both. Needs the fixture repository
(scripts/make-fixtures.sh writes FIXTURES/repo). Python 3 standard library only.

Four servers are started, each on a small temporary repository holding a copy of the
fixture model add_one (FP32 INPUT__0 [-1] -> OUTPUT__0 = input + 1, max_batch_size 8):

  MainServer        explicit model control, default HTTP limits: malformed HTTP,
                    Transfer-Encoding, JSON depth and size bombs, inference validation,
                    the largest legal body, NaN/Inf outputs, path traversal, resets
  SlowClientServer  --http-request-timeout-ms 2000 --http-idle-timeout-ms 1500
  ConnectionCaps    --http-max-connections 8 --http-max-connections-per-client 4
  ApiKeyServer      --api-key

Every socket operation has a timeout; nothing leaves 127.0.0.0/8. The last line printed is
"N passed, M failed" (", K skipped" when some were skipped); the exit status is non-zero
when anything failed.
"""
import argparse
import array
import ctypes
import json
import math
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# scripts/asan.sh sets MODELGRID_SANITIZED=1. AddressSanitizer's shadow memory and
# quarantine inflate every footprint a worker measures, so the suites leave their bounds on
# measured memory unchecked against such a build, and say so each time.
SANITIZED = os.environ.get("MODELGRID_SANITIZED") == "1"


def memory_check(assertion, what):
    """Runs `assertion`, a bound on measured memory, or says loudly that `what` is not
    checked: against a sanitizer build (SANITIZED) every measured footprint is inflated."""
    if SANITIZED:
        print("\n[memory] NOT CHECKED: %s (a sanitizer build, MODELGRID_SANITIZED=1)" % what,
              flush=True)
    else:
        assertion()

# Hang guard for one request; nothing asserts on latency unless it says so.
SOCK_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 120.0
MIB = 1 << 20
DEFAULT_MAX_BODY = 64 * MIB
DEFAULT_MAX_HEADER = 16 * 1024
ADD_ONE_OK = (b'{"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[1,4],'
              b'"data":[1,2,3,4]}]}')

CONFIG = {"binary": None, "fixtures": None, "tmp": None}
# Every 500 answered during the run, and every server that died or exited badly: checked
# by the last test. A bad request must never be a 500.
INTERNAL_ERRORS = []
SERVER_TROUBLE = []
CURRENT_TEST = ["(setup)"]


# ---------------------------------------------------------------------------------------
# HTTP over raw sockets

class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection before a whole response arrived."""

    def __init__(self, message, partial=b""):
        super().__init__(message)
        self.partial = partial


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] as received
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def error(self):
        """The "error" string of a JSON error body, or None."""
        try:
            doc = self.json()
        except ValueError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            return doc["error"]
        return None

    def closes(self):
        return (self.header("connection") or "").lower() == "close" or self.version == "HTTP/1.0"

    def __repr__(self):
        body = self.body[:300]
        more = "..." if len(self.body) > 300 else ""
        return "HTTP %d %s %r%s" % (self.status, self.reason, body, more)


def build_request(method, path, body=b"", headers=(), version="HTTP/1.1", length=True):
    """Raw request bytes. Adds Host, and Content-Length for a body or a POST unless
    `length` is False or the headers already carry a length or transfer coding."""
    if isinstance(body, str):
        body = body.encode()
    names = {k.lower() for k, _ in headers}
    lines = ["%s %s %s" % (method, path, version)]
    if "host" not in names:
        lines.append("Host: 127.0.0.1")
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if length and not names & {"content-length", "transfer-encoding"} and (body or method == "POST"):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Conn:
    """One client connection with a receive buffer; every operation is bounded in time."""

    def __init__(self, port, timeout=SOCK_TIMEOUT, source_ip=None, rcvbuf=None):
        self.port = port
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.last_request = "(nothing sent)"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source_ip is not None:
            self.sock.bind((source_ip, 0))
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(("127.0.0.1", port))
        except OSError:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        first = data[:200].split(b"\r\n", 1)[0]
        if first:
            self.last_request = first.decode("latin-1", "replace")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def request(self, method, path, body=b"", headers=(), timeout=None, **kw):
        self.send(build_request(method, path, body, headers, **kw))
        return self.read_response(timeout)

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return bool(data)

    def readable_within(self, seconds):
        """Whether bytes (or EOF) arrive within `seconds`."""
        if self.buf or self.eof:
            return True
        poller = select.poll()
        poller.register(self.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(seconds * 1000))

    def read_response(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while b"\r\n\r\n" not in self.buf:
                if self.eof or not self._recv(deadline):
                    raise ConnectionClosed("connection closed before a response head",
                                           bytes(self.buf))
            end = self.buf.index(b"\r\n\r\n")
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            del self.buf[:end + 4]
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise AssertionError("not an HTTP status line: %r" % lines[0])
            version, status = parts[0], int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers.append((k.strip(), v.strip()))
            if 100 <= status < 200:
                continue  # 100 Continue: the real answer follows
            response = Response(version, status, reason, headers, b"")
            te = (response.header("transfer-encoding") or "").lower()
            length = response.header("content-length")
            if "chunked" in te:
                response.body = self._read_chunked(deadline)
            elif length is not None:
                n = int(length)
                while len(self.buf) < n:
                    if self.eof or not self._recv(deadline):
                        raise ConnectionClosed("closed after %d of %d body bytes"
                                               % (len(self.buf), n), bytes(self.buf))
                response.body = bytes(self.buf[:n])
                del self.buf[:n]
            else:
                while not self.eof:
                    self._recv(deadline)
                response.body = bytes(self.buf)
                self.buf.clear()
            if status == 500:
                INTERNAL_ERRORS.append("%s: %s -> %r" % (CURRENT_TEST[0], self.last_request,
                                                         response))
            return response

    def _read_chunked(self, deadline):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                if self.eof or not self._recv(deadline):
                    raise ConnectionClosed("closed inside a chunked body", body)
            end = self.buf.index(b"\r\n")
            size = int(bytes(self.buf[:end]).split(b";")[0], 16)
            del self.buf[:end + 2]
            while len(self.buf) < size + 2:
                if self.eof or not self._recv(deadline):
                    raise ConnectionClosed("closed inside a chunk", body)
            body += bytes(self.buf[:size])
            del self.buf[:size + 2]
            if size == 0:
                return body

    def read_until_close(self, timeout):
        """Everything until EOF; raises socket.timeout when the peer keeps it open."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._recv(deadline)
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def closed_within(self, timeout):
        """True when the peer closes within `timeout` (bytes before EOF are kept in buf)."""
        try:
            deadline = time.monotonic() + timeout
            while not self.eof:
                self._recv(deadline)
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self, reset=False):
        try:
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass


def http(port, method, path, body=b"", headers=(), timeout=SOCK_TIMEOUT, **kw):
    """One request on a fresh connection."""
    with Conn(port, timeout) as c:
        return c.request(method, path, body, headers, **kw)


def parse_responses(data):
    """Splits raw bytes into the responses they hold (Content-Length framed)."""
    out = []
    while data:
        if b"\r\n\r\n" not in data:
            out.append(("incomplete", data))
            break
        head, rest = data.split(b"\r\n\r\n", 1)
        first = head.split(b"\r\n", 1)[0].decode("latin-1")
        m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        n = int(m.group(1)) if m else len(rest)
        out.append((first, rest[:n]))
        data = rest[n:]
    return out


# ---------------------------------------------------------------------------------------
# Inference bodies

def infer_json(values, shape=None, datatype="FP32", name="INPUT__0", **extra):
    doc = {"inputs": [{"name": name, "datatype": datatype,
                       "shape": shape if shape is not None else [1, len(values)],
                       "data": values}]}
    doc.update(extra)
    return json.dumps(doc).encode()


def binary_infer(raw, shape, binary_output, header_extra=None, outputs=None, size=None):
    """(body, header length) of a binary-extension request with one FP32 input; `size`
    overrides the binary_data_size written (to size a header before making the data)."""
    doc = {"inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": shape,
                       "parameters": {"binary_data_size": len(raw) if size is None else size}}]}
    if binary_output:
        doc["parameters"] = {"binary_data_output": True}
    if outputs is not None:
        doc["outputs"] = outputs
    if header_extra:
        doc.update(header_extra)
    header = json.dumps(doc).encode()
    return header + raw, len(header)


def binary_headers(header_length):
    return [("Inference-Header-Content-Length", str(header_length)),
            ("Content-Type", "application/octet-stream")]


def outputs_of(response):
    """name -> (output object, data list or raw bytes) of a 200 infer response."""
    body = response.body
    header_length = response.header("inference-header-content-length")
    blob = b""
    if header_length is not None:
        body, blob = body[:int(header_length)], body[int(header_length):]
    doc = json.loads(body.decode("utf-8"))
    out, offset = {}, 0
    for o in doc["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            out[o["name"]] = (o, blob[offset:offset + size])
            offset += size
        else:
            out[o["name"]] = (o, o["data"])
    return out


def deep_array(depth):
    return b"[" * depth + b"]" * depth


# ---------------------------------------------------------------------------------------
# The server process

_LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def proc_status(pid, field):
    """A /proc/PID/status field in kB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_of(parent):
    """(pid, cmdline) of live, non-zombie children of `parent`."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) != parent or fields[0] == "Z":
                continue
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        out.append((int(name), cmdline))
    return out


def copy_model(fixtures, repo, name, source="add_one", edit=None):
    """Copies fixture model `source` into `repo` as `name`; `edit` rewrites its config."""
    target = os.path.join(repo, name)
    shutil.copytree(os.path.join(fixtures, "repo", source), target)
    path = os.path.join(target, "config.pbtxt")
    with open(path) as f:
        text = f.read()
    text = text.replace('name: "%s"' % source, 'name: "%s"' % name, 1)
    if edit:
        text = edit(text)
    with open(path, "w") as f:
        f.write(text)
    return target


_HAS_GRPC = {}


def _binary_has_grpc():
    """Whether CONFIG["binary"] takes --grpc-port (asked once)."""
    binary = CONFIG["binary"]
    if binary not in _HAS_GRPC:
        run = subprocess.run([binary, "serve", "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=60)
        _HAS_GRPC[binary] = b"--grpc-port" in run.stdout
    return _HAS_GRPC[binary]


class Server:
    MARKER = b"serving KServe v2 on http://127.0.0.1:"

    def __init__(self, name, args, new_session=False):
        self.name = name
        self.new_session = new_session  # its own process group, for group signals
        self.dir = os.path.join(CONFIG["tmp"], name)
        self.repo = os.path.join(self.dir, "repo")
        self.log_path = os.path.join(self.dir, "server.log")
        self.args = args
        self.proc = None
        self.port = None
        self.stdout_tail = b""
        self.startup_text = b""  # stdout up to and including the serving line
        self.gpus = "cpu"  # --gpus
        os.makedirs(self.repo, exist_ok=True)
        # add_one is planned at 512 MiB, so that the largest legal request (a 64 MiB input
        # and as much output) is within its memory budget: the budget, not the transport,
        # is what a smaller model would refuse it for (507).
        copy_model(CONFIG["fixtures"], self.repo, "add_one", edit=lambda text: text +
                   'parameters { key: "memory_bytes" value: { string_value: "536870912" } }\n')

    def start(self):
        cmd = [CONFIG["binary"], "serve", self.repo, "--gpus", self.gpus, "--port", "0",
               "--footprints", os.path.join(self.dir, "footprints.json")] + self.args
        # gRPC is off unless the args give --grpc-port: suites run side by side, and its
        # default port (8001) is fixed.
        if "--grpc-port" not in self.args and _binary_has_grpc():
            cmd += ["--grpc-port", "0"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=log, preexec_fn=_die_with_parent, cwd=self.dir,
                                     start_new_session=self.new_session)
        log.close()
        fd = self.proc.stdout.fileno()
        text = b""
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        started = time.monotonic()
        while True:
            at = text.find(self.MARKER)
            if at >= 0 and b"\n" in text[at:]:
                self.port = int(text[at + len(self.MARKER):].split(b"\n")[0].split(b"/")[0])
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise RuntimeError("%s: no serving line within %.0f s; stdout:\n%s\nstderr:\n%s"
                                   % (self.name, SERVER_START_TIMEOUT, text.decode(errors="replace"),
                                      self.log_tail()))
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self.proc.wait(timeout=10)
                raise RuntimeError("%s exited (status %s) before serving: %s\nstdout:\n%s\nstderr:\n%s"
                                   % (self.name, code, " ".join(cmd), text.decode(errors="replace"),
                                      self.log_tail()))
            text += chunk
        self.startup_seconds = time.monotonic() - started
        self.startup_text = text
        # Keep draining stdout so that the server never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(fd,), daemon=True).start()

    def _drain(self, fd):
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                self.stdout_tail = (self.stdout_tail + chunk)[-4096:]
        except OSError:
            return

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, models, timeout=None, headers=()):
        """Waits until GET /v2/models/<m>/ready answers 200 for each of `models`; raises
        RuntimeError naming those still not ready after `timeout` (SERVER_START_TIMEOUT)."""
        deadline = time.monotonic() + (SERVER_START_TIMEOUT if timeout is None else timeout)
        waiting = list(models)
        while waiting and time.monotonic() < deadline:
            r = http(self.port, "GET", "/v2/models/%s/ready" % waiting[0], headers=headers)
            if r.status == 200:
                waiting.pop(0)
            else:
                time.sleep(0.1)
        if waiting:
            raise RuntimeError("models not ready within %.0f s: %s; log:\n%s"
                               % (SERVER_START_TIMEOUT if timeout is None else timeout, waiting,
                                  self.log_tail()))

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        return sorted(pid for pid, cmd in children_of(self.pid) if "--shm-fd" in cmd)

    def rss_kib(self):
        return proc_status(self.pid, "VmRSS")

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self):
        """SIGTERM, bounded wait; records a non-zero exit or a worker left behind."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self.proc = None
            return
        workers = self.workers()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=40)
            if code != 0:
                SERVER_TROUBLE.append("%s exited with status %s after SIGTERM" % (self.name, code))
        except subprocess.TimeoutExpired:
            SERVER_TROUBLE.append("%s did not exit within 40 s of SIGTERM" % self.name)
            self.kill()
        deadline = time.monotonic() + 5
        for w in workers:
            while os.path.exists("/proc/%d" % w) and time.monotonic() < deadline:
                if proc_state(w) in (None, "Z"):
                    break
                time.sleep(0.05)
        self.proc = None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------------------------
# Test scaffolding

class ServerTest(unittest.TestCase):
    """A class of tests sharing one server, started once. A server that fails to start
    fails each test of its class; a server found dead is restarted (and reported)."""

    SERVER_NAME = None
    SERVER_ARGS = []
    NEW_SESSION = False
    server = None
    start_error = None
    skip_reason = None

    @classmethod
    def setUpClass(cls):
        cls.server, cls.start_error, cls.skip_reason = None, None, None
        if not os.path.isdir(os.path.join(CONFIG["fixtures"], "repo", "add_one")):
            cls.skip_reason = ("fixture repository %s/repo/add_one is missing "
                               "(run scripts/make-fixtures.sh)" % CONFIG["fixtures"])
            return
        try:
            cls.server = Server(cls.SERVER_NAME, list(cls.SERVER_ARGS), cls.NEW_SESSION)
            cls.server.start()
            print("\n[edge] %s on port %d (started in %.1f s): %s"
                  % (cls.SERVER_NAME, cls.server.port, cls.server.startup_seconds,
                     " ".join(cls.SERVER_ARGS)), flush=True)
        except Exception as e:  # reported by every test of the class
            cls.start_error = "%s did not start: %s" % (cls.SERVER_NAME, e)

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.stop()

    def setUp(self):
        CURRENT_TEST[0] = self.id()
        if self.skip_reason:
            self.skipTest(self.skip_reason)
        if self.start_error:
            self.fail(self.start_error)
        if not self.server.alive():
            code = self.server.proc.returncode
            SERVER_TROUBLE.append("%s was found dead (status %s) before %s"
                                  % (self.server.name, code, self.id()))
            print("\n[edge] !!! %s died (status %s) before %s; restarting it. Log tail:\n%s"
                  % (self.server.name, code, self.id(), self.server.log_tail()), flush=True)
            self.server.start()

    @property
    def port(self):
        return self.server.port

    # -- requests --------------------------------------------------------------------

    def get(self, path, **kw):
        return http(self.port, "GET", path, **kw)

    def post(self, path, doc=None, body=None, headers=(), **kw):
        """POST `body`, or `doc` as JSON (no body when neither)."""
        if body is None:
            body = b"" if doc is None else json.dumps(doc).encode()
        return http(self.port, "POST", path, body, headers=headers, **kw)

    # -- assertions ------------------------------------------------------------------

    def assertJson(self, response, status=200, what=""):
        """`response` is `status` with a JSON body; returns it."""
        where = (what + ": ") if what else ""
        self.assertEqual(response.status, status, "%sexpected %d, got %r" % (where, status, response))
        try:
            return response.json()
        except ValueError:
            self.fail("%sthe body is not JSON: %r" % (where, response))

    def assertError(self, response, status, *patterns, what=""):
        """`response` is `status` with a JSON {"error": "..."} matching every pattern."""
        where = (what + ": ") if what else ""
        self.assertEqual(response.status, status, "%sexpected %d, got %r" % (where, status, response))
        message = response.error()
        self.assertTrue(message, "%sthe body is not {\"error\": \"...\"}: %r" % (where, response))
        for p in patterns:
            self.assertRegex(message, re.compile(p, re.I), "%serror message" % where)
        return message

    def assertServes(self, what=""):
        """The server is alive and answers liveness and an add_one inference."""
        self.assertTrue(self.server.alive(), "the server died %s; log:\n%s"
                        % (what, self.server.log_tail()))
        live = http(self.port, "GET", "/v2/health/live", headers=self.auth())
        self.assertEqual(live.status, 200, "liveness %s: %r" % (what, live))
        r = http(self.port, "POST", "/v2/models/add_one/infer", ADD_ONE_OK, headers=self.auth())
        self.assertEqual(r.status, 200, "add_one %s: %r" % (what, r))
        self.assertEqual(outputs_of(r)["OUTPUT__0"][1], [2, 3, 4, 5])

    def assertIntact(self, workers_before, what=""):
        """Alive, serving, and the same worker processes as before."""
        self.assertServes(what)
        self.assertEqual(self.server.workers(), workers_before,
                         "the worker processes changed %s" % what)

    def auth(self):
        return []


def note(text):
    print("\n[edge] " + text, flush=True)


# ---------------------------------------------------------------------------------------
# Main server: explicit model control, default limits

class MainServer(ServerTest):
    SERVER_NAME = "main"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one"]

    # -- JSON depth and size ---------------------------------------------------------

    DEPTH_PATTERN = r"depth|deep|nest"

    def test_json_depth_repro_request_parameters_1e6_deep(self):
        workers = self.server.workers()
        body = (b'{"parameters":{"a": ' + deep_array(10 ** 6) + b'}, "inputs":'
                b'[{"name":"INPUT__0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}')
        r = http(self.port, "POST", "/v2/models/add_one/infer", body)
        self.assertError(r, 400, self.DEPTH_PATTERN)
        self.assertIntact(workers, "after a 10^6-deep parameters value")

    def test_json_depth_repro_data_object_200000_deep(self):
        workers = self.server.workers()
        body = (b'{"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[1,1],'
                b'"data":[{"a": ' + deep_array(200000) + b'}]}]}')
        r = http(self.port, "POST", "/v2/models/add_one/infer", body)
        self.assertError(r, 400, self.DEPTH_PATTERN)
        self.assertIntact(workers, "after a 200000-deep object in data")

    def test_json_depth_repro_move_device_200000_deep(self):
        workers = self.server.workers()
        body = b'{"device": ' + deep_array(200000) + b'}'
        r = http(self.port, "POST", "/v2/modelgrid/models/add_one/move", body)
        self.assertError(r, 400, self.DEPTH_PATTERN)
        self.assertIntact(workers, "after a 200000-deep move body")

    def test_json_depth_40_rejected_on_infer_and_every_control_endpoint(self):
        deep = deep_array(40)
        cases = [
            ("/v2/models/add_one/infer",
             b'{"parameters":{"a": ' + deep + b'}, "inputs":[{"name":"INPUT__0",'
             b'"datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}'),
            ("/v2/repository/index", b'{"ready": ' + deep + b'}'),
            # Names that do not exist, so that a body the server failed to reject could
            # not change anything; the body must be refused first.
            ("/v2/repository/models/no_such_model/load", b'{"parameters": {"a": ' + deep + b'}}'),
            ("/v2/repository/models/no_such_model/unload", b'{"parameters": {"a": ' + deep + b'}}'),
            ("/v2/modelgrid/models/add_one/move", b'{"device": ' + deep + b'}'),
            ("/v2/modelgrid/replan", b'{"dry_run": ' + deep + b'}'),
        ]
        workers = self.server.workers()
        for path, body in cases:
            with self.subTest(path=path):
                self.assertError(http(self.port, "POST", path, body), 400, self.DEPTH_PATTERN,
                                 what=path)
        self.assertIntact(workers, "after 40-deep bodies")

    def test_json_with_more_than_4194304_values_points_to_binary_extension(self):
        n = 4194304 + 5000
        body = (b'{"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[1,%d],"data":['
                % n + b"0," * (n - 1) + b'0]}]}')
        started = time.monotonic()
        r = http(self.port, "POST", "/v2/models/add_one/infer", body, timeout=60)
        note("%d JSON values (%.1f MiB): HTTP %d in %.2f s"
             % (n, len(body) / MIB, r.status, time.monotonic() - started))
        self.assertError(r, 400, r"binary")
        self.assertServes("after 4.2M JSON values")

    def test_bracket_bomb_16mib_rejected_while_liveness_still_answers(self):
        pid = self.server.pid
        workers = self.server.workers()
        rss_before = self.server.rss_kib()
        bomb = b"[" * (16 * MIB)
        sent = threading.Event()
        result = {}

        def send_bomb():
            try:
                with Conn(self.port, SOCK_TIMEOUT) as c:
                    c.send(build_request("POST", "/v2/models/add_one/infer", b"",
                                         [("Content-Length", str(len(bomb)))]))
                    c.send(bomb)
                    result["sent_at"] = time.monotonic()
                    sent.set()
                    result["response"] = c.read_response()
                    result["answered_at"] = time.monotonic()
            except Exception as e:  # reported below
                result["exception"] = repr(e)
            finally:
                sent.set()

        thread = threading.Thread(target=send_bomb, daemon=True)
        thread.start()
        self.assertTrue(sent.wait(SOCK_TIMEOUT), "could not send the 16 MiB body")
        probe_started = time.monotonic()
        live = http(self.port, "GET", "/v2/health/live", timeout=10)
        live_seconds = time.monotonic() - probe_started
        thread.join(SOCK_TIMEOUT + 5)
        self.assertFalse(thread.is_alive(), "the bomb's connection never finished")
        self.assertNotIn("exception", result, "the bomb's request failed")
        bomb_seconds = result["answered_at"] - result["sent_at"]
        rss_after = self.server.rss_kib() if self.server.alive() else None
        note("16 MiB of '[': HTTP %d %.2f s after the last byte; concurrent /v2/health/live "
             "answered in %.3f s; server RSS %s -> %s KiB (peak VmHWM %s KiB)"
             % (result["response"].status, bomb_seconds, live_seconds, rss_before, rss_after,
                proc_status(pid, "VmHWM")))
        self.assertEqual(live.status, 200, "liveness during the bomb: %r" % live)
        self.assertError(result["response"], 400, self.DEPTH_PATTERN)
        self.assertIntact(workers, "after the bracket bomb")
        self.assertLess(rss_after - rss_before, 200 * 1024,
                        "server RSS grew by %d KiB after the bomb" % (rss_after - rss_before))

    # -- Transfer-Encoding (RFC 9112 section 6.1) ------------------------------------

    def _raw(self, data, timeout=SOCK_TIMEOUT):
        with Conn(self.port, timeout) as c:
            c.send(data)
            return c.read_response()

    @staticmethod
    def _chunked(body, pieces=3):
        step = max(1, len(body) // pieces)
        out = b""
        for i in range(0, len(body), step):
            part = body[i:i + step]
            out += b"%x\r\n" % len(part) + part + b"\r\n"
        return out + b"0\r\n\r\n"

    def _te_request(self, te, extra_headers=(), version="HTTP/1.1", body=None):
        body = self._chunked(ADD_ONE_OK) if body is None else body
        headers = [("Transfer-Encoding", te), ("Content-Type", "application/json")]
        headers += list(extra_headers)
        return build_request("POST", "/v2/models/add_one/infer", body, headers, version)

    def test_te_xchunked_with_content_length_is_400(self):
        data = self._te_request("xchunked", [("Content-Length", str(len(ADD_ONE_OK)))],
                                body=ADD_ONE_OK)
        self.assertError(self._raw(data), 400)
        self.assertServes()

    def test_te_chunked_with_content_length_is_400(self):
        body = self._chunked(ADD_ONE_OK)
        data = self._te_request("chunked", [("Content-Length", str(len(body)))], body=body)
        self.assertError(self._raw(data), 400)
        self.assertServes()

    def test_te_gzip_chunked_is_501(self):
        self.assertError(self._raw(self._te_request("gzip, chunked")), 501)
        self.assertServes()

    def test_te_chunked_then_identity_is_400_and_body_is_not_a_second_request(self):
        # If "chunked, identity" were taken as "no body", the bytes after the head would be
        # read as a second request (a smuggling vector): there must be one response, then
        # the connection closes.
        smuggled = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        with Conn(self.port) as c:
            c.send(self._te_request("chunked, identity", body=smuggled))
            try:
                data = c.read_until_close(10)
            except socket.timeout:
                self.fail("the connection stayed open after \"chunked, identity\"; got %r"
                          % c.buf[:500])
        responses = parse_responses(data)
        self.assertEqual(len(responses), 1, "responses: %r" % responses)
        self.assertTrue(responses[0][0].startswith("HTTP/1.1 400"), "responses: %r" % responses)
        self.assertServes()

    def test_te_chunked_on_http_1_0_is_400(self):
        self.assertError(self._raw(self._te_request("chunked", version="HTTP/1.0")), 400)
        self.assertServes()

    def test_te_chunked_chunked_is_400(self):
        body = self._chunked(self._chunked(ADD_ONE_OK))
        self.assertError(self._raw(self._te_request("chunked, chunked", body=body)), 400)
        self.assertServes()

    def test_te_valid_chunked_infer_is_200(self):
        r = self._raw(self._te_request("chunked"))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(outputs_of(r)["OUTPUT__0"][1], [2, 3, 4, 5])

    # -- Fields --------------------------------------------------------------------------

    def test_replan_dry_run_must_be_a_boolean(self):
        self.assertError(http(self.port, "POST", "/v2/modelgrid/replan", b'{"dry_run":"yes"}'),
                         400, r"dry_run")
        r = http(self.port, "POST", "/v2/modelgrid/replan", b'{"dry_run": true}', timeout=60)
        self.assertEqual(r.status, 200, repr(r))
        self.assertIs(r.json().get("dry_run"), True, repr(r))

    def test_output_named_twice_is_400(self):
        body = infer_json([1, 2, 3, 4], outputs=[{"name": "OUTPUT__0"}, {"name": "OUTPUT__0"}])
        self.assertError(http(self.port, "POST", "/v2/models/add_one/infer", body), 400,
                         r"OUTPUT__0", r"twice|duplicate")

    def test_nan_and_inf_outputs_are_written_as_triton_tokens(self):
        raw = struct.pack("<4f", float("nan"), float("inf"), float("-inf"), 1.0)
        body, n = binary_infer(raw, [1, 4], False,
                               outputs=[{"name": "OUTPUT__0", "parameters": {"binary_data": False}}])
        r = http(self.port, "POST", "/v2/models/add_one/infer", body, binary_headers(n))
        self.assertEqual(r.status, 200, repr(r))
        self.assertIsNone(r.header("inference-header-content-length"), "asked for JSON outputs")
        text = r.body.decode()
        data_text = re.search(r'"data"\s*:\s*\[([^\]]*)\]', text)
        self.assertIsNotNone(data_text, text)
        tokens = [t.strip() for t in data_text.group(1).split(",")]
        self.assertNotIn("null", tokens, text)
        self.assertEqual(tokens[:3], ["NaN", "Infinity", "-Infinity"], text)
        values = outputs_of(r)["OUTPUT__0"][1]  # json.loads reads NaN and Infinity back
        self.assertTrue(math.isnan(values[0]), values)
        self.assertEqual(values[1:], [float("inf"), float("-inf"), 2.0])

    # -- Body size limits ----------------------------------------------------------------

    def test_largest_legal_binary_request_runs_end_to_end(self):
        limit = DEFAULT_MAX_BODY
        # header + 4 * n == limit exactly: solve for n, padding the id by what 4 * n
        # cannot reach.
        n, pad = (limit - 300) // 4, 0
        for _ in range(20):
            header = binary_infer(b"", [1, n], True, {"id": "p" * pad}, size=4 * n)[0]
            gap = limit - len(header) - 4 * n
            if gap == 0:
                break
            n += gap // 4
            pad += gap % 4
        raw_block = array.array("f", range(1024)).tobytes()
        raw = raw_block * (n // 1024) + raw_block[:4 * (n % 1024)]
        body, header_length = binary_infer(raw, [1, n], True, {"id": "p" * pad})
        self.assertEqual(len(body), limit)
        started = time.monotonic()
        r = http(self.port, "POST", "/v2/models/add_one/infer", body,
                 binary_headers(header_length), timeout=120)
        note("%d-byte binary request (%d FP32 values): HTTP %d in %.1f s"
             % (len(body), n, r.status, time.monotonic() - started))
        self.assertEqual(r.status, 200, repr(r))
        out, blob = outputs_of(r)["OUTPUT__0"]
        self.assertEqual(out["shape"], [1, n])
        self.assertEqual(len(blob), 4 * n)
        for i in list(range(0, n, 999_983)) + [n - 1]:
            self.assertEqual(struct.unpack_from("<f", blob, 4 * i)[0], float(i % 1024) + 1.0,
                             "element %d" % i)

    def test_body_one_byte_over_the_limit_is_413(self):
        limit = DEFAULT_MAX_BODY
        with Conn(self.port) as c:
            c.send(build_request("POST", "/v2/models/add_one/infer", b"",
                                 binary_headers(100) + [("Content-Length", str(limit + 1))]))
            # Start the body as a real client would; the answer may come before it is sent.
            try:
                c.send(b"\0" * MIB)
            except OSError:
                pass
            r = c.read_response()
        self.assertError(r, 413)
        self.assertServes()

    def test_oversize_body_is_413(self):
        r = self._raw(build_request("POST", "/v2/models/add_one/infer", b"",
                                    [("Content-Length", str(200 * MIB))]))
        self.assertError(r, 413)
        self.assertServes()

    def test_oversize_headers_are_431(self):
        r = self._raw(build_request("GET", "/v2/health/live", b"",
                                    [("X-Big", "a" * (DEFAULT_MAX_HEADER + 4096))]))
        self.assertError(r, 431)
        self.assertServes()

    # -- Model control ---------------------------------------------------------------

    def test_loading_a_model_with_absurd_dims_is_400(self):
        def absurd(text):
            head, sep, tail = text.partition("input [")
            self.assertTrue(sep, "no input block in add_one's config:\n" + text)
            return head + sep + re.sub(r"dims: \[[^\]]*\]", "dims: [ 1000000000000 ]", tail, 1)

        copy_model(CONFIG["fixtures"], self.server.repo, "huge_dims", edit=absurd)
        r = http(self.port, "POST", "/v2/repository/models/huge_dims/load", b"", timeout=120)
        self.assertError(r, 400)
        self.assertServes("after loading a model with dims [1000000000000]")

    # -- Malformed HTTP ----------------------------------------------------------------

    def test_malformed_request_lines_and_headers_are_400(self):
        cases = [
            ("garbage", b"GARBAGE\r\n\r\n"),
            ("binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
            ("missing version", b"GET /v2/health/live\r\nHost: 127.0.0.1\r\n\r\n"),
            ("bad version", b"GET /v2/health/live HTTP/x.y\r\nHost: 127.0.0.1\r\n\r\n"),
            ("header without colon", b"GET /v2/health/live HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"),
            ("space before colon", b"GET /v2/health/live HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n"),
            ("space in header name", b"GET /v2/health/live HTTP/1.1\r\nX Y: z\r\n\r\n"),
            ("NUL in header value", b"GET /v2/health/live HTTP/1.1\r\nX-A: a\x00b\r\n\r\n"),
            ("NUL in target", b"GET /v2/health\x00/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
            ("NUL in method", b"G\x00T /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ]
        for why, data in cases:
            with self.subTest(why):
                self.assertError(self._raw(data), 400, what=why)
        self.assertServes("after malformed requests")

    def test_bad_and_conflicting_content_lengths_are_400(self):
        body = ADD_ONE_OK
        cases = [
            ("two different lengths", [("Content-Length", str(len(body))),
                                       ("Content-Length", str(len(body) + 1))]),
            ("negative length", [("Content-Length", "-1")]),
            ("non-numeric length", [("Content-Length", "abc")]),
            ("hex length", [("Content-Length", "0x10")]),
        ]
        for why, headers in cases:
            with self.subTest(why):
                r = self._raw(build_request("POST", "/v2/models/add_one/infer", body, headers))
                self.assertError(r, 400, what=why)
        self.assertServes("after bad lengths")

    def test_pipelined_requests_are_answered_in_order(self):
        data = (build_request("GET", "/v2/health/live")
                + build_request("POST", "/v2/models/add_one/infer", ADD_ONE_OK)
                + build_request("GET", "/v2/models/add_one/ready"))
        with Conn(self.port) as c:
            c.send(data)
            first, second, third = c.read_response(), c.read_response(), c.read_response()
        self.assertEqual((first.status, first.json()), (200, {"live": True}))
        self.assertEqual(second.status, 200, repr(second))
        self.assertEqual(outputs_of(second)["OUTPUT__0"][1], [2, 3, 4, 5])
        self.assertEqual(third.status, 200, repr(third))
        self.assertEqual(third.json().get("name"), "add_one")

    # -- Many connections and resets -------------------------------------------------

    def test_many_idle_sockets_do_not_stop_service(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 700:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        idle = []
        try:
            for i in range(500):
                c = Conn(self.port, 10)
                if i % 2:
                    c.send(b"GET /v2/hea")  # half a request line, never finished
                idle.append(c)
            started = time.monotonic()
            self.assertServes("with 500 idle sockets open")
            note("with 500 idle sockets open: liveness and add_one answered in %.2f s"
                 % (time.monotonic() - started))
        finally:
            for c in idle:
                c.close()
        self.assertServes("after closing 500 idle sockets")

    def test_client_reset_mid_response_does_not_hurt_the_server(self):
        workers = self.server.workers()
        n = 4 * MIB  # 16 MiB in, 16 MiB out
        raw = array.array("f", range(1024)).tobytes() * (n // 1024)
        body, header_length = binary_infer(raw, [1, n], True)
        for attempt in range(2):
            c = Conn(self.port, SOCK_TIMEOUT, rcvbuf=4096)
            try:
                c.send(build_request("POST", "/v2/models/add_one/infer", body,
                                     binary_headers(header_length)))
                self.assertTrue(c.readable_within(SOCK_TIMEOUT), "no response started")
                c.sock.recv(1)
            finally:
                c.close(reset=True)  # RST with most of the response still pending
            time.sleep(0.2)
            self.assertIntact(workers, "after a client reset mid-response (%d)" % attempt)

    # -- Inference validation --------------------------------------------------------

    def test_malformed_inference_requests_are_400(self):
        def one(**fields):
            t = {"name": "INPUT__0", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}
            t.update(fields)
            return json.dumps({"inputs": [{k: v for k, v in t.items() if v is not DROP}]}).encode()

        DROP = object()
        cases = [
            ("malformed JSON", b'{"inputs": ['),
            ("not an object", b"[1, 2, 3]"),
            ("wrong datatype", one(datatype="INT64")),
            ("unknown datatype", one(datatype="FP99")),
            ("data count != shape", one(data=[1, 2, 3])),
            ("data count > shape", one(data=[1, 2, 3, 4, 5])),
            ("negative dim", one(shape=[1, -4])),
            ("huge dims", one(shape=[2 ** 40, 2 ** 40], data=[1])),
            ("dims whose product wraps to 0", one(shape=[2 ** 32, 2 ** 32], data=[])),
            ("dim beyond int64", one(shape=[1, 2 ** 64])),
            ("fractional dim", one(shape=[1, 2.5])),
            ("string dim", one(shape=["1", 4])),
            ("shape not an array", one(shape="1,4")),
            ("batch above max_batch_size", one(shape=[9, 1], data=list(range(9)))),
            ("unknown input", one(name="NOT_AN_INPUT")),
            ("input named twice", json.dumps({"inputs": [json.loads(one())["inputs"][0]] * 2}).encode()),
            ("missing inputs", b"{}"),
            ("empty inputs", b'{"inputs": []}'),
            ("inputs not an array", b'{"inputs": {"name": "INPUT__0"}}'),
            ("input not an object", b'{"inputs": [1]}'),
            ("missing name", one(name=DROP)),
            ("name not a string", one(name=5)),
            ("missing datatype", one(datatype=DROP)),
            ("datatype not a string", one(datatype=32)),
            ("missing shape", one(shape=DROP)),
            ("missing data", one(data=DROP)),
            ("data not an array", one(data="abcd")),
            ("string elements", one(data=["a", "b", "c", "d"])),
            ("null elements", one(data=[None, None, None, None])),
            ("object elements", one(data=[{}, {}, {}, {}])),
            ("FP32 out of range", one(data=[1e39, 0, 0, 0])),
            ("outputs not an array", infer_json([1, 2, 3, 4], outputs=7)),
            ("output without a name", infer_json([1, 2, 3, 4], outputs=[{}])),
            ("parameters not an object", infer_json([1, 2, 3, 4], parameters=[1])),
            ("id not a string", infer_json([1, 2, 3, 4], id=5)),
            ("binary_data_output not a boolean",
             infer_json([1, 2, 3, 4], parameters={"binary_data_output": "yes"})),
        ]
        for why, body in cases:
            with self.subTest(why):
                self.assertError(http(self.port, "POST", "/v2/models/add_one/infer", body), 400,
                                 what=why)
        self.assertServes("after malformed inference requests")

    # -- Path traversal --------------------------------------------------------------

    def _snapshot(self):
        """(path, size, mtime) of everything under the temporary directory but logs and
        footprint stores, which the servers write."""
        out = set()
        for root, dirs, files in os.walk(CONFIG["tmp"]):
            for f in files:
                if f in ("server.log", "footprints.json") or f.startswith("footprints"):
                    continue
                p = os.path.join(root, f)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                out.add((p, st.st_size, st.st_mtime_ns))
            for d in dirs:
                out.add((os.path.join(root, d), None, None))
        return out

    def test_path_traversal_in_every_model_name_position_is_4xx(self):
        # A real model outside the repository, next to it: reaching it would load it.
        if not os.path.isdir(os.path.join(self.server.dir, "escape")):
            copy_model(CONFIG["fixtures"], self.server.dir, "escape")
        before = self._snapshot()
        cases = [
            ("POST", "/v2/models/..%2F..%2Fetc/infer", ADD_ONE_OK),
            ("POST", "/v2/models/..%2Fescape/infer", ADD_ONE_OK),
            ("GET", "/v2/models/%2e%2e/ready", b""),
            ("GET", "/v2/models/%2E%2E", b""),
            ("GET", "/v2/models/..%2Fescape/stats", b""),
            ("GET", "/v2/models/../../etc/passwd", b""),
            ("GET", "/v2/models/add_one/versions/..%2F1", b""),
            ("POST", "/v2/models/add_one/versions/..%2F1/infer", ADD_ONE_OK),
            ("GET", "/v2/models/add_one/versions/..%2F..%2Fescape%2F1/ready", b""),
            ("POST", "/v2/repository/models/..%2Fadd_one/load", b""),
            ("POST", "/v2/repository/models/..%2Fescape/load", b""),
            ("POST", "/v2/repository/models/%2e%2e/load", b""),
            ("POST", "/v2/repository/models/..%2F..%2Fetc/load", b""),
            ("POST", "/v2/repository/models/%2Ftmp%2Fescape/load", b""),
            ("POST", "/v2/repository/models/..%2Fescape/unload", b""),
            ("POST", "/v2/repository/models/%2e%2e/unload", b""),
            ("POST", "/v2/modelgrid/models/..%2Fescape/move", b'{"isolation": "process"}'),
            ("POST", "/v2/modelgrid/models/%2e%2e/move", b'{"isolation": "process"}'),
        ]
        for method, path, body in cases:
            with self.subTest(path=path):
                r = http(self.port, method, path, body, timeout=60)
                self.assertIn(r.status, (400, 404), "%s %s -> %r" % (method, path, r))
                self.assertTrue(r.error(), "%s %s: not a JSON error: %r" % (method, path, r))
        self.assertEqual(self._snapshot() ^ before, set(), "files changed")
        index = http(self.port, "POST", "/v2/repository/index", b"{}")
        self.assertEqual(index.status, 200, repr(index))
        names = sorted(m.get("name") for m in index.json())
        self.assertNotIn("escape", names)
        self.assertFalse([n for n in names if "/" in n or n in (".", "..")], names)
        self.assertServes("after path traversal attempts")


# ---------------------------------------------------------------------------------------
# Slow clients: whole-request and idle timeouts

class SlowClientServer(ServerTest):
    SERVER_NAME = "slow"
    REQUEST_TIMEOUT = 2.0
    IDLE_TIMEOUT = 1.5
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one",
                   "--http-request-timeout-ms", "2000", "--http-idle-timeout-ms", "1500"]
    # The cut must come once the request timeout passes (checked at most every second);
    # these bounds leave room for a loaded machine, far below the trickles' length.
    CUT_BY = 10.0

    def _trickle(self, conn, head, drip, give_up):
        """Sends `head`, then one piece of `drip` every 0.5 s, until the server answers or
        closes. Returns (seconds until the cut, response or None); None when never cut."""
        conn.send(head)
        started = time.monotonic()
        for piece in drip:
            if conn.readable_within(0.5):
                break
            if time.monotonic() - started > give_up:
                return None, None
            try:
                conn.sock.sendall(piece)
            except OSError:  # reset or broken pipe: cut off
                return time.monotonic() - started, None
        else:
            return None, None
        cut = time.monotonic() - started
        try:
            return cut, conn.read_response(5)
        except (ConnectionClosed, OSError):
            return cut, None

    def _check_cut(self, cut, response, what, in_body=False):
        self.assertIsNotNone(cut, "%s was never cut off (gave up after %.0f s)" % (what, self.CUT_BY))
        note("%s cut off after %.2f s: %s" % (what, cut, response if response else "closed"))
        self.assertLess(cut, self.CUT_BY)
        # Bytes arrived every 0.5 s, under the idle timeout: a body may only be cut by the
        # whole-request timeout; the request line and headers must also arrive within one
        # idle period (ServerOptions), so they may be cut from then on. The clock starts
        # after the first bytes were sent, so it can only under-count the server's time;
        # 0.1 s is slack for the measurement alone.
        earliest = self.REQUEST_TIMEOUT if in_body else min(self.REQUEST_TIMEOUT, self.IDLE_TIMEOUT)
        self.assertGreaterEqual(cut, earliest - 0.1,
                                "%s was cut after %.2f s, before %.1f s, while a byte arrived "
                                "every 0.5 s (under the %.1f s idle timeout)"
                                % (what, cut, earliest, self.IDLE_TIMEOUT))
        if response is not None:
            self.assertError(response, 408, what=what)

    def test_slow_body_is_cut_off_after_the_request_timeout(self):
        body = ADD_ONE_OK + b" " * 40  # 1 byte per 0.5 s would take ~60 s
        head = build_request("POST", "/v2/models/add_one/infer", b"",
                             [("Content-Length", str(len(body)))])
        with Conn(self.port) as c:
            cut, response = self._trickle(c, head, [body[i:i + 1] for i in range(len(body))],
                                          self.CUT_BY)
        self._check_cut(cut, response, "a body sent one byte per 0.5 s", in_body=True)
        self.assertServes("after the slow body")

    def test_slowloris_headers_are_cut_off_after_the_request_timeout(self):
        head = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        drip = [b"X-Slow-%d: y\r\n" % i for i in range(200)]
        with Conn(self.port) as c:
            cut, response = self._trickle(c, head, drip, self.CUT_BY)
        self._check_cut(cut, response, "headers sent one line per 0.5 s")
        self.assertServes("after slowloris headers")

    def test_slow_request_line_is_cut_off(self):
        line = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        with Conn(self.port) as c:
            cut, response = self._trickle(c, b"G", [line[i:i + 1] for i in range(1, len(line))],
                                          self.CUT_BY)
        self._check_cut(cut, response, "a request line sent one byte per 0.5 s")

    def test_idle_connection_is_closed(self):
        with Conn(self.port) as c:
            started = time.monotonic()
            self.assertTrue(c.closed_within(self.CUT_BY), "an idle connection stayed open")
            note("idle connection closed after %.2f s" % (time.monotonic() - started))

    def test_prompt_requests_are_unaffected_by_short_timeouts(self):
        with Conn(self.port) as c:
            for _ in range(3):
                r = c.request("POST", "/v2/models/add_one/infer", ADD_ONE_OK)
                self.assertEqual(r.status, 200, repr(r))
                time.sleep(0.5)  # under the idle timeout: the connection is kept


# ---------------------------------------------------------------------------------------
# Connection caps

class ConnectionCaps(ServerTest):
    SERVER_NAME = "caps"
    MAX_CONNECTIONS = 8
    PER_CLIENT = 4
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one",
                   "--http-max-connections", "8", "--http-max-connections-per-client", "4"]

    def _hold(self, count, source_ip):
        """`count` keep-alive connections from `source_ip`, each proven accepted by a 200."""
        held = []
        try:
            for _ in range(count):
                c = Conn(self.port, 10, source_ip=source_ip)
                held.append(c)
                r = c.request("GET", "/v2/health/live")
                if r.status != 200:
                    raise AssertionError("held connection %d from %s got %r"
                                         % (len(held), source_ip, r))
        except Exception:
            for c in held:
                c.close()
            raise
        return held

    def _hold_settled(self, plan):
        """Holds connections per plan [(count, ip)], retrying for a few seconds while the
        server still counts connections an earlier test closed."""
        deadline = time.monotonic() + 5
        while True:
            held = []
            try:
                for count, ip in plan:
                    held += self._hold(count, ip)
                return held
            except (AssertionError, ConnectionClosed, OSError):
                for c in held:
                    c.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _refused(self, source_ip):
        """A connection over a cap: answered 503 {"error": "...too many connections..."}
        with Connection: close, then closed."""
        with Conn(self.port, 10, source_ip=source_ip) as c:
            if not c.readable_within(1.0):  # the server may answer only once asked
                try:
                    c.send(build_request("GET", "/v2/health/live"))
                except OSError:
                    pass
            try:
                r = c.read_response()
            except ConnectionClosed:
                self.fail("the connection over the cap was closed without a 503")
            self.assertError(r, 503, r"too many connections")
            self.assertEqual((r.header("connection") or "").lower(), "close", repr(r.headers))
            self.assertTrue(c.closed_within(5), "the refused connection was not closed")

    def _eventually_served(self, source_ip, what):
        deadline = time.monotonic() + 5
        while True:
            try:
                with Conn(self.port, 10, source_ip=source_ip) as c:
                    r = c.request("GET", "/v2/health/live")
                if r.status == 200:
                    return
            except (ConnectionClosed, OSError) as e:
                r = e
            if time.monotonic() > deadline:
                self.fail("%s: no connection served within 5 s (last: %r)" % (what, r))
            time.sleep(0.1)

    def test_connection_over_the_global_cap_gets_503_and_capacity_returns(self):
        held = self._hold_settled([(4, "127.0.0.1"), (4, "127.0.0.2")])
        try:
            self._refused("127.0.0.3")
            for c in held[:2]:
                c.close()
            held = held[2:]
            self._eventually_served("127.0.0.3", "after closing two of the eight")
            for c in held:  # the ones still held were not disturbed
                r = c.request("GET", "/v2/health/live")
                self.assertEqual(r.status, 200, repr(r))
        finally:
            for c in held:
                c.close()

    def test_connection_over_the_per_client_cap_gets_503_others_still_served(self):
        held = self._hold_settled([(4, "127.0.0.1")])
        try:
            self._refused("127.0.0.1")
            other = self._hold(1, "127.0.0.2")  # another client is under its own cap
            other[0].close()
            held[0].close()
            held = held[1:]
            self._eventually_served("127.0.0.1", "after closing one of the client's four")
        finally:
            for c in held:
                c.close()


# ---------------------------------------------------------------------------------------
# API key

class ApiKeyServer(ServerTest):
    SERVER_NAME = "apikey"
    KEY = "edge-s3cret"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one",
                   "--api-key", KEY]

    ENDPOINTS = [
        ("GET", "/v2", b""),
        ("GET", "/v2/health/ready", b""),
        ("GET", "/v2/models/add_one", b""),
        ("GET", "/v2/models/add_one/ready", b""),
        ("GET", "/v2/models/add_one/versions/1", b""),
        ("GET", "/v2/models/add_one/versions/1/ready", b""),
        ("POST", "/v2/models/add_one/infer", ADD_ONE_OK),
        ("POST", "/v2/models/add_one/versions/1/infer", ADD_ONE_OK),
        ("GET", "/v2/models/add_one/stats", b""),
        ("GET", "/v2/models/stats", b""),
        ("GET", "/metrics", b""),
        ("POST", "/v2/repository/index", b"{}"),
        ("POST", "/v2/repository/models/add_one/load", b""),
        ("POST", "/v2/repository/models/add_one/unload", b""),
        ("GET", "/v2/modelgrid/status", b""),
        ("POST", "/v2/modelgrid/replan", b'{"dry_run": true}'),
        ("POST", "/v2/modelgrid/models/add_one/move", b'{"isolation": "process"}'),
    ]

    def auth(self):
        return [("Authorization", "Bearer " + self.KEY)]

    def test_every_endpoint_but_liveness_needs_the_key(self):
        wrong = [
            ("no key", []),
            ("wrong key", [("Authorization", "Bearer wrong")]),
            ("key prefix", [("Authorization", "Bearer " + self.KEY[:-1])]),
            ("key plus a byte", [("Authorization", "Bearer " + self.KEY + "x")]),
            ("empty bearer", [("Authorization", "Bearer ")]),
            ("basic scheme", [("Authorization", "Basic ZWRnZTplZGdlLXMzY3JldA==")]),
            ("key without scheme", [("Authorization", self.KEY)]),
        ]
        for method, path, body in self.ENDPOINTS:
            for why, headers in wrong:
                with self.subTest(path=path, auth=why):
                    r = http(self.port, method, path, body, headers)
                    self.assertError(r, 401, what="%s %s (%s)" % (method, path, why))
                    self.assertIn("Bearer", r.header("www-authenticate") or "", repr(r.headers))
        # Nothing was unloaded or moved by the refused requests.
        r = http(self.port, "GET", "/v2/models/add_one/ready", headers=self.auth())
        self.assertEqual(r.status, 200, repr(r))

    def test_liveness_needs_no_key(self):
        r = http(self.port, "GET", "/v2/health/live")
        self.assertEqual((r.status, r.json()), (200, {"live": True}))

    def test_the_right_key_is_accepted(self):
        for method, path, body in self.ENDPOINTS:
            if path.endswith(("/load", "/unload", "/move")):
                continue  # would change the model set
            with self.subTest(path=path):
                r = http(self.port, method, path, body, self.auth(), timeout=60)
                self.assertEqual(r.status, 200, "%s %s: %r" % (method, path, r))


# ---------------------------------------------------------------------------------------
# Across the whole run

class LifecycleServer(ServerTest):
    """Worker lifecycle defects found by abuse testing: a load right after an unload, the
    heartbeat timeout, and signals sent to the whole process group."""

    SERVER_NAME = "lifecycle"
    HEARTBEAT_TIMEOUT = 2.0
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one",
                   "--heartbeat-timeout-ms", str(int(HEARTBEAT_TIMEOUT * 1000))]
    NEW_SESSION = True

    def _infer_ok(self):
        r = http(self.port, "POST", "/v2/models/add_one/infer", infer_json([1, 2, 3, 4]))
        self.assertEqual(r.status, 200, repr(r))

    def _wait_ready(self, what, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            r = http(self.port, "GET", "/v2/models/add_one/ready")
            if r.status == 200:
                return
            time.sleep(0.1)
        self.fail("add_one not ready within %d s %s" % (limit, what))

    def test_load_right_after_unload_never_fails(self):
        # Each unload stops the worker and each load starts a new one of the same name: the
        # old one's exit must never be taken for the new one's.
        for i in range(15):
            r = http(self.port, "POST", "/v2/repository/models/add_one/unload", b"")
            self.assertEqual(r.status, 200, "unload %d: %r" % (i, r))
            r = http(self.port, "POST", "/v2/repository/models/add_one/load", b"", timeout=60)
            self.assertEqual(r.status, 200, "load %d right after an unload: %r" % (i, r))
            self._infer_ok()

    def test_a_stopped_worker_is_killed_after_one_heartbeat_timeout(self):
        self._wait_ready("before stopping its worker")
        workers = self.server.workers()
        self.assertEqual(len(workers), 1, workers)
        os.kill(workers[0], signal.SIGSTOP)
        stopped = time.monotonic()
        killed = None
        while time.monotonic() - stopped < 6 * self.HEARTBEAT_TIMEOUT:
            if proc_state(workers[0]) in (None, "Z"):
                killed = time.monotonic() - stopped
                break
            time.sleep(0.02)
        if killed is None:
            os.kill(workers[0], signal.SIGCONT)
            self.fail("a SIGSTOPped worker was not killed within %.0f s"
                      % (6 * self.HEARTBEAT_TIMEOUT))
        note("SIGSTOPped worker killed after %.2f s (heartbeat timeout %.1f s)"
             % (killed, self.HEARTBEAT_TIMEOUT))
        # One timeout of silence, not two (it was 2x); the slack covers the 100 ms watchdog
        # tick and the beat period, generously for a loaded machine.
        self.assertLess(killed, self.HEARTBEAT_TIMEOUT * 1.75)
        # The server may notice the exit a moment after this test does: wait for the
        # replacement, then for the model to be ready on it.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [w for w in self.server.workers()
                                                   if w != workers[0]]:
            time.sleep(0.05)
        self._wait_ready("after its worker was restarted")
        self._infer_ok()

    def test_a_fifo_as_config_fails_its_load_without_blocking_control(self):
        # Opening a FIFO for reading waits for a writer: repository files are opened
        # non-blocking and anything but a regular file is refused.
        target = os.path.join(self.server.repo, "fifo_model")
        os.makedirs(os.path.join(target, "1"))
        os.mkfifo(os.path.join(target, "config.pbtxt"))
        r = http(self.port, "POST", "/v2/repository/models/fifo_model/load", b"", timeout=30)
        self.assertError(r, 400)
        self.assertIn("regular file", r.body.decode(errors="replace"))
        r = http(self.port, "POST", "/v2/repository/index", b"", timeout=30)
        self.assertEqual(r.status, 200, repr(r))
        self._infer_ok()

    def test_large_dims_grow_no_server_memory(self):
        # The estimate's TorchScript dry run runs in a modelgrid-worker child: a model whose
        # inputs are 25 million floats per sample costs the server nothing (it once grew by
        # 376 MiB, and dims of 10^12 made it try to allocate 4 TB).
        def large(text):
            head, sep, tail = text.partition("input [")
            head = head.replace("max_batch_size: 8", "max_batch_size: 1")
            return head + sep + re.sub(r"dims: \[[^\]]*\]", "dims: [ 25000000 ]", tail, 1)

        copy_model(CONFIG["fixtures"], self.server.repo, "large_dims", edit=large)
        before = self.server.rss_kib()
        r = http(self.port, "POST", "/v2/repository/models/large_dims/load", b"", timeout=120)
        self.assertNotEqual(r.status, 500, repr(r))
        grown = (self.server.rss_kib() - before) / 1024.0
        note("loading a model with dims [25000000]: HTTP %d, server RSS %+.1f MiB"
             % (r.status, grown))
        self.assertLess(grown, 64, "the server grew %.0f MiB estimating a large model" % grown)
        http(self.port, "POST", "/v2/repository/models/large_dims/unload", b"", timeout=60)

    def test_zz_group_sigterm_drains_requests_in_flight(self):
        # Runs last in its class: it stops the server. SIGTERM to the whole process group
        # (Ctrl-C, kill -- -PGID, systemd's KillMode=control-group) reaches the workers too;
        # they must leave shutdown to the server, which finishes what is in flight.
        self._wait_ready("before the group SIGTERM")
        statuses, stop = [], threading.Event()

        def client():
            while not stop.is_set():
                try:
                    with Conn(self.port) as c:
                        while not stop.is_set():
                            c.send(build_request("POST", "/v2/models/add_one/infer",
                                                 infer_json([1, 2, 3, 4])))
                            statuses.append(c.read_response().status)
                except (OSError, ConnectionClosed):
                    if stop.wait(0.01):
                        return

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        answered_before = len(statuses)
        os.killpg(self.server.pid, signal.SIGTERM)
        code = self.server.proc.wait(timeout=40)
        stop.set()
        for t in threads:
            t.join(timeout=20)
        log = self.server.log_tail(200)
        self.server.proc = None  # it has exited; nothing left to stop
        self.assertGreater(answered_before, 0, "no request was answered before the signal")
        self.assertEqual(code, 0, "server status after a group SIGTERM; log:\n" + log)
        self.assertEqual([s for s in statuses if s != 200], [],
                         "requests failed during a group SIGTERM; log:\n" + log)
        after = log[log.rfind("received SIGTERM"):]
        self.assertNotIn("restarting", after)
        self.assertNotIn("signal 15", after)
        note("%d requests answered 200 around a group SIGTERM" % len(statuses))


class ZzAcrossTheRun(unittest.TestCase):
    """Runs last: no 500 was answered anywhere, and no server died or exited badly."""

    def test_no_request_in_the_suite_got_a_500(self):
        self.assertEqual(INTERNAL_ERRORS, [], "500 answers:\n" + "\n".join(INTERNAL_ERRORS))

    def test_no_server_crashed_or_exited_badly(self):
        self.assertEqual(SERVER_TROUBLE, [], "\n".join(SERVER_TROUBLE))


CLASSES = [MainServer, SlowClientServer, ConnectionCaps, ApiKeyServer, LifecycleServer,
           ZzAcrossTheRun]


# ---------------------------------------------------------------------------------------
# Runner

class Result(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.failed_ids = []
        self.subtest_failures = 0

    def startTest(self, test):
        super().startTest(test)
        self._started = time.monotonic()

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.write("    (%.1f s)\n" % (time.monotonic() - self._started))
        self.stream.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.failed_ids.append(test.id())

    def addError(self, test, err):
        super().addError(test, err)
        self.failed_ids.append(test.id())

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.failed_ids.append(test.id())

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.stream.write("\n" + "!" * 78 + "\nSKIPPED %s: %s\n" % (test.id(), reason) + "!" * 78 + "\n")


def run_suite(classes, description, tmp_prefix):
    """Parses --binary, --fixtures and -k, runs `classes` (the last one, the across-the-run
    checks, always), prints each failing server's stderr and the "N passed, M failed"
    line; returns the exit status. Shared by the suites that import this module."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--binary", default=os.environ.get("MODELGRID_BINARY")
                        or os.path.join(REPO_ROOT, "build", "modelgrid"))
    parser.add_argument("--fixtures", default=os.environ.get("MODELGRID_FIXTURES")
                        or os.path.join(REPO_ROOT, ".fixtures"))
    parser.add_argument("-k", action="append", default=[],
                        help="only tests whose id contains this (repeatable)")
    args = parser.parse_args()
    CONFIG["binary"] = os.path.abspath(args.binary)
    CONFIG["fixtures"] = os.path.abspath(args.fixtures)
    if not os.access(CONFIG["binary"], os.X_OK):
        print("error: no modelgrid binary at %s (build it, or pass --binary)" % CONFIG["binary"])
        print("0 passed, 1 failed")
        return 1
    CONFIG["tmp"] = tempfile.mkdtemp(prefix=tmp_prefix)
    started = time.monotonic()
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for cls in classes:
        for test in loader.loadTestsFromTestCase(cls):
            if not args.k or any(k in test.id() for k in args.k) or cls is classes[-1]:
                suite.addTest(test)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Result)
    result = runner.run(suite)
    failed = sorted(set(result.failed_ids))
    for cls in classes:
        server = getattr(cls, "server", None)
        if server is not None and any(t.startswith(cls.__module__ + "." + cls.__name__ + ".")
                                      for t in failed):
            print("---- %s server stderr (tail) ----\n%s" % (server.name, server.log_tail()))
    if failed:
        print("failing tests:\n  " + "\n  ".join(failed))
        print("(server files kept in %s)" % CONFIG["tmp"])
    else:
        shutil.rmtree(CONFIG["tmp"], ignore_errors=True)
    skipped = len(result.skipped)
    passed = result.testsRun - len(failed) - skipped
    print("suite took %.1f s" % (time.monotonic() - started))
    line = "%d passed, %d failed" % (passed, len(failed))
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed else 0


def main():
    return run_suite(CLASSES, __doc__.split("\n\n")[0], "mg_edge_")


if __name__ == "__main__":
    sys.exit(main())
