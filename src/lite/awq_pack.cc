#include "lite/awq_pack.h"

#include <cmath>

#include "core/error.h"
#include "kernels/common/half.h"

namespace lmd::lite {

namespace {

void check_shape(int64_t out, int64_t in, int group) {
  LMD_CHECK(group > 0) << "w_group_size must be > 0, got " << group;
  LMD_CHECK(in % group == 0) << "w_group_size " << group << " does not divide the " << in
                             << " input features of a [" << out << ", " << in << "] linear; use a group size that divides "
                             << in;
  LMD_CHECK(out % 8 == 0) << "AWQ packing needs output features divisible by 8, got [" << out << ", " << in << "]";
}

// Quantises one group of g values; returns (scale fp16 bits, zero) and writes codes.
void quantize_group(const float* w, int g, uint8_t* q, uint16_t* scale_bits, uint8_t* zero) {
  float lo = w[0], hi = w[0];
  for (int i = 1; i < g; ++i) {
    lo = std::fmin(lo, w[i]);
    hi = std::fmax(hi, w[i]);
  }
  uint16_t sb = f32_to_fp16((hi - lo) / 15.0f);
  float s = fp16_to_f32(sb);
  if (!(s > 0.0f)) {
    sb = f32_to_fp16(1.0f);
    s = 1.0f;
  }
  float z = std::rint(-lo / s);
  z = std::fmin(std::fmax(z, 0.0f), 15.0f);
  for (int i = 0; i < g; ++i) {
    float v = std::rint(w[i] / s) + z;
    v = std::fmin(std::fmax(v, 0.0f), 15.0f);
    q[i] = static_cast<uint8_t>(v);
  }
  *scale_bits = sb;
  *zero = static_cast<uint8_t>(z);
}

}  // namespace

std::vector<float> QuantizedLinear::dequantize() const {
  std::vector<float> w(static_cast<size_t>(out * in));
  const int64_t groups = in / group;
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) {
      const size_t gi = static_cast<size_t>(r * groups + c / group);
      w[r * in + c] = (static_cast<float>(q[r * in + c]) - static_cast<float>(zeros[gi])) * fp16_to_f32(scales[gi]);
    }
  return w;
}

QuantizedLinear quantize_linear(const float* w, int64_t out, int64_t in, int group) {
  check_shape(out, in, group);
  QuantizedLinear ql;
  ql.out = out;
  ql.in = in;
  ql.group = group;
  const int64_t groups = in / group;
  ql.q.resize(static_cast<size_t>(out * in));
  ql.zeros.resize(static_cast<size_t>(out * groups));
  ql.scales.resize(static_cast<size_t>(out * groups));
  for (int64_t r = 0; r < out; ++r)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const int64_t off = r * in + gi * group;
      quantize_group(w + off, group, ql.q.data() + off, &ql.scales[r * groups + gi], &ql.zeros[r * groups + gi]);
    }
  return ql;
}

void fake_quantize(float* w, int64_t out, int64_t in, int group) {
  LMD_CHECK(group > 0 && in % group == 0) << "w_group_size " << group << " does not divide " << in;
  std::vector<uint8_t> q(static_cast<size_t>(group));
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; c += group) {
      float* g = w + r * in + c;
      uint16_t sb;
      uint8_t z;
      quantize_group(g, group, q.data(), &sb, &z);
      const float s = fp16_to_f32(sb);
      for (int i = 0; i < group; ++i) g[i] = (static_cast<float>(q[i]) - static_cast<float>(z)) * s;
    }
}

AwqPacked pack_awq(const QuantizedLinear& ql) {
  const int64_t out = ql.out, in = ql.in, groups = in / ql.group, words = out / 8;
  AwqPacked p;
  p.qweight.assign(static_cast<size_t>(in * words), 0);
  p.qzeros.assign(static_cast<size_t>(groups * words), 0);
  p.scales.resize(static_cast<size_t>(groups * out));
  auto pack8 = [](auto value_of) {
    uint32_t word = 0;
    for (int k = 0; k < 8; ++k) word |= (static_cast<uint32_t>(value_of(kAwqOrder[k])) & 15u) << (4 * k);
    return static_cast<int32_t>(word);
  };
  for (int64_t i = 0; i < in; ++i)
    for (int64_t pc = 0; pc < words; ++pc)
      p.qweight[i * words + pc] = pack8([&](int j) { return ql.q[(pc * 8 + j) * in + i]; });
  for (int64_t gi = 0; gi < groups; ++gi) {
    for (int64_t pc = 0; pc < words; ++pc)
      p.qzeros[gi * words + pc] = pack8([&](int j) { return ql.zeros[(pc * 8 + j) * groups + gi]; });
    for (int64_t o = 0; o < out; ++o) p.scales[gi * out + o] = ql.scales[o * groups + gi];
  }
  return p;
}

QuantizedLinear unpack_awq(const AwqPacked& p, int64_t out, int64_t in, int group) {
  check_shape(out, in, group);
  const int64_t groups = in / group, words = out / 8;
  LMD_CHECK(p.qweight.size() == static_cast<size_t>(in * words) && p.qzeros.size() == static_cast<size_t>(groups * words) &&
            p.scales.size() == static_cast<size_t>(groups * out))
      << "unpack_awq: packed sizes do not match [" << out << ", " << in << "] group " << group;
  QuantizedLinear ql;
  ql.out = out;
  ql.in = in;
  ql.group = group;
  ql.q.resize(static_cast<size_t>(out * in));
  ql.zeros.resize(static_cast<size_t>(out * groups));
  ql.scales.resize(static_cast<size_t>(out * groups));
  for (int64_t pc = 0; pc < words; ++pc)
    for (int k = 0; k < 8; ++k) {
      const int64_t o = pc * 8 + kAwqOrder[k];
      for (int64_t i = 0; i < in; ++i)
        ql.q[o * in + i] = static_cast<uint8_t>((static_cast<uint32_t>(p.qweight[i * words + pc]) >> (4 * k)) & 15u);
      for (int64_t gi = 0; gi < groups; ++gi)
        ql.zeros[o * groups + gi] =
            static_cast<uint8_t>((static_cast<uint32_t>(p.qzeros[gi * words + pc]) >> (4 * k)) & 15u);
    }
  for (int64_t gi = 0; gi < groups; ++gi)
    for (int64_t o = 0; o < out; ++o) ql.scales[o * groups + gi] = p.scales[gi * out + o];
  return ql;
}

}  // namespace lmd::lite
