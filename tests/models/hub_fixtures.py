"""Repos for the fake Hub, built from real metadata (see fixtures/hub/README.md for what is real).

GGUF headers are written by the `gguf` package, header and tensor table only: the served file is that
header followed by zeros up to the size the tensors need, so a 17 GB file costs a few MB to build.
"""

from __future__ import annotations

import functools
import json
import struct
import tempfile
from pathlib import Path

import gguf
import numpy as np
from hub_server import FakeFile, FakeRepo

from tuilab.core.arch import ModelArch
from tuilab.core.quant import SizedTensor, ggml_type, parse_quant, weight_tensors
from tuilab.models.hf import read_hf_config

FIXTURES = Path(__file__).parent / "fixtures" / "hub"
QWEN3_MOE_REPO = "unsloth/Qwen3-30B-A3B-GGUF"
QWEN3_SMALL_REPO = "Qwen/Qwen3-0.6B"
GATED_REPO = "meta-llama/Llama-3.2-1B"
QWEN3_MOE_HF_REPO = "Qwen/Qwen3-30B-A3B"
# Qwen3's tokenizer: 151,936 ids in config.json's vocab_size, 151,387 BPE merges (tokenizer.json of
# Qwen/Qwen3-0.6B); the strings here are synthetic, their count and rough length are real.
QWEN3_VOCAB, QWEN3_MERGES = 151_936, 151_387
_ALIGN = 32  # GGUF default alignment (gguf.md)


