#!/usr/bin/python3
"""Python backend suite: Triton Python-backend models (model.py) served by a real server.

Usage:
  /usr/bin/python3 tests/python/python_backend_test.py [--binary build/modelgrid]
                                                       [--fixtures .fixtures] [-k SUBSTRING]...

Defaults are relative to the repository root; MODELGRID_BINARY and MODELGRID_FIXTURES
override them, and the flags override both. Needs the fixture repository
(scripts/make-fixtures.sh writes FIXTURES/repo), and numpy and torch in the interpreter
running the suite (/usr/bin/python3, the one modelgrid-worker embeds): the torch model's
outputs are compared with the same module built here.

Reuses the network-edge suite's infrastructure (tests/edge/edge_test.py): its Server,
raw-socket HTTP client, 500 tracking and test runner. One server is started, with
--gpus cpu:1x4GiB, explicit model control and --load-model '*', on a temporary repository
holding the fixture add_one (TorchScript) and these backend "python" models, whose model.py
files the suite writes itself:

  py_addsub       numpy: SUM = A + B, DIFF = A - B (FP32 [4], no batching)
  py_torch        torch.manual_seed + nn.Linear(8, 4) + relu, FP32 [batch, 8], batch <= 8
  py_strings      BYTES in (TYPE_STRING): UPPER (BYTES) and LENGTH (INT32) per element
  py_batched      Y = 3 X + 1, the samples and requests execute saw, each request's id; a
                  negative sample fails its request alone; dynamic batching, 2 ms delay
  py_raises       execute raises ValueError on a negative input, answers TritonError
                  responses on 13 (INTERNAL) and 400 (INVALID_ARG), else Y = 2 X
  py_init_fails   initialize raises
  py_helpers_a/b  each imports its own helpers.py (OFFSET 100 / 200) at top level
  py_pid          returns os.getpid(): which worker process runs it
  py_isolated     as py_pid, with parameters { isolation: process }
  py_finalize     finalize writes a marker file named by a config parameter
  py_finalize_isolated  the same with parameters { isolation: process }
  py_autocomplete no config.pbtxt: auto_complete_config declares it; counts words
  py_bls          BLS calls (exec, async_exec) into add_one and py_addsub of its worker and
                  py_isolated of another (through the server), and the errors of calls
                  into itself, with bad inputs and into no model
  py_params       returns request.parameters() and requested_output_names(): custom request
                  parameters and the outputs asked for reach it
  py_metrics      a pb_utils.MetricFamily counter and gauge, read back from /metrics
  py_eight        eight inputs: a worker message has no room left for custom parameters

and the suite checks: exact values through JSON and the binary tensor extension (FP32
bit-exact, including 0.1, 1e-7, 3.4e38 and a subnormal, through JSON's printed numbers),
the torch module's outputs against the same module computed here, UTF-8 strings (non-ASCII
and empty), correct answers to 50 concurrent requests through the dynamic batcher (execute
receiving several requests at once, each with its client's id, a failed one failing alone), that a
request whose execute raises (or returns an error response) fails alone with the message
while the worker and its restart count stay as they were, that a model whose initialize
raises is not ready and says why while the others serve, that two models' helpers.py do not
collide, that isolation: process gives a worker of its own while Python and TorchScript
models share the other, that unload calls finalize (also for a model with a worker of its
own, which is stopped with it), that such a model loads again after an unload (each load
measures it afresh), model metadata and configuration (platform "python", backend
"python"), a model completed by auto_complete_config, and last that a kill -9 of the shared worker under traffic is recovered from
within 60 s, with every model back. A 500 is accepted only where execute failed on
purpose (as Triton answers it); anywhere else it fails the run.

Every socket operation has a timeout; nothing leaves 127.0.0.0/8. The last line printed is
"N passed, M failed" (", K skipped" when some were skipped); the exit status is non-zero
when anything failed.
"""
import json
import os
import re
import signal
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "edge"))
import edge_test  # noqa: E402
from edge_test import CONFIG, http, outputs_of  # noqa: E402

try:
    import numpy as np
except ImportError:  # reported by every test (run the suite with /usr/bin/python3)
    np = None
try:
    import torch
except ImportError:
    torch = None

MIB = edge_test.MIB
GPUS = "cpu:1x4GiB"
RECOVERY_SECONDS = 60.0

# ---------------------------------------------------------------------------------------
# The models (config.pbtxt, model.py and other files of version 1)

ADDSUB_CONFIG = """
name: "py_addsub"
backend: "python"
max_batch_size: 0
input [
  { name: "A" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "B" data_type: TYPE_FP32 dims: [ 4 ] }
]
output [
  { name: "SUM" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "DIFF" data_type: TYPE_FP32 dims: [ 4 ] }
]
instance_group [ { count: 1 kind: KIND_CPU } ]
"""

ADDSUB_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        pass

    def execute(self, requests):
        responses = []
        for request in requests:
            a = pb_utils.get_input_tensor_by_name(request, "A").as_numpy()
            b = pb_utils.get_input_tensor_by_name(request, "B").as_numpy()
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("SUM", (a + b).astype(np.float32)),
                pb_utils.Tensor("DIFF", (a - b).astype(np.float32))]))
        return responses
'''

TORCH_SEED = 1234
TORCH_CONFIG = """
name: "py_torch"
backend: "python"
max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 8 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""

TORCH_PY = '''
import numpy as np
import torch
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        torch.manual_seed(%d)
        self.net = torch.nn.Linear(8, 4)
        self.net.eval()

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            with torch.no_grad():
                y = torch.relu(self.net(torch.from_numpy(x.copy())))
            responses.append(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("OUTPUT0", y.numpy().astype(np.float32))]))
        return responses
''' % TORCH_SEED

STRINGS_CONFIG = """
name: "py_strings"
backend: "python"
max_batch_size: 0
input [ { name: "TEXT" data_type: TYPE_STRING dims: [ -1 ] } ]
output [
  { name: "UPPER" data_type: TYPE_STRING dims: [ -1 ] },
  { name: "LENGTH" data_type: TYPE_INT32 dims: [ -1 ] }
]
"""

STRINGS_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            texts = [t.decode("utf-8") for t in
                     pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().flatten()]
            upper = np.array([t.upper().encode("utf-8") for t in texts], dtype=np.object_)
            length = np.array([len(t) for t in texts], dtype=np.int32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("UPPER", upper), pb_utils.Tensor("LENGTH", length)]))
        return responses
'''

BATCHED_CONFIG = """
name: "py_batched"
backend: "python"
max_batch_size: 8
input [ { name: "X" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [
  { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] },
  { name: "SEEN" data_type: TYPE_INT32 dims: [ 1 ] },
  { name: "REQUESTS" data_type: TYPE_INT32 dims: [ 1 ] },
  { name: "ID" data_type: TYPE_STRING dims: [ 1 ] }
]
dynamic_batching { max_queue_delay_microseconds: 2000 }
"""

