"""How modelgrid-worker's Python backend drives model.py files (internal to ModelGrid).

The C++ side (backends/python/) calls load() once per model instance and then
LoadedModel.execute() per request, holding the GIL. Tensors arrive as memoryviews of the
worker's shared-memory arena: numpy arrays are made on them without a copy and are valid
only while execute runs. Outputs go back as (name, datatype, shape, buffer) tuples.
"""

import asyncio
import builtins
import contextlib
import importlib.util
import inspect
import itertools
import json
import os
import sys
import threading
import traceback

import numpy as np

import triton_python_backend_utils as pb_utils

_KSERVE_TO_NUMPY = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
_NUMPY_TO_KSERVE = {np.dtype(t): name for name, t in _KSERVE_TO_NUMPY.items()}

# The code a failed request carries to the C++ side: a StatusCodeName (common/status.h).
_ERROR_CODES = {
    pb_utils.TritonError.INVALID_ARG: "invalid argument",
    pb_utils.TritonError.NOT_FOUND: "not found",
    pb_utils.TritonError.UNAVAILABLE: "unavailable",
    pb_utils.TritonError.UNSUPPORTED: "unsupported",
}

# A BLS failure's code (StatusCodeName, as _modelgrid_bls reports it) as a TritonError's.
_TRITON_CODES = {name: code for code, name in _ERROR_CODES.items()}

# The output that carries per-request errors of a batch (request_path.cc reads it).
ERRORS_OUTPUT = "__modelgrid_errors__"

_module_numbers = itertools.count()
_import_lock = threading.RLock()
_MODEL_MODULE_PREFIX = "_modelgrid_model_"


class ModelFolder:
    """The modules a model imports from its own folder (helpers.py, packages), kept out of
    sys.modules between imports, so that two models with a helpers.py each get their own.
    Modules of the folder and the model's module carry it as __modelgrid_folder__; an
    import statement in them (at any time, also inside execute) that names a module of the
    folder, or is relative, runs with the folder active."""

    def __init__(self, folder):
        self.folder = folder
        self.modules = {}
        self._owned = {}  # top-level name -> whether the folder has it

    def owns(self, top):
        if top in self.modules:
            return True
        if top not in self._owned:
            self._owned[top] = (os.path.isfile(os.path.join(self.folder, top + ".py")) or
                                os.path.isdir(os.path.join(self.folder, top)))
        return self._owned[top]

    @contextlib.contextmanager
    def active(self):
        """Within: the folder is first on sys.path and its modules are in sys.modules.
        Holds the import lock. Modules imported from the folder are kept afterwards."""
        with _import_lock:
            saved = {key: sys.modules.get(key) for key in self.modules}
            sys.modules.update(self.modules)
            before = set(sys.modules)
            sys.path.insert(0, self.folder)
            try:
                yield
            finally:
                sys.path.remove(self.folder)
                prefix = self.folder + os.sep
                for key in set(sys.modules) - before:
                    module = sys.modules[key]
                    path = os.path.abspath(getattr(module, "__file__", None) or "")
                    if path.startswith(prefix) and not key.startswith(_MODEL_MODULE_PREFIX):
                        self.modules[key] = module
                        module.__modelgrid_folder__ = self
                for key in self.modules:
                    if saved.get(key) is None:
                        sys.modules.pop(key, None)
                    else:
                        sys.modules[key] = saved[key]


_original_import = builtins.__import__


def _model_import(name, globals=None, locals=None, fromlist=(), level=0):
    """builtins.__import__ for model code: imports of a model's own modules go through its
    ModelFolder; everything else is Python's import."""
    folder = globals.get("__modelgrid_folder__") if globals else None
    if isinstance(folder, ModelFolder) and (level > 0 or folder.owns(name.partition(".")[0])):
        with folder.active():
            return _original_import(name, globals, locals, fromlist, level)
    return _original_import(name, globals, locals, fromlist, level)


builtins.__import__ = _model_import


class ModelError(Exception):
    """A request or load that failed: `code` is one of _ERROR_CODES' values or "internal"."""


    def __init__(self, message, code="internal"):
        super().__init__(message)
        self.code = code


