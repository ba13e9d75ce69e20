#!/usr/bin/python3
"""ModelMesh suite: `modelgrid serve --modelmesh` as a KServe ModelMesh serving runtime.

Usage:
  /usr/bin/python3 tests/modelmesh/modelmesh_test.py [--binary build/modelgrid]
                                                     [--fixtures .fixtures] [-k SUBSTRING]...

Plays ModelMesh's side of its model-runtime SPI (mmesh.ModelRuntime, proto/model_runtime.proto)
against real servers over gRPC, in the order ModelMesh calls it, and routes inference by
model id as ModelMesh does (inference.GRPCInferenceService/ModelInfer with model_name = the
id). Reuses the gRPC suite's infrastructure (tests/grpc/grpc_test.py): servers, clients,
message modules (generated with protoc from proto/ at start) and the across-the-run check
(no INTERNAL/UNKNOWN status, no 500, no server death).

  MeshContract    one pod (a virtual 1500 MiB device): runtimeStatus and its purge,
                  predictModelSize for every fixture model against the size its loadModel
                  reports, inference by model id, unload then NOT_FOUND, unknown unloads,
                  concurrent loads, a cancelled load followed by unload, the source layouts
                  (Triton folder, flat folder, bare file) and bad sources
  MeshAdmission   a pod too small for resnet18, with --api-key: RESOURCE_EXHAUSTED with the
                  loaded model serving on and nothing left allocated; UNAUTHENTICATED
  MeshThreePods   three pods on loopback and a driver that places a model mix across them
                  by predicted size, as ModelMesh would: no pod's capacity is exceeded (by
                  the sizes reported, and by the server's own device accounting), and every
                  model answers correctly

Needs the fixture repository (scripts/make-fixtures.sh), Python's grpc and protobuf modules
and protoc. The last line printed is "N passed, M failed"; the exit status is non-zero when
anything failed.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grpc"))
import grpc_test  # noqa: E402
from grpc_test import edge_test  # noqa: E402

grpc = grpc_test.grpc
MIB = 1 << 20
SPI = "mmesh.ModelRuntime"
LOAD_TIMEOUT = 180.0
# The fixture models every pod can serve: (fixture folder under FIXTURES/repo, model type).
FIXTURE_MODELS = [("add_one", "pytorch"), ("two_in_two_out", "pytorch"),
                  ("transformer", "pytorch"), ("tiny_cnn", "pytorch"), ("resnet18", "pytorch")]
PYTHON_MODEL = os.path.join(edge_test.REPO_ROOT, "examples", "python", "text_sentiment")

mr = None  # model_runtime_pb2, set by main()


def generate_runtime_messages():
    """protoc's Python module for proto/model_runtime.proto; an error string or None."""
    global mr
    protoc = "/usr/bin/protoc" if os.access("/usr/bin/protoc", os.X_OK) else shutil.which("protoc")
    if protoc is None:
        return "protoc is missing (Debian: protobuf-compiler)"
    out = tempfile.mkdtemp(prefix="mg_mesh_proto_")
    proto = os.path.join(edge_test.REPO_ROOT, "proto")
    subprocess.run([protoc, "-I", proto, "--python_out=" + out,
                    os.path.join(proto, "model_runtime.proto")], check=True)
    sys.path.insert(0, out)
    import model_runtime_pb2
    mr = model_runtime_pb2
    return None


def spi(client, method, timeout=grpc_test.RPC_TIMEOUT, metadata=grpc_test.DEFAULT, **fields):
    """Calls mmesh.ModelRuntime/<method> with a request made of `fields` on `client`'s
    channel; INTERNAL and UNKNOWN are recorded for the across-the-run check."""
    base = method[0].upper() + method[1:]
    request_type = getattr(mr, base + "Request")
    response_type = getattr(mr, base + "Response")
    fn = client.channel.unary_unary("/%s/%s" % (SPI, method),
                                    request_serializer=request_type.SerializeToString,
                                    response_deserializer=response_type.FromString)
    try:
        return fn(request_type(**fields), metadata=client._metadata(metadata), timeout=timeout)
    except grpc.RpcError as e:
        if e.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            edge_test.INTERNAL_ERRORS.append("%s: %s -> %s: %s" % (
                edge_test.CURRENT_TEST[0], method, e.code().name, e.details()))
        raise


