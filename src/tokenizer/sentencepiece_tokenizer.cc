#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <cstdio>

#include "core/error.h"
#include "common/utf8.h"

namespace lmd {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581

std::string unescape_spaces(const std::string& s) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(kSpace, pos)) != std::string::npos; pos = hit + kSpace.size()) {
    out.append(s, pos, hit - pos);
    out += ' ';
  }
  out.append(s, pos, std::string::npos);
  return out;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path, bool add_bos)
    : path_(path), add_bos_(add_bos), sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = sp_->Load(path);
  LMD_CHECK(status.ok()) << "cannot load SentencePiece model " << path << ": " << status.ToString();
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    if (sp_->IsControl(id) || sp_->IsUnknown(id)) specials_.add(id, sp_->IdToPiece(id), /*always=*/false);
  }
  // The model proto (add_dummy_prefix) is not exposed by the installed headers: ask the
  // library how it decodes a lone "▁word" piece at the start of a text.
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    const std::string piece = sp_->IdToPiece(id);
    if (sp_->IsControl(id) || sp_->IsUnknown(id) || sp_->IsByte(id) || sp_->IsUnused(id)) continue;
    if (piece.size() <= kSpace.size() || piece.compare(0, kSpace.size(), kSpace) != 0) continue;
    std::string text;
    if (sp_->Decode(std::vector<int>{id}, &text).ok()) strips_dummy_prefix_ = text.empty() || text[0] != ' ';
    break;
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(const std::string& raw, bool add_bos, bool parse_special) const {
  const std::string text = utf8::is_valid(raw) ? raw : utf8::sanitize(raw);
  std::vector<int32_t> out;
  if (add_bos && bos_id() >= 0) out.push_back(bos_id());
  for (const TextFragment& frag : specials_.split(text, parse_special)) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      continue;
    }
    std::vector<int> ids;
    const auto status = sp_->Encode(frag.text, &ids);
    LMD_CHECK(status.ok()) << "SentencePiece (" << path_ << ") failed to encode: " << status.ToString();
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

std::string SentencePieceTokenizer::id_to_piece(int32_t id) const {
  check_id(id);
  return sp_->IdToPiece(id);
}

int32_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int32_t SentencePieceTokenizer::bos_id() const { return sp_->bos_id(); }
int32_t SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }

bool SentencePieceTokenizer::is_special(int32_t id) const {
  check_id(id);
  return sp_->IsControl(id) || sp_->IsUnknown(id);
}

int32_t SentencePieceTokenizer::token_to_id(const std::string& piece) const {
  const int id = sp_->PieceToId(piece);
  // PieceToId answers unk_id for unknown pieces: only trust it when the spelling matches.
  return id >= 0 && sp_->IdToPiece(id) == piece ? id : -1;
}

std::string SentencePieceTokenizer::piece_bytes(int32_t id, bool first) const {
  check_id(id);
  const std::string piece = sp_->IdToPiece(id);
  if (sp_->IsByte(id)) {
    unsigned v = 0;
    if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%2x>", &v) == 1) {
      return std::string(1, static_cast<char>(v));
    }
    return piece;
  }
  if (sp_->IsControl(id) || sp_->IsUnknown(id)) return piece;
  std::string text = unescape_spaces(piece);
  if (first && strips_dummy_prefix_ && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

}  // namespace lmd
