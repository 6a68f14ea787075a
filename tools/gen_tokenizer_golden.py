#!/usr/bin/env python3
"""Golden token ids for tests/unit/tokenizer, from oracles we did not write.

Writes into tests/data/tokenizer/:
  corpus.jsonl             the test strings, one JSON string per line (after a header line):
                           hand-written seeds (English, Chinese, code, emoji, whitespace runs,
                           digits, special-token text, combining marks, Arabic/Hindi, JSON...)
                           plus strings built from deterministic templates
  smollm2_llamacpp.jsonl   llama.cpp (llama-cpp-python, vocab_only) on the SmolLM2 GGUF:
                           ids with special=True and with special=False, add_bos=False
  smollm2_hf.jsonl         HF `tokenizers` on smollm2-hf/tokenizer.json (tools/export_hf.py),
                           only when that file exists (LMD_TEST_MODELS or build/test-models)
  qwen2_llamacpp.jsonl     llama.cpp (vocab_only) on the Qwen2.5-Coder-0.5B GGUF (byte-level BPE,
                           tokenizer.ggml.pre = qwen2), special=True and special=False, only
                           when that file exists (tools/fetch_model.sh qwen2.5-coder-0.5b)
  tiny_spm.model           a tiny SentencePiece BPE model (Llama-like options: identity
                           normalisation, dummy prefix, byte fallback, digits split), trained
                           here on /usr/share/common-licenses + the corpus when absent
  tiny_spm.gguf            the same vocabulary as a vocab-only GGUF (tokenizer.ggml.model llama)
  tiny_spm_sentencepiece.jsonl  sentencepiece ids of the corpus for tiny_spm.model
  tiny_spm_llamacpp.jsonl  llama.cpp ids for tiny_spm.gguf (special=True and False)

Every golden file starts with a header object naming the oracle and its version.

usage: tools/gen_tokenizer_golden.py [--gguf PATH] [--hf-dir DIR] [--qwen2-gguf PATH] [--retrain-spm]
"""
import argparse
import io
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
LICENSE_DIR = "/usr/share/common-licenses"

SEEDS = [
    "Hello world",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine, but we've seen what you'd do.",
    "SHE'S HERE AND THEY'RE READY; I'LL GO.",
    "don't won't can't shouldn't",
    "",
    " ",
    "  ",
    "   leading spaces",
    "trailing spaces   ",
    "\t\ttabs\tand\ttext\t",
    "line one\nline two\n\nline four\n",
    "windows\r\nline endings\r\n",
    "mixed \t \n \r\n   whitespace \n\t ",
    "\n\n\n",
    "a\u00a0non-breaking\u3000ideographic space",
    "1234567890",
    "3.14159 and 2.71828 and 1e-10",
    "The year 2024 had 366 days; 1,000,000 people.",
    "phone: +1 (555) 123-4567",
    "٠١٢٣٤٥٦٧٨٩ ① ½ Ⅻ",
    "你好，世界！今天天气很好。",
    "我爱自然语言处理和机器学习。",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 텍스트도 있습니다.",
    "Привет, мир! Как дела?",
    "Ελληνικά γράμματα αβγδ",
    "مرحبا بالعالم، كيف حالك؟",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "สวัสดีครับ ภาษาไทย",
    "עברית מימין לשמאל",
    "café naïve résumé jalapeño",
    "e\u0301 a\u0300 o\u0308 combining marks n\u0303",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo",
    "emoji 🎉🚀🔥 and 👍🏽 skin tones",
    "family 👨\u200d👩\u200d👧\u200d👦 and flags 🇫🇷🇯🇵",
    "math ∑∫√∞≈≠ and arrows ←→↑↓",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_end|><|im_end|><|im_start|>",
    "<|im_start <|im_end| |im_start|> <|endoftext|>",
    "<|endoftext|>text after end",
    "<repo_name>lmdeploy<file_sep>src/main.cc<reponame>x",
    "<filename>a.py\n<gh_stars>100\n<issue_start>bug<issue_comment>ok<issue_closed>",
    "<jupyter_start><jupyter_text>md<jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "<s> </s> <unk> [INST] [/INST]",
    "def add(a, b):\n    return a + b\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += x[i];\n}\n",
    "#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; return v.size(); }",
    "if x == None and y != 0:\n        pass  # TODO: fix\n",
    "const f = async () => { await fetch('/api?q=1&r=2'); };",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<div class=\"box\"><p>Hi &amp; bye</p></div>",
    "{\"name\": \"SmolLM2\", \"layers\": 30, \"tied\": true, \"vocab\": [0, 1, 2]}",
    "{\n  \"key\": \"value\",\n  \"nested\": {\"a\": null}\n}",
    "https://example.com/path/to/page?query=1#fragment",
    "user@example.org wrote: >>> quoted",
    "$HOME/.cache/lmdeploy && ls -la | grep gguf",
    "C:\\Users\\name\\Documents\\file.txt",
    "!!!???...,,,;;;:::",
    "----====____****####",
    "((([[[{{{}}}]]])))",
    "'quoted' \"double\" `backtick` ‘curly’ “curly”",
    "a's b't c're d've e'm f'll g'd",
    "'s 't 're 've 'm 'll 'd",
    "x" * 50,
    "ab" * 40,
    "🙂" * 12,
    "9" * 30,
    " " * 17 + "x",
    "\n" * 7 + "y",
    "tab\t\t\t\tstop",
    "MiXeD CaSe WoRdS",
    "snake_case_identifier and camelCaseIdentifier and SCREAMING_CASE",
    "α=0.5; β=1e-3; γ≥0",
    "price: €100, £50, ¥1000, $9.99",
    "°C ± µm ×÷ §¶ ©®™",
    "\u200b zero\u200bwidth \ufeff bom",
    "ﬁ ligature ＦＵＬＬＷＩＤＴＨ ｶﾀｶﾅ",
    "Ünïcödé ÀÉÎÕÜ ß ẞ",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    "To be, or not to be: that is the question.",
    "一二三四五六七八九十百千万亿",
    "混合 mixed 文本 text 123 和 emoji 😀",
    "   \n   \n",
    "end with newline\n",
    "\ttab first",
    "x\u0000null byte",
    "control \u0007 bell \u001b[31m escape",
]