def fixture(name):
    return os.path.join(grpc_test.CONFIG["fixtures"], "repo", name)


def fp32_request(model, values, shape):
    """A ModelInferRequest of one FP32 input INPUT__0 in raw contents."""
    request = grpc_test.pb.ModelInferRequest(model_name=model)
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "INPUT__0", "FP32"
    tensor.shape.extend(shape)
    request.raw_input_contents.append(struct.pack("<%df" % len(values), *values))
    return request


class MeshTest(grpc_test.GrpcServerTest):
    """A GrpcServerTest whose server is a ModelMesh runtime (no model loaded at start)."""

    MODELS = ()
    SERVER_ARGS = ["--modelmesh"]

    def spi(self, method, **kw):
        return spi(self.client, method, **kw)

    def load(self, model_id, path, model_type="pytorch", **kw):
        return self.spi("loadModel", modelId=model_id, modelType=model_type, modelPath=path,
                        timeout=LOAD_TIMEOUT, **kw).sizeInBytes

    def predict(self, model_id, path, model_type="pytorch"):
        started = time.monotonic()
        size = self.spi("predictModelSize", modelId=model_id, modelType=model_type,
                        modelPath=path).sizeInBytes
        return size, time.monotonic() - started

    def unload(self, model_id):
        self.spi("unloadModel", modelId=model_id, timeout=LOAD_TIMEOUT)

    def assertAddOneServes(self, model_id, what=""):
        values = [1.5, -2.0, 7.25]
        response = self.client.ModelInfer(request=fp32_request(model_id, values, [1, 3]))
        self.assertEqual(response.model_name, model_id, what)
        self.assertEqual(grpc_test.fp32s(response.raw_output_contents[0]),
                         [v + 1 for v in values], what)

    def assertNotLoaded(self, model_id, what=""):
        """ModelMesh's view (NOT_FOUND on inference and modelSize) and the server's own (no
        such model in /v2/modelgrid/status, nothing READY in the index)."""
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.ModelInfer,
                          request=fp32_request(model_id, [1.0], [1, 1]), what=what + " infer")
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.spi, "modelSize", modelId=model_id,
                          what=what + " modelSize")
        status = self.get_json("/v2/modelgrid/status")
        self.assertNotIn(model_id, [m["name"] for m in status["models"]], what)
        index = self.post_json("/v2/repository/index", {"ready": True})
        self.assertNotIn(model_id, [m["name"] for m in index], what)

    def model_status(self, model_id):
        for m in self.get_json("/v2/modelgrid/status")["models"]:
            if m["name"] == model_id:
                return m
        self.fail("%s is not in /v2/modelgrid/status" % model_id)


