#!/usr/bin/python3
"""gRPC end-to-end suite: the KServe v2 gRPC front end (--grpc-port) against a real server.

Usage:
  /usr/bin/python3 tests/grpc/grpc_test.py [--binary build/modelgrid] [--fixtures .fixtures]
                                           [-k SUBSTRING]...

Defaults are relative to the repository root; MODELGRID_BINARY and MODELGRID_FIXTURES
override them, and the flags override both. Needs the fixture repository
(scripts/make-fixtures.sh writes FIXTURES/repo), Python's grpc and protobuf modules
(Debian: python3-grpcio, python3-protobuf) and protoc (protobuf-compiler). The message
modules are generated from proto/*.proto into a temporary folder at start; grpc_tools is
not used. Without the Python modules or protoc the suite fails when the binary serves gRPC,
and is skipped, saying so loudly, when it does not.

Reuses the network-edge suite's infrastructure (tests/edge/edge_test.py): its Server,
HTTP client, 500 tracking and test runner. Five servers are started, each with --port 0
and --grpc-port auto on a temporary repository holding add_one (FP32 INPUT__0 [-1] ->
OUTPUT__0 = input + 1, max_batch_size 8):

  GrpcMain       explicit model control, --load-model '*', with two_in_two_out and
                 "spare" (a second add_one, for load and unload): every RPC of
                 inference.GRPCInferenceService and grpc.health.v1.Health, compared with
                 the HTTP answers where both exist
  GrpcAuth       --api-key: UNAUTHENTICATED without the key but on the exempt RPCs
  GrpcMaxMessage --grpc-max-message-bytes 1MiB: RESOURCE_EXHAUSTED above
  GrpcAdmission  a virtual 1000 MiB device: a load that does not fit is
                 RESOURCE_EXHAUSTED and the loaded model still serves
  GrpcLifecycle  a worker SIGKILLed with a stream request in flight, then SIGTERM to the
                 server with a stream open and a request in flight

Every RPC has a deadline; nothing leaves 127.0.0.0/8. An INTERNAL or UNKNOWN status
anywhere fails the run, as a 500 does in the edge suite. The last line printed is
"N passed, M failed" (", K skipped" when some were skipped); the exit status is non-zero
when anything failed.
"""
import argparse
import atexit
import functools
import json
import os
import queue
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from multiprocessing import shared_memory

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "edge"))
import edge_test  # noqa: E402
from edge_test import CONFIG, copy_model, http  # noqa: E402

try:
    import grpc
    GRPC_IMPORT_ERROR = None
except ImportError as e:  # reported by main()
    grpc = None
    GRPC_IMPORT_ERROR = "Python's grpc module is missing (%s)" % e

REPO_ROOT = edge_test.REPO_ROOT
MIB = edge_test.MIB
SERVICE = "inference.GRPCInferenceService"
HEALTH = "grpc.health.v1.Health"
# Deadlines: hang guards only; nothing asserts on latency unless it says so.
RPC_TIMEOUT = float(os.environ.get("MG_RPC_TIMEOUT", "60"))
LOAD_TIMEOUT = 120.0
STREAM_TIMEOUT = 300.0  # the deadline of a whole ModelStreamInfer call
READY_TIMEOUT = 120.0
CLASSY_INPUT = [3, 1, 4, 1, 5, 9, 2, 6]
# input + 1 printed as std::to_string(float), "value:index", highest first
ADD_ONE_TOP3 = [b"10.000000:5", b"7.000000:7", b"6.000000:4"]

# The generated message modules (grpc_service_pb2, model_config_pb2, health_pb2), set by
# main() before any test runs.
pb = None
mc = None
hpb = None


def note(text):
    print("\n[grpc] " + text, flush=True)


# ---------------------------------------------------------------------------------------
# Message modules and the client

def generate_messages():
    """Generates the message modules from proto/ with protoc and imports them; returns an
    error string (what is missing) or None."""
    global pb, mc, hpb
    protoc = "/usr/bin/protoc" if os.access("/usr/bin/protoc", os.X_OK) else shutil.which("protoc")
    if protoc is None:
        return "protoc is missing (Debian: protobuf-compiler)"
    out = tempfile.mkdtemp(prefix="mg_grpc_proto_")
    atexit.register(shutil.rmtree, out, True)
    proto = os.path.join(REPO_ROOT, "proto")
    cmd = [protoc, "-I", proto, "--python_out=" + out] + [
        os.path.join(proto, f) for f in ("grpc_service.proto", "model_config.proto", "health.proto")]
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if run.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), run.stdout.decode(errors="replace")))
    sys.path.insert(0, out)
    try:
        import grpc_service_pb2
        import health_pb2
        import model_config_pb2
    except ImportError as e:
        return "Python's protobuf module is missing or too old (%s)" % e
    pb, mc, hpb = grpc_service_pb2, model_config_pb2, health_pb2
    return None


def method_of(channel, method):
    """(callable, request type) for `method`: a GRPCInferenceService method name
    ("ModelInfer") or "Health/Check" / "Health/Watch". ModelStreamInfer is stream-stream,
    Health/Watch unary-stream, the rest unary."""
    if method.startswith("Health/"):
        name = method.split("/", 1)[1]
        path = "/%s/%s" % (HEALTH, name)
        request, response = hpb.HealthCheckRequest, hpb.HealthCheckResponse
        make = channel.unary_stream if name == "Watch" else channel.unary_unary
    elif method == "ModelStreamInfer":
        path = "/%s/%s" % (SERVICE, method)
        request, response = pb.ModelInferRequest, pb.ModelStreamInferResponse
        make = channel.stream_stream
    else:
        path = "/%s/%s" % (SERVICE, method)
        request = getattr(pb, method + "Request")
        response = getattr(pb, method + "Response")
        make = channel.unary_unary
    return make(path, request_serializer=request.SerializeToString,
                response_deserializer=response.FromString), request


DEFAULT = object()


class Client:
    """One channel to a server's gRPC port. `client.ModelReady(name="add_one")` calls the
    method with a request made from the keywords (or `request=`), with the client's
    authorization metadata unless `metadata=` overrides it ([] sends none). An INTERNAL or
    UNKNOWN status is recorded for the across-the-run check and raised like any other."""

    OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1),
               ("grpc.enable_http_proxy", 0)]

    def __init__(self, port, key=None):
        self.port = port
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % port, options=self.OPTIONS)
        self.metadata = [("authorization", "Bearer " + key)] if key else []

    def _metadata(self, metadata):
        md = self.metadata if metadata is DEFAULT else metadata
        return list(md) or None

    def call(self, method, request=None, metadata=DEFAULT, timeout=RPC_TIMEOUT, **fields):
        fn, request_type = method_of(self.channel, method)
        if request is None:
            request = request_type(**fields)
        try:
            return fn(request, metadata=self._metadata(metadata), timeout=timeout)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                edge_test.INTERNAL_ERRORS.append("%s: gRPC %s -> %s: %s" % (
                    edge_test.CURRENT_TEST[0], method, e.code().name, e.details()))
            raise

    def __getattr__(self, method):
        if method[:1].isupper():
            return functools.partial(self.call, method)
        raise AttributeError(method)

    def watch(self, service="", metadata=DEFAULT, timeout=RPC_TIMEOUT):
        fn, _ = method_of(self.channel, "Health/Watch")
        return fn(hpb.HealthCheckRequest(service=service), metadata=self._metadata(metadata),
                  timeout=timeout)

    def stream(self, metadata=DEFAULT):
        return Stream(self, self._metadata(metadata))

    def close(self):
        self.channel.close()


