// safetensors: write_file round trips, hand-made headers for every malformed case, and
// checkpoint directories (single file, sharded index, plain glob).
#include "format/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace lmd::safetensors {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lmd_st_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A file with `header` as its JSON header followed by `data_bytes` zero bytes.
  std::string raw_file(const std::string& header, size_t data_bytes,
                       const std::string& name = "x.safetensors") {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    const uint64_t len = header.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << header;
    out << std::string(data_bytes, '\0');
    return p;
  }

  void expect_error(const std::string& p, std::vector<std::string> words) {
    try {
      SafetensorsFile::open(p);
      FAIL() << "expected an error containing '" << words[0] << "'";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      for (const auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << msg;
    }
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, WriteThenReadRoundTrips) {
  const std::vector<float> a = {1.f, -2.5f, 3.f, 1e-3f, 0.f, 7.f};
  const std::vector<uint16_t> b = {0x3c00, 0xc000, 0x7bff};
  const std::vector<int32_t> c = {42};
  const std::string p = path("m.safetensors");
  write_file(p,
             {{"zeta.weight", StDType::F32, {2, 3}, a.data(), a.size() * 4},
              {"alpha.bias", StDType::F16, {3}, b.data(), b.size() * 2},
              {"mid.count", StDType::I32, {}, c.data(), 4},
              {"empty", StDType::BF16, {0, 4}, nullptr, 0}},
             {{"format", "pt"}, {"note", "hello"}});
  std::ifstream in(p, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EXPECT_EQ(header_len % 8, 0u) << "data region must start 8-byte aligned";

  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "hello");
  ASSERT_EQ(f->tensors().size(), 4u);
  const Tensor& z = f->tensors().at("zeta.weight");
  EXPECT_EQ(z.dtype, StDType::F32);
  EXPECT_EQ(z.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(z.numel(), 6);
  ASSERT_EQ(z.nbytes, 24u);
  std::vector<float> back(6);
  std::memcpy(back.data(), z.data, 24);
  EXPECT_EQ(back, a);
  const Tensor& al = f->tensors().at("alpha.bias");
  EXPECT_EQ(al.dtype, StDType::F16);
  EXPECT_EQ(std::memcmp(al.data, b.data(), 6), 0);
  const Tensor& m = f->tensors().at("mid.count");
  EXPECT_TRUE(m.shape.empty());
  EXPECT_EQ(m.numel(), 1);
  EXPECT_EQ(std::memcmp(m.data, c.data(), 4), 0);
  EXPECT_EQ(f->tensors().at("empty").nbytes, 0u);
  EXPECT_EQ(z.file, p);
  // Name order: alpha.bias's bytes come first in the data region.
  EXPECT_LT(al.data, z.data);
}

TEST_F(SafetensorsTest, WriteRejectsSizeMismatch) {
  const float x[2] = {1.f, 2.f};
  EXPECT_THROW(write_file(path("bad.safetensors"), {{"x", StDType::F32, {3}, x, 8}}), Error);
  EXPECT_THROW(write_file(path("dup.safetensors"),
                          {{"x", StDType::F32, {2}, x, 8}, {"x", StDType::F32, {2}, x, 8}}),
               Error);
}

TEST_F(SafetensorsTest, DtypeNamesAndSizes) {
  EXPECT_STREQ(st_dtype_name(StDType::BF16), "BF16");
  EXPECT_EQ(st_dtype_size(StDType::BF16), 2u);
  EXPECT_EQ(st_dtype_size(StDType::I64), 8u);
  EXPECT_EQ(st_dtype_size(StDType::BOOL), 1u);
  const std::string p = raw_file(
      R"({"a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"F64","shape":[1],"data_offsets":[2,10]},"c":{"dtype":"BOOL","shape":[3],"data_offsets":[10,13]},"d":{"dtype":"U8","shape":[1],"data_offsets":[13,14]},"e":{"dtype":"I64","shape":[1],"data_offsets":[14,22]}})",
      22);
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->tensors().at("b").dtype, StDType::F64);
  EXPECT_EQ(f->tensors().at("c").dtype, StDType::BOOL);
  EXPECT_EQ(f->tensors().at("e").nbytes, 8u);
}

TEST_F(SafetensorsTest, RejectsBadHeaderLength) {
  {
    const std::string p = path("short.safetensors");
    std::ofstream(p, std::ios::binary) << "abc";
    expect_error(p, {"only 3 bytes"});
  }
  {
    const std::string p = path("huge.safetensors");
    std::ofstream out(p, std::ios::binary);
    const uint64_t len = 200ull << 20;
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << "{}";
    out.close();
    expect_error(p, {"header length", "100 MB"});
  }
  {
    const std::string p = path("past.safetensors");
    std::ofstream out(p, std::ios::binary);
    const uint64_t len = 1000;
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << "{}";
    out.close();
    expect_error(p, {"header length 1000", "past the end"});
  }
}

