#!/usr/bin/python3
"""Decoupled Python models end to end: a model.py with model_transaction_policy { decoupled:
true } answering through its response sender, streamed over HTTP (Triton's generate and
generate_stream) and gRPC ModelStreamInfer.

Usage:
  /usr/bin/python3 tests/python/decoupled_test.py [--binary build/modelgrid]
                                                  [--fixtures .fixtures] [-k SUBSTRING]...

Reuses the gRPC suite's server and client (tests/grpc/grpc_test.py), which reuses the edge
suite's runner. One server (--gpus cpu:1x2GiB, explicit model control, every model loaded)
on a temporary repository of two Python models:

  py_countdown  decoupled; INT32 N [1] -> one response per i < N: OUT INT32 [1] = i and
                TEXT BYTES [1] = "token i" (repeated `size` times). Request parameters pick
                how it answers: mode inline (from execute), thread (from a thread after
                execute returned), raise (execute raises after one response), forget (one
                response, then the sender is dropped without the final flag), final_only,
                hold (one response, then the sender is kept and the request left open);
                error_at K (response K is an error); final_apart (the final flag sent alone
                after the last response); sleep_ms between responses.
  py_echo       not decoupled; INT32 N [1] -> OUT = N (the same path for a model that
                answers once).
  token_stream  the demo's decoupled example (examples/python/token_stream): its text
                input's words, one response each.

Without Python's grpc (or protoc) the gRPC tests are skipped, saying so; the HTTP ones run.
The last line printed is "N passed, M failed"; the exit status is non-zero when anything
failed.
"""
import http.client as httpclient
import json
import os
import shutil
import signal
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "edge"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grpc"))
import edge_test  # noqa: E402
import grpc_test  # noqa: E402


GPUS = "cpu:1x2GiB"

COUNTDOWN_CONFIG = """
name: "py_countdown"
backend: "python"
max_batch_size: 0
model_transaction_policy { decoupled: true }
input [ { name: "N" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [
  { name: "OUT" data_type: TYPE_INT32 dims: [ 1 ] },
  { name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] }
]
"""

COUNTDOWN_PY = '''
import json
import threading
import time

import numpy as np
import triton_python_backend_utils as pb_utils


def response(i, size=1):
    text = np.array([("token %d" % i).encode() * size], dtype=np.object_)
    return pb_utils.InferenceResponse([pb_utils.Tensor("OUT", np.array([i], dtype=np.int32)),
                                       pb_utils.Tensor("TEXT", text)])


class TritonPythonModel:
    def initialize(self, args):
        assert pb_utils.using_decoupled_model_transaction_policy(json.loads(args["model_config"]))
        self.threads = []
        self.held = []

    def execute(self, requests):
        for request in requests:
            n = int(pb_utils.get_input_tensor_by_name(request, "N").as_numpy()[0])
            params = json.loads(request.parameters())
            mode = params.get("mode", "inline")
            sender = request.get_response_sender()
            if mode == "thread":
                t = threading.Thread(target=self.stream, args=(sender, n, params))
                t.start()
                self.threads.append(t)
            elif mode == "raise":
                sender.send(response(0))
                raise ValueError("asked to raise after one response")
            elif mode == "forget":
                sender.send(response(0))
            elif mode == "final_only":
                sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            elif mode == "hold":  # one response, and the request kept open for good
                sender.send(response(0))
                self.held.append(sender)
            else:
                self.stream(sender, n, params)
        return None

    def stream(self, sender, n, params):
        error_at = int(params.get("error_at", -1))
        size = int(params.get("size", 1))
        apart = "final_apart" in params
        for i in range(n):
            time.sleep(int(params.get("sleep_ms", 0)) / 1000.0)
            last = i == n - 1 and not apart
            flags = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if last else 0
            if i == error_at:
                sender.send(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError("response %d failed" % i)), flags)
            else:
                sender.send(response(i, size), flags)
        if n == 0 or apart:
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        try:
            sender.send(response(99))
            raise AssertionError("a send after the final flag was accepted")
        except pb_utils.TritonModelException:
            pass

    def finalize(self):
        for t in self.threads:
            t.join()
'''

