// `modelgrid perf -i grpc`: PerfProtocol over KServe v2 gRPC (inference.
// GRPCInferenceService): ModelInfer calls, or with `streaming` one ModelStreamInfer stream per
// sender carrying its requests one after another. Tensors travel in raw_input_contents.
// Each sender has its own channel (its own TCP connection), as HTTP senders have theirs.
#pragma once

#include <memory>

#include "perf/load_generator.h"
#include "perf/protocol.h"

namespace modelgrid::perf {

// The server is options.url's host and port (its path is not used).
std::unique_ptr<PerfProtocol> MakeGrpcProtocol(const PerfOptions& options, bool streaming);

}  // namespace modelgrid::perf