WORDS = ["the", "model", "token", "Hello", "world", "data", "GPU", "CPU", "inference", "quantize",
         "中文", "模型", "émigré", "naïve", "😀", "🚀", "don't", "it's", "x", "A", "lmdeploy",
         "TurboMind", "llama", "SmolLM2", "ß", "Ω", "كتاب", "हिंदी"]
SEPARATORS = [" ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\n ", "\r\n", ", ", ". ", "-", "_", "/", ""]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]


def template_strings():
    """Deterministic strings: words joined by varied separators, numbers, specials."""
    rng = random.Random(20240607)
    out = []
    for k in range(1, 9):
        out.append("a" + " " * k + "b")
        out.append("a" + "\n" * k + "b")
        out.append(" " * k + "word" + " " * k)
    for n in [0, 7, 42, 100, 999, 1000, 12345, 65536, 3141592653, 10**15]:
        out.append(f"{n}")
        out.append(f"value {n} units")
        out.append(f"{n}.{n % 97:02d}%")
    while len(out) < 220:
        n = rng.randint(1, 8)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.6:
                parts.append(rng.choice(WORDS))
            elif r < 0.8:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 7))))
            elif r < 0.9:
                parts.append(rng.choice(SPECIALS))
            else:
                parts.append(rng.choice(["(", ")", "{", "}", "[", "]", "!", "?", "'", "\"", ":", ";", "…"]))
            parts.append(rng.choice(SEPARATORS))
        s = "".join(parts)
        if s not in out:
            out.append(s)
    return out


def corpus():
    seen, strings = set(), []
    for s in SEEDS + template_strings():
        if s not in seen:
            seen.add(s)
            strings.append(s)
    return strings


def write_jsonl(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"header": header}, ensure_ascii=False) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"gen_tokenizer_golden: wrote {path} ({len(rows)} rows)", file=sys.stderr)


def cache_dir():
    return os.environ.get("LMDEPLOY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lmdeploy")


def default_gguf():
    return os.environ.get("LMD_MODEL_PATH") or os.path.join(cache_dir(), "SmolLM2-135M-Instruct.Q4_1.gguf")


