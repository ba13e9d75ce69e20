#!/usr/bin/env python3
"""The density experiment: how many models fit on one device, conventional vs ModelGrid.

Loads copies of a model mix round-robin until the next one would not fit, under two
deployments, and reports models deployed, memory in use (measured), and latency under a
steady load across all deployed models against each model served alone:

  conventional  one worker process per model (isolation: process), each paying its own
                CUDA context (on the CPU: its own LibTorch process, 154 MiB);
  modelgrid     models share one worker per device, placed by the planner.

Real run (serves the models; on the CPU here, on a GPU with --gpus auto):
  scripts/density.py --gpus cpu:1x4GiB [--mix tiny_cnn,transformer,two_in_two_out]
                     [--repo .fixtures/repo] [--rate 20] [--duration 5] [--json FILE]

Dry run for a virtual GPU (estimates and the planner only, nothing is served):
  scripts/density.py --dry-run --gpus H200 [--batch 8] [--dtype fp16]

Needs build/modelgrid (scripts/build.sh) and the fixtures (scripts/make-fixtures.sh).
Runs with any Python 3 (standard library only).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MG = os.path.join(ROOT, "build", "modelgrid")
MIB = 1 << 20

# The eight architectures measured on the H200 (data/), as fixture files.
DRY_RUN_MIX = ["hf/bert_base", "hf/distilbert", "hf/gpt2", "hf/gpt2_medium",
               "cv/resnet18.onnx", "cv/resnet50.onnx", "cv/mobilenet_v3_large.onnx",
               "cv/vit_b_16.onnx"]


def log(msg):
    print("[density] " + msg, file=sys.stderr, flush=True)


def http(url, method="GET", body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"error": text.decode(errors="replace")}


# ---------------------------------------------------------------------------------------
# Real run


def make_repo(dest, source_repo, mix, count, deployment):
    """Copies the mix round-robin as <arch>-<i>; conventional models get their own worker."""
    os.makedirs(dest)
    names = []
    for i in range(count):
        arch = mix[i % len(mix)]
        name = "%s-%04d" % (arch, i // len(mix))
        shutil.copytree(os.path.join(source_repo, arch), os.path.join(dest, name))
        path = os.path.join(dest, name, "config.pbtxt")
        with open(path) as f:
            config = f.read()
        config = re.sub(r'name: "%s"' % re.escape(arch), 'name: "%s"' % name, config, count=1)
        config = re.sub(r'parameters \{ key: "isolation"[^\n]*\n', "", config)
        isolation = "process" if deployment == "conventional" else "shared"
        config += 'parameters { key: "isolation" value: { string_value: "%s" } }\n' % isolation
        with open(path, "w") as f:
            f.write(config)
        names.append(name)
    return names


class Server:
    def __init__(self, repo, gpus, workdir):
        self.log_path = os.path.join(workdir, "serve.log")
        self.proc = subprocess.Popen(
            [MG, "serve", repo, "--port", "0", "--grpc-port", "0", "--gpus", gpus, "--model-control-mode",
             "explicit", "--footprints", os.path.join(workdir, "footprints.json"),
             "--strategy", "memory-optimized"],
            stdout=subprocess.PIPE, stderr=open(self.log_path, "w"), text=True)
        deadline = time.time() + 120
        self.url = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"serving KServe v2 on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise SystemExit("modelgrid serve did not start; see " + self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def perf(url, models, rate, duration):
    """p50/p99 (microseconds) per model and overall from `modelgrid perf`."""
    cmd = [MG, "perf", "--url", url, "-m", ",".join(models), "--request-rate", str(rate),
           "--duration", str(duration), "--warmup", "1", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("modelgrid perf failed: " + out.stderr.strip()[-2000:])
    doc = json.loads(out.stdout)
    level = doc["levels"][0]
    return level


def measure(deployment, args, workdir):
    repo = os.path.join(workdir, deployment, "repo")
    names = make_repo(repo, args.repo, args.mix, args.max_models, deployment)
    server = Server(repo, args.gpus, os.path.join(workdir, deployment))
    try:
        loaded, stop_reason = [], "all %d requested models fit" % len(names)
        t0 = time.time()
        for name in names:
            code, body = http(server.url + "/v2/repository/models/%s/load" % name, "POST", {})
            if code == 200:
                loaded.append(name)
                if len(loaded) % 25 == 0:
                    log("%s: %d models loaded" % (deployment, len(loaded)))
                continue
            stop_reason = "%s: %s" % (name, body.get("error", code) if isinstance(body, dict) else code)
            break
        load_s = time.time() - t0
        _, status = http(server.url + "/v2/modelgrid/status")
        device = status["devices"][0]
        used = sum(w["memory_bytes"] or 0 for w in status["workers"])
        result = {
            "deployment": deployment,
            "models": len(loaded),
            "workers": len(status["workers"]),
            "capacity_bytes": device["capacity_bytes"],
            "planned_bytes": device["planned_bytes"],
            "measured_bytes": used,
            "measured_utilisation": used / device["capacity_bytes"],
            "planned_utilisation": device["planned_bytes"] / device["capacity_bytes"],
            "stopped_because": stop_reason,
            "load_seconds": round(load_s, 1),
        }
        log("%s: %d models, %d workers, measured %.0f MiB of %.0f MiB" % (
            deployment, len(loaded), result["workers"], used / MIB,
            device["capacity_bytes"] / MIB))
        if loaded and args.rate > 0:
            # Steady load spread over every deployed model; then, per architecture, one of
            # its models alone receiving that architecture's share of the same load.
            mixed = perf(server.url, loaded, args.rate, args.duration)
            result["mixed"] = summarize(mixed)
            alone = {}
            per_arch_rate = args.rate / len(args.mix)
            for arch in args.mix:
                sample = next((n for n in loaded if n.startswith(arch + "-")), None)
                if sample:
                    alone[arch] = summarize(perf(server.url, [sample], per_arch_rate, args.duration))
            result["alone"] = alone
            result["per_arch_rate"] = per_arch_rate
            result["per_arch_mixed"] = per_arch(mixed, args.mix)
        return result
    finally:
        server.stop()


def summarize(level):
    """The figures of one `modelgrid perf --json` level (or one model within it)."""
    lat = level["latency_us"]
    return {"p50_us": lat["p50"], "p99_us": lat["p99"],
            "throughput": level["throughput_infer_per_s"],
            "successes": level["successes"], "errors": level["errors"]}


def per_arch(level, mix):
    """Latency of each architecture's requests within the mixed run: the p99 over all its
    models' requests is not in the report, so this takes the request-weighted mean of the
    per-model p99s (and the worst one)."""
    out = {}
    for model in level["models"]:
        arch = model["name"].rsplit("-", 1)[0]
        if arch in mix and model["successes"] > 0:
            out.setdefault(arch, []).append((model["latency_us"]["p99"], model["successes"]))
    result = {}
    for arch, rows in out.items():
        total = sum(n for _, n in rows)
        result[arch] = {"mean_p99_us": sum(p * n for p, n in rows) / total,
                        "worst_p99_us": max(p for p, _ in rows), "models": len(rows)}
    return result


def print_real(results, args):
    print("density experiment on %s, mix %s, %s req/s in total for %s s" % (
        args.gpus, ",".join(args.mix), args.rate, args.duration))
    print("%-13s %7s %8s %14s %14s %10s %10s" % (
        "deployment", "models", "workers", "measured use", "planned use", "p50 (ms)", "p99 (ms)"))
    for r in results:
        mixed = r.get("mixed", {})
        print("%-13s %7d %8d %13.1f%% %13.1f%% %10s %10s" % (
            r["deployment"], r["models"], r["workers"], 100 * r["measured_utilisation"],
            100 * r["planned_utilisation"], fmt_ms(mixed.get("p50_us")),
            fmt_ms(mixed.get("p99_us"))))
    conv, grid = results
    if conv["models"]:
        print("ModelGrid deploys %.2fx the conventional model count" % (grid["models"] / conv["models"]))
    for r in results:
        if "alone" not in r:
            continue
        print("%s: p99 per architecture, all models under load vs one model alone:" % r["deployment"])
        for arch, alone in r["alone"].items():
            mixed = r["per_arch_mixed"].get(arch, {}).get("mean_p99_us")
            ratio = mixed / alone["p99_us"] if mixed and alone.get("p99_us") else None
            print("  %-16s %10s vs %10s  (%s)" % (arch, fmt_ms(mixed), fmt_ms(alone.get("p99_us")),
                                                 "%.2fx" % ratio if ratio else "n/a"))
    for r in results:
        print("%s stopped: %s" % (r["deployment"], r["stopped_because"]))


def fmt_ms(us):
    return "-" if us is None else "%.2f" % (us / 1000.0)


# ---------------------------------------------------------------------------------------
# Dry run: estimates and the planner on a virtual GPU


def gpu_capacity(spec):
    """The capacity of a virtual GPU spec, as the planner sees it."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as probe:
        json.dump({"models": [{"name": "probe", "memory_bytes": 1}]}, probe)
        probe.flush()
        out = subprocess.run([MG, "plan", "--models", probe.name, "--gpus", spec, "--json"],
                             capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("--gpus %s: %s" % (spec, out.stderr.strip()))
    return json.loads(out.stdout)["gpus"][0]["capacity_bytes"]


def dry_run(args):
    """Conventional: whole footprints plus a context each, added up in load order. ModelGrid:
    the planner itself (`modelgrid plan --strategy fill-first` on a manifest in load order),
    so a shared worker counts its models' resident bytes plus their largest transient once;
    the count is the models placed before the first unplaced one, as loads stop at the first
    refusal. $MODELGRID_BIN overrides the binary (default build/modelgrid)."""
    mg = os.environ.get("MODELGRID_BIN", MG)
    fixtures = os.path.join(ROOT, ".fixtures")
    footprint, weights = {}, {}
    for path in DRY_RUN_MIX:
        full = os.path.join(fixtures, path)
        if not os.path.exists(full):
            raise SystemExit("missing fixture %s: run scripts/make-fixtures.sh" % full)
        out = subprocess.run([mg, "estimate", full, "--batch", str(args.batch), "--dtype",
                              args.dtype, "--gpu", args.gpus, "--json"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit("estimate %s failed: %s" % (path, out.stderr.strip()))
        est = json.loads(out.stdout)
        arch = os.path.basename(path).split(".")[0]
        context = est["context_bytes"]
        footprint[arch] = est["total_bytes"] - context
        weights[arch] = est["weights_bytes"]
    capacity = gpu_capacity(args.gpus)
    archs = [os.path.basename(p).split(".")[0] for p in DRY_RUN_MIX]
    results = []

    used, count = 0, 0
    while used + footprint[archs[count % len(archs)]] + context <= capacity:
        used += footprint[archs[count % len(archs)]] + context
        count += 1
    results.append({"deployment": "conventional", "models": count, "planned_bytes": used,
                    "planned_utilisation": used / capacity, "capacity_bytes": capacity,
                    "context_bytes": context, "contexts": count})

    # Every model keeps at least its weights, so a round of the mix costs at least their sum.
    rounds = capacity // sum(weights.values()) + 2
    entries = [{"name": "%s-%d" % (archs[i % len(archs)], i // len(archs)),
                "path": os.path.join(fixtures, DRY_RUN_MIX[i % len(archs)]),
                "batch": args.batch, "dtype": args.dtype} for i in range(rounds * len(archs))]

    def plan(models):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as manifest:
            json.dump({"models": models}, manifest)
            manifest.flush()
            out = subprocess.run([mg, "plan", "--models", manifest.name, "--gpus", args.gpus,
                                  "--strategy", "fill-first", "--json"],
                                 capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit("modelgrid plan failed: %s" % out.stderr.strip()[-2000:])
        return json.loads(out.stdout)

    unplaced = {u["name"] for u in plan(entries)["unplaced"]}
    count = next((i for i, e in enumerate(entries) if e["name"] in unplaced), len(entries))
    gpu = plan(entries[:count])["gpus"][0] if count else {"planned_bytes": 0, "workers": []}
    results.append({"deployment": "modelgrid", "models": count,
                    "planned_bytes": gpu["planned_bytes"],
                    "planned_utilisation": gpu["planned_bytes"] / capacity,
                    "capacity_bytes": capacity, "context_bytes": context,
                    "contexts": len(gpu["workers"]),
                    "transient_peak_bytes": max([w.get("transient_peak_bytes", 0)
                                                 for w in gpu["workers"]] or [0])})
    print("density dry run on a virtual %s (%.1f GiB), the eight architectures round-robin, "
          "batch %d, %s" % (args.gpus, capacity / (1 << 30), args.batch, args.dtype))
    print("%-13s %7s %13s  %s" % ("deployment", "models", "planned use", "contexts"))
    for r in results:
        print("%-13s %7d %12.1f%%  %d x %.0f MiB" % (r["deployment"], r["models"],
                                                  100 * r["planned_utilisation"], r["contexts"],
                                                  context / MIB))
    print("ModelGrid deploys %.2fx the conventional model count (planned; measured needs a GPU)"
          % (results[1]["models"] / max(1, results[0]["models"])))
    return {"dry_run": True, "gpu": args.gpus, "footprints": footprint, "results": results}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpus", default="cpu:1x4GiB", help="device: cpu:1xSIZE, auto, or (dry run) H200")
    p.add_argument("--dry-run", action="store_true", help="estimates and planner only")
    p.add_argument("--repo", default=os.path.join(ROOT, ".fixtures", "repo"))
    p.add_argument("--mix", default="tiny_cnn,transformer,two_in_two_out")
    p.add_argument("--max-models", type=int, default=400)
    p.add_argument("--rate", type=float, default=20, help="total requests/s over all models")
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dtype", default="fp16")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    if not os.access(MG, os.X_OK):
        raise SystemExit("build/modelgrid is missing: run scripts/build.sh")
    if args.dry_run:
        doc = dry_run(args)
    else:
        args.mix = args.mix.split(",")
        for arch in args.mix:
            if not os.path.exists(os.path.join(args.repo, arch, "config.pbtxt")):
                raise SystemExit("%s has no model %s" % (args.repo, arch))
        workdir = tempfile.mkdtemp(prefix="modelgrid-density-")
        try:
            results = [measure(d, args, workdir) for d in ("conventional", "modelgrid")]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print_real(results, args)
        doc = {"dry_run": False, "gpus": args.gpus, "mix": args.mix, "rate": args.rate,
               "duration": args.duration, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
