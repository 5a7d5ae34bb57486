"""The `segmenter` Typer app, the error policy every command shares, and common options."""

from collections.abc import Callable
from functools import wraps
from typing import Annotated, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape

from models.exceptions import ConfigError
from models.settings import Settings
from segmentation.exceptions import SegmenterError
from segmenter.console import err

__all__ = ["DropInvalid", "Quiet", "Seed", "app", "load_settings", "user_errors"]

app = typer.Typer(
    help="Lead Segmenter: segment sales leads and route each new lead to its segment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

P = ParamSpec("P")
R = TypeVar("R")


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
DropInvalid = Annotated[bool, typer.Option("--drop-invalid", help="Skip bad rows (and count them) instead of failing.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same result.")]


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our errors and file errors into one red line on stderr and exit code 2."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (SegmenterError, OSError) as error:
            text = (
                f"{error.filename}: {error.strerror}" if isinstance(error, OSError) and error.filename else str(error)
            )
            err.print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return run


def load_settings() -> Settings:
    """The settings from `SEGMENTER_*` variables; a bad value is a one-line `ConfigError`."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "SEGMENTER_" + ".".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"{name}: {first['msg']}") from None
