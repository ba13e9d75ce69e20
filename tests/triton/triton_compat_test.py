#!/usr/bin/python3
"""Triton compatibility suite: the KServe v2 / Triton HTTP extensions against a real server.

Usage:
  /usr/bin/python3 tests/triton/triton_compat_test.py [--binary build/modelgrid]
                                                      [--fixtures .fixtures] [-k SUBSTRING]...

Defaults are relative to the repository root; MODELGRID_BINARY and MODELGRID_FIXTURES
override them, and the flags override both. Needs the fixture repository
(scripts/make-fixtures.sh writes FIXTURES/repo). Python 3 standard library only.

Reuses the network-edge suite's infrastructure (tests/edge/edge_test.py): its Server,
raw-socket HTTP client, 500 tracking and test runner. One server is started with explicit
model control and --load-model '*' on a temporary repository holding:

  add_one         FP32 INPUT__0 [-1] -> OUTPUT__0 = input + 1, max_batch_size 8
  two_in_two_out  the fixture (dynamic batching, preferred sizes [4, 8], 500 us delay)
  classy          add_one whose output has label_filename "labels.txt" ("zero".."seven")

and the suite checks what Triton answers: the model configuration endpoint, model_name and
model_version in every response, classification, refusal of unsupported parameters and
fields, request/response compression, system shared memory, the logging and trace
endpoints, the extension list, and loading with a config override. Every status and body is
asserted exactly; a 500 anywhere fails the run.

Every socket operation has a timeout; nothing leaves 127.0.0.0/8. The last line printed is
"N passed, M failed" (", K skipped" when some were skipped); the exit status is non-zero
when anything failed.
"""
import base64
import copy
import glob
import gzip
import json
import os
import struct
import sys
import tempfile
import time
import zlib
from multiprocessing import shared_memory

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "edge"))
import edge_test  # noqa: E402
from edge_test import CONFIG, copy_model, http, infer_json, outputs_of  # noqa: E402

REPO_ROOT = edge_test.REPO_ROOT
MIB = edge_test.MIB
LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven"]
CLASSY_INPUT = [3, 1, 4, 1, 5, 9, 2, 6]
# input + 1 printed as std::to_string(float), "value:index[:label]", highest first
CLASSY_TOP3 = ["10.000000:5:five", "7.000000:7:seven", "6.000000:4:four"]
ADD_ONE_TOP3 = ["10.000000:5", "7.000000:7", "6.000000:4"]
MODELS = ("add_one", "two_in_two_out", "classy")
EXTENSIONS = {"classification", "model_repository", "model_repository(unload_dependents)",
              "model_configuration", "system_shared_memory", "binary_tensor_data",
              "parameters", "statistics", "logging", "modelgrid"}


def jbody(doc):
    return json.dumps(doc).encode()


def add_labels(text):
    old = '{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ -1 ] }'
    if old not in text:
        raise RuntimeError("add_one's config.pbtxt changed; cannot add label_filename:\n" + text)
    return text.replace(old, '{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ -1 ] '
                             'label_filename: "labels.txt" }')


