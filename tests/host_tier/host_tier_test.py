#!/usr/bin/python3
"""The host-memory tier end to end: more models than the device holds, served from one
worker with --host-cache, under a Zipf-distributed load from modelgrid perf.

Usage:
  /usr/bin/python3 tests/host_tier/host_tier_test.py [--binary build/modelgrid]
                                                      [--fixtures .fixtures] [-k SUBSTRING]...

One server (--gpus cpu:1x400MiB --host-cache 2GiB, every model loaded) on a temporary
repository of MODELS TorchScript models written here with Debian's torch: model i is a
Linear(WIDTH, WIDTH) with its own seeded weights (42 MB each, about three times the device
in all), so that a worker context (154 MiB) and a handful of them fit on the device and
the rest wait in host memory. Each model's answer is checked against torch's own forward
of the same module; the load is `modelgrid perf --all-models --distribution zipf:1.2`;
the accounting is read back from /v2/modelgrid/status and /metrics.

The last line printed is "N passed, M failed"; the exit status is non-zero when anything
failed.
"""
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "edge"))
import edge_test  # noqa: E402

try:
    import torch
    TORCH_ERROR = None
except ImportError as e:  # reported by every test, loudly
    torch, TORCH_ERROR = None, str(e)

MODELS = 30
WIDTH = 3240  # 3240^2 fp32 weights + bias: 42 MB per model
DEVICE = "cpu:1x400MiB"
DEVICE_BYTES = 400 << 20
HOST_CACHE = 2 << 30
READY_TIMEOUT = 300
MODULE_ALLOWANCE = 1 << 20

CONFIG = """
name: "%s"
platform: "pytorch_libtorch"
max_batch_size: 0
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 1, %d ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 1, %d ] } ]
"""


def model_name(i):
    return "linear_%02d" % i


def make_module(i):
    torch.manual_seed(1000 + i)
    return torch.jit.script(torch.nn.Linear(WIDTH, WIDTH))


def write_models(repo):
    for i in range(MODELS):
        folder = os.path.join(repo, model_name(i))
        os.makedirs(os.path.join(folder, "1"))
        with open(os.path.join(folder, "config.pbtxt"), "w") as f:
            f.write(CONFIG % (model_name(i), WIDTH, WIDTH))
        make_module(i).save(os.path.join(folder, "1", "model.pt"))


