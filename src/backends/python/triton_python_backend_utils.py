"""triton_python_backend_utils, as ModelGrid's Python backend provides it.

Models import it as Triton's Python backend documents (``import triton_python_backend_utils
as pb_utils``); the names, signatures and semantics follow that API. The module is compiled
into modelgrid-worker and registered before the first model is imported.

Not provided in this version (raises TritonModelException naming itself when used): BLS
into decoupled models (``exec(decoupled=True)``), and response senders in models that are
not decoupled.
"""

import json
import re
import sys
import threading

import numpy as np

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

# Response sender flags (tritonserver.h).
TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1
# Request flags.
TRITONSERVER_REQUEST_FLAG_SEQUENCE_START = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_END = 2

# Config type name -> numpy type. BYTES is an object array of bytes; BF16 has no numpy type.
_CONFIG_TO_NUMPY = {
    "TYPE_BOOL": np.bool_,
    "TYPE_UINT8": np.uint8,
    "TYPE_UINT16": np.uint16,
    "TYPE_UINT32": np.uint32,
    "TYPE_UINT64": np.uint64,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
    "TYPE_STRING": np.object_,
}


def triton_string_to_numpy(triton_type_string):
    """The numpy type of a config.pbtxt data_type ("TYPE_FP32" -> numpy.float32)."""
    if triton_type_string not in _CONFIG_TO_NUMPY:
        raise TritonModelException("data type " + str(triton_type_string) + " has no numpy type")
    return _CONFIG_TO_NUMPY[triton_type_string]


def serialize_byte_tensor(input_tensor):
    """A BYTES array as Triton serialises it: per element a 4-byte little-endian length and
    the bytes (str elements as UTF-8). Returns a uint8 array (empty input: an empty array)."""
    parts = []
    for element in np.asarray(input_tensor, dtype=np.object_).flatten(order="C"):
        if isinstance(element, str):
            element = element.encode("utf-8")
        elif not isinstance(element, (bytes, bytearray, memoryview)):
            element = str(element).encode("utf-8")
        element = bytes(element)
        parts.append(len(element).to_bytes(4, "little"))
        parts.append(element)
    return np.frombuffer(b"".join(parts), dtype=np.uint8)


def deserialize_bytes_tensor(encoded_tensor):
    """The inverse of serialize_byte_tensor: a flat object array of bytes."""
    data = memoryview(bytes(encoded_tensor))
    out = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise TritonModelException("truncated BYTES length prefix")
        length = int.from_bytes(data[pos : pos + 4], "little")
        pos += 4
        if length > len(data) - pos:
            raise TritonModelException("a BYTES element overruns its tensor")
        out.append(bytes(data[pos : pos + length]))
        pos += length
    array = np.empty(len(out), dtype=np.object_)
    array[:] = out
    return array


class ModelConfig:
    """What a model's auto_complete_config(auto_complete_model_config) receives and returns:
    its config as Triton's JSON form, completed through these methods."""

    def __init__(self, model_config):
        self._config = model_config

    def as_dict(self):
        return self._config

    def set_max_batch_size(self, max_batch_size):
        current = self._config.get("max_batch_size", 0)
        if current not in (0, max_batch_size):
            raise TritonModelException("max_batch_size is %d in the config; the model asks for %d"
                                       % (current, max_batch_size))
        self._config["max_batch_size"] = int(max_batch_size)

    def set_dynamic_batching(self):
        self._config.setdefault("dynamic_batching", {})

    def set_model_transaction_policy(self, transaction_policy_dict):
        self._config["model_transaction_policy"] = dict(transaction_policy_dict)

    def _add(self, kind, tensor):
        if not isinstance(tensor, dict) or not {"name", "data_type", "dims"} <= set(tensor):
            raise TritonModelException(kind + " needs name, data_type and dims: " + repr(tensor))
        listed = self._config.setdefault(kind, [])
        for existing in listed:
            if existing.get("name") == tensor["name"]:
                for key in ("data_type", "dims"):
                    if key in existing and list(np.atleast_1d(existing[key])) != list(
                            np.atleast_1d(tensor[key])):
                        raise TritonModelException("%s '%s': %s %r in the config, %r from the model"
                                                   % (kind, tensor["name"], key, existing[key],
                                                      tensor[key]))
                return
        listed.append({"name": tensor["name"], "data_type": tensor["data_type"],
                       "dims": [int(d) for d in tensor["dims"]]})

    def add_input(self, input):
        self._add("input", input)

    def add_output(self, output):
        self._add("output", output)


