// GGUF v2/v3 reader: header, metadata of every value type, tensor table, alignment,
// memory-mapped tensor data. Every offset and size is validated against the file size
// when the file is opened; errors name the file and the field / tensor at fault.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/mmap_file.h"

namespace lmd::gguf {

// ggml type ids as stored in the file.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
};
// "F32", "Q4_1", ... or "type 17" for ids we do not know.
std::string ggml_type_name(uint32_t type);
// Elements per block and bytes per block; {0, 0} for unknown types.
struct BlockInfo { int64_t block_elems; int64_t block_bytes; };
BlockInfo ggml_block_info(uint32_t type);

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8,
  ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// A metadata value. Scalars of every integer width are held as int64 / uint64; arrays
// keep their element type.
struct Value {
  ValueType type = ValueType::U8;
  ValueType elem_type = ValueType::U8;  // for ARRAY
  std::variant<uint64_t, int64_t, double, bool, std::string,
               std::vector<uint64_t>, std::vector<int64_t>, std::vector<double>,
               std::vector<bool>, std::vector<std::string>> v;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;   // ggml order: innermost first (PyTorch [out, in] -> ne = {in, out})
  uint32_t type = 0;         // GgmlType id
  uint64_t offset = 0;       // relative to the data section
  uint64_t nbytes = 0;       // computed from ne and type
  int64_t n_elements() const;
};

class GgufFile {
 public:
  // Opens and validates. Unknown tensor types are accepted here (a vocab reader does not
  // need them) and rejected by dequantize() with a message naming tensor and type.
  static std::unique_ptr<GgufFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }

  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  const Value& get(const std::string& key) const;  // throws naming the key when missing
  const std::map<std::string, Value>& metadata() const { return kv_; }

  // Typed getters: throw lmd::Error naming the key when missing or of the wrong type.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;      // any integer type
  double get_float(const std::string& key) const;     // f32/f64 (or an integer)
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<double> get_float_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  // With defaults when the key is absent (still throws on a wrong type).
  std::string get_string_or(const std::string& key, const std::string& def) const;
  int64_t get_int_or(const std::string& key, int64_t def) const;
  double get_float_or(const std::string& key, double def) const;
  bool get_bool_or(const std::string& key, bool def) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;  // nullptr when absent
  const TensorInfo& tensor(const std::string& name) const;        // throws naming it
  const uint8_t* tensor_data(const TensorInfo& t) const;           // start of its bytes
  // Drops t's mapped pages from RSS once a loader has copied it (MappedFile::drop_pages).
  void drop_tensor_pages(const TensorInfo& t) const { file_->drop_pages(data_offset_ + t.offset, t.nbytes); }

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, Value> kv_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// Dequantises n_elements values of `type` (a whole number of blocks) to fp32 with the
// reference scalar formulas of ggml-quants.c (bit-exact with the gguf Python package).
// Throws lmd::Error naming `what` (the tensor) and the type when unsupported.
void dequantize(uint32_t type, const uint8_t* src, float* dst, int64_t n_elements,
                const std::string& what);
// Whole tensor, rows of ne[0] values.
std::vector<float> dequantize_tensor(const GgufFile& f, const TensorInfo& t);

}  // namespace lmd::gguf
