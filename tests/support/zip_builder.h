// Builds small zip archives in memory for tests: stored entries, a fake "compressed"
// method, zip64 records, comments and local-header padding like PyTorch's writer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelgrid::testing {

class ZipBuilder {
 public:
  struct Options {
    bool zip64 = false;   // saturate 32-bit fields and write zip64 extras and end records
    std::string comment;  // archive comment after the end record
    uint16_t pad_to = 0;  // align entry data to this many bytes (PyTorch uses 64)
  };

  ZipBuilder() = default;
  explicit ZipBuilder(Options options) : options_(std::move(options)) {}

  // Adds an entry; `method` is written as given (the data is not actually compressed).
  ZipBuilder& Add(std::string name, std::string data, uint16_t method = 0) {
    entries_.push_back({std::move(name), std::move(data), method, 0});
    return *this;
  }

  std::string Build() {
    std::string out;
    for (auto& e : entries_) {
      e.offset = out.size();
      std::string extra;
      if (options_.pad_to > 0) {
        uint64_t data_at = out.size() + 30 + e.name.size() + 4;
        uint16_t pad =
            static_cast<uint16_t>((options_.pad_to - data_at % options_.pad_to) % options_.pad_to);
        Put16(&extra, 0x4650);  // PyTorch's "FB" padding field
        Put16(&extra, pad);
        extra.append(pad, 'Z');
      }
      Put32(&out, 0x04034b50);
      Put16(&out, 20);
      Put16(&out, 0);
      Put16(&out, e.method);
      Put32(&out, 0);  // time, date
      Put32(&out, 0);  // crc (not checked)
      Put32(&out, static_cast<uint32_t>(e.data.size()));
      Put32(&out, static_cast<uint32_t>(e.data.size()));
      Put16(&out, static_cast<uint16_t>(e.name.size()));
      Put16(&out, static_cast<uint16_t>(extra.size()));
      out += e.name;
      out += extra;
      out += e.data;
    }
    const uint64_t cd_offset = out.size();
    for (const auto& e : entries_) {
      std::string extra;
      if (options_.zip64) {
        Put16(&extra, 0x0001);
        Put16(&extra, 24);
        Put64(&extra, e.data.size());
        Put64(&extra, e.data.size());
        Put64(&extra, e.offset);
      }
      const uint32_t size32 = options_.zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(e.data.size());
      Put32(&out, 0x02014b50);
      Put16(&out, 45);
      Put16(&out, 45);
      Put16(&out, 0);
      Put16(&out, e.method);
      Put32(&out, 0);
      Put32(&out, 0);
      Put32(&out, size32);
      Put32(&out, size32);
      Put16(&out, static_cast<uint16_t>(e.name.size()));
      Put16(&out, static_cast<uint16_t>(extra.size()));
      Put16(&out, 0);  // comment
      Put16(&out, 0);  // disk
      Put16(&out, 0);  // internal attributes
      Put32(&out, 0);  // external attributes
      Put32(&out, options_.zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(e.offset));
      out += e.name;
      out += extra;
    }
    const uint64_t cd_size = out.size() - cd_offset;
    if (options_.zip64) {
      const uint64_t record_at = out.size();
      Put32(&out, 0x06064b50);
      Put64(&out, 44);
      Put16(&out, 45);
      Put16(&out, 45);
      Put32(&out, 0);
      Put32(&out, 0);
      Put64(&out, entries_.size());
      Put64(&out, entries_.size());
      Put64(&out, cd_size);
      Put64(&out, cd_offset);
      Put32(&out, 0x07064b50);
      Put32(&out, 0);
      Put64(&out, record_at);
      Put32(&out, 1);
    }
    Put32(&out, 0x06054b50);
    Put16(&out, 0);
    Put16(&out, 0);
    const uint16_t count16 = options_.zip64 ? 0xFFFF : static_cast<uint16_t>(entries_.size());
    Put16(&out, count16);
    Put16(&out, count16);
    Put32(&out, options_.zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(cd_size));
    Put32(&out, options_.zip64 ? 0xFFFFFFFF : static_cast<uint32_t>(cd_offset));
    Put16(&out, static_cast<uint16_t>(options_.comment.size()));
    out += options_.comment;
    return out;
  }

  static void Put16(std::string* s, uint16_t v) {
    s->push_back(static_cast<char>(v & 0xFF));
    s->push_back(static_cast<char>(v >> 8));
  }
  static void Put32(std::string* s, uint32_t v) {
    Put16(s, static_cast<uint16_t>(v & 0xFFFF));
    Put16(s, static_cast<uint16_t>(v >> 16));
  }
  static void Put64(std::string* s, uint64_t v) {
    Put32(s, static_cast<uint32_t>(v & 0xFFFFFFFF));
    Put32(s, static_cast<uint32_t>(v >> 32));
  }

 private:
  struct Entry {
    std::string name;
    std::string data;
    uint16_t method;
    uint64_t offset;
  };
  Options options_;
  std::vector<Entry> entries_;
};

}  // namespace modelgrid::testing
