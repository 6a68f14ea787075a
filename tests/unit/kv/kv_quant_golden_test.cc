// kernels/common/kv_quant.h against numpy: tests/data/kv_quant/golden.txt is written by
// tools/quant_kv_golden.py from the formulas of docs/quantization.md in numpy float32.
// Codes, (scale, zero) and dequantised values must match bit for bit (int8 / int4 online,
// static int8), including round-half-to-even ties and a constant row (scale 0).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/common/kv_quant.h"

namespace lmd {
namespace {

float from_hex(const std::string& h) {
  const uint32_t u = static_cast<uint32_t>(std::stoul(h, nullptr, 16));
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// One line "tag v v v ...": the tag checked, the values as strings.
std::vector<std::string> fields(std::istream& in, const std::string& tag) {
  std::string line;
  EXPECT_TRUE(static_cast<bool>(std::getline(in, line))) << "golden file ends before '" << tag << "'";
  std::istringstream s(line);
  std::string t;
  s >> t;
  EXPECT_EQ(t, tag) << line.substr(0, 80);
  std::vector<std::string> v;
  while (s >> t) v.push_back(t);
  return v;
}
std::vector<float> floats(const std::vector<std::string>& v, size_t from = 0) {
  std::vector<float> out;
  for (size_t i = from; i < v.size(); ++i) out.push_back(from_hex(v[i]));
  return out;
}
std::vector<int> ints(const std::vector<std::string>& v) {
  std::vector<int> out;
  for (const auto& s : v) out.push_back(std::stoi(s));
  return out;
}
void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(bits(got[i]), bits(want[i])) << what << " [" << i << "]: " << got[i] << " vs numpy " << want[i];
}

TEST(KvQuantGolden, MatchesNumpyBitExactly) {
  const std::string path = std::string(LMD_TEST_DATA_DIR) + "/kv_quant/golden.txt";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path << " missing: run python3 tools/quant_kv_golden.py";
  int rows = 0, ties8 = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    ASSERT_EQ(line.rfind("row ", 0), 0u) << line;
    const std::string name = line.substr(4);
    const auto xf = fields(in, "x");
    const int n = std::stoi(xf.at(0));
    const std::vector<float> x = floats(xf, 1);
    ASSERT_EQ(static_cast<int>(x.size()), n) << name;

    // online int8
    {
      const auto par = floats(fields(in, "online8"));
      const auto q_want = ints(fields(in, "q"));
      const auto d_want = floats(fields(in, "deq"));
      std::vector<uint8_t> q(n);
      const KvQuantParams p = kv_quantize_row_int8(x.data(), n, q.data());
      EXPECT_EQ(bits(p.scale), bits(par.at(0))) << name << " int8 scale";
      EXPECT_EQ(bits(p.zero), bits(par.at(1))) << name << " int8 zero";
      EXPECT_EQ(std::vector<int>(q.begin(), q.end()), q_want) << name << " int8 codes";
      std::vector<float> d(n);
      kv_dequantize_row_int8(q.data(), n, p, d.data());
      expect_bits(d, d_want, name + " int8 dequantised");
      if (name == "int8 ties") ties8 = 1;
    }
    // online int4 (packed bytes)
    {
      const auto par = floats(fields(in, "online4"));
      const auto b_want = ints(fields(in, "packed"));
      const auto d_want = floats(fields(in, "deq"));
      std::vector<uint8_t> q(n / 2);
      const KvQuantParams p = kv_quantize_row_int4(x.data(), n, q.data());
      EXPECT_EQ(bits(p.scale), bits(par.at(0))) << name << " int4 scale";
      EXPECT_EQ(bits(p.zero), bits(par.at(1))) << name << " int4 zero";
      EXPECT_EQ(std::vector<int>(q.begin(), q.end()), b_want) << name << " int4 packed bytes";
      std::vector<float> d(n);
      kv_dequantize_row_int4(q.data(), n, p, d.data());
      expect_bits(d, d_want, name + " int4 dequantised");
    }
    // static int8 (kv_qparams)
    {
      const auto par = floats(fields(in, "static"));
      const auto q_want = ints(fields(in, "q"));
      const auto d_want = floats(fields(in, "deq"));
      std::vector<int> q(n);
      std::vector<float> d(n);
      for (int i = 0; i < n; ++i) {
        const int8_t c = kv_quantize_static_int8(x[i], par.at(0), par.at(1));
        q[i] = c;
        d[i] = kv_dequantize_static_int8(c, par.at(0), par.at(1));
      }
      EXPECT_EQ(q, q_want) << name << " static codes";
      expect_bits(d, d_want, name + " static dequantised");
    }
    ++rows;
  }
  EXPECT_GE(rows, 10) << path;
  EXPECT_EQ(ties8, 1) << path << ": the half-to-even case is missing";
}

}  // namespace
}  // namespace lmd
