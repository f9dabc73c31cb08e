"""The `vidrestore` command's entry point (and `python -m vidrestore`).

Signals are taken over before anything else is imported, so that Ctrl-C during
start-up (torch's import takes a second or two) already exits 130 in one line.
"""


def main() -> None:
    from vidrestore import signals

    signals.install()
    from vidrestore.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
