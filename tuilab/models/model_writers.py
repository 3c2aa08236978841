"""Write Llama-shaped weights in the two formats tuilab runs: GGUF for llama.cpp and a Hugging Face
directory (safetensors, config.json, tokenizer files) for MLX, plus each engine's own quantizer.
Weights arrive in HF layout from a callback, one tensor at a time, so large models stream to disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import json
import logging
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
import numpy.typing as npt

from tuilab.core.errors import TuilabError, UnknownNameError
from tuilab.models.tiny_vocab import BOS_TOKEN, EOS_TOKEN, Vocab, hf_tokenizer_json

F16Array = npt.NDArray[np.float16]
WeightFill = Callable[["TensorSpec"], F16Array]


@dataclass(frozen=True)
class ModelShape:
    """Hyper-parameters of a Llama-shaped decoder, named like HF config.json keys."""

    name: str
    hidden_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_size: int
    vocab_size: int
    ctx_tokens: int
    rope_theta: float
    tied_embeddings: bool = False
    rms_norm_eps: float = 1e-5
    n_experts: int = 0  # a Mixtral-style MoE: every FFN is n_experts experts of ffn_size, a router picks
    n_experts_used: int = 0  # num_experts_per_tok

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0


class ModelWriteError(TuilabError):
    """A model could not be written or quantized (missing engine library, disk full, bad quant)."""


@dataclass(frozen=True)
class TensorSpec:
    """One weight in HF layout (rows = output features); `gguf_name` is llama.cpp's name for it."""

    index: int
    hf_name: str
    gguf_name: str
    shape: tuple[int, ...]


def tensor_specs(shape: ModelShape) -> list[TensorSpec]:
    """The Llama tensors in file order (names as in transformers' LlamaForCausalLM and llama.cpp)."""
    h, f = shape.hidden_size, shape.ffn_size
    q, kv = shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim
    rows: list[tuple[str, str, tuple[int, ...]]] = [
        ("model.embed_tokens", "token_embd", (shape.vocab_size, h))
    ]
    for i in range(shape.n_layers):
        hf, gg = f"model.layers.{i}.", f"blk.{i}."
        rows += [
            (hf + "input_layernorm", gg + "attn_norm", (h,)),
            (hf + "self_attn.q_proj", gg + "attn_q", (q, h)),
            (hf + "self_attn.k_proj", gg + "attn_k", (kv, h)),
            (hf + "self_attn.v_proj", gg + "attn_v", (kv, h)),
            (hf + "self_attn.o_proj", gg + "attn_output", (h, q)),
            (hf + "post_attention_layernorm", gg + "ffn_norm", (h,)),
        ]
        rows += (
            _moe_rows(shape, hf, gg)
            if shape.is_moe
            else [
                (hf + "mlp.gate_proj", gg + "ffn_gate", (f, h)),
                (hf + "mlp.up_proj", gg + "ffn_up", (f, h)),
                (hf + "mlp.down_proj", gg + "ffn_down", (h, f)),
            ]
        )
    rows.append(("model.norm", "output_norm", (h,)))
    if not shape.tied_embeddings:
        rows.append(("lm_head", "output", (shape.vocab_size, h)))
    return [TensorSpec(i, a + ".weight", b + ".weight", s) for i, (a, b, s) in enumerate(rows)]


def _moe_rows(shape: ModelShape, hf: str, gg: str) -> list[tuple[str, str, tuple[int, ...]]]:
    """The router and the stacked experts, as llama.cpp's LLAMA architecture loads them when expert_count
    is set (llama-model.cpp: ffn_gate_inp {n_embd, n_expert}, ffn_{gate,up}_exps {n_embd, n_ff, n_expert},
    ffn_down_exps {n_ff, n_embd, n_expert}; numpy shapes here are those reversed). The HF names are
    Mixtral's with the experts stacked, since only the GGUF is written for MoE shapes."""
    h, f, e = shape.hidden_size, shape.ffn_size, shape.n_experts
    moe = hf + "block_sparse_moe."
    return [
        (moe + "gate", gg + "ffn_gate_inp", (e, h)),
        (moe + "experts.w1", gg + "ffn_gate_exps", (e, f, h)),
        (moe + "experts.w3", gg + "ffn_up_exps", (e, f, h)),
        (moe + "experts.w2", gg + "ffn_down_exps", (e, h, f)),
    ]


