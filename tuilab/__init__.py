"""tuilab: a terminal lab for running local LLMs.

Answers "will it fit, how fast, what do I lose" before anything loads, then runs the model and
measures the truth. See README.md and ../shared/ARCHITECTURE.md for the layering.
"""

__version__ = "0.1.0"
