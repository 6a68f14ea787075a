// safetensors reader: single file or sharded (model.safetensors.index.json), memory-
// mapped. Header JSON validated: every tensor's dtype known, shape non-negative,
// data_offsets inside the file and matching shape × dtype size, no overlaps.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mmap_file.h"

namespace lmd::safetensors {

enum class StDType { F32, F16, BF16, I32, U8, I8, I64, F64, BOOL };
// "F32", "F16", "BF16", "I32", "U8", "I8", "I64", "F64", "BOOL" as in the header.
const char* st_dtype_name(StDType t);
size_t st_dtype_size(StDType t);

struct Tensor {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;  // PyTorch order
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;            // which file it came from (for error messages)
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_->path(); }

 private:
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint directory: model.safetensors, or the shards listed in
// model.safetensors.index.json (every listed shard must exist and hold what the index
// says), or every *.safetensors file when neither exists.
class Checkpoint {
 public:
  static std::unique_ptr<Checkpoint> open_dir(const std::string& dir);
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const Tensor& get(const std::string& name) const;  // throws naming tensor and directory
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const Tensor*> index_;
};

// Writes one safetensors file (used by tools and lite auto_awq). Tensors are written in
// name order with 8-byte aligned header padding.
struct TensorToWrite {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
void write_file(const std::string& path, const std::vector<TensorToWrite>& tensors,
                const std::map<std::string, std::string>& metadata = {});

}  // namespace lmd::safetensors
