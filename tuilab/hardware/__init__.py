"""Probes that read the machine (Apple, NVIDIA, host) and return core types; a missing device is an answer."""
