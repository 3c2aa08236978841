"""The quantization ladder: make rungs, measure memory, speed and quality, report."""
