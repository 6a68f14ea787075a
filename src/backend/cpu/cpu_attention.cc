// The position-aware ops of CpuBackend: step metadata, RoPE + KV write, paged attention.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/llamacpp_numerics.h"
#include "core/error.h"
#include "kernels/common/half.h"
#include "kernels/common/kv_quant.h"

namespace lmd::cpu {
namespace {
// Query tokens per attention work item (prefill chunks are split so both threads get work
// and the scores buffer stays small).
constexpr int32_t kQueryTile = 16;
}  // namespace

void CpuBackend::begin_step(const StepPlan& plan, const KvLayout& layout, uint8_t* kv_pool,
                            const AttentionParams& params) {
  layout_ = layout;
  kv_pool_ = kv_pool;
  params_ = resolve_attention_params(params);

  StepTables tables;
  build_step_tables(plan, layout, params_, &tables);
  const int half = tables.half;
  tok_seq_ = std::move(tables.seq);
  tok_pos_ = std::move(tables.pos);
  rope_cos_ = std::move(tables.cos);
  rope_sin_ = std::move(tables.sin);
  logn_ = std::move(tables.logn);
  if (llamacpp_) {  // llama.cpp numerics mode: ggml_rope_cache_init (no dynamic NTK in ggml)
    for (size_t t = 0; t < tok_pos_.size(); ++t)
      llamacpp::rope_cache(tok_pos_[t], params_.rope_theta, params_.rot_dim, rope_cos_.data() + t * half,
                           rope_sin_.data() + t * half);
  }
  seqs_.clear();
  blocks_.clear();
  attn_items_.clear();
  for (size_t si = 0; si < plan.seqs.size(); ++si) {
    const StepSequence& s = plan.seqs[si];
    seqs_.push_back(StepSeq{s.token_offset, s.n_tokens, s.history_len, blocks_.size()});
    blocks_.insert(blocks_.end(), s.block_table.begin(), s.block_table.end());
    for (int32_t tb = 0; tb < s.n_tokens; tb += kQueryTile)
      for (int h = 0; h < params_.kv_head_num; ++h)
        attn_items_.push_back(AttnItem{static_cast<int32_t>(si), h, s.token_offset + tb,
                                       s.token_offset + std::min(s.n_tokens, tb + kQueryTile)});
  }
  // Longest items first so the dynamic schedule ends evenly.
  std::stable_sort(attn_items_.begin(), attn_items_.end(), [&](const AttnItem& a, const AttnItem& b) {
    return tok_pos_[a.tok_end - 1] > tok_pos_[b.tok_end - 1];
  });
}

namespace {

// Rotates one head vector x [head_dim] in place.
inline void rope_head(float* x, const float* cs, const float* sn, int rot_dim, RopePairing pairing,
                      bool llamacpp = false) {
  const int half = rot_dim / 2;
  if (llamacpp) {  // llama.cpp numerics mode: ggml's rotate_pairs expression for both pairings
    const int off = pairing == RopePairing::kHalfSplit ? half : 1;
    for (int j = 0; j < half; ++j) {
      const int i0 = pairing == RopePairing::kHalfSplit ? j : 2 * j;
      llamacpp::rope_pair(x[i0], x[i0 + off], cs[j], sn[j], &x[i0], &x[i0 + off]);
    }
    return;
  }
  if (pairing == RopePairing::kHalfSplit) {
    for (int j = 0; j < half; ++j) {
      const float a = x[j], b = x[j + half];
      x[j] = a * cs[j] - b * sn[j];
      x[j + half] = b * cs[j] + a * sn[j];
    }
  } else {
    for (int j = 0; j < half; ++j) {
      const float a = x[2 * j], b = x[2 * j + 1];
      x[2 * j] = a * cs[j] - b * sn[j];
      x[2 * j + 1] = b * cs[j] + a * sn[j];
    }
  }
}

// Static int8 KV (lmdeploy kv_qparams) in the online int8 row format, so attention reads it
// unchanged: code q + 128 with q = clamp(rint((x - zp) / scale), -128, 127), row parameters
// (scale, zp - 128 scale), since (q + 128) scale + zp - 128 scale = q scale + zp.
inline KvQuantParams quantize_row_static_int8(const float* x, int n, float scale, float zp, uint8_t* q) {
  for (int j = 0; j < n; ++j) q[j] = static_cast<uint8_t>(kv_quantize_static_int8(x[j], scale, zp) + 128);
  return KvQuantParams{scale, zp - 128.0f * scale};
}

// Writes one [head_dim] row into its KV slot in the layout's element kind; kInt8 with
// `static_sz` (scale, zp) uses those static parameters instead of the row's own.
inline void store_kv_row(const Kernels& k, const KvLayout& L, uint8_t* block, int layer, int kv, int head, int slot,
                         const float* x, const float* static_sz) {
  uint8_t* dst = block + L.row_offset(layer, kv, head, slot);
  float* par = L.quantized() ? reinterpret_cast<float*>(block + L.param_offset(layer, kv, head, slot)) : nullptr;
  switch (L.kind) {
    case KvKind::kF32: std::memcpy(dst, x, sizeof(float) * L.head_dim); break;
    case KvKind::kF16: k.f32_to_fp16(x, L.head_dim, reinterpret_cast<uint16_t*>(dst)); break;
    case KvKind::kInt8: {
      const KvQuantParams p = static_sz ? quantize_row_static_int8(x, L.head_dim, static_sz[0], static_sz[1], dst)
                                        : kv_quantize_row_int8(x, L.head_dim, dst);
      par[0] = p.scale;
      par[1] = p.zero;
      break;
    }
    case KvKind::kInt4: {
      const KvQuantParams p = kv_quantize_row_int4(x, L.head_dim, dst);
      par[0] = p.scale;
      par[1] = p.zero;
      break;
    }
  }
}

// `rows` consecutive slots of (layer, kv, head) in a block as fp32 [rows][head_dim]:
// a pointer into the block for kF32, else converted into `buf`.
inline const float* load_kv_tile(const Kernels& k, const KvLayout& L, const uint8_t* block, int layer, int kv,
                                 int head, int rows, float* buf) {
  const uint8_t* src = block + L.row_offset(layer, kv, head, 0);
  const int d = L.head_dim;
  switch (L.kind) {
    case KvKind::kF32: return reinterpret_cast<const float*>(src);
    case KvKind::kF16: k.fp16_to_f32(reinterpret_cast<const uint16_t*>(src), static_cast<int64_t>(rows) * d, buf); break;
    case KvKind::kInt8:
    case KvKind::kInt4: {
      const float* par = reinterpret_cast<const float*>(block + L.param_offset(layer, kv, head, 0));
      for (int r = 0; r < rows; ++r) {
        const KvQuantParams p{par[2 * r], par[2 * r + 1]};
        if (L.kind == KvKind::kInt8)
          kv_dequantize_row_int8(src + static_cast<size_t>(r) * d, d, p, buf + static_cast<size_t>(r) * d);
        else
          kv_dequantize_row_int4(src + static_cast<size_t>(r) * d / 2, d, p, buf + static_cast<size_t>(r) * d);
      }
      break;
    }
  }
  return buf;
}

}  // namespace

void CpuBackend::set_kv_static_params(int layer, const float* scale_zp4) {
  LMD_CHECK(layer >= 0) << "set_kv_static_params: layer " << layer;
  for (int i = 0; i < 2; ++i)
    LMD_CHECK(scale_zp4[2 * i] > 0.0f && std::isfinite(scale_zp4[2 * i + 1]))
        << "set_kv_static_params: layer " << layer << (i ? " v" : " k") << " scale " << scale_zp4[2 * i] << ", zp "
        << scale_zp4[2 * i + 1];
  if (kv_static_.size() < static_cast<size_t>(layer + 1) * 4) kv_static_.resize(static_cast<size_t>(layer + 1) * 4, 0.0f);
  std::copy(scale_zp4, scale_zp4 + 4, kv_static_.begin() + static_cast<size_t>(layer) * 4);
}

void CpuBackend::rope_kv_write(int layer, float* q, float* k, const float* v, int n) {
  LMD_CHECK(n == static_cast<int>(tok_seq_.size())) << "rope_kv_write: " << n << " tokens, step has " << tok_seq_.size();
  // (k_scale, k_zp, v_scale, v_zp) of a layer with static kv_qparams, else null
  const size_t at = static_cast<size_t>(layer) * 4;
  const float* kv_static = at < kv_static_.size() && kv_static_[at] > 0.0f ? kv_static_.data() + at : nullptr;
  LMD_CHECK(!kv_static || layout_.kind == KvKind::kInt8)
      << "rope_kv_write: layer " << layer << " has static kv_qparams but the KV cache is not int8 (kind "
      << static_cast<int>(layout_.kind) << ")";
  const Kernels& kern = kernels();
  const int hd = params_.head_dim, half = params_.rot_dim / 2;
  const int qd = params_.head_num * hd, kd = params_.kv_head_num * hd;
  const size_t block_bytes = layout_.block_bytes();
  parallel(static_cast<int64_t>(n) * (qd + 2 * kd) * 4, [&](int tid, int nt) {
    const auto [b, e] = ThreadPool::split(n, tid, nt);
    for (int64_t t = b; t < e; ++t) {
      const float* cs = rope_cos_.data() + t * half;
      const float* sn = rope_sin_.data() + t * half;
      for (int h = 0; h < params_.head_num; ++h) {
        float* x = q + t * qd + h * hd;
        rope_head(x, cs, sn, params_.rot_dim, params_.rope_pairing, llamacpp_);
        if (logn_[t] != 1.0f)
          for (int j = 0; j < hd; ++j) x[j] *= logn_[t];
      }
      const StepSeq& s = seqs_[tok_seq_[t]];
      const int pos = tok_pos_[t];
      uint8_t* block = kv_pool_ + static_cast<size_t>(blocks_[s.block_begin + pos / layout_.block_len]) * block_bytes;
      const int slot = pos % layout_.block_len;
      for (int h = 0; h < params_.kv_head_num; ++h) {
        float* kx = k + t * kd + h * hd;
        rope_head(kx, cs, sn, params_.rot_dim, params_.rope_pairing, llamacpp_);
        store_kv_row(kern, layout_, block, layer, 0, h, slot, kx, kv_static);
        store_kv_row(kern, layout_, block, layer, 1, h, slot, v + t * kd + h * hd, kv_static ? kv_static + 2 : nullptr);
      }
    }
  });
}

void CpuBackend::attention(int layer, const float* q, float* out, int n) {
  LMD_CHECK(n == static_cast<int>(tok_seq_.size())) << "attention: " << n << " tokens, step has " << tok_seq_.size();
  if (llamacpp_) {  // llama.cpp numerics mode
    attention_llamacpp(layer, q, out, n);
    return;
  }
  const Kernels& kern = kernels();
  const int hd = params_.head_dim, bl = layout_.block_len;
  const int group = params_.head_num / params_.kv_head_num;
  const int qd = params_.head_num * hd;
  const size_t block_bytes = layout_.block_bytes();
  const bool f16 = layout_.kind == KvKind::kF16;
  // scratch per thread: one KV tile + scores [kQueryTile * group][max context]
  int64_t max_ctx = 0;
  for (const auto& it : attn_items_) max_ctx = std::max<int64_t>(max_ctx, tok_pos_[it.tok_end - 1] + 1);
  const int64_t ctx_pad = (max_ctx + bl - 1) / bl * bl;
  grow_thread_scratch(static_cast<size_t>(bl) * hd + static_cast<size_t>(kQueryTile) * group * ctx_pad);
  next_item_.store(0);
  int64_t work = 0;
  for (const auto& it : attn_items_) work += static_cast<int64_t>(it.tok_end - it.tok_begin) * group * hd * (tok_pos_[it.tok_end - 1] + 1);
  parallel(work, [&](int tid, int) {
    float* tile = thread_scratch_[tid].data();
    float* scores = tile + static_cast<size_t>(bl) * hd;
    for (;;) {
      const int64_t idx = next_item_.fetch_add(1);
      if (idx >= static_cast<int64_t>(attn_items_.size())) break;
      const AttnItem& it = attn_items_[idx];
      const StepSeq& s = seqs_[it.seq];
      const int nq = (it.tok_end - it.tok_begin) * group;
      const int ctx = tok_pos_[it.tok_end - 1] + 1;
      const int nblocks = (ctx + bl - 1) / bl;
      // query vector i: token it.tok_begin + i / group, head kv_head * group + i % group
      auto qvec = [&](int i) { return q + static_cast<size_t>(it.tok_begin + i / group) * qd + (it.kv_head * group + i % group) * hd; };
      auto qpos = [&](int i) { return tok_pos_[it.tok_begin + i / group]; };
      const int ntok = it.tok_end - it.tok_begin;
      // fp16 cache rows of (layer, kv, head) in a block, read in place by the *_f16 kernels
      auto f16_rows = [&](const uint8_t* block, int kv) {
        return reinterpret_cast<const uint16_t*>(block + layout_.row_offset(layer, kv, it.kv_head, 0));
      };
      for (int b = 0; b < nblocks; ++b) {
        const uint8_t* block = kv_pool_ + static_cast<size_t>(blocks_[s.block_begin + b]) * block_bytes;
        const int rows = std::min(bl, ctx - b * bl);
        if (f16) {  // the `group` query heads of a token are consecutive in q: one call per token
          for (int tt = 0; tt < ntok; ++tt) {
            const int valid = std::min(rows, qpos(tt * group) - b * bl + 1);
            if (valid > 0)
              kern.attn_scores_f16(qvec(tt * group), group, f16_rows(block, 0), valid, hd, params_.softmax_scale,
                                   scores + static_cast<size_t>(tt * group) * ctx_pad + b * bl, ctx_pad);
          }
          continue;
        }
        const float* kt = load_kv_tile(kern, layout_, block, layer, 0, it.kv_head, rows, tile);
        for (int i = 0; i < nq; ++i) {
          const int valid = std::min(rows, qpos(i) - b * bl + 1);
          if (valid > 0)
            kern.attn_scores(qvec(i), kt, valid, hd, params_.softmax_scale, scores + static_cast<size_t>(i) * ctx_pad + b * bl);
        }
      }
      for (int i = 0; i < nq; ++i) {  // softmax over positions 0..qpos(i)
        float* sc = scores + static_cast<size_t>(i) * ctx_pad;
        kern.softmax(sc, qpos(i) + 1);
        float* o = out + static_cast<size_t>(it.tok_begin + i / group) * qd + (it.kv_head * group + i % group) * hd;
        std::memset(o, 0, sizeof(float) * hd);
      }
      for (int b = 0; b < nblocks; ++b) {
        const uint8_t* block = kv_pool_ + static_cast<size_t>(blocks_[s.block_begin + b]) * block_bytes;
        const int rows = std::min(bl, ctx - b * bl);
        if (f16) {  // the token's `group` output heads are consecutive too
          for (int tt = 0; tt < ntok; ++tt) {
            const int valid = std::min(rows, qpos(tt * group) - b * bl + 1);
            if (valid <= 0) continue;
            float* o = out + static_cast<size_t>(it.tok_begin + tt) * qd + it.kv_head * group * hd;
            kern.attn_accum_f16(scores + static_cast<size_t>(tt * group) * ctx_pad + b * bl, ctx_pad, group,
                                f16_rows(block, 1), valid, hd, o);
          }
          continue;
        }
        const float* vt = load_kv_tile(kern, layout_, block, layer, 1, it.kv_head, rows, tile);
        for (int i = 0; i < nq; ++i) {
          const int valid = std::min(rows, qpos(i) - b * bl + 1);
          if (valid <= 0) continue;
          float* o = out + static_cast<size_t>(it.tok_begin + i / group) * qd + (it.kv_head * group + i % group) * hd;
          kern.attn_accum(scores + static_cast<size_t>(i) * ctx_pad + b * bl, vt, valid, hd, o);
        }
      }
    }
  });
}

// llama.cpp numerics mode: per query head, the sequence's fp16 K and V rows 0..pos are
// gathered from their blocks and attend_head reproduces ggml's non-flash attention.
void CpuBackend::attention_llamacpp(int layer, const float* q, float* out, int n) {
  LMD_CHECK(layout_.kind == KvKind::kF16) << "llama.cpp numerics: the KV cache must be f16 (as llama.cpp's default), got "
                                          << static_cast<int>(layout_.kind);
  const int hd = params_.head_dim, bl = layout_.block_len;
  const int group = params_.head_num / params_.kv_head_num;
  const int qd = params_.head_num * hd;
  const size_t block_bytes = layout_.block_bytes();
  int64_t max_ctx = 0;
  for (int t = 0; t < n; ++t) max_ctx = std::max<int64_t>(max_ctx, tok_pos_[t] + 1);
  grow_thread_scratch(static_cast<size_t>(llamacpp::attend_scratch_floats(max_ctx, hd)));
  for (auto& kv : lc_kv_)
    if (kv.size() < static_cast<size_t>(2 * max_ctx * hd)) kv.resize(static_cast<size_t>(2 * max_ctx * hd));
  LMD_CHECK(hd <= 512) << "llama.cpp numerics: head_dim " << hd << " > 512";
  // Q·K runs over llama.cpp's dimension order: its GGUF q/k rows are in adjacent-pair RoPE
  // order, ours are half-split unless loaded with keep_gguf_rope_layout; the f16 dot sums in
  // that order (dims[i] = our index of llama.cpp's dimension i).
  std::vector<int> dims(hd);
  const int half = params_.rot_dim / 2;
  for (int i = 0; i < hd; ++i)
    dims[i] = params_.rope_pairing == RopePairing::kHalfSplit && i < params_.rot_dim ? (i % 2 ? half + i / 2 : i / 2) : i;
  const int64_t items = static_cast<int64_t>(n) * params_.kv_head_num;
  parallel_chunks(items * max_ctx * hd * group, items, [&](int64_t c, int tid) {
    const int t = static_cast<int>(c / params_.kv_head_num), h = static_cast<int>(c % params_.kv_head_num);
    const StepSeq& s = seqs_[tok_seq_[t]];
    const int ctx = tok_pos_[t] + 1;
    uint16_t* kbuf = lc_kv_[tid].data();
    uint16_t* vbuf = kbuf + static_cast<size_t>(ctx) * hd;
    for (int p = 0; p < ctx; ++p) {
      const uint8_t* block = kv_pool_ + static_cast<size_t>(blocks_[s.block_begin + p / bl]) * block_bytes;
      const uint16_t* krow = reinterpret_cast<const uint16_t*>(block + layout_.row_offset(layer, 0, h, p % bl));
      for (int i = 0; i < hd; ++i) kbuf[static_cast<size_t>(p) * hd + i] = krow[dims[i]];
      std::memcpy(vbuf + static_cast<size_t>(p) * hd, block + layout_.row_offset(layer, 1, h, p % bl), sizeof(uint16_t) * hd);
    }
    float qv[512];
    for (int g = 0; g < group; ++g) {
      const int head = h * group + g;
      const float* qh = q + static_cast<size_t>(t) * qd + head * hd;
      for (int i = 0; i < hd; ++i) qv[i] = qh[dims[i]];
      llamacpp::attend_head(qv, kbuf, vbuf, ctx, hd, hd, params_.softmax_scale, thread_scratch_[tid].data(),
                            out + static_cast<size_t>(t) * qd + head * hd);
    }
  });
}

}  // namespace lmd::cpu