BATCHED_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        # SEEN: the samples of this whole execute call; REQUESTS: how many requests it got;
        # ID: each request's own id. A negative sample fails its request alone.
        xs = [pb_utils.get_input_tensor_by_name(r, "X").as_numpy() for r in requests]
        total = sum(x.shape[0] for x in xs)
        responses = []
        for r, x in zip(requests, xs):
            if (x < 0).any():
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                    "negative sample in request " + r.request_id(), pb_utils.TritonError.INVALID_ARG)))
                continue
            rows = x.shape[0]
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("Y", (x * np.float32(3) + np.float32(1)).astype(np.float32)),
                pb_utils.Tensor("SEEN", np.full((rows, 1), total, dtype=np.int32)),
                pb_utils.Tensor("REQUESTS", np.full((rows, 1), len(requests), dtype=np.int32)),
                pb_utils.Tensor("ID", np.array([[r.request_id().encode()]] * rows, dtype=np.object_))]))
        return responses
'''

RAISES_CONFIG = """
name: "py_raises"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_INT32 dims: [ -1 ] } ]
output [ { name: "Y" data_type: TYPE_INT32 dims: [ -1 ] } ]
"""

RAISES_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            if (x < 0).any():
                raise ValueError("negative input %d is refused" % int(x.min()))
            if (x == 13).any():
                responses.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("thirteen is unlucky")))
                continue
            if (x == 400).any():
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                    "400 is not a valid argument", pb_utils.TritonError.INVALID_ARG)))
                continue
            responses.append(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("Y", (x * 2).astype(np.int32))]))
        return responses
'''

INIT_FAILS_CONFIG = """
name: "py_init_fails"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 1 ] } ]
"""

INIT_FAILS_MESSAGE = "cannot find the weights of model 4711"
INIT_FAILS_PY = '''
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError("%s")

    def execute(self, requests):
        return [pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("Y", r.inputs()[0].as_numpy()) for r in requests])]
''' % INIT_FAILS_MESSAGE

HELPERS_CONFIG = """
name: "%s"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_INT64 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_INT64 dims: [ 1 ] } ]
"""

HELPERS_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils

import helpers


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("Y", (x + helpers.OFFSET).astype(np.int64))]))
        return responses
'''

HELPERS_HELPER = "OFFSET = %d\n"
HELPER_OFFSETS = {"py_helpers_a": 100, "py_helpers_b": 200}

PID_CONFIG = """
name: "%s"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_INT64 dims: [ 1 ] } ]
output [ { name: "PID" data_type: TYPE_INT64 dims: [ 1 ] } ]
"""

PID_PY = '''
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("PID", np.array([os.getpid()], dtype=np.int64))]) for _ in requests]
'''

ISOLATION_PARAMETER = 'parameters { key: "isolation" value: { string_value: "process" } }\n'

FINALIZE_CONFIG = """
name: "py_finalize"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_INT32 dims: [ 1 ] } ]
parameters { key: "marker" value: { string_value: "%s" } }
"""

FINALIZE_PY = '''
import json
import os

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.marker = config["parameters"]["marker"]["string_value"]
        self.name = args["model_name"]
        self.calls = 0

    def execute(self, requests):
        self.calls += len(requests)
        return [pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("Y", r.inputs()[0].as_numpy())]) for r in requests]

    def finalize(self):
        with open(self.marker, "w") as f:
            f.write("finalized %s after %d requests\\n" % (self.name, self.calls))
'''

BLS_CONFIG = """
name: "py_bls"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [
  { name: "TWICE" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "SUM" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "PIDS" data_type: TYPE_INT64 dims: [ 2 ] },
  { name: "PARAMETERS" data_type: TYPE_STRING dims: [ 1 ] },
  { name: "ERRORS" data_type: TYPE_STRING dims: [ 6 ] }
]
"""

BLS_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


def request(model, inputs, names=None, **kw):
    return pb_utils.InferenceRequest(model_name=model, requested_output_names=names or [],
                                     inputs=[pb_utils.Tensor(n, a) for n, a in inputs.items()],
                                     **kw)


class TritonPythonModel:
    async def execute(self, requests):
        responses = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            # add_one (TorchScript, this worker) twice: exec, then async_exec.
            first = request("add_one", {"INPUT__0": x.reshape(1, -1)}, ["OUTPUT__0"]).exec()
            if first.has_error():
                raise pb_utils.TritonModelException(first.error().message())
            once = pb_utils.get_output_tensor_by_name(first, "OUTPUT__0").as_numpy()
            second = await request("add_one", {"INPUT__0": once}).async_exec()
            twice = second.output_tensors()[0].as_numpy().reshape(-1)
            # A Python model of this worker, asked for one of its two outputs.
            summed = request("py_addsub", {"A": twice, "B": x}, ["SUM"]).exec()
            if summed.has_error() or [t.name() for t in summed.output_tensors()] != ["SUM"]:
                raise pb_utils.TritonModelException("py_addsub: %r" % summed.error())
            # Python models of this worker and of another (isolation: process), each
            # reporting its process: the second call goes through the server.
            zero = np.array([0], dtype=np.int64)
            pids = []
            for m in ("py_pid", "py_isolated"):
                got = request(m, {"X": zero}).exec()
                if got.has_error():
                    raise pb_utils.TritonModelException("%s: %s" % (m, got.error().message()))
                pids.append(int(got.output_tensors()[0].as_numpy()[0]))
            # Custom parameters reach a Python model.
            params = request("py_params", {"X": np.array([1], dtype=np.int32)}, ["PARAMETERS"],
                             parameters={"mode": "fast"}).exec()
            if params.has_error():
                raise pb_utils.TritonModelException(params.error().message())
            # Failures come back in the response: itself, bad inputs, no such model,
            # parameters for a TorchScript model, a timeout, an output the model lacks.
            x2 = {"INPUT__0": x.reshape(1, -1)}
            errors = [request("py_bls", {"X": x}).exec(),
                      request("py_isolated", {"X": x}).exec(),
                      request("no_such_model", {"X": x}).exec(),
                      request("add_one", x2, parameters={"mode": "fast"}).exec(),
                      request("add_one", x2, timeout=5).exec(),
                      request("add_one", x2, ["NOPE"]).exec()]
            errors = [e.error().message().encode() for e in errors]
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("TWICE", twice),
                pb_utils.get_output_tensor_by_name(summed, "SUM"),
                pb_utils.Tensor("PIDS", np.array(pids, dtype=np.int64)),
                pb_utils.get_output_tensor_by_name(params, "PARAMETERS"),
                pb_utils.Tensor("ERRORS", np.array(errors, dtype=np.object_))]))
        return responses
'''

# Models expected ready after the start, and the one expected to fail.
READY_MODELS = ["add_one", "py_addsub", "py_torch", "py_strings", "py_batched", "py_raises",
                "py_helpers_a", "py_helpers_b", "py_pid", "py_isolated", "py_finalize",
                "py_finalize_isolated", "py_autocomplete", "py_params", "py_metrics", "py_eight",
                "py_bls"]

PARAMS_CONFIG = """
name: "py_params"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [
  { name: "PARAMETERS" data_type: TYPE_STRING dims: [ 1 ] },
  { name: "REQUESTED" data_type: TYPE_STRING dims: [ 1 ] }
]
"""

