// PyTorch zip archives: TorchScript (torch.jit.save) and torch.save checkpoints. Tensor
// names, dtypes and shapes come from the pickled `data.pkl` (a restricted pickle reader
// that executes nothing); byte sizes come from the zip entries under `data/`. No weight
// data is read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_reader.h"
#include "formats/tensor_info.h"

namespace modelgrid {

// Where a tensor's elements live: its storage's data/ record and the view's first element.
struct TorchTensorView {
  std::string storage;  // the record's key under data/ ("0", "1", ...)
  uint64_t offset = 0;  // storage offset, in elements
};

struct TorchArchive {
  std::string root;                 // the archive's top folder ("archive", "resnet18", ...)
  bool is_torchscript = false;      // has code/ or constants.pkl
  std::vector<TensorInfo> tensors;  // parameters and buffers, by attribute path
  // Per tensor, in the same order: two names with the same view, dtype and shape are one
  // tensor (tied weights saved under both names).
  std::vector<TorchTensorView> views;
  uint64_t storage_bytes = 0;  // sum of data/ entry sizes (shared storages once)
};

// Parses the archive in `reader`. Fails with kCorruptData on a malformed zip (bad end
// record, entries outside the file, compressed data records) or a pickle that is
// truncated or uses opcodes outside the safe subset, a storage larger than its data/
// record or a tensor view outside its storage; kUnsupported for the legacy (non-zip)
// torch.save format and unknown storage classes; kResourceExhausted when shared pickle
// subtrees would make the walk explode. Never allocates more than the input can justify.
// Limits: 1M zip entries, pickle stacks and memos of 1M items, nesting depth 512.
// Tensors the walk does not recognise (sparse, nested, wrapper subclasses) are left out of
// `tensors` but their storages still count in `storage_bytes`. `reader` is borrowed.
Result<TorchArchive> ParseTorchArchive(const ByteReader& reader);

// The tensors of `archive` with the later names of a tied tensor (same view, dtype and
// shape as an earlier one) left out, as safetensors' save_pretrained leaves them out.
std::vector<TensorInfo> UntiedTensors(const TorchArchive& archive);

}  // namespace modelgrid
