#include "lite/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "common/paths.h"

namespace fs = std::filesystem;

namespace lmd::lite {
namespace {

const char* const kSeedNames[] = {"c4", "ptb", "wikitext2", "pileval"};

bool is_jsonl(const fs::path& p) { return p.extension() == ".jsonl" || p.extension() == ".json"; }

void read_file(const fs::path& p, std::vector<std::string>* docs) {
  std::ifstream in(p, std::ios::binary);
  LMD_CHECK_KIND(in.good(), kNotFound) << "dataset file " << p.string() << " cannot be read";
  if (!is_jsonl(p)) {
    std::stringstream ss;
    ss << in.rdbuf();
    docs->push_back(ss.str());
    return;
  }
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    LMD_CHECK(j.is_object() && j.contains("text") && j["text"].is_string())
        << "dataset " << p.string() << " line " << line_no << ": expected a JSON object with a \"text\" string";
    docs->push_back(j["text"].get<std::string>());
  }
}

}  // namespace

bool is_self_dataset(const std::string& spec) { return spec == "self"; }

std::string named_dataset_dir(const std::string& name) { return cache_dir() + "/datasets/" + name; }

std::vector<std::string> read_dataset(const std::string& spec) {
  LMD_CHECK(!spec.empty()) << "--calib_dataset is empty";
  std::vector<std::string> docs;
  std::error_code ec;
  if (fs::is_regular_file(spec, ec)) {
    read_file(spec, &docs);
  } else if (std::find(std::begin(kSeedNames), std::end(kSeedNames), spec) != std::end(kSeedNames)) {
    const std::string dir = named_dataset_dir(spec);
    std::vector<fs::path> files;
    if (fs::is_directory(dir, ec))
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && (is_jsonl(e.path()) || e.path().extension() == ".txt")) files.push_back(e.path());
    LMD_CHECK_KIND(!files.empty(), kNotFound)
        << "dataset '" << spec << "' is not available offline: put its text (*.txt, or *.jsonl with a \"text\" field) in "
        << dir << ", or pass a local file (--calib_dataset /path/to/text.txt), or --calib_dataset self";
    std::sort(files.begin(), files.end());
    for (const auto& f : files) read_file(f, &docs);
  } else {
    throw Error("dataset '" + spec + "': no such file; expected a text / JSON-lines file, one of c4, ptb, wikitext2, " +
                    "pileval (read from " + named_dataset_dir("NAME") + "), or self",
                Error::Kind::kNotFound);
  }
  size_t chars = 0;
  for (const auto& d : docs) chars += d.size();
  LMD_CHECK(chars > 0) << "dataset '" << spec << "' is empty";
  return docs;
}

std::vector<std::vector<int32_t>> sample_windows(const std::vector<int32_t>& stream, int samples, int seqlen,
                                                 uint64_t seed, const std::string& what) {
  LMD_CHECK(samples > 0 && seqlen > 1) << "calib_samples " << samples << " and calib_seqlen " << seqlen
                                       << " must be positive (seqlen > 1)";
  const int64_t n = static_cast<int64_t>(stream.size());
  LMD_CHECK(n >= seqlen) << "dataset " << what << " is too short: " << n << " tokens, one sample needs calib_seqlen "
                         << seqlen << "; pass more text or a smaller --calib_seqlen";
  std::vector<std::vector<int32_t>> out;
  std::mt19937_64 rng(seed);
  const int64_t slots = n / seqlen;
  if (slots >= samples) {
    // Disjoint windows: pick `samples` of the `slots` aligned slots, plus a random shift
    // that keeps them inside the stream.
    std::vector<int64_t> idx(static_cast<size_t>(slots));
    for (int64_t i = 0; i < slots; ++i) idx[static_cast<size_t>(i)] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(static_cast<size_t>(samples));
    std::sort(idx.begin(), idx.end());
    const int64_t slack = n - slots * seqlen;
    const int64_t shift = slack > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(slack + 1)) : 0;
    for (int64_t i : idx) {
      const auto b = stream.begin() + shift + i * seqlen;
      out.emplace_back(b, b + seqlen);
    }
  } else {
    // Overlapping windows evenly spread over the stream.
    for (int s = 0; s < samples; ++s) {
      const int64_t off = samples == 1 ? 0 : (n - seqlen) * s / (samples - 1);
      out.emplace_back(stream.begin() + off, stream.begin() + off + seqlen);
    }
  }
  return out;
}

}  // namespace lmd::lite
