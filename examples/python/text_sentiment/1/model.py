"""Text sentiment, as a Triton Python-backend model: the untrained demo network of
ModelGrid's Quick start (its scores are deterministic, not meaningful)."""
import json
import zlib

import numpy as np
import torch

import triton_python_backend_utils as pb_utils

VOCABULARY = 4096


def tokenize(text):
    """Words to ids by CRC-32 hashing: no vocabulary file to ship."""
    words = text.decode("utf-8", "replace").lower().split()
    return [zlib.crc32(w.encode()) % VOCABULARY for w in words] or [0]


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.labels = config["parameters"]["labels"]["string_value"].split(",")
        torch.manual_seed(0)
        self.embed = torch.nn.EmbeddingBag(VOCABULARY, 32, mode="mean")
        self.head = torch.nn.Linear(32, len(self.labels))
        self.embed.eval()
        self.head.eval()
        pb_utils.Logger.log_info("text_sentiment: %d labels on %s" %
                                 (len(self.labels), args["model_instance_kind"]))

    def execute(self, requests):
        responses = []
        for request in requests:
            texts = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy()  # [batch, 1]
            ids = [tokenize(t) for t in texts[:, 0]]
            offsets = torch.tensor([0] + [len(i) for i in ids[:-1]]).cumsum(0)
            with torch.no_grad():
                logits = self.head(self.embed(torch.tensor(sum(ids, [])), offsets))
                probs = torch.softmax(logits, dim=1)
            score, best = probs.max(dim=1)
            labels = np.array([[self.labels[i].encode()] for i in best.tolist()], dtype=np.object_)
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("LABEL", labels),
                pb_utils.Tensor("SCORE", score.numpy().reshape(-1, 1).astype(np.float32)),
            ]))
        return responses