class Stream:
    """One ModelStreamInfer call. send() queues a request; event() waits for what the server
    sent next: ("response", ModelStreamInferResponse), ("end", None) when the call ended
    with OK, or ("error", grpc.RpcError)."""

    def __init__(self, client, metadata):
        self._requests = queue.Queue()
        self._events = queue.Queue()
        fn, _ = method_of(client.channel, "ModelStreamInfer")
        self.call = fn(self._feed(), metadata=metadata, timeout=STREAM_TIMEOUT)
        threading.Thread(target=self._read, daemon=True).start()

    def _feed(self):
        while True:
            request = self._requests.get()
            if request is None:
                return
            yield request

    def _read(self):
        try:
            for response in self.call:
                self._events.put(("response", response))
            self._events.put(("end", None))
        except grpc.RpcError as e:
            self._events.put(("error", e))

    def send(self, request):
        self._requests.put(request)

    def event(self, timeout=RPC_TIMEOUT):
        """The next event; ("timeout", None) when none came within `timeout` seconds."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return ("timeout", None)

    def recv(self, timeout=RPC_TIMEOUT):
        """The next response; fails the test (AssertionError) on anything else."""
        kind, value = self.event(timeout)
        if kind != "response":
            raise AssertionError("expected a stream response, got %s%s" % (
                kind, "" if value is None else ": %s %s" % (value.code().name, value.details())))
        return value

    def close(self):
        """Half-closes: the server sees the end of the requests."""
        self._requests.put(None)

    def cancel(self):
        self._requests.put(None)
        self.call.cancel()


# ---------------------------------------------------------------------------------------
# Requests and responses

def set_param(params, key, value):
    """params[key] = value in an InferParameter or ModelRepositoryParameter map, by type."""
    p = params[key]
    if isinstance(value, bool):
        p.bool_param = value
    elif isinstance(value, int):
        p.int64_param = value
    elif isinstance(value, str):
        p.string_param = value
    else:
        p.double_param = value


def add_one_request(values=(1, 2, 3, 4), shape=None, model="add_one", id="", typed=False,
                    outputs=(), raw=None):
    """An add_one ModelInferRequest: FP32 INPUT__0 of `values` (shape [1, n] unless given),
    in raw_input_contents (`raw` overrides the bytes) or, `typed`, in contents."""
    request = pb.ModelInferRequest(model_name=model, id=id)
    values = [float(v) for v in values]
    tensor = request.inputs.add(name="INPUT__0", datatype="FP32",
                                shape=list(shape) if shape is not None else [1, len(values)])
    if typed:
        tensor.contents.fp32_contents.extend(values)
    else:
        request.raw_input_contents.append(
            raw if raw is not None else struct.pack("<%df" % len(values), *values))
    for name in outputs:
        request.outputs.add(name=name)
    return request


def fp32s(raw):
    return list(struct.unpack("<%df" % (len(raw) // 4), raw))


def bytes_elements(raw):
    """The elements of a BYTES tensor in Triton's layout: each a 4-byte little-endian length,
    then its bytes."""
    out, at = [], 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise AssertionError("a BYTES tensor ends inside a length prefix: %r" % raw)
        (n,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + n > len(raw):
            raise AssertionError("a BYTES element runs past the tensor: %r" % raw)
        out.append(raw[at:at + n])
        at += n
    return out


def setting_value(value):
    """The Python value of a LogSettings SettingValue."""
    which = value.WhichOneof("parameter_choice")
    return None if which is None else getattr(value, which)


# ---------------------------------------------------------------------------------------
# Servers and their tests

class GrpcServer(edge_test.Server):
    """edge_test.Server with --grpc-port auto; grpc_port is read from the gRPC serving
    line printed before the HTTP one."""

    GRPC_LINE = re.compile(rb"serving KServe v2 gRPC on 127\.0\.0\.1:(\d+)")

    def __init__(self, name, args, new_session=False):
        super().__init__(name, ["--grpc-port", "auto"] + list(args), new_session)
        self.grpc_port = None

    def start(self):
        super().start()
        m = self.GRPC_LINE.search(self.startup_text)
        if m is None:
            self.kill()
            raise RuntimeError("%s: no line 'serving KServe v2 gRPC on 127.0.0.1:PORT' before "
                               "the HTTP one; stdout:\n%s" % (
                                   self.name, self.startup_text.decode(errors="replace")))
        self.grpc_port = int(m.group(1))


class GrpcServerTest(edge_test.ServerTest):
    """A class of tests sharing one GrpcServer; `client` talks to its gRPC port (with the
    class's KEY), and is remade when the server was restarted on another port."""

    KEY = None
    GPUS = "cpu"  # --gpus
    EXTRA_MODELS = ()  # (name, fixture source) copied into the repository before the start
    MODELS = ("add_one",)  # waited for before the first test
    _client = None

    @classmethod
    def setUpClass(cls):
        # As ServerTest.setUpClass, with GrpcServer, more models, and a wait for them.
        cls.server, cls.start_error, cls.skip_reason, cls._client = None, None, None, None
        fixtures = CONFIG["fixtures"]
        for source in {"add_one"} | {s for _, s in cls.EXTRA_MODELS}:
            if not os.path.isdir(os.path.join(fixtures, "repo", source)):
                cls.skip_reason = ("fixture repository %s/repo/%s is missing "
                                   "(run scripts/make-fixtures.sh)" % (fixtures, source))
                return
        try:
            cls.server = GrpcServer(cls.SERVER_NAME, list(cls.SERVER_ARGS), cls.NEW_SESSION)
            cls.server.gpus = cls.GPUS
            for name, source in cls.EXTRA_MODELS:
                copy_model(fixtures, cls.server.repo, name, source=source)
            cls.server.start()
            cls.wait_http_ready(cls.MODELS)
            print("\n[grpc] %s on gRPC port %d, HTTP port %d (started in %.1f s): %s"
                  % (cls.SERVER_NAME, cls.server.grpc_port, cls.server.port,
                     cls.server.startup_seconds, " ".join(cls.server.args)), flush=True)
        except Exception as e:  # reported by every test of the class
            cls.start_error = "%s did not start: %s" % (cls.SERVER_NAME, e)

    @classmethod
    def wait_http_ready(cls, models):
        headers = [("Authorization", "Bearer " + cls.KEY)] if cls.KEY else []
        cls.server.wait_ready(models, READY_TIMEOUT, headers)

    @classmethod
    def tearDownClass(cls):
        if cls._client is not None:
            cls._client.close()
            cls._client = None
        super().tearDownClass()

    @property
    def client(self):
        cls = type(self)
        if cls._client is None or cls._client.port != self.server.grpc_port:
            if cls._client is not None:
                cls._client.close()
            cls._client = Client(self.server.grpc_port, self.KEY)
        return cls._client

    def auth(self):
        return [("Authorization", "Bearer " + self.KEY)] if self.KEY else []

    def get_json(self, path):
        r = http(self.port, "GET", path, headers=self.auth())
        self.assertEqual(r.status, 200, "GET %s: %r" % (path, r))
        return r.json()

    def post_json(self, path, doc=None, timeout=edge_test.SOCK_TIMEOUT):
        body = b"" if doc is None else json.dumps(doc).encode()
        r = http(self.port, "POST", path, body, headers=self.auth(), timeout=timeout)
        self.assertEqual(r.status, 200, "POST %s: %r" % (path, r))
        return r.json() if r.body else None

    # -- assertions ------------------------------------------------------------------

    def assertStatus(self, codes, fn, *args, patterns=(), what="", **kw):
        """fn(*args, **kw) fails with one of `codes` (a StatusCode or a tuple of them) and
        details matching every pattern; returns the details."""
        codes = codes if isinstance(codes, tuple) else (codes,)
        where = (what + ": ") if what else ""
        try:
            response = fn(*args, **kw)
        except grpc.RpcError as e:
            self.assertIn(e.code(), codes, "%sexpected %s, got %s: %r" % (
                where, "/".join(c.name for c in codes), e.code().name, e.details()))
            details = e.details() or ""
            for p in patterns:
                self.assertRegex(details, re.compile(p, re.I), "%sstatus message" % where)
            return details
        self.fail("%sexpected %s, got OK: %s" % (where, "/".join(c.name for c in codes),
                                                  str(response)[:500]))

    def assertAddOne(self, response, inputs, id="", shape=None, what=""):
        """A ModelInferResponse of add_one for `inputs`: names echoed, the one output FP32
        in raw_output_contents (never in typed contents)."""
        where = (what + ": ") if what else ""
        self.assertEqual(response.model_name, "add_one", where + str(response))
        self.assertEqual(response.model_version, "1", where + str(response))
        self.assertEqual(response.id, id, where + str(response))
        self.assertEqual(len(response.outputs), 1, where + str(response))
        out = response.outputs[0]
        self.assertEqual(out.name, "OUTPUT__0", where + str(out))
        self.assertEqual(out.datatype, "FP32", where + str(out))
        self.assertEqual(list(out.shape), list(shape or [1, len(inputs)]), where + str(out))
        self.assertFalse(out.HasField("contents") and out.contents.ByteSize(),
                         where + "output in typed contents: %s" % out)
        self.assertEqual(len(response.raw_output_contents), 1, where + "raw_output_contents")
        self.assertEqual(fp32s(response.raw_output_contents[0]), [float(v) + 1 for v in inputs],
                         where + "output values")

    def assertStreamOk(self, response, inputs, id, what=""):
        self.assertEqual(response.error_message, "", "%s: request %s: %s" % (
            what, id, response.error_message))
        self.assertAddOne(response.infer_response, inputs, id=id,
                          what="%s: stream response %s" % (what, id))

    def wait_model_ready(self, model="add_one", limit=READY_TIMEOUT, what=""):
        """Until gRPC ModelReady says ready; errors on the way (a restart) are retried."""
        deadline = time.monotonic() + limit
        last = None
        while time.monotonic() < deadline:
            try:
                if self.client.ModelReady(name=model).ready:
                    return
                last = "ready false"
            except grpc.RpcError as e:
                last = "%s: %s" % (e.code().name, e.details())
            time.sleep(0.1)
        self.fail("%s not ready within %.0f s %s (last: %s); log:\n%s"
                  % (model, limit, what, last, self.server.log_tail()))


# ---------------------------------------------------------------------------------------
# Main server: every RPC

class GrpcMain(GrpcServerTest):
    SERVER_NAME = "grpc_main"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "*"]
    EXTRA_MODELS = (("two_in_two_out", "two_in_two_out"), ("spare", "add_one"))
    MODELS = ("add_one", "two_in_two_out", "spare")

    def setUp(self):
        super().setUp()
        self.shms = []
        if "_shm_" in self.id():
            self.client.SystemSharedMemoryUnregister(name="")

    def tearDown(self):
        if "_shm_" in self.id() and self.server is not None and self.server.alive():
            try:
                self.client.SystemSharedMemoryUnregister(name="")
            except grpc.RpcError:
                pass
        for shm in self.shms:
            shm.close()
            try:
                shm.unlink()
            except FileNotFoundError:
                pass
        super().tearDown()

    # -- health and metadata ---------------------------------------------------------

    def test_server_live_and_ready(self):
        self.assertIs(self.client.ServerLive().live, True)
        self.assertIs(self.client.ServerReady().ready, True)

    def test_server_metadata_matches_http(self):
        m = self.client.ServerMetadata()
        doc = self.get_json("/v2")
        self.assertEqual(m.name, "modelgrid")
        self.assertEqual(m.name, doc["name"])
        self.assertEqual(m.version, doc["version"])
        self.assertEqual(sorted(m.extensions), sorted(doc["extensions"]))
        self.assertEqual(len(m.extensions), len(set(m.extensions)), list(m.extensions))

    def test_model_metadata_matches_http(self):
        for model in ("add_one", "two_in_two_out"):
            with self.subTest(model=model):
                m = self.client.ModelMetadata(name=model)
                doc = self.get_json("/v2/models/" + model)

                def tensors(ts):
                    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
                            for t in ts]

                self.assertEqual(m.name, doc["name"])
                self.assertEqual(list(m.versions), doc["versions"])
                self.assertEqual(m.platform, doc["platform"])
                self.assertEqual(tensors(m.inputs), doc["inputs"])
                self.assertEqual(tensors(m.outputs), doc["outputs"])

    def test_model_ready_and_unknown_model(self):
        self.assertIs(self.client.ModelReady(name="add_one").ready, True)
        self.assertIs(self.client.ModelReady(name="add_one", version="1").ready, True)
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelReady,
                          name="no_such_model", what="ModelReady of an unknown model")
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelMetadata,
                          name="no_such_model", what="ModelMetadata of an unknown model")

    def test_model_config_matches_http(self):
        for model in ("add_one", "two_in_two_out"):
            with self.subTest(model=model):
                c = self.client.ModelConfig(name=model).config
                doc = self.get_json("/v2/models/%s/config" % model)
                self.assertEqual(c.name, doc["name"])
                self.assertEqual(c.platform, doc["platform"])
                self.assertEqual(c.max_batch_size, doc["max_batch_size"])
                self.assertEqual([(i.name, mc.DataType.Name(i.data_type), list(i.dims))
                                  for i in c.input],
                                 [(i["name"], i["data_type"], i["dims"]) for i in doc["input"]])
                self.assertEqual([(o.name, mc.DataType.Name(o.data_type), list(o.dims))
                                  for o in c.output],
                                 [(o["name"], o["data_type"], o["dims"]) for o in doc["output"]])
        c = self.client.ModelConfig(name="add_one").config
        self.assertEqual(c.input[0].data_type, mc.TYPE_FP32)
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelConfig,
                          name="no_such_model", what="ModelConfig of an unknown model")

    # -- statistics and metrics ------------------------------------------------------

    def _grpc_stats(self):
        stats = self.client.ModelStatistics(name="add_one").model_stats
        self.assertEqual(len(stats), 1, stats)
        self.assertEqual((stats[0].name, stats[0].version), ("add_one", "1"))
        return stats[0]

    def test_model_statistics_count_and_match_http(self):
        before = self._grpc_stats()
        for i in range(3):
            self.assertAddOne(self.client.ModelInfer(request=add_one_request([i, 1, 2, 3])),
                              [i, 1, 2, 3])
        after = self._grpc_stats()
        self.assertEqual(after.inference_count, before.inference_count + 3)
        self.assertEqual(after.inference_stats.success.count,
                         before.inference_stats.success.count + 3)
        doc = self.get_json("/v2/models/add_one/stats")["model_stats"][0]
        self.assertEqual(after.inference_count, doc["inference_count"])
        self.assertEqual(after.execution_count, doc["execution_count"])
        self.assertEqual(after.last_inference, doc["last_inference"])
        self.assertEqual(after.inference_stats.success.count,
                         doc["inference_stats"]["success"]["count"])
        self.assertEqual(after.inference_stats.fail.count, doc["inference_stats"]["fail"]["count"])
        everything = self.client.ModelStatistics().model_stats
        self.assertTrue({"add_one", "two_in_two_out"} <= {s.name for s in everything},
                        [s.name for s in everything])
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelStatistics,
                          name="no_such_model", what="ModelStatistics of an unknown model")

    METRIC = re.compile(r'^nv_inference_request_success\{([^}]*)\}\s+(\S+)\s*$', re.M)

    def _success_metric(self):
        r = http(self.port, "GET", "/metrics", headers=self.auth())
        self.assertEqual(r.status, 200, repr(r))
        for labels, value in self.METRIC.findall(r.body.decode()):
            if 'model="add_one"' in labels and 'version="1"' in labels:
                return float(value)
        self.fail("no nv_inference_request_success{model=\"add_one\",...} in /metrics")

    def test_metrics_count_grpc_requests(self):
        before = self._success_metric()
        for i in range(3):
            self.client.ModelInfer(request=add_one_request([i, i, i, i]))
        stream = self.client.stream()
        try:
            for i in range(2):
                stream.send(add_one_request([i, 0, 0, 0], id=str(i)))
                self.assertStreamOk(stream.recv(), [i, 0, 0, 0], str(i))
        finally:
            stream.cancel()
        # /metrics renders a periodic reading: wait for it to take the five in.
        deadline = time.monotonic() + 30
        now = self._success_metric()
        while now < before + 5 and time.monotonic() < deadline:
            time.sleep(0.2)
            now = self._success_metric()
        self.assertEqual(now, before + 5, "nv_inference_request_success after 3 ModelInfer "
                                          "and 2 stream requests (was %g)" % before)

    # -- repository ------------------------------------------------------------------

    def _index(self, ready=False):
        return sorted((m.name, m.version, m.state, m.reason)
                      for m in self.client.RepositoryIndex(ready=ready).models)

    def _http_index(self, ready=False):
        doc = self.post_json("/v2/repository/index", {"ready": True} if ready else {})
        return sorted((m.get("name"), m.get("version", ""), m.get("state", ""),
                       m.get("reason", "")) for m in doc)

    def test_repository_index(self):
        index = self._index()
        names = {m[0] for m in index}
        self.assertTrue({"add_one", "two_in_two_out", "spare"} <= names, index)
        for m in index:
            if m[0] in ("add_one", "two_in_two_out"):
                self.assertEqual(m[1:3], ("1", "READY"), m)
        self.assertEqual(index, self._http_index())
        ready = self._index(ready=True)
        self.assertTrue(all(m[2] == "READY" for m in ready), ready)
        self.assertEqual(ready, self._http_index(ready=True))

    def test_repository_unload_then_load(self):
        try:
            self.client.RepositoryModelUnload(model_name="spare", timeout=LOAD_TIMEOUT)
            self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelReady, name="spare",
                              what="ModelReady after an unload")
            ready = [m[0] for m in self._index(ready=True)]
            self.assertNotIn("spare", ready)
            self.assertIn("add_one", ready)
            self.assertIn("spare", [m[0] for m in self._index()])
            self.assertEqual(self._index(), self._http_index())
            self.assertStatus((grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE),
                              self.client.ModelInfer, request=add_one_request(model="spare"),
                              what="ModelInfer of an unloaded model")
        finally:
            self.client.RepositoryModelLoad(model_name="spare", timeout=LOAD_TIMEOUT)
        self.assertIs(self.client.ModelReady(name="spare").ready, True)
        response = self.client.ModelInfer(request=add_one_request([5, 6, 7, 8], model="spare"))
        self.assertEqual(response.model_name, "spare")
        self.assertEqual(fp32s(response.raw_output_contents[0]), [6, 7, 8, 9])
        self.assertIn(("spare", "1", "READY"), [m[:3] for m in self._index(ready=True)])

    def test_repository_load_unknown_model(self):
        self.assertStatus((grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT),
                          self.client.RepositoryModelLoad, model_name="no_such_model",
                          timeout=LOAD_TIMEOUT, patterns=["no_such_model"],
                          what="load of an unknown model")

    def test_repository_load_with_config_override(self):
        original = self.get_json("/v2/models/spare/config")
        self.assertEqual(original.get("max_batch_size"), 8, original)
        request = pb.RepositoryModelLoadRequest(model_name="spare")
        try:
            set_param(request.parameters, "config", json.dumps(dict(original, max_batch_size=4)))
            self.client.RepositoryModelLoad(request=request, timeout=LOAD_TIMEOUT)
            self.assertEqual(self.client.ModelConfig(name="spare").config.max_batch_size, 4)
            self.assertEqual(self.get_json("/v2/models/spare/config")["max_batch_size"], 4)
            self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                              request=add_one_request(range(20), shape=[5, 4], model="spare"),
                              what="batch 5 of max 4")
            response = self.client.ModelInfer(
                request=add_one_request(range(16), shape=[4, 4], model="spare"))
            self.assertEqual(fp32s(response.raw_output_contents[0]), [i + 1.0 for i in range(16)])
        finally:
            self.client.RepositoryModelLoad(model_name="spare", timeout=LOAD_TIMEOUT)
        self.assertEqual(self.get_json("/v2/models/spare/config"), original)

    # -- inference -------------------------------------------------------------------

    def test_infer_raw_contents(self):
        response = self.client.ModelInfer(request=add_one_request([1.5, -2, 3, 40], id="req-1"))
        self.assertAddOne(response, [1.5, -2, 3, 40], id="req-1")
        request = add_one_request(range(8), shape=[2, 4])
        request.model_version = "1"
        self.assertAddOne(self.client.ModelInfer(request=request), range(8), shape=[2, 4],
                          what="batch 2, version 1")

    def test_infer_typed_contents(self):
        response = self.client.ModelInfer(request=add_one_request([1, 2, 3, 4], id="typed",
                                                                  typed=True))
        self.assertAddOne(response, [1, 2, 3, 4], id="typed", what="fp32_contents input")

    def test_infer_requested_output(self):
        response = self.client.ModelInfer(request=add_one_request(outputs=["OUTPUT__0"]))
        self.assertAddOne(response, [1, 2, 3, 4])

    def test_infer_two_inputs_two_outputs(self):
        def request(outputs=()):
            r = pb.ModelInferRequest(model_name="two_in_two_out")
            r.inputs.add(name="INPUT__0", datatype="INT64", shape=[1, 4])
            r.inputs.add(name="INPUT__1", datatype="FP32", shape=[1, 4])
            r.raw_input_contents.append(struct.pack("<4q", 1, 2, 3, -4))
            r.raw_input_contents.append(struct.pack("<4f", 0.5, 0.5, 0.5, 0.5))
            for name in outputs:
                r.outputs.add(name=name)
            return r

        response = self.client.ModelInfer(request=request())
        self.assertEqual([(o.name, o.datatype, list(o.shape)) for o in response.outputs],
                         [("OUTPUT__0", "INT64", [1, 4]), ("OUTPUT__1", "FP32", [1, 4])])
        self.assertEqual(len(response.raw_output_contents), 2)
        self.assertEqual(struct.unpack("<4q", response.raw_output_contents[0]), (2, 4, 6, -8))
        self.assertEqual(fp32s(response.raw_output_contents[1]), [1.5, 2.5, 3.5, -3.5])
        response = self.client.ModelInfer(request=request(["OUTPUT__1"]))
        self.assertEqual([o.name for o in response.outputs], ["OUTPUT__1"])
        self.assertEqual(len(response.raw_output_contents), 1)
        self.assertEqual(fp32s(response.raw_output_contents[0]), [1.5, 2.5, 3.5, -3.5])

    def test_infer_unknown_output(self):
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                          request=add_one_request(outputs=["NOPE__9"]), patterns=["NOPE__9"])

    def test_infer_bad_tensors(self):
        cases = [
            ("shape [1,5] with 16 bytes", add_one_request(shape=[1, 5])),
            ("12 bytes for [1,4]", add_one_request(raw=struct.pack("<3f", 1, 2, 3))),
            ("20 bytes for [1,4]", add_one_request(raw=struct.pack("<5f", 1, 2, 3, 4, 5))),
            ("3 fp32_contents for [1,4]", add_one_request([1, 2, 3], shape=[1, 4], typed=True)),
            ("batch 9 of max 8", add_one_request(range(36), shape=[9, 4])),
        ]
        wrong_type = add_one_request()
        wrong_type.inputs[0].datatype = "INT32"
        cases.append(("INT32 input", wrong_type))
        wrong_name = add_one_request()
        wrong_name.inputs[0].name = "INPUT__7"
        cases.append(("input INPUT__7", wrong_name))
        no_data = add_one_request()
        del no_data.raw_input_contents[:]
        cases.append(("no data", no_data))
        workers = self.server.workers()
        for what, request in cases:
            with self.subTest(what):
                self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                                  request=request, what=what)
        self.assertIntact(workers, "after bad tensors over gRPC")

    def test_infer_mixed_raw_and_typed_contents(self):
        request = add_one_request()
        request.inputs[0].contents.fp32_contents.extend([1, 2, 3, 4])
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                          request=request, what="raw_input_contents and contents")

    def test_infer_unknown_parameter(self):
        request = add_one_request()
        set_param(request.parameters, "sequence_id", 5)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                          request=request, patterns=["sequence_id"], what="sequence_id")
        request = add_one_request()
        set_param(request.inputs[0].parameters, "foo", 1)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                          request=request, patterns=["foo"], what="input parameter foo")

    def test_infer_unknown_model(self):
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelInfer,
                          request=add_one_request(model="no_such_model"),
                          patterns=["no_such_model"])

    def test_infer_classification(self):
        request = add_one_request(CLASSY_INPUT)
        set_param(request.outputs.add(name="OUTPUT__0").parameters, "classification", 3)
        response = self.client.ModelInfer(request=request)
        self.assertEqual(len(response.outputs), 1, response)
        out = response.outputs[0]
        self.assertEqual((out.name, out.datatype, list(out.shape)), ("OUTPUT__0", "BYTES", [1, 3]))
        self.assertEqual(len(response.raw_output_contents), 1)
        self.assertEqual(bytes_elements(response.raw_output_contents[0]), ADD_ONE_TOP3)

    def test_infer_large_request_under_the_default_limit(self):
        values = [float(i % 1000) for i in range(768 * 1024)]  # 3 MiB
        response = self.client.ModelInfer(request=add_one_request(values))
        self.assertEqual(len(response.raw_output_contents[0]), 3 * MIB)
        self.assertEqual(fp32s(response.raw_output_contents[0][:16]), [1, 2, 3, 4])

    # -- system shared memory ----------------------------------------------------------

    def _shm(self, size):
        name = "mggrpc_%d_%d_%d" % (os.getpid(), len(self.shms), int(time.monotonic() * 1000))
        shm = shared_memory.SharedMemory(create=True, size=size, name=name)
        self.shms.append(shm)
        return shm

    def _regions(self, name=""):
        regions = self.client.SystemSharedMemoryStatus(name=name).regions
        return {k: (v.name, v.key, v.offset, v.byte_size) for k, v in regions.items()}

    def test_shm_register_infer_unregister(self):
        shm_in, shm_out = self._shm(64), self._shm(64)
        self.client.SystemSharedMemoryRegister(name="in0", key="/" + shm_in.name, byte_size=64)
        self.client.SystemSharedMemoryRegister(name="out0", key="/" + shm_out.name, offset=0,
                                               byte_size=64)
        expect = {"in0": ("in0", "/" + shm_in.name, 0, 64),
                  "out0": ("out0", "/" + shm_out.name, 0, 64)}
        self.assertEqual(self._regions(), expect)
        self.assertEqual(self._regions("in0"), {"in0": expect["in0"]})
        self.assertEqual(self._http_regions(), expect)

        struct.pack_into("<4f", shm_in.buf, 0, 1.5, -2, 3, 40)
        struct.pack_into("<4f", shm_out.buf, 0, -7, -7, -7, -7)
        request = pb.ModelInferRequest(model_name="add_one", id="shm")
        tensor = request.inputs.add(name="INPUT__0", datatype="FP32", shape=[1, 4])
        set_param(tensor.parameters, "shared_memory_region", "in0")
        set_param(tensor.parameters, "shared_memory_byte_size", 16)
        out = request.outputs.add(name="OUTPUT__0")
        set_param(out.parameters, "shared_memory_region", "out0")
        set_param(out.parameters, "shared_memory_byte_size", 16)
        response = self.client.ModelInfer(request=request)
        self.assertEqual((response.model_name, response.id), ("add_one", "shm"))
        self.assertEqual([(o.name, o.datatype, list(o.shape)) for o in response.outputs],
                         [("OUTPUT__0", "FP32", [1, 4])])
        self.assertEqual(struct.unpack_from("<4f", shm_out.buf, 0), (2.5, -1, 4, 41))

        # An input in shared memory, the output in the response.
        del request.outputs[:]
        response = self.client.ModelInfer(request=request)
        self.assertAddOne(response, [1.5, -2, 3, 40], id="shm", what="shm input, raw output")

        self.client.SystemSharedMemoryUnregister(name="in0")
        self.assertEqual(self._regions(), {"out0": expect["out0"]})
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                          request=request, patterns=["in0"], what="infer on an unregistered region")
        self.client.SystemSharedMemoryUnregister(name="")
        self.assertEqual(self._regions(), {})

    def _http_regions(self):
        doc = self.get_json("/v2/systemsharedmemory/status")
        return {e["name"]: (e["name"], e["key"], e["offset"], e["byte_size"]) for e in doc}

    def test_shm_register_errors(self):
        shm = self._shm(64)
        self.client.SystemSharedMemoryRegister(name="r0", key="/" + shm.name, byte_size=64)
        cases = [
            ("same name twice", dict(name="r0", key="/" + shm.name, byte_size=64)),
            ("nonexistent key", dict(name="r1", key="/mggrpc_no_such_%d" % os.getpid(),
                                     byte_size=64)),
            ("byte_size past the object", dict(name="r2", key="/" + shm.name, byte_size=MIB)),
        ]
        for what, fields in cases:
            with self.subTest(what):
                self.assertStatus((grpc.StatusCode.INVALID_ARGUMENT,
                                   grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.NOT_FOUND),
                                  self.client.SystemSharedMemoryRegister, what=what, **fields)
        self.assertEqual(list(self._regions()), ["r0"], "failed registrations were kept")

    def test_shm_cuda_not_supported(self):
        self.assertEqual(len(self.client.CudaSharedMemoryStatus().regions), 0)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.CudaSharedMemoryRegister,
                          name="c0", raw_handle=b"\0" * 64, device_id=0, byte_size=64)
        self.assertEqual(len(self.client.CudaSharedMemoryStatus().regions), 0)

    # -- logging and trace -------------------------------------------------------------

    def test_log_settings_match_http(self):
        settings = self.client.LogSettings().settings
        got = {k: setting_value(v) for k, v in settings.items()}
        self.assertEqual(got, self.get_json("/v2/logging"))

    def test_log_settings_update(self):
        request = pb.LogSettingsRequest()
        request.settings["log_verbose_level"].uint32_param = 1
        try:
            settings = self.client.LogSettings(request=request).settings
            self.assertEqual(setting_value(settings["log_verbose_level"]), 1)
            self.assertEqual(self.get_json("/v2/logging")["log_verbose_level"], 1)
        finally:
            self.post_json("/v2/logging", {"log_info": True, "log_verbose_level": 0})

    def test_trace_setting_not_supported(self):
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.TraceSetting,
                          patterns=["trace", "not supported"])
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.TraceSetting,
                          model_name="add_one", patterns=["trace", "not supported"])

    # -- health ------------------------------------------------------------------------

    def test_health_check(self):
        SERVING = hpb.HealthCheckResponse.SERVING
        self.assertEqual(self.client.call("Health/Check", service="").status, SERVING)
        self.assertEqual(self.client.call("Health/Check", service=SERVICE).status, SERVING)
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.call, "Health/Check",
                          service="nope", what="Check of an unknown service")

    def test_health_watch(self):
        watch = self.client.watch("")
        try:
            self.assertEqual(next(watch).status, hpb.HealthCheckResponse.SERVING)
        finally:
            watch.cancel()

    # -- ModelStreamInfer --------------------------------------------------------------

    def test_stream_in_order(self):
        n = 16
        stream = self.client.stream()
        try:
            for i in range(n):  # all sent before any is read
                stream.send(add_one_request([i, i * 2, -i, 0.5], id=str(i)))
            for i in range(n):
                self.assertStreamOk(stream.recv(), [i, i * 2, -i, 0.5], str(i), "in order")
            stream.close()
            self.assertEqual(stream.event(), ("end", None), "after the half-close")
        finally:
            stream.cancel()

    def test_stream_continues_after_bad_requests(self):
        bad = {2: ("wrong shape", add_one_request(shape=[1, 5], id="2")),
               4: ("unknown model", add_one_request(model="no_such_model", id="4")),
               5: ("unknown parameter", None)}
        unknown_param = add_one_request(id="5")
        set_param(unknown_param.parameters, "sequence_id", 1)
        bad[5] = ("unknown parameter", unknown_param)
        stream = self.client.stream()
        messages = []
        try:
            for i in range(8):
                stream.send(bad[i][1] if i in bad else add_one_request([i, 0, 0, 0], id=str(i)))
            for i in range(8):
                response = stream.recv()
                if i in bad:
                    messages.append("%s: %r" % (bad[i][0], response.error_message))
                    self.assertNotEqual(response.error_message, "",
                                        "request %d (%s) answered without an error: %s"
                                        % (i, bad[i][0], response))
                    self.assertEqual(response.infer_response.id, str(i),
                                     "the id of error response %d (%s)" % (i, bad[i][0]))
                else:
                    self.assertStreamOk(response, [i, 0, 0, 0], str(i), "among bad requests")
            note("stream error messages: " + "; ".join(messages))
        finally:
            stream.cancel()
        self.assertServes("after bad stream requests")

    def test_stream_typed_contents_and_classification(self):
        stream = self.client.stream()
        try:
            stream.send(add_one_request([1, 2, 3, 4], id="t", typed=True))
            self.assertStreamOk(stream.recv(), [1, 2, 3, 4], "t")
            request = add_one_request(CLASSY_INPUT, id="c")
            set_param(request.outputs.add(name="OUTPUT__0").parameters, "classification", 3)
            stream.send(request)
            response = stream.recv()
            self.assertEqual(response.error_message, "")
            self.assertEqual(response.infer_response.outputs[0].datatype, "BYTES")
            self.assertEqual(bytes_elements(response.infer_response.raw_output_contents[0]),
                             ADD_ONE_TOP3)
        finally:
            stream.cancel()

    def test_perf_over_grpc_unary_and_streaming(self):
        # `modelgrid perf -i grpc` (and --streaming) loads the server and reports every
        # request as a success.
        for extra in ([], ["--streaming"]):
            run = subprocess.run(
                [CONFIG["binary"], "perf", "-i", "grpc", "-u",
                 "127.0.0.1:%d" % self.server.grpc_port, "-m", "add_one", "--shape",
                 "INPUT__0:4", "--concurrency", "2", "--duration", "0.5", "--warmup", "0.1",
                 "--json"] + extra,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            self.assertEqual(run.returncode, 0, "perf %s: %s" % (extra, run.stderr.decode()))
            report = json.loads(run.stdout)
            self.assertGreater(report["total_successes"], 0, extra)
            self.assertEqual(report["total_errors"], 0, extra)


# ---------------------------------------------------------------------------------------
# API key

class GrpcAuth(GrpcServerTest):
    SERVER_NAME = "grpc_auth"
    KEY = "grpc-s3cret"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one",
                   "--api-key", KEY]

    WRONG = [
        ("no key", []),
        ("wrong key", [("authorization", "Bearer wrong")]),
        ("key prefix", [("authorization", "Bearer " + KEY[:-1])]),
        ("key plus a byte", [("authorization", "Bearer " + KEY + "x")]),
        ("empty bearer", [("authorization", "Bearer ")]),
        ("basic scheme", [("authorization", "Basic Z3JwYzpncnBjLXMzY3JldA==")]),
        ("key without scheme", [("authorization", KEY)]),
        ("key in another header", [("x-api-key", KEY)]),
    ]

    def protected(self):
        """(method, request fields) of every RPC that needs the key. The load and unload
        would change the model set if the key were not checked first."""
        return [
            ("ServerReady", {}),
            ("ServerMetadata", {}),
            ("ModelReady", {"name": "add_one"}),
            ("ModelMetadata", {"name": "add_one"}),
            ("ModelConfig", {"name": "add_one"}),
            ("ModelStatistics", {"name": "add_one"}),
            ("ModelInfer", {"request": add_one_request()}),
            ("RepositoryIndex", {}),
            ("RepositoryModelLoad", {"model_name": "add_one"}),
            ("RepositoryModelUnload", {"model_name": "add_one"}),
            ("SystemSharedMemoryStatus", {}),
            ("SystemSharedMemoryRegister", {"name": "r0", "key": "/mggrpc_none", "byte_size": 16}),
            ("SystemSharedMemoryUnregister", {"name": ""}),
            ("CudaSharedMemoryStatus", {}),
            ("CudaSharedMemoryRegister", {"name": "c0", "raw_handle": b"\0" * 64,
                                          "byte_size": 64}),
            ("CudaSharedMemoryUnregister", {"name": "c0"}),
            ("TraceSetting", {}),
            ("LogSettings", {}),
        ]

    def test_every_rpc_but_liveness_needs_the_key(self):
        workers = self.server.workers()
        for method, fields in self.protected():
            for why, metadata in self.WRONG:
                with self.subTest(method=method, auth=why):
                    self.assertStatus(grpc.StatusCode.UNAUTHENTICATED, self.client.call, method,
                                      metadata=metadata, what="%s (%s)" % (method, why),
                                      timeout=LOAD_TIMEOUT, **fields)
        for why, metadata in self.WRONG:
            with self.subTest(method="ModelStreamInfer", auth=why):
                stream = self.client.stream(metadata=metadata)
                try:
                    stream.send(add_one_request(id="0"))
                    kind, value = stream.event()
                    self.assertEqual(kind, "error", "ModelStreamInfer (%s): %s %s"
                                     % (why, kind, value))
                    self.assertEqual(value.code(), grpc.StatusCode.UNAUTHENTICATED,
                                     "ModelStreamInfer (%s): %s" % (why, value.details()))
                finally:
                    stream.cancel()
        # Nothing was unloaded by the refused requests.
        self.assertIs(self.client.ModelReady(name="add_one").ready, True)
        self.assertIntact(workers, "after refused RPCs")

    def test_the_right_key_is_accepted(self):
        # Those that change nothing and succeed with the key.
        accepted = {"ServerReady", "ServerMetadata", "ModelReady", "ModelMetadata", "ModelConfig",
                    "ModelStatistics", "ModelInfer", "RepositoryIndex", "SystemSharedMemoryStatus",
                    "SystemSharedMemoryUnregister", "CudaSharedMemoryStatus", "LogSettings"}
        for method, fields in self.protected():
            if method in accepted:
                with self.subTest(method=method):
                    self.client.call(method, **fields)
        self.assertAddOne(self.client.ModelInfer(request=add_one_request(id="k")),
                          [1, 2, 3, 4], id="k")
        stream = self.client.stream()
        try:
            stream.send(add_one_request(id="0"))
            self.assertStreamOk(stream.recv(), [1, 2, 3, 4], "0", "with the key")
        finally:
            stream.cancel()

    def test_liveness_and_health_need_no_key(self):
        self.assertIs(self.client.ServerLive(metadata=[]).live, True)
        self.assertIs(self.client.ServerLive(metadata=self.WRONG[1][1]).live, True)
        SERVING = hpb.HealthCheckResponse.SERVING
        self.assertEqual(self.client.call("Health/Check", service="", metadata=[]).status,
                         SERVING)
        self.assertEqual(self.client.call("Health/Check", service=SERVICE, metadata=[]).status,
                         SERVING)
        watch = self.client.watch("", metadata=[])
        try:
            self.assertEqual(next(watch).status, SERVING)
        finally:
            watch.cancel()