class MeshContract(MeshTest):
    SERVER_NAME = "mesh_contract"
    GPUS = "cpu:1x1500MiB"

    def test_runtime_status_reports_the_pod(self):
        status = self.spi("runtimeStatus")
        self.assertEqual(status.status, mr.RuntimeStatusResponse.READY)
        device = self.get_json("/v2/modelgrid/status")["devices"][0]
        # The device's memory less one worker context: positive, under the device.
        self.assertGreater(status.capacityInBytes, 0)
        self.assertLess(status.capacityInBytes, device["capacity_bytes"])
        self.assertGreaterEqual(status.maxLoadingConcurrency, 1)
        self.assertGreater(status.modelLoadingTimeoutMs, 0)
        self.assertGreater(status.defaultModelSizeInBytes, 0)
        self.assertLessEqual(status.defaultModelSizeInBytes, status.capacityInBytes)
        self.assertTrue(status.runtimeVersion.startswith("modelgrid-"), status.runtimeVersion)
        infer = status.methodInfos["inference.GRPCInferenceService/ModelInfer"]
        self.assertEqual(list(infer.idInjectionPath), [1])  # ModelInferRequest.model_name

    def test_runtime_status_purges_loaded_models(self):
        self.load("purged", fixture("add_one"))
        self.assertAddOneServes("purged")
        status = self.spi("runtimeStatus")
        self.assertEqual(status.status, mr.RuntimeStatusResponse.READY)
        self.assertNotLoaded("purged", "after runtimeStatus")

    def test_predictions_are_conservative_against_loads(self):
        models = [(name, fixture(name), kind) for name, kind in FIXTURE_MODELS]
        models.append(("text_sentiment", PYTHON_MODEL, "python"))
        rows, under = [], []
        for name, path, kind in models:
            model_id = "pred-" + name
            predicted, seconds = self.predict(model_id, path, kind)
            again, seconds_again = self.predict(model_id, path, kind)  # remembered
            self.assertEqual(again, predicted, name)
            size = self.load(model_id, path, kind)
            measured = self.model_status(model_id)["measured_bytes"] or 0
            self.assertEqual(self.spi("modelSize", modelId=model_id).sizeInBytes, size, name)
            rows.append("  %-15s predicted %7.1f MiB in %4.0f ms (again: %3.0f ms), loadModel "
                        "size %7.1f MiB, warm-up measured %7.1f MiB" % (
                            name, predicted / MIB, seconds * 1000, seconds_again * 1000,
                            size / MIB, measured / MIB))
            self.assertGreater(size, 0, name)
            edge_test.memory_check(lambda: self.assertGreaterEqual(
                predicted, 0.8 * size, "%s: prediction under 0.8x" % name),
                "%s's prediction against its loaded size" % name)
            self.assertLessEqual(predicted, 3 * size, "%s: prediction over 3x" % name)
            self.assertGreaterEqual(size, measured, "%s: size under the measurement" % name)
            if predicted < size:
                under.append(name)
            self.unload(model_id)
        print("\n[mesh] predictModelSize against loadModel:\n" + "\n".join(rows), flush=True)
        # ModelMesh's rule: conservative for at least 9 models in 10.
        edge_test.memory_check(lambda: self.assertLessEqual(
            len(under), len(models) // 10, "under-predicted: %s" % under),
            "how many predictions were under the loaded size")

    def test_load_infer_unload_then_not_found(self):
        size = self.load("mm-add-one", fixture("add_one"))
        self.assertGreater(size, 0)
        self.assertAddOneServes("mm-add-one")
        self.assertTrue(self.client.ModelReady(name="mm-add-one").ready)
        # The same model over HTTP, by its ModelMesh id.
        r = edge_test.http(self.port, "POST", "/v2/models/mm-add-one/infer",
                           b'{"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[1,2],'
                           b'"data":[1,2]}]}')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["outputs"][0]["data"], [2, 3])
        self.assertEqual(self.spi("modelSize", modelId="mm-add-one").sizeInBytes, size)
        # Without an injected model_name, ModelMesh's mm-model-id header names the model.
        response = self.client.ModelInfer(request=fp32_request("", [4.0], [1, 1]),
                                          metadata=[("mm-model-id", "mm-add-one")])
        self.assertEqual(grpc_test.fp32s(response.raw_output_contents[0]), [5.0])
        self.unload("mm-add-one")
        self.assertNotLoaded("mm-add-one", "after unloadModel")
        self.unload("mm-add-one")  # again: idempotent

    def test_unload_of_unknown_ids_is_ok(self):
        self.unload("never-loaded")
        self.unload("../not-even-a-name")

    def test_loading_an_id_again_reports_the_same_size(self):
        first = self.load("twice", fixture("add_one"))
        second = self.load("twice", fixture("add_one"))
        self.assertEqual(first, second)
        self.assertAddOneServes("twice")
        self.unload("twice")

    def test_source_layouts(self):
        work = tempfile.mkdtemp(dir=self.server.dir)
        # A folder with the model file itself (no version folder) and its config.
        flat = os.path.join(work, "flat")
        os.makedirs(flat)
        shutil.copy(os.path.join(fixture("add_one"), "config.pbtxt"), flat)
        shutil.copy(os.path.join(fixture("add_one"), "1", "model.pt"), flat)
        # A bare file of another name, with a config beside it.
        bare = os.path.join(work, "bare")
        os.makedirs(bare)
        shutil.copy(os.path.join(fixture("add_one"), "config.pbtxt"), bare)
        shutil.copy(os.path.join(fixture("add_one"), "1", "model.pt"),
                    os.path.join(bare, "weights.pt"))
        sources = {"layout-triton": fixture("add_one"), "layout-flat": flat,
                   "layout-bare": os.path.join(bare, "weights.pt")}
        for model_id, path in sources.items():
            predicted, _ = self.predict(model_id, path)
            size = self.load(model_id, path)
            self.assertGreaterEqual(predicted, 0.8 * size, model_id)
            self.assertAddOneServes(model_id, model_id)
        # The type may come from ModelMesh's modelKey instead of modelType.
        self.spi("loadModel", modelId="layout-key", modelPath=flat, timeout=LOAD_TIMEOUT,
                 modelKey='{"storage_key": "s3", "model_type": {"name": "pytorch"}}')
        self.assertAddOneServes("layout-key")
        for model_id in list(sources) + ["layout-key"]:
            self.unload(model_id)
            self.assertNotLoaded(model_id)

    def test_bad_sources_attempt_no_load(self):
        codes = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
        work = tempfile.mkdtemp(dir=self.server.dir)
        no_config = os.path.join(work, "model.pt")
        shutil.copy(os.path.join(fixture("add_one"), "1", "model.pt"), no_config)
        empty = os.path.join(work, "empty")  # a config, but no model file
        os.makedirs(empty)
        shutil.copy(os.path.join(fixture("add_one"), "config.pbtxt"), empty)
        cases = [
            ("bad-path", dict(modelPath=os.path.join(work, "missing")), ["missing|no such"]),
            ("bad-type", dict(modelPath=fixture("add_one"), modelType="onnx"), ["onnx"]),
            ("bad-type-python", dict(modelPath=fixture("add_one"), modelType="python"),
             ["python"]),
            ("no-config", dict(modelPath=no_config), ["config.pbtxt"]),
            ("empty-folder", dict(modelPath=empty), ["model.pt"]),
            ("../escape", dict(modelPath=fixture("add_one")), ["modelId"]),
            ("", dict(modelPath=fixture("add_one")), ["modelId"]),
        ]
        for model_id, fields, patterns in cases:
            fields.setdefault("modelType", "pytorch")
            for method in ("predictModelSize", "loadModel"):
                self.assertStatus(codes, self.spi, method, modelId=model_id, patterns=patterns,
                                  what="%s %s" % (method, model_id), **fields)
        names = [m["name"] for m in self.get_json("/v2/modelgrid/status")["models"]]
        for model_id, _, _ in cases:
            self.assertNotIn(model_id, names)

    def test_concurrent_loads(self):
        status = self.spi("runtimeStatus")  # purges: this test owns the pod
        count = status.maxLoadingConcurrency + 2  # beyond the limit: they queue
        errors, sizes = [], {}

        def load(model_id):
            try:
                sizes[model_id] = self.load(model_id, fixture("add_one"))
            except grpc.RpcError as e:
                errors.append("%s: %s %s" % (model_id, e.code().name, e.details()))

        threads = [threading.Thread(target=load, args=("conc-%d" % i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LOAD_TIMEOUT)
        self.assertEqual(errors, [])
        self.assertEqual(len(sizes), count)
        for model_id in sizes:
            self.assertAddOneServes(model_id)
        for model_id in sizes:
            self.unload(model_id)
            self.assertNotLoaded(model_id)

    def test_cancelled_load_then_unload_leaves_nothing(self):
        try:
            self.spi("loadModel", modelId="cancelled", modelType="pytorch",
                     modelPath=fixture("resnet18"), timeout=0.05)
        except grpc.RpcError as e:  # the usual outcome: the load outlives the deadline
            self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED, e.details())
        # ModelMesh's next call after a cancelled load.
        self.unload("cancelled")
        self.assertNotLoaded("cancelled", "after the cancelled load and unload")
        workers = self.get_json("/v2/modelgrid/status")["workers"]
        self.assertFalse([w for w in workers if "cancelled" in repr(w)], workers)


class MeshAdmission(MeshTest):
    SERVER_NAME = "mesh_admission"
    GPUS = "cpu:1x200MiB"  # room for add_one, not for resnet18
    KEY = "mesh-secret"
    SERVER_ARGS = ["--modelmesh", "--api-key", KEY]

    def test_a_load_that_cannot_fit_is_resource_exhausted(self):
        self.load("small", fixture("add_one"))
        before = self.get_json("/v2/modelgrid/status")
        self.assertStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, self.load, "big",
                          fixture("resnet18"), patterns=["big|resnet|fit|MiB"])
        after = self.get_json("/v2/modelgrid/status")
        # The refused load is listed as UNAVAILABLE with its reason until ModelMesh
        # unloads it; nothing of it runs.
        states = {m["name"]: m["state"] for m in after["models"]}
        self.assertEqual(states, {"small": "READY", "big": "UNAVAILABLE"})
        self.assertEqual(len(after["workers"]), len(before["workers"]))
        self.assertEqual(after["devices"][0]["planned_bytes"],
                         before["devices"][0]["planned_bytes"])
        self.assertAddOneServes("small", "after the refused load")
        self.unload("big")  # ModelMesh unloads a failed load: OK, and its record goes
        self.assertNotLoaded("big")
        self.unload("small")

    def test_the_spi_needs_the_key(self):
        for method, fields in (("runtimeStatus", {}), ("modelSize", {"modelId": "x"}),
                               ("unloadModel", {"modelId": "x"}),
                               ("predictModelSize", {"modelId": "x", "modelPath": "/"})):
            self.assertStatus(grpc.StatusCode.UNAUTHENTICATED, self.spi, method, metadata=[],
                              what=method, **fields)


