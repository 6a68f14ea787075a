// Text for calibration and perplexity. We have no network, so a dataset is:
//   - a local file: plain text, or JSON lines (*.jsonl / *.json, one object per line with a
//     "text" field);
//   - one of the seed's names (c4, ptb, wikitext2, pileval): every *.txt / *.jsonl / *.json
//     file under $LMDEPLOY_CACHE_DIR/datasets/NAME/ (default ~/.cache/lmdeploy/datasets/NAME),
//     which the user fills; otherwise a clear error saying how to pass a file;
//   - "self": text the model writes itself (see lite/self_text.h), handled by the caller.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmd::lite {

bool is_self_dataset(const std::string& spec);
// Directory a seed dataset name resolves to.
std::string named_dataset_dir(const std::string& name);
// The documents of `spec` (a file or a seed name), in order. Throws naming the path.
std::vector<std::string> read_dataset(const std::string& spec);

// `samples` windows of `seqlen` tokens from `stream` at seeded offsets (std::mt19937_64),
// disjoint while the stream holds samples*seqlen tokens, evenly spread otherwise.
// Throws when the stream is shorter than one window.
std::vector<std::vector<int32_t>> sample_windows(const std::vector<int32_t>& stream, int samples, int seqlen,
                                                 uint64_t seed, const std::string& what);

}  // namespace lmd::lite
