// One step's sampling inputs for a device (Model::forward_sample, Backend::sample): per logits
// row the request's parameters, this step's banned ids, the uniform its RNG drew and its
// penalty counts as sparse (token, count) lists, and the tokens chosen on the device back.
// Filled by the engine from each request's RequestSampler (the owner of the request's
// state); the device only reads it, and the engine hands the chosen token back to the
// RequestSampler (accept), so a row sampled on either side leaves the same state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/sampling_params.h"

namespace lmd {


struct TokenCount {
  int32_t token = 0;
  int32_t count = 0;
};

struct SamplingBatch {
  // [rows]: rows in the order of the step's logits rows (StepPlan::seqs with need_logits).
  // A row not on_device (the request wants logprobs, which only the host sampler computes)
  // gets its logits copied to the host like any row the device declines.
  std::vector<uint8_t> on_device;
  std::vector<SamplingParams> params;
  std::vector<double> uniform;            // RequestSampler::draw_uniform (0: greedy, none drawn)
  std::vector<int32_t> ban_offsets{0};    // [rows + 1] into bans
  std::vector<int32_t> bans;              // ids banned this step (eos / stop ids)
  // Penalty counts; a row's range is empty unless it has that penalty.
  std::vector<int32_t> seen_offsets{0};   // [rows + 1] into seen
  std::vector<TokenCount> seen;           // prompt + generated (repetition penalty)
  std::vector<int32_t> generated_offsets{0};  // [rows + 1] into generated
  std::vector<TokenCount> generated;      // generated only (presence / frequency penalty)
  // Out, [rows]: the token chosen on the device, or -1: sample this row on the host (not
  // on_device, or declined by the device: more sorted candidates than it keeps).
  std::vector<int32_t> tokens;

  int rows() const { return static_cast<int>(on_device.size()); }
  void clear();
  // Device rows are appended by RequestSampler::add_device_row (src/sampling/sampler.h),
  // which owns the request's RNG and counts.
  // Appends a row the host samples (greedy placeholder, nothing drawn).
  void add_host_row();
  // Throws lmd::Error naming the row / field when the arrays disagree with rows(), an
  // offset is out of order or a uniform is outside [0, 1) (what Backend::sample relies on).
  // Ids outside the vocabulary are ignored (bans and counts), as the host sampler does.
  // Inline: the nvcc-built CUDA backend calls it and links no lmdeploy_core code.
  void check() const {
    const size_t n = on_device.size();
    LMD_CHECK(params.size() == n && uniform.size() == n)
        << "sampling batch: " << n << " rows but " << params.size() << " params and " << uniform.size()
        << " uniforms";
    check_offsets(ban_offsets, bans.size(), "ban");
    check_offsets(seen_offsets, seen.size(), "seen");
    check_offsets(generated_offsets, generated.size(), "generated");
    for (size_t r = 0; r < n; ++r)
      LMD_CHECK(uniform[r] >= 0.0 && uniform[r] < 1.0)
          << "sampling batch: row " << r << " uniform " << uniform[r] << " outside [0, 1)";
  }

 private:
  void check_offsets(const std::vector<int32_t>& off, size_t entries, const char* name) const {
    const size_t n = on_device.size();
    LMD_CHECK(off.size() == n + 1 && off.front() == 0 && static_cast<size_t>(off.back()) == entries)
        << "sampling batch: " << name << " offsets: " << off.size() << " for " << n << " rows, last "
        << (off.empty() ? -1 : off.back()) << " of " << entries << " entries";
    for (size_t r = 0; r < n; ++r)
      LMD_CHECK(off[r] <= off[r + 1]) << "sampling batch: " << name << " offsets of row " << r << " decrease ("
                                      << off[r] << " > " << off[r + 1] << ")";
  }
};

}  // namespace lmd
