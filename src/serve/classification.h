// Triton's classification extension: an output returned as its top-N classes instead of
// its scores. Each element is the BYTES string "<value>:<index>[:<label>]", highest value
// first (compared in the output's own type; ties keep the lower index first), in a tensor
// of shape [batch, N] for a model that batches and [N] for one that does not.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "server/inference_service.h"

namespace modelgrid {

// `scores`: the model's output. `batched`: its first dimension is the batch. `labels`:
// the output's label file, one per class index (may be empty or shorter: classes without a
// label get none). kInvalidArgument when the output is not numeric, has no classes, or
// `class_count` exceeds them.
Result<server::Tensor> Classify(const server::Tensor& scores, int class_count, bool batched,
                                const std::vector<std::string>& labels);

}  // namespace modelgrid
