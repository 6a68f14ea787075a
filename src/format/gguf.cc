// GGUF v2/v3 parsing and validation. Every count and length read from the file is bounded
// by the bytes that remain before anything is allocated, so a corrupt or hostile header
// produces an lmd::Error naming the file and field instead of a huge allocation or a read
// past the end of the mapping.
#include "format/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace lmd::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;

struct TypeTraits {
  uint32_t id;
  const char* name;
  int64_t block_elems;
  int64_t block_bytes;
};

// Sizes as in ggml's type_traits (and gguf-py's GGML_QUANT_SIZES).
constexpr TypeTraits kTypes[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 40},      {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},
};

const TypeTraits* find_type(uint32_t id) {
  for (const TypeTraits& t : kTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "unknown";
}

bool is_unsigned(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}
bool is_signed(ValueType t) {
  return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
}
bool is_float(ValueType t) { return t == ValueType::F32 || t == ValueType::F64; }

// Smallest encoding of one value of type t (a string is at least its u64 length).
uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::BOOL: return 1;
    case ValueType::U16:
    case ValueType::I16: return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32: return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::F64); }

// A bounds-checked little-endian cursor over the mapped file.
class Reader {
 public:
  Reader(const uint8_t* data, uint64_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const std::string& field) const {
    LMD_CHECK(n <= remaining()) << path_ << ": truncated file: " << field << " needs " << n
                                << " bytes at offset " << pos_ << " but only " << remaining()
                                << " remain (file size " << size_ << ")";
  }

  template <typename T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& field) {
    const uint64_t len = read<uint64_t>(field + " (string length)");
    LMD_CHECK(len <= remaining()) << path_ << ": " << field << ": string length " << len
                                  << " exceeds the " << remaining()
                                  << " bytes left in the file (truncated or corrupt)";
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

template <typename Out>
std::vector<Out> read_numbers(Reader& r, ValueType t, uint64_t n, const std::string& field) {
  std::vector<Out> out;
  out.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) {
    switch (t) {
      case ValueType::U8: out.push_back(static_cast<Out>(r.read<uint8_t>(field))); break;
      case ValueType::I8: out.push_back(static_cast<Out>(r.read<int8_t>(field))); break;
      case ValueType::U16: out.push_back(static_cast<Out>(r.read<uint16_t>(field))); break;
      case ValueType::I16: out.push_back(static_cast<Out>(r.read<int16_t>(field))); break;
      case ValueType::U32: out.push_back(static_cast<Out>(r.read<uint32_t>(field))); break;
      case ValueType::I32: out.push_back(static_cast<Out>(r.read<int32_t>(field))); break;
      case ValueType::U64: out.push_back(static_cast<Out>(r.read<uint64_t>(field))); break;
      case ValueType::I64: out.push_back(static_cast<Out>(r.read<int64_t>(field))); break;
      case ValueType::F32: out.push_back(static_cast<Out>(r.read<float>(field))); break;
      case ValueType::F64: out.push_back(static_cast<Out>(r.read<double>(field))); break;
      default: break;
    }
  }
  return out;
}