class TritonError:
    """An error a response carries: ``InferenceResponse(error=TritonError("..."))``."""

    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7

    def __init__(self, message, code=INTERNAL):
        self._message = str(message)
        self._code = code

    def message(self):
        return self._message

    def code(self):
        return self._code

    def __repr__(self):
        return "TritonError(" + repr(self._message) + ")"


class TritonModelException(Exception):
    """Raised by pb_utils for a misuse; models may raise it too."""

    def message(self):
        return str(self)


class Tensor:
    """A named tensor: a numpy array on the CPU, or (through DLPack) a tensor of another
    framework, which stays where it is (a CUDA tensor stays on its GPU)."""

    def __init__(self, name, array):
        if not isinstance(name, str):
            raise TritonModelException("Tensor name must be a str")
        if not isinstance(array, np.ndarray):
            raise TritonModelException("Tensor '" + name + "' needs a numpy.ndarray")
        if array.dtype.kind in ("U", "S"):
            array = array.astype(np.object_)
        self._name = name
        self._array = array
        self._foreign = None  # a framework tensor that did not come as numpy

    def name(self):
        return self._name

    def shape(self):
        return list(self._array.shape if self._foreign is None else self._foreign.shape)

    def is_cpu(self):
        return self._foreign is None or getattr(self._foreign, "is_cuda", False) is False

    def as_numpy(self):
        """The tensor as numpy (a CPU copy when it lives on a GPU)."""
        if self._foreign is not None:
            return self._foreign.detach().cpu().numpy()
        return self._array

    def to_dlpack(self):
        """A DLPack capsule of the tensor (torch.from_dlpack takes it without a copy)."""
        if self._foreign is not None:
            return self._foreign.__dlpack__()
        if self._array.dtype == np.object_:
            raise TritonModelException("BYTES tensor '" + self._name + "' has no DLPack form")
        return self._array.__dlpack__()

    def __dlpack__(self, stream=None):
        return self.to_dlpack()

    def __dlpack_device__(self):
        if self._foreign is not None:
            return self._foreign.__dlpack_device__()
        return self._array.__dlpack_device__()

    @staticmethod
    def from_dlpack(name, capsule):
        """A Tensor from a DLPack capsule or an object with __dlpack__ (a torch tensor),
        without a copy. CUDA tensors stay on their GPU until the response is sent."""
        tensor = Tensor(name, np.empty(0, dtype=np.float32))
        if hasattr(capsule, "__dlpack__") and hasattr(capsule, "__dlpack_device__"):
            device_type = capsule.__dlpack_device__()[0]
            if device_type == 1:  # kDLCPU
                tensor._array = np.from_dlpack(capsule)
                return tensor
        import torch.utils.dlpack  # capsules and GPU tensors need torch

        foreign = torch.utils.dlpack.from_dlpack(capsule)
        if foreign.is_cuda:
            tensor._foreign = foreign
        else:
            tensor._array = foreign.numpy()
        return tensor


class InferenceResponse:
    """What execute returns, one per request: output tensors, or an error."""

    def __init__(self, output_tensors=None, error=None, parameters=None):
        if output_tensors is None:
            output_tensors = []
        for t in output_tensors:
            if not isinstance(t, Tensor):
                raise TritonModelException("output_tensors must be pb_utils.Tensor objects")
        if error is not None and not isinstance(error, TritonError):
            error = TritonError(str(error))
        self._outputs = list(output_tensors)
        self._error = error
        self._parameters = parameters if isinstance(parameters, str) else json.dumps(parameters or {})

    def output_tensors(self):
        return self._outputs

    def has_error(self):
        return self._error is not None

    def error(self):
        return self._error

    def parameters(self):
        return self._parameters


