// KServe v2 gRPC tensors <-> the front end's InferRequest and InferResponse.
//
// Pure functions of their inputs (no I/O), thread-safe, never throw. A request that is
// malformed, or asks for something ModelGrid does not do (an unknown parameter, typed
// contents for FP16), is kInvalidArgument naming the field: nothing is silently ignored.
#pragma once

#include "common/status.h"
#include "grpc_service.pb.h"
#include "server/inference_service.h"

namespace modelgrid::rpc {

// Builds the core's request. Each input takes its bytes from, in this order of preference:
// a shared-memory region (its "shared_memory_region" parameters; the bytes are read later,
// by ResolveSharedMemory), its typed `contents`, or the next `raw_input_contents` entry;
// raw and typed contents do not mix, and every raw entry must belong to an input. Takes the
// raw bytes out of `proto` (they are moved, not copied).
//
// Parameters taken: on the request "binary_data_output" (a no-op here: gRPC outputs are
// always raw); on an input the shared-memory ones; on an output "classification",
// "binary_data" (a no-op) and the shared-memory ones.
Result<server::InferRequest> RequestFromProto(inference::ModelInferRequest& proto);

// Fills `out` from `response`: the outputs `request_info.requested_outputs` names, in that
// order, or every output when it names none. Every output's bytes go in
// `raw_output_contents`, moved, one entry per output; an output written to shared memory
// gets an empty entry and its region in the output's parameters. kInternal when the
// response lacks a requested output.
Status ResponseToProto(server::InferResponse response, const server::InferRequest& request_info,
                       inference::ModelInferResponse* out);

}  // namespace modelgrid::rpc
