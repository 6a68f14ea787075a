#!/usr/bin/env python3
"""Write a SmolLM2 variant whose heads divide by 2, for `--tp 2` throughput figures.

    python3 tools/make_tp2_variant.py [SRC.gguf] OUT.gguf

SmolLM2-135M has 9 query heads and 3 KV heads, so it splits over 1 or 3 ranks but not 2.
This keeps the first two KV groups: query heads 0-5 (3 per KV head, as in the original),
KV heads 0-1, and the matching 384 input columns of attn_output; every other tensor and all
metadata are copied unchanged (Q4_1 blocks are sliced whole, never requantised). The result
has SmolLM2's hidden size, FFN, vocabulary and layer count with 2/3 of its attention, so its
decode cost is close to the original's. Its text is not SmolLM2's (a third of the attention
is gone): it is for speed figures, not for answers.
"""

import argparse
import os
import subprocess
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES

KEEP_KV = 2  # KV heads kept (of 3)


def default_model():
    tools = os.path.dirname(os.path.abspath(__file__))
    return subprocess.run(["bash", os.path.join(tools, "fetch_model.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()


def copy_field(w, field, override):
    name = field.name
    if name.startswith("GGUF.") or name == "general.architecture":
        return
    value = override.get(name, field.contents())
    vtype = field.types[0]
    if vtype == GGUFValueType.ARRAY:
        w.add_key_value(name, value, vtype, sub_type=field.types[-1])
    else:
        w.add_key_value(name, value, vtype)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="[SRC.gguf] OUT.gguf")
    args = ap.parse_args(argv)
    if len(args.paths) > 2:
        ap.error("at most two paths: [SRC.gguf] OUT.gguf")
    src = args.paths[0] if len(args.paths) == 2 else default_model()
    out = args.paths[-1]

    r = GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    heads = int(r.fields[f"{arch}.attention.head_count"].contents())
    kv_heads = int(r.fields[f"{arch}.attention.head_count_kv"].contents())
    hidden = int(r.fields[f"{arch}.embedding_length"].contents())
    head_dim = hidden // heads
    group = heads // kv_heads
    if kv_heads < KEEP_KV or heads % kv_heads:
        sys.exit(f"make_tp2_variant: {src}: {heads} heads / {kv_heads} KV heads; need >= {KEEP_KV} KV groups")
    q_rows = KEEP_KV * group * head_dim
    kv_rows = KEEP_KV * head_dim

    w = GGUFWriter(out, arch)
    override = {f"{arch}.attention.head_count": KEEP_KV * group,
                f"{arch}.attention.head_count_kv": KEEP_KV,
                "general.name": f"{r.fields['general.name'].contents()} (tp2 variant: {KEEP_KV * group} heads)"}
    for f in r.fields.values():
        copy_field(w, f, override)
    # hidden / heads is no longer the head size: say it (llama.cpp reads these keys too)
    if f"{arch}.attention.key_length" not in r.fields:
        w.add_uint32(f"{arch}.attention.key_length", head_dim)
        w.add_uint32(f"{arch}.attention.value_length", head_dim)
    for t in r.tensors:
        qtype = GGMLQuantizationType(t.tensor_type)
        data = np.asarray(t.data)
        if t.name.endswith("attn_q.weight"):
            data = data[:q_rows]
        elif t.name.endswith(("attn_k.weight", "attn_v.weight")):
            data = data[:kv_rows]
        elif t.name.endswith("attn_output.weight"):
            block, block_bytes = GGML_QUANT_SIZES[qtype]
            if q_rows % block:
                sys.exit(f"make_tp2_variant: {t.name}: {q_rows} columns is not whole {qtype.name} blocks")
            data = data.reshape(data.shape[0], -1)[:, : q_rows // block * block_bytes]
        data = np.ascontiguousarray(data)
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            w.add_tensor(t.name, data)
        else:  # raw_shape: numpy order, bytes per row last
            w.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(out)


if __name__ == "__main__":
    main()
