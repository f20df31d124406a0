"""Stages composed into what a command runs, as library functions: ``mine_and_verify`` is ``mine-pairs``
(the metadata stage, the audio stage, the pair-quality report), ``write_report`` is ``pair-report``;
``mine_source`` tells a catalog from a music folder (``mine_folder``: its tags read into a catalog first), and
``verify_known_pairs`` is ``mine-pairs --pairs`` / ``--pairs-from`` (pairs a person already has).

The commands (``commands``) only parse options, call one function of this package or of a stage, and print.
"""

from workflows.folders import mine_folder, mine_source, verify_known_pairs
from workflows.mining import MiningResult, mine_and_verify, record_report, write_report

__all__ = ["MiningResult", "mine_and_verify", "mine_folder", "mine_source", "record_report", "verify_known_pairs",
           "write_report"]
