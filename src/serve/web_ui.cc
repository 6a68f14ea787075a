// The web chat page. See web_ui.h. Plain DOM + fetch streaming; no external resources.
#include "serve/web_ui.h"

namespace lmd::serve {

const std::string& web_ui_html() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>lmdeploy chat</title>
<style>
*{box-sizing:border-box}body{margin:0;font-family:system-ui,sans-serif;background:#f5f6f8;color:#1d1d1f}
header{background:#24292f;color:#fff;padding:.7rem 1.2rem;display:flex;justify-content:space-between;align-items:center}
header h1{font-size:1.1rem;margin:0}#model{font-size:.85rem;opacity:.8}
main{display:flex;gap:1rem;max-width:70rem;margin:1rem auto;padding:0 1rem}
#chatcol{flex:1;display:flex;flex-direction:column;min-width:0}
#log{background:#fff;border:1px solid #d0d7de;border-radius:8px;height:60vh;overflow-y:auto;padding:1rem}
.msg{margin:.4rem 0;padding:.6rem .8rem;border-radius:8px;white-space:pre-wrap;max-width:90%}
.user{background:#dbeafe;margin-left:auto}.assistant{background:#eef0f3}
.error{background:#fde2e1;color:#8a1c16}
#inputrow{display:flex;gap:.5rem;margin-top:.6rem}
#prompt{flex:1;min-height:3.2rem;padding:.5rem;border-radius:6px;border:1px solid #d0d7de;font:inherit}
button{padding:.5rem 1rem;border:0;border-radius:6px;font:inherit;cursor:pointer}
#send{background:#2da44e;color:#fff}#stop{background:#cf222e;color:#fff}#clear{background:#d0d7de}
button:disabled{opacity:.45;cursor:default}
aside{width:15rem;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1rem;height:fit-content}
aside label{display:block;font-size:.85rem;margin-top:.7rem}aside input{width:100%}
#speed{margin-top:1rem;font-size:.9rem;color:#57606a}
</style></head><body>
<header><h1>lmdeploy chat</h1><span id="model">connecting…</span></header>
<main><div id="chatcol"><div id="log"></div>
<div id="inputrow"><textarea id="prompt" placeholder="Ask something (Enter sends, Shift+Enter: new line)"></textarea>
<button id="send">Send</button><button id="stop" disabled>Stop</button><button id="clear">Reset</button></div></div>
<aside><b>Generation</b>
<label>temperature <span id="tv">0.7</span><input id="temperature" type="range" min="0" max="2" step="0.05" value="0.7"></label>
<label>top_p <span id="pv">1.0</span><input id="top_p" type="range" min="0.05" max="1" step="0.05" value="1"></label>
<label>max tokens<input id="max_tokens" type="number" min="1" max="8192" value="256"></label>
<div id="speed">—</div></aside></main>
<script>
const $ = id => document.getElementById(id);
let history = [], controller = null, model = "";
fetch("/v1/models").then(r => r.json()).then(j => { model = j.data[0].id; $("model").textContent = model; })
  .catch(e => { $("model").textContent = "server unreachable"; });
$("temperature").oninput = () => $("tv").textContent = $("temperature").value;
$("top_p").oninput = () => $("pv").textContent = $("top_p").value;
function bubble(role, text) {
  const d = document.createElement("div"); d.className = "msg " + role; d.textContent = text;
  $("log").appendChild(d); $("log").scrollTop = $("log").scrollHeight; return d;
}
function busy(b) { $("send").disabled = b; $("stop").disabled = !b; }
async function send() {
  const q = $("prompt").value.trim(); if (!q || controller) return;
  $("prompt").value = ""; bubble("user", q); history.push({role: "user", content: q});
  const out = bubble("assistant", ""); out.id = "answer-" + history.length;
  controller = new AbortController(); busy(true);
  const t0 = performance.now(); let tFirst = 0, tokens = 0, text = "", usage = null;
  try {
    const resp = await fetch("/v1/chat/completions", {method: "POST", signal: controller.signal,
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({model, messages: history, stream: true, stream_options: {include_usage: true},
        temperature: +$("temperature").value, top_p: +$("top_p").value, max_tokens: +$("max_tokens").value})});
    if (!resp.ok) { const e = await resp.json(); throw new Error(e.error ? e.error.message : resp.statusText); }
    const reader = resp.body.getReader(), dec = new TextDecoder(); let buf = "";
    for (;;) {
      const {value, done} = await reader.read(); if (done) break;
      buf += dec.decode(value, {stream: true});
      let k; while ((k = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, k); buf = buf.slice(k + 2);
        if (!ev.startsWith("data: ")) continue; const data = ev.slice(6); if (data === "[DONE]") continue;
        const j = JSON.parse(data); if (j.error) throw new Error(j.error.message);
        if (j.usage) usage = j.usage;
        const c = j.choices && j.choices[0]; if (!c || !c.delta || !c.delta.content) continue;
        if (!tFirst) tFirst = performance.now(); tokens++; text += c.delta.content; out.textContent = text;
        $("log").scrollTop = $("log").scrollHeight;
        const secs = (performance.now() - tFirst) / 1000;
        if (secs > 0) $("speed").textContent = (tokens / secs).toFixed(1) + " tokens/s";
      }
    }
    const n = usage ? usage.completion_tokens : tokens, secs = (performance.now() - t0) / 1000;
    $("speed").textContent = n + " tokens in " + secs.toFixed(2) + " s · " + (n / secs).toFixed(1) + " tokens/s";
  } catch (e) {
    if (e.name === "AbortError") { $("speed").textContent = "stopped after " + tokens + " tokens"; out.textContent = text + " [stopped]"; }
    else { out.className = "msg error"; out.textContent = "error: " + e.message; }
  }
  history.push({role: "assistant", content: text}); controller = null; busy(false);
}
$("send").onclick = send;
$("stop").onclick = () => { if (controller) controller.abort(); };
$("clear").onclick = () => { if (controller) controller.abort(); history = []; $("log").innerHTML = ""; $("speed").textContent = "—"; };
$("prompt").addEventListener("keydown", e => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
</script></body></html>)HTML";
  return page;
}

}  // namespace lmd::serve
