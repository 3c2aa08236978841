"""Our per-tensor sizes against real published GGUF files and llama.cpp's own size table.

Each model is built from its config.json values; each size names where it was published. A GGUF file is
its tensors plus a header whose bulk is the tokenizer (Llama 3: 128,256 tokens and ~280k merges), so a
file must be at least our tensor bytes and at most a tokenizer's worth more.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest

from tuilab.core.arch import ModelArch, TensorInfo
from tuilab.core.quant import parse_quant, weight_tensors

MB = 1_000_000
GB = 1_000_000_000

# The header of the exact-byte Llama 3 files below is 7.8 MB in every one (Q2_K ... BF16), so 16 MB
# bounds a tokenizer header; Hugging Face rounds sizes to 3 significant digits, which adds its half-unit.
HEADER_ALLOWANCE_BYTES = 16 * MB


def from_config(name: str, family: str, config: dict[str, int], **flags: bool) -> ModelArch:
    heads = config["num_attention_heads"]
    return ModelArch(
        name=name,
        family=family,
        n_layers=config["num_hidden_layers"],
        hidden_size=config["hidden_size"],
        n_heads=heads,
        n_kv_heads=config["num_key_value_heads"],
        head_dim=config["hidden_size"] // heads,
        ffn_size=config["intermediate_size"],
        vocab_size=config["vocab_size"],
        **flags,  # type: ignore[arg-type]
    )


# https://huggingface.co/meta-llama/Meta-Llama-3-8B-Instruct/blob/main/config.json
LLAMA_3_8B = from_config(
    "Meta-Llama-3-8B-Instruct",
    "llama",
    dict(
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=128256,
    ),
)
# https://huggingface.co/meta-llama/Meta-Llama-3-70B-Instruct/blob/main/config.json
LLAMA_3_70B = from_config(
    "Meta-Llama-3-70B-Instruct",
    "llama",
    dict(
        hidden_size=8192,
        num_hidden_layers=80,
        num_attention_heads=64,
        num_key_value_heads=8,
        intermediate_size=28672,
        vocab_size=128256,
    ),
)
# https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.3/blob/main/config.json
MISTRAL_7B_V03 = from_config(
    "Mistral-7B-Instruct-v0.3",
    "llama",
    dict(
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=32768,
    ),
)
# https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/config.json (tie_word_embeddings false; q/k/v
# carry biases)
QWEN25_7B = from_config(
    "Qwen2.5-7B-Instruct",
    "qwen2",
    dict(
        hidden_size=3584,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        intermediate_size=18944,
        vocab_size=152064,
    ),
    attn_bias=True,
)


class Published(NamedTuple):
    model: ModelArch
    quant: str
    file_bytes: int
    rounding_bytes: int  # half a unit of the last digit the source shows; 0 for exact byte counts
    source: str


DDH0 = "https://huggingface.co/ddh0/UnquantizedEmbeddingTesting/blob/main/sizes.txt (ls -l, exact bytes)"
HF = "https://huggingface.co/{}/blob/main/{}"

PUBLISHED = [
    Published(LLAMA_3_8B, "BF16", 16_068_890_912, 0, DDH0),
    Published(LLAMA_3_8B, "Q3_K_L", 4_321_956_128, 0, DDH0),
    Published(LLAMA_3_8B, "Q3_K_M", 4_018_917_664, 0, DDH0),
    Published(LLAMA_3_8B, "Q3_K_S", 3_664_498_976, 0, DDH0),
    Published(LLAMA_3_8B, "Q2_K", 3_179_131_168, 0, DDH0),
    Published(
        LLAMA_3_8B,
        "Q8_0",
        8_540 * MB,
        5 * MB,
        "https://huggingface.co/mradermacher/Meta-Llama-3-8B-Instruct-GGUF (Q8_0 8.54 GB)",
    ),
    Published(
        LLAMA_3_8B,
        "Q6_K",
        6_600 * MB,
        50 * MB,
        "https://huggingface.co/mradermacher/Meta-Llama-3-8B-Instruct-GGUF (Q6_K 6.6 GB)",
    ),
    Published(
        LLAMA_3_8B,
        "Q5_K_M",
        5_730 * MB,
        5 * MB,
        HF.format("SanctumAI/Meta-Llama-3-8B-Instruct-GGUF", "meta-llama-3-8b-instruct.Q5_K_M.gguf"),
    ),
    Published(
        LLAMA_3_8B,
        "Q4_K_M",
        4_920 * MB,
        5 * MB,
        HF.format("QuantFactory/Meta-Llama-3-8B-Instruct-GGUF", "Meta-Llama-3-8B-Instruct.Q4_K_M.gguf"),
    ),
    Published(
        LLAMA_3_8B,
        "Q4_K_S",
        4_690 * MB,
        5 * MB,
        HF.format("mmnga/Meta-Llama-3-8B-Instruct-gguf", "Meta-Llama-3-8B-Instruct-Q4_K_S.gguf"),
    ),
    Published(
        LLAMA_3_8B,
        "IQ2_XS",
        2_610 * MB,
        5 * MB,
        "https://huggingface.co/MaziyarPanahi/Meta-Llama-3-8B-Instruct-GGUF (IQ2_XS 2.61 GB)",
    ),
    Published(
        LLAMA_3_8B,
        "IQ1_S",
        2_020 * MB,
        5 * MB,
        "https://huggingface.co/MaziyarPanahi/Meta-Llama-3-8B-Instruct-GGUF (IQ1_S 2.02 GB)",
    ),
    Published(
        LLAMA_3_8B,
        "IQ1_M",
        2_160 * MB,
        5 * MB,
        "https://huggingface.co/MaziyarPanahi/Meta-Llama-3-8B-Instruct-GGUF (IQ1_M 2.16 GB)",
    ),
    # Made with the imatrix its IQ1/IQ2 siblings needed: without one, llama.cpp gives the first ffn_down
    # layers Q5_K and the file would be 37 MB larger.
    Published(
        LLAMA_3_8B,
        "IQ4_XS-imatrix",
        4_450 * MB,
        5 * MB,
        "https://huggingface.co/MaziyarPanahi/Meta-Llama-3-8B-Instruct-GGUF (IQ4_XS 4.45 GB)",
    ),
    Published(
        LLAMA_3_8B,
        "Q4_0",
        4_660 * MB,
        5 * MB,
        "https://huggingface.co/armx40/Meta-Llama-3-8B-Instruct-GGUF (Q4_0 4.66 GB)",
    ),
    Published(
        LLAMA_3_70B,
        "Q4_K_M",
        42_500 * MB,
        50 * MB,
        HF.format("mmnga/Meta-Llama-3-70B-Instruct-gguf", "Meta-Llama-3-70B-Instruct-Q4_K_M.gguf"),
    ),
    Published(
        LLAMA_3_70B,
        "Q3_K_M",
        34_300 * MB,
        50 * MB,
        HF.format("mmnga/Meta-Llama-3-70B-Instruct-gguf", "Meta-Llama-3-70B-Instruct-Q3_K_M.gguf"),
    ),
    Published(
        MISTRAL_7B_V03,
        "Q4_K_M",
        4_370 * MB,
        5 * MB,
        HF.format("mmnga/Mistral-7B-Instruct-v0.3-gguf", "Mistral-7B-Instruct-v0.3-Q4_K_M.gguf"),
    ),
    Published(
        MISTRAL_7B_V03,
        "Q5_K_M",
        5_140 * MB,
        5 * MB,
        HF.format("mmnga/Mistral-7B-Instruct-v0.3-gguf", "Mistral-7B-Instruct-v0.3-Q5_K_M.gguf"),
    ),
    Published(
        QWEN25_7B,
        "Q4_K_M",
        4_680 * MB,
        5 * MB,
        HF.format("bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf"),
    ),
]


def tensor_bytes(model: ModelArch, quant: str) -> int:
    return sum(t.n_bytes for t in weight_tensors(parse_quant(quant), model))


class TestPublishedGGUFFileSizes:
    @pytest.mark.parametrize("row", PUBLISHED, ids=lambda r: f"{r.model.name}-{r.quant}")
    def test_tensors_account_for_the_file_but_its_header(self, row: Published) -> None:
        ours = tensor_bytes(row.model, row.quant)
        low, high = row.file_bytes - row.rounding_bytes, row.file_bytes + row.rounding_bytes
        assert ours <= high, f"{ours - high} bytes more than the file ({row.source})"
        assert low - ours <= HEADER_ALLOWANCE_BYTES, f"{low - ours} bytes unaccounted for ({row.source})"
        assert ours == pytest.approx(row.file_bytes, rel=0.01)


# llama.cpp's tools/quantize/README.md, "meta-llama/Llama-3.1-8B" table (llama-bench: tensor bytes x 8 /
# parameters, to 4 decimals): https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md
LLAMA_CPP_README_BPW = {
    "IQ1_S": 2.0042,
    "IQ1_M": 2.1460,
    "IQ2_XXS": 2.3824,
    "IQ2_XS": 2.5882,
    "IQ2_S": 2.7403,
    "IQ2_M": 2.9294,
    "IQ3_XXS": 3.2548,
    "IQ3_XS": 3.4977,
    "IQ3_S": 3.6606,
    "IQ3_M": 3.7628,
    "IQ4_XS": 4.4597,
    "IQ4_NL": 4.6818,
    "Q2_K_S": 2.9697,
    "Q2_K": 3.1593,
    "Q3_K_S": 3.6429,
    "Q3_K_L": 4.2979,
    "Q4_K_S": 4.6672,
    "Q4_K_M": 4.8944,
    "Q5_K_S": 5.5704,
    "Q5_K_M": 5.7036,
    "Q6_K": 6.5633,
    "Q8_0": 8.5008,
    "F16": 16.0005,
}
# https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json: Llama 3's shapes, and the GGUF
# carries a 64-entry rope_freqs.weight (llama3 rope scaling) as an F32 tensor.
LLAMA_31_8B = dataclasses.replace(
    LLAMA_3_8B,
    name="Llama-3.1-8B",
    tensors=(*LLAMA_3_8B.tensors, TensorInfo("rope_freqs.weight", (64,))),
)


class TestLlamaCppReadmeBitsPerWeight:
    @pytest.mark.parametrize(("quant", "bpw"), LLAMA_CPP_README_BPW.items())
    def test_bits_per_weight_to_four_decimals(self, quant: str, bpw: float) -> None:
        ours = tensor_bytes(LLAMA_31_8B, quant) * 8 / LLAMA_31_8B.n_params
        assert ours == pytest.approx(bpw, abs=0.00005)