ECHO_CONFIG = """
name: "py_echo"
backend: "python"
max_batch_size: 0
input [ { name: "N" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "OUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
"""

ECHO_PY = '''
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            try:
                r.get_response_sender()
                raise AssertionError("a model that is not decoupled got a response sender")
            except pb_utils.TritonModelException:
                pass
            n = pb_utils.get_input_tensor_by_name(r, "N").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUT", n)]))
        return out
'''

MODELS = ("py_countdown", "py_echo", "token_stream")
EXAMPLE = os.path.join(edge_test.REPO_ROOT, "examples", "python", "token_stream")


def write_model(repo, name, config, model_py):
    os.makedirs(os.path.join(repo, name, "1"))
    with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
        f.write(config.lstrip())
    with open(os.path.join(repo, name, "1", "model.py"), "w") as f:
        f.write(model_py.lstrip())


def sse_events(body):
    """The JSON documents of a text/event-stream body ("data: {...}" blocks)."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        if not block.startswith("data: "):
            raise AssertionError("not a Server-Sent Event: %r" % block)
        events.append(json.loads(block[len("data: "):]))
    return events


class Decoupled(grpc_test.GrpcServerTest):
    SERVER_NAME = "decoupled"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "*"]

    @classmethod
    def setUpClass(cls):
        cls.server, cls.start_error, cls.skip_reason, cls._client = None, None, None, None
        cls.grpc = grpc_test.pb is not None
        try:
            if cls.grpc:
                cls.server = grpc_test.GrpcServer(cls.SERVER_NAME, list(cls.SERVER_ARGS))
            else:
                cls.server = edge_test.Server(cls.SERVER_NAME, list(cls.SERVER_ARGS))
            cls.server.gpus = GPUS
            write_model(cls.server.repo, "py_countdown", COUNTDOWN_CONFIG, COUNTDOWN_PY)
            write_model(cls.server.repo, "py_echo", ECHO_CONFIG, ECHO_PY)
            shutil.copytree(EXAMPLE, os.path.join(cls.server.repo, "token_stream"))
            cls.server.start()
            cls.server.wait_ready(MODELS, grpc_test.READY_TIMEOUT)
            print("\n[decoupled] HTTP port %d, gRPC %s (started in %.1f s)"
                  % (cls.server.port, cls.server.grpc_port if cls.grpc else "off",
                     cls.server.startup_seconds), flush=True)
        except Exception as e:  # reported by every test of the class
            cls.start_error = "%s did not start: %s" % (cls.SERVER_NAME, e)

    def need_grpc(self):
        if not self.grpc:
            self.skipTest("SKIPPED: Python's grpc or protoc is missing: %s"
                          % (grpc_test.GRPC_IMPORT_ERROR or "see the banner"))

    # -- HTTP ------------------------------------------------------------------------

    def generate(self, model, doc, stream=True, conn=None):
        """(status, content type, body) of POST .../generate[_stream] (http.client, which
        reads chunked bodies)."""
        own = conn is None
        conn = conn or httpclient.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("POST", "/v2/models/%s/generate%s" % (model, "_stream" if stream else ""),
                         body=json.dumps(doc), headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read()
        finally:
            if own:
                conn.close()

    def stream_ok(self, doc, model="py_countdown"):
        status, ctype, body = self.generate(model, doc)
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype, "text/event-stream; charset=utf-8")
        return sse_events(body)

    def test_01_generate_stream_sends_each_response_as_an_event(self):
        conn = httpclient.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            for round in range(2):  # the connection is kept alive after a stream
                status, ctype, body = self.generate("py_countdown", {"N": 4, "id": "r%d" % round},
                                                    conn=conn)
                self.assertEqual(status, 200, body)
                events = sse_events(body)
                self.assertEqual([e["OUT"] for e in events], [0, 1, 2, 3], events)
                self.assertEqual([e["TEXT"] for e in events], ["token %d" % i for i in range(4)])
                for e in events:
                    self.assertEqual((e["id"], e["model_name"], e["model_version"]),
                                     ("r%d" % round, "py_countdown", "1"), e)
        finally:
            conn.close()

    def test_02_generate_returns_the_one_response(self):
        status, ctype, body = self.generate("py_countdown", {"N": 1}, stream=False)
        self.assertEqual((status, ctype), (200, "application/json"), body)
        self.assertEqual(json.loads(body), {"OUT": 0, "TEXT": "token 0",
                                            "model_name": "py_countdown", "model_version": "1"})
        status, _, body = self.generate("py_countdown", {"N": 3}, stream=False)
        self.assertEqual(status, 400, body)
        self.assertIn("generate_stream", json.loads(body)["error"])

    def test_03_responses_from_a_thread_after_execute_returned(self):
        events = self.stream_ok({"N": 3, "parameters": {"mode": "thread", "sleep_ms": 20}})
        self.assertEqual([e["OUT"] for e in events], [0, 1, 2], events)
        # A property that is not an input of the model is a request parameter, as in Triton.
        events = self.stream_ok({"N": 2, "mode": "thread"})
        self.assertEqual([e["OUT"] for e in events], [0, 1], events)

    def test_04_an_error_response_mid_stream_and_the_stream_goes_on(self):
        events = self.stream_ok({"N": 3, "parameters": {"error_at": 1}})
        self.assertEqual(events[0]["OUT"], 0)
        self.assertEqual(events[1], {"error": "response 1 failed"})
        self.assertEqual(events[2]["OUT"], 2)
        self.assertEqual(len(events), 3, events)

    def test_05_execute_raising_ends_the_request_with_its_error(self):
        events = self.stream_ok({"N": 3, "parameters": {"mode": "raise"}})
        self.assertEqual(len(events), 2, events)
        self.assertEqual(events[0]["OUT"], 0)
        self.assertIn("asked to raise after one response", events[1]["error"])

    def test_05_a_sender_dropped_without_the_final_flag_ends_the_request(self):
        events = self.stream_ok({"N": 3, "parameters": {"mode": "forget"}})
        self.assertEqual(len(events), 2, events)
        self.assertIn("without sending the final flag", events[1]["error"])

    def test_06_the_final_flag_alone(self):
        self.assertEqual(self.stream_ok({"N": 0, "parameters": {"mode": "final_only"}}), [])
        events = self.stream_ok({"N": 2, "parameters": {"final_apart": True}})
        self.assertEqual([e["OUT"] for e in events], [0, 1], events)

    def test_07_responses_larger_than_the_region(self):
        size = 400000  # "token i" x size: 2.8 MB per response, far above the first region
        events = self.stream_ok({"N": 3, "parameters": {"size": size}})
        self.assertEqual([e["OUT"] for e in events], [0, 1, 2])
        for i, e in enumerate(events):
            self.assertEqual(e["TEXT"], ("token %d" % i) * size)

    def test_08_concurrent_streams_each_get_their_own(self):
        results = {}

        def one(k):
            try:
                results[k] = self.stream_ok({"N": 5, "id": "c%d" % k,
                                             "parameters": {"mode": "thread", "sleep_ms": 5}})
            except Exception as e:  # reported below
                results[k] = e
        threads = [threading.Thread(target=one, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in range(6):
            events = results[k]
            self.assertIsInstance(events, list, events)
            self.assertEqual([e["OUT"] for e in events], list(range(5)), events)
            self.assertEqual({e["id"] for e in events}, {"c%d" % k})

    def test_09_infer_refuses_a_decoupled_model(self):
        r = self.post("/v2/models/py_countdown/infer",
                      {"inputs": [{"name": "N", "datatype": "INT32", "shape": [1], "data": [2]}]})
        self.assertEqual(r.status, 400, r)
        self.assertIn("generate_stream", r.json()["error"])

    def test_10_generate_on_a_model_that_answers_once(self):
        status, _, body = self.generate("py_echo", {"N": 7}, stream=False)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["OUT"], 7)
        self.assertEqual([e["OUT"] for e in self.stream_ok({"N": 8}, model="py_echo")], [8])

    def test_11_bad_generate_requests_are_400(self):
        for doc, words in (({"N": "x"}, "N"),
                           ({"N": 1, "parameters": {"sequence_id": 3}}, "sequence_id"),
                           ({"N": 1, "parameters": {"x": [1]}}, "x"),
                           ({"N": [1, 2]}, "N"),
                           ({"N": 1, "id": 5}, "id")):
            for stream in (False, True):
                with self.subTest(doc=doc, stream=stream):
                    status, ctype, body = self.generate("py_countdown", doc, stream=stream)
                    self.assertEqual((status, ctype), (400, "application/json"), body)
                    self.assertIn(words, json.loads(body)["error"])
        status, _, body = self.generate("no_such_model", {"N": 1})
        self.assertEqual(status, 404, body)

    def test_12_metrics_count_decoupled_requests(self):
        self.stream_ok({"N": 2})
        stats = self.get("/v2/models/py_countdown/stats").json()["model_stats"][0]
        self.assertGreater(stats["inference_stats"]["success"]["count"], 0, stats)

    def test_13_the_token_stream_example(self):
        events = self.stream_ok({"text_input": "one word per response"}, model="token_stream")
        self.assertEqual([(e["index"], e["text_output"]) for e in events],
                         list(enumerate(["one", "word", "per", "response"])))

    def test_y_unload_ends_a_request_the_model_holds_open(self):
        out = {}

        def held():
            out["events"] = self.stream_ok({"N": 1, "parameters": {"mode": "hold"}})
        t = threading.Thread(target=held)
        t.start()
        time.sleep(1.0)  # its first response is out; the model keeps the request open
        started = time.monotonic()
        r = self.post("/v2/repository/models/py_countdown/unload", {}, timeout=120)
        self.assertEqual(r.status, 200, r)
        t.join(60)
        events = out.get("events")
        self.assertIsNotNone(events, "the held request did not end with the unload")
        self.assertEqual(events[0]["OUT"], 0, events)
        self.assertIn("unloading", events[-1].get("error", ""), events)
        print("\n[decoupled] unload with a request held open took %.1f s"
              % (time.monotonic() - started), flush=True)
        r = self.post("/v2/repository/models/py_countdown/load", {}, timeout=120)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["OUT"] for e in self.stream_ok({"N": 2})], [0, 1])

    def test_zz_worker_killed_mid_stream(self):
        status = self.get("/v2/modelgrid/status").json()
        worker = [m for m in status["models"] if m["name"] == "py_countdown"][0]["worker"]
        pid = [w for w in status["workers"] if w["name"] == worker][0]["pid"]
        out = {}

        def slow():
            out["events"] = self.stream_ok({"N": 50, "parameters": {"sleep_ms": 100}})
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(1.5)
        os.kill(pid, signal.SIGKILL)
        t.join(60)
        events = out.get("events")
        self.assertIsNotNone(events, "the stream did not end after its worker was killed")
        self.assertLess(len(events), 50, events[-1:])
        self.assertIn("error", events[-1], events[-1])
        self.assertIn("exited", events[-1]["error"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, _, body = self.generate("py_countdown", {"N": 2})
            if status == 200 and [e.get("OUT") for e in sse_events(body)] == [0, 1]:
                break
            time.sleep(0.5)
        else:
            self.fail("py_countdown did not serve again after its worker was killed: %s" % body)

    # -- gRPC ModelStreamInfer -------------------------------------------------------

    def countdown(self, n, id, **params):
        request = grpc_test.pb.ModelInferRequest(model_name="py_countdown", id=id)
        request.inputs.add(name="N", datatype="INT32", shape=[1])
        request.raw_input_contents.append(struct.pack("<i", n))
        for key, value in params.items():
            grpc_test.set_param(request.parameters, key, value)
        return request

    @staticmethod
    def out_of(response):
        r = response.infer_response
        index = [o.name for o in r.outputs].index("OUT")
        return struct.unpack("<i", r.raw_output_contents[index])[0]

    def test_20_grpc_stream_several_responses_per_request(self):
        self.need_grpc()
        stream = self.client.stream()
        try:
            stream.send(self.countdown(3, "a", mode="thread", sleep_ms=10))
            stream.send(self.countdown(2, "b"))
            got = [stream.recv() for _ in range(5)]
            for g in got:
                self.assertEqual(g.error_message, "", g)
            self.assertEqual([(g.infer_response.id, self.out_of(g)) for g in got],
                             [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)])
            self.assertEqual(got[0].infer_response.model_name, "py_countdown")
            stream.close()
            self.assertEqual(stream.event()[0], "end")
        finally:
            stream.cancel()

    def test_21_grpc_error_mid_stream_and_the_stream_goes_on(self):
        self.need_grpc()
        stream = self.client.stream()
        try:
            stream.send(self.countdown(3, "e", error_at=1))
            stream.send(self.countdown(1, "f"))
            got = [stream.recv() for _ in range(4)]
            self.assertEqual(got[1].error_message, "response 1 failed")
            self.assertEqual(got[1].infer_response.id, "e")
            self.assertEqual([self.out_of(g) for g in (got[0], got[2], got[3])], [0, 2, 0])
            self.assertEqual(got[3].infer_response.id, "f")
        finally:
            stream.cancel()

    def test_22_grpc_empty_final_response_when_asked(self):
        self.need_grpc()
        stream = self.client.stream()
        try:
            stream.send(self.countdown(2, "x", final_apart=True,
                                       triton_enable_empty_final_response=True))
            got = [stream.recv() for _ in range(3)]
            finals = [g.infer_response.parameters["triton_final_response"].bool_param for g in got]
            self.assertEqual(finals, [False, False, True])
            self.assertEqual(len(got[2].infer_response.outputs), 0, got[2])
            self.assertEqual(got[2].infer_response.id, "x")
            # Without the parameter, the final flag alone sends nothing: the next response
            # is the next request's.
            stream.send(self.countdown(2, "y", final_apart=True))
            stream.send(self.countdown(1, "z"))
            got = [stream.recv() for _ in range(3)]
            self.assertEqual([g.infer_response.id for g in got], ["y", "y", "z"])
            self.assertNotIn("triton_final_response", got[0].infer_response.parameters)
        finally:
            stream.cancel()

    def test_23_grpc_model_infer_refuses_a_decoupled_model(self):
        self.need_grpc()
        self.assertStatus(grpc_test.grpc.StatusCode.INVALID_ARGUMENT, self.client.ModelInfer,
                          request=self.countdown(1, "u"), patterns=("decoupled",),
                          what="ModelInfer of a decoupled model")


class ZzAcrossTheRun(edge_test.ZzAcrossTheRun):
    """Runs last: no 500 or INTERNAL/UNKNOWN status anywhere, no server died or exited
    badly."""


CLASSES = [Decoupled, ZzAcrossTheRun]


def main():
    missing = grpc_test.GRPC_IMPORT_ERROR or grpc_test.generate_messages()
    if missing:
        banner = "!" * 78
        print("%s\nSKIPPING the gRPC tests of this suite: %s\n%s" % (banner, missing, banner))
    return edge_test.run_suite(CLASSES, __doc__.split("\n\n")[0], "mg_decoupled_")


if __name__ == "__main__":
    sys.exit(main())
