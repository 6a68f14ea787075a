"""`lmdeploy chat` driven through a pipe and through a real terminal (tmux), on the default
SmolLM2-135M-Instruct Q4_1 GGUF. Answers are greedy (--temperature 0), so they are fixed.

The 135M model answers factual questions oddly under its default system prompt (llama.cpp
gives the same answer on this file), so the "Paris" checks use a ChatML template without
the system line (--chat-template FILE); the memory check uses the default template.
"""

import json
import shutil
import subprocess
import time

import pytest

NO_SYSTEM = {
    "model_name": "chatml-nosys", "system": "", "meta_instruction": "", "eosys": "",
    "user": "<|im_start|>user\n", "eoh": "<|im_end|>\n", "assistant": "<|im_start|>assistant\n",
    "eoa": "<|im_end|>", "separator": "\n", "stop_words": ["<|im_end|>"],
}
PROMPT = "double enter to end input >>>"


@pytest.fixture
def no_system_template(tmp_path):
    path = tmp_path / "nosys.json"
    path.write_text(json.dumps(NO_SYSTEM))
    return path


def chat(lmd_binary, model_path, stdin, *flags, timeout=240):
    args = [str(lmd_binary), "chat", "turbomind", str(model_path), "--temperature", "0",
            "--max_new_tokens", "24", "--session-len", "1024", *flags]
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout)


def answers(stdout):
    """The text printed after each input prompt (echoed template prompt + answer)."""
    return stdout.split(PROMPT)[1:]


def test_pipe_answers_paris(lmd_binary, model_path, no_system_template):
    p = chat(lmd_binary, model_path, "What is the capital of France?\n\nexit\n",
             "--chat-template", str(no_system_template))
    assert p.returncode == 0, p.stderr
    turns = answers(p.stdout)
    assert len(turns) == 2, p.stdout  # one answer, then the prompt that read `exit`
    assert "Paris" in turns[0], p.stdout


def test_pipe_multi_line_and_memory(lmd_binary, model_path):
    # The first question spans two lines: input ends only at the empty line.
    p = chat(lmd_binary, model_path, "Hi,\nI am Bob.\n\nWhat is my name?\n\nexit\n")
    assert p.returncode == 0, p.stderr
    turns = answers(p.stdout)
    assert len(turns) == 3, p.stdout
    assert "Hi,\nI am Bob." in turns[0]
    assert "You are a helpful AI assistant" in turns[0]  # system part on the first turn only
    assert "You are a helpful AI assistant" not in turns[1]
    assert "What is my name?" in turns[1]
    second_answer = turns[1].split("<|im_start|>assistant\n", 1)[1]
    assert "Bob" in second_answer, p.stdout


def test_end_forgets_the_session(lmd_binary, model_path):
    p = chat(lmd_binary, model_path, "Hi, I am Bob.\n\nend\n\nWhat is my name?\n\nexit\n",
             "--max_new_tokens", "4")
    assert p.returncode == 0, p.stderr
    turns = answers(p.stdout)
    assert "session 1 ended" in turns[1]
    # A fresh session: the system part comes back.
    assert "You are a helpful AI assistant" in turns[2]


def test_prompt_flag_one_turn(lmd_binary, model_path, no_system_template):
    p = chat(lmd_binary, model_path, "", "--prompt", "What is the capital of France?",
             "--chat_template", str(no_system_template))
    assert p.returncode == 0, p.stderr
    assert "Paris" in p.stdout
    assert PROMPT not in p.stdout


@pytest.mark.parametrize("flags, message", [
    (["--device", "cuda"], "no CUDA device"),
    (["--tp", "2"], "--tp 2"),
    (["--top_p", "1.5"], "top_p"),
    (["--temperature", "-1"], "temperature"),
    (["--quant-policy", "3"], "quant_policy"),
])
def test_bad_flags_fail_clearly(lmd_binary, model_path, flags, message):
    p = chat(lmd_binary, model_path, "Hello\n\nexit\n", "--prompt", "Hello", *flags, timeout=120)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert "\n" not in p.stderr.strip(), "errors are one line"