class InferenceRequest:
    """A request execute receives (built by ModelGrid). Constructing one in a model is a BLS
    call: exec() runs model_name on the inputs and returns an InferenceResponse, whose
    error() says why when it failed (as in Triton). A model of the caller's worker runs in
    the caller's thread; any other is reached through the server."""

    def __init__(
        self,
        request_id="",
        correlation_id=0,
        inputs=None,
        requested_output_names=None,
        model_name="",
        model_version=-1,
        flags=0,
        timeout=0,
        preferred_memory=None,
        trace=None,
        parameters=None,
    ):
        self._request_id = request_id
        self._correlation_id = correlation_id
        self._inputs = list(inputs or [])
        self._requested = list(requested_output_names or [])
        self._model_name = model_name
        self._model_version = model_version
        self._flags = flags
        self._timeout = timeout
        self._parameters = parameters if isinstance(parameters, str) else json.dumps(parameters or {})
        self._sender = None  # a decoupled model's request: its InferenceResponseSender

    def inputs(self):
        return self._inputs

    def request_id(self):
        return self._request_id

    def correlation_id(self):
        return self._correlation_id

    def flags(self):
        return self._flags

    def timeout(self):
        return self._timeout

    def model_name(self):
        return self._model_name

    def model_version(self):
        return self._model_version

    def parameters(self):
        return self._parameters

    def requested_output_names(self):
        return self._requested

    def is_cancelled(self):
        return False

    def get_response_sender(self):
        if self._sender is None:
            raise TritonModelException(
                "get_response_sender: the model is not decoupled (model_transaction_policy "
                "{ decoupled: true }); its execute returns its responses")
        return self._sender

    def exec(self, decoupled=False):
        if decoupled:
            raise TritonModelException(
                "BLS into a decoupled model (exec(decoupled=True)) is not supported by ModelGrid")
        import modelgrid_python_runtime  # the runtime imports this module: not at its top
        return modelgrid_python_runtime.bls_exec(self)

    async def async_exec(self, decoupled=False):
        # The call runs in the caller's thread; awaiting it returns its response.
        return self.exec(decoupled)


