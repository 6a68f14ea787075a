// AutoAWQ GEMM checkpoint -> ModelWeights with kInt4 linear weights.
//   qweight int32 [in, out/8], qzeros int32 [in/g, out/8], scales fp16 [in/g, out];
//   nibble k (bits 4k..4k+3) of packed column pc holds output column 8·pc + kOrder[k].
//   w = (q - zero) · scale  ->  ours: q · scale + min, min = fp16(-zero · scale) (fp32 math).
#include <cstring>

#include "core/error.h"
#include "convert/hf_names.h"
#include "convert/sources.h"
#include "format/safetensors.h"
#include "kernels/common/half.h"

namespace lmd::convert {
namespace {

constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

const safetensors::Tensor& get_checked(const safetensors::Checkpoint& ck, const std::string& name,
                                       safetensors::StDType dt, const std::vector<int64_t>& shape) {
  const safetensors::Tensor& t = ck.get(name);
  LMD_CHECK(t.dtype == dt) << ck.dir() << ": tensor " << name << " has dtype " << safetensors::st_dtype_name(t.dtype)
                           << ", expected " << safetensors::st_dtype_name(dt);
  LMD_CHECK(t.shape == shape) << ck.dir() << ": tensor " << name << " has an unexpected shape for AWQ (expected ["
                              << shape[0] << "," << shape[1] << "])";
  return t;
}

// Nibble for output column `o` of packed row `row` ([rows, out/8] int32).
inline int awq_nibble(const uint8_t* packed, int64_t row, int64_t out, int64_t o) {
  const int64_t pc = o / 8;
  int k = 0;
  while (kOrder[k] != o % 8) ++k;
  uint32_t word;
  std::memcpy(&word, packed + (row * (out / 8) + pc) * 4, 4);
  return static_cast<int>((word >> (4 * k)) & 15u);
}

WeightTensor load_awq_linear(const safetensors::Checkpoint& ck, const std::string& base, int64_t out, int64_t in,
                             int g) {
  using safetensors::StDType;
  LMD_CHECK(out % 8 == 0 && in % g == 0)
      << ck.dir() << ": " << base << " [" << out << "," << in << "] does not fit AWQ packing with group " << g;
  const auto& qw = get_checked(ck, base + ".qweight", StDType::I32, {in, out / 8});
  const auto& qz = get_checked(ck, base + ".qzeros", StDType::I32, {in / g, out / 8});
  const auto& sc = get_checked(ck, base + ".scales", StDType::F16, {in / g, out});
  const int64_t groups = in / g;
  std::vector<uint8_t> nib(static_cast<size_t>(out * in / 2), 0);
  std::vector<uint8_t> sm(static_cast<size_t>(out * groups * 4));
  // Position of each output column's nibble within its int32, inverted once.
  int shift[8];
  for (int k = 0; k < 8; ++k) shift[kOrder[k]] = 4 * k;
  const int64_t words = out / 8;
  for (int64_t i = 0; i < in; ++i) {
    const uint8_t* row = qw.data + i * words * 4;
    for (int64_t o = 0; o < out; ++o) {
      uint32_t word;
      std::memcpy(&word, row + (o / 8) * 4, 4);
      const uint8_t q = static_cast<uint8_t>((word >> shift[o % 8]) & 15u);
      const int64_t idx = o * in + i;
      nib[idx / 2] |= static_cast<uint8_t>((idx & 1) ? q << 4 : q);
    }
  }
  for (int64_t gi = 0; gi < groups; ++gi) {
    for (int64_t o = 0; o < out; ++o) {
      uint16_t s;
      std::memcpy(&s, sc.data + (gi * out + o) * 2, 2);
      const int zero = awq_nibble(qz.data, gi, out, o);
      const uint16_t m = f32_to_fp16(-static_cast<float>(zero) * fp16_to_f32(s));
      uint8_t* dst = sm.data() + (o * groups + gi) * 4;
      std::memcpy(dst, &s, 2);
      std::memcpy(dst + 2, &m, 2);
    }
  }
  return make_int4(out, in, g, std::move(nib), std::move(sm));
}

}  // namespace

ModelWeights load_awq_weights(const std::string& dir, const HfModelInfo& info, int group_size) {
  const HfQuantConfig& q = info.quant;
  LMD_CHECK(q.present && q.quant_method == "awq")
      << dir << "/config.json: quantization_config.quant_method is '" << q.quant_method << "', expected 'awq'";
  LMD_CHECK_KIND(q.bits == 4, kUnsupported) << dir << "/config.json: AWQ with " << q.bits << " bits (only 4)";
  LMD_CHECK_KIND(q.version.empty() || q.version == "gemm" || q.version == "GEMM", kUnsupported)
      << dir << "/config.json: AWQ version '" << q.version << "' (only gemm)";
  LMD_CHECK_KIND(q.zero_point, kUnsupported) << dir << "/config.json: AWQ without zero point is not supported";
  LMD_CHECK(q.group_size > 0) << dir << "/config.json: quantization_config.group_size missing";
  LMD_CHECK(group_size <= 0 || group_size == q.group_size)
      << "--group-size " << group_size << " does not match quantization_config.group_size " << q.group_size << " of "
      << dir;
  const int g = q.group_size;
  auto ck = safetensors::Checkpoint::open_dir(dir);
  ModelWeights w;
  w.config = info.config;
  const ModelConfig& c = w.config;
  load_hf_common(*ck, w);
  const int64_t hidden = c.hidden_units, inter = c.inter_size;
  for (int i = 0; i < c.num_layer; ++i) {
    const std::string p = hf_layer_prefix(i);
    LayerWeights& L = w.layers[i];
    L.wq = load_awq_linear(*ck, p + "self_attn.q_proj", c.q_dim(), hidden, g);
    L.wk = load_awq_linear(*ck, p + "self_attn.k_proj", c.kv_dim(), hidden, g);
    L.wv = load_awq_linear(*ck, p + "self_attn.v_proj", c.kv_dim(), hidden, g);
    L.wo = load_awq_linear(*ck, p + "self_attn.o_proj", hidden, c.q_dim(), g);
    L.w1 = load_awq_linear(*ck, p + "mlp.gate_proj", inter, hidden, g);
    L.w3 = load_awq_linear(*ck, p + "mlp.up_proj", inter, hidden, g);
    L.w2 = load_awq_linear(*ck, p + "mlp.down_proj", hidden, inter, g);
  }
  w.config.weight_type = DType::kInt4;
  w.config.group_size = g;
  return w;
}

}  // namespace lmd::convert
