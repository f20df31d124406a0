"""Evaluation: songs with known stems, separated by a model, REPET-SIM or another tool, scored with BSS Eval.

Modules: ``layouts`` (songs of the field's dataset layouts), ``shard_songs`` (the pairs of a shard folder's
split as songs), ``estimates`` (another tool's separations read from a folder), ``metrics`` (BSS Eval v3/v4 of
one song, summaries), ``tables`` (evaluation.json and evaluation.md), ``evaluate`` (the loop: every system on
every song).

Imports ``separation``, ``training``, ``features`` and the foundation (``vocalmine``).
"""