class MeshThreePods(edge_test.ServerTest):
    """Three `serve --modelmesh` pods and a driver that places models by predicted size."""

    SERVER_NAME = "mesh_pod0"
    PODS = 3
    GPUS = "cpu:1x700MiB"
    # (model id, source, type, replicas of it): about twice one pod's capacity in all.
    MIX = [("resnet18", "resnet18", "pytorch", 3), ("add_one", "add_one", "pytorch", 6),
           ("transformer", "transformer", "pytorch", 3), ("tiny_cnn", "tiny_cnn", "pytorch", 1),
           ("two_in_two_out", "two_in_two_out", "pytorch", 2),
           ("text_sentiment", PYTHON_MODEL, "python", 2)]

    @classmethod
    def setUpClass(cls):
        cls.server, cls.start_error, cls.skip_reason, cls.pods = None, None, None, []
        try:
            for i in range(cls.PODS):
                pod = grpc_test.GrpcServer("mesh_pod%d" % i, ["--modelmesh"])
                pod.gpus = cls.GPUS
                pod.start()
                pod.client = grpc_test.Client(pod.grpc_port)
                cls.pods.append(pod)
            cls.server = cls.pods[0]
        except Exception as e:
            cls.start_error = "the pods did not start: %s" % e

    @classmethod
    def tearDownClass(cls):
        for pod in cls.pods:
            pod.client.close()
            pod.stop()

    def infer_checks(self, pod, model_id, source):
        """Inference by model id on `pod`, checked against what the model computes."""
        if source == "add_one":
            values = [3.0, 4.5]
            r = pod.client.ModelInfer(request=fp32_request(model_id, values, [1, 2]))
            self.assertEqual(grpc_test.fp32s(r.raw_output_contents[0]), [4.0, 5.5], model_id)
            return
        body = {"inputs": []}
        metadata = edge_test.http(pod.port, "GET", "/v2/models/" + model_id).json()
        for tensor in metadata["inputs"]:
            shape = [1 if d < 0 else d for d in tensor["shape"]]
            count = 1
            for d in shape:
                count *= d
            if tensor["datatype"] == "BYTES":
                data = ["a fine day"] * count
            elif tensor["datatype"].startswith("FP"):
                data = [0.5] * count
            else:
                data = [1] * count
            body["inputs"].append({"name": tensor["name"], "datatype": tensor["datatype"],
                                   "shape": shape, "data": data})
        r = edge_test.http(pod.port, "POST", "/v2/models/%s/infer" % model_id,
                           json.dumps(body).encode())
        self.assertEqual(r.status, 200, "%s: %r" % (model_id, r))
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        self.assertEqual(sorted(outputs), sorted(o["name"] for o in metadata["outputs"]), model_id)

    def test_a_driver_places_a_mix_across_three_pods(self):
        capacity, used, placed = [], [0] * self.PODS, []
        for pod in self.pods:
            status = spi(pod.client, "runtimeStatus")
            self.assertEqual(status.status, mr.RuntimeStatusResponse.READY)
            capacity.append(status.capacityInBytes)
        models = []
        for name, source, kind, copies in self.MIX:
            path = source if os.path.isabs(source) else fixture(source)
            for k in range(copies):
                model_id = "%s-%d" % (name, k)
                predicted = spi(self.pods[0].client, "predictModelSize", modelId=model_id,
                                modelType=kind, modelPath=path).sizeInBytes
                models.append((predicted, model_id, path, kind, source))
        # ModelMesh's rule of thumb: largest first, onto the pod with the most room left that
        # the prediction fits.
        models.sort(reverse=True)
        unplaced = []
        for predicted, model_id, path, kind, source in models:
            room = [capacity[i] - used[i] for i in range(self.PODS)]
            i = max(range(self.PODS), key=lambda j: room[j])
            if predicted > room[i]:
                unplaced.append(model_id)
                continue
            size = spi(self.pods[i].client, "loadModel", modelId=model_id, modelType=kind,
                       modelPath=path, timeout=LOAD_TIMEOUT).sizeInBytes
            used[i] += size
            edge_test.memory_check(lambda: self.assertLessEqual(
                used[i], capacity[i], "pod %d over capacity after %s" % (i, model_id)),
                "pod %d's capacity after %s" % (i, model_id))
            placed.append((i, model_id, source))
        lines = ["  pod %d: %d models, %.0f of %.0f MiB" % (
            i, sum(1 for p, _, _ in placed if p == i), used[i] / MIB, capacity[i] / MIB)
            for i in range(self.PODS)]
        print("\n[mesh] placed %d of %d models:\n%s\n  not placed (no pod has room): %s" % (
            len(placed), len(models), "\n".join(lines), unplaced or "none"), flush=True)
        edge_test.memory_check(
            lambda: self.assertGreaterEqual(len(placed), len(models) * 3 // 4),
            "that three models in four found room")
        for i, pod in enumerate(self.pods):
            # The pod's own accounting agrees: what it planned and what it measured fit
            # the device.
            status = edge_test.http(pod.port, "GET", "/v2/modelgrid/status").json()
            device = status["devices"][0]
            self.assertLessEqual(device["planned_bytes"], device["capacity_bytes"], "pod %d" % i)
            measured = sum(m["measured_bytes"] or 0 for m in status["models"])
            edge_test.memory_check(
                lambda: self.assertLessEqual(measured, capacity[i], "pod %d measured" % i),
                "pod %d's measured bytes against its capacity" % i)
        for i, model_id, source in placed:
            self.infer_checks(self.pods[i], model_id, source)


CLASSES = [MeshContract, MeshAdmission, MeshThreePods, grpc_test.ZzAcrossTheRun]


def main():
    missing = grpc_test.GRPC_IMPORT_ERROR or grpc_test.generate_messages()
    serves = grpc_test.binary_serves_grpc()
    banner = "!" * 78
    if missing or not serves:
        why = missing or ("the modelgrid binary serves no gRPC (built without libgrpc++-dev), "
                          "so it cannot be a ModelMesh runtime")
        if serves is False and not missing:
            print("%s\nSKIPPED the ModelMesh suite: %s\n%s" % (banner, why, banner))
            print("0 passed, 0 failed, 1 skipped")
            return 0
        print("%s\nerror: %s\n%s" % (banner, why, banner))
        print("0 passed, 1 failed")
        return 1
    generate_runtime_messages()
    return edge_test.run_suite(CLASSES, __doc__.split("\n\n")[0], "mg_mesh_")


if __name__ == "__main__":
    sys.exit(main())
