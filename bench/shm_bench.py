#!/usr/bin/python3
"""System shared memory against the binary tensor extension, on one server, in one run.

Usage (from the repository root, after scripts/build.sh and scripts/make-fixtures.sh):
  /usr/bin/python3 bench/shm_bench.py [--binary build/modelgrid] [--fixtures .fixtures]
                                      [--floats 1048576] [--requests 200]

Starts `modelgrid serve` with the fixture model add_one (output = input + 1, FP32 [1, N])
and sends the same tensor of N floats, one client on a keep-alive connection:
  binary   the input in the body after the JSON header, the output back the same way
           (Triton's binary tensor data extension: what a remote client does)
  shm      the input and output in two registered POSIX shared-memory regions; the body is
           a few hundred bytes of JSON (what a co-located client or perf_analyzer
           --shared-memory system does); the client reads the output from its region
Both check every answer. Prints p50/p99 latency and requests/s of each, and the ratio of
shm to binary. Standard library only.
"""
import argparse
import http.client
import json
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from multiprocessing import shared_memory

MARKER = b"serving KServe v2 on http://127.0.0.1:"


def start_server(binary, fixtures, tmp):
    repo = os.path.join(tmp, "repo")
    shutil.copytree(os.path.join(fixtures, "repo", "add_one"), os.path.join(repo, "add_one"))
    # A budget for the largest tensor the benchmark may send (in and out).
    with open(os.path.join(repo, "add_one", "config.pbtxt"), "a") as f:
        f.write('parameters { key: "memory_bytes" value: { string_value: "1073741824" } }\n')
    return serve(binary, repo, tmp)


def serve(binary, repo, tmp):
    """Starts `modelgrid serve REPO` on the CPU (HTTP on a free port, no gRPC), logging to
    TMP/log; returns the process and its port once it serves."""
    cmd = [binary, "serve", repo, "--gpus", "cpu", "--port", "0", "--grpc-port", "0",
           "--footprints", os.path.join(tmp, "footprints.json")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "log"), "wb"))
    text = b""
    deadline = time.monotonic() + 180
    while MARKER not in text or b"\n" not in text[text.find(MARKER):]:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit("the server did not start; see " + os.path.join(tmp, "log"))
        if select.select([proc.stdout], [], [], 1.0)[0]:
            text += os.read(proc.stdout.fileno(), 65536)
    port = int(text[text.find(MARKER) + len(MARKER):].split(b"\n")[0].split(b"/")[0])
    return proc, port


def post(conn, path, body, headers=None):
    conn.request("POST", path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit("%s -> %d %s" % (path, r.status, data[:300]))
    return r, data


def run(label, n, send):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        send()
        times.append(time.perf_counter() - t0)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    rate = n / sum(times)
    print("  %-7s p50 %8.2f ms   p99 %8.2f ms   %8.1f requests/s" % (label, p50 * 1e3, p99 * 1e3, rate))
    return p50, rate


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(root, "build", "modelgrid"))
    ap.add_argument("--fixtures", default=os.path.join(root, ".fixtures"))
    ap.add_argument("--floats", type=int, default=1 << 20)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    n = args.floats
    nbytes = 4 * n
    values = struct.pack("<%df" % n, *[float(i % 1000) for i in range(n)])
    expected = struct.pack("<%df" % n, *[float(i % 1000) + 1 for i in range(n)])
    tmp = tempfile.mkdtemp(prefix="mg-shm-bench-")
    proc, port = start_server(args.binary, args.fixtures, tmp)
    shm_in = shared_memory.SharedMemory(create=True, size=nbytes)
    shm_out = shared_memory.SharedMemory(create=True, size=nbytes)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        path = "/v2/models/add_one/infer"

        header = json.dumps({"inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1, n],
                                         "parameters": {"binary_data_size": nbytes}}],
                             "outputs": [{"name": "OUTPUT__0",
                                          "parameters": {"binary_data": True}}]}).encode()
        body = header + values

        def binary():
            r, data = post(conn, path, body, {"Inference-Header-Content-Length": str(len(header))})
            length = int(r.getheader("Inference-Header-Content-Length"))
            if data[length:] != expected:
                sys.exit("binary: wrong output")

        for name, region in (("in", shm_in), ("out", shm_out)):
            post(conn, "/v2/systemsharedmemory/region/%s/register" % name,
                 json.dumps({"key": "/" + region.name, "offset": 0, "byte_size": nbytes}).encode())
        shm_body = json.dumps({
            "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1, n],
                        "parameters": {"shared_memory_region": "in",
                                       "shared_memory_byte_size": nbytes}}],
            "outputs": [{"name": "OUTPUT__0",
                         "parameters": {"shared_memory_region": "out",
                                        "shared_memory_byte_size": nbytes}}]}).encode()

        def shm():
            shm_in.buf[:nbytes] = values  # the client writes its input...
            post(conn, path, shm_body)
            if bytes(shm_out.buf[:nbytes]) != expected:  # ...and reads its output
                sys.exit("shm: wrong output")

        print("add_one, FP32 [1, %d] (%.1f MiB in, as much out), %d requests each, 1 client:"
              % (n, nbytes / 2**20, args.requests))
        for warm in (binary, shm):
            for _ in range(5):
                warm()
        b50, brate = run("binary", args.requests, binary)
        s50, srate = run("shm", args.requests, shm)
        print("  shm / binary: %.2fx the requests/s, %.2fx the p50 latency"
              % (srate / brate, s50 / b50))
    finally:
        shm_in.close()
        shm_in.unlink()
        shm_out.close()
        shm_out.unlink()
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
