"""Streams the words of text_input back, one response each, then the final flag."""
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        for request in requests:
            text = pb_utils.get_input_tensor_by_name(request, "text_input").as_numpy()[0]
            sender = request.get_response_sender()
            for i, word in enumerate(text.split()):
                sender.send(pb_utils.InferenceResponse([
                    pb_utils.Tensor("text_output", np.array([word], dtype=np.object_)),
                    pb_utils.Tensor("index", np.array([i], dtype=np.int32))]))
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None  # a decoupled model answers through its response senders
