"""The application layer: each use case of tuilab written once, for both faces (`cli` and `ui`).

`machine` joins detection with the hardware profiles, `planning` turns a question into a `FitPlan` with
one default context and one clamp, `launch` prepares a run or refuses it, and `session` owns a loaded
model and is the one consumer of its events. Nothing here imports textual.
"""