def permute_qk(weights: F16Array, n_heads: int) -> F16Array:
    """HF's rotate-half RoPE rows into llama.cpp's interleaved order, as `LlamaModel.permute` in llama.cpp's
    convert_hf_to_gguf.py (called with n_kv_heads for attn_k)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_heads, 2, rows // n_heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


# ---------------------------------------------------------------- GGUF


def write_gguf_f16(path: Path, shape: ModelShape, vocab: Vocab, fill: WeightFill) -> None:
    """An F16 GGUF (1-D norms in F32, as llama.cpp's converter does), streamed one tensor at a time."""
    specs = tensor_specs(shape)
    part = path.with_name(path.name + ".part")
    writer = gguf.GGUFWriter(part, "llama")
    _add_gguf_metadata(writer, shape, vocab)
    for spec in specs:
        dtype = np.dtype(np.float32 if len(spec.shape) == 1 else np.float16)
        writer.add_tensor_info(spec.gguf_name, spec.shape, dtype, int(np.prod(spec.shape)) * dtype.itemsize)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for spec in specs:
            writer.write_tensor_data(_gguf_layout(spec, fill(spec), shape))
    finally:
        writer.close()
    part.replace(path)


def _gguf_layout(spec: TensorSpec, data: F16Array, shape: ModelShape) -> npt.NDArray[np.generic]:
    if len(spec.shape) == 1:
        return data.astype(np.float32)
    if spec.gguf_name.endswith("attn_q.weight"):
        return permute_qk(data, shape.n_heads)
    if spec.gguf_name.endswith("attn_k.weight"):
        return permute_qk(data, shape.n_kv_heads)
    return data


def _add_gguf_metadata(writer: gguf.GGUFWriter, shape: ModelShape, vocab: Vocab) -> None:
    writer.add_name(f"tuilab {shape.name} (random weights)")
    writer.add_context_length(shape.ctx_tokens)
    writer.add_embedding_length(shape.hidden_size)
    writer.add_block_count(shape.n_layers)
    writer.add_feed_forward_length(shape.ffn_size)
    writer.add_head_count(shape.n_heads)
    writer.add_head_count_kv(shape.n_kv_heads)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_norm_eps)
    writer.add_vocab_size(shape.vocab_size)
    if shape.is_moe:
        writer.add_expert_count(shape.n_experts)
        writer.add_expert_used_count(shape.n_experts_used)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # llama.cpp: LLAMA_VOCAB_PRE_TYPE_GPT2
    writer.add_token_list(list(vocab.tokens))
    writer.add_token_types(list(vocab.token_types))
    writer.add_token_merges([f"{a} {b}" for a, b in vocab.merges])
    writer.add_bos_token_id(vocab.bos_id)
    writer.add_eos_token_id(vocab.eos_id)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)


def llama_cpp_available() -> bool:
    """Installed, checked without importing it (its import loads the native library)."""
    return importlib.util.find_spec("llama_cpp") is not None


def quantize_gguf(src: Path, dst: Path, quant: str, n_threads: int = 0) -> None:
    """Quantize with llama.cpp's own `llama_model_quantize` (n_threads 0: all cores), logs kept quiet."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelWriteError(
            "quantizing GGUF files needs llama-cpp-python (pip install tuilab[llama])"
        ) from exc
    names = [
        n.removeprefix("LLAMA_FTYPE_MOSTLY_") for n in dir(llama_cpp) if n.startswith("LLAMA_FTYPE_MOSTLY_")
    ]
    if quant.upper() not in names:
        raise UnknownNameError("llama.cpp quant", quant, names)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
    params.nthread = n_threads
    part = dst.with_name(dst.name + ".part")
    with _quiet_llama_logs():
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(part).encode(), ctypes.byref(params))
    if rc != 0:
        part.unlink(missing_ok=True)
        raise ModelWriteError(f"llama.cpp could not quantize {src.name} to {quant} (code {rc})")
    part.replace(dst)


@contextlib.contextmanager
def _quiet_llama_logs() -> Iterator[None]:
    # llama-cpp-python's log callback prints whatever its logger's level lets through (llama_cpp/_logger.py).
    logger = logging.getLogger("llama-cpp-python")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# ---------------------------------------------------------------- MLX


def write_safetensors(path: Path, tensors: Mapping[str, F16Array]) -> None:
    """The safetensors layout: u64 header length, JSON header, raw little-endian data
    (https://github.com/huggingface/safetensors#format)."""
    header: dict[str, object] = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for name, data in tensors.items():
        header[name] = {
            "dtype": "F16",
            "shape": list(data.shape),
            "data_offsets": [offset, offset + data.nbytes],
        }
        offset += data.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the format asks for 8-byte alignment of the data
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        for data in tensors.values():
            fh.write(np.ascontiguousarray(data, dtype="<f2").tobytes())


def write_mlx_dir(out: Path, shape: ModelShape, vocab: Vocab, fill: WeightFill) -> None:
    """A Hugging Face-format directory that `mlx_lm.load` reads: config, safetensors, tokenizer files."""
    if shape.is_moe:
        raise ModelWriteError(f"{shape.name}: MoE shapes are written as GGUF only")
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "model.safetensors", {s.hf_name: fill(s) for s in tensor_specs(shape)})
    (out / "config.json").write_text(json.dumps(_hf_config(shape, vocab), indent=2))
    (out / "tokenizer.json").write_text(json.dumps(hf_tokenizer_json(vocab), ensure_ascii=False))
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "model_max_length": shape.ctx_tokens,
        "clean_up_tokenization_spaces": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))


def _hf_config(shape: ModelShape, vocab: Vocab) -> dict[str, object]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.ffn_size,
        "num_hidden_layers": shape.n_layers,
        "num_attention_heads": shape.n_heads,
        "num_key_value_heads": shape.n_kv_heads,
        "head_dim": shape.head_dim,
        "vocab_size": shape.vocab_size,
        "max_position_embeddings": shape.ctx_tokens,
        "rms_norm_eps": shape.rms_norm_eps,
        "rope_theta": shape.rope_theta,
        "tie_word_embeddings": shape.tied_embeddings,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": "float16",
        "bos_token_id": vocab.bos_id,
        "eos_token_id": vocab.eos_id,
    }


def quantize_mlx(src: Path, dst: Path, bits: int = 4, group_size: int = 64) -> None:
    """mlx-lm's own converter (mlx_lm.convert, affine quantization; 64 is mlx-lm's default group size)."""
    try:
        from mlx_lm import convert
    except ImportError as exc:
        raise ModelWriteError("quantizing MLX models needs mlx-lm (pip install tuilab[mlx])") from exc
    with contextlib.redirect_stdout(io.StringIO()):  # convert prints [INFO] lines
        convert(str(src), str(dst), quantize=True, q_bits=bits, q_group_size=group_size)


def mlx_available() -> bool:
    """Installed, checked without importing it (mlx_lm pulls in transformers, seconds of imports)."""
    return importlib.util.find_spec("mlx_lm") is not None
