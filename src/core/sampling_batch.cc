#include "core/sampling_batch.h"

namespace lmd {

void SamplingBatch::clear() {
  on_device.clear();
  params.clear();
  uniform.clear();
  ban_offsets.assign(1, 0);
  bans.clear();
  seen_offsets.assign(1, 0);
  seen.clear();
  generated_offsets.assign(1, 0);
  generated.clear();
  tokens.clear();
}

void SamplingBatch::add_host_row() {
  on_device.push_back(0);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  params.push_back(greedy);
  uniform.push_back(0.0);
  ban_offsets.push_back(static_cast<int32_t>(bans.size()));
  seen_offsets.push_back(static_cast<int32_t>(seen.size()));
  generated_offsets.push_back(static_cast<int32_t>(generated.size()));
}

}  // namespace lmd
