"""The `vidrestore` command: a click group with one module per subcommand."""

from __future__ import annotations

import click

from vidrestore import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidrestore")
def cli() -> None:
    """Sharper videos and images: super-resolution and restoration."""


def _register() -> None:
    from vidrestore.cli.bench import bench
    from vidrestore.cli.deblur import deblur
    from vidrestore.cli.enhance import enhance
    from vidrestore.cli.eval import eval_command
    from vidrestore.cli.export import export
    from vidrestore.cli.live import live
    from vidrestore.cli.models import models
    from vidrestore.cli.restore import restore
    from vidrestore.cli.train import train
    from vidrestore.cli.upscale import upscale
    from vidrestore.cli.weights import weights

    cli.add_command(upscale)
    cli.add_command(deblur)
    cli.add_command(enhance)
    cli.add_command(restore)
    cli.add_command(models)
    cli.add_command(weights)
    cli.add_command(eval_command)
    cli.add_command(train)
    cli.add_command(export)
    cli.add_command(bench)
    cli.add_command(live)


_register()


def main() -> None:
    cli(prog_name="vidrestore")
