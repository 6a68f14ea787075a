#!/usr/bin/env python3
"""The profile_throughput load over HTTP against `lmdeploy serve api_server`.

Same requests as tools/profile_throughput.py (fixed-seed, conversation-like prompt and
completion lengths, see tools/profile_common.py) sent as OpenAI streaming requests
(`/v1/completions` by default, `--api chat` for `/v1/chat/completions`) with at most C in
flight; each streamed chunk is timestamped by the client. Prints request/s, input and output
tok/s, TTFT / TPOT / ITL mean, median, P99 (as lmdeploy's / vLLM's serving benchmarks).

  python3 tools/profile_restful_api.py [--url http://127.0.0.1:23333] [-n 128] [-c 32] [--seed 0]

Without --url the tool starts `lmdeploy serve api_server MODEL` itself on a free local port
(KV pool and session length sized for the load, --threads as given) and stops it at the end.
Prompts are built from a fixed word list and trimmed with the server's /v1/encode until
they are exactly the drawn number of tokens (the real counts come back in `usage`).
Requests set ignore_eos and greedy decoding, so each produces its drawn completion length.
Standard library only (http.client, threads).
"""
import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_common as pc  # noqa: E402
import profile_throughput as pt  # noqa: E402

WORDS = ("time year people way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system program question work government number night point "
         "home water room mother area money story fact month lot right study book eye job word business issue "
         "side kind head house service friend father power hour game line end member law car city community name "
         "president team minute idea kid body information back parent face others level office door health "
         "person art war history party result change morning reason research girl guy moment air teacher force "
         "education good new first last long great little own other old big high different small large next early "
         "young important few public bad same able make know take see come think look want give use find tell ask "
         "seem feel try leave call keep let begin show hear play run move like live believe hold bring happen write "
         "provide sit stand lose pay meet include continue set learn lead understand watch follow stop create speak "
         "read spend grow open walk win offer remember love consider appear buy wait serve die send expect build "
         "stay fall cut reach kill remain suggest raise pass sell require report decide pull").split()


class Client:
    """One HTTP connection per thread (http.client is not thread-safe)."""

    def __init__(self, url, api_key):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
        self.https = u.scheme == "https"
        self.prefix = u.path.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = "Bearer " + api_key
        self.conn = None

    def connect(self):
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        self.conn = cls(self.host, self.port, timeout=600)

    def post(self, path, body):
        if self.conn is None:
            self.connect()
        try:
            self.conn.request("POST", self.prefix + path, json.dumps(body), self.headers)
            return self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.connect()  # a kept-alive connection the server closed: retry once
            self.conn.request("POST", self.prefix + path, json.dumps(body), self.headers)
            return self.conn.getresponse()

    def encode_len(self, text):
        r = self.post("/v1/encode", {"input": text, "add_bos": True})
        body = r.read()
        if r.status != 200:
            raise SystemExit("/v1/encode: HTTP %d %s" % (r.status, body[:300]))
        return json.loads(body)["length"]


def make_prompt(client, n_tokens, seed):
    """Text of exactly n_tokens tokens (BOS included, as /v1/completions encodes it) when
    reachable; else the closest below."""
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(4 * n_tokens + 8)]
    k, best = max(1, n_tokens), None
    for _ in range(12):
        text = " ".join(words[:k])
        got = client.encode_len(text)
        if got <= n_tokens and (best is None or got > best[1]):
            best = (text, got)
        if got == n_tokens:
            break
        k = max(1, min(len(words), k + (n_tokens - got)))
    return best[0] if best else words[0]


