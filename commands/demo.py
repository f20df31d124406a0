"""`make-demo-corpus`: generate the demo corpus (synthesised songs, catalog, decoys, ground truth)."""

from __future__ import annotations

import time

import click

from commands.common import user_errors, verbose_option
from vocalmine.errors import UserInputError


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise UserInputError(f"--sample-rates takes comma-separated integers, got {text!r}") from exc


@click.command(
    help="Generate the demo corpus in OUT_DIR: catalog.csv, audio/ and truth/ (stems, what every row is, the "
    "true alignment of every pair). Deterministic by --seed; a finished corpus with the same parameters is "
    "reused at once.\n\nExample: make-demo-corpus demo/corpus --songs 40 --seconds 30 --seed 0"
)
@click.argument("out_dir", type=click.Path(file_okay=False, writable=True))
@click.option("--songs", default=40, show_default=True, help="Number of synthesised songs.")
@click.option("--seconds", default=30.0, show_default=True, help="Length of a song in seconds (each is 88-100% of it).")
@click.option("--seed", default=0, show_default=True, help="Random seed: the same seed gives the same files.")
@click.option("--decoys/--no-decoys", default=True, show_default=True,
              help="Add audio decoys, metadata decoys and bad rows (--no-decoys: only clean true pairs).")
@click.option("--sample-rates", default="44100,48000", show_default=True, help="Sample rates (Hz) of the files.")
@click.option("--formats", default="wav,flac,mp3,ogg", show_default=True, help="File formats to use.")
@click.option("--force", is_flag=True, help="Regenerate even when a matching corpus is there.")
@click.option("--workers", type=int, default=None, help="Threads (default: the CPU count, at most 4).")
@verbose_option
@user_errors
def main(out_dir: str, songs: int, seconds: float, seed: int, decoys: bool, sample_rates: str, formats: str,
         force: bool, workers: int | None) -> None:
    from democorpus.corpus import DemoConfig, make_corpus  # the module: a stale editable install sees a namespace

    config = DemoConfig(songs=songs, seconds=seconds, seed=seed, decoys=decoys,
                        sample_rates=_int_list(sample_rates),
                        formats=tuple(f.strip() for f in formats.split(",") if f.strip()))
    start = time.perf_counter()
    info = make_corpus(out_dir, config, force=force, workers=workers)
    c = info.counts
    if info.reused:
        click.echo(f"Reusing the demo corpus in {info.out_dir} (corpus.json matches: {config.songs} songs x "
                   f"{config.seconds:g} s, seed {config.seed}); --force regenerates it.")
    else:
        click.echo(f"Wrote the demo corpus to {info.out_dir} in {time.perf_counter() - start:.1f} s: "
                   f"{c['songs']} songs, {c['rows']} catalog rows, {c['audio_files']} audio files "
                   f"({c['audio_seconds'] / 60:.1f} min).")
    click.echo(f"  candidate pairs {c['candidate_pairs']} (true {c['true_pairs']}), audio decoys "
               f"{c['audio_decoys']}, metadata decoys {c['metadata_decoys']}, bad rows {c['bad_rows']}")
    click.echo(f"  catalog: {info.catalog}\n  truth:   {info.truth_dir}")


if __name__ == "__main__":  # pragma: no cover
    main()