PARAMS_PY = '''
import json
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        # PARAMETERS: the request's parameters() string, re-encoded with sorted keys;
        # REQUESTED: its requested_output_names(), as JSON.
        return [pb_utils.InferenceResponse([
                    pb_utils.Tensor("PARAMETERS", np.array(
                        [json.dumps(json.loads(r.parameters()), sort_keys=True).encode()],
                        dtype=np.object_)),
                    pb_utils.Tensor("REQUESTED", np.array(
                        [json.dumps(r.requested_output_names()).encode()], dtype=np.object_))])
                for r in requests]
'''

METRICS_CONFIG = """
name: "py_metrics"
backend: "python"
max_batch_size: 0
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_INT32 dims: [ 1 ] } ]
"""

METRICS_PY = '''
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.requests = pb_utils.MetricFamily(
            name="py_suite_requests_total", description="Requests py_metrics served",
            kind=pb_utils.MetricFamily.COUNTER).Metric(labels={"model": args["model_name"]})
        self.last = pb_utils.MetricFamily(
            name="py_suite_last_x", description="The last X it saw",
            kind=pb_utils.MetricFamily.GAUGE).Metric(labels={"model": args["model_name"]})

    def execute(self, requests):
        responses = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            self.requests.increment(1)
            self.last.set(float(x[0]))
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x)]))
        return responses
'''

EIGHT_CONFIG = ("""
name: "py_eight"
backend: "python"
max_batch_size: 0
input [ %s ]
output [ { name: "SUM" data_type: TYPE_INT32 dims: [ 1 ] } ]
""" % ", ".join('{ name: "I%d" data_type: TYPE_INT32 dims: [ 1 ] }' % i for i in range(8)))

EIGHT_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor("SUM", sum(
                    pb_utils.get_input_tensor_by_name(r, "I%d" % i).as_numpy() for i in range(8)))])
                for r in requests]
'''

AUTOCOMPLETE_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        auto_complete_model_config.add_input({"name": "WORDS", "data_type": "TYPE_STRING",
                                              "dims": [-1]})
        auto_complete_model_config.add_output({"name": "COUNT", "data_type": "TYPE_INT64",
                                               "dims": [1]})
        auto_complete_model_config.set_max_batch_size(4)
        auto_complete_model_config.set_dynamic_batching()
        return auto_complete_model_config

    def execute(self, requests):
        responses = []
        for r in requests:
            words = pb_utils.get_input_tensor_by_name(r, "WORDS").as_numpy()
            counts = np.array([[len(row)] for row in words], dtype=np.int64)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("COUNT", counts)]))
        return responses
'''
FAILING_MODEL = "py_init_fails"


def write_python_model(repo, name, config, model_py, extra_files=None):
    """REPO/name/config.pbtxt and REPO/name/1/model.py (and `extra_files` beside it)."""
    version = os.path.join(repo, name, "1")
    os.makedirs(version)
    with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
        f.write(config.lstrip())
    with open(os.path.join(version, "model.py"), "w") as f:
        f.write(model_py.lstrip())
    for file_name, text in (extra_files or {}).items():
        with open(os.path.join(version, file_name), "w") as f:
            f.write(text)


def f32_bits(values):
    """The float32 bit patterns of `values` (Python floats rounded to float32)."""
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def jbody(doc):
    return json.dumps(doc).encode()


def forget_internal_errors(count):
    """Drops the last `count` 500s from edge_test's record: ones a test asked for."""
    del edge_test.INTERNAL_ERRORS[len(edge_test.INTERNAL_ERRORS) - count:]


# ---------------------------------------------------------------------------------------
# The server and its tests