def test_prompt_longer_than_session_len(lmd_binary, model_path):
    p = chat(lmd_binary, model_path, "", "--prompt", "word " * 400, "--session-len", "64", timeout=120)
    assert p.returncode != 0
    assert "session_len 64" in p.stderr, p.stderr


def test_tmux_terminal(lmd_binary, model_path, no_system_template):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: apt-get install tmux", pytrace=False)
    name = f"lmd_chat_test_{int(time.time() * 1000)}"
    cmd = (f"{lmd_binary} chat {model_path} --temperature 0 --max-new-tokens 24 --session-len 1024 "
           f"--chat-template {no_system_template}")
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "200", "-y", "50", cmd], check=True)
    try:
        def pane():
            return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", name, "-S", "-200"],
                                  capture_output=True, text=True).stdout

        def wait_for(pred, seconds=180):
            end = time.time() + seconds
            while time.time() < end:
                text = pane()
                if pred(text):
                    return text
                time.sleep(0.5)
            pytest.fail(f"terminal never showed the expected text:\n{pane()}", pytrace=False)

        wait_for(lambda t: PROMPT in t)
        subprocess.run(["tmux", "send-keys", "-t", name, "What is the capital of France?", "Enter", "Enter"],
                       check=True)
        text = wait_for(lambda t: t.count(PROMPT) >= 2)
        assert "Paris" in text.split(PROMPT)[1]
        subprocess.run(["tmux", "send-keys", "-t", name, "exit", "Enter", "Enter"], check=True)
        end = time.time() + 30
        while time.time() < end and subprocess.run(["tmux", "has-session", "-t", name],
                                                   capture_output=True).returncode == 0:
            time.sleep(0.3)
        assert subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode != 0, \
            "chat did not exit on `exit`"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


# Every command that builds an engine takes the engine flags from one declaration
# (src/cli/engine_options.h): the same flags in both spellings, and the same error for a bad
# value. The extra argument is a model path the parse error stops before loading.
ENGINE_COMMANDS = [["chat"], ["serve", "api_server"], ["serve", "gradio", "MODEL"], ["bench_engine", "MODEL"]]
ENGINE_FLAGS = ["session_len", "max_batch_size", "cache_max_entry_count", "cache_block_seq_len", "quant_policy",
                "max_prefill_token_num", "max_prefill_token_num_decoding", "threads", "device", "tp", "numerics",
                "model_name", "enable_prefix_caching"]


@pytest.mark.parametrize("command", ENGINE_COMMANDS, ids=lambda c: "_".join(c[:2]))
def test_engine_commands_list_the_same_engine_flags(lmd_binary, command):
    p = subprocess.run([str(lmd_binary), *command, "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    for name in ENGINE_FLAGS:
        spellings = f"--{name}" if "_" not in name else f"--{name},--{name.replace('_', '-')}"
        assert spellings in p.stdout, f"{' '.join(command)} --help lacks {spellings}:\n{p.stdout}"


def test_bad_quant_policy_is_the_same_error_from_every_engine_command(lmd_binary):
    errors = {}
    for command in ENGINE_COMMANDS:
        p = subprocess.run([str(lmd_binary), *command, "--quant-policy", "3"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0, command
        errors[" ".join(command[:2])] = p.stderr.strip()
    assert len(set(errors.values())) == 1, errors
    message = next(iter(errors.values()))
    assert message.startswith("error: quant_policy '3': unknown value") and "\n" not in message, message


def test_lite_device_is_cpu_or_a_clear_error(lmd_binary, model_path, tmp_path):
    for command in ("calibrate", "auto_awq"):
        p = subprocess.run([str(lmd_binary), "lite", command, str(model_path), "--device", "cuda"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert p.stderr.strip() == f"error: --device cuda: lite {command} runs on the CPU only " \
                                   "(pass --device cpu or leave the flag out)", p.stderr
    # cpu is accepted: the command gets past its flags and fails on the missing dataset.
    p = subprocess.run([str(lmd_binary), "lite", "calibrate", str(model_path), "--device", "cpu",
                        "--calib-dataset", str(tmp_path / "none.txt"), "--work-dir", str(tmp_path / "w")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "none.txt" in p.stderr and "--device" not in p.stderr, p.stderr
