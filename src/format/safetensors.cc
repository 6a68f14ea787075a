// safetensors: 8-byte little-endian header length, a JSON header, then the data region.
// The header is validated completely at open, so a Tensor's (data, nbytes) can be used
// without further checks. Tensor data is not necessarily aligned (the header length is
// arbitrary in files written by others): read it with memcpy.
#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace lmd::safetensors {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own reader limit

struct DTypeEntry {
  StDType type;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {StDType::F32, "F32", 4}, {StDType::F16, "F16", 2}, {StDType::BF16, "BF16", 2},
    {StDType::I32, "I32", 4}, {StDType::U8, "U8", 1},   {StDType::I8, "I8", 1},
    {StDType::I64, "I64", 8}, {StDType::F64, "F64", 8}, {StDType::BOOL, "BOOL", 1},
};

bool parse_dtype(const std::string& s, StDType* out) {
  for (const DTypeEntry& e : kDTypes) {
    if (s == e.name) {
      *out = e.type;
      return true;
    }
  }
  return false;
}

// A non-negative JSON integer, or an error naming `what`.
uint64_t as_index(const json& j, const std::string& path, const std::string& what) {
  LMD_CHECK(j.is_number_integer())
      << path << ": " << what << " must be an integer, got " << j.dump();
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  const int64_t v = j.get<int64_t>();
  LMD_CHECK(v >= 0) << path << ": " << what << " must not be negative, got " << v;
  return static_cast<uint64_t>(v);
}

Tensor parse_entry(const std::string& path, const std::string& name, const json& e,
                   const uint8_t* data, uint64_t data_size, uint64_t* begin_out) {
  const std::string what = "tensor '" + name + "'";
  LMD_CHECK(e.is_object()) << path << ": " << what << ": header entry is not an object";
  Tensor t;
  t.name = name;
  t.file = path;
  LMD_CHECK(e.contains("dtype") && e["dtype"].is_string())
      << path << ": " << what << ": missing string field 'dtype'";
  const std::string dt = e["dtype"].get<std::string>();
  LMD_CHECK_KIND(parse_dtype(dt, &t.dtype), kUnsupported)
      << path << ": " << what << ": unsupported dtype '" << dt << "'";
  LMD_CHECK(e.contains("shape") && e["shape"].is_array())
      << path << ": " << what << ": missing array field 'shape'";
  uint64_t numel = 1;
  for (const json& d : e["shape"]) {
    const uint64_t dim = as_index(d, path, what + " shape");
    LMD_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
              !__builtin_mul_overflow(numel, dim, &numel))
        << path << ": " << what << ": shape " << e["shape"].dump() << " is too large";
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  LMD_CHECK(e.contains("data_offsets") && e["data_offsets"].is_array() &&
            e["data_offsets"].size() == 2)
      << path << ": " << what << ": 'data_offsets' must be an array [begin, end]";
  const uint64_t begin = as_index(e["data_offsets"][0], path, what + " data_offsets[0]");
  const uint64_t end = as_index(e["data_offsets"][1], path, what + " data_offsets[1]");
  LMD_CHECK(begin <= end && end <= data_size)
      << path << ": " << what << ": data_offsets [" << begin << ", " << end
      << "] outside the data region of " << data_size << " bytes";
  uint64_t expect = 0;
  LMD_CHECK(
      !__builtin_mul_overflow(numel, static_cast<uint64_t>(st_dtype_size(t.dtype)), &expect) &&
      end - begin == expect)
      << path << ": " << what << ": data_offsets [" << begin << ", " << end << "] hold "
      << end - begin << " bytes but shape " << e["shape"].dump() << " x " << dt << " needs "
      << expect;
  t.data = data + begin;
  t.nbytes = static_cast<size_t>(end - begin);
  *begin_out = begin;
  return t;
}

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  LMD_CHECK_KIND(in.good(), kNotFound) << path << ": cannot open";
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

}  // namespace

const char* st_dtype_name(StDType t) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.type == t) return e.name;
  }
  return "?";
}

