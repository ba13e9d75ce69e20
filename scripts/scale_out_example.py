#!/usr/bin/python3
"""The worked capacity example of docs/SCALE-OUT.md: a mix of the eight measured models
placed by KServe ModelMesh with a built-in adapter, and with ModelGrid as its runtime.

Usage: /usr/bin/python3 scripts/scale_out_example.py [--copies 40] [--batch 1]
           [--dtype fp32|fp16] [--memory-request-gib 16] [--binary build/modelgrid]
           [--fixtures .fixtures]

Measured (data/h200-torch-footprints.json, one H200): each model's parameter and buffer
bytes (what its file holds), its bytes allocated once loaded, its peak reserved bytes at
the batch (128 tokens for the text models), and the CUDA context of a C++ LibTorch and of
a Python torch process. Computed here: the built-in adapters' sizes (disk bytes times
their MODELSIZE_MULTIPLIER defaults, 1.25 for Triton and 2.75 for TorchServe) against
their capacity (the container's memory request minus MEM_BUFFER_BYTES, 256 MiB), and
ModelGrid's sizes: `BINARY estimate` on the fixtures (the HF folders of the text models,
the TorchScript exports of the vision models), charged as ModelGrid's loadModel charges
them, max(estimate, warm-up peak), with the measured peak standing in for the warm-up.
ModelMesh's placement is modelled twice: a full pod (copies arrive interleaved and load
while they fit), whose GPU need is bounded from the measurements; and the whole mix loaded
at once, each model in the pod with the most room, on the fewest pods that hold it.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20
GiB = 1 << 30
MEM_BUFFER_BYTES = 256 * MiB       # the built-in adapters' default MEM_BUFFER_BYTES
TRITON_MULTIPLIER = 1.25           # model-mesh-triton-adapter's MODELSIZE_MULTIPLIER
TORCHSERVE_MULTIPLIER = 2.75       # model-mesh-torchserve-adapter's
GPUS_MIB = {"H200": 143771, "H100-80GB": 81559}  # src/gpu/gpu_catalog.cc (NVML totals)
TEXT_MODELS = ("bert_base", "distilbert", "gpt2", "gpt2_medium")


def fixture(fixtures, name):
    if name in TEXT_MODELS:
        return os.path.join(fixtures, "hf", name)
    return os.path.join(fixtures, "cv", name + ".pt")


def modelgrid_estimate(binary, path, batch, dtype):
    """ModelGrid's footprint of one model on an H200, context excluded (bytes)."""
    out = subprocess.run([binary, "estimate", path, "--batch", str(batch), "--seq", "128",
                          "--dtype", dtype, "--gpu", "H200", "--json"],
                         capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(out.stdout)
    return report["total_bytes"] - report["context_bytes"]


def read_models(data, args):
    torch_dtype = {"fp32": "float32", "fp16": "float16"}[args.dtype]
    models = []
    for m in data["models"]:
        if m["dtype"] != torch_dtype:
            continue
        measured = m["batches"][str(args.batch)]
        estimate = modelgrid_estimate(args.binary, fixture(args.fixtures, m["model"]),
                                      args.batch, args.dtype)
        models.append({
            "name": m["model"],
            "disk": m["param_bytes"] + m["buffer_bytes"],
            "loaded": m["loaded_alloc"],
            "peak": measured["peak_reserved"],
            "estimate": estimate,
            "charged": max(estimate, measured["peak_reserved"]),
        })
    return models


def spread(sizes, capacity):
    """Pods (lists of indices into `sizes`) as ModelMesh fills them with every model loaded:
    each model, in arrival order, goes to the pod with the most room left; the fewest pods
    that take all of them."""
    if max(sizes) > capacity:
        raise ValueError("a model of %d bytes is larger than a pod's capacity" % max(sizes))
    pods = max(1, -(-sum(sizes) // capacity))
    while True:
        members, room = [[] for _ in range(pods)], [capacity] * pods
        for i, size in enumerate(sizes):
            best = max(range(pods), key=lambda p: room[p])
            if size > room[best]:
                break
            members[best].append(i)
            room[best] -= size
        else:
            return members
        pods += 1


def gpu_need(pod, setup):
    """(at least, at most) bytes the GPU holds for the models of one pod, from measurements:
    separate processes each keep their peak; one process may reuse freed activations, but
    never its weights."""
    contexts = len(pod) if setup["context_per_model"] else 1
    context = setup["context_mib"] * MiB * contexts
    most = sum(m["peak"] for m in pod) + context
    least = most if setup["context_per_model"] else sum(m["loaded"] for m in pod) + context
    return least, most, contexts


def full_pod(models, setup):
    """The models of one pod that ModelMesh has filled: copies arrive interleaved and load
    while they fit its capacity (a copy that does not fit is skipped for smaller ones)."""
    pod, room, fitting = [], setup["capacity"], list(models)
    while fitting:
        fitting = [m for m in fitting if setup["size"](m) <= room]
        for m in fitting:
            if setup["size"](m) <= room:
                pod.append(m)
                room -= setup["size"](m)
    return pod


def place(setup, models, mix, gpu_bytes):
    """One row: a full pod under `setup` and what its GPU then holds; pods for the mix."""
    pod = full_pod(models, setup)
    least, most, contexts = gpu_need(pod, setup)
    if least > gpu_bytes:
        verdict = "over-committed: out of memory"
    elif most > gpu_bytes:
        verdict = "over-committed unless activations are reused"
    else:
        verdict = "%.0f%% of the GPU used at most" % (100.0 * most / gpu_bytes)
    need = ("%.1f GiB" % (most / GiB) if least == most else
            "%.1f-%.1f GiB" % (least / GiB, most / GiB))
    pods = spread([setup["size"](m) for m in mix], setup["capacity"])
    return [setup["name"], "%.1f GiB" % (setup["capacity"] / GiB), str(len(pod)),
            str(contexts), need, verdict, str(len(pods))]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=40, help="copies of each model")
    parser.add_argument("--batch", type=int, default=1, choices=(1, 8, 32))
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "fp16"))
    parser.add_argument("--memory-request-gib", type=float, default=16)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "modelgrid"))
    parser.add_argument("--fixtures", default=os.path.join(ROOT, ".fixtures"))
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "h200-torch-footprints.json"))
    args = parser.parse_args()
    with open(args.data) as f:
        data = json.load(f)
    contexts = data["cuda_context_mib_h200"]
    cpp_context_mib = contexts["cpp_libtorch_lazy_resnet50_process_minus_reserved"]
    python_context_mib = contexts["python_torch_lazy_after_cublas_and_cudnn"]
    try:
        models = read_models(data, args)
    except (OSError, subprocess.SubprocessError) as e:
        print("scale_out_example: cannot run `%s estimate` on %s (build, then "
              "scripts/make-fixtures.sh): %s" % (args.binary, args.fixtures, e), file=sys.stderr)
        return 2

    print("Per model, %s, batch %d (MiB). measured: disk, loaded, peak; computed: the rest."
          % (args.dtype, args.batch))
    print(table(["model", "disk (params+buffers)", "loaded", "peak reserved",
                 "Triton adapter size (x1.25)", "TorchServe adapter size (x2.75)",
                 "ModelGrid estimate", "ModelGrid charges"],
                [[m["name"]] + ["%.0f" % (m[k] / MiB) for k in ("disk", "loaded", "peak")] +
                 ["%.0f" % (m["disk"] * TRITON_MULTIPLIER / MiB),
                  "%.0f" % (m["disk"] * TORCHSERVE_MULTIPLIER / MiB),
                  "%.0f" % (m["estimate"] / MiB), "%.0f" % (m["charged"] / MiB)]
                 for m in models]))

    mix = [m for _ in range(args.copies) for m in models]  # arriving interleaved
    request = int(args.memory_request_gib * GiB)
    h200 = GPUS_MIB["H200"] * MiB
    setups = [
        {"name": "Triton adapter, %g GiB request" % args.memory_request_gib,
         "size": lambda m: int(m["disk"] * TRITON_MULTIPLIER), "gpu": "H200",
         "capacity": request - MEM_BUFFER_BYTES, "context_per_model": False,
         "context_mib": cpp_context_mib},
        {"name": "Triton adapter, request = H200 memory + 256 MiB",
         "size": lambda m: int(m["disk"] * TRITON_MULTIPLIER), "gpu": "H200",
         "capacity": h200, "context_per_model": False, "context_mib": cpp_context_mib},
        {"name": "TorchServe adapter, %g GiB request" % args.memory_request_gib,
         "size": lambda m: int(m["disk"] * TORCHSERVE_MULTIPLIER), "gpu": "H200",
         "capacity": request - MEM_BUFFER_BYTES, "context_per_model": True,
         "context_mib": python_context_mib},
        {"name": "TorchServe adapter, request = H200 memory + 256 MiB",
         "size": lambda m: int(m["disk"] * TORCHSERVE_MULTIPLIER), "gpu": "H200",
         "capacity": h200, "context_per_model": True, "context_mib": python_context_mib},
    ]
    for gpu, mib in GPUS_MIB.items():
        setups.append({"name": "ModelGrid --modelmesh, one %s" % gpu,
                       "size": lambda m: m["charged"], "gpu": gpu,
                       "capacity": (mib - cpp_context_mib) * MiB, "context_per_model": False,
                       "context_mib": cpp_context_mib})
    print()
    print("A full pod (one GPU, an H200 unless named): GPU need from the measured bytes plus "
          "contexts (C++ %d MiB, Python %d MiB); pods to hold all %d models (%d copies of each)."
          % (cpp_context_mib, python_context_mib, len(mix), args.copies))
    print(table(["runtime under ModelMesh", "capacity", "models in a full pod",
                 "CUDA contexts", "their GPU need", "on the GPU", "pods for the mix"],
                [place(s, models, mix, GPUS_MIB[s["gpu"]] * MiB) for s in setups]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
