// `lmdeploy inspect FILE`: prints a GGUF's or safetensors file's (or checkpoint
// directory's) metadata and tensor table. With --dump-f32 / --dump-dir it writes tensors
// dequantised to raw little-endian float32 (what tests/python/test_dequant.py compares
// against the gguf package); with --as-loaded, GGUF matrices are first mapped to the canonical
// form the engine loads (src/convert/gguf_repack.h) and dumped from there.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "cli/command.h"
#include "convert/gguf_repack.h"
#include "core/error.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "kernels/common/half.h"

namespace lmd::cli {
namespace {

namespace fs = std::filesystem;

constexpr size_t kArrayPreview = 8;     // array elements shown before "..."
constexpr size_t kStringPreview = 120;  // characters of a string shown before "..."

struct InspectOptions {
  std::string file;
  std::vector<std::string> tensors;  // empty: all
  std::string dump_f32;              // one tensor -> this file
  std::string dump_dir;              // each selected tensor -> DIR/<name>.f32
  bool as_loaded = false;            // dump GGUF matrices as load maps them (gguf_repack.h)
};

// A string on one line: control characters escaped, long text cut.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kStringPreview; ++i) {
    const char c = s[i];
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  if (s.size() > kStringPreview) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

const char* value_type_name(gguf::ValueType t) {
  static const char* kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                 "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

template <typename T, typename Fmt>
std::string preview(const std::vector<T>& xs, Fmt fmt) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < xs.size() && i < kArrayPreview; ++i) os << (i ? ", " : "") << fmt(xs[i]);
  if (xs.size() > kArrayPreview) os << ", ...";
  os << "]";
  return os.str();
}

std::string format_value(const gguf::Value& v) {
  using VT = gguf::ValueType;
  std::ostringstream os;
  auto num = [](auto x) {
    std::ostringstream s;
    s.precision(9);
    s << x;
    return s.str();
  };
  if (v.type == VT::ARRAY) {
    os << "array[" << value_type_name(v.elem_type) << "; ";
    std::visit(
        [&](const auto& x) {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, std::vector<std::string>>) {
            os << x.size() << "] = " << preview(x, quote);
          } else if constexpr (std::is_same_v<X, std::vector<bool>>) {
            std::vector<int> b(x.begin(), x.end());
            os << x.size() << "] = " << preview(b, [](int y) { return y ? "true" : "false"; });
          } else if constexpr (std::is_same_v<X, std::vector<uint64_t>> ||
                               std::is_same_v<X, std::vector<int64_t>> ||
                               std::is_same_v<X, std::vector<double>>) {
            os << x.size() << "] = " << preview(x, num);
          }
        },
        v.v);
    return os.str();
  }
  os << value_type_name(v.type) << " = ";
  std::visit(
      [&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::string>) {
          os << quote(x);
        } else if constexpr (std::is_same_v<X, bool>) {
          os << (x ? "true" : "false");
        } else if constexpr (std::is_arithmetic_v<X>) {
          os << num(x);
        }
      },
      v.v);
  return os.str();
}

template <typename T>
std::string shape_str(const std::vector<T>& dims) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << "]";
  return os.str();
}

void write_f32(const std::string& path, const std::vector<float>& v) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  LMD_CHECK(out.good()) << path << ": cannot open for writing";
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  out.close();
  LMD_CHECK(!out.fail()) << path << ": write failed";
}

// Tensor names may contain '/' (safetensors): keep dump files inside DIR.
std::string dump_path(const std::string& dir, const std::string& name) {
  std::string file = name;
  for (char& c : file) {
    if (c == '/') c = '_';
  }
  return (fs::path(dir) / (file + ".f32")).string();
}

// Selected names in the order given, or all of `all`; every name must exist.
template <typename Has>
std::vector<std::string> select(const InspectOptions& o, const std::vector<std::string>& all,
                                Has has) {
  if (o.tensors.empty()) return all;
  for (const std::string& n : o.tensors) {
    LMD_CHECK_KIND(has(n), kNotFound) << o.file << ": no tensor named '" << n << "'";
  }
  return o.tensors;
}

template <typename Dequant>
void dump(const InspectOptions& o, const std::vector<std::string>& names, Dequant dequant) {
  if (!o.dump_f32.empty()) {
    LMD_CHECK(names.size() == 1 && !o.tensors.empty())
        << "--dump-f32 needs exactly one --tensor (use --dump-dir for several)";
    write_f32(o.dump_f32, dequant(names[0]));
  }
  if (!o.dump_dir.empty()) {
    fs::create_directories(o.dump_dir);
    for (const std::string& n : names) write_f32(dump_path(o.dump_dir, n), dequant(n));
  }
}

