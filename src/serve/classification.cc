#include "serve/classification.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "backends/backend.h"
#include "server/tensor_codec.h"

namespace modelgrid {

namespace {

// One class's value, as Triton prints it: std::to_string of the output's own type.
struct Scored {
  double key = 0;  // for ordering
  std::string text;
};

template <typename T>
std::vector<Scored> ReadScores(const std::string& data) {
  std::vector<Scored> out(data.size() / sizeof(T));
  for (size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    out[i] = {static_cast<double>(v), std::to_string(v)};
  }
  return out;
}

Result<std::vector<Scored>> Scores(const server::Tensor& t) {
  const std::string& dt = t.datatype;
  if (dt == "FP32") return ReadScores<float>(t.data);
  if (dt == "FP64") return ReadScores<double>(t.data);
  if (dt == "INT8") return ReadScores<int8_t>(t.data);
  if (dt == "INT16") return ReadScores<int16_t>(t.data);
  if (dt == "INT32") return ReadScores<int32_t>(t.data);
  if (dt == "INT64") return ReadScores<int64_t>(t.data);
  if (dt == "UINT8") return ReadScores<uint8_t>(t.data);
  if (dt == "UINT16") return ReadScores<uint16_t>(t.data);
  if (dt == "UINT32") return ReadScores<uint32_t>(t.data);
  if (dt == "UINT64") return ReadScores<uint64_t>(t.data);
  return InvalidArgument("output '" + t.name + "' is " + dt +
                         ": classification needs an integer, FP32 or FP64 output");
}

}  // namespace

Result<server::Tensor> Classify(const server::Tensor& scores, int class_count, bool batched,
                                const std::vector<std::string>& labels) {
  MG_ASSIGN_OR_RETURN(std::vector<Scored> values, Scores(scores));
  const int64_t batch = batched && !scores.shape.empty() ? scores.shape[0] : 1;
  if (batch <= 0 || values.empty() || values.size() % static_cast<size_t>(batch) != 0) {
    return InvalidArgument("output '" + scores.name + "' has no classes to classify");
  }
  const size_t classes = values.size() / static_cast<size_t>(batch);
  if (static_cast<size_t>(class_count) > classes) {
    return InvalidArgument("classification " + std::to_string(class_count) + " of output '" +
                           scores.name + "' exceeds its " + std::to_string(classes) + " classes");
  }
  server::Tensor out{scores.name, "BYTES", {}, ""};
  if (batched) out.shape.push_back(batch);
  out.shape.push_back(class_count);
  std::vector<size_t> order(classes);
  for (int64_t b = 0; b < batch; ++b) {
    const Scored* row = values.data() + static_cast<size_t>(b) * classes;
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return row[x].key > row[y].key; });
    for (int k = 0; k < class_count; ++k) {
      const size_t index = order[static_cast<size_t>(k)];
      std::string element = row[index].text + ":" + std::to_string(index);
      if (index < labels.size() && !labels[index].empty()) element += ":" + labels[index];
      AppendBytesElement(&out.data, element);
    }
  }
  return out;
}

}  // namespace modelgrid
