"""What every `rollsync` command group shares: lazy Django set-up, JSON output, failing
with the command's exit codes (0 done, 1 the work failed or was refused, 2 bad input)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import click

_django_ready = False


def setup_django() -> None:
    """Configure Django on first use, so `--help` and pure commands stay fast."""
    global _django_ready
    if _django_ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollsync.config.settings")
    import django

    django.setup()
    _django_ready = True


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def fail(message: str, *, as_json: bool = False, code: int = 1) -> NoReturn:
    if as_json:
        emit_json({"error": message})
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def one_school_or_la(urn: str | None, la_code: str | None) -> None:
    """A command scoped to one school or one LA names exactly one of them (a usage
    error, exit 2, before anything is read)."""
    if (urn is None) == (la_code is None):
        raise click.UsageError("give exactly one of --school URN or --la CODE")


def school_or_la(urn: str | None, la_code: str | None, *, as_json: bool = False) -> tuple[Any, Any]:
    """The school of `--school URN` and the LA of `--la CODE` (None where not given), for
    the commands scoped to one of them; exits 1 naming the one that does not exist."""
    from rollsync.directory.selectors import school_or_la_get

    school, la = school_or_la_get(urn=urn, la_code=la_code)
    if urn and school is None:
        fail(f"no school with URN {urn}", code=1, as_json=as_json)
    if la_code and la is None:
        fail(f"no LA with code {la_code}", code=1, as_json=as_json)
    return school, la


def refused(exc: Exception, *, as_json: bool = False) -> NoReturn:
    """The command's one translation of a refused write (`services.errors.ServiceError`):
    its message on stderr (or as JSON); exit 2 when the input itself was wrong (a field,
    a file over the limit), 1 when a rule or the state refused it. Nothing was changed."""
    from rollsync.directory.services.errors import INVALID, TOO_LARGE

    fail(
        str(exc), as_json=as_json, code=2 if getattr(exc, "code", "") in (INVALID, TOO_LARGE) else 1
    )


class LazyGroup(click.Group):
    """A group some of whose commands are imported only when a command line names them
    (or `--help` lists them): a process started for one command imports what that
    command needs, not every command's modules (importing them all cost every `rollsync`
    process about 0.1 s before it parsed its command line)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaders: dict[str, Callable[[], click.Command]] = {}

    def add_lazy(self, name: str, load: Callable[[], click.Command]) -> None:
        """`load()` gives the command `name`, the first time it is asked for."""
        self._loaders[name] = load

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._loaders})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load = self._loaders.pop(cmd_name, None)
        if load is not None:
            self.add_command(load(), cmd_name)
        return super().get_command(ctx, cmd_name)


class LazyChoice(click.Choice):  # type: ignore[type-arg]
    """`click.Choice` of values read when an option is parsed or shown, not when the
    command is defined (the import formats: reading them imports every reader)."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._load())

    @choices.setter
    def choices(self, _: Sequence[str]) -> None:
        pass  # `click.Choice.__init__` stores the choices; these are read when asked


class Main(LazyGroup):
    """The `rollsync` group: a service's refusal, from any command, is handled here once
    (`refused`) rather than by each command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["rollsync.json"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from rollsync.directory.services.errors import ServiceError

        try:
            return super().invoke(ctx)
        except ServiceError as exc:
            refused(exc, as_json=bool(ctx.meta.get("rollsync.json")))
