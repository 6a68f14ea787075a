#include "loader/kv_pool_size.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lmd {

int32_t kv_pool_blocks(const KvPoolRequest& r) {
  LMD_CHECK(std::isfinite(r.cache_max_entry_count) && r.cache_max_entry_count > 0.0f)
      << "cache_max_entry_count must be > 0 (a fraction < 1 or a block count >= 1), got " << r.cache_max_entry_count;
  LMD_CHECK(r.block_bytes > 0) << "KV block size is 0 bytes";
  if (r.cache_max_entry_count >= 1.0f) return static_cast<int32_t>(r.cache_max_entry_count);
  const uint64_t usable = r.available_bytes > r.weight_bytes ? r.available_bytes - r.weight_bytes : 0;
  const double bytes = static_cast<double>(usable) * r.cache_max_entry_count;
  const int64_t by_memory = static_cast<int64_t>(bytes / static_cast<double>(r.block_bytes));
  const int64_t per_session = (r.session_len + r.block_len - 1) / r.block_len;
  const int64_t useful = static_cast<int64_t>(std::max(1, r.max_batch_size)) * per_session;
  const int64_t n = std::min(by_memory, useful);
  LMD_CHECK_KIND(n >= 1, kResourceExhausted)
      << "cache_max_entry_count " << r.cache_max_entry_count << " of " << usable / 1048576
      << " MiB available leaves no room for one KV block of " << r.block_bytes << " bytes";
  return static_cast<int32_t>(std::min<int64_t>(n, INT32_MAX));
}

}  // namespace lmd
