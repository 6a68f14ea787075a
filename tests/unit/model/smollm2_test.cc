// The real default model (SmolLM2-135M-Instruct Q4_1 GGUF) through the fast path: greedy
// continuation of a factual prompt. Needs the file: env LMD_MODEL_PATH, else the default
// model path (tools/fetch_model.sh puts it there).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/paths.h"
#include "convert/load_model.h"
#include "model/forward_runner.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace lmd {
namespace {

std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : default_model_path();
}

void expect_paris(KvKind kv, bool exact) {
  const std::string path = model_path();
  ASSERT_TRUE(std::ifstream(path).good())
      << "model file " << path << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  const ModelWeights w = load_model_weights(path);
  const auto tok = load_tokenizer(path);
  ModelRuntimeOptions o;
  o.threads = 2;
  o.kv_kind = kv;
  o.exact = exact;
  o.kv_num_blocks = 4;
  auto model = create_llama_model(w, o);
  const auto ids = tok->encode("The capital of France is", tok->add_bos_default());
  const auto out = greedy_generate(*model, ids, 6, tok->eos_id());
  const std::string text = tok->decode(out);
  EXPECT_NE(text.find("Paris"), std::string::npos) << "continuation: '" << text << "'";
}

TEST(SmolLM2, GreedyContinuationNamesParis) { expect_paris(KvKind::kF16, false); }
TEST(SmolLM2, GreedyContinuationNamesParisInt8Kv) { expect_paris(KvKind::kInt8, false); }

}  // namespace
}  // namespace lmd