# ---------------------------------------------------------------------------------------
# Message size limit

class GrpcMaxMessage(GrpcServerTest):
    SERVER_NAME = "grpc_maxmsg"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one",
                   "--grpc-max-message-bytes", "1MiB"]

    def test_request_over_the_limit_is_resource_exhausted(self):
        big = add_one_request(raw=bytes(2 * MIB), shape=[1, MIB // 2])
        self.assertStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, self.client.ModelInfer,
                          request=big, what="a 2 MiB request with a 1 MiB limit")
        self.assertAddOne(self.client.ModelInfer(request=add_one_request()), [1, 2, 3, 4],
                          what="a small request after the refusal")
        # Just under the limit (the message has a few dozen bytes besides the tensor).
        values = 256 * 1024 - 64
        near = add_one_request(raw=bytes(4 * values), shape=[1, values])
        response = self.client.ModelInfer(request=near)
        self.assertEqual(fp32s(response.raw_output_contents[0][:8]), [1, 1])


# ---------------------------------------------------------------------------------------
# Admission

class GrpcAdmission(GrpcServerTest):
    """A virtual 1000 MiB device holding add_one (planned at 512 MiB, see edge_test.Server)
    and a worker (154 MiB): a second model of 512 MiB does not fit."""

    SERVER_NAME = "grpc_admission"
    GPUS = "cpu:1x1000MiB"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one"]

    def test_a_load_that_does_not_fit_is_resource_exhausted(self):
        copy_model(CONFIG["fixtures"], self.server.repo, "big", edit=lambda text: text +
                   'parameters { key: "memory_bytes" value: { string_value: "536870912" } }\n')
        self.assertStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, self.client.RepositoryModelLoad,
                          model_name="big", timeout=LOAD_TIMEOUT, patterns=(r"needs 512 MiB",),
                          what="loading a model that does not fit")
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelReady, name="big",
                          what="the refused model")
        self.assertAddOne(self.client.ModelInfer(request=add_one_request()), [1, 2, 3, 4],
                          what="the loaded model after the refusal")


