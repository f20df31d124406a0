"""``separate``: a thin click command over ``separation.separate``."""

from __future__ import annotations

import click

from commands.common import DEVICE, os_error_message, user_errors, verbose_option, writer_lock
from vocalmine import storage
from vocalmine.errors import UserInputError


@click.command(
    help="Separate songs into vocals and instrumental: OUT/<file stem>/{vocals,instrumental}.wav, same rate, "
    "channels and length as the input.\n\nExample: separate song.mp3 other.flac -o out/ --model runs/vocals",
    context_settings={"show_default": True},
)
@click.argument("files", nargs=-1, required=True, type=click.Path(readable=False))  # each checked by decode: one bad file never stops the rest
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--model", required=True,
              help="Vocals model: run folder of `train --target vocals` or its checkpoint file (a path or a URL).")
@click.option("--instrumental-model", default=None,
              help="Instrumental model; without it the instrumental is the mixture minus the vocals.")
@click.option("--combine", type=click.Choice(["sum-to-one", "wiener", "independent"]), default="wiener",
              help="With --instrumental-model: how the two masks are combined (docs/training.md).")
@click.option("--latest", is_flag=True, help="Use a run folder's latest checkpoint, not its best by validation loss.")
@click.option("--full-band", is_flag=True,
              help="Apply the upsampled mask at the input's own rate (keeps the input's bandwidth).")
@click.option("--device", type=DEVICE, default="auto")
@click.option("--batch-size", default=8, type=click.IntRange(min=1), help="Patches per forward pass.")
@verbose_option
@user_errors
def main(files: tuple[str, ...], out_dir: str, model: str, instrumental_model: str | None, combine: str,
         latest: bool, full_band: bool, device: str, batch_size: int) -> None:
    # Imported here, not above: separation loads torch (seconds), which `separate --help` does without.
    from separation.names import default_name
    from separation.separate import load_model, output_names, separate_file

    which = "latest" if latest else "best"
    voc = load_model(model, target="vocals", device=device, which=which)
    inst = (load_model(instrumental_model, target="instrumental", device=device, which=which)
            if instrumental_model else None)
    names = output_names(list(files))
    if len(names) < len(files):
        click.echo(f"note: {len(files) - len(names)} input(s) given twice are separated once", err=True)
    for f, name in names.items():
        if name != default_name(f):
            click.echo(f"note: {f} shares its stem with another input: written to {storage.join(out_dir, name)}", err=True)
        elif name != f.stem:
            click.echo(f"note: the stem of {f} is not a folder name of its own: written to "
                       f"{storage.join(out_dir, name)}", err=True)
    failed = []
    with writer_lock(out_dir, "separate"):
        for path, name in names.items():
            f = str(path)
            try:
                paths = separate_file(f, out_dir, voc, inst, full_band=full_band, batch_size=batch_size,
                                      combine=combine, name=name)
            except Exception as exc:  # noqa: BLE001 - one bad file (or a full disk) never stops the others
                message = str(exc) if isinstance(exc, UserInputError) else os_error_message(exc)
                if message is None:  # not bad input nor an OS or storage error: a bug, with its traceback
                    raise
                click.echo(f"Error: {message}", err=True)
                failed.append(f)
                continue
            click.echo(f"{f} -> {paths['vocals'].parent}")
    if failed:
        raise UserInputError(f"{len(failed)} of {len(names)} files could not be separated: {', '.join(failed)}")


if __name__ == "__main__":
    main()
