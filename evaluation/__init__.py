"""Evaluation: songs with known stems read from the field's dataset layouts (``layouts``), separated by a model,
REPET-SIM or another tool's estimates (``estimates``), scored with BSS Eval (``metrics``), written as tables
(``tables``); ``evaluate`` is the loop.

Imports ``separation``, ``training``, ``features`` and the foundation (``vocalmine``).
"""
