"""Where models come from: GGUF headers, Hugging Face configs and cache, profiles; returns core types."""