TEST_F(SafetensorsTest, RejectsBadJson) {
  expect_error(raw_file(R"({"a": {"dtype": "F32", )", 0), {"invalid safetensors JSON"});
  expect_error(raw_file(R"([1, 2])", 0), {"not a JSON object"});
  expect_error(raw_file(R"({"__metadata__": {"k": 3}})", 0), {"__metadata__", "'k'"});
  expect_error(raw_file(R"({"__metadata__": []})", 0), {"__metadata__"});
  expect_error(raw_file(R"({"a": 5})", 0), {"'a'", "not an object"});
}

TEST_F(SafetensorsTest, RejectsBadTensorEntries) {
  auto entry = [&](const std::string& body, size_t data) {
    return raw_file(R"({"t.w": )" + body + "}", data);
  };
  expect_error(entry(R"({"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]})", 2),
               {"'t.w'", "unsupported dtype 'F8_E4M3'"});
  expect_error(entry(R"({"shape":[2],"data_offsets":[0,8]})", 8), {"'t.w'", "dtype"});
  expect_error(entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", 8),
               {"'t.w'", "negative"});
  expect_error(entry(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})", 8),
               {"'t.w'", "integer"});
  expect_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})", 8),
               {"'t.w'", "data_offsets"});
  expect_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 4),
               {"'t.w'", "outside the data region"});
  expect_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", 8),
               {"'t.w'", "outside the data region"});
  expect_error(entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", 12),
               {"'t.w'", "needs 12"});
  expect_error(entry(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})", 8),
               {"'t.w'", "too large"});
  expect_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0, 18446744073709551615]})", 8),
               {"'t.w'", "outside"});
  expect_error(
      raw_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          12),
      {"'a'", "'b'", "overlap"});
}

TEST_F(SafetensorsTest, CheckpointSingleFile) {
  const float x[2] = {1.f, 2.f};
  write_file(path("model.safetensors"), {{"w", StDType::F32, {2}, x, 8}});
  auto c = Checkpoint::open_dir(dir_.string());
  EXPECT_TRUE(c->has("w"));
  EXPECT_EQ(c->get("w").numel(), 2);
  EXPECT_EQ(c->names(), (std::vector<std::string>{"w"}));
  try {
    c->get("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(dir_.string()), std::string::npos);
  }
}

TEST_F(SafetensorsTest, CheckpointShardedIndex) {
  const float x[2] = {1.f, 2.f};
  const float y[3] = {3.f, 4.f, 5.f};
  write_file(path("model-00001-of-00002.safetensors"), {{"a", StDType::F32, {2}, x, 8}});
  write_file(path("model-00002-of-00002.safetensors"), {{"b", StDType::F32, {3}, y, 12}});
  const std::string index = path("model.safetensors.index.json");
  std::ofstream(index) << R"({"metadata": {"total_size": 20}, "weight_map": {
      "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})";
  auto c = Checkpoint::open_dir(dir_.string());
  EXPECT_EQ(c->names(), (std::vector<std::string>{"a", "b"}));
  float back[3];
  std::memcpy(back, c->get("b").data, 12);
  EXPECT_EQ(back[2], 5.f);
  EXPECT_NE(c->get("b").file.find("00002"), std::string::npos);

  std::ofstream(index) << R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
      "c": "model-00001-of-00002.safetensors"}})";
  try {
    Checkpoint::open_dir(dir_.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'c' is not in its shard"), std::string::npos) << e.what();
  }
  std::ofstream(index) << R"({"weight_map": {"a": "missing.safetensors"}})";
  try {
    Checkpoint::open_dir(dir_.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
  std::ofstream(index) << R"({"weight_map": )";
  EXPECT_THROW(Checkpoint::open_dir(dir_.string()), Error);
}

TEST_F(SafetensorsTest, CheckpointGlobsAndRejectsDuplicates) {
  const float x[2] = {1.f, 2.f};
  EXPECT_THROW(Checkpoint::open_dir(dir_.string()), Error);  // nothing there
  EXPECT_THROW(Checkpoint::open_dir(path("no_such_dir")), Error);
  write_file(path("one.safetensors"), {{"a", StDType::F32, {2}, x, 8}});
  write_file(path("two.safetensors"), {{"b", StDType::F32, {2}, x, 8}});
  EXPECT_EQ(Checkpoint::open_dir(dir_.string())->names(), (std::vector<std::string>{"a", "b"}));
  write_file(path("three.safetensors"), {{"a", StDType::F32, {2}, x, 8}});
  try {
    Checkpoint::open_dir(dir_.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'a'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lmd::safetensors
