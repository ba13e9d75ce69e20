#include "worker/bls_client.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "serve/bls_wire.h"

namespace modelgrid {

BlsClient::~BlsClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::vector<HostTensor>> BlsClient::Call(const BlsCall& call) {
  BlsRequest request;
  request.model = call.model;
  request.version = call.version;
  request.id = call.id;
  if (!call.parameters.empty()) {
    request.parameters = nlohmann::json::parse(call.parameters, nullptr, false);
    if (!request.parameters.is_object()) {
      return InvalidArgument("BLS call to model '" + call.model +
                             "': parameters must be a JSON object");
    }
  }
  for (const HostTensorView& in : call.inputs) {
    request.inputs.push_back({in.name, std::string(TensorDTypeName(in.dtype)), in.shape,
                              std::string(reinterpret_cast<const char*>(in.data), in.byte_size)});
  }
  const std::string frame = EncodeBlsRequest(request);
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) return Status(StatusCode::kUnavailable, "BLS: the channel to the server is gone");
  std::string header, payload;
  Status st = WriteBlsFrame(fd_, frame);
  if (st.ok()) st = ReadBlsFrame(fd_, kReplyTimeoutMs, &header, &payload);
  if (!st.ok()) {
    ::close(fd_);
    fd_ = -1;
    return st.WithContext("BLS call to model '" + call.model + "'");
  }
  MG_ASSIGN_OR_RETURN(BlsReply reply, DecodeBlsReply(header, payload));
  if (!reply.status.ok()) return reply.status;
  std::vector<HostTensor> outputs;
  for (server::Tensor& t : reply.outputs) {
    MG_ASSIGN_OR_RETURN(TensorDType dtype, ParseTensorDType(t.datatype));
    HostTensor out{t.name, dtype, t.shape, {}};
    out.data.assign(t.data.begin(), t.data.end());
    outputs.push_back(std::move(out));
  }
  return outputs;
}

}  // namespace modelgrid