# ---------------------------------------------------------------------------------------
# Worker death and server shutdown with streams open

class GrpcLifecycle(GrpcServerTest):
    """A request is held "in flight" by SIGSTOPping the worker before sending it and
    waiting a second: the server has read it off the stream and handed it to the stopped
    worker. The heartbeat timeout is long so that the watchdog leaves the stopped worker
    alone."""

    SERVER_NAME = "grpc_lifecycle"
    EXIT_TIMEOUT_S = 20
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "add_one",
                   "--heartbeat-timeout-ms", "120000",
                   "--exit-timeout-secs", str(EXIT_TIMEOUT_S)]
    IN_FLIGHT_WAIT_S = 1.0

    def _only_worker(self):
        workers = self.server.workers()
        self.assertEqual(len(workers), 1, workers)
        return workers[0]

    def test_a_worker_killed_mid_stream(self):
        self.wait_model_ready(what="before the kill")
        stream = self.client.stream()
        try:
            stream.send(add_one_request([1, 2, 3, 4], id="0"))
            self.assertStreamOk(stream.recv(), [1, 2, 3, 4], "0", "before the kill")
            victim = self._only_worker()
            os.kill(victim, signal.SIGSTOP)
            try:
                stream.send(add_one_request([5, 6, 7, 8], id="1"))
                time.sleep(self.IN_FLIGHT_WAIT_S)
            finally:
                os.kill(victim, signal.SIGKILL)
            response = stream.recv(timeout=READY_TIMEOUT)
            if response.error_message:
                note("request in flight when its worker was killed: %r" % response.error_message)
                self.assertEqual(response.infer_response.id, "1", str(response))
            else:
                note("request in flight when its worker was killed: answered (retried)")
                self.assertStreamOk(response, [5, 6, 7, 8], "1", "in flight at the kill")
            deadline = time.monotonic() + READY_TIMEOUT
            while time.monotonic() < deadline and not [w for w in self.server.workers()
                                                       if w != victim]:
                time.sleep(0.05)
            self.wait_model_ready(what="after its worker was killed")
            stream.send(add_one_request([9, 10, 11, 12], id="2"))
            self.assertStreamOk(stream.recv(), [9, 10, 11, 12], "2",
                                "on the same stream after the restart")
        finally:
            stream.cancel()
        self.assertTrue(self.server.alive(), "the server died with its worker")

    def test_zz_sigterm_with_a_stream_open(self):
        # Runs last in its class: it stops the server.
        self.wait_model_ready(what="before the SIGTERM")
        stream = self.client.stream()
        try:
            stream.send(add_one_request([1, 2, 3, 4], id="0"))
            self.assertStreamOk(stream.recv(), [1, 2, 3, 4], "0", "before the SIGTERM")
            worker = self._only_worker()
            os.kill(worker, signal.SIGSTOP)
            try:
                stream.send(add_one_request([5, 6, 7, 8], id="1"))
                time.sleep(self.IN_FLIGHT_WAIT_S)
                self.server.proc.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                time.sleep(0.5)
            finally:
                os.kill(worker, signal.SIGCONT)
            response = stream.recv(timeout=self.EXIT_TIMEOUT_S + 10)
            self.assertStreamOk(response, [5, 6, 7, 8], "1", "in flight at the SIGTERM")
            # The server ends the stream itself: it is not half-closed here.
            kind, value = stream.event(timeout=10)
            ended = time.monotonic() - signalled
            if kind == "error":
                self.assertEqual(value.code(), grpc.StatusCode.UNAVAILABLE,
                                 "the stream's status after SIGTERM: %s" % value.details())
            else:
                self.assertEqual(kind, "end", "the stream after SIGTERM: %s %s" % (kind, value))
            note("stream ended %.1f s after SIGTERM (%s)" % (ended, kind if kind == "end" else
                 "%s: %s" % (value.code().name, value.details())))
        finally:
            stream.cancel()
        try:
            code = self.server.proc.wait(timeout=self.EXIT_TIMEOUT_S + 15)
        except subprocess.TimeoutExpired:
            self.server.kill()
            code = "still running %d s after SIGTERM" % (self.EXIT_TIMEOUT_S + 15)
        log = self.server.log_tail(100)
        self.server.proc = None  # it has exited; nothing left to stop
        self.assertEqual(code, 0, "server status after SIGTERM; log:\n" + log)


