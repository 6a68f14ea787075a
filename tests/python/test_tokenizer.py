"""`lmdeploy tokenize` against live oracles: llama.cpp (llama-cpp-python, vocab only) on the
SmolLM2 GGUF, HF tokenizers on the exported smollm2-hf directory, sentencepiece on the tiny
Llama's tokenizer.model. The exhaustive corpus comparison lives in the C++ golden tests
(tests/unit/tokenizer); this checks the command line end to end."""

import subprocess

import pytest

STRINGS = [
    "Hello world",
    "The year 2024 had 366 days.",
    "  leading spaces and\ttabs\n\nnewlines\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "你好，世界！ emoji 🎉👨\u200d👩\u200d👧 café e\u0301",
    "def f(x):\n    return {'a': [1, 2, 3]}  # 12345678",
    "-starts with a dash",
    "",
]


def run(binary, *args, check=True):
    proc = subprocess.run([str(binary), "tokenize", *map(str, args)], capture_output=True)
    if check and proc.returncode != 0:
        pytest.fail(f"lmdeploy tokenize {args} failed ({proc.returncode}): {proc.stderr.decode()}")
    return proc


def ids_of(binary, model, text, *flags):
    # "--text=..." keeps texts starting with a dash a value; CLI11 wants "--text ''" for empty.
    text_args = [f"--text={text}"] if text else ["--text", ""]
    out = run(binary, model, *text_args, *flags).stdout.decode()
    assert out.endswith("\n")
    return [int(x) for x in out.split()]


@pytest.mark.parametrize("text", STRINGS)
def test_gguf_ids_match_llama_cpp(lmd_binary, model_path, llama_vocab, text):
    b = text.encode()
    # add_bos=True asks llama.cpp for the model's default, which is no BOS for SmolLM2.
    assert ids_of(lmd_binary, model_path, text) == llama_vocab.tokenize(b, add_bos=True, special=True)
    assert ids_of(lmd_binary, model_path, text, "--no-parse-special") == \
        llama_vocab.tokenize(b, add_bos=False, special=False)


def test_add_bos_flag(lmd_binary, model_path, llama_vocab):
    ids = ids_of(lmd_binary, model_path, "Hi there", "--add-bos")
    assert ids[0] == llama_vocab.token_bos() == 1
    assert ids[1:] == llama_vocab.tokenize(b"Hi there", add_bos=False, special=True)
    assert ids_of(lmd_binary, model_path, "Hi there", "--no-add-bos") == ids[1:]


def test_file_input_and_decode_round_trip(lmd_binary, model_path, llama_vocab, tmp_path):
    text = "".join(STRINGS)
    f = tmp_path / "input.txt"
    f.write_bytes(text.encode())
    out = run(lmd_binary, model_path, "--file", f).stdout.decode()
    ids = [int(x) for x in out.split()]
    assert ids == llama_vocab.tokenize(text.encode(), add_bos=False, special=True)
    decoded = run(lmd_binary, model_path, "--decode", " ".join(map(str, ids))).stdout
    assert decoded == text.encode() + b"\n"
    assert llama_vocab.detokenize(ids, special=True) == text.encode()
    skipped = run(lmd_binary, model_path, "--decode", "1 19556 2", "--skip-special").stdout
    assert skipped == b"Hello\n"


def test_hf_directory_matches_hf_tokenizers(lmd_binary, test_models):
    from tokenizers import Tokenizer
    hf_dir = test_models / "smollm2-hf"
    tok = Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
    for text in STRINGS:
        assert ids_of(lmd_binary, hf_dir, text) == tok.encode(text, add_special_tokens=False).ids, text


def test_sentencepiece_directory_matches_sentencepiece(lmd_binary, test_models):
    import sentencepiece as spm
    spm_dir = test_models / "tiny-llama-spm"
    sp = spm.SentencePieceProcessor(model_file=str(spm_dir / "tokenizer.model"))
    for text in STRINGS:
        if "<|" in text:
            continue  # not control tokens of this vocabulary, but keep the loop simple
        # tokenizer_config.json says add_bos_token = true.
        assert ids_of(lmd_binary, spm_dir, text) == [sp.bos_id()] + sp.encode(text), text


def test_errors_name_the_path(lmd_binary, tmp_path):
    proc = run(lmd_binary, tmp_path / "missing.gguf", "--text=x", check=False)
    assert proc.returncode != 0
    assert str(tmp_path / "missing.gguf") in proc.stderr.decode()
    proc = run(lmd_binary, tmp_path, "--text=x", check=False)
    assert proc.returncode != 0
    assert "tokenizer.json" in proc.stderr.decode()
    proc = run(lmd_binary, tmp_path, "--decode", "1 x", check=False)
    assert proc.returncode != 0
