// Joining requests into one batch along dimension 0 and splitting the outputs back, for
// the backend tests that check a batched forward against single ones. (Serving batches in
// ModelGrid's dynamic batcher, which joins the inputs as they go into the arena.)
#pragma once

#include <algorithm>
#include <vector>

#include "backends/backend.h"

namespace modelgrid::testing {

struct BatchedInputs {
  std::vector<HostTensor> inputs;    // one per input, requests concatenated along dim 0
  std::vector<int64_t> batch_sizes;  // dim 0 of each request, in order
};

// Concatenates requests along dimension 0. requests[r][i] is input i of request r; every
// request must list the same names and dtypes in the same order with the same dims after
// dim 0, and all inputs of one request must share dim 0. kInvalidArgument otherwise.
inline Result<BatchedInputs> ConcatenateBatch(
    const std::vector<std::vector<HostTensorView>>& requests) {
  if (requests.empty()) return InvalidArgument("no requests to batch");
  const std::vector<HostTensorView>& first = requests.front();
  BatchedInputs out;
  for (const HostTensorView& view : first) {
    if (view.shape.empty()) return InvalidArgument("input " + view.name + " has no batch dim");
    out.inputs.push_back({view.name, view.dtype, view.shape, {}});
    out.inputs.back().shape[0] = 0;
  }
  for (size_t r = 0; r < requests.size(); ++r) {
    const std::vector<HostTensorView>& request = requests[r];
    if (request.size() != first.size()) {
      return InvalidArgument("request " + std::to_string(r) + " has " +
                             std::to_string(request.size()) + " inputs, the first has " +
                             std::to_string(first.size()));
    }
    for (size_t i = 0; i < request.size(); ++i) {
      const HostTensorView& view = request[i];
      HostTensor& batched = out.inputs[i];
      const bool same_tail =
          view.shape.size() == batched.shape.size() &&
          std::equal(view.shape.begin() + 1, view.shape.end(), batched.shape.begin() + 1);
      if (view.name != batched.name || view.dtype != batched.dtype || !same_tail ||
          view.shape[0] != request[0].shape[0]) {
        return InvalidArgument("input " + view.name + " of request " + std::to_string(r) + " (" +
                               std::string(TensorDTypeName(view.dtype)) + " " +
                               ShapeToString(view.shape) + ") does not batch with request 0");
      }
      if (view.byte_size !=
          static_cast<size_t>(ShapeElementCount(view.shape)) * TensorDTypeSize(view.dtype)) {
        return InvalidArgument("input " + view.name + " of request " + std::to_string(r) + " has " +
                               std::to_string(view.byte_size) +
                               " bytes, its shape needs another size");
      }
      batched.shape[0] += view.shape[0];
      batched.data.insert(batched.data.end(), view.data, view.data + view.byte_size);
    }
    out.batch_sizes.push_back(request.empty() ? 0 : request[0].shape[0]);
  }
  return out;
}

// Splits batched outputs back into one output list per request, by `batch_sizes` (from
// ConcatenateBatch). kInvalidArgument when an output's dim 0 is not their sum.
inline Result<std::vector<std::vector<HostTensor>>> SplitBatch(
    const std::vector<HostTensor>& outputs, const std::vector<int64_t>& batch_sizes) {
  int64_t total = 0;
  for (int64_t b : batch_sizes) total += b;
  std::vector<std::vector<HostTensor>> out(batch_sizes.size());
  for (const HostTensor& output : outputs) {
    if (output.shape.empty() || output.shape[0] != total) {
      return InvalidArgument("output " + output.name + " has shape " + ShapeToString(output.shape) +
                             ", expected dim 0 = " + std::to_string(total));
    }
    const size_t row_bytes = total == 0 ? 0 : output.data.size() / static_cast<size_t>(total);
    size_t offset = 0;
    for (size_t r = 0; r < batch_sizes.size(); ++r) {
      HostTensor part{output.name, output.dtype, output.shape, {}};
      part.shape[0] = batch_sizes[r];
      const size_t bytes = row_bytes * static_cast<size_t>(batch_sizes[r]);
      part.data.assign(output.data.begin() + offset, output.data.begin() + offset + bytes);
      offset += bytes;
      out[r].push_back(std::move(part));
    }
  }
  return out;
}

}  // namespace modelgrid::testing
