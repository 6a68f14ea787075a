// GgufFile: files built byte by byte in a temp dir (a tiny GGUF writer below), every
// malformed-input case, and the real default model.
#include "format/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "common/paths.h"
#include "kernels/common/half.h"

namespace lmd::gguf {
namespace {

namespace fs = std::filesystem;

// Appends little-endian GGUF fields; the test decides what (possibly wrong) goes where.
class GgufBytes {
 public:
  GgufBytes& u8(uint8_t v) { return raw(&v, 1); }
  GgufBytes& u16(uint16_t v) { return raw(&v, 2); }
  GgufBytes& u32(uint32_t v) { return raw(&v, 4); }
  GgufBytes& u64(uint64_t v) { return raw(&v, 8); }
  GgufBytes& i32(int32_t v) { return raw(&v, 4); }
  GgufBytes& f32(float v) { return raw(&v, 4); }
  GgufBytes& f64(double v) { return raw(&v, 8); }
  GgufBytes& str(const std::string& s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  GgufBytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    return u32(0x46554747).u32(version).u64(n_tensors).u64(n_kv);
  }
  GgufBytes& kv(const std::string& key, ValueType t) { return str(key).u32(uint32_t(t)); }
  GgufBytes& tensor(const std::string& name, std::vector<uint64_t> ne, GgmlType type,
                    uint64_t offset) {
    str(name).u32(uint32_t(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(uint32_t(type)).u64(offset);
  }
  GgufBytes& pad_to(size_t alignment) {
    while (bytes_.size() % alignment) bytes_.push_back(0);
    return *this;
  }
  GgufBytes& raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class GgufFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lmd_gguf_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::vector<uint8_t>& bytes, const std::string& name = "t.gguf") {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  }

  // Expects open() to throw lmd::Error mentioning the file and every word of `words`.
  void expect_open_error(const std::vector<uint8_t>& bytes, std::vector<std::string> words) {
    const std::string p = write(bytes);
    try {
      GgufFile::open(p);
      FAIL() << "expected an error containing '" << words[0] << "'";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      for (const auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << msg;
    }
  }

  // A valid v3 file: 2 metadata keys, an F32 [4, 2] tensor and a Q8_0 [32] tensor.
  static std::vector<uint8_t> small_model() {
    GgufBytes b;
    b.header(3, 2, 2);
    b.kv("general.architecture", ValueType::STRING).str("llama");
    b.kv("llama.block_count", ValueType::U32).u32(2);
    b.tensor("w", {4, 2}, GgmlType::F32, 0);
    b.tensor("q", {32}, GgmlType::Q8_0, 32);
    b.pad_to(32);
    for (int i = 0; i < 8; ++i) b.f32(float(i) * 0.5f);
    b.pad_to(32);
    b.u16(f32_to_fp16(0.25f));
    for (int i = 0; i < 32; ++i) b.u8(uint8_t(int8_t(i - 16)));
    return b.bytes();
  }

  fs::path dir_;
};

TEST_F(GgufFileTest, ReadsTensorTableAndData) {
  auto f = GgufFile::open(write(small_model()));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  ASSERT_EQ(f->tensors().size(), 2u);
  const TensorInfo& w = f->tensor("w");
  EXPECT_EQ(w.ne, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(w.type, uint32_t(GgmlType::F32));
  EXPECT_EQ(w.nbytes, 32u);
  EXPECT_EQ(w.n_elements(), 8);
  const std::vector<float> wv = dequantize_tensor(*f, w);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(wv[i], float(i) * 0.5f);
  const TensorInfo& q = f->tensor("q");
  EXPECT_EQ(q.nbytes, 34u);
  EXPECT_EQ(q.offset, 32u);
  const std::vector<float> qv = dequantize_tensor(*f, q);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(qv[i], float(i - 16) * 0.25f);
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
  EXPECT_THROW(f->tensor("nope"), Error);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 2);
}

TEST_F(GgufFileTest, ReadsEveryValueType) {
  GgufBytes b;
  b.header(3, 0, 17);
  b.kv("u8", ValueType::U8).u8(200);
  b.kv("i8", ValueType::I8).u8(uint8_t(-5));
  b.kv("u16", ValueType::U16).u16(60000);
  b.kv("i16", ValueType::I16).u16(uint16_t(-300));
  b.kv("u32", ValueType::U32).u32(4000000000u);
  b.kv("i32", ValueType::I32).i32(-70000);
  b.kv("f32", ValueType::F32).f32(1e-5f);
  b.kv("bool", ValueType::BOOL).u8(1);
  b.kv("str", ValueType::STRING).str("héllo");
  b.kv("u64", ValueType::U64).u64(1ull << 40);
  b.kv("i64", ValueType::I64).u64(uint64_t(-(1ll << 40)));
  b.kv("f64", ValueType::F64).f64(0.1);
  b.kv("arr.str", ValueType::ARRAY)
      .u32(uint32_t(ValueType::STRING))
      .u64(3)
      .str("a")
      .str("")
      .str("c d");
  b.kv("arr.i32", ValueType::ARRAY).u32(uint32_t(ValueType::I32)).u64(2).i32(-1).i32(7);
  b.kv("arr.f32", ValueType::ARRAY).u32(uint32_t(ValueType::F32)).u64(2).f32(0.5f).f32(-2.f);
  b.kv("arr.bool", ValueType::ARRAY).u32(uint32_t(ValueType::BOOL)).u64(2).u8(0).u8(1);
  b.kv("arr.empty", ValueType::ARRAY).u32(uint32_t(ValueType::U32)).u64(0);
  auto f = GgufFile::open(write(b.bytes()));
  EXPECT_EQ(f->metadata().size(), 17u);
  EXPECT_EQ(f->get_int("u8"), 200);
  EXPECT_EQ(f->get_int("i8"), -5);
  EXPECT_EQ(f->get_int("u16"), 60000);
  EXPECT_EQ(f->get_int("i16"), -300);
  EXPECT_EQ(f->get_int("u32"), 4000000000ll);
  EXPECT_EQ(f->get_int("i32"), -70000);
  EXPECT_EQ(f->get_float("f32"), double(1e-5f));
  EXPECT_TRUE(f->get_bool("bool"));
  EXPECT_EQ(f->get_string("str"), "héllo");
  EXPECT_EQ(f->get_int("u64"), 1ll << 40);
  EXPECT_EQ(f->get_int("i64"), -(1ll << 40));
  EXPECT_EQ(f->get_float("f64"), 0.1);
  EXPECT_EQ(f->get_float("i32"), -70000.0);  // integers read as floats too
  EXPECT_EQ(f->get_string_array("arr.str"), (std::vector<std::string>{"a", "", "c d"}));
  EXPECT_EQ(f->get_int_array("arr.i32"), (std::vector<int64_t>{-1, 7}));
  EXPECT_EQ(f->get_float_array("arr.f32"), (std::vector<double>{0.5, -2.0}));
  EXPECT_EQ(f->get_float_array("arr.i32"), (std::vector<double>{-1.0, 7.0}));
  EXPECT_TRUE(f->get_int_array("arr.empty").empty());
  const Value& bools = f->get("arr.bool");
  EXPECT_EQ(bools.type, ValueType::ARRAY);
  EXPECT_EQ(bools.elem_type, ValueType::BOOL);
  EXPECT_EQ(std::get<std::vector<bool>>(bools.v), (std::vector<bool>{false, true}));
  EXPECT_EQ(f->get("u16").type, ValueType::U16);
}

TEST_F(GgufFileTest, TypedGettersNameTheKey) {
  auto f = GgufFile::open(write(small_model()));
  auto expect_msg = [](auto fn, const std::string& word) {
    try {
      fn();
      FAIL() << "expected an error naming " << word;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  expect_msg([&] { f->get_int("general.architecture"); }, "general.architecture");
  expect_msg([&] { f->get_string("llama.block_count"); }, "llama.block_count");
  expect_msg([&] { f->get_bool("llama.block_count"); }, "llama.block_count");
  expect_msg([&] { f->get_string_array("llama.block_count"); }, "llama.block_count");
  expect_msg([&] { f->get_float("missing.key"); }, "missing.key");
  expect_msg([&] { f->get_int_or("general.architecture", 1); }, "general.architecture");
  EXPECT_EQ(f->get_int_or("missing.key", 42), 42);
  EXPECT_EQ(f->get_string_or("missing.key", "x"), "x");
  EXPECT_EQ(f->get_float_or("missing.key", 1.5), 1.5);
  EXPECT_TRUE(f->get_bool_or("missing.key", true));
  EXPECT_FALSE(f->has("missing.key"));
}

TEST_F(GgufFileTest, HonoursGeneralAlignment) {
  GgufBytes b;
  b.header(2, 1, 1);
  b.kv("general.alignment", ValueType::U32).u32(64);
  b.tensor("x", {2}, GgmlType::F32, 0);
  b.pad_to(64);
  b.f32(3.f).f32(4.f);
  auto f = GgufFile::open(write(b.bytes()));
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(dequantize_tensor(*f, f->tensor("x")), (std::vector<float>{3.f, 4.f}));
}

TEST_F(GgufFileTest, VocabOnlyFileOpens) {
  GgufBytes b;
  b.header(3, 0, 1);
  b.kv("tokenizer.ggml.tokens", ValueType::ARRAY)
      .u32(uint32_t(ValueType::STRING))
      .u64(2)
      .str("a")
      .str("b");
  auto f = GgufFile::open(write(b.bytes()));
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 2u);
}

TEST_F(GgufFileTest, UnknownTensorTypeOpensButDoesNotDequantize) {
  GgufBytes b;
  b.header(3, 1, 0);
  b.str("odd").u32(1).u64(256).u32(16 /* IQ2_XXS */).u64(0);
  b.pad_to(32);
  for (int i = 0; i < 66; ++i) b.u8(0);
  GgufBytes c;
  c.header(3, 1, 0);
  c.str("weird").u32(1).u64(8).u32(77).u64(0);
  c.pad_to(32);
  for (auto* bytes : {&b, &c}) {
    auto f = GgufFile::open(write(bytes->bytes()));
    const TensorInfo& t = f->tensors().at(0);
    try {
      dequantize_tensor(*f, t);
      FAIL() << "expected unsupported type";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + t.name + "' has unsupported type"), std::string::npos) << msg;
      EXPECT_NE(msg.find(ggml_type_name(t.type)), std::string::npos) << msg;
      EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    }
  }
  EXPECT_EQ(ggml_type_name(77), "type 77");
  EXPECT_EQ(ggml_block_info(77).block_bytes, 0);
  EXPECT_EQ(ggml_type_name(16), "IQ2_XXS");
}

TEST_F(GgufFileTest, RejectsBadMagicAndVersions) {
  std::vector<uint8_t> bad = small_model();
  bad[0] = 'X';
  expect_open_error(bad, {"bad magic"});
  GgufBytes v1;
  v1.header(1, 0, 0);
  expect_open_error(v1.bytes(), {"version 1", "not supported"});
  GgufBytes v4;
  v4.header(4, 0, 0);
  expect_open_error(v4.bytes(), {"version 4"});
  expect_open_error({}, {"not a GGUF file"});
}

// Every proper prefix of a valid file must be rejected cleanly, never read out of bounds.
TEST_F(GgufFileTest, RejectsEveryTruncation) {
  const std::vector<uint8_t> full = small_model();
  ASSERT_NO_THROW(GgufFile::open(write(full)));
  for (size_t n = 0; n < full.size(); ++n) {
    const std::string p = write(std::vector<uint8_t>(full.begin(), full.begin() + n));
    EXPECT_THROW(GgufFile::open(p), Error) << "prefix of " << n << " bytes";
  }
  const std::vector<uint8_t> cut(full.begin(), full.begin() + 40);
  expect_open_error(cut, {"truncated"});
}

TEST_F(GgufFileTest, RejectsAbsurdCounts) {
  GgufBytes kv;
  kv.header(3, 0, 1ull << 60);
  expect_open_error(kv.bytes(), {"n_kv"});
  GgufBytes nt;
  nt.header(3, 1ull << 60, 0);
  expect_open_error(nt.bytes(), {"n_tensors"});
  GgufBytes sl;
  sl.header(3, 0, 1).u64(1ull << 62).u32(0).u64(0);
  expect_open_error(sl.bytes(), {"string length"});
  GgufBytes vs;
  vs.header(3, 0, 1).kv("name", ValueType::STRING).u64(1000).raw("abc", 3);
  expect_open_error(vs.bytes(), {"'name'", "string length 1000"});
  GgufBytes ac;
  ac.header(3, 0, 1)
      .kv("tokens", ValueType::ARRAY)
      .u32(uint32_t(ValueType::STRING))
      .u64(1ull << 40);
  expect_open_error(ac.bytes(), {"'tokens'", "array of"});
  GgufBytes ac2;
  ac2.header(3, 0, 1)
      .kv("ids", ValueType::ARRAY)
      .u32(uint32_t(ValueType::U64))
      .u64(3)
      .u64(1)
      .u64(2);
  expect_open_error(ac2.bytes(), {"'ids'", "array of 3"});
}

TEST_F(GgufFileTest, RejectsBadMetadataTypes) {
  GgufBytes vt;
  vt.header(3, 0, 1).kv("k", ValueType(13)).u32(0);
  expect_open_error(vt.bytes(), {"'k'", "unknown value type 13"});
  GgufBytes et;
  et.header(3, 0, 1).kv("k", ValueType::ARRAY).u32(99).u64(0);
  expect_open_error(et.bytes(), {"'k'", "element type 99"});
  GgufBytes nested;
  nested.header(3, 0, 1).kv("k", ValueType::ARRAY).u32(uint32_t(ValueType::ARRAY)).u64(0);
  expect_open_error(nested.bytes(), {"'k'", "nested"});
  GgufBytes dup;
  dup.header(3, 0, 2).kv("k", ValueType::U8).u8(1).kv("k", ValueType::U8).u8(2);
  expect_open_error(dup.bytes(), {"duplicate metadata key 'k'"});
  GgufBytes bval;
  bval.header(3, 0, 1).kv("flag", ValueType::BOOL).u8(7);
  expect_open_error(bval.bytes(), {"'flag'", "bool"});
  GgufBytes al;
  al.header(3, 0, 1).kv("general.alignment", ValueType::U32).u32(48);
  expect_open_error(al.bytes(), {"general.alignment", "power of two"});
  GgufBytes alt;
  alt.header(3, 0, 1).kv("general.alignment", ValueType::STRING).str("32");
  expect_open_error(alt.bytes(), {"general.alignment", "u32"});
}

TEST_F(GgufFileTest, RejectsBadTensorInfo) {
  auto one = [](std::vector<uint64_t> ne, GgmlType type, uint64_t offset, size_t data_bytes) {
    GgufBytes b;
    b.header(3, 1, 0).tensor("blk.0.w", std::move(ne), type, offset).pad_to(32);
    for (size_t i = 0; i < data_bytes; ++i) b.u8(0);
    return b.bytes();
  };
  expect_open_error(one({1, 1, 1, 1, 1}, GgmlType::F32, 0, 4), {"'blk.0.w'", "n_dims = 5"});
  expect_open_error(one({1ull << 32, 1ull << 32}, GgmlType::F32, 0, 4), {"'blk.0.w'", "overflow"});
  expect_open_error(one({1ull << 63}, GgmlType::F32, 0, 4), {"'blk.0.w'", "too large"});
  expect_open_error(one({1ull << 61}, GgmlType::F32, 0, 4), {"'blk.0.w'", "overflow"});
  expect_open_error(one({4}, GgmlType::F32, 16, 64), {"'blk.0.w'", "offset 16", "alignment"});
  expect_open_error(one({4}, GgmlType::F32, 0, 15), {"'blk.0.w'", "past the end"});
  expect_open_error(one({4}, GgmlType::F32, 1ull << 63, 16), {"'blk.0.w'", "past the end"});
  expect_open_error(one({33}, GgmlType::Q4_1, 0, 40), {"'blk.0.w'", "block size 32"});
  GgufBytes dup;
  dup.header(3, 2, 0).tensor("a", {1}, GgmlType::F32, 0).tensor("a", {1}, GgmlType::F32, 32);
  dup.pad_to(32);
  for (int i = 0; i < 64; ++i) dup.u8(0);
  expect_open_error(dup.bytes(), {"duplicate tensor name 'a'"});
  GgufBytes overlap;
  overlap.header(3, 2, 0).tensor("a", {16}, GgmlType::F32, 0).tensor("b", {1}, GgmlType::F32, 32);
  overlap.pad_to(32);
  for (int i = 0; i < 64; ++i) overlap.u8(0);
  expect_open_error(overlap.bytes(), {"'a'", "'b'", "overlap"});
}

// Random corruption of a valid file: open either succeeds or throws lmd::Error.
TEST_F(GgufFileTest, SurvivesRandomCorruption) {
  const std::vector<uint8_t> full = small_model();
  std::mt19937 rng(1234);
  int rejected = 0;
  for (int iter = 0; iter < 600; ++iter) {
    std::vector<uint8_t> b = full;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % 120] = uint8_t(rng());
    const std::string p = write(b);
    try {
      auto f = GgufFile::open(p);
      for (const TensorInfo& t : f->tensors()) {
        if (ggml_block_info(t.type).block_bytes > 0 && t.n_elements() < (1 << 20)) {
          try {
            dequantize_tensor(*f, t);
          } catch (const Error&) {
          }
        }
      }
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 30);
}

std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? env : default_model_path();
}

// The default model: metadata must agree with the tensor table (no values from memory).
TEST(GgufDefaultModel, MetadataIsConsistentWithTensors) {
  const std::string path = model_path();
  ASSERT_TRUE(fs::exists(path)) << path
                                << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  const int64_t n_layer = f->get_int("llama.block_count");
  const int64_t n_embd = f->get_int("llama.embedding_length");
  const int64_t n_head = f->get_int("llama.attention.head_count");
  const int64_t n_head_kv = f->get_int("llama.attention.head_count_kv");
  const int64_t n_ff = f->get_int("llama.feed_forward_length");
  const auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  const auto token_type = f->get_int_array("tokenizer.ggml.token_type");
  EXPECT_EQ(token_type.size(), tokens.size());
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.merges").empty(), false);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_LT(f->get_int("tokenizer.ggml.eos_token_id"), int64_t(tokens.size()));
  EXPECT_GT(f->get_float("llama.attention.layer_norm_rms_epsilon"), 0.0);
  EXPECT_NE(f->get_string("tokenizer.chat_template").find("<|im_start|>"), std::string::npos);

  const TensorInfo& embd = f->tensor("token_embd.weight");
  EXPECT_EQ(embd.ne, (std::vector<int64_t>{n_embd, int64_t(tokens.size())}));
  EXPECT_EQ(f->get_int_or("llama.vocab_size", int64_t(tokens.size())), int64_t(tokens.size()));
  const int64_t head_dim = n_embd / n_head;
  std::set<std::string> types;
  int64_t max_layer = -1;
  for (const TensorInfo& t : f->tensors()) {
    types.insert(ggml_type_name(t.type));
    if (t.name.rfind("blk.", 0) == 0)
      max_layer = std::max<int64_t>(max_layer, std::stoll(t.name.substr(4)));
  }
  EXPECT_EQ(max_layer + 1, n_layer);
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(f->tensor(p + "attn_q.weight").ne, (std::vector<int64_t>{n_embd, n_embd}));
    EXPECT_EQ(f->tensor(p + "attn_k.weight").ne,
              (std::vector<int64_t>{n_embd, n_head_kv * head_dim}));
    EXPECT_EQ(f->tensor(p + "ffn_up.weight").ne, (std::vector<int64_t>{n_embd, n_ff}));
    EXPECT_EQ(f->tensor(p + "ffn_down.weight").ne, (std::vector<int64_t>{n_ff, n_embd}));
    EXPECT_EQ(f->tensor(p + "attn_norm.weight").ne, (std::vector<int64_t>{n_embd}));
  }
  // Every tensor type in the file is one we dequantise; results are finite.
  for (const std::string& ty : types) {
    EXPECT_TRUE(ty == "F32" || ty == "F16" || ty == "Q4_1" || ty == "Q8_0" || ty == "Q6_K") << ty;
  }
  for (const char* name : {"blk.0.attn_q.weight", "output_norm.weight", "token_embd.weight"}) {
    const std::vector<float> v = dequantize_tensor(*f, f->tensor(name));
    int64_t nonzero = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x)) << name;
      nonzero += x != 0.f;
    }
    EXPECT_GT(nonzero, int64_t(v.size()) / 2) << name;
  }
}

}  // namespace
}  // namespace lmd::gguf
