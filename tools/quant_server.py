"""A `lmdeploy serve api_server` child for the quantisation tools (quant_quality.py,
memory_kv.py): start on a free port, wait for /health, post JSON, read the peak RSS
(VmHWM of /proc/PID/status) and stop. Standard library only."""

import json
import socket
import subprocess
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status_kib(pid, field):
    """A `Field:  N kB` line of /proc/PID/status, in KiB (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Server:
    def __init__(self, binary, model, *flags, timeout=300, log=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [str(binary), "serve", "api_server", str(model), "--server_name", "127.0.0.1",
                "--server_port", str(self.port), *map(str, flags)]
        self.log = open(log, "w") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"api_server exited with {self.proc.returncode}: {' '.join(args)}"
                                   + (f" (log: {log})" if log else ""))
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"api_server did not answer /health within {timeout} s")
            time.sleep(0.2)
        with urllib.request.urlopen(self.base + "/v1/models", timeout=10) as r:
            self.model = json.loads(r.read())["data"][0]["id"]

    def post(self, path, body, timeout=3600):
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def encode(self, text, add_bos=False):
        return self.post("/v1/encode", {"input": text, "add_bos": add_bos})["input_ids"]

    def greedy_tokens(self, prompt, n):
        """n greedy tokens after `prompt` (raw text, no chat template), as token strings."""
        r = self.post("/v1/completions", {"model": self.model, "prompt": prompt, "max_tokens": n,
                                          "temperature": 0, "ignore_eos": True, "logprobs": 0})
        return r["choices"][0]["logprobs"]["tokens"]

    def rss_kib(self):
        return proc_status_kib(self.proc.pid, "VmRSS")

    def peak_rss_kib(self):
        return proc_status_kib(self.proc.pid, "VmHWM")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
