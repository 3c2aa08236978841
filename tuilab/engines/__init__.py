"""Running models: one engine protocol, llama.cpp and MLX engines, and the worker process hosting them."""