class InferenceResponseSender:
    """A decoupled model's way to answer one request, any number of times, from execute or
    from threads after execute returned (built by ModelGrid). The last send carries
    flags=TRITONSERVER_RESPONSE_COMPLETE_FINAL (with or without a response); sending after
    it raises TritonModelException."""

    def __init__(self, send, cancelled):
        self._send = send  # (response or None, final) -> None; raises TritonModelException
        self._cancelled = cancelled

    def send(self, response=None, flags=0):
        if flags not in (0, TRITONSERVER_RESPONSE_COMPLETE_FINAL):
            raise TritonModelException("send: unknown flags %r (0 or "
                                       "TRITONSERVER_RESPONSE_COMPLETE_FINAL)" % (flags,))
        if response is None and flags == 0:
            raise TritonModelException("send: a response, the final flag, or both")
        if response is not None and not isinstance(response, InferenceResponse):
            raise TritonModelException("send: %s is not a pb_utils.InferenceResponse"
                                       % type(response).__name__)
        self._send(response, flags == TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def is_cancelled(self):
        return self._cancelled()


def get_input_tensor_by_name(inference_request, name):
    for t in inference_request.inputs():
        if t.name() == name:
            return t
    return None


def get_output_tensor_by_name(inference_response, name):
    for t in inference_response.output_tensors():
        if t.name() == name:
            return t
    return None


def get_input_config_by_name(model_config, name):
    for c in model_config.get("input", []):
        if c.get("name") == name:
            return c
    return None


def get_output_config_by_name(model_config, name):
    for c in model_config.get("output", []):
        if c.get("name") == name:
            return c
    return None


def using_decoupled_model_transaction_policy(model_config):
    return bool(model_config.get("model_transaction_policy", {}).get("decoupled", False))


class Logger:
    """Log lines go to the worker's stderr, which the server logs, tagged with the level."""

    INFO = 0
    WARNING = 1
    ERROR = 2
    VERBOSE = 3
    _names = {0: "info", 1: "warning", 2: "error", 3: "verbose"}
    _lock = threading.Lock()

    @staticmethod
    def log(message, level=0):
        line = "python model: " + Logger._names.get(level, "info") + ": " + str(message) + "\n"
        with Logger._lock:
            sys.stderr.write(line)
            sys.stderr.flush()

    @staticmethod
    def log_info(message):
        Logger.log(message, Logger.INFO)

    @staticmethod
    def log_warn(message):
        Logger.log(message, Logger.WARNING)

    @staticmethod
    def log_error(message):
        Logger.log(message, Logger.ERROR)

    @staticmethod
    def log_verbose(message):
        Logger.log(message, Logger.VERBOSE)


class MetricFamily:
    """A family of custom metrics, exported on the server's /metrics (Prometheus text) with
    the server's own. Families are per worker process: models of one worker that make a
    family of the same name share it (the kind and description must agree); the server adds
    up the same series of several workers (a model's replicas)."""

    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2
    _KINDS = {COUNTER: "counter", GAUGE: "gauge"}
    _registry = {}
    _lock = threading.Lock()

    def __new__(cls, name, description, kind, buckets=None):
        if kind not in cls._KINDS:
            raise TritonModelException("MetricFamily kind must be MetricFamily.COUNTER or "
                                       "MetricFamily.GAUGE (histograms are not supported)")
        if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
            raise TritonModelException("invalid metric family name %r" % (name,))
        if name.startswith(("nv_", "modelgrid_")):
            raise TritonModelException("metric family names nv_* and modelgrid_* are the "
                                       "server's: %r" % name)
        with cls._lock:
            family = cls._registry.get(name)
            if family is not None:
                if family._kind != kind or family._description != str(description):
                    raise TritonModelException("metric family %r exists with another kind or "
                                               "description" % name)
                return family
            family = super().__new__(cls)
            family._name = name
            family._description = str(description)
            family._kind = kind
            family._metrics = {}
            cls._registry[name] = family
            return family

    def __init__(self, name, description, kind, buckets=None):
        pass  # made in __new__ (a family of an existing name is that family)

    def Metric(self, labels=None):
        labels = dict(labels or {})
        for key, value in labels.items():
            if not isinstance(key, str) or not _LABEL_NAME.fullmatch(key) or \
                    not isinstance(value, str):
                raise TritonModelException("metric labels must map valid names to str: %r"
                                           % ((key, value),))
        key = tuple(sorted(labels.items()))
        with MetricFamily._lock:
            metric = self._metrics.get(key)
            if metric is None:
                metric = _Metric(self, labels)
                self._metrics[key] = metric
            return metric

    @classmethod
    def _export(cls):
        """Every family as JSON-able dicts: name, help, type, samples (labels, value)."""
        with cls._lock:
            return [{"name": f._name, "help": f._description, "type": cls._KINDS[f._kind],
                     "samples": [{"labels": m._labels, "value": m._value}
                                 for m in f._metrics.values()]}
                    for f in cls._registry.values()]


class _Metric:
    """One series of a MetricFamily (its labels)."""

    def __init__(self, family, labels):
        self._family = family
        self._labels = labels
        self._value = 0.0

    def increment(self, value):
        value = float(value)
        if self._family._kind == MetricFamily.COUNTER and value < 0:
            raise TritonModelException("a counter only increases: increment(%r)" % value)
        with MetricFamily._lock:
            self._value += value

    def set(self, value):
        if self._family._kind == MetricFamily.COUNTER:
            raise TritonModelException("set() is for gauges; counters increment()")
        with MetricFamily._lock:
            self._value = float(value)

    def value(self):
        with MetricFamily._lock:
            return self._value
