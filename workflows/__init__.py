"""Stages composed into what a command runs, as library functions: ``mine_and_verify`` is ``mine-pairs``
(the metadata stage, the audio stage, the pair-quality report), ``write_report`` is ``pair-report``.

The commands (``commands``) only parse options, call one function of this package or of a stage, and print.
"""

from workflows.mining import MiningResult, mine_and_verify, record_report, write_report

__all__ = ["MiningResult", "mine_and_verify", "record_report", "write_report"]