Value read_value(Reader& r, ValueType t, const std::string& field, const std::string& path) {
  Value v;
  v.type = t;
  if (is_unsigned(t)) {
    v.v = read_numbers<uint64_t>(r, t, 1, field)[0];
  } else if (is_signed(t)) {
    v.v = read_numbers<int64_t>(r, t, 1, field)[0];
  } else if (is_float(t)) {
    v.v = read_numbers<double>(r, t, 1, field)[0];
  } else if (t == ValueType::BOOL) {
    const uint8_t b = r.read<uint8_t>(field);
    LMD_CHECK(b <= 1) << path << ": " << field << ": bool value " << int(b) << " is not 0 or 1";
    v.v = b != 0;
  } else if (t == ValueType::STRING) {
    v.v = r.read_string(field);
  } else {  // ARRAY
    const uint32_t et = r.read<uint32_t>(field + " (array element type)");
    LMD_CHECK(valid_value_type(et))
        << path << ": " << field << ": unknown array element type " << et;
    const ValueType elem = static_cast<ValueType>(et);
    LMD_CHECK(elem != ValueType::ARRAY)
        << path << ": " << field << ": nested arrays are not supported";
    v.elem_type = elem;
    const uint64_t n = r.read<uint64_t>(field + " (array length)");
    LMD_CHECK(n <= r.remaining() / min_value_bytes(elem))
        << path << ": " << field << ": array of " << n << " " << value_type_name(elem)
        << " cannot fit in the " << r.remaining() << " bytes left in the file";
    if (is_unsigned(elem)) {
      v.v = read_numbers<uint64_t>(r, elem, n, field);
    } else if (is_signed(elem)) {
      v.v = read_numbers<int64_t>(r, elem, n, field);
    } else if (is_float(elem)) {
      v.v = read_numbers<double>(r, elem, n, field);
    } else if (elem == ValueType::BOOL) {
      std::vector<bool> bs;
      bs.reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) {
        const uint8_t b = r.read<uint8_t>(field);
        LMD_CHECK(b <= 1) << path << ": " << field << "[" << i << "]: bool value " << int(b)
                          << " is not 0 or 1";
        bs.push_back(b != 0);
      }
      v.v = std::move(bs);
    } else {
      std::vector<std::string> ss;
      ss.reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) ss.push_back(r.read_string(field));
      v.v = std::move(ss);
    }
  }
  return v;
}

std::string describe(const Value& v) {
  if (v.type == ValueType::ARRAY) return std::string("array of ") + value_type_name(v.elem_type);
  return value_type_name(v.type);
}

}  // namespace

std::string ggml_type_name(uint32_t type) {
  if (const TypeTraits* t = find_type(type)) return t->name;
  return "type " + std::to_string(type);
}

