#!/usr/bin/python3
"""Sends sample KServe v2 requests to a running `modelgrid serve` of the demo repository
and prints the answers. Usage: scripts/demo_requests.py URL FIXTURES_DIR"""
import base64
import json
import struct
import sys
import urllib.request


def post(url, body, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def main():
    url, fixtures = sys.argv[1], sys.argv[2]
    # add_one: JSON in, JSON out.
    body = json.dumps({"inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1, 4],
                                   "data": [1, 2, 3, 4]}]}).encode()
    status, _, reply = post(url + "/v2/models/add_one/infer", body)
    print("add_one([1, 2, 3, 4]) ->", json.loads(reply)["outputs"][0]["data"], "(HTTP %d)" % status)

    # resnet18: the Python reference image from the fixtures, sent with the binary tensor
    # extension; prints the top-5 classes of the random-weight network.
    import random
    random.seed(0)
    pixels = [random.uniform(-1, 1) for _ in range(3 * 224 * 224)]
    raw = struct.pack("<%df" % len(pixels), *pixels)
    header = json.dumps({"inputs": [{"name": "INPUT__0", "datatype": "FP32",
                                     "shape": [1, 3, 224, 224],
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": "OUTPUT__0",
                                      "parameters": {"binary_data": True}}]}).encode()
    status, headers, reply = post(url + "/v2/models/resnet18/infer", header + raw,
                                  {"Inference-Header-Content-Length": str(len(header)),
                                   "Content-Type": "application/octet-stream"})
    n = int(headers.get("Inference-Header-Content-Length", len(reply)))
    logits = struct.unpack("<1000f", reply[n:n + 4000])
    top = sorted(range(1000), key=lambda i: -logits[i])[:5]
    print("resnet18(random image) -> top-5 classes", top, "(binary tensors, HTTP %d)" % status)

    # transformer: the reference input from the fixtures, compared with Python torch.
    ref = json.load(open(fixtures + "/serve/reference/transformer.json"))
    x = ref["input_data"][0]
    values = struct.unpack("<%df" % (len(base64.b64decode(x["data"])) // 4), base64.b64decode(x["data"]))
    body = json.dumps({"inputs": [{"name": x["name"], "datatype": "FP32", "shape": x["shape"],
                                   "data": list(values)}]}).encode()
    status, _, reply = post(url + "/v2/models/transformer/infer", body)
    got = json.loads(reply)["outputs"][0]["data"]
    y = ref["output_data"][0]
    want = struct.unpack("<%df" % len(got), base64.b64decode(y["data"]))
    err = max(abs(a - b) for a, b in zip(got, want))
    print("transformer(reference input) -> max |served - python torch| = %.2e (HTTP %d)" % (err, status))

    # text_sentiment: a Python-backend model (model.py), BYTES in, BYTES and FP32 out.
    texts = ["what a great day", "this is awful"]
    body = json.dumps({"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [2, 1],
                                   "data": texts}]}).encode()
    status, _, reply = post(url + "/v2/models/text_sentiment/infer", body)
    outputs = {o["name"]: o["data"] for o in json.loads(reply)["outputs"]}
    for text, label, score in zip(texts, outputs["LABEL"], outputs["SCORE"]):
        print("text_sentiment(%r) -> %s %.3f (Python model, HTTP %d)" % (text, label, score, status))

    # token_stream: a decoupled Python model, several responses to one request, as
    # Server-Sent Events from generate_stream.
    text = "ModelGrid streams one word per response"
    body = json.dumps({"text_input": text}).encode()
    status, _, reply = post(url + "/v2/models/token_stream/generate_stream", body)
    events = [json.loads(line[len("data: "):]) for line in reply.decode().split("\n\n")
              if line.startswith("data: ")]
    print("token_stream(%r) -> %d events: %s (decoupled Python model, HTTP %d)" % (
        text, len(events), " | ".join(e["text_output"] for e in events), status))

    with urllib.request.urlopen(url + "/v2/models/resnet18/stats", timeout=10) as r:
        s = json.loads(r.read())["model_stats"][0]
    print("resnet18 stats: %d inference(s), warm-up peak %.1f MiB, planned %.1f MiB (%s)" % (
        s["inference_count"], s["modelgrid"]["measured_peak_bytes"] / 2**20,
        s["modelgrid"]["planned_bytes"] / 2**20, s["modelgrid"]["planned_from"]))


if __name__ == "__main__":
    sys.exit(main())
