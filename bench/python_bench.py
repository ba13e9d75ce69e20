#!/usr/bin/python3
"""The Python backend's cost per request, against the same execute called in-process, in
one run.

Usage (from the repository root, after scripts/build.sh and scripts/make-fixtures.sh):
  /usr/bin/python3 bench/python_bench.py [--binary build/modelgrid] [--fixtures .fixtures]
                                         [--floats 1024] [--requests 2000]

Writes a Python-backend model add_one_py (OUTPUT__0 = INPUT__0 + 1, FP32 [1, N], the same
interface as the TorchScript fixture add_one) and measures, with the same input:
  in-process  this process imports the same model.py with ModelGrid's pb_utils
              (src/backends/python/triton_python_backend_utils.py) and calls execute on a
              request it builds, reading the output back as numpy: the floor
  python      add_one_py served by `modelgrid serve`, one client on a keep-alive HTTP
              connection, binary tensors
  torchscript add_one served by the same server the same way: the same request path with
              the LibTorch backend instead of the Python one
  bls-local   bls_local served: a Python model whose execute is one BLS call into
              add_one_py, in the same shared worker (a call in the caller's thread)
  bls-server  bls_server served: the same model with isolation: process, so its BLS call
              goes through the server (its worker's BLS socket) to add_one_py's worker
Every answer is checked. Prints p50/p99 of each, the Python path's overhead over the
in-process call (served p50 - in-process p50), how it compares with TorchScript's, and
what a BLS call adds to a served request, in the same worker and through the server.
"""
import argparse
import http.client
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shm_bench  # noqa: E402  (its serve(): the same server start)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = """backend: "python"
max_batch_size: 8
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ -1 ] } ]
"""
MODEL = """import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
                    "OUTPUT__0", pb_utils.get_input_tensor_by_name(r, "INPUT__0").as_numpy() + 1)])
                for r in requests]
"""


BLS_MODEL = """import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for r in requests:
            got = pb_utils.InferenceRequest(
                model_name="add_one_py", requested_output_names=["OUTPUT__0"],
                inputs=[pb_utils.get_input_tensor_by_name(r, "INPUT__0")]).exec()
            if got.has_error():
                raise pb_utils.TritonModelException(got.error().message())
            responses.append(pb_utils.InferenceResponse(got.output_tensors()))
        return responses
"""
ISOLATED = 'parameters { key: "isolation" value: { string_value: "process" } }\n'


def write_repo(fixtures, repo):
    shutil.copytree(os.path.join(fixtures, "repo", "add_one"), os.path.join(repo, "add_one"))
    os.makedirs(os.path.join(repo, "add_one_py", "1"))
    with open(os.path.join(repo, "add_one_py", "config.pbtxt"), "w") as f:
        f.write(CONFIG)
    with open(os.path.join(repo, "add_one_py", "1", "model.py"), "w") as f:
        f.write(MODEL)
    for name, extra in (("bls_local", ""), ("bls_server", ISOLATED)):
        os.makedirs(os.path.join(repo, name, "1"))
        with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
            f.write(CONFIG + extra)
        with open(os.path.join(repo, name, "1", "model.py"), "w") as f:
            f.write(BLS_MODEL)


def in_process(repo, x, requests):
    """Seconds per execute of add_one_py called in this process, and its last output."""
    spec = importlib.util.spec_from_file_location(
        "triton_python_backend_utils",
        os.path.join(ROOT, "src", "backends", "python", "triton_python_backend_utils.py"))
    pb_utils = importlib.util.module_from_spec(spec)
    sys.modules["triton_python_backend_utils"] = pb_utils
    spec.loader.exec_module(pb_utils)
    spec = importlib.util.spec_from_file_location(
        "add_one_py", os.path.join(repo, "add_one_py", "1", "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    times, out = [], None
    for _ in range(requests):
        start = time.perf_counter()
        request = pb_utils.InferenceRequest(inputs=[pb_utils.Tensor("INPUT__0", x)])
        response = model.execute([request])[0]
        out = pb_utils.get_output_tensor_by_name(response, "OUTPUT__0").as_numpy()
        times.append(time.perf_counter() - start)
    return times, out


def served(port, model, x, requests):
    """Seconds per binary-tensor request to `model`; checks every answer."""
    raw = x.tobytes()
    header = json.dumps({
        "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": list(x.shape),
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": True}}]}).encode()
    headers = {"Inference-Header-Content-Length": str(len(header)),
               "Content-Type": "application/octet-stream"}
    want = (x + 1).tobytes()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("POST", "/v2/models/%s/infer" % model, body=header + raw, headers=headers)
        r = conn.getresponse()
        body = r.read()
        times.append(time.perf_counter() - start)
        n = int(r.getheader("Inference-Header-Content-Length", "0"))
        if r.status != 200 or body[n:] != want:
            sys.exit("%s answered %d: %r" % (model, r.status, body[:200]))
    conn.close()
    return times


def us(seconds):
    return seconds * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "modelgrid"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, ".fixtures"))
    ap.add_argument("--floats", type=int, default=1024)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    x = np.arange(args.floats, dtype=np.float32).reshape(1, args.floats) / 7
    tmp = tempfile.mkdtemp(prefix="mg_python_bench_")
    repo = os.path.join(tmp, "repo")
    write_repo(args.fixtures, repo)
    proc, port = shm_bench.serve(args.binary, repo, tmp)
    try:
        rows = {}
        local, out = in_process(repo, x, args.requests)
        if out.tobytes() != (x + 1).tobytes():
            sys.exit("in-process execute gave a wrong answer")
        rows["in-process execute"] = local
        for model in ("add_one_py", "add_one", "bls_local", "bls_server"):
            served(port, model, x, min(200, args.requests))  # warm up the path
        rows["python (served)"] = served(port, "add_one_py", x, args.requests)
        rows["torchscript (served)"] = served(port, "add_one", x, args.requests)
        rows["bls-local (served)"] = served(port, "bls_local", x, args.requests)
        rows["bls-server (served)"] = served(port, "bls_server", x, args.requests)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    p50 = {k: statistics.median(v) for k, v in rows.items()}
    print("add_one, FP32 [1, %d], %d requests each, one client (HTTP binary, keep-alive)"
          % (args.floats, args.requests))
    for name, times in rows.items():
        times = sorted(times)
        print("  %-22s p50 %8.1f us   p99 %8.1f us" %
              (name, us(p50[name]), us(times[int(len(times) * 0.99) - 1])))
    overhead = p50["python (served)"] - p50["in-process execute"]
    print("python path overhead over in-process execute: %.1f us at p50 (served/in-process "
          "%.1fx)" % (us(overhead), p50["python (served)"] / p50["in-process execute"]))
    print("python served / torchscript served at p50: %.2fx (%.1f us more per request)" %
          (p50["python (served)"] / p50["torchscript (served)"],
           us(p50["python (served)"] - p50["torchscript (served)"])))
    for row, where in (("bls-local (served)", "in the same worker"),
                       ("bls-server (served)", "through the server")):
        print("a BLS call %s adds %.1f us at p50 (%.2fx the python request alone)" %
              (where, us(p50[row] - p50["python (served)"]), p50[row] / p50["python (served)"]))


if __name__ == "__main__":
    sys.exit(main())
