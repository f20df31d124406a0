"""``evaluate``: a thin click command over ``evaluation.evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from commands.common import DEVICE, echo, user_errors, verbose_option, writer_lock
from vocalmine import storage


@click.command(
    help="Score separations with BSS Eval (SDR, SIR, SAR, NSDR) per song, summarised as the paper's Tables 4 "
    "and 5, beside REPET-SIM (a training-free classic) on the same songs.\n\n"
    "DATA, detected from its layout or named with --layout: MUSDB18 (train/ and test/ of *.stem.mp4), "
    "MUSDB18-HQ (song folders of WAVs), DSD100 (Mixtures/ and Sources/), iKala or MIR-1K (Wavfile/*.wav, left "
    "accompaniment, right voice), MedleyDB-style folders (<song>/vocals.* and accompaniment.*), the demo corpus "
    "(truth/stems, subsets from truth/songs.csv), a shard folder (a split's pairs), or an export-stems folder (its "
    "items, subsets their splits).\n\n"
    "Examples: evaluate --model runs/vocals musdb18/ --subset test --metrics v4\n\n"
    "evaluate --estimates demucs_out/htdemucs musdb18/ --subset test",
    context_settings={"show_default": True},
)
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--model", default=None, help="Vocals model (run folder or file; a path or a URL).")
@click.option("--instrumental-model", default=None,
              help="Instrumental model, combined with the vocals model as `separate` does; without it the "
              "accompaniment estimate is the mixture minus the vocals.")
@click.option("--estimates", type=click.Path(exists=True, file_okay=False), default=None,
              help="Also (or instead) score another tool's separations: DIR/<song>/vocals.* and "
              "accompaniment.* (or instrumental, no_vocals, residual, drums+bass+other).")
@click.option("--layout", type=click.Choice(["auto", "shards", "stems", "demo", "musdb18", "musdb18hq", "folders",
                                             "medleydb", "dsd100", "ikala", "mir1k"]), default="auto",
              help="DATA's layout (stems: an export-stems folder).")
@click.option("--subset", "--split", "subset", default=None,
              help="Only this subset: train/test (MUSDB18), dev/test (DSD100), the split_hint (demo), the split "
              "of a shard folder [shards: test; others: all songs].")
@click.option("--metrics", type=click.Choice(["v3", "v4"]), default="v3",
              help="v3: mir_eval BSS Eval, whole song (the paper); v4: museval, 1 s windows, median of medians "
              "(SiSEC 2018, MUSDB18 results).")
@click.option("--native-rate", is_flag=True,
              help="Score at the dataset's own rate (and channels, for v4) instead of the model's rate in mono.")
@click.option("--pad", is_flag=True,
              help="Score stems of different lengths zero-padded to the longest (default: such a song fails).")
@click.option("--no-reference", is_flag=True, help="Do not score REPET-SIM beside the model.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where evaluation.json and evaluation.md go [default: MODEL_RUN/evaluation/<DATA name>, or "
              "ESTIMATES/evaluation/<DATA name>].")
@click.option("--write-audio", type=click.Path(file_okay=False), default=None,
              help="Also write each song's separated stems, as scored, to DIR/<song>/.")
@click.option("--device", type=DEVICE, default="auto")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@verbose_option
@user_errors
def main(data: str, model: str | None, instrumental_model: str | None, estimates: str | None, layout: str,
         subset: str | None, metrics: str, native_rate: bool, pad: bool, no_reference: bool,
         out_dir: str | None, write_audio: str | None, device: str, no_progress: bool) -> None:
    # Imported here, not above: evaluation loads torch and the separation stack (seconds), which `--help` does
    # without.
    from evaluation.evaluate import evaluate

    if out_dir is None:
        if model is not None:
            base = storage.path(model) if storage.isdir(model) else storage.path(storage.parent(model))
        else:
            base = Path(estimates) if estimates else Path(".")
        out_dir = str(base / "evaluation" / Path(data).resolve().name)
    with writer_lock(out_dir, "evaluate"):
        report = evaluate(data, model, instrumental_model, out_dir, layout=layout, subset=subset,
                          estimates=estimates, metrics=metrics, native_rate=native_rate, pad=pad,
                          reference=not no_reference, device=device, progress=not no_progress,
                          audio_dir=write_audio)
    echo(report.markdown_path.read_text())
    echo(f"written: {report.json_path}, {report.markdown_path}")


if __name__ == "__main__":
    main()
