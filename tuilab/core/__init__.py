"""Pure domain model of tuilab: quant formats, architectures, memory plans, fit verdicts, speed.

Standard library only: no IO, no clock, no UI, no engines. Everything else feeds this package data
and renders what it returns.
"""