BlockInfo ggml_block_info(uint32_t type) {
  if (const TypeTraits* t = find_type(type)) return {t->block_elems, t->block_bytes};
  return {0, 0};
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->file_ = MappedFile::open(path);
  const uint64_t size = f->file_->size();
  Reader r(f->file_->data(), size, path);

  LMD_CHECK(size >= 4) << path << ": not a GGUF file: only " << size << " bytes";
  const uint32_t magic = r.read<uint32_t>("magic");
  LMD_CHECK(magic == kMagic) << path << ": not a GGUF file: bad magic 0x" << std::hex << magic
                             << " (expected 0x" << kMagic << " \"GGUF\")";
  f->version_ = r.read<uint32_t>("version");
  LMD_CHECK_KIND(f->version_ != 1, kUnsupported)
      << path << ": GGUF version 1 is not supported (only versions 2 and 3)";
  LMD_CHECK_KIND(f->version_ == 2 || f->version_ == 3, kUnsupported)
      << path << ": unsupported GGUF version " << f->version_ << " (only versions 2 and 3)";
  const uint64_t n_tensors = r.read<uint64_t>("n_tensors");
  const uint64_t n_kv = r.read<uint64_t>("n_kv");
  // A KV pair is at least a key length, a type and one byte; a tensor info at least a
  // name length, n_dims, type and offset.
  LMD_CHECK(n_kv <= r.remaining() / 13)
      << path << ": n_kv = " << n_kv << " cannot fit in the " << r.remaining()
      << " bytes after the header (truncated or corrupt file of " << size << " bytes)";
  LMD_CHECK(n_tensors <= r.remaining() / 24)
      << path << ": n_tensors = " << n_tensors << " cannot fit in the " << r.remaining()
      << " bytes after the header (truncated or corrupt file of " << size << " bytes)";

  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = r.read_string("metadata key #" + std::to_string(i));
    const std::string field = "metadata '" + key + "'";
    LMD_CHECK(f->kv_.count(key) == 0) << path << ": duplicate metadata key '" << key << "'";
    const uint32_t vt = r.read<uint32_t>(field + " (value type)");
    LMD_CHECK(valid_value_type(vt)) << path << ": " << field << ": unknown value type " << vt;
    f->kv_.emplace(key, read_value(r, static_cast<ValueType>(vt), field, path));
  }

  if (f->has("general.alignment")) {
    const Value& a = f->get("general.alignment");
    LMD_CHECK(a.type == ValueType::U32)
        << path << ": metadata 'general.alignment' must be u32, got " << describe(a);
    const uint64_t al = std::get<uint64_t>(a.v);
    LMD_CHECK(al != 0 && (al & (al - 1)) == 0)
        << path << ": metadata 'general.alignment' = " << al << " is not a power of two";
    f->alignment_ = al;
  } else {
    f->alignment_ = kDefaultAlignment;
  }

  f->tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = r.read_string("tensor #" + std::to_string(i) + " name");
    const std::string field = "tensor '" + t.name + "'";
    LMD_CHECK(f->tensor_index_.count(t.name) == 0)
        << path << ": duplicate tensor name '" << t.name << "'";
    const uint32_t n_dims = r.read<uint32_t>(field + " n_dims");
    LMD_CHECK(n_dims >= 1 && n_dims <= kMaxDims)
        << path << ": " << field << ": n_dims = " << n_dims << " (must be 1.." << kMaxDims << ")";
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = r.read<uint64_t>(field + " dims");
      LMD_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          << path << ": " << field << ": dimension " << d << " = " << dim << " is too large";
      t.ne.push_back(static_cast<int64_t>(dim));
      LMD_CHECK(!__builtin_mul_overflow(numel, static_cast<int64_t>(dim), &numel))
          << path << ": " << field << ": element count overflows (dims too large)";
    }
    t.type = r.read<uint32_t>(field + " type");
    t.offset = r.read<uint64_t>(field + " offset");
    const BlockInfo bi = ggml_block_info(t.type);
    if (bi.block_elems > 0) {
      if (t.ne[0] % bi.block_elems != 0) {
        std::string shape;
        for (const int64_t d : t.ne) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        throw Error(path + ": " + field + " (" + ggml_type_name(t.type) + ", ne=[" + shape + "]): row length " +
                    std::to_string(t.ne[0]) + " is not a multiple of the " + ggml_type_name(t.type) +
                    " block size " + std::to_string(bi.block_elems));
      }
      const int64_t blocks = numel / bi.block_elems;
      int64_t nbytes = 0;
      LMD_CHECK(!__builtin_mul_overflow(blocks, bi.block_bytes, &nbytes))
          << path << ": " << field << ": byte size overflows (dims too large)";
      t.nbytes = static_cast<uint64_t>(nbytes);
    }
    f->tensor_index_.emplace(t.name, f->tensors_.size());
    f->tensors_.push_back(std::move(t));
  }

  const uint64_t header_end = r.pos();
  f->data_offset_ = (header_end + f->alignment_ - 1) / f->alignment_ * f->alignment_;
  for (const TensorInfo& t : f->tensors_) {
    LMD_CHECK(t.offset % f->alignment_ == 0)
        << path << ": tensor '" << t.name << "': offset " << t.offset
        << " is not a multiple of the alignment " << f->alignment_;
    const uint64_t room = f->data_offset_ <= size ? size - f->data_offset_ : 0;
    LMD_CHECK(f->data_offset_ <= size && t.offset <= room && t.nbytes <= room - t.offset)
        << path << ": tensor '" << t.name << "': data [" << t.offset << ", +" << t.nbytes
        << ") at file offset " << f->data_offset_ << " runs past the end of the file (size " << size
        << ")";
  }
  // Tensors may come in any order in the table, but their bytes must not overlap.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : f->tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = *by_offset[i - 1];
    const TensorInfo& b = *by_offset[i];
    LMD_CHECK(a.offset + a.nbytes <= b.offset)
        << path << ": tensors '" << a.name << "' and '" << b.name << "' overlap";
  }
  return f;
}

const Value& GgufFile::get(const std::string& key) const {
  auto it = kv_.find(key);
  LMD_CHECK_KIND(it != kv_.end(), kNotFound)
      << path() << ": metadata key '" << key << "' is missing";
  return it->second;
}

