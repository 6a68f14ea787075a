#include "convert/gguf_writer.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace lmd::convert {
namespace {

using gguf::Value;
using gguf::ValueType;

class Out {
 public:
  template <typename T>
  void pod(T v) {
    const char* p = reinterpret_cast<const char*>(&v);
    buf_.append(p, sizeof(T));
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    buf_ += s;
  }
  std::string& buf() { return buf_; }

 private:
  std::string buf_;
};

// One scalar of type `t` from the widened representation the reader keeps.
void put_u(Out& o, ValueType t, uint64_t v) {
  switch (t) {
    case ValueType::U8: o.pod<uint8_t>(static_cast<uint8_t>(v)); break;
    case ValueType::U16: o.pod<uint16_t>(static_cast<uint16_t>(v)); break;
    case ValueType::U32: o.pod<uint32_t>(static_cast<uint32_t>(v)); break;
    default: o.pod<uint64_t>(v);
  }
}
void put_i(Out& o, ValueType t, int64_t v) {
  switch (t) {
    case ValueType::I8: o.pod<int8_t>(static_cast<int8_t>(v)); break;
    case ValueType::I16: o.pod<int16_t>(static_cast<int16_t>(v)); break;
    case ValueType::I32: o.pod<int32_t>(static_cast<int32_t>(v)); break;
    default: o.pod<int64_t>(v);
  }
}
void put_f(Out& o, ValueType t, double v) {
  if (t == ValueType::F32) o.pod<float>(static_cast<float>(v));
  else o.pod<double>(v);
}

void put_value(Out& o, const std::string& key, const Value& v) {
  o.pod<uint32_t>(static_cast<uint32_t>(v.type));
  if (v.type == ValueType::ARRAY) {
    o.pod<uint32_t>(static_cast<uint32_t>(v.elem_type));
    if (auto* a = std::get_if<std::vector<uint64_t>>(&v.v)) {
      o.pod<uint64_t>(a->size());
      for (uint64_t x : *a) put_u(o, v.elem_type, x);
    } else if (auto* a = std::get_if<std::vector<int64_t>>(&v.v)) {
      o.pod<uint64_t>(a->size());
      for (int64_t x : *a) put_i(o, v.elem_type, x);
    } else if (auto* a = std::get_if<std::vector<double>>(&v.v)) {
      o.pod<uint64_t>(a->size());
      for (double x : *a) put_f(o, v.elem_type, x);
    } else if (auto* a = std::get_if<std::vector<bool>>(&v.v)) {
      o.pod<uint64_t>(a->size());
      for (bool x : *a) o.pod<uint8_t>(x ? 1 : 0);
    } else if (auto* a = std::get_if<std::vector<std::string>>(&v.v)) {
      o.pod<uint64_t>(a->size());
      for (const std::string& x : *a) o.str(x);
    } else {
      throw Error("gguf writer: key " + key + ": array value holds no array");
    }
    return;
  }
  if (auto* x = std::get_if<uint64_t>(&v.v)) put_u(o, v.type, *x);
  else if (auto* x = std::get_if<int64_t>(&v.v)) put_i(o, v.type, *x);
  else if (auto* x = std::get_if<double>(&v.v)) put_f(o, v.type, *x);
  else if (auto* x = std::get_if<bool>(&v.v)) o.pod<uint8_t>(*x ? 1 : 0);
  else if (auto* x = std::get_if<std::string>(&v.v)) o.str(*x);
  else throw Error("gguf writer: key " + key + ": scalar value holds an array");
}

}  // namespace

void write_gguf_metadata(const std::string& path, const std::map<std::string, Value>& kv) {
  Out o;
  o.pod<uint32_t>(0x46554747u);  // "GGUF"
  o.pod<uint32_t>(3);
  o.pod<uint64_t>(0);  // tensors
  o.pod<uint64_t>(kv.size());
  for (const auto& [key, v] : kv) {
    o.str(key);
    put_value(o, key, v);
  }
  uint64_t align = 32;
  auto it = kv.find("general.alignment");
  if (it != kv.end()) {
    if (auto* a = std::get_if<uint64_t>(&it->second.v)) align = *a ? *a : 32;
  }
  while (o.buf().size() % align) o.buf().push_back('\0');  // empty data section starts aligned
  std::ofstream f(path, std::ios::binary);
  LMD_CHECK(f.good()) << "cannot write " << path << ": " << std::strerror(errno);
  f.write(o.buf().data(), static_cast<std::streamsize>(o.buf().size()));
  f.close();
  LMD_CHECK(!f.fail()) << "cannot write " << path << ": " << std::strerror(errno);
}

void write_vocab_gguf(const gguf::GgufFile& src, const std::string& dst_path) {
  // tokenizer.* and general.* are what a tokenizer needs; the architecture's hyper-
  // parameters are kept too so llama.cpp can open the file with vocab_only.
  write_gguf_metadata(dst_path, src.metadata());
}

}  // namespace lmd::convert
