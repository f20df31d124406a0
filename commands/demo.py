"""`make-demo-corpus`: generate the demo corpus (synthesised songs, catalog, decoys, ground truth)."""

from __future__ import annotations

import time
from typing import Any

import click

from commands.common import echo, user_errors, verbose_option
from commands.options import config_from, config_options
import democorpus
from democorpus.config import DemoConfig


@click.command(
    help="Generate the demo corpus in OUT_DIR: catalog.csv, audio/ and truth/ (stems, what every row is, the "
    "true alignment of every pair). Deterministic by --seed; a finished corpus with the same parameters is "
    "reused at once.\n\nExample: make-demo-corpus demo/corpus --songs 40 --seconds 30 --seed 0"
)
@click.argument("out_dir", type=click.Path(file_okay=False, writable=True))
@config_options(DemoConfig)
@click.option("--force", is_flag=True, help="Regenerate even when a matching corpus is there.")
@click.option("--workers", type=int, default=None, help="Threads (default: the CPU count, at most 4).")
@verbose_option
@user_errors
def main(out_dir: str, force: bool, workers: int | None, **options: Any) -> None:
    config = config_from(DemoConfig, options)
    start = time.perf_counter()
    info = democorpus.make_corpus(out_dir, config, force=force, workers=workers)
    c = info.counts
    if info.reused:
        echo(f"Reusing the demo corpus in {info.out_dir} (corpus.json matches: {config.songs} songs x "
                   f"{config.seconds:g} s, seed {config.seed}); --force regenerates it.")
    else:
        echo(f"Wrote the demo corpus to {info.out_dir} in {time.perf_counter() - start:.1f} s: "
                   f"{c['songs']} songs, {c['rows']} catalog rows, {c['audio_files']} audio files "
                   f"({c['audio_seconds'] / 60:.1f} min).")
    echo(f"  candidate pairs {c['candidate_pairs']} (true {c['true_pairs']}), audio decoys "
               f"{c['audio_decoys']}, metadata decoys {c['metadata_decoys']}, bad rows {c['bad_rows']}")
    echo(f"  catalog: {info.catalog}\n  truth:   {info.truth_dir}")
    if config.as_library:
        echo(f"  music folder: {info.out_dir / 'library'} (truth/library.csv maps track ids to its files)")


if __name__ == "__main__":  # pragma: no cover
    main()
