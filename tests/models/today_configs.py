"""Real config.json contents of today's architectures, abridged to the keys that shape memory (values
unchanged). Each comes from https://huggingface.co/<repo>/blob/main/config.json for the repo named in its
comment; `text_config` nesting is kept where the repo has it."""

from __future__ import annotations

from typing import Any

# deepseek-ai/DeepSeek-V3 (DeepSeek-R1 has the same shape)
DEEPSEEK_V3: dict[str, Any] = {
    "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
    "num_key_value_heads": 128, "n_shared_experts": 1,
    "n_routed_experts": 256, "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1,
    "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
    "v_head_dim": 128, "vocab_size": 129280, "max_position_embeddings": 163840, "tie_word_embeddings": False,
    "num_nextn_predict_layers": 1,
}  # fmt: skip
# moonshotai/Kimi-K2-Instruct
KIMI_K2: dict[str, Any] = {
    **DEEPSEEK_V3, "model_type": "kimi_k2", "num_attention_heads": 64, "num_key_value_heads": 64,
    "n_routed_experts": 384, "first_k_dense_replace": 1, "vocab_size": 163840,
    "max_position_embeddings": 131072,
}  # fmt: skip
# openai/gpt-oss-20b
GPT_OSS_20B: dict[str, Any] = {
    "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880, "num_hidden_layers": 24,
    "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "num_local_experts": 32,
    "num_experts_per_tok": 4, "experts_per_token": 4, "sliding_window": 128, "vocab_size": 201088,
    "max_position_embeddings": 131072, "tie_word_embeddings": False, "attention_bias": True,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
}  # fmt: skip
# openai/gpt-oss-120b
GPT_OSS_120B: dict[str, Any] = {
    **GPT_OSS_20B, "num_hidden_layers": 36, "num_local_experts": 128,
    "layer_types": ["sliding_attention", "full_attention"] * 18,
}  # fmt: skip
# Qwen/Qwen3-Next-80B-A3B-Instruct
QWEN3_NEXT_80B: dict[str, Any] = {
    "model_type": "qwen3_next", "hidden_size": 2048, "intermediate_size": 5120, "num_hidden_layers": 48,
    "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256, "full_attention_interval": 4,
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
    "linear_num_value_heads": 32, "linear_value_head_dim": 128, "num_experts": 512, "num_experts_per_tok": 10,
    "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512, "decoder_sparse_step": 1,
    "mlp_only_layers": [], "vocab_size": 151936, "max_position_embeddings": 262144,
    "tie_word_embeddings": False,
}  # fmt: skip
# Qwen/Qwen3.5-4B (vision_config left out)
QWEN3_5_4B: dict[str, Any] = {
    "model_type": "qwen3_5", "tie_word_embeddings": True,
    "text_config": {
        "model_type": "qwen3_5_text", "hidden_size": 2560, "intermediate_size": 9216, "num_hidden_layers": 32,
        "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 256, "full_attention_interval": 4,
        "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
        "linear_num_value_heads": 32, "linear_value_head_dim": 128, "vocab_size": 248320,
        "max_position_embeddings": 262144, "tie_word_embeddings": True,
        "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"] * 8,
    },
}  # fmt: skip
# LiquidAI/LFM2-1.2B
LFM2_1_2B: dict[str, Any] = {
    "model_type": "lfm2", "hidden_size": 2048, "block_ff_dim": 12288, "block_auto_adjust_ff_dim": True,
    "block_ffn_dim_multiplier": 1.0, "block_multiple_of": 256, "conv_L_cache": 3, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "full_attn_idxs": [2, 5, 8, 10, 12, 14],
    "vocab_size": 65536, "max_position_embeddings": 128000, "tie_word_embeddings": True,
}  # fmt: skip
# ai21labs/Jamba-v0.1
JAMBA_V01: dict[str, Any] = {
    "model_type": "jamba", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "attn_layer_period": 8, "attn_layer_offset": 4,
    "expert_layer_period": 2, "expert_layer_offset": 1, "num_experts": 16, "num_experts_per_tok": 2,
    "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": 256, "vocab_size": 65536,
    "max_position_embeddings": 262144, "tie_word_embeddings": False,
}  # fmt: skip
# meta-llama/Llama-4-Scout-17B-16E-Instruct (vision_config left out)
LLAMA4_SCOUT: dict[str, Any] = {
    "model_type": "llama4",
    "text_config": {
        "model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
        "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
        "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 16, "num_experts_per_tok": 1,
        "interleave_moe_layer_step": 1, "attention_chunk_size": 8192, "vocab_size": 202048,
        "max_position_embeddings": 10485760, "tie_word_embeddings": False,
    },
}  # fmt: skip
# zai-org/GLM-4.5
GLM_4_5: dict[str, Any] = {
    "model_type": "glm4_moe", "hidden_size": 5120, "intermediate_size": 12288, "moe_intermediate_size": 1536,
    "num_hidden_layers": 92, "num_attention_heads": 96, "num_key_value_heads": 8, "head_dim": 128,
    "n_routed_experts": 160, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
    "attention_bias": True, "use_qk_norm": True, "vocab_size": 151552, "max_position_embeddings": 131072,
    "tie_word_embeddings": False, "num_nextn_predict_layers": 1,
}  # fmt: skip
# ibm-granite/granite-4.0-h-tiny
GRANITE_4_H_TINY: dict[str, Any] = {
    "model_type": "granitemoehybrid", "hidden_size": 1536, "intermediate_size": 512,
    "shared_intermediate_size": 1024, "num_hidden_layers": 40, "num_attention_heads": 12,
    "num_key_value_heads": 4, "num_local_experts": 64, "num_experts_per_tok": 6, "mamba_n_heads": 48,
    "mamba_d_head": 64, "mamba_d_state": 128, "mamba_n_groups": 1, "mamba_d_conv": 4, "mamba_expand": 2,
    "vocab_size": 100352, "max_position_embeddings": 131072, "tie_word_embeddings": True,
    "layer_types": ["mamba"] * 5 + ["attention"] + ["mamba"] * 9 + ["attention"] + ["mamba"] * 9
    + ["attention"] + ["mamba"] * 9 + ["attention"] + ["mamba"] * 4,
}  # fmt: skip
# tiiuae/Falcon-H1-7B-Instruct
FALCON_H1_7B: dict[str, Any] = {
    "model_type": "falcon_h1", "hidden_size": 3072, "intermediate_size": 12288, "num_hidden_layers": 44,
    "num_attention_heads": 12, "num_key_value_heads": 2, "head_dim": 128, "mamba_d_state": 256,
    "mamba_n_groups": 1, "mamba_n_heads": 24, "mamba_d_head": 128, "mamba_d_ssm": 3072, "mamba_expand": 2,
    "mamba_d_conv": 4, "vocab_size": 130048, "max_position_embeddings": 262144, "tie_word_embeddings": False,
}  # fmt: skip
# meta-llama/Llama-4-Maverick-17B-128E-Instruct (vision_config left out): MoE on every other layer
LLAMA4_MAVERICK: dict[str, Any] = {
    "model_type": "llama4",
    "text_config": {
        **LLAMA4_SCOUT["text_config"], "num_local_experts": 128, "interleave_moe_layer_step": 2,
        "max_position_embeddings": 1048576,
    },
}  # fmt: skip
# google/gemma-3-270m, as copied verbatim in decoderesearch/circuit-tracer's
# tests/test_attributions_gemma3_nnsight.py (`gemma_3_config_dict`, next to its
# from_pretrained("google/gemma-3-270m"))
GEMMA3_270M: dict[str, Any] = {
    "_sliding_window_pattern": 6, "architectures": ["Gemma3ForCausalLM"], "head_dim": 256, "hidden_size": 640,
    "intermediate_size": 2048,
    "layer_types": ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(18)],
    "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4,
    "num_hidden_layers": 18, "num_key_value_heads": 1, "query_pre_attn_scalar": 256, "sliding_window": 512,
    "torch_dtype": "bfloat16", "vocab_size": 262144,
}  # fmt: skip
