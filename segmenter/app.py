"""The `segmenter` Typer app, the error policy every command shares, and common options."""

import sys
from collections.abc import Callable, Sequence
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape
from typer.core import TyperGroup

from models.exceptions import ConfigError
from models.settings import Settings
from segmentation.exceptions import SegmenterError
from segmenter.console import err

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

__all__ = ["DropInvalid", "Quiet", "Seed", "app", "error_text", "fail", "load_settings", "user_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` as one red line on stderr; raise the returned `typer.Exit(code)`."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _OneLineErrors(TyperGroup):
    """Option and argument mistakes as one line naming the command and where its help is, not a box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except click_errors.NoArgsIsHelpError as error:
            sys.stdout.write(error.format_message() + "\n")
            code = 0
        except click_errors.UsageError as error:
            # Named `segmenter` however it was started (the entry point, python -m, a test runner).
            where = " ".join(["segmenter", *(error.ctx.command_path.split(" ")[1:] if error.ctx else [])])
            message = " ".join(error.format_message().split()).rstrip(".")
            code = fail(f"{where}: {message} (see `{where} --help`)", error.exit_code).exit_code
        except click_errors.ClickException as error:
            code = fail(error.format_message(), error.exit_code).exit_code
        except typer.Abort:
            err.print("aborted", highlight=False)
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="Lead Segmenter: segment sales leads and route each new lead to its segment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: no boxes, no placeholder after a flag
)


def _version(value: bool) -> None:
    if value:
        try:
            number = version("lead-segmenter")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown (not installed)"
        sys.stdout.write(f"segmenter {number}\n")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version of segmenter and exit."),
    ] = False,
) -> None:
    """Lead Segmenter: segment sales leads and route each new lead to its segment.

    Every command takes --help. Installed by `make demo` or `make test` as .venv/bin/segmenter.
    """


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
            raise fail(error_text(error)) from None

    return run


def error_text(error: SegmenterError | OSError) -> str:
    """What `user_errors` says of one of our errors or a file error."""
    return f"{error.filename}: {error.strerror}" if isinstance(error, OSError) and error.filename else str(error)


def load_settings(**overrides: Any) -> Settings:
    """The settings from `SEGMENTER_*` variables, `overrides` (set ones only) on top; a bad value is a
    one-line `ConfigError` naming the variable."""
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as error:
        first = error.errors()[0]
        name = "SEGMENTER_" + ".".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"{name}: {first['msg']}") from None