def default_qwen2_gguf():
    return os.path.join(cache_dir(), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")


def default_hf_dir():
    base = os.environ.get("LMD_TEST_MODELS") or os.path.join(ROOT, "build", "test-models")
    return os.path.join(base, "smollm2-hf")


def llamacpp_rows(model_path, strings):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    rows = []
    for s in strings:
        b = s.encode("utf-8")
        rows.append({"text": s,
                     "ids": llm.tokenize(b, add_bos=False, special=True),
                     "ids_plain": llm.tokenize(b, add_bos=False, special=False)})
    return rows, f"llama.cpp (llama-cpp-python {llama_cpp.__version__})"


def train_tiny_spm(path, strings):
    import sentencepiece as spm
    lines = []
    for name in sorted(os.listdir(LICENSE_DIR)):
        p = os.path.join(LICENSE_DIR, name)
        if os.path.isfile(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                lines.extend(line.strip() for line in f if line.strip())
    lines.extend(s for s in strings if s.strip())
    buf = io.BytesIO()
    # Llama's tokenizer.model options: what the native GGUF SPM tokenizer reproduces.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, vocab_size=1000, model_type="bpe",
        normalization_rule_name="identity", add_dummy_prefix=True, remove_extra_whitespaces=False,
        split_digits=True, byte_fallback=True, allow_whitespace_only_pieces=True,
        character_coverage=0.9995, num_threads=1, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        control_symbols=["<|im_start|>", "<|im_end|>"], minloglevel=2)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write_spm_gguf(model_path, gguf_path):
    """A vocab-only GGUF of a SentencePiece model, as llama.cpp's converter lays it out."""
    import gguf
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=model_path)
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    w = gguf.GGUFWriter(gguf_path, "llama")
    # Hyper-parameters llama.cpp reads even for vocab_only; no tensors follow.
    w.add_context_length(128)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(1)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"gen_tokenizer_golden: wrote {gguf_path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", default=default_gguf(), help="SmolLM2 GGUF (default: $LMD_MODEL_PATH or the cache)")
    ap.add_argument("--hf-dir", default=default_hf_dir(), help="directory of the exported smollm2-hf model")
    ap.add_argument("--qwen2-gguf", default=default_qwen2_gguf(), help="Qwen2.5-Coder-0.5B GGUF (default: the cache)")
    ap.add_argument("--retrain-spm", action="store_true", help="train tiny_spm.model again")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    strings = corpus()
    assert len(strings) >= 300, len(strings)
    write_jsonl(os.path.join(OUT, "corpus.jsonl"),
                "generated by tools/gen_tokenizer_golden.py: seeds + deterministic templates", strings)

    rows, oracle = llamacpp_rows(args.gguf, strings)
    write_jsonl(os.path.join(OUT, "smollm2_llamacpp.jsonl"),
                f"generated by tools/gen_tokenizer_golden.py from {oracle} on {os.path.basename(args.gguf)}", rows)

    hf_json = os.path.join(args.hf_dir, "tokenizer.json")
    if os.path.isfile(hf_json):
        import tokenizers
        tok = tokenizers.Tokenizer.from_file(hf_json)
        rows = [{"text": s, "ids": tok.encode(s, add_special_tokens=False).ids} for s in strings]
        write_jsonl(os.path.join(OUT, "smollm2_hf.jsonl"),
                    f"generated by tools/gen_tokenizer_golden.py from HF tokenizers {tokenizers.__version__} "
                    f"on smollm2-hf/tokenizer.json (tools/export_hf.py)", rows)
    else:
        print(f"gen_tokenizer_golden: {hf_json} missing (run tools/prepare_test_models.sh); "
              "smollm2_hf.jsonl not regenerated", file=sys.stderr)

    if os.path.isfile(args.qwen2_gguf):
        rows, oracle = llamacpp_rows(args.qwen2_gguf, strings)
        write_jsonl(os.path.join(OUT, "qwen2_llamacpp.jsonl"),
                    f"generated by tools/gen_tokenizer_golden.py from {oracle} on {os.path.basename(args.qwen2_gguf)}",
                    rows)
    else:
        print(f"gen_tokenizer_golden: {args.qwen2_gguf} missing (run tools/fetch_model.sh qwen2.5-coder-0.5b); "
              "qwen2_llamacpp.jsonl not regenerated", file=sys.stderr)

    import sentencepiece as spm
    spm_path = os.path.join(OUT, "tiny_spm.model")
    if args.retrain_spm or not os.path.isfile(spm_path):
        train_tiny_spm(spm_path, strings)
    write_spm_gguf(spm_path, os.path.join(OUT, "tiny_spm.gguf"))
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    rows = [{"text": s, "ids": sp.encode(s), "decoded": sp.decode(sp.encode(s))} for s in strings]
    write_jsonl(os.path.join(OUT, "tiny_spm_sentencepiece.jsonl"),
                f"generated by tools/gen_tokenizer_golden.py from sentencepiece {spm.__version__} "
                "on tiny_spm.model", rows)
    rows, oracle = llamacpp_rows(os.path.join(OUT, "tiny_spm.gguf"), strings)
    write_jsonl(os.path.join(OUT, "tiny_spm_llamacpp.jsonl"),
                f"generated by tools/gen_tokenizer_golden.py from {oracle} on tiny_spm.gguf", rows)


if __name__ == "__main__":
    main()