namespace {

[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const Value& v,
                             const char* wanted) {
  throw Error(path + ": metadata '" + key + "' is " + describe(v) + ", expected " + wanted);
}

int64_t as_int(const std::string& path, const std::string& key, const Value& v) {
  if (is_signed(v.type)) return std::get<int64_t>(v.v);
  if (is_unsigned(v.type)) {
    const uint64_t u = std::get<uint64_t>(v.v);
    LMD_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        << path << ": metadata '" << key << "' = " << u << " does not fit in int64";
    return static_cast<int64_t>(u);
  }
  wrong_type(path, key, v, "an integer");
}

}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const Value& v = get(key);
  if (v.type != ValueType::STRING) wrong_type(path(), key, v, "string");
  return std::get<std::string>(v.v);
}

int64_t GgufFile::get_int(const std::string& key) const { return as_int(path(), key, get(key)); }

double GgufFile::get_float(const std::string& key) const {
  const Value& v = get(key);
  if (is_float(v.type)) return std::get<double>(v.v);
  if (is_signed(v.type) || is_unsigned(v.type)) return static_cast<double>(as_int(path(), key, v));
  wrong_type(path(), key, v, "a number");
}

bool GgufFile::get_bool(const std::string& key) const {
  const Value& v = get(key);
  if (v.type != ValueType::BOOL) wrong_type(path(), key, v, "bool");
  return std::get<bool>(v.v);
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const Value& v = get(key);
  if (v.type != ValueType::ARRAY || v.elem_type != ValueType::STRING) {
    wrong_type(path(), key, v, "array of string");
  }
  return std::get<std::vector<std::string>>(v.v);
}

std::vector<double> GgufFile::get_float_array(const std::string& key) const {
  const Value& v = get(key);
  if (v.type != ValueType::ARRAY) wrong_type(path(), key, v, "array of numbers");
  if (is_float(v.elem_type)) return std::get<std::vector<double>>(v.v);
  if (is_signed(v.elem_type) || is_unsigned(v.elem_type)) {
    std::vector<double> out;
    for (int64_t x : get_int_array(key)) out.push_back(static_cast<double>(x));
    return out;
  }
  wrong_type(path(), key, v, "array of numbers");
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  const Value& v = get(key);
  if (v.type != ValueType::ARRAY) wrong_type(path(), key, v, "array of integers");
  if (is_signed(v.elem_type)) return std::get<std::vector<int64_t>>(v.v);
  if (is_unsigned(v.elem_type)) {
    std::vector<int64_t> out;
    const auto& u = std::get<std::vector<uint64_t>>(v.v);
    out.reserve(u.size());
    for (size_t i = 0; i < u.size(); ++i) {
      LMD_CHECK(u[i] <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          << path() << ": metadata '" << key << "'[" << i << "] = " << u[i]
          << " does not fit in int64";
      out.push_back(static_cast<int64_t>(u[i]));
    }
    return out;
  }
  wrong_type(path(), key, v, "array of integers");
}

std::string GgufFile::get_string_or(const std::string& key, const std::string& def) const {
  return has(key) ? get_string(key) : def;
}
int64_t GgufFile::get_int_or(const std::string& key, int64_t def) const {
  return has(key) ? get_int(key) : def;
}
double GgufFile::get_float_or(const std::string& key, double def) const {
  return has(key) ? get_float(key) : def;
}
bool GgufFile::get_bool_or(const std::string& key, bool def) const {
  return has(key) ? get_bool(key) : def;
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& GgufFile::tensor(const std::string& name) const {
  const TensorInfo* t = find_tensor(name);
  LMD_CHECK_KIND(t != nullptr, kNotFound) << path() << ": no tensor named '" << name << "'";
  return *t;
}

const uint8_t* GgufFile::tensor_data(const TensorInfo& t) const {
  return file_->data() + data_offset_ + t.offset;
}

}  // namespace lmd::gguf