def run_request(client, api, model, prompt, max_tokens, t0):
    """Streams one request; returns its timeline (profile_common format)."""
    body = {"model": model, "stream": True, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0.0,
            "stream_options": {"include_usage": True}}
    if api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
        path = "/v1/chat/completions"
    else:
        body["prompt"] = prompt
        path = "/v1/completions"
    rec = {"prompt": 0, "start": time.perf_counter() - t0, "t": [], "n": [], "completion_tokens": 0, "error": ""}
    try:
        r = client.post(path, body)
        if r.status != 200:
            rec["error"] = "HTTP %d: %s" % (r.status, r.read()[:300].decode(errors="replace"))
            return rec
        while True:
            line = r.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            now = time.perf_counter() - t0
            ev = json.loads(data)
            if "error" in ev:
                rec["error"] = json.dumps(ev["error"])[:300]
                continue
            if ev.get("usage"):
                rec["prompt"] = ev["usage"].get("prompt_tokens", 0)
                rec["completion_tokens"] = ev["usage"].get("completion_tokens", 0)
            for ch in ev.get("choices") or []:
                text = ch.get("text") if api != "chat" else (ch.get("delta") or {}).get("content")
                if text:
                    rec["t"].append(now)
                    rec["n"].append(1)
        r.read()
    except (http.client.HTTPException, OSError, ValueError) as e:
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        client.conn = None
    if not rec["completion_tokens"]:
        rec["completion_tokens"] = len(rec["t"])
    return rec


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(a, lengths):
    port = free_port()
    longest = max(p + c for p, c in lengths) + 64  # chat template / BOS slack
    blocks = min(a.concurrency, len(lengths)) * ((longest + 63) // 64) + a.concurrency
    cmd = [a.lmdeploy, "serve", "api_server", a.model, "--server_name", "127.0.0.1", "--server_port", str(port),
           "--instance_num", str(a.concurrency), "--session-len", str(longest), "--cache-max-entry-count",
           str(blocks), "--threads", str(a.threads), "--log_level", "error"]
    env = dict(os.environ)
    if a.isa:
        env["LMDEPLOY_CPU_ISA"] = a.isa
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            raise SystemExit("api_server exited with %d:\n%s" % (proc.returncode, proc.stdout.read()[-2000:]))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return proc, url, cmd
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            raise SystemExit("api_server did not answer /health within 180 s")
        time.sleep(0.2)


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def served_model(client):
    c = http.client.HTTPConnection(client.host, client.port, timeout=30) if not client.https else \
        http.client.HTTPSConnection(client.host, client.port, timeout=30)
    c.request("GET", client.prefix + "/v1/models", headers=client.headers)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit("/v1/models: HTTP %d %s" % (r.status, body[:300]))
    return json.loads(body)["data"][0]["id"]


def run_load(url, api_key, api, model, prompts, lengths, concurrency):
    """All requests with at most `concurrency` in flight; (timelines, duration)."""
    timelines = [None] * len(prompts)
    lock, nxt = threading.Lock(), [0]
    t0 = time.perf_counter()

    def worker():
        cl = Client(url, api_key)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(prompts):
                return
            timelines[i] = run_request(cl, api, model, prompts[i], lengths[i][1], t0)

    th = [threading.Thread(target=worker, daemon=True) for _ in range(min(concurrency, len(prompts)))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return timelines, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="", help="a running api_server (default: start one)")
    ap.add_argument("--api-key", default="")
    ap.add_argument("--api", choices=["completions", "chat"], default="completions")
    ap.add_argument("--model", default=pc.default_model(), help="model to serve when starting the server")
    ap.add_argument("--lmdeploy", default=pc.default_binary(), help="the lmdeploy binary (to start the server)")
    pt.add_length_args(ap)
    ap.add_argument("--warmup", type=int, default=-1, help="warm-up requests (4 tokens each; -1 = concurrency)")
    ap.add_argument("--threads", type=int, default=2, help="server compute threads (when started here)")
    ap.add_argument("--isa", default="", help="LMDEPLOY_CPU_ISA for the server started here")
    ap.add_argument("--json", default="", help="also write the metrics and every timeline here")
    a = ap.parse_args()
    lengths = pt.lengths_from(a)
    print(pc.header("profile_restful_api", sys.argv))
    print(pt.describe(lengths), flush=True)
    proc = None
    if not a.url:
        if not os.path.exists(a.lmdeploy):
            raise SystemExit("lmdeploy binary not found: %s (build it, pass --lmdeploy, or --url)" % a.lmdeploy)
        proc, a.url, cmd = start_server(a, lengths)
        print("server: %s" % " ".join(cmd[1:]), flush=True)
    try:
        cl = Client(a.url, a.api_key)
        model = served_model(cl)
        print("url: %s; model: %s; api: /v1/%s" % (a.url, model, "chat/completions" if a.api == "chat" else
                                                 "completions"), flush=True)
        prompts = [make_prompt(cl, p, a.seed * 1000003 + i) for i, (p, _) in enumerate(lengths)]
        n_warm = a.concurrency if a.warmup < 0 else a.warmup
        if n_warm:
            run_load(a.url, a.api_key, a.api, model, [prompts[i % len(prompts)] for i in range(n_warm)],
                     [(0, 4)] * n_warm, a.concurrency)
        timelines, duration = run_load(a.url, a.api_key, a.api, model, prompts, lengths, a.concurrency)
    finally:
        if proc is not None:
            stop_server(proc)
    m = pc.serving_metrics(timelines, duration)
    pc.print_serving(m, "lmdeploy api_server (HTTP, stream)", a.concurrency, sys.stdout)
    if m["failed"]:
        bad = next(r for r in timelines if r.get("error") or not r["t"])
        print("first failure: %s" % (bad.get("error") or "no output"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"metrics": m, "lengths": lengths, "timelines": timelines, "url": a.url,
                       "command": sys.argv}, f, indent=1)
    return 1 if m["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