def gzip_bomb(uncompressed, chunk=8 * MIB):
    """gzip of `uncompressed` zero bytes, streamed so that it never sits in memory."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(chunk)
    parts, left = [], uncompressed
    while left > 0:
        n = min(chunk, left)
        parts.append(c.compress(zeros[:n] if n < chunk else zeros))
        left -= n
    parts.append(c.flush())
    return b"".join(parts)


class TritonCompat(edge_test.ServerTest):
    SERVER_NAME = "triton"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "*"]

    @classmethod
    def setUpClass(cls):
        # As ServerTest.setUpClass, with two more models in the repository before the start.
        cls.server, cls.start_error, cls.skip_reason = None, None, None
        fixtures = CONFIG["fixtures"]
        for m in ("add_one", "two_in_two_out"):
            if not os.path.isdir(os.path.join(fixtures, "repo", m)):
                cls.skip_reason = ("fixture repository %s/repo/%s is missing "
                                   "(run scripts/make-fixtures.sh)" % (fixtures, m))
                return
        try:
            cls.server = edge_test.Server(cls.SERVER_NAME, list(cls.SERVER_ARGS))
            copy_model(fixtures, cls.server.repo, "two_in_two_out", source="two_in_two_out")
            target = copy_model(fixtures, cls.server.repo, "classy", edit=add_labels)
            with open(os.path.join(target, "labels.txt"), "w") as f:
                f.write("\n".join(LABELS) + "\n")
            cls.server.start()
            cls.server.wait_ready(MODELS)
            print("\n[triton] server on port %d (started in %.1f s): %s"
                  % (cls.server.port, cls.server.startup_seconds, " ".join(cls.SERVER_ARGS)),
                  flush=True)
        except Exception as e:  # reported by every test of the class
            cls.start_error = "%s did not start: %s" % (cls.SERVER_NAME, e)

    # -- helpers ---------------------------------------------------------------------

    def assertInferOk(self, response, model, what=""):
        """A 200 infer answer naming `model`, version "1"; returns its JSON."""
        doc = self.assertJson(response, 200, what)
        self.assertEqual(doc.get("model_name"), model, "model_name in %r" % response)
        self.assertEqual(doc.get("model_version"), "1", "model_version in %r" % response)
        return doc

    def infer(self, model, doc, headers=(), version=None, **kw):
        path = ("/v2/models/%s/infer" % model if version is None
                else "/v2/models/%s/versions/%s/infer" % (model, version))
        body = doc if isinstance(doc, bytes) else jbody(doc)
        return http(self.port, "POST", path, body, headers=headers, **kw)

    def config_of(self, model):
        return self.assertJson(self.get("/v2/models/%s/config" % model), 200, model + " config")

    def load(self, model, parameters=None, timeout=120):
        doc = {} if parameters is None else {"parameters": parameters}
        return self.post("/v2/repository/models/%s/load" % model, doc, timeout=timeout)

    # =================================================================================
    # 1. Model configuration

    def test_01_config_add_one(self):
        c = self.config_of("add_one")
        self.assertEqual(c.get("name"), "add_one")
        self.assertEqual(c.get("platform"), "pytorch_libtorch")
        self.assertEqual(c.get("backend"), "pytorch")
        self.assertEqual(c.get("max_batch_size"), 8)
        self.assertIsInstance(c.get("input"), list)
        self.assertEqual(len(c["input"]), 1, c["input"])
        i0 = c["input"][0]
        self.assertEqual({k: i0.get(k) for k in ("name", "data_type", "dims", "format")},
                         {"name": "INPUT__0", "data_type": "TYPE_FP32", "dims": [-1],
                          "format": "FORMAT_NONE"}, i0)
        self.assertIsInstance(c.get("output"), list)
        self.assertEqual(len(c["output"]), 1, c["output"])
        o0 = c["output"][0]
        self.assertEqual({k: o0.get(k) for k in ("name", "data_type", "dims")},
                         {"name": "OUTPUT__0", "data_type": "TYPE_FP32", "dims": [-1]}, o0)
        groups = c.get("instance_group")
        self.assertIsInstance(groups, list, c)
        self.assertEqual(len(groups), 1, groups)
        self.assertEqual(groups[0].get("kind"), "KIND_CPU", groups)
        self.assertEqual(groups[0].get("count"), 1, groups)
        self.assertEqual(c.get("version_policy"), {"latest": {"num_versions": 1}})

    def test_01_config_two_in_two_out_dynamic_batching(self):
        c = self.config_of("two_in_two_out")
        self.assertEqual(c.get("name"), "two_in_two_out")
        db = c.get("dynamic_batching")
        self.assertIsInstance(db, dict, c)
        self.assertEqual(db.get("preferred_batch_size"), [4, 8], db)
        self.assertEqual(db.get("max_queue_delay_microseconds"), 500, db)
        self.assertEqual([i.get("name") for i in c.get("input", [])], ["INPUT__0", "INPUT__1"])
        self.assertEqual([i.get("data_type") for i in c.get("input", [])],
                         ["TYPE_INT64", "TYPE_FP32"])
        self.assertEqual([i.get("dims") for i in c.get("input", [])], [[4], [4]])

    def test_01_config_classy_label_filename(self):
        c = self.config_of("classy")
        self.assertEqual(c.get("name"), "classy")
        self.assertEqual(c["output"][0].get("label_filename"), "labels.txt", c["output"])

    def test_01_config_versions_and_unknown(self):
        r = self.get("/v2/models/add_one/versions/1/config")
        c = self.assertJson(r, 200, "versions/1/config")
        self.assertEqual(c.get("name"), "add_one")
        self.assertEqual(c.get("max_batch_size"), 8)
        self.assertError(self.get("/v2/models/add_one/versions/7/config"), 404,
                         what="versions/7/config")
        self.assertError(self.get("/v2/models/no_such_model/config"), 404,
                         what="unknown model config")
        self.assertError(self.get("/v2/models/no_such_model/versions/1/config"), 404,
                         what="unknown model versions/1/config")

    # =================================================================================
    # 2. model_name and model_version in every infer response

    def test_02_model_name_and_version_in_responses(self):
        cases = [
            ("add_one", None, infer_json([1, 2, 3, 4])),
            ("add_one", "1", infer_json([1, 2, 3, 4])),
            ("classy", None, infer_json(CLASSY_INPUT)),
            ("classy", "1", infer_json(CLASSY_INPUT)),
            ("two_in_two_out", None, jbody({"inputs": [
                {"name": "INPUT__0", "datatype": "INT64", "shape": [1, 4], "data": [1, 2, 3, 4]},
                {"name": "INPUT__1", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]})),
            ("two_in_two_out", "1", jbody({"inputs": [
                {"name": "INPUT__0", "datatype": "INT64", "shape": [2, 4], "data": list(range(8))},
                {"name": "INPUT__1", "datatype": "FP32", "shape": [2, 4], "data": list(range(8))}]})),
        ]
        for model, version, body in cases:
            with self.subTest(model=model, version=version):
                r = self.infer(model, body, version=version)
                doc = self.assertInferOk(r, model, "%s version %s" % (model, version))
                self.assertIsInstance(doc.get("outputs"), list, doc)
        # With a request id, and with binary output.
        r = self.infer("add_one", infer_json([1, 2, 3, 4], id="req-7"))
        doc = self.assertInferOk(r, "add_one", "with an id")
        self.assertEqual(doc.get("id"), "req-7")
        body, hlen = edge_test.binary_infer(struct.pack("<4f", 1, 2, 3, 4), [1, 4], True)
        r = self.infer("add_one", body, headers=edge_test.binary_headers(hlen))
        self.assertEqual(r.status, 200, repr(r))
        hl = r.header("inference-header-content-length")
        self.assertIsNotNone(hl, repr(r))
        head = json.loads(r.body[:int(hl)].decode())
        self.assertEqual(head.get("model_name"), "add_one", head)
        self.assertEqual(head.get("model_version"), "1", head)
        self.assertEqual(struct.unpack("<4f", outputs_of(r)["OUTPUT__0"][1]), (2, 3, 4, 5))

    # =================================================================================
    # 3. Classification

    def _classify(self, model, count):
        return self.infer(model, {
            "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1, 8],
                        "data": CLASSY_INPUT}],
            "outputs": [{"name": "OUTPUT__0", "parameters": {"classification": count}}]})

    def test_03_classification_with_labels(self):
        r = self._classify("classy", 3)
        doc = self.assertInferOk(r, "classy")
        self.assertEqual(len(doc["outputs"]), 1, doc)
        out = doc["outputs"][0]
        self.assertEqual(out.get("name"), "OUTPUT__0")
        self.assertEqual(out.get("datatype"), "BYTES", out)
        self.assertEqual(out.get("shape"), [1, 3], out)
        self.assertEqual(out.get("data"), CLASSY_TOP3, out)

    def test_03_classification_without_labels(self):
        r = self._classify("add_one", 3)
        doc = self.assertInferOk(r, "add_one")
        out = doc["outputs"][0]
        self.assertEqual(out.get("datatype"), "BYTES", out)
        self.assertEqual(out.get("shape"), [1, 3], out)
        self.assertEqual(out.get("data"), ADD_ONE_TOP3, out)

    def test_03_classification_all_classes(self):
        r = self._classify("classy", 8)
        out = self.assertInferOk(r, "classy")["outputs"][0]
        self.assertEqual(out.get("shape"), [1, 8], out)
        data = out.get("data")
        self.assertIsInstance(data, list, out)
        self.assertEqual(data[:6], [
            "10.000000:5:five", "7.000000:7:seven", "6.000000:4:four", "5.000000:2:two",
            "4.000000:0:zero", "3.000000:6:six"], out)
        # inputs 1 and 3 tie (2.0): either order
        self.assertEqual(sorted(data[6:]), ["2.000000:1:one", "2.000000:3:three"], out)

    def test_03_classification_without_classification_is_plain(self):
        r = self.infer("classy", infer_json(CLASSY_INPUT))
        out = self.assertInferOk(r, "classy")["outputs"][0]
        self.assertEqual(out.get("datatype"), "FP32", out)
        self.assertEqual(out.get("data"), [v + 1 for v in CLASSY_INPUT], out)

    def test_03_classification_bad_counts(self):
        for count in (9, 0, -1, "x", 1.5, True):
            with self.subTest(classification=count):
                self.assertError(self._classify("classy", count), 400, "classification",
                                 what="classification %r" % (count,))
        self.assertError(self._classify("add_one", 9), 400, "classification",
                         what="add_one classification 9")

    # =================================================================================
    # 4. Unsupported parameters and fields

    def test_04_unsupported_request_parameters(self):
        for params, name in (({"priority": 1}, "priority"), ({"sequence_id": 5}, "sequence_id")):
            with self.subTest(name=name):
                doc = json.loads(infer_json([1, 2, 3, 4]))
                doc["parameters"] = params
                self.assertError(self.infer("add_one", doc), 400, name, what=name)

    def test_04_unsupported_input_parameter(self):
        doc = json.loads(infer_json([1, 2, 3, 4]))
        doc["inputs"][0]["parameters"] = {"foo": 1}
        self.assertError(self.infer("add_one", doc), 400, "foo")

    def test_04_unsupported_output_parameter(self):
        doc = json.loads(infer_json([1, 2, 3, 4]))
        doc["outputs"] = [{"name": "OUTPUT__0", "parameters": {"bar": True}}]
        self.assertError(self.infer("add_one", doc), 400, "bar")

    def test_04_unknown_top_level_field(self):
        doc = json.loads(infer_json([1, 2, 3, 4]))
        doc["foo"] = 1
        self.assertError(self.infer("add_one", doc), 400, "foo")

    def test_04_unknown_input_field(self):
        doc = json.loads(infer_json([1, 2, 3, 4]))
        doc["inputs"][0]["foo"] = 1
        self.assertError(self.infer("add_one", doc), 400, "foo")

    # =================================================================================
    # 5. Compression

    def _plain(self):
        r = self.infer("add_one", infer_json([1, 2, 3, 4]))
        doc = self.assertInferOk(r, "add_one", "uncompressed")
        self.assertIsNone(r.header("content-encoding"), "no Accept-Encoding: %r" % r.headers)
        return doc

    def test_05_gzip_request(self):
        plain = self._plain()
        r = self.infer("add_one", gzip.compress(infer_json([1, 2, 3, 4])),
                       headers=[("Content-Encoding", "gzip")])
        self.assertEqual(self.assertInferOk(r, "add_one", "gzip request"), plain)

    def test_05_deflate_request(self):
        plain = self._plain()
        r = self.infer("add_one", zlib.compress(infer_json([1, 2, 3, 4])),
                       headers=[("Content-Encoding", "deflate")])
        self.assertEqual(self.assertInferOk(r, "add_one", "deflate request"), plain)

    def test_05_unsupported_encoding_is_415(self):
        r = self.infer("add_one", infer_json([1, 2, 3, 4]), headers=[("Content-Encoding", "br")])
        self.assertError(r, 415, r"\bbr\b")

    def test_05_corrupt_gzip_is_400(self):
        good = gzip.compress(infer_json([1, 2, 3, 4]))
        corrupt = good[:10] + bytes(b ^ 0x5A for b in good[10:])
        for name, body in (("corrupt", corrupt), ("not gzip", b"this is not gzip at all"),
                           ("truncated", good[:len(good) // 2])):
            with self.subTest(body=name):
                r = self.infer("add_one", body, headers=[("Content-Encoding", "gzip")])
                self.assertError(r, 400, what=name)
        self.assertServes("after corrupt gzip bodies")

    def test_05_zip_bomb_is_413(self):
        bomb = gzip_bomb(80 * MIB)
        self.assertLess(len(bomb), 1 * MIB)
        rss_before = self.server.rss_kib()
        r = self.infer("add_one", bomb, headers=[("Content-Encoding", "gzip")], timeout=60)
        self.assertError(r, 413)
        live = self.get("/v2/health/live")
        self.assertEqual(live.status, 200, "liveness after the bomb: %r" % live)
        self.assertServes("after a zip bomb")
        grown = (self.server.rss_kib() - rss_before) / 1024.0
        edge_test.note("gzip bomb (%d bytes -> 80 MiB): HTTP %d, server RSS %+.1f MiB"
                       % (len(bomb), r.status, grown))

    def test_05_gzip_response(self):
        plain = self._plain()
        r = self.infer("add_one", infer_json([1, 2, 3, 4]), headers=[("Accept-Encoding", "gzip")])
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual((r.header("content-encoding") or "").lower(), "gzip", r.headers)
        doc = json.loads(gzip.decompress(r.body).decode())
        self.assertEqual(doc, plain)

    def test_05_deflate_response(self):
        plain = self._plain()
        r = self.infer("add_one", infer_json([1, 2, 3, 4]),
                       headers=[("Accept-Encoding", "deflate")])
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual((r.header("content-encoding") or "").lower(), "deflate", r.headers)
        doc = json.loads(zlib.decompress(r.body).decode())
        self.assertEqual(doc, plain)

    def test_05_no_accept_encoding_no_content_encoding(self):
        r = self.infer("add_one", infer_json([1, 2, 3, 4]))
        self.assertEqual(r.status, 200, repr(r))
        self.assertIsNone(r.header("content-encoding"), r.headers)
        self.assertEqual(outputs_of(r)["OUTPUT__0"][1], [2, 3, 4, 5])

    def test_05_gzip_binary_tensor_request(self):
        raw = struct.pack("<4f", 1, 2, 3, 4)
        for binary_output in (False, True):
            with self.subTest(binary_output=binary_output):
                body, hlen = edge_test.binary_infer(raw, [1, 4], binary_output)
                headers = edge_test.binary_headers(hlen) + [("Content-Encoding", "gzip")]
                r = self.infer("add_one", gzip.compress(body), headers=headers)
                self.assertEqual(r.status, 200, repr(r))
                data = outputs_of(r)["OUTPUT__0"][1]
                if binary_output:
                    self.assertEqual(struct.unpack("<4f", data), (2, 3, 4, 5))
                else:
                    self.assertEqual(data, [2, 3, 4, 5])

    # =================================================================================
    # 6. System shared memory

    SHM = "/v2/systemsharedmemory"

    def setUp(self):
        super().setUp()
        self.shms = []
        if "test_06_" in self.id():
            self._unregister_all()

    def tearDown(self):
        if "test_06_" in self.id() and self.server is not None and self.server.alive():
            try:
                self._unregister_all()
            except Exception:
                pass
        for shm in self.shms:
            try:
                shm.close()
            except Exception:
                pass
            try:
                shm.unlink()
            except FileNotFoundError:
                pass
        super().tearDown()

    def _unregister_all(self):
        r = self.post(self.SHM + "/unregister")
        self.assertEqual(r.status, 200, "unregister all: %r" % r)

    def _shm(self, size):
        name = "mgtest_%d_%d_%d" % (os.getpid(), len(self.shms), int(time.monotonic() * 1000))
        shm = shared_memory.SharedMemory(create=True, size=size, name=name)
        self.shms.append(shm)
        return shm

    def _register(self, region, key, byte_size, offset=0):
        return self.post("%s/region/%s/register" % (self.SHM, region),
                         {"key": key, "offset": offset, "byte_size": byte_size})

    def _status(self, region=None):
        path = self.SHM + ("/status" if region is None else "/region/%s/status" % region)
        doc = self.assertJson(self.get(path), 200, path)
        self.assertIsInstance(doc, list, doc)
        return sorted(doc, key=lambda e: e.get("name", ""))

    def _two_regions(self):
        shm_in, shm_out = self._shm(64), self._shm(64)
        r = self._register("in0", "/" + shm_in.name, 64)
        self.assertEqual(r.status, 200, "register in0: %r" % r)
        r = self._register("out0", "/" + shm_out.name, 64)
        self.assertEqual(r.status, 200, "register out0: %r" % r)
        return shm_in, shm_out

    def _shm_infer(self, in_params, out_params, shape=(1, 4)):
        return self.infer("add_one", {
            "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": list(shape),
                        "parameters": in_params}],
            "outputs": [{"name": "OUTPUT__0", "parameters": out_params}]})

    def test_06_shm_register_and_status(self):
        shm_in, shm_out = self._two_regions()
        expect = [{"name": "in0", "key": "/" + shm_in.name, "offset": 0, "byte_size": 64},
                  {"name": "out0", "key": "/" + shm_out.name, "offset": 0, "byte_size": 64}]
        self.assertEqual(self._status(), expect)
        self.assertEqual(self._status("in0"), expect[:1])
        self.assertEqual(self._status("out0"), expect[1:])

    def test_06_shm_infer(self):
        shm_in, shm_out = self._two_regions()
        struct.pack_into("<4f", shm_in.buf, 0, 1.5, -2, 3, 40)
        struct.pack_into("<4f", shm_out.buf, 0, -7, -7, -7, -7)
        r = self._shm_infer({"shared_memory_region": "in0", "shared_memory_byte_size": 16},
                            {"shared_memory_region": "out0", "shared_memory_byte_size": 16})
        doc = self.assertInferOk(r, "add_one", "shm infer")
        self.assertEqual(len(doc["outputs"]), 1, doc)
        out = doc["outputs"][0]
        self.assertEqual(out.get("name"), "OUTPUT__0", out)
        self.assertNotIn("data", out, out)
        self.assertEqual(out.get("datatype"), "FP32", out)
        self.assertEqual(out.get("shape"), [1, 4], out)
        self.assertEqual(struct.unpack_from("<4f", shm_out.buf, 0), (2.5, -1, 4, 41))

    def test_06_shm_infer_with_offsets(self):
        shm_in, shm_out = self._two_regions()
        struct.pack_into("<4f", shm_in.buf, 16, 10, 20, 30, 40)
        r = self._shm_infer({"shared_memory_region": "in0", "shared_memory_byte_size": 16,
                             "shared_memory_offset": 16},
                            {"shared_memory_region": "out0", "shared_memory_byte_size": 16,
                             "shared_memory_offset": 32})
        out = self.assertInferOk(r, "add_one", "shm infer at offsets")["outputs"][0]
        self.assertNotIn("data", out, out)
        self.assertEqual(struct.unpack_from("<4f", shm_out.buf, 32), (11, 21, 31, 41))
        self.assertEqual(struct.unpack_from("<8f", shm_out.buf, 0), (0,) * 8,
                         "bytes before the output offset were written")

    def test_06_shm_shm_input_json_output(self):
        shm_in, _ = self._two_regions()
        struct.pack_into("<4f", shm_in.buf, 0, 1, 2, 3, 4)
        r = self.infer("add_one", {
            "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1, 4],
                        "parameters": {"shared_memory_region": "in0",
                                       "shared_memory_byte_size": 16}}]})
        out = self.assertInferOk(r, "add_one")["outputs"][0]
        self.assertEqual(out.get("data"), [2, 3, 4, 5], out)

    def test_06_shm_output_too_small(self):
        shm_in, _ = self._two_regions()
        struct.pack_into("<4f", shm_in.buf, 0, 1, 2, 3, 4)
        small = self._shm(64)
        self.assertEqual(self._register("small0", "/" + small.name, 8).status, 200)
        inp = {"shared_memory_region": "in0", "shared_memory_byte_size": 16}
        with self.subTest("shared_memory_byte_size 8"):
            r = self._shm_infer(inp, {"shared_memory_region": "out0",
                                      "shared_memory_byte_size": 8})
            self.assertError(r, 400, what="output shared_memory_byte_size 8")
        with self.subTest("region of byte_size 8"):
            r = self._shm_infer(inp, {"shared_memory_region": "small0",
                                      "shared_memory_byte_size": 16})
            self.assertError(r, 400, what="output region of byte_size 8")
        with self.subTest("offset past the region"):
            r = self._shm_infer(inp, {"shared_memory_region": "out0",
                                      "shared_memory_byte_size": 16,
                                      "shared_memory_offset": 56})
            self.assertError(r, 400, what="output offset 56 + 16 > 64")
        with self.subTest("input byte size disagrees with the shape"):
            r = self._shm_infer({"shared_memory_region": "in0", "shared_memory_byte_size": 12},
                                {"shared_memory_region": "out0",
                                 "shared_memory_byte_size": 16})
            self.assertError(r, 400, what="input shared_memory_byte_size 12 for [1,4] FP32")

    def test_06_shm_unknown_region(self):
        self._two_regions()
        r = self._shm_infer({"shared_memory_region": "nope", "shared_memory_byte_size": 16},
                            {"shared_memory_region": "out0", "shared_memory_byte_size": 16})
        self.assertError(r, 400, "nope", what="unknown input region")
        r = self._shm_infer({"shared_memory_region": "in0", "shared_memory_byte_size": 16},
                            {"shared_memory_region": "nope", "shared_memory_byte_size": 16})
        self.assertError(r, 400, "nope", what="unknown output region")
        r = self.get(self.SHM + "/region/nope/status")
        self.assertNotEqual(r.status, 200, "status of an unknown region: %r" % r)
        self.assertIn(r.status, (400, 404), repr(r))

    def test_06_shm_register_errors(self):
        shm_in, _ = self._two_regions()
        with self.subTest("same name twice"):
            self.assertError(self._register("in0", "/" + shm_in.name, 64), 400,
                             what="registering in0 twice")
        with self.subTest("key without a leading slash"):
            self.assertError(self._register("r1", shm_in.name, 64), 400,
                             what="key without /")
        with self.subTest("nonexistent key"):
            self.assertError(self._register("r2", "/mgtest_does_not_exist_%d" % os.getpid(), 64),
                             400, what="nonexistent key")
        with self.subTest("byte_size larger than the object"):
            self.assertError(self._register("r3", "/" + shm_in.name, 1 << 20), 400,
                             what="byte_size 1 MiB of a 64-byte object")
        with self.subTest("offset + byte_size past the object"):
            self.assertError(self._register("r4", "/" + shm_in.name, 64, offset=8), 400,
                             what="offset 8 + 64 of a 64-byte object")
        names = [e["name"] for e in self._status()]
        self.assertEqual(names, ["in0", "out0"], "failed registrations were kept")

    def test_06_shm_unregister(self):
        _, shm_out = self._two_regions()
        r = self.post(self.SHM + "/region/in0/unregister")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self._status(),
                         [{"name": "out0", "key": "/" + shm_out.name, "offset": 0,
                           "byte_size": 64}])
        r = self._shm_infer({"shared_memory_region": "in0", "shared_memory_byte_size": 16},
                            {"shared_memory_region": "out0", "shared_memory_byte_size": 16})
        self.assertError(r, 400, "in0", what="infer on an unregistered region")
        r = self.post(self.SHM + "/unregister")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self._status(), [])

    def test_06_cuda_shared_memory(self):
        r = self.get("/v2/cudasharedmemory/status")
        self.assertEqual(self.assertJson(r, 200, "cuda shm status"), [])
        r = self.post("/v2/cudasharedmemory/region/x/register",
                      {"raw_handle": {"b64": "AAAA"}, "device_id": 0, "byte_size": 64})
        self.assertError(r, 400, what="cuda shm register")

    # =================================================================================
    # 7. Logging

    LOG_KEYS = {"log_file", "log_info", "log_warning", "log_error", "log_verbose_level",
                "log_format"}

    def _restore_logging(self):
        r = self.post("/v2/logging", {"log_info": True, "log_verbose_level": 0})
        doc = self.assertJson(r, 200, "restore {log_info: true, log_verbose_level: 0}")
        self.assertIs(doc.get("log_info"), True, doc)
        self.assertEqual(doc.get("log_verbose_level"), 0, doc)

    def test_07_logging_get(self):
        doc = self.assertJson(self.get("/v2/logging"), 200, "GET /v2/logging")
        self.assertEqual(set(doc), self.LOG_KEYS, doc)
        self.assertIsInstance(doc["log_file"], str)
        for k in ("log_info", "log_warning", "log_error"):
            self.assertIsInstance(doc[k], bool, doc)
        self.assertIsInstance(doc["log_verbose_level"], int, doc)
        self.assertNotIsInstance(doc["log_verbose_level"], bool, doc)
        self.assertIsInstance(doc["log_format"], str)

    def test_07_logging_verbose_level(self):
        try:
            doc = self.assertJson(self.post("/v2/logging", {"log_verbose_level": 1}), 200,
                                  "log_verbose_level 1")
            self.assertEqual(doc.get("log_verbose_level"), 1, doc)
            self.assertEqual(set(doc), self.LOG_KEYS, doc)
            doc = self.assertJson(self.get("/v2/logging"), 200)
            self.assertEqual(doc.get("log_verbose_level"), 1, doc)
        finally:
            self._restore_logging()

    def test_07_logging_info_off(self):
        try:
            doc = self.assertJson(self.post("/v2/logging", {"log_info": False}), 200,
                                  "log_info false")
            self.assertIs(doc.get("log_info"), False, doc)
            self.assertIs(doc.get("log_warning"), True, doc)
            self.assertIs(doc.get("log_error"), True, doc)
            doc = self.assertJson(self.get("/v2/logging"), 200)
            self.assertIs(doc.get("log_info"), False, doc)
        finally:
            self._restore_logging()

    def test_07_logging_info_off_after_verbose_level_1(self):
        # The sequence of the Triton logging extension: verbose level 1, then log_info
        # false. Triton treats the two as independent settings and accepts both.
        try:
            doc = self.assertJson(self.post("/v2/logging", {"log_verbose_level": 1}), 200,
                                  "log_verbose_level 1")
            self.assertEqual(doc.get("log_verbose_level"), 1, doc)
            doc = self.assertJson(self.post("/v2/logging", {"log_info": False}), 200,
                                  "log_info false while log_verbose_level is 1")
            self.assertIs(doc.get("log_info"), False, doc)
            self.assertIs(doc.get("log_warning"), True, doc)
        finally:
            self._restore_logging()

    def test_07_logging_refusals(self):
        try:
            before = self.assertJson(self.get("/v2/logging"), 200)
            self.assertError(self.post("/v2/logging", {"log_info": True, "log_warning": False}),
                             400, what="log_info true, log_warning false")
            self.assertError(self.post("/v2/logging", {"log_file": "/tmp/other.log"}), 400,
                             "log_file", what="log_file")
            self.assertError(self.post("/v2/logging", {"nope": 1}), 400, "nope", what="nope")
            # A refused update changes nothing.
            self.assertEqual(self.assertJson(self.get("/v2/logging"), 200), before)
        finally:
            self._restore_logging()

    # =================================================================================
    # 8. Trace (not supported)

    def test_08_trace_not_supported(self):
        self.assertError(self.get("/v2/trace/setting"), 400, "not supported",
                         what="GET /v2/trace/setting")
        self.assertError(self.post("/v2/trace/setting", {"trace_level": ["TIMESTAMPS"]}), 400,
                         "not supported", what="POST /v2/trace/setting")
        self.assertError(self.get("/v2/models/add_one/trace/setting"), 400, "not supported",
                         what="GET /v2/models/add_one/trace/setting")

    # =================================================================================
    # 9. Server metadata: extensions

    def test_09_extensions(self):
        doc = self.assertJson(self.get("/v2"), 200, "GET /v2")
        ext = doc.get("extensions")
        self.assertIsInstance(ext, list, doc)
        self.assertEqual(len(ext), len(set(ext)), "duplicate extensions: %r" % ext)
        self.assertEqual(set(ext), EXTENSIONS)
        for absent in ("trace", "cuda_shared_memory", "sequence"):
            self.assertNotIn(absent, ext)

    # =================================================================================
    # 10. Load with a config override

    def _batch_infer(self, batch):
        return self.infer("add_one", infer_json([float(i) for i in range(batch * 4)],
                                                shape=[batch, 4]))

    def test_10_load_config_override(self):
        original = self.config_of("add_one")
        self.assertEqual(original.get("max_batch_size"), 8)
        try:
            cfg = copy.deepcopy(original)
            cfg["max_batch_size"] = 4
            r = self.load("add_one", {"config": json.dumps(cfg)})
            self.assertEqual(r.status, 200, "load with max_batch_size 4: %r" % r)
            self.assertEqual(self.config_of("add_one").get("max_batch_size"), 4)
            self.assertError(self._batch_infer(5), 400, what="batch 5 of max 4")
            r = self._batch_infer(4)
            self.assertInferOk(r, "add_one", "batch 4 of max 4")
            self.assertEqual(outputs_of(r)["OUTPUT__0"][1], [float(i + 1) for i in range(16)])

            r = self.load("add_one", {"config": json.dumps(original)})
            self.assertEqual(r.status, 200, "load with the config unchanged: %r" % r)
            self.assertEqual(self.config_of("add_one").get("max_batch_size"), 8)
            self.assertInferOk(self._batch_infer(5), "add_one", "batch 5 of max 8")
        finally:
            r = self.load("add_one")
        self.assertEqual(r.status, 200, "plain reload: %r" % r)
        self.assertEqual(self.config_of("add_one"), original)

    def test_10_load_config_override_refusals(self):
        original = self.config_of("add_one")
        try:
            with self.subTest("unsupported field"):
                cfg = dict(original, sequence_batching={})
                self.assertError(self.load("add_one", {"config": json.dumps(cfg)}), 400,
                                 "sequence_batching", what="sequence_batching")
            with self.subTest("name differs"):
                cfg = dict(original, name="other_name")
                self.assertError(self.load("add_one", {"config": json.dumps(cfg)}), 400,
                                 what="config name other_name")
            with self.subTest("config not a string"):
                self.assertError(self.load("add_one", {"config": original}), 400,
                                 "config", what="config as an object")
            with self.subTest("config not JSON"):
                self.assertError(self.load("add_one", {"config": "{not json"}), 400,
                                 what="config not JSON")
            with self.subTest("file: without a config"):
                self.assertError(self.load("add_one", {"file:1/model.pt": "AAAA"}), 400,
                                 "config", what="file: without config")
            with self.subTest("file: path out of the model folder"):
                r = self.load("add_one", {"config": json.dumps(original), "file:../x": "AAAA"})
                self.assertError(r, 400, "../x", what="file:../x")
            with self.subTest("file: not base64"):
                r = self.load("add_one", {"config": json.dumps(original),
                                          "file:1/model.pt": "***"})
                self.assertError(r, 400, "file:1/model.pt", what="file: not base64")
            with self.subTest("unknown load parameter"):
                self.assertError(self.load("add_one", {"nope": 1}), 400, "nope",
                                 what="unknown load parameter")
            # A refused load leaves the model as it was.
            self.assertEqual(self.config_of("add_one"), original)
            self.assertServes("after refused loads")
        finally:
            if self.config_of("add_one") != original:
                self.assertEqual(self.load("add_one").status, 200)


    def test_10_load_with_files(self):
        # Triton's "file:" parameters: a model the repository does not have, from its files.
        cfg = dict(self.config_of("add_one"), name="from_files")
        with open(os.path.join(CONFIG["fixtures"], "repo", "add_one", "1", "model.pt"), "rb") as f:
            model = base64.b64encode(f.read()).decode()
        before = set(glob.glob(os.path.join(tempfile.gettempdir(), "modelgrid-load-*")))
        r = self.load("from_files", {"config": json.dumps(cfg), "file:1/model.pt": model})
        self.assertEqual(r.status, 200, "load from files: %r" % r)
        made = set(glob.glob(os.path.join(tempfile.gettempdir(), "modelgrid-load-*"))) - before
        self.assertEqual(len(made), 1, "one private folder for the files: %r" % made)
        r = self.infer("from_files", infer_json([1.0, 2.0, 3.0, 4.0], shape=[1, 4]))
        self.assertInferOk(r, "from_files", "infer the model loaded from files")
        self.assertEqual(outputs_of(r)["OUTPUT__0"][1], [2.0, 3.0, 4.0, 5.0])
        self.assertEqual(self.config_of("from_files").get("name"), "from_files")
        r = http(self.server.port, "POST", "/v2/repository/models/from_files/unload", b"{}")
        self.assertEqual(r.status, 200, "unload: %r" % r)
        self.assertFalse(any(os.path.exists(d) for d in made), "the files' folder is removed")


class ZzAcrossTheRun(edge_test.ZzAcrossTheRun):
    """Runs last: no 500 was answered anywhere, and no server died or exited badly."""


CLASSES = [TritonCompat, ZzAcrossTheRun]


# ---------------------------------------------------------------------------------------
# Runner (as edge_test.main, over this file's classes)

def main():
    return edge_test.run_suite(CLASSES, __doc__.split("\n\n")[0], "mg_triton_")


if __name__ == "__main__":
    sys.exit(main())