class HostTier(edge_test.ServerTest):
    SERVER_NAME = "host_tier"
    SERVER_ARGS = ["--model-control-mode", "explicit", "--load-model", "*",
                   "--host-cache", "2GiB"]

    @classmethod
    def setUpClass(cls):
        cls.server, cls.start_error, cls.skip_reason = None, None, None
        if torch is None:
            cls.start_error = "Debian's torch is missing (/usr/bin/python3): %s" % TORCH_ERROR
            return
        try:
            cls.server = edge_test.Server(cls.SERVER_NAME, list(cls.SERVER_ARGS))
            cls.server.gpus = DEVICE
            shutil.rmtree(os.path.join(cls.server.repo, "add_one"))  # 512 MiB: not this suite's
            write_models(cls.server.repo)
            cls.server.start()
            cls.server.wait_ready([model_name(i) for i in range(MODELS)], READY_TIMEOUT)
            print("\n[host_tier] port %d (started in %.1f s)"
                  % (cls.server.port, cls.server.startup_seconds), flush=True)
        except Exception as e:  # reported by every test of the class
            cls.start_error = "%s did not start: %s" % (cls.SERVER_NAME, e)

    def status(self):
        r = self.get("/v2/modelgrid/status")
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def post_infer(self, i, values):
        raw = struct.pack("<%df" % WIDTH, *values)
        doc = {"inputs": [{"name": "INPUT__0", "shape": [1, WIDTH], "datatype": "FP32",
                           "parameters": {"binary_data_size": len(raw)}}],
               "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": True}}]}
        header = json.dumps(doc).encode()
        return self.post("/v2/models/%s/infer" % model_name(i), body=header + raw,
                         headers=[("Inference-Header-Content-Length", str(len(header))),
                                  ("Content-Type", "application/octet-stream")], timeout=60)

    def infer(self, i, values):
        r = self.post_infer(i, values)
        self.assertEqual(r.status, 200, "%s: %s" % (model_name(i), r.body[:300]))
        length = int(r.header("Inference-Header-Content-Length"))
        out = r.body[length:]
        self.assertEqual(len(out), 4 * WIDTH)
        return struct.unpack("<%df" % WIDTH, out)

    def check_accounting(self):
        """The device never holds more than it has; the parked bytes are the parked models'
        and within the cache; the worker's measured memory is within the device and the
        parked bytes (on a virtual CPU device both tiers are host memory), plus
        MODULE_ALLOWANCE per model: a parked model's TorchScript module object (its code and
        graph, a few hundred KiB here) stays in the worker, in host memory; plus one model's
        weights, as a swap caught by the sampler holds both copies while it copies (on a GPU
        they are in different memories)."""
        s = self.status()
        device = s["devices"][0]
        self.assertLessEqual(device["planned_bytes"], device["capacity_bytes"], device)
        tiers = {m["name"]: m for m in s["models"] if "tier" in m}
        self.assertEqual(len(tiers), MODELS, sorted(tiers))
        parked = sum(m["planned_bytes"] - min(m["transient_bytes"], m["planned_bytes"])
                     for m in tiers.values() if m["tier"] in ("parked", "parking"))
        self.assertEqual(s["host_cache"]["parked_bytes"], parked)
        self.assertLessEqual(parked, HOST_CACHE)
        worker = s["workers"][0]
        if worker["memory_bytes"] is not None:
            largest = max(m["planned_bytes"] for m in tiers.values())
            bound = device["capacity_bytes"] + parked + MODELS * MODULE_ALLOWANCE + largest
            edge_test.memory_check(lambda: self.assertLessEqual(
                worker["memory_bytes"], bound, "worker %s, parked %d" % (worker, parked)),
                "the worker's RSS against its bound")
            print("\n[host_tier] worker RSS %.0f MiB; device %.0f MiB + parked %.0f MiB"
                  % (worker["memory_bytes"] / 2**20, device["capacity_bytes"] / 2**20,
                     parked / 2**20), flush=True)
        return s

    def test_01_every_model_answers_correctly_in_any_order(self):
        rng = random.Random(7)
        order = list(range(MODELS)) * 2
        rng.shuffle(order)
        x = [rng.uniform(-1, 1) for _ in range(WIDTH)]
        want = {}
        with torch.no_grad():
            for i in range(MODELS):
                want[i] = make_module(i)(torch.tensor([x])).numpy()[0].tolist()
        for i in order:
            got = self.infer(i, x)
            worst = max(abs(a - b) for a, b in zip(got, want[i]))
            self.assertLess(worst, 1e-3, "%s differs from torch by %g" % (model_name(i), worst))
        s = self.check_accounting()
        resident = [m["name"] for m in s["models"] if m.get("tier") == "resident"]
        self.assertLess(len(resident), MODELS // 2, resident)  # the device holds a few
        self.assertGreater(sum(m["swap_ins"] for m in s["models"]), MODELS // 2)

    def test_02_a_zipf_load_from_perf_has_no_errors(self):
        run = subprocess.run(
            [edge_test.CONFIG["binary"], "perf", "-u", "http://127.0.0.1:%d" % self.port,
             "--all-models", "--distribution", "zipf:1.2", "--concurrency", "4",
             "--duration", "8", "--warmup", "1", "--binary", "--json", "--timeout-ms", "60000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr.decode(errors="replace"))
        report = json.loads(run.stdout)
        self.assertEqual(report["total_errors"], 0, json.dumps(report["levels"], indent=1)[:3000])
        self.assertGreater(report["total_successes"], 0)
        self.assertEqual(len(report["models"]), MODELS)
        level = report["levels"][0]
        per = {m["name"]: m["successes"] for m in level["models"]}
        print("\n[host_tier] zipf:1.2 over %d models: %d requests, %.1f req/s, p50 %.0f us, "
              "p99 %.0f us; the first model %s requests, the last %s"
              % (MODELS, report["total_successes"], level["requests_per_s"],
                 level["latency_us"]["p50"], level["latency_us"]["p99"],
                 per.get(report["models"][0]), per.get(report["models"][-1])), flush=True)
        self.check_accounting()

    def test_03_metrics_agree_with_status(self):
        s = self.check_accounting()
        r = self.get("/metrics")
        self.assertEqual(r.status, 200)
        text = r.body.decode()
        ins = sum(float(v) for v in re.findall(r"^modelgrid_swap_ins_total\{[^}]*\} (\S+)$",
                                               text, re.M))
        self.assertEqual(ins, sum(m.get("swap_ins", 0) for m in s["models"]))
        parked = re.search(r'^modelgrid_tier_bytes\{tier="parked"\} (\S+)$', text, re.M)
        self.assertIsNotNone(parked, "no modelgrid_tier_bytes")
        counts = re.findall(r'^modelgrid_swap_in_duration_seconds_count\{[^}]*\} (\S+)$',
                            text, re.M)
        self.assertEqual(sum(float(c) for c in counts), ins)
        index = self.post("/v2/repository/index", {}).json()
        tiers = {e["name"]: e.get("tier") for e in index}
        self.assertEqual(set(tiers.values()) - {"resident", "parked"}, set(), tiers)
        for e in index:
            self.assertEqual(e["state"], "READY", e)

    def test_05_a_worker_killed_mid_swap_comes_back_and_serves_every_model(self):
        parked = []
        deadline = time.monotonic() + READY_TIMEOUT
        while len(parked) < MODELS // 2 and time.monotonic() < deadline:  # the tier warms up
            time.sleep(0.2)
            parked = [int(m["name"][-2:]) for m in self.status()["models"]
                      if m.get("tier") == "parked"]
        self.assertGreaterEqual(len(parked), MODELS // 2)
        codes = []
        x = [0.5] * WIDTH

        def ask():  # each request swaps a model in: the kill lands during one of them
            for i in parked[:6]:
                codes.append(self.post_infer(i, x).status)

        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(0.05)
        os.kill(self.server.workers()[0], signal.SIGKILL)
        asking.join(120)
        self.assertFalse(asking.is_alive(), "a request hung")
        self.assertEqual(set(codes) - {200, 503}, set(), codes)
        print("\n[host_tier] requests around the kill: %s" % codes, flush=True)
        # The worker restarts: the resident models reload, the parked ones come back cold
        # (their host copies died with it) and load again on request or when warmed.
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            s = self.status()
            if (s["workers"] and s["workers"][0]["restarts"] == 1 and s["workers"][0]["up"]
                    and all(m["state"] == "READY" for m in s["models"])):
                break
            time.sleep(0.2)
        else:
            self.fail("the models did not come back: %s" % json.dumps(s)[:2000])
        with torch.no_grad():
            for i in range(MODELS):
                want = make_module(i)(torch.tensor([x])).numpy()[0].tolist()
                got = self.infer(i, x)
                worst = max(abs(a - b) for a, b in zip(got, want))
                self.assertLess(worst, 1e-3, model_name(i))
        self.check_accounting()

    def test_04_moves_are_refused_naming_the_option(self):
        r = self.post("/v2/modelgrid/models/%s/move" % model_name(0), {"isolation": "process"})
        self.assertEqual(r.status // 100, 4, r.body)
        self.assertIn(b"--host-cache", r.body)


class ZzAcrossTheRun(edge_test.ZzAcrossTheRun):
    """Runs last: no 500 anywhere, no server died or exited badly."""


CLASSES = [HostTier, ZzAcrossTheRun]


def main():
    return edge_test.run_suite(CLASSES, __doc__.split("\n\n")[0], "mg_host_tier_")


if __name__ == "__main__":
    sys.exit(main())