class ZzAcrossTheRun(edge_test.ZzAcrossTheRun):
    """Runs last: no 500 or INTERNAL/UNKNOWN status anywhere, no server died or exited
    badly."""


CLASSES = [GrpcMain, GrpcAuth, GrpcMaxMessage, GrpcAdmission, GrpcLifecycle, ZzAcrossTheRun]


# ---------------------------------------------------------------------------------------
# Runner (as edge_test.main, over this file's classes)

def binary_serves_grpc():
    """Whether the --binary (or default) modelgrid serves gRPC (its --grpc-port help does
    not say the build has none); None when it cannot be run."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--binary", default=os.environ.get("MODELGRID_BINARY")
                        or os.path.join(REPO_ROOT, "build", "modelgrid"))
    args, _ = parser.parse_known_args()
    try:
        run = subprocess.run([args.binary, "serve", "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return b"--grpc-port" in run.stdout and b"has no gRPC front end" not in run.stdout


def main():
    missing = GRPC_IMPORT_ERROR or generate_messages()
    serves = binary_serves_grpc()
    banner = "!" * 78
    if missing and serves:
        print("%s\nerror: the modelgrid binary serves gRPC but %s; install it (Debian: "
              "python3-grpcio python3-protobuf protobuf-compiler)\n%s" % (banner, missing, banner))
        print("0 passed, 1 failed")
        return 1
    if missing:
        print("%s\nSKIPPED the gRPC suite: %s, and the modelgrid binary %s\n%s" % (
            banner, missing, "serves no gRPC" if serves is False else "could not be run",
            banner))
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if serves is False:
        print("error: the modelgrid binary serves no gRPC (built without gRPC)")
        print("0 passed, 1 failed")
        return 1
    return edge_test.run_suite(CLASSES, __doc__.split("\n\n")[0], "mg_grpc_")


if __name__ == "__main__":
    sys.exit(main())