size_t st_dtype_size(StDType t) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.type == t) return e.size;
  }
  return 0;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->file_ = MappedFile::open(path);
  const uint64_t size = f->file_->size();
  LMD_CHECK(size >= 8) << path << ": not a safetensors file: only " << size << " bytes";
  uint64_t header_len;
  std::memcpy(&header_len, f->file_->data(), 8);
  LMD_CHECK(header_len <= kMaxHeaderBytes)
      << path << ": safetensors header length " << header_len << " exceeds the 100 MB limit";
  LMD_CHECK(header_len <= size - 8) << path << ": safetensors header length " << header_len
                                    << " is past the end of the file (size " << size << ")";
  const char* hp = reinterpret_cast<const char*>(f->file_->data() + 8);
  json header;
  try {
    header = json::parse(hp, hp + header_len);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid safetensors JSON header: " + e.what());
  }
  LMD_CHECK(header.is_object()) << path << ": safetensors header is not a JSON object";

  const uint8_t* data = f->file_->data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, const Tensor*>> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      LMD_CHECK(it->is_object()) << path << ": '__metadata__' is not an object";
      for (auto m = it->begin(); m != it->end(); ++m) {
        LMD_CHECK(m->is_string()) << path << ": __metadata__ '" << m.key() << "' is not a string";
        f->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    uint64_t begin = 0;
    Tensor t = parse_entry(path, it.key(), *it, data, data_size, &begin);
    auto [pos, inserted] = f->tensors_.emplace(it.key(), std::move(t));
    LMD_CHECK(inserted) << path << ": duplicate tensor '" << it.key() << "'";
    spans.emplace_back(begin, &pos->second);
  }
  std::sort(spans.begin(), spans.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const Tensor* last = nullptr;  // the non-empty tensor reaching furthest so far
  uint64_t last_end = 0;
  for (const auto& [begin, t] : spans) {
    if (t->nbytes == 0) continue;
    LMD_CHECK(last == nullptr || last_end <= begin)
        << path << ": tensors '" << last->name << "' and '" << t->name << "' overlap";
    last = t;
    last_end = begin + t->nbytes;
  }
  return f;
}

std::unique_ptr<Checkpoint> Checkpoint::open_dir(const std::string& dir) {
  std::unique_ptr<Checkpoint> c(new Checkpoint());
  c->dir_ = dir;
  LMD_CHECK_KIND(fs::is_directory(dir), kNotFound) << dir << ": not a directory";
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(single)) {
    c->files_.push_back(SafetensorsFile::open(single.string()));
  } else if (fs::exists(index)) {
    const json j = read_json_file(index.string());
    LMD_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object())
        << index.string() << ": missing object 'weight_map'";
    std::map<std::string, size_t> shard_index;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      LMD_CHECK(it->is_string()) << index.string() << ": weight_map '" << it.key()
                                 << "' is not a file name";
      const std::string shard = it->get<std::string>();
      LMD_CHECK(shard.find('/') == std::string::npos && shard != ".." && !shard.empty())
          << index.string() << ": weight_map '" << it.key() << "': bad shard name '" << shard
          << "'";
      auto s = shard_index.find(shard);
      if (s == shard_index.end()) {
        const fs::path sp = fs::path(dir) / shard;
        LMD_CHECK_KIND(fs::exists(sp), kNotFound)
            << index.string() << ": shard '" << shard << "' (listed for '" << it.key()
            << "') does not exist";
        c->files_.push_back(SafetensorsFile::open(sp.string()));
        s = shard_index.emplace(shard, c->files_.size() - 1).first;
      }
      const auto& tensors = c->files_[s->second]->tensors();
      auto t = tensors.find(it.key());
      LMD_CHECK(t != tensors.end()) << index.string() << ": tensor '" << it.key()
                                    << "' is not in its shard '" << shard << "'";
      c->index_[it.key()] = &t->second;
    }
    return c;
  } else {
    std::vector<std::string> paths;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().extension() == ".safetensors") {
        paths.push_back(e.path().string());
      }
    }
    std::sort(paths.begin(), paths.end());
    LMD_CHECK_KIND(!paths.empty(), kNotFound) << dir << ": no *.safetensors files";
    for (const std::string& p : paths) c->files_.push_back(SafetensorsFile::open(p));
  }
  for (const auto& f : c->files_) {
    for (const auto& [name, t] : f->tensors()) {
      auto [it, inserted] = c->index_.emplace(name, &t);
      LMD_CHECK(inserted) << dir << ": tensor '" << name << "' is in both " << it->second->file
                          << " and " << t.file;
    }
  }
  return c;
}

const Tensor& Checkpoint::get(const std::string& name) const {
  auto it = index_.find(name);
  LMD_CHECK_KIND(it != index_.end(), kNotFound) << dir_ << ": no tensor named '" << name << "'";
  return *it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

void write_file(const std::string& path, const std::vector<TensorToWrite>& tensors,
                const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  for (const TensorToWrite& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorToWrite& t = *order[i];
    LMD_CHECK(i == 0 || order[i - 1]->name != t.name)
        << path << ": duplicate tensor '" << t.name << "' to write";
    LMD_CHECK(t.name != "__metadata__") << path << ": '__metadata__' is not a tensor name";
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      LMD_CHECK(d >= 0) << path << ": tensor '" << t.name << "' has a negative dimension";
      numel *= d;
    }
    LMD_CHECK(static_cast<uint64_t>(numel) * st_dtype_size(t.dtype) == t.nbytes)
        << path << ": tensor '" << t.name << "': " << t.nbytes << " bytes given, shape needs "
        << static_cast<uint64_t>(numel) * st_dtype_size(t.dtype);
    header[t.name] = {{"dtype", st_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data region starts 8-byte aligned

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  LMD_CHECK(out.good()) << path << ": cannot open for writing";
  const uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorToWrite* t : order) {
    if (t->nbytes)
      out.write(static_cast<const char*>(t->data), static_cast<std::streamsize>(t->nbytes));
  }
  out.close();
  LMD_CHECK(!out.fail()) << path << ": write failed";
}

}  // namespace lmd::safetensors