def summarize(exc):
    """The last lines of a traceback: the exception and where in model code it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(frames):
        if frame.filename.endswith(".py") and "modelgrid_python_runtime" not in frame.filename:
            where = " (%s:%d in %s)" % (os.path.basename(frame.filename), frame.lineno, frame.name)
            break
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text + where


def _full_traceback(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _to_numpy(datatype, shape, view):
    if datatype == "BYTES":
        array = pb_utils.deserialize_bytes_tensor(view)
        return array.reshape(shape)
    if datatype not in _KSERVE_TO_NUMPY:
        raise ModelError("input datatype " + datatype + " has no numpy type", "invalid argument")
    return np.frombuffer(view, dtype=_KSERVE_TO_NUMPY[datatype]).reshape(shape)


def _checked(tensor, declared):
    """(name, datatype, array) of an output tensor; BYTES as an object array."""
    array = tensor.as_numpy()
    if not isinstance(array, np.ndarray):
        raise ModelError("output '" + tensor.name() + "' is not a numpy array")
    if array.dtype == np.object_ or array.dtype.kind in ("U", "S"):
        datatype = "BYTES"
        array = array.astype(np.object_)
    elif array.dtype in _NUMPY_TO_KSERVE:
        datatype = _NUMPY_TO_KSERVE[array.dtype]
    else:
        raise ModelError("output '%s' has numpy type %s, which has no KServe datatype"
                         % (tensor.name(), array.dtype))
    want = declared.get(tensor.name())
    if want is not None and want != datatype:
        raise ModelError("output '%s' is %s, the config declares %s" % (tensor.name(), datatype, want))
    return (tensor.name(), datatype, array)


def _wire(name, datatype, array):
    """The (name, datatype, shape, buffer) tuple the C++ side copies out."""
    data = pb_utils.serialize_byte_tensor(array) if datatype == "BYTES" else np.ascontiguousarray(array)
    return (name, datatype, tuple(int(d) for d in array.shape), data)


def bls_exec(request):
    """Triton's BLS exec of `request` (a pb_utils.InferenceRequest built by a model): runs
    its model_name in this worker through _modelgrid_bls and returns an InferenceResponse
    with the outputs it asked for (all when none), or with an error saying why it failed."""
    import _modelgrid_bls  # installed by the backend before any model loads

    def failed(message, code=pb_utils.TritonError.INTERNAL):
        return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message, code))

    what = "BLS call to %s" % request.model_name()
    # What ModelGrid has no use for is refused, not dropped: sequences and timeouts.
    refused = [name for name, value in (("correlation_id", request.correlation_id()),
                                        ("flags", request.flags()),
                                        ("timeout", request.timeout())) if value]
    if refused:
        return failed("%s: %s not supported by ModelGrid (no sequence batching or request "
                      "timeouts)" % (what, ", ".join(refused)), pb_utils.TritonError.UNSUPPORTED)
    try:
        parameters = json.loads(request.parameters() or "{}")
    except ValueError:
        parameters = None
    if not isinstance(parameters, dict):
        return failed(what + ": parameters must be a JSON object", pb_utils.TritonError.INVALID_ARG)
    try:
        inputs = [_wire(*_checked(t, {})) for t in request.inputs()]
    except ModelError as exc:
        return failed("%s: %s" % (what, str(exc).replace("output", "input")),
                      pb_utils.TritonError.INVALID_ARG)
    try:
        outputs = _modelgrid_bls.call(request.model_name(), int(request.model_version()), inputs,
                                      request.request_id() or "",
                                      json.dumps(parameters) if parameters else "")
    except RuntimeError as exc:
        code, _, message = str(exc).partition("\t")
        return failed(message or code, _TRITON_CODES.get(code, pb_utils.TritonError.INTERNAL))
    wanted = set(request.requested_output_names())
    missing = sorted(wanted - {name for (name, _, _, _) in outputs})
    if missing:
        return failed("%s: it has no output %s" % (what, ", ".join(missing)),
                      pb_utils.TritonError.INVALID_ARG)
    return pb_utils.InferenceResponse([
        pb_utils.Tensor(name, _to_numpy(datatype, shape, memoryview(data)))
        for (name, datatype, shape, data) in outputs if not wanted or name in wanted])


def _join(results, batches):
    """One output set for a batch of requests: each output concatenated along dimension 0
    in request order. A failed request's rows are zeros (empty for BYTES) and its error is
    an element of the ERRORS_OUTPUT tensor ("" for the others). When every request failed,
    the ERRORS_OUTPUT tensor is all there is."""
    errors = ["" if not isinstance(r, ModelError) else r.code + "\t" + str(r) for r in results]
    done = [r for r in results if not isinstance(r, ModelError)]
    if not done:  # every request failed: each its own error, and no outputs to fill
        return [(ERRORS_OUTPUT, "BYTES", np.array([e.encode() for e in errors], dtype=np.object_))]
    template = done[0]
    joined = []
    for name, datatype, sample in template:
        parts = []
        for index, (result, batch) in enumerate(zip(results, batches)):
            if isinstance(result, ModelError):
                shape = (batch,) + sample.shape[1:]
                parts.append(np.full(shape, b"", dtype=np.object_) if datatype == "BYTES"
                             else np.zeros(shape, dtype=sample.dtype))
                continue
            match = [a for (n, d, a) in result if n == name and d == datatype]
            if len(match) != 1 or len(result) != len(template):
                raise ModelError("the responses of one batch have different outputs "
                                 "(request %d's differ from the first's)" % index)
            if match[0].ndim == 0 or match[0].shape[0] != batch:
                raise ModelError("output '%s' of request %d has %s rows, its request has %d"
                                 % (name, index, match[0].shape[0] if match[0].ndim else "no", batch))
            parts.append(match[0])
        joined.append((name, datatype, np.concatenate(parts, axis=0)))
    if any(errors):
        joined.append((ERRORS_OUTPUT, "BYTES", np.array([e.encode() for e in errors],
                                                          dtype=np.object_)))
    return joined


class LoadedModel:
    """One instance of one model.py: its TritonPythonModel object and what execute needs."""

    def __init__(self, name, instance, config, module_name, folder):
        self.name = name
        self.instance = instance
        self.module_name = module_name
        self.folder = folder  # its ModelFolder
        self.declared = {}
        for out in config.get("output", []):
            t = out.get("data_type", "")
            self.declared[out.get("name")] = "BYTES" if t == "TYPE_STRING" else t[len("TYPE_"):]
        self._loop = None

    def _settle(self, result):
        """The value of `result`, running it to completion when it is a coroutine (async
        def execute). Each model has an event loop of its own."""
        if not inspect.isawaitable(result):
            return result
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(result)

    def _requests(self, inputs, request_ids, request_parameters, requested, batches):
        """The pb_utils.InferenceRequests of one execution, and the output names each asked
        for (empty: all). See execute for the arguments."""
        arrays = [(n, _to_numpy(d, s, v)) for (n, d, s, v) in inputs]
        if batches and sum(batches) != (arrays[0][1].shape[0] if arrays and arrays[0][1].ndim else -1):
            raise ModelError("a batch of %d requests does not add up to its inputs" % len(batches))
        requests = []
        start = 0
        names = [json.loads(r) if r else [] for r in (requested or [])]
        for index, batch in enumerate(batches or [None]):
            if batch is None:
                tensors = [pb_utils.Tensor(n, a) for (n, a) in arrays]
            else:
                tensors = [pb_utils.Tensor(n, a[start:start + batch]) for (n, a) in arrays]
                start += batch
            requests.append(pb_utils.InferenceRequest(
                request_id=request_ids[index] if request_ids and index < len(request_ids) else "",
                inputs=tensors,
                requested_output_names=names[index] if index < len(names) else [],
                model_name=self.name,
                parameters=(request_parameters[index] or "{}")
                if request_parameters and index < len(request_parameters) else "{}",
            ))
        return requests, names

    def _run(self, requests):
        """execute(requests)'s result; the model's own exception becomes a ModelError."""
        try:
            return self._settle(self.instance.execute(requests))
        except ModelError:
            raise
        except Exception as exc:  # the model's own error fails these requests only
            sys.stderr.write("model %s: execute raised:\n%s" % (self.name, _full_traceback(exc)))
            raise ModelError("execute raised " + summarize(exc)) from None

    def execute(self, inputs, request_ids, request_parameters, requested, batches):
        """Runs one request, or with `batches` (each request's batch size) a batch of requests
        whose inputs were concatenated along dimension 0: execute gets one request each, as
        in Triton. `inputs`: (name, datatype, shape, memoryview) tuples; `request_ids`,
        `request_parameters` (JSON objects) and `requested` (JSON arrays of output names, ""
        for all): the requests' own, in order, or None when none has any. Returns the outputs
        as (name, datatype, shape, buffer) tuples; raises ModelError."""
        requests, names = self._requests(inputs, request_ids, request_parameters, requested,
                                         batches)
        responses = self._run(requests)
        if responses is None or len(responses) != len(requests):
            count = "None" if responses is None else str(len(responses))
            raise ModelError("execute returned %s responses for %d requests" % (count, len(requests)))
        results = []
        for index, response in enumerate(responses):
            # The outputs asked for (the same for every request of a batch), or all.
            wanted = set(names[index]) if index < len(names) else set()
            if not isinstance(response, pb_utils.InferenceResponse):
                raise ModelError("execute returned a %s, not a pb_utils.InferenceResponse"
                                 % type(response).__name__)
            if response.has_error():
                error = response.error()
                results.append(ModelError(error.message(), _ERROR_CODES.get(error.code(), "internal")))
                continue
            results.append([_checked(t, self.declared) for t in response.output_tensors()
                            if not wanted or t.name() in wanted])
        if len(results) == 1:
            if isinstance(results[0], ModelError):
                raise results[0]
            return [_wire(*output) for output in results[0]]
        return [_wire(*output) for output in _join(results, batches)]

    def execute_decoupled(self, inputs, request_ids, request_parameters, requested, capsule):
        """A decoupled model's request (one; see execute for the arguments): execute gets it
        with a response sender that passes its responses to `capsule`'s sink
        (_modelgrid_responses), during execute or from the model's threads after it. execute
        must return None, as in Triton; raises ModelError."""
        import _modelgrid_responses  # installed by the backend before any model loads
        requests, names = self._requests(inputs, request_ids, request_parameters, requested,
                                         None)
        wanted = set(names[0]) if names else set()
        declared = self.declared

        def send(response, final):
            outputs, code, message = None, "", ""
            if response is not None and response.has_error():
                error = response.error()
                code, message = _ERROR_CODES.get(error.code(), "internal"), error.message()
            elif response is not None:
                try:
                    outputs = [_wire(*_checked(t, declared)) for t in response.output_tensors()
                               if not wanted or t.name() in wanted]
                except ModelError as exc:
                    raise pb_utils.TritonModelException("send: " + str(exc)) from None
            try:
                _modelgrid_responses.send(capsule, outputs, code, message, final)
            except RuntimeError as exc:
                raise pb_utils.TritonModelException("send: " + str(exc)) from None

        requests[0]._sender = pb_utils.InferenceResponseSender(
            send, lambda: _modelgrid_responses.cancelled(capsule))
        result = self._run(requests)
        if result is not None:
            raise ModelError("execute of a decoupled model returned %s: it must return None "
                             "and answer through get_response_sender()" % type(result).__name__)

    def finalize(self):
        if hasattr(self.instance, "finalize"):
            self._settle(self.instance.finalize())
        if self._loop is not None:
            self._loop.close()
        sys.modules.pop(self.module_name, None)


def _import_model(model_py, folder, model_name):
    """Imports `model_py` as a module of its own (with `folder` active) and returns the
    module's name and its TritonPythonModel class; raises ModelError."""
    module_name = _MODEL_MODULE_PREFIX + str(next(_module_numbers))
    spec = importlib.util.spec_from_file_location(module_name, model_py)
    module = importlib.util.module_from_spec(spec)
    module.__modelgrid_folder__ = folder
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        sys.stderr.write("model %s: import failed:\n%s" % (model_name, _full_traceback(exc)))
        raise ModelError("importing model.py raised " + summarize(exc),
                         "invalid argument") from None
    cls = getattr(module, "TritonPythonModel", None)
    if cls is None:
        sys.modules.pop(module_name, None)
        raise ModelError("model.py defines no class TritonPythonModel", "invalid argument")
    return module_name, cls


def load(model_py, args_json):
    """Imports `model_py` under a module name of its own, makes its TritonPythonModel and
    calls initialize(args). `args_json`: Triton's args dict, as JSON. The modules it
    imports from its folder are its own (ModelFolder)."""
    args = json.loads(args_json)
    config = json.loads(args["model_config"])
    folder = ModelFolder(os.path.dirname(os.path.abspath(model_py)))
    with folder.active():
        module_name, cls = _import_model(model_py, folder, args["model_name"])
        try:
            instance = cls()
            loaded = LoadedModel(args["model_name"], instance, config, module_name, folder)
            if hasattr(instance, "initialize"):
                loaded._settle(instance.initialize(args))
        except Exception as exc:
            sys.modules.pop(module_name, None)
            sys.stderr.write("model %s: initialize failed:\n%s" % (args["model_name"],
                                                                   _full_traceback(exc)))
            raise ModelError("initialize raised " + summarize(exc), "invalid argument") from None
    return loaded


def auto_complete(model_py, config_json):
    """The config (JSON) after TritonPythonModel.auto_complete_config, or `config_json`
    unchanged when the model defines no such hook."""
    config = json.loads(config_json)
    folder = ModelFolder(os.path.dirname(os.path.abspath(model_py)))
    with folder.active():
        _, cls = _import_model(model_py, folder, config.get("name", model_py))
        hook = getattr(cls, "auto_complete_config", None)
        if hook is None:
            return config_json
        try:
            completed = hook(pb_utils.ModelConfig(config))
        except Exception as exc:
            raise ModelError("auto_complete_config raised " + summarize(exc),
                             "invalid argument") from None
        if not isinstance(completed, pb_utils.ModelConfig):
            raise ModelError("auto_complete_config returned a %s, not its ModelConfig"
                             % type(completed).__name__, "invalid argument")
        return json.dumps(completed.as_dict())


def metrics_json():
    """The models' custom metrics (pb_utils.MetricFamily) as a JSON array."""
    return json.dumps(pb_utils.MetricFamily._export())


def cuda_memory():
    """(allocated, reserved, peak allocated) bytes of torch's CUDA caching allocator when a
    model has initialised CUDA through torch, else None."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return (int(torch.cuda.memory_allocated()), int(torch.cuda.memory_reserved()),
            int(torch.cuda.max_memory_allocated()))
