// lmdeploy tokenize MODEL (--text T | --file F | --decode "IDS") [--add-bos|--no-add-bos]
//                         [--parse-special|--no-parse-special] [--skip-special]
// Encoding prints the ids space-separated on one line; decoding prints the text.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

struct TokenizeArgs {
  std::string model;
  std::string text;
  std::string file;
  std::string decode;
  bool add_bos = false;
  bool parse_special = true;
  bool skip_special = false;
};

std::vector<int32_t> parse_ids(const std::string& s) {
  std::string spaced = s;
  for (char& c : spaced) {
    if (c == ',' || c == '[' || c == ']') c = ' ';
  }
  std::istringstream in(spaced);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LMD_CHECK(used == word.size() && v >= 0 && v <= INT32_MAX) << "--decode: '" << word << "' is not a token id";
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LMD_CHECK_KIND(in.good(), kNotFound) << "--file: cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

LMD_REGISTER_COMMAND(80, [](CLI::App& root) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = root.add_subcommand("tokenize", "Print the token ids of a text, or the text of token ids");
  cmd->add_option("model", args->model, "a .gguf file, a Hugging Face directory or a TurboMind workspace")->required();
  auto* text = cmd->add_option("--text", args->text, "text to tokenize");
  auto* file = cmd->add_option("--file", args->file, "file whose whole content is tokenized");
  auto* decode = cmd->add_option("--decode", args->decode, "token ids (space or comma separated) to turn into text");
  text->excludes(file)->excludes(decode);
  file->excludes(decode);
  auto* add_bos = cmd->add_flag("--add-bos,!--no-add-bos", args->add_bos,
                                "prepend BOS (default: what the model's tokenizer says)");
  cmd->add_flag("--parse-special,!--no-parse-special", args->parse_special,
                "text spelling a special token becomes that token (default: on)");
  cmd->add_flag("--skip-special", args->skip_special, "--decode: leave special tokens out of the text");
  cmd->callback([args, text, file, decode, add_bos] {
    LMD_CHECK(text->count() + file->count() + decode->count() == 1) << "tokenize: give one of --text, --file, --decode";
    const auto tok = lmd::load_tokenizer(args->model);
    if (decode->count()) {
      const std::string out = tok->decode(parse_ids(args->decode), args->skip_special);
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fputc('\n', stdout);
      return;
    }
    const std::string input = file->count() ? read_file(args->file) : args->text;
    const bool bos = add_bos->count() ? args->add_bos : tok->add_bos_default();
    const std::vector<int32_t> ids = tok->encode(input, bos, args->parse_special);
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(ids[i]);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  });
});