void inspect_gguf(const InspectOptions& o) {
  auto f = gguf::GgufFile::open(o.file);
  std::vector<std::string> all;
  for (const auto& t : f->tensors()) all.push_back(t.name);
  const auto names = select(o, all, [&](const std::string& n) { return f->find_tensor(n); });
  const bool dumping = !o.dump_f32.empty() || !o.dump_dir.empty();
  if (dumping) {
    dump(o, names, [&](const std::string& n) {
      const gguf::TensorInfo& t = f->tensor(n);
      if (o.as_loaded && t.ne.size() == 2) return convert::gguf_matrix_to_weight(*f, t).to_f32();
      return gguf::dequantize_tensor(*f, t);
    });
    return;
  }
  std::cout << "file: " << o.file << "\n"
            << "format: GGUF v" << f->version() << ", alignment " << f->alignment() << ", "
            << f->metadata().size() << " metadata keys, " << f->tensors().size() << " tensors\n"
            << "metadata:\n";
  for (const auto& [key, v] : f->metadata())
    std::cout << "  " << key << ": " << format_value(v) << "\n";
  std::cout << "tensors (ne innermost first):\n";
  for (const std::string& n : names) {
    const auto& t = f->tensor(n);
    std::cout << "  " << t.name << "  " << gguf::ggml_type_name(t.type) << "  " << shape_str(t.ne)
              << "  offset " << t.offset << "  " << t.nbytes << " bytes\n";
  }
}

std::vector<float> st_to_f32(const safetensors::Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case safetensors::StDType::F32: std::memcpy(&out[i], t.data + 4 * i, 4); break;
      case safetensors::StDType::F16: {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = fp16_to_f32(h);
        break;
      }
      case safetensors::StDType::BF16: {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = bf16_to_f32(h);
        break;
      }
      default:
        throw Error(t.file + ": tensor '" + t.name + "' has dtype " +
                        safetensors::st_dtype_name(t.dtype) + ", not a float type to dump",
                    Error::Kind::kUnsupported);
    }
  }
  return out;
}

void inspect_safetensors(const InspectOptions& o) {
  std::unique_ptr<safetensors::SafetensorsFile> single;
  std::unique_ptr<safetensors::Checkpoint> dir;
  std::map<std::string, const safetensors::Tensor*> tensors;
  if (fs::is_directory(o.file)) {
    dir = safetensors::Checkpoint::open_dir(o.file);
    for (const std::string& n : dir->names()) tensors[n] = &dir->get(n);
  } else {
    single = safetensors::SafetensorsFile::open(o.file);
    for (const auto& [n, t] : single->tensors()) tensors[n] = &t;
  }
  std::vector<std::string> all;
  for (const auto& kv : tensors) all.push_back(kv.first);
  const auto names = select(o, all, [&](const std::string& n) { return tensors.count(n) != 0; });
  if (!o.dump_f32.empty() || !o.dump_dir.empty()) {
    dump(o, names, [&](const std::string& n) { return st_to_f32(*tensors.at(n)); });
    return;
  }
  std::cout << "file: " << o.file << "\n"
            << "format: safetensors, " << tensors.size() << " tensors\n";
  if (single) {
    std::cout << "metadata:\n";
    for (const auto& [k, v] : single->metadata())
      std::cout << "  " << k << ": " << quote(v) << "\n";
  }
  std::cout << "tensors:\n";
  for (const std::string& n : names) {
    const auto& t = *tensors.at(n);
    std::cout << "  " << t.name << "  " << safetensors::st_dtype_name(t.dtype) << "  "
              << shape_str(t.shape) << "  " << t.nbytes << " bytes";
    if (dir) std::cout << "  " << fs::path(t.file).filename().string();
    std::cout << "\n";
  }
}

// GGUF by its magic; anything else (a directory, a .safetensors file) as safetensors.
bool is_gguf(const std::string& path) {
  if (fs::is_directory(path)) return false;
  std::ifstream in(path, std::ios::binary);
  LMD_CHECK_KIND(in.good(), kNotFound) << path << ": cannot open";
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

LMD_REGISTER_COMMAND(90, [](CLI::App& root) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd = root.add_subcommand(
      "inspect",
      "Print a GGUF / safetensors file's metadata and tensor table, or dump tensors as f32");
  cmd->add_option("file", o->file, "GGUF file, .safetensors file or safetensors checkpoint dir")
      ->required();
  cmd->add_option("--tensor", o->tensors, "Only this tensor (repeat the flag for several)")
      ->allow_extra_args(false);
  cmd->add_option(flag("dump_f32"), o->dump_f32,
                  "Write the one --tensor, dequantised, as raw little-endian float32");
  cmd->add_option(flag("dump_dir"), o->dump_dir,
                  "Write each selected tensor (all by default) to DIR/<name>.f32");
  cmd->add_flag(flag("as_loaded"), o->as_loaded,
                "Dump GGUF matrices as the engine loads them (K-quants repacked, see gguf_repack.h)");
  cmd->callback([o]() {
    if (is_gguf(o->file)) {
      inspect_gguf(*o);
    } else if (fs::is_directory(o->file) || fs::path(o->file).extension() == ".safetensors") {
      inspect_safetensors(*o);
    } else {
      try {
        inspect_safetensors(*o);
      } catch (const Error& e) {
        throw Error(o->file + ": neither GGUF (no 'GGUF' magic) nor safetensors (" + e.what() + ")",
                    e.kind());
      }
    }
  });
});

}  // namespace
}  // namespace lmd::cli
