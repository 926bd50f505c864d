"""Replay any cell by hand: a standalone folder whose script reproduces it.

`python -m matrix repro CELL` writes `repro.py` (the probe's own loading code,
copied inline), the artifact and its reference (copied, with sha256) and a
`README.md` that is the body of an upstream bug report, then runs the script
in the consumer's env and says whether it gave the recorded status.
"""