class PythonBackend(edge_test.ServerTest):
    SERVER_NAME = "python"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "*"]

    @classmethod
    def setUpClass(cls):
        # As ServerTest.setUpClass, with the Python models in the repository before the start.
        cls.server, cls.start_error, cls.skip_reason = None, None, None
        fixtures = CONFIG["fixtures"]
        if np is None or torch is None:
            cls.skip_reason = ("numpy and torch are needed in the suite's interpreter "
                               "(run it with /usr/bin/python3)")
            return
        if not os.path.isdir(os.path.join(fixtures, "repo", "add_one")):
            cls.skip_reason = ("fixture repository %s/repo/add_one is missing "
                               "(run scripts/make-fixtures.sh)" % fixtures)
            return
        try:
            cls.server = edge_test.Server(cls.SERVER_NAME, list(cls.SERVER_ARGS))
            cls.server.gpus = GPUS
            repo = cls.server.repo
            # finalize writes here; workers may run as another user.
            cls.marker_dir = os.path.join(cls.server.dir, "markers")
            os.makedirs(cls.marker_dir)
            os.chmod(cls.marker_dir, 0o777)
            for d in (CONFIG["tmp"], cls.server.dir):
                os.chmod(d, 0o755)
            cls.marker = os.path.join(cls.marker_dir, "py_finalize.finalized")
            write_python_model(repo, "py_addsub", ADDSUB_CONFIG, ADDSUB_PY)
            write_python_model(repo, "py_torch", TORCH_CONFIG, TORCH_PY)
            write_python_model(repo, "py_strings", STRINGS_CONFIG, STRINGS_PY)
            write_python_model(repo, "py_batched", BATCHED_CONFIG, BATCHED_PY)
            write_python_model(repo, "py_raises", RAISES_CONFIG, RAISES_PY)
            write_python_model(repo, "py_init_fails", INIT_FAILS_CONFIG, INIT_FAILS_PY)
            for name, offset in HELPER_OFFSETS.items():
                write_python_model(repo, name, HELPERS_CONFIG % name, HELPERS_PY,
                                   {"helpers.py": HELPERS_HELPER % offset})
            write_python_model(repo, "py_pid", PID_CONFIG % "py_pid", PID_PY)
            write_python_model(repo, "py_isolated", PID_CONFIG % "py_isolated" +
                               ISOLATION_PARAMETER, PID_PY)
            write_python_model(repo, "py_finalize", FINALIZE_CONFIG % cls.marker, FINALIZE_PY)
            cls.isolated_marker = os.path.join(cls.marker_dir, "py_finalize_isolated.finalized")
            write_python_model(repo, "py_finalize_isolated",
                               (FINALIZE_CONFIG % cls.isolated_marker).replace(
                                   '"py_finalize"', '"py_finalize_isolated"') + ISOLATION_PARAMETER,
                               FINALIZE_PY)
            write_python_model(repo, "py_params", PARAMS_CONFIG, PARAMS_PY)
            write_python_model(repo, "py_metrics", METRICS_CONFIG, METRICS_PY)
            write_python_model(repo, "py_eight", EIGHT_CONFIG, EIGHT_PY)
            write_python_model(repo, "py_bls", BLS_CONFIG, BLS_PY)
            # No config.pbtxt: auto_complete_config declares the model.
            os.makedirs(os.path.join(repo, "py_autocomplete", "1"))
            with open(os.path.join(repo, "py_autocomplete", "1", "model.py"), "w") as f:
                f.write(AUTOCOMPLETE_PY.lstrip())
            cls.server.start()
            serving = time.monotonic()
            cls.server.wait_ready(READY_MODELS)
            cls.ready_seconds = time.monotonic() - serving
            print("\n[python] server on port %d (serving in %.1f s, models ready after "
                  "%.1f s more): %s --gpus %s"
                  % (cls.server.port, cls.server.startup_seconds, cls.ready_seconds,
                     " ".join(cls.SERVER_ARGS), GPUS), flush=True)
        except Exception as e:  # reported by every test of the class
            cls.start_error = "%s did not start: %s" % (cls.SERVER_NAME, e)

    # -- helpers ---------------------------------------------------------------------

    def infer(self, model, doc, headers=(), **kw):
        body = doc if isinstance(doc, bytes) else jbody(doc)
        return http(self.port, "POST", "/v2/models/%s/infer" % model, body, headers=headers, **kw)

    def infer_ok(self, model, doc, what=""):
        """name -> data of a 200 answer from `model`."""
        r = self.infer(model, doc)
        body = self.assertJson(r, 200, what or model)
        self.assertEqual(body.get("model_name"), model, repr(r))
        return {name: data for name, (_, data) in outputs_of(r).items()}

    def one_input(self, name, datatype, shape, data):
        return {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}

    def pid_of(self, model):
        out = self.infer_ok(model, self.one_input("X", "INT64", [1], [0]))
        self.assertEqual(len(out["PID"]), 1, out)
        return out["PID"][0]

    def status(self):
        return self.assertJson(self.get("/v2/modelgrid/status"), 200, "GET /v2/modelgrid/status")

    def worker_of(self, status, model):
        """The status entry of the worker holding `model`."""
        entries = [m for m in status["models"] if m.get("name") == model]
        self.assertEqual(len(entries), 1, "status entries of %s: %r" % (model, entries))
        name = entries[0].get("worker")
        self.assertTrue(name, "%s has no worker: %r" % (model, entries[0]))
        workers = [w for w in status["workers"] if w.get("name") == name]
        self.assertEqual(len(workers), 1, "worker %r of %s in %r" % (name, model, status["workers"]))
        return workers[0]

    def index(self):
        doc = self.assertJson(self.post("/v2/repository/index", {}), 200, "repository index")
        self.assertIsInstance(doc, list, doc)
        return {e.get("name"): e for e in doc}

    # =================================================================================
    # 1. numpy model: exact values through JSON and binary tensors

    A = [0.1, 1e-7, 3.4e38, 1e-40]        # 1e-40 is a float32 subnormal
    B = [0.2, 3.3e-8, 1e30, -2.5]

    def expected_addsub(self):
        a = np.array(self.A, dtype=np.float32)
        b = np.array(self.B, dtype=np.float32)
        return (a + b).tolist(), (a - b).tolist()

    def test_01_numpy_json_bit_exact(self):
        want_sum, want_diff = self.expected_addsub()
        self.assertTrue(all(np.isfinite(want_sum + want_diff)), "inputs chosen to stay finite")
        out = self.infer_ok("py_addsub", {"inputs": [
            {"name": "A", "datatype": "FP32", "shape": [4], "data": self.A},
            {"name": "B", "datatype": "FP32", "shape": [4], "data": self.B}]})
        self.assertEqual(sorted(out), ["DIFF", "SUM"], out)
        for name, want in (("SUM", want_sum), ("DIFF", want_diff)):
            got = out[name]
            self.assertEqual(len(got), 4, out)
            self.assertTrue(all(isinstance(v, (int, float)) for v in got), out)
            self.assertEqual(f32_bits(got), f32_bits(want),
                             "%s via JSON: %r, numpy float32 gives %r" % (name, got, want))

    def test_01_numpy_json_output_object(self):
        r = self.infer("py_addsub", {"inputs": [
            {"name": "A", "datatype": "FP32", "shape": [4], "data": [1, 2, 3, 4]},
            {"name": "B", "datatype": "FP32", "shape": [4], "data": [4, 3, 2, 1]}],
            "outputs": [{"name": "DIFF"}]})
        doc = self.assertJson(r, 200, "DIFF only")
        self.assertEqual(doc.get("model_version"), "1", doc)
        self.assertEqual(len(doc["outputs"]), 1, doc)
        o = doc["outputs"][0]
        self.assertEqual((o.get("name"), o.get("datatype"), o.get("shape"), o.get("data")),
                         ("DIFF", "FP32", [4], [-3, -1, 1, 3]), o)

    def test_01_numpy_binary_bit_exact(self):
        want_sum, want_diff = self.expected_addsub()
        raw_a = struct.pack("<4f", *self.A)
        raw_b = struct.pack("<4f", *self.B)
        header = jbody({
            "inputs": [
                {"name": "A", "datatype": "FP32", "shape": [4],
                 "parameters": {"binary_data_size": len(raw_a)}},
                {"name": "B", "datatype": "FP32", "shape": [4],
                 "parameters": {"binary_data_size": len(raw_b)}}],
            "outputs": [{"name": "SUM", "parameters": {"binary_data": True}},
                        {"name": "DIFF", "parameters": {"binary_data": True}}]})
        r = self.infer("py_addsub", header + raw_a + raw_b,
                       headers=edge_test.binary_headers(len(header)))
        self.assertEqual(r.status, 200, repr(r))
        self.assertIsNotNone(r.header("inference-header-content-length"), repr(r))
        out = outputs_of(r)
        for name, want in (("SUM", want_sum), ("DIFF", want_diff)):
            o, blob = out[name]
            self.assertEqual((o.get("datatype"), o.get("shape")), ("FP32", [4]), o)
            self.assertEqual(o["parameters"].get("binary_data_size"), 16, o)
            self.assertEqual(blob, struct.pack("<4f", *want),
                             "%s via binary: %r, numpy float32 gives %r"
                             % (name, struct.unpack("<4f", blob), want))

    def test_01_numpy_wrong_inputs_are_400(self):
        # Validation against config.pbtxt happens before model code runs.
        cases = [
            ("missing B", {"inputs": [{"name": "A", "datatype": "FP32", "shape": [4],
                                        "data": [1, 2, 3, 4]}]}),
            ("wrong shape", {"inputs": [
                {"name": "A", "datatype": "FP32", "shape": [3], "data": [1, 2, 3]},
                {"name": "B", "datatype": "FP32", "shape": [3], "data": [1, 2, 3]}]}),
            ("wrong datatype", {"inputs": [
                {"name": "A", "datatype": "INT32", "shape": [4], "data": [1, 2, 3, 4]},
                {"name": "B", "datatype": "INT32", "shape": [4], "data": [1, 2, 3, 4]}]}),
        ]
        for what, doc in cases:
            with self.subTest(what):
                self.assertError(self.infer("py_addsub", doc), 400, what=what)

    # =================================================================================
    # 2. torch nn.Module

    def test_02_torch_module_matches_local_torch(self):
        torch.manual_seed(TORCH_SEED)
        net = torch.nn.Linear(8, 4)
        net.eval()
        rng = np.random.RandomState(7)
        for batch in (1, 3, 8):
            with self.subTest(batch=batch):
                x = rng.uniform(-2, 2, size=(batch, 8)).astype(np.float32)
                with torch.no_grad():
                    want = torch.relu(net(torch.from_numpy(x))).numpy()
                out = self.infer_ok("py_torch", self.one_input(
                    "INPUT0", "FP32", [batch, 8], x.flatten().tolist()))
                got = np.array(out["OUTPUT0"], dtype=np.float32).reshape(batch, 4)
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
                if batch == 8:
                    # Some outputs are cut to zero by relu, some are not: the seed mattered.
                    self.assertTrue((want == 0).any() and (want > 0).any(), want)
                    self.assertTrue(np.array_equal(got, want),
                                    "not bit-exact: max |diff| %g" % np.abs(got - want).max())

    def test_02_torch_batch_over_max_is_400(self):
        self.assertError(self.infer("py_torch", self.one_input(
            "INPUT0", "FP32", [9, 8], [0.5] * 72)), 400, what="batch 9 of max 8")

    # =================================================================================
    # 3. BYTES

    TEXTS = ["hello", "Straße", "", "héllo wörld ✓", "😀 ok", "MiXeD 123"]

    def test_03_bytes_json(self):
        out = self.infer_ok("py_strings", self.one_input("TEXT", "BYTES", [len(self.TEXTS)],
                                                         self.TEXTS))
        self.assertEqual(out["UPPER"], [t.upper() for t in self.TEXTS])
        self.assertEqual(out["UPPER"][1], "STRASSE")
        self.assertEqual(out["UPPER"][2], "")
        self.assertEqual(out["LENGTH"], [len(t) for t in self.TEXTS])

    def test_03_bytes_json_output_datatypes(self):
        r = self.infer("py_strings", self.one_input("TEXT", "BYTES", [2], ["a", ""]))
        doc = self.assertJson(r, 200)
        got = {o["name"]: (o.get("datatype"), o.get("shape")) for o in doc["outputs"]}
        self.assertEqual(got, {"UPPER": ("BYTES", [2]), "LENGTH": ("INT32", [2])})

    def test_03_bytes_binary(self):
        encoded = [t.encode("utf-8") for t in self.TEXTS]
        raw = b"".join(struct.pack("<I", len(e)) + e for e in encoded)
        header = jbody({
            "inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [len(encoded)],
                        "parameters": {"binary_data_size": len(raw)}}],
            "outputs": [{"name": "UPPER", "parameters": {"binary_data": True}},
                        {"name": "LENGTH", "parameters": {"binary_data": True}}]})
        r = self.infer("py_strings", header + raw, headers=edge_test.binary_headers(len(header)))
        self.assertEqual(r.status, 200, repr(r))
        out = outputs_of(r)
        blob = out["UPPER"][1]
        got, pos = [], 0
        while pos < len(blob):
            n = struct.unpack("<I", blob[pos:pos + 4])[0]
            got.append(blob[pos + 4:pos + 4 + n])
            pos += 4 + n
        self.assertEqual(got, [t.upper().encode("utf-8") for t in self.TEXTS])
        self.assertEqual(list(struct.unpack("<%di" % len(self.TEXTS), out["LENGTH"][1])),
                         [len(t) for t in self.TEXTS])

    # =================================================================================
    # 4. Dynamic batching under concurrent clients

    def test_04_batched_concurrent_clients_get_their_own_answers(self):
        clients, per_client = 10, 5
        results, errors = {}, []
        lock = threading.Lock()
        barrier = threading.Barrier(clients)

        def client(c):
            try:
                barrier.wait(timeout=30)
                for k in range(per_client):
                    batch = 2 if (c + k) % 3 == 0 else 1
                    values = [float(c * 1000 + k * 10 + j) for j in range(2 * batch)]
                    if (c + k) % 7 == 3:  # fails alone, whatever it is batched with
                        values[-1] = -1.0
                    doc = self.one_input("X", "FP32", [batch, 2], values)
                    doc["id"] = "client-%d-request-%d" % (c, k)
                    r = self.infer("py_batched", doc)
                    with lock:
                        results[(c, k)] = (values, r)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append("client %d: %r" % (c, e))

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), clients * per_client)
        seen, together = [], []
        for (c, k), (values, r) in sorted(results.items()):
            if values[-1] < 0:
                self.assertError(r, 400, r"negative sample in request client-%d-request-%d$" % (c, k),
                                 what="a failed request of a batch")
                continue
            self.assertEqual(r.status, 200, "client %d request %d: %r" % (c, k, r))
            out = outputs_of(r)
            self.assertEqual(out["ID"][1], ["client-%d-request-%d" % (c, k)] * (len(values) // 2))
            together.append(out["REQUESTS"][1][0])
            batch = len(values) // 2
            want = (np.array(values, dtype=np.float32) * np.float32(3) + np.float32(1)).tolist()
            self.assertEqual(out["Y"][0].get("shape"), [batch, 2], out["Y"][0])
            self.assertEqual(out["Y"][1], want, "client %d request %d got another's answer" % (c, k))
            self.assertEqual(out["SEEN"][0].get("shape"), [batch, 1], out["SEEN"][0])
            self.assertEqual(len(set(out["SEEN"][1])), 1, out["SEEN"])
            seen.append(out["SEEN"][1][0])
            self.assertGreaterEqual(seen[-1], batch)
            self.assertLessEqual(seen[-1], 8)
        edge_test.note("py_batched: 50 concurrent requests, samples per execute call: %s"
                       % sorted(set(seen)))
        self.assertGreater(max(seen), 2, "the dynamic batcher never merged requests")
        edge_test.note("py_batched: requests per execute call: %s" % sorted(set(together)))
        self.assertGreater(max(together), 1, "execute never received several requests at once")

    # =================================================================================
    # 5. execute raising, and error responses

    def test_05_execute_raising_fails_that_request_only(self):
        before = self.status()
        shared = self.worker_of(before, "py_raises")
        workers = self.server.workers()
        out = self.infer_ok("py_raises", self.one_input("X", "INT32", [3], [1, 2, 3]))
        self.assertEqual(out["Y"], [2, 4, 6])

        r = self.infer("py_raises", self.one_input("X", "INT32", [3], [4, -5, 6]))
        self.assertTrue(400 <= r.status < 600, repr(r))
        message = self.assertError(r, r.status, r"ValueError", r"negative input -5 is refused",
                                   what="execute raising ValueError")
        if r.status == 500:
            forget_internal_errors(1)  # Triton answers a model's exception with 500 too
        edge_test.note("execute raising: HTTP %d %s" % (r.status, message))

        out = self.infer_ok("py_raises", self.one_input("X", "INT32", [2], [7, 8]),
                            "the request after the failed one")
        self.assertEqual(out["Y"], [14, 16])
        after = self.status()
        self.assertEqual(self.worker_of(after, "py_raises")["pid"], shared["pid"])
        self.assertEqual(self.worker_of(after, "py_raises")["restarts"], shared["restarts"])
        self.assertEqual(self.server.workers(), workers, "the worker processes changed")
        self.assertEqual(self.pid_of("py_pid"), shared["pid"])
        self.assertServes("after execute raised")

    def test_05_error_response_fails_that_request(self):
        before = self.status()
        shared = self.worker_of(before, "py_raises")
        r = self.infer("py_raises", self.one_input("X", "INT32", [2], [1, 13]))
        self.assertTrue(400 <= r.status < 600, repr(r))
        self.assertError(r, r.status, r"thirteen is unlucky", what="TritonError response")
        if r.status == 500:
            forget_internal_errors(1)
        r = self.infer("py_raises", self.one_input("X", "INT32", [1], [400]))
        self.assertError(r, 400, r"400 is not a valid argument",
                         what="TritonError(INVALID_ARG) response")
        out = self.infer_ok("py_raises", self.one_input("X", "INT32", [1], [21]))
        self.assertEqual(out["Y"], [42])
        after = self.worker_of(self.status(), "py_raises")
        self.assertEqual((after["pid"], after["restarts"]), (shared["pid"], shared["restarts"]))

    # =================================================================================
    # 6. initialize raising

    def test_06_initialize_raising_model_is_not_ready(self):
        r = self.get("/v2/models/%s/ready" % FAILING_MODEL)
        self.assertNotEqual(r.status, 200, repr(r))
        self.assertIn(r.status, (400, 404, 503), repr(r))
        entry = self.index().get(FAILING_MODEL)
        self.assertIsNotNone(entry, "the index does not list %s" % FAILING_MODEL)
        self.assertNotEqual(entry.get("state"), "READY", entry)
        reason = entry.get("reason") or ""
        self.assertIn(INIT_FAILS_MESSAGE, reason, entry)
        self.assertIn("RuntimeError", reason, entry)
        r = self.infer(FAILING_MODEL, self.one_input("X", "FP32", [1], [1.0]))
        self.assertNotEqual(r.status, 200, repr(r))
        self.assertIn(r.status, (400, 404, 503), repr(r))
        # The others serve.
        index = self.index()
        for m in READY_MODELS:
            self.assertEqual(index.get(m, {}).get("state"), "READY", index.get(m))
        self.assertEqual(self.infer_ok("py_raises", self.one_input("X", "INT32", [1], [5]))["Y"],
                         [10])
        self.assertServes("beside a model whose initialize raised")

    def test_06_initialize_raising_load_answers_the_reason(self):
        r = self.post("/v2/repository/models/%s/load" % FAILING_MODEL, {}, timeout=120)
        self.assertTrue(400 <= r.status < 600, repr(r))
        self.assertNotEqual(r.status, 500, repr(r))
        self.assertError(r, r.status, re.escape(INIT_FAILS_MESSAGE), what="explicit load")
        self.assertNotEqual(self.get("/v2/models/%s/ready" % FAILING_MODEL).status, 200)
        self.assertServes("after a failed load")

    # =================================================================================
    # 7. helpers.py of the same name in two models of one worker

    def test_07_colliding_helper_modules(self):
        s = self.status()
        self.assertEqual(self.worker_of(s, "py_helpers_a")["name"],
                         self.worker_of(s, "py_helpers_b")["name"],
                         "the two helper models should share a worker for this test to mean much")
        for name, offset in sorted(HELPER_OFFSETS.items()):
            with self.subTest(model=name):
                out = self.infer_ok(name, self.one_input("X", "INT64", [1], [5]))
                self.assertEqual(out["Y"], [5 + offset], "%s used another model's helpers" % name)

    # =================================================================================
    # 8 and 11. Placement: isolation: process, and a worker shared with TorchScript

    def test_08_isolation_process_gets_its_own_worker(self):
        s = self.status()
        own = self.worker_of(s, "py_isolated")
        shared = self.worker_of(s, "add_one")
        self.assertIs(own.get("isolated"), True, own)
        self.assertEqual(own.get("models"), ["py_isolated"], own)
        self.assertNotEqual(own["pid"], shared["pid"])
        self.assertEqual(self.pid_of("py_isolated"), own["pid"])
        self.assertNotEqual(self.pid_of("py_isolated"), self.pid_of("py_pid"))
        self.assertIn(own["pid"], self.server.workers())
        placement = self.server.startup_text.decode(errors="replace")
        lines = [line for line in placement.splitlines() if "py_isolated" in line]
        self.assertEqual(len(lines), 1, placement)
        self.assertIn("own process", lines[0], placement)

    def test_11_python_and_torchscript_share_a_worker(self):
        s = self.status()
        shared = self.worker_of(s, "add_one")
        self.assertIs(shared.get("isolated"), False, shared)
        for m in ("py_pid", "py_addsub", "py_torch", "py_strings", "py_batched", "py_raises",
                  "py_helpers_a", "py_helpers_b", "py_finalize"):
            self.assertEqual(self.worker_of(s, m)["name"], shared["name"], m)
            self.assertIn(m, shared.get("models", []), shared)
        self.assertEqual(self.pid_of("py_pid"), shared["pid"],
                         "py_pid runs in another process than add_one's worker")
        self.assertEqual(sorted(self.server.workers()),
                         sorted(w["pid"] for w in s["workers"]), s["workers"])
        self.assertServes("beside the Python models")

    # =================================================================================
    # 9. unload calls finalize

    def test_09a_unload_calls_finalize(self):
        self.assertFalse(os.path.exists(self.marker), "finalize ran before the unload")
        out = self.infer_ok("py_finalize", self.one_input("X", "INT32", [1], [9]))
        self.assertEqual(out["Y"], [9])
        shared_pid = self.pid_of("py_pid")
        r = self.post("/v2/repository/models/py_finalize/unload", {}, timeout=60)
        self.assertEqual(r.status, 200, repr(r))
        deadline = time.monotonic() + 30
        while not os.path.exists(self.marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(self.marker), "finalize wrote no marker after the unload; "
                        "log:\n" + self.server.log_tail())
        with open(self.marker) as f:
            self.assertEqual(f.read(), "finalized py_finalize after 1 requests\n")
        self.assertNotEqual(self.get("/v2/models/py_finalize/ready").status, 200)
        # The shared worker stayed, and the model loads again.
        self.assertEqual(self.pid_of("py_pid"), shared_pid)
        os.unlink(self.marker)
        r = self.post("/v2/repository/models/py_finalize/load", {}, timeout=120)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.infer_ok("py_finalize", self.one_input("X", "INT32", [1], [3]))["Y"],
                         [3])
        self.assertFalse(os.path.exists(self.marker), "finalize ran on a load")

    def test_09b_unload_of_an_isolated_model_calls_finalize(self):
        # The model's worker is stopped with it: finalize must still run first.
        marker = self.isolated_marker
        self.assertFalse(os.path.exists(marker), "finalize ran before the unload")
        out = self.infer_ok("py_finalize_isolated", self.one_input("X", "INT32", [1], [4]))
        self.assertEqual(out["Y"], [4])
        worker = self.worker_of(self.status(), "py_finalize_isolated")
        self.assertIs(worker.get("isolated"), True, worker)
        r = self.post("/v2/repository/models/py_finalize_isolated/unload", {}, timeout=60)
        self.assertEqual(r.status, 200, repr(r))
        deadline = time.monotonic() + 5
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(marker),
                        "finalize wrote no marker when an isolated model was unloaded "
                        "(answer: %s)" % r.body.decode(errors="replace"))
        with open(marker) as f:
            self.assertEqual(f.read(), "finalized py_finalize_isolated after 1 requests\n")

    def test_09c_isolated_model_loads_again_after_unload(self):
        # Each load measures the model again: a measurement a few pages above the last one
        # must not refuse the model.
        answers = []
        if self.get("/v2/models/py_finalize_isolated/ready").status != 200:
            r = self.post("/v2/repository/models/py_finalize_isolated/load", {}, timeout=120)
            answers.append(("load", r.status, r.body[:300]))
        for cycle in range(3):
            r = self.post("/v2/repository/models/py_finalize_isolated/unload", {}, timeout=60)
            answers.append(("unload", r.status, r.body[:300]))
            r = self.post("/v2/repository/models/py_finalize_isolated/load", {}, timeout=120)
            answers.append(("load", r.status, r.body[:300]))
            if r.status == 200:
                out = self.infer_ok("py_finalize_isolated",
                                    self.one_input("X", "INT32", [1], [cycle]))
                self.assertEqual(out["Y"], [cycle])
        if self.get("/v2/models/py_finalize_isolated/ready").status != 200:
            self.post("/v2/repository/models/py_finalize_isolated/load", {}, timeout=120)
        self.assertEqual([a for a in answers if a[1] != 200], [],
                         "unload/load cycles of an isolated model:\n%s"
                         % "\n".join(map(repr, answers)))

    # =================================================================================
    # 12. Metadata and configuration

    def test_12_metadata_platform_python(self):
        doc = self.assertJson(self.get("/v2/models/py_addsub"), 200, "metadata")
        self.assertEqual(doc.get("name"), "py_addsub")
        self.assertEqual(doc.get("platform"), "python", doc)
        self.assertEqual(doc.get("versions"), ["1"], doc)
        self.assertEqual([(i["name"], i["datatype"], i["shape"]) for i in doc["inputs"]],
                         [("A", "FP32", [4]), ("B", "FP32", [4])], doc)
        self.assertEqual([(o["name"], o["datatype"], o["shape"]) for o in doc["outputs"]],
                         [("SUM", "FP32", [4]), ("DIFF", "FP32", [4])], doc)
        doc = self.assertJson(self.get("/v2/models/py_strings"), 200)
        self.assertEqual(doc.get("platform"), "python", doc)
        self.assertEqual(doc["inputs"][0]["datatype"], "BYTES", doc)
        doc = self.assertJson(self.get("/v2/models/py_torch"), 200)
        self.assertEqual(doc["inputs"][0]["shape"], [-1, 8], doc)
        doc = self.assertJson(self.get("/v2/models/add_one"), 200)
        self.assertEqual(doc.get("platform"), "pytorch_libtorch", doc)

    def test_13_auto_complete_config_declares_a_model_without_config(self):
        c = self.assertJson(self.get("/v2/models/py_autocomplete/config"), 200, "config")
        self.assertEqual(c.get("backend"), "python", c)
        self.assertEqual(c.get("max_batch_size"), 4, c)
        self.assertIn("dynamic_batching", c)
        self.assertEqual([(i["name"], i["data_type"], i["dims"]) for i in c["input"]],
                         [("WORDS", "TYPE_STRING", [-1])], c)
        self.assertEqual([(o["name"], o["data_type"], o["dims"]) for o in c["output"]],
                         [("COUNT", "TYPE_INT64", [1])], c)
        out = self.infer_ok("py_autocomplete", self.one_input("WORDS", "BYTES", [2, 3],
                                                              ["a", "b", "c", "d", "e", "f"]))
        self.assertEqual(out["COUNT"], [3, 3])

    def test_14_custom_request_parameters_reach_the_model(self):
        doc = self.one_input("X", "INT32", [1], [1])
        out = self.infer_ok("py_params", doc)
        self.assertEqual(out["PARAMETERS"], ["{}"])
        doc["parameters"] = {"temperature": 0.5, "mode": "fast", "top_k": 3, "greedy": True,
                             "binary_data_output": False}
        out = self.infer_ok("py_params", doc)
        self.assertEqual(json.loads(out["PARAMETERS"][0]),
                         {"temperature": 0.5, "mode": "fast", "top_k": 3, "greedy": True})
        # Triton's core parameters are refused by name, for every model ...
        doc["parameters"] = {"sequence_id": 7}
        self.assertError(self.infer("py_params", doc), 400, "sequence_id")
        # ... and custom ones for a model that takes none (TorchScript).
        add = edge_test.infer_json([1, 2, 3, 4])
        add = json.loads(add)
        add["parameters"] = {"temperature": 0.5}
        self.assertError(self.infer("add_one", add), 400, "temperature", "Python models")
        doc["parameters"] = {"nested": {"a": 1}}
        self.assertError(self.infer("py_params", doc), 400, "nested")

    def test_14_requested_output_names_reach_the_model(self):
        doc = self.one_input("X", "INT32", [1], [1])
        self.assertEqual(self.infer_ok("py_params", doc)["REQUESTED"], ["[]"])
        doc["outputs"] = [{"name": "REQUESTED"}]
        out = self.infer_ok("py_params", doc)
        self.assertEqual(out, {"REQUESTED": ['["REQUESTED"]']})
        doc["outputs"] = [{"name": "REQUESTED"}, {"name": "PARAMETERS"}]
        out = self.infer_ok("py_params", doc)
        self.assertEqual(json.loads(out["REQUESTED"][0]), ["REQUESTED", "PARAMETERS"])
        self.assertEqual(out["PARAMETERS"], ["{}"])

    def test_16_bls_calls_models_of_its_own_and_other_workers(self):
        x = [1.0, 2.5, -3.0, 0.25]
        shared_worker = self.pid_of("py_pid")  # py_bls's worker too
        isolated_worker = self.pid_of("py_isolated")
        self.assertNotEqual(shared_worker, isolated_worker)
        out = self.infer_ok("py_bls", self.one_input("X", "FP32", [4], x))
        self.assertEqual(out["TWICE"], [v + 2 for v in x])  # add_one twice, by BLS
        self.assertEqual(out["SUM"], [2 * v + 2 for v in x])  # py_addsub(TWICE, X)
        self.assertEqual(out["PIDS"], [shared_worker, isolated_worker])
        self.assertEqual(out["PARAMETERS"], ['{"mode": "fast"}'])
        itself, bad_input, unknown, torch_params, timeout, no_output = out["ERRORS"]
        self.assertIn("cannot call itself", itself)
        self.assertIn("X", bad_input)  # FP32 [4] where py_isolated takes INT64 [1]
        self.assertIn("no_such_model", unknown)
        self.assertIn("no custom request parameters", torch_params)
        self.assertIn("timeout not supported", timeout)
        self.assertIn("no output NOPE", no_output)
        # The worker lives on (no restart) and serves again.
        self.assertEqual(self.infer_ok("py_bls", self.one_input("X", "FP32", [4], x))["TWICE"],
                         [v + 2 for v in x])
        self.assertEqual(self.pid_of("py_pid"), shared_worker)

    def test_14_parameters_without_room_are_refused_not_dropped(self):
        doc = {"inputs": [{"name": "I%d" % i, "datatype": "INT32", "shape": [1], "data": [i]}
                          for i in range(8)]}
        self.assertEqual(self.infer_ok("py_eight", doc)["SUM"], [28])
        doc["parameters"] = {"mode": "fast"}
        self.assertError(self.infer("py_eight", doc), 400, "no room for the request's parameters")

    def test_15_custom_metrics_are_on_the_metrics_endpoint(self):
        for x in (4, 9, 7):
            self.assertEqual(self.infer_ok("py_metrics", self.one_input("X", "INT32", [1], [x]))["Y"],
                             [x])
        want = {'py_suite_requests_total{model="py_metrics"}': "3",
                'py_suite_last_x{model="py_metrics"}': "7"}
        deadline = time.monotonic() + 15  # the server asks its workers every second
        while True:
            text = self.get("/metrics").body.decode()
            got = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
                   for line in text.splitlines() if line.startswith("py_suite_")}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(got, want, text[-2000:])
        self.assertIn("# TYPE py_suite_requests_total counter", text)
        self.assertIn("# HELP py_suite_last_x The last X it saw", text)

    def test_12_config_backend_python(self):
        c = self.assertJson(self.get("/v2/models/py_batched/config"), 200, "config")
        self.assertEqual(c.get("name"), "py_batched")
        self.assertEqual(c.get("backend"), "python", c)
        self.assertEqual(c.get("max_batch_size"), 8, c)
        self.assertEqual(c.get("default_model_filename"), "model.py", c)
        self.assertEqual(c.get("dynamic_batching", {}).get("max_queue_delay_microseconds"), 2000, c)
        c = self.assertJson(self.get("/v2/models/py_strings/config"), 200)
        self.assertEqual(c.get("backend"), "python", c)
        self.assertEqual([i.get("data_type") for i in c["input"]], ["TYPE_STRING"], c)
        c = self.assertJson(self.get("/v2/models/py_isolated/config"), 200)
        self.assertEqual(c.get("parameters", {}).get("isolation"), {"string_value": "process"}, c)

    # =================================================================================
    # 10. kill -9 of the shared worker under traffic (last: it restarts the worker)

    def test_zz_kill9_shared_worker_under_traffic(self):
        s = self.status()
        shared = self.worker_of(s, "py_addsub")
        isolated = self.worker_of(s, "py_isolated")
        victim = shared["pid"]
        self.assertEqual(self.pid_of("py_pid"), victim)
        body = {"inputs": [{"name": "A", "datatype": "FP32", "shape": [4], "data": [1, 2, 3, 4]},
                           {"name": "B", "datatype": "FP32", "shape": [4], "data": [1, 1, 1, 1]}]}
        statuses, stop, failures = [], threading.Event(), []
        lock = threading.Lock()

        def client():
            while not stop.is_set():
                try:
                    r = self.infer("py_addsub", body, timeout=30)
                except (OSError, edge_test.ConnectionClosed) as e:
                    with lock:
                        failures.append(repr(e))
                    time.sleep(0.05)
                    continue
                with lock:
                    statuses.append(r.status)
                    if r.status == 200 and outputs_of(r)["SUM"][1] != [2, 3, 4, 5]:
                        failures.append("wrong answer %r" % r)
                if r.status != 200:
                    time.sleep(0.02)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        with lock:
            before_kill = len(statuses)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        recovered = None
        while time.monotonic() - killed_at < RECOVERY_SECONDS:
            time.sleep(0.1)
            with lock:
                tail = statuses[before_kill:]
            # Recovered: a 200 answered after the kill by a worker that is not the victim.
            if 200 in tail and self.get("/v2/models/py_addsub/ready").status == 200:
                try:
                    pid = self.pid_of("py_pid")
                except AssertionError:
                    continue
                if pid != victim:
                    recovered = time.monotonic() - killed_at
                    break
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(timeout=40)
        with lock:
            after = statuses[before_kill:]
        self.assertGreater(before_kill, 0, "no request was answered before the kill")
        self.assertIsNotNone(recovered, "py_addsub did not answer again within %.0f s of the "
                             "kill; log:\n%s" % (RECOVERY_SECONDS, self.server.log_tail()))
        bad = sorted(set(st for st in after if st not in (200, 503)))
        self.assertEqual(bad, [], "statuses other than 200/503 around the kill: %r" % after)
        self.assertEqual(failures, [])
        edge_test.note("kill -9 of the shared worker: answering again after %.1f s; %d requests "
                       "around it: %d x 200, %d x 503"
                       % (recovered, len(after), after.count(200), after.count(503)))
        s2 = self.status()
        shared2 = self.worker_of(s2, "py_addsub")
        self.assertEqual(shared2["name"], shared["name"])
        self.assertNotEqual(shared2["pid"], victim)
        self.assertEqual(shared2["restarts"], shared["restarts"] + 1, shared2)
        self.assertEqual(self.worker_of(s2, "py_isolated")["pid"], isolated["pid"],
                         "the isolated worker was touched by the other's death")
        # Every model is back in the new worker, helpers still apart.
        deadline = time.monotonic() + RECOVERY_SECONDS
        self.assertEqual(sorted(shared2["models"]), sorted(shared["models"]))
        for m in sorted(set(shared2["models"]) - {FAILING_MODEL}):
            while self.get("/v2/models/%s/ready" % m).status != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.get("/v2/models/%s/ready" % m).status, 200, m)
        for name, offset in sorted(HELPER_OFFSETS.items()):
            self.assertEqual(self.infer_ok(name, self.one_input("X", "INT64", [1], [1]))["Y"],
                             [1 + offset])
        self.assertEqual(self.infer_ok("py_strings", self.one_input("TEXT", "BYTES", [1],
                                                                    ["après"]))["UPPER"],
                         ["APRÈS"])
        self.assertServes("after the shared worker was killed")
        # The restarted worker's BLS calls reach the other worker through its new socket.
        out = self.infer_ok("py_bls", self.one_input("X", "FP32", [4], [1, 2, 3, 4]))
        self.assertEqual(out["PIDS"], [shared2["pid"], isolated["pid"]])


class ZzAcrossTheRun(edge_test.ZzAcrossTheRun):
    """Runs last: no unexpected 500 was answered, and no server died or exited badly."""


CLASSES = [PythonBackend, ZzAcrossTheRun]


def main():
    return edge_test.run_suite(CLASSES, __doc__.split("\n\n")[0], "mg_python_")


if __name__ == "__main__":
    sys.exit(main())