def _pad(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def recipe_tensors(arch: ModelArch) -> tuple[SizedTensor, ...]:
    """An uploader's recipe in the manner of unsloth's dynamic quants, which keep the tensors a token
    always reads at more bits than the experts: Q4_K_M's types with every quantized non-expert block
    tensor (attention, router aside) at Q8_0. Ours, not unsloth's exact recipe (which is not published
    as a table); what matters is that no llama.cpp file type describes it."""
    q8 = ggml_type("Q8_0")
    out = []
    for t, info in zip(weight_tensors(parse_quant("Q4_K_M"), arch), arch.tensors, strict=True):
        upgrade = t.layer is not None and "_exps." not in t.name and t.type_name not in ("F32", "F16")
        out.append(SizedTensor(t.name, t.layer, "Q8_0", q8.tensor_bytes(info.n_elements)) if upgrade else t)
    return tuple(out)


@functools.cache
def qwen3_moe_gguf(
    quant: str, n_parts: int = 1, n_tokens: int = QWEN3_VOCAB, recipe: bool = False
) -> tuple[tuple[bytes, int], ...]:
    """(header bytes, file size) of each part of Qwen3-30B-A3B at `quant`, as llama.cpp would write it;
    with `recipe`, `recipe_tensors` (declared as `quant`, as llama-quantize writes a file whose tensor
    types were overridden)."""
    arch = read_hf_config(FIXTURES / "Qwen3-30B-A3B.config.json").arch
    shapes = {t.name: t.shape for t in arch.tensors}
    sized = recipe_tensors(arch) if recipe else weight_tensors(parse_quant(quant), arch)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.gguf"
        split = -(-len(sized) // n_parts) if n_parts > 1 else 0
        w = gguf.GGUFWriter(path, "qwen3moe", split_max_tensors=split)
        _qwen3_moe_kv(w, quant, n_tokens)
        for t in sized:
            qtype = gguf.GGMLQuantizationType[t.type_name]
            w.add_tensor_info(t.name, tuple(reversed(shapes[t.name])), np.dtype(np.float32), t.n_bytes, qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        w.close()
        files = sorted(Path(tmp).glob("*.gguf"))
        out = []
        for f, part in zip(files, w.tensors, strict=True):
            head = f.read_bytes()
            out.append((head, _pad(len(head)) + sum(_pad(ti.nbytes) for ti in part.values())))
    return tuple(out)


def _qwen3_moe_kv(w: gguf.GGUFWriter, quant: str, n_tokens: int) -> None:
    """The keys convert_hf_to_gguf.py writes for Qwen3MoeForCausalLM, from the real config.json."""
    cfg = json.loads((FIXTURES / "Qwen3-30B-A3B.config.json").read_text())
    w.add_name("Qwen3-30B-A3B")
    w.add_file_type(int(gguf.LlamaFileType[f"MOSTLY_{quant}"]))
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_expert_count(cfg["num_experts"])
    w.add_expert_used_count(cfg["num_experts_per_tok"])
    w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list([f"tok{i}" for i in range(n_tokens)])
    w.add_token_types([1] * n_tokens)
    w.add_token_merges([f"m{i} n{i}" for i in range(min(QWEN3_MERGES, n_tokens))])


# Writing 151,936 tokens and 151,387 merges takes gguf's writer ~3 s of CPU per header, so most tests
# serve headers with a short vocabulary; `full_vocab_repo` serves the one real-sized header.
SHORT_VOCAB = 2048


def qwen3_moe_repo(n_tokens: int = SHORT_VOCAB) -> FakeRepo:
    """unsloth/Qwen3-30B-A3B-GGUF as it is laid out: one file per quant, an unsloth dynamic quant,
    BF16 split in a folder, a vision-free repo with README and no config.json."""
    files: dict[str, FakeFile] = {"README.md": FakeFile(b"# Qwen3-30B-A3B GGUF\n")}
    files["mmproj-F16.gguf"] = FakeFile(b"GGUF", 1_000_000)  # a projector, never a choice
    for quant in ("Q4_K_M", "Q8_0", "Q2_K"):
        ((head, size),) = qwen3_moe_gguf(quant, 1, n_tokens)
        files[f"Qwen3-30B-A3B-{quant}.gguf"] = FakeFile(head, size)
    ((head, size),) = qwen3_moe_gguf("Q4_K_M", 1, n_tokens, recipe=True)
    files["Qwen3-30B-A3B-UD-Q4_K_XL.gguf"] = FakeFile(head, size)
    for i, (head, size) in enumerate(qwen3_moe_gguf("BF16", 2, n_tokens), start=1):
        files[f"BF16/Qwen3-30B-A3B-BF16-{i:05d}-of-00002.gguf"] = FakeFile(head, size)
    return FakeRepo(files, sha="9fa6b8a5e2d6b1c0a4f0c1d2e3f4a5b6c7d8e9f0")


def full_vocab_repo() -> FakeRepo:
    """Only the Q4_K_M file, with Qwen3's full vocabulary: a ~6.4 MB header, as large as the real one."""
    ((head, size),) = qwen3_moe_gguf("Q4_K_M", 1, QWEN3_VOCAB)
    return FakeRepo(
        {"Qwen3-30B-A3B-Q4_K_M.gguf": FakeFile(head, size)}, sha="9fa6b8a5e2d6b1c0a4f0c1d2e3f4a5b6c7d8e9f0"
    )


def qwen3_small_repo() -> FakeRepo:
    """Qwen/Qwen3-0.6B: its real config.json and the safetensors header of its weights."""
    config = (FIXTURES / "Qwen3-0.6B.config.json").read_bytes()
    head, size = qwen3_small_safetensors()
    files = {
        "config.json": FakeFile(config),
        "generation_config.json": FakeFile(b'{"do_sample": true}'),
        "model.safetensors": FakeFile(head, size),
    }
    return FakeRepo(files, sha="c1899de289a04d12100db370d81485cdf75e47ca")


def qwen3_small_tensors() -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes (PyTorch order) transformers' Qwen3ForCausalLM stores, tied lm_head."""
    cfg = json.loads((FIXTURES / "Qwen3-0.6B.config.json").read_text())
    h, f, hd = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (cfg["vocab_size"], h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
            p + "self_attn.q_norm.weight": (hd,), p + "self_attn.k_norm.weight": (hd,),
            p + "mlp.gate_proj.weight": (f, h), p + "mlp.up_proj.weight": (f, h),
            p + "mlp.down_proj.weight": (h, f),
        }  # fmt: skip
    out["model.norm.weight"] = (h,)
    return out


def qwen3_small_safetensors() -> tuple[bytes, int]:
    return safetensors_file(qwen3_small_tensors())


def safetensors_file(tensors: dict[str, tuple[int, ...]]) -> tuple[bytes, int]:
    """(header bytes, file size) of a BF16 safetensors file holding `tensors` back to back."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        n_bytes = int(np.prod(shape)) * 2  # BF16
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n_bytes]}
        offset += n_bytes
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw, 8 + len(raw) + offset


def qwen3_moe_hf_tensors() -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes transformers' Qwen3MoeForCausalLM stores: one tensor per expert."""
    cfg = json.loads((FIXTURES / "Qwen3-30B-A3B.config.json").read_text())
    h, f, hd, e = cfg["hidden_size"], cfg["moe_intermediate_size"], cfg["head_dim"], cfg["num_experts"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (cfg["vocab_size"], h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
            p + "self_attn.q_norm.weight": (hd,), p + "self_attn.k_norm.weight": (hd,),
            p + "mlp.gate.weight": (e, h),
        }  # fmt: skip
        for j in range(e):
            x = f"{p}mlp.experts.{j}."
            out |= {
                x + "gate_proj.weight": (f, h),
                x + "up_proj.weight": (f, h),
                x + "down_proj.weight": (h, f),
            }
    out |= {"model.norm.weight": (h,), "lm_head.weight": (cfg["vocab_size"], h)}
    return out


def qwen3_moe_hf_repo(n_shards: int = 16) -> FakeRepo:
    """Qwen/Qwen3-30B-A3B: its real config.json and 16 BF16 shards with an index, as the repo ships
    them (the shard boundaries here are ours: whole layers, in order)."""
    tensors = list(qwen3_moe_hf_tensors().items())
    per_shard = -(-len(tensors) // n_shards)
    files = {"config.json": FakeFile((FIXTURES / "Qwen3-30B-A3B.config.json").read_bytes())}
    weight_map: dict[str, str] = {}
    for k in range(n_shards):
        name = f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors"
        chunk = dict(tensors[k * per_shard : (k + 1) * per_shard])
        head, size = safetensors_file(chunk)
        files[name] = FakeFile(head, size)
        weight_map |= dict.fromkeys(chunk, name)
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = FakeFile(json.dumps(index).encode())
    return FakeRepo(files, sha="ad44e777bcd18fa416d9da3bd8f70d33ebb85d39")


def gated_repo() -> FakeRepo:
    config = (FIXTURES / "Llama-3.2-1B.config.json").read_bytes()
    return FakeRepo(
        {"config.json": FakeFile(config)}, sha="4e20de362430cd3b72f300e6b0f18e50e7166e08", gated=True
    )
