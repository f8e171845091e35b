"""The command line: the only module that talks to the terminal, the clock and the environment."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from racecal import __version__
from racecal.errors import PlanError, Problem, RacecalError, for_terminal

if TYPE_CHECKING:
    from racecal.build import BuildResult, Sink
    from racecal.model import Athlete, Meet
    from racecal.previous import Previous
    from racecal.settings import Settings
    from racecal.yamlsource import SourceFile

# The pipeline's modules are imported inside the commands that need them, so `--version`, `--help`
# and `check` do not pay for the whole pipeline (HTTP, process pools, locks) at start-up.

SETTINGS_FILE = "racecal.yaml"


def main() -> None:
    """Entry point. Errors are turned into messages and exit codes in one place: ``_Group.invoke``."""
    # A build allocates millions of small objects that live to its end (nodes read back, races,
    # events) and few reference cycles; at the default threshold (700) the cycle collector walks
    # the growing heap again and again. Measured on a 20,000-race site with views: 20% less CPU for
    # a one-race rebuild (8.8 s → 7.1 s user), the same peak memory (docs/architecture.md).
    gc.set_threshold(50_000, 20, 100)
    cli(prog_name="racecal")


def _one_line(text: str) -> str:
    """A finding as one terminal line: a newline in a file name (git allows them) would otherwise
    start a line of its own, which a CI runner may read as a command (``::error::…``)."""
    return for_terminal(text.replace("\n", "\\n"))


def _print_problems(problems: Sequence[Problem], strict: bool = False) -> None:
    """Every problem (and warning) on stderr, then a count of what fails the run."""
    for problem in problems:
        click.echo(_one_line(str(problem)), err=True)
    failing = [p for p in problems if strict or not p.warning]
    if not failing:
        return
    files = len({p.path for p in failing})
    click.echo(f"{len(failing)} problem{'s' * (len(failing) != 1)} in {files} file{'s' * (files != 1)}", err=True)


# `racecal diff --exit-code` exits 1 for "something would change", so "could not compare" (bad plans,
# an unreadable previous build) exits 2 there, as diff(1) and git diff --exit-code do.
_TROUBLE_EXIT = "racecal.trouble_exit"


class _Group(click.Group):
    """The one handler: racecal's own errors become messages on stderr and exit code 1, no traceback.

    Living in the group (not in ``main``) means CliRunner tests see exactly what users see.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PlanError as exc:
            _print_problems(exc.problems)
            ctx.exit(ctx.meta.get(_TROUBLE_EXIT, 1))
        except RacecalError as exc:
            for line in str(exc).splitlines():
                click.echo(for_terminal(f"error: {line}"), err=True)
            ctx.exit(ctx.meta.get(_TROUBLE_EXIT, 1))
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was published", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="racecal")
def cli() -> None:
    """Turn athletes' competition plans (YAML) into calendar feeds people subscribe to.

    \b
    Example:
      racecal check                 # validate schedules/
      racecal build                 # write dist/: feeds, pages, change history
      racecal diff --format markdown
      racecal serve                 # preview dist/ on http://127.0.0.1:8000
    """


# --- shared helpers ---------------------------------------------------------------------------------


def _settings(path: Path | None, base_url: str | None, schedules: Path) -> Settings:
    from racecal.load import calendar_problems, load_schedules
    from racecal.settings import check_base_url
    from racecal.yamlsource import read_all

    problems: list[Problem] = []
    settings = _read_settings(path, problems)
    if base_url is not None and (trouble := check_base_url(base_url)):
        raise click.BadParameter(trouble, param_hint="'--base-url'")
    if problems:
        # Every problem in one run: the plans' too, not only the settings' (as check reports them).
        plan_files, catalogue_files, read_problems = read_all(schedules)
        problems += read_problems
        problems += calendar_problems(load_schedules(plan_files, catalogue_files, problems), plan_files, settings)
        raise PlanError(problems)
    return settings.with_base_url(base_url)


def _published_ids(site: Path, problems: list[Problem]) -> tuple[dict[str, str], set[str]] | None:
    """What a published site has under each id (its view; "" for a plan), and the ids it retired, for
    check to say what the build would refuse: None when there is no site there, and its problems, as
    the build would report them, when its index is not one racecal can read."""
    from racecal import index
    from racecal.errors import PreviousBuildError

    where = site / "index.json"
    try:
        data = where.read_bytes()
    except OSError:
        return None
    try:
        read = index.decode(data, str(where))
    except PreviousBuildError as exc:
        problems += exc.problems or [Problem(str(where), 1, 1, "document", str(exc).removeprefix(f"{where}: "))]
        return None
    return {plan_id: entry.view for plan_id, entry in read.entries.items()}, set(read.retired)


def _read_settings(path: Path | None, problems: list[Problem]) -> Settings:
    """racecal.yaml (or --config), its problems added to ``problems``: check and build read it alike."""
    from racecal.load import load_settings
    from racecal.settings import Settings
    from racecal.yamlsource import read_source

    chosen = path or (Path(SETTINGS_FILE) if Path(SETTINGS_FILE).exists() else None)
    if chosen is None:
        return Settings()
    source = read_source(chosen, problems)
    return load_settings(source, problems) if source else Settings()


def _data_time(schedules: Path, sources: Sequence[SourceFile]) -> datetime:
    """When the plans last changed: SOURCE_DATE_EPOCH, else git, else file times. Not the wall clock,
    so rebuilding an unchanged plan gives the same bytes on any machine; the clock is only a ceiling."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return _checked_time(_epoch_time(epoch), "SOURCE_DATE_EPOCH")
    paths = [Path(s.path) for s in sources]
    committed = _git_time(schedules)
    dirty = _git_dirty(schedules) if committed is not None else None
    # A file stamped in the future (a skewed clock, a bad archive) would pin that time into every
    # later build, since the build time never goes back: it counts as the wall clock's time. No
    # slack here, unlike --time: nobody typed a file's time, so no time zone can explain it.
    now = _wall_clock().timestamp()
    if committed is not None and dirty is not None:
        # Files not yet committed count by their modification time; committed ones by the commit.
        times = [committed, *(min(p.stat().st_mtime, now) for p in paths if p.resolve() in dirty)]
    else:
        times = [min(p.stat().st_mtime, now) for p in paths] or [0.0]
    latest = min(max(times), _latest_build_time().timestamp())
    return datetime.fromtimestamp(int(max(latest, EARLIEST_BUILD_TIME.timestamp())), tz=UTC)


# Build times racecal accepts: after the Unix epoch, and at most a day ahead of this machine's clock
# (time zones and a slow clock), because the build time never goes back: a typo such as 9999 would
# otherwise become the stamp of every later build.
EARLIEST_BUILD_TIME = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)


def _latest_build_time() -> datetime:
    return _wall_clock() + FUTURE_SLACK


def _epoch_time(value: str) -> datetime:
    # ASCII digits only, and few of them: str.isdigit() takes '²' and int() refuses 4,301 digits.
    if not re.fullmatch(r"[0-9]{1,12}", value):
        raise click.UsageError(f"SOURCE_DATE_EPOCH: expected whole seconds since 1970 (ASCII digits), got {_shown(value)}")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError):  # past year 9999
        raise click.UsageError(
            f"SOURCE_DATE_EPOCH: {value} is later than {_latest_build_time():%Y-%m-%dT%H:%M:%SZ} (a day after this machine's clock)"
        ) from None


def _checked_time(when: datetime, what: str) -> datetime:
    latest = _latest_build_time()
    if not EARLIEST_BUILD_TIME <= when <= latest:
        # Each bound with its own reason (a time before 1970 is not "a future one").
        why = (
            "a build time is never taken back, so a future one is refused"
            if when > latest
            else "build times start at the Unix epoch, as SOURCE_DATE_EPOCH does"
        )
        raise click.UsageError(
            f"{what}: {when:%Y-%m-%dT%H:%M:%SZ} is not between {EARLIEST_BUILD_TIME:%Y-%m-%d} and {latest:%Y-%m-%dT%H:%M:%SZ} "
            f"(a day after this machine's clock); {why}"
        )
    return when


def _shown(value: str) -> str:
    return for_terminal(repr(value)) if len(value) <= 40 else f"{len(value)} characters"


def _git(schedules: Path, *args: str) -> str | None:
    import subprocess  # only where git is asked (about 4 ms for every other command)

    try:
        done = subprocess.run(["git", *args], cwd=schedules, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _git_time(schedules: Path) -> float | None:
    out = _git(schedules, "log", "-1", "--format=%ct", "--", ".")
    return float(out.strip()) if out and out.strip().isdigit() else None


def _git_dirty(schedules: Path) -> set[Path] | None:
    top = _git(schedules, "rev-parse", "--show-toplevel")
    out = _git(schedules, "status", "--porcelain", "--untracked-files=all", "--", ".")
    if top is None or out is None:
        return None
    return {(Path(top.strip()) / line[3:].strip().strip('"')).resolve() for line in out.splitlines() if len(line) > 3}


def _publication_time(when: datetime | None) -> datetime:
    """When tombstones expire (docs/history.md, "Two clocks"): the one thing the wall clock decides."""
    if when is not None:
        return when
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return _checked_time(_epoch_time(epoch), "SOURCE_DATE_EPOCH")
    return _wall_clock()


def _wall_clock() -> datetime:
    """The one read of the wall clock (a function, so tests can move it forward a month)."""
    return datetime.now(UTC).replace(microsecond=0)


def _time_value(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """--time as a checked time, when given: given empty, it is a bad time, not the default (an
    unset variable in `--time "$WHEN"` would otherwise build with the clock's time)."""
    return None if value is None else _parse_time(value)


def _parse_time(value: str) -> datetime:
    wrong = f"expected an ISO time like 2024-03-05T12:00:00Z, got {_shown(value)}"
    if not value or len(value) > 40 or not value.isascii():  # fromisoformat takes non-ASCII digits
        raise click.BadParameter(wrong, param_hint="'--time'")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # 0001-01-01T00:00+01:00 is before datetime.min in UTC
        raise click.BadParameter(wrong, param_hint="'--time'") from None
    return _checked_time(parsed, "--time")


def _previous(out: Path, previous: str | None, fresh: bool, cache_root: Path | None) -> Previous:
    from racecal import cache
    from racecal.errors import PreviousBuildError
    from racecal.previous import Previous, read_previous

    if fresh:
        return Previous()
    if previous is not None and "://" not in previous and not Path(previous).exists():
        # Named on purpose, so not a first build: comparing with nothing would report every race as new.
        raise PreviousBuildError(f"{previous}: does not exist (--previous names a published build; to start over, use --fresh)")
    location = previous if previous is not None else out
    record = cache.location(cache_root, Path(location)) if cache_root is not None and "://" not in str(location) else None
    return read_previous(location, cache.load(record) if record is not None else None)


def _cache_root(out: Path, previous: str | None, schedules: Path, settings: Settings) -> Path | None:
    """racecal's directory in the user's cache directory; none when there is no such directory, or it
    overlaps the site, the previous build or an input (the plans, the site's own templates): what
    racecal keeps there would be published or read as input, or written over them."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or ".")  # the XDG rule: a relative path is ignored
    local_previous = Path(previous) if previous is not None and "://" not in previous else None
    try:
        root = ((home if home.is_absolute() else Path.home() / ".cache") / "racecal").resolve()
        places = [p.resolve() for p in (out, local_previous, schedules, settings.templates_dir) if p is not None]
    except (RuntimeError, KeyError, OSError):  # no home directory (a container user without one)
        return None
    return None if any(root.is_relative_to(place) or place.is_relative_to(root) for place in places) else root


def _previous_option_value(value: str | None) -> str | None:
    """--previous as a directory or an http(s) URL (scheme in any case); anything else is a usage error."""
    from racecal.text import http_url_parts

    if value is None or "://" not in value:
        return value
    scheme, rest = value.split("://", 1)
    if scheme.lower() not in ("http", "https"):
        raise click.BadParameter(f"{_shown(value)}: only a directory or an http(s) URL", param_hint="'--previous'")
    normal = f"{scheme.lower()}://{rest}"
    if http_url_parts(normal) is None:
        raise click.BadParameter(f"{_shown(value)} is not a valid http(s) URL", param_hint="'--previous'")
    return normal


def _run(
    schedules: Path, out: Path, previous_at: str | None, fresh: bool, settings: Settings, when: datetime | None,
    progress: bool, sink: Sink, jobs: int, cache_root: Path | None, write_reused: bool = True,
) -> tuple[BuildResult, Previous]:  # fmt: skip
    """Build into ``sink``; ``cache_root``: racecal's cache directory (``_cache_root``), or none."""
    from racecal.build import build
    from racecal.yamlsource import read_all

    plan_files, catalogue_files, problems = read_all(schedules)
    if problems:
        raise PlanError(problems)
    previous = _previous(out, previous_at, fresh, cache_root)
    requested = when if when is not None else _data_time(schedules, [*plan_files, *catalogue_files])
    bar = _progress_bar() if progress else None
    try:
        in_place = previous_at is None or (
            not previous_at.startswith(("http://", "https://")) and Path(previous_at).resolve() == out.resolve()
        )
        result = build(
            plan_files, catalogue_files, previous, settings, requested, _publication_time(when), sink,
            progress=bar, workers=jobs, previous_is_output=in_place and not fresh, write_reused=write_reused,
            cache_root=cache_root,
        )  # fmt: skip
        return result, previous
    finally:
        if bar:
            click.echo("", err=True)


def _progress_bar() -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if total >= 50 and (done % 25 == 0 or done == total):
            click.echo(f"\rbuilding plans: {done}/{total}", err=True, nl=False)

    return show


def _wants_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


def _say(message: str) -> None:
    click.echo(message, err=True)


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


# --- commands ---------------------------------------------------------------------------------------

_schedules_option = click.option(
    "--schedules",
    type=click.Path(path_type=Path),
    default=Path("schedules"),
    show_default=True,
    help="Plans directory (with meets/ inside).",
)
_previous_option = click.option("--previous", metavar="DIR|URL", help="The published build to compare with. Default: the output directory.")
MAX_WAIT = 24 * 3600  # seconds: a CI job waiting longer than a day for a lock has another problem


def _wait_seconds(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    """--wait as finite seconds from 0 to a day (nan and inf made the lock loop crash)."""
    if not 0 <= value <= MAX_WAIT:  # also false for nan
        raise click.BadParameter(f"{value:g} is not a number of seconds from 0 to {MAX_WAIT}")
    return value


def _wait_option(about: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--wait", type=float, default=60, show_default=True, callback=_wait_seconds, help=about)


def _jobs_option(about: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-j", "--jobs", type=click.IntRange(1, 64), default=os.cpu_count() or 1, show_default="CPU count", help=about)


_time_option = click.option(
    "--time",
    "when",
    metavar="ISO",
    callback=_time_value,
    help="Build time for changed events. Default: SOURCE_DATE_EPOCH, else when the plans last changed in git.",
)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--config", type=click.Path(path_type=Path), help=f"Site settings file. Default: ./{SETTINGS_FILE} if present.")
@click.option("--strict", is_flag=True, help="Treat warnings as problems (exit 1).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="json: one document on stdout (docs/check.md); github: GitHub Actions annotations.",
)
def check(paths: tuple[Path, ...], config: Path | None, strict: bool, fmt: str) -> None:
    """Validate plans, the meet catalogue and the site settings; print every problem; exit 1 if any.

    PATHS are schedules directories, plan files or the meet catalogue (default: schedules/). A plan
    file is checked against the meet catalogue in the meets/ folder beside it. A meets/ folder, a
    file in one, or a file whose top level is meets: is checked as a catalogue, on its own.
    Everything build would refuse, check reports (settings included). Warnings (a race outside its
    plan's season, a tentative race already over, two races on the same days) do not fail the
    check unless --strict.

    \b
    Example:
      racecal check
      racecal check schedules/jakob-ingebrigtsen-2024.yaml
      racecal check schedules/meets/2024.yaml
      racecal check --strict --format github
    """
    from racecal.groups import unmatched_warnings, unpublished_retired_warnings
    from racecal.load import Lookout, calendar_problems, load_schedules, looks_like_catalogue, parse_catalogue
    from racecal.report import check_as_github, check_as_json
    from racecal.yamlsource import discover, in_catalogue_folder, is_catalogue_folder, read_all, read_catalogue, read_source

    warnings: list[Problem] = []
    lookout = Lookout(today=_wall_clock().date(), warnings=warnings)
    problems: list[Problem] = []
    settings = _read_settings(config, problems)
    plan_count = 0
    catalogues: list[SourceFile] = []  # checked as a catalogue, on their own
    catalogue_named = False  # a catalogue folder or file was named (an empty meets/ folder too)
    meet_count = 0
    athletes: list[Athlete] = []
    site = _published_ids(Path("dist"), problems)  # the build's default output and previous build
    published = site[0] if site else {}
    for path in paths or (Path("schedules"),):
        if path.is_dir() and is_catalogue_folder(path):
            found, read_problems = read_catalogue(path)
            problems += read_problems
            catalogues += found
            catalogue_named = True
            meet_count += len(parse_catalogue(found, problems))
            continue
        if path.is_dir():
            plan_files, catalogue_files, read_problems = read_all(path)
        else:
            source = read_source(path, problems)
            if source is not None and (in_catalogue_folder(path) or looks_like_catalogue(source)):
                catalogues.append(source)
                catalogue_named = True
                meet_count += len(parse_catalogue([source], problems))
                continue
            plan_files = [source] if source else []
            catalogue_files = [s for s in (read_source(p, problems, path.parent) for p in discover(path.parent, problems)[1]) if s]
            read_problems = []
        problems += read_problems
        loaded = load_schedules(plan_files, catalogue_files, problems, lookout)
        problems += calendar_problems(loaded, plan_files, settings, published)
        plan_count += len(loaded.plans)
        athletes += [plan.athlete for plan in loaded.plans]
    # One plan or the catalogue checked alone says nothing of who else is in a group, nor does a run
    # where plans failed.
    if all(path.is_dir() and not is_catalogue_folder(path) for path in paths) and not problems:
        slugs = {athlete.slug for athlete in athletes}
        has_members = {g.id: any(g.includes(athlete) for athlete in athletes) for g in settings.groups}
        warnings += unmatched_warnings(settings.groups, slugs, has_members)
    if site is not None:
        warnings += unpublished_retired_warnings(settings.retired, {*site[0], *site[1]}, settings.retired_where, settings.retired_at)
    failed = bool(problems) or (strict and bool(warnings))
    if fmt == "json":
        click.echo(check_as_json(problems, warnings, plan_count, strict))
    elif fmt == "github":
        for line in check_as_github(problems, warnings, strict):
            click.echo(line)
    elif problems or warnings:
        _print_problems(sorted(problems + warnings), strict)
    if fmt == "text" and not failed:
        shown = f", {len(warnings)} warning{'s' * (len(warnings) != 1)}" if warnings else ""
        checked = [f"{plan_count} plan{'s' * (plan_count != 1)}"] if plan_count or not catalogue_named else []
        if catalogue_named:
            files = len({source.path for source in catalogues})
            checked.append(f"{meet_count} meet{'s' * (meet_count != 1)} in {files} catalogue file{'s' * (files != 1)}")
        click.echo(f"ok: {', '.join(checked)}, no problems{shown}")
    if failed:
        sys.exit(1)


@cli.command(name="build")
@_schedules_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("dist"), show_default=True, help="Output directory (the site).")
@_previous_option
@click.option("--fresh", is_flag=True, help="Ignore any previous build and start the history over.")
@click.option("--base-url", metavar="URL", help="Public address of the output directory; wins over racecal.yaml.")
@click.option("--config", type=click.Path(path_type=Path), help=f"Site settings file. Default: ./{SETTINGS_FILE} if present.")
@_time_option
@_wait_option("Seconds to wait for another build of the same --out.")
@_jobs_option("Worker processes for large builds.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
def build_command(
    schedules: Path, out: Path, previous: str | None, fresh: bool, base_url: str | None, config: Path | None,
    when: datetime | None, wait: float, jobs: int, quiet: bool,
) -> None:  # fmt: skip
    """Compile the plans into feeds and a static site in --out, diffed against the previous build.

    Writes, per plan, confirmed.ics, tentative.ics and all.ics, a page with subscribe links, and
    the change history (changes.json, changes.atom). The new site is swapped in only when complete.

    \b
    Example:
      racecal build
      racecal build --base-url https://example.org/races --previous https://example.org/races
    """
    from racecal import cache
    from racecal.publish import Staging, locked, output_refusal, output_shape_problem, real_output

    if refusal := output_refusal(out, schedules, Path.cwd()) or output_shape_problem(out):
        raise click.BadParameter(refusal, param_hint="'--out'")
    previous = _previous_option_value(previous)
    settings = _settings(config, base_url, schedules)
    target = real_output(out)
    cache_root = _cache_root(out, previous, schedules, settings)
    with locked(target, wait, _say) as lock:
        staging = Staging.create(target, use_spare=True)
        try:
            result, published = _run(
                schedules, out, previous, fresh, settings, when, _wants_progress(quiet), staging, jobs, cache_root
            )  # fmt: skip
        except BaseException:
            staging.discard()
            raise
        written = not result.unchanged
        checked = dict(published.checked)  # what was found published; linked files must still be that
        wrote: set[str] = set()
        if written:
            wrote = {name for name in result.files if name not in staging.linked}
            checked = {**staging.written({**result.files, **result.site_files}), **{n: checked[n] for n in staging.linked if n in checked}}
            # The index this build read in --out (under the lock) says what there is racecal's, not read twice.
            staging.swap(
                published.files_listed() if previous is None and published.local_dir is not None else None,
                site=[*result.files, *result.site_files],
            )
        else:
            staging.discard()
        record = cache.location(cache_root, target) if cache_root is not None else None
        if record is not None and (written or published.cache.misses):  # so that the next build reads less
            vouched = cache.files_written(result.files, wrote, published.cache.written)
            assert lock is not None, "a build holds the lock or fails"
            now = lock.filesystem_now()
            cache.record(record, target, result.files, checked, result.site_files, result.site_inputs, now, vouched)
    _print_warnings(result.warnings, count_located=quiet)
    if quiet:
        return
    from racecal import report

    others = report.unnamed(result.expired, result.rewritten)
    if result.changes or others:
        click.echo(report.as_text(result.changes, _colour(), others))
    state = "wrote" if written else "unchanged:"
    said = report.counts(result.changes, others)
    click.echo(for_terminal(f"{state} {out}/ ({_calendars(result)}, {result.plans_reused} reused as they were; {said})"))
    if not settings.base_url:
        click.echo("note: no base URL set (--base-url or racecal.yaml); subscribe links are completed in the browser", err=True)


@cli.command()
@_schedules_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Where the published build is, if --previous is not given.",
)
@_previous_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when something would change and 2 when it cannot compare, like git diff --exit-code."
)
@click.option("--base-url", metavar="URL", help="As for build.")
@click.option("--config", type=click.Path(path_type=Path), help="As for build.")
@_time_option
@_wait_option("Seconds to wait for a build that is publishing the previous build.")
@_jobs_option("Worker processes when many plans changed (a meet renamed in the catalogue).")
def diff(
    schedules: Path, out: Path, previous: str | None, fmt: str, exit_code: bool, base_url: str | None, config: Path | None, when: datetime | None,
    wait: float, jobs: int,
) -> None:  # fmt: skip
    """Show what the next build would change, per plan and feed, without writing anything.

    \b
    Example:
      racecal diff
      racecal diff --previous https://example.org/races --format markdown > comment.md
      racecal diff --format json --exit-code
    """
    from racecal import report
    from racecal.publish import NullSink, locked, output_shape_problem, real_output

    if exit_code:
        click.get_current_context().meta[_TROUBLE_EXIT] = 2
    previous = _previous_option_value(previous)
    if previous is None and (problem := output_shape_problem(out)):  # as build says of it: no site can be there
        raise click.BadParameter(problem, param_hint="'--out'")
    settings = _settings(config, base_url, schedules)
    local = out if previous is None else None if previous.startswith(("http://", "https://")) else Path(previous)
    # The build's lock, so a build swapping in its site cannot be read half old, half new.
    with locked(real_output(local), wait, _say, reader=True) if local else contextlib.nullcontext():
        result, _ = _run(
            schedules, out, previous, False, settings, when, progress=False, sink=NullSink(), jobs=jobs,
            cache_root=_cache_root(out, previous, schedules, settings), write_reused=False,
        )  # fmt: skip
    # On stderr, as a build prints them under -q: a retirement that waits, a feed near Google's limit.
    _print_warnings(result.warnings, count_located=True)
    others = report.unnamed(result.expired, result.rewritten)  # what changes feeds without changing a race
    if fmt == "json":
        click.echo(report.as_json(result.changes, others))
    elif fmt == "markdown":
        click.echo(report.as_markdown(result.changes, others))
    else:
        click.echo(report.as_text(result.changes, _colour(), others))
    if exit_code and (result.changes or others):
        sys.exit(1)


def _print_warnings(warnings: list[str], *, count_located: bool) -> None:
    """A build's warnings on stderr; with ``count_located``, a plan's own (file:line:col) are counted,
    not listed: racecal check lists them."""
    held = 0
    for warning in warnings:
        located = ": warning: " in warning
        if located and count_located:
            held += 1
        else:
            click.echo(_one_line(warning if located else f"warning: {warning}"), err=True)
    if held:
        click.echo(f"{held} warning{'s' * (held != 1)} in the plans (racecal check lists them)", err=True)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path())
@click.option(
    "--season",
    type=click.IntRange(1900, 2100),
    help="The starter plan's season. Default: this year until June, then next year (plans are made ahead).",
)
def init(directory: Path, season: int | None) -> None:
    """Start a data repository in DIRECTORY (default: here) that racecal build works in with no flags.

    Writes a commented starter plan and meet catalogue (only where there is no schedules/ yet),
    racecal.yaml, JSON Schemas for editors, a GitHub Actions workflow that checks pull requests and
    publishes to GitHub Pages daily and on every push, .gitignore and a README. Never replaces a file.

    \b
    Example:
      racecal init my-calendars && cd my-calendars && racecal check && racecal build
    """
    import shlex

    from racecal.publish import write_new
    from racecal.scaffold import files

    for place in (directory, *directory.parents):
        if place.exists() and not place.is_dir():
            raise click.BadParameter(f"{for_terminal(str(place))} is not a directory", param_hint="'DIRECTORY'")
    with_plans = not (directory / "schedules").exists() and not (directory / "schedules").is_symlink()
    today = _wall_clock()
    # A starter plan's races fall in its season: dated in the past, a new repository would warn at once.
    year = season or (today.year if today.month <= 6 else today.year + 1)
    install = _install_spec()
    written, kept = write_new(directory, files(year, install, with_plans=with_plans))
    for name in written:
        click.echo(f"wrote {for_terminal(str(directory / name))}")
    for name, reason in kept:
        click.echo(f"kept  {for_terminal(str(directory / name))} ({for_terminal(reason)})")
    if not with_plans:
        click.echo(f"kept  {for_terminal(str(directory / 'schedules'))}/ as it is: no example plan added")
    if ".github/workflows/publish.yml" in written and not install.startswith("racecal @ "):
        click.echo(
            f"note: the workflow installs {install!r} from the package index; if racecal is not there, set RACECAL in "
            ".github/workflows/publish.yml to where it is (pip's form: racecal @ git+https://…)",
            err=True,
        )
    enter = "" if directory.resolve() == Path.cwd().resolve() else f"cd {shlex.quote(for_terminal(str(directory)))} && "
    click.echo(f"next: {enter}racecal check && racecal build && racecal serve")


def _install_spec() -> str:
    """What CI should pip install: where this racecal came from, when that is a URL (PEP 610), else
    this version from the package index."""
    import json
    from importlib import metadata

    try:
        origin = metadata.distribution("racecal").read_text("direct_url.json")
        found = json.loads(origin) if origin else {}
    except (metadata.PackageNotFoundError, ValueError):
        found = {}
    url, vcs = str(found.get("url", "")), found.get("vcs_info") or {}
    if url.startswith("https://") and vcs.get("vcs") == "git":
        return f"racecal @ git+{url}@{vcs.get('commit_id') or vcs.get('requested_revision') or 'HEAD'}"
    if url.startswith("https://"):
        return f"racecal @ {url}"
    return f"racecal=={__version__}"


@cli.command(name="import")
@click.argument("source")
@click.option("--as", "kind", type=click.Choice(["plan", "meets"]), default="plan", show_default=True, help="What to write.")
@click.option("--athlete", metavar="NAME", help="With --as plan: the athlete's name (the slug is made from it).")
@click.option(
    "--timezone",
    metavar="ZONE",
    help="For times that are UTC, floating or in a zone that is not an IANA name. Default: the calendar's X-WR-TIMEZONE, else UTC.",
)
@_schedules_option
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write here (never over an existing file). Default: stdout.")
def import_command(source: str, kind: str, athlete: str | None, timezone: str | None, schedules: Path, out: Path | None) -> None:
    """Turn an .ics calendar (a file or an http(s) URL) into plan or meet-catalogue YAML to review.

    Other tools' calendars (Google, Apple, Outlook exports, a federation's feed) and racecal's own
    feeds are read with icalendar. Meets already in the catalogue are recognised; a recurring event
    is refused; ids are stable across re-imports. Nothing is written when the calendar has problems.

    \b
    Example:
      racecal import season.ics --athlete "Anna Kowalska" --out schedules/anna-kowalska-2025.yaml
      racecal import https://example.org/federation.ics --as meets > meets-new.yaml
    """
    from racecal.importer import import_calendar
    from racecal.load import load_schedules
    from racecal.text import slugify
    from racecal.yamlsource import read_all

    if timezone is not None and timezone not in _zones():
        raise click.BadParameter(f"unknown timezone {timezone!r} (use an IANA name like Europe/Oslo)", param_hint="'--timezone'")
    if out is not None and str(out) == "-":
        out = None  # the usual spelling of standard output
    if out is not None and (out.exists() or out.is_symlink()):
        raise click.BadParameter(f"{for_terminal(str(out))} exists; racecal import never replaces a file", param_hint="'--out'")
    if out is not None and not out.parent.is_dir():
        # Never a folder made on the way: a typo in the path would leave stray folders.
        what = "is not a folder" if out.parent.exists() else "does not exist"
        raise click.BadParameter(f"{for_terminal(str(out.parent))} {what}; give a file in an existing folder", param_hint="'--out'")
    if athlete is not None and (athlete != " ".join(athlete.split()) or not athlete):
        raise click.BadParameter("must be a name on one line, without leading or trailing spaces", param_hint="'--athlete'")
    scheme, _, rest = source.partition("://")
    if rest and scheme.lower() not in ("http", "https", "webcal") and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise click.BadParameter(f"{for_terminal(scheme)}:// is not read: give a file, or an http(s) or webcal URL", param_hint="'SOURCE'")
    if scheme.lower() in ("http", "https", "webcal"):
        from urllib.parse import urlsplit

        from racecal.remote import fetch_url

        # webcal:// is how subscribe links name an http(s) calendar (racecal's own pages use it).
        url = f"{'https' if scheme.lower() == 'webcal' else scheme.lower()}://{rest}"
        try:
            credentials = urlsplit(url).username is not None or urlsplit(url).password is not None
        except ValueError:
            credentials = False  # fetch_url says what is wrong with it
        if credentials:
            raise click.BadParameter("a URL with a user name or password is refused; racecal does not send them", param_hint="'SOURCE'")
        data, where = fetch_url(url), url
    else:
        from racecal.files import NotRegularFileError, TooLargeError, read_bounded

        try:
            data, where = read_bounded(Path(source), 64 * 2**20, follow_symlinks=True), source
        except TooLargeError:
            raise click.BadParameter(f"{for_terminal(source)} is larger than 64 MiB; split the calendar", param_hint="'SOURCE'") from None
        except (OSError, NotRegularFileError) as exc:
            raise click.BadParameter(
                f"{for_terminal(source)} cannot be read ({getattr(exc, 'strerror', None) or exc})", param_hint="'SOURCE'"
            ) from None
    meets = {}
    if schedules.is_dir():
        _, catalogue_files, _ = read_all(schedules)
        meets = dict(load_schedules([], catalogue_files, []).meets)
    who = (athlete, slugify(athlete, "athlete")) if athlete else None
    result = import_calendar(data, where, kind=kind, timezone=timezone, athlete=who, meets=meets, season=_wall_clock().year)
    if result.problems:
        raise PlanError(result.problems)
    _check_imported(result.text, where, kind, meets, out, result.origins)
    if out is None:
        click.echo(result.text, nl=False)
        return
    from racecal.publish import write_new

    written, kept = write_new(out.parent if str(out.parent) else Path(), {out.name: result.text})
    if not written:
        reason = kept[0][1] if kept else "exists"
        raise click.BadParameter(f"{for_terminal(str(out))}: {reason}; racecal import never replaces a file", param_hint="'--out'")
    click.echo(f"wrote {for_terminal(str(out))} ({result.count} event{'s' * (result.count != 1)}); review it, then racecal check", err=True)


def _check_imported(text: str, where: str, kind: str, meets: dict[str, Meet], out: Path | None, origins: list[tuple[int, int]]) -> None:
    """What import wrote must pass racecal check: whatever the calendar holds that a plan cannot
    (a character refused in names, a span too long, a year out of range) is reported against the
    source, at the event the race or meet came from, and nothing is written."""
    from racecal.load import Lookout, parse_catalogue, parse_plan
    from racecal.yamlsource import SourceFile

    problems: list[Problem] = []
    generated = SourceFile(str(out) if out else "(output)", text.encode())
    if kind == "plan":
        parse_plan(generated, meets, problems, Lookout())
    else:
        catalogue = parse_catalogue([generated], problems)
        problems += [
            Problem(where, 1, 1, f"meets: {meet_id}", "is already in the catalogue; import would define it twice")
            for meet_id in sorted(catalogue.keys() & meets.keys())
        ]
    if problems:
        raise PlanError([p if p.path == where else _at_origin(p, where, kind, origins) for p in problems])


def _at_origin(problem: Problem, where: str, kind: str, origins: list[tuple[int, int]]) -> Problem:
    """A problem of the generated YAML at ``races[i]`` (or ``meets[i]``), told at the event it came from."""
    found = re.match(r"(?:races|meets)\[(\d+)\]\.?(.*)", problem.field)
    if found and int(found[1]) < len(origins):
        index, line = origins[int(found[1])]
        field = f"events[{index}]" + (f" ({found[2]})" if found[2] else "")
        return Problem(where, line, 1, field, f"the {kind} it makes would not pass racecal check: {problem.message}")
    return Problem(where, 1, 1, "import", f"the {kind} it makes would not pass racecal check: {problem.field}: {problem.message}")


def _zones() -> frozenset[str]:
    from racecal.fields import known_timezones

    return known_timezones()


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path("schema"))
def schema(directory: Path) -> None:
    """Write the JSON Schemas of plans, the meet catalogue and racecal.yaml into DIRECTORY (default: schema).

    Editors point their YAML language server at them for completion, hover help and errors while
    typing; racecal check stays the authority. Only files racecal wrote are replaced.

    \b
    Example:
      racecal schema                # schema/plan.schema.json, meets.schema.json, settings.schema.json
      racecal schema .vscode
    """
    from racecal.publish import write_generated
    from racecal.schema import SCHEMAS, is_generated, rendered

    if not directory.is_dir():
        raise click.BadParameter(f"{_shown(str(directory))} is not a directory", param_hint="'DIRECTORY'")
    kept = []
    for name in SCHEMAS:
        if not write_generated(directory / name, rendered(name), is_generated):
            kept.append(name)
    if kept:
        _print_problems(
            [
                Problem(for_terminal(str(directory / name)), 1, 1, "file", "exists and was not written by racecal; not replaced")
                for name in kept
            ]
        )
        sys.exit(1)
    click.echo(f"wrote {', '.join(SCHEMAS)} in {for_terminal(str(directory))}/")


@cli.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default=Path("dist"), show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0 picks a free port.")
@click.option("--watch", is_flag=True, help="Rebuild a preview when plans, catalogue or settings change; pages reload.")
@_schedules_option
@click.option("--config", type=click.Path(path_type=Path), help=f"With --watch: site settings file. Default: ./{SETTINGS_FILE} if present.")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in a browser.")
def serve(directory: Path, host: str, port: int, watch: bool, schedules: Path, config: Path | None, open_browser: bool) -> None:
    """Preview the built site locally, with the headers calendar clients expect.

    .ics files are served as text/calendar; charset=utf-8, uncompressed, with ETag and Last-Modified.
    With --watch, racecal builds a preview (in a temporary directory, against --dir as the previous
    build, which it never writes), rebuilds it whenever a plan, the catalogue or the settings change,
    and open pages reload; while the plans have problems, pages show them instead of a stale site.

    \b
    Example:
      racecal build && racecal serve --port 8000
      racecal serve --watch --open
    """
    import shutil
    import signal
    import tempfile
    import threading

    from racecal.serve import Live, make_server

    live: Live | None = None
    preview: Path | None = None
    stop = threading.Event()
    # SIGTERM (kill, timeout, a service manager) stops the preview as Ctrl-C does, so the temporary
    # site is removed either way, also while the first build is still running.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if watch:
            live = Live()
            preview = Path(tempfile.mkdtemp(prefix="racecal-preview-"))
            served = preview / "site"
            rebuild = partial(_preview_build, served, directory, schedules, config, live)
            rebuild()
        elif not directory.is_dir():
            raise click.ClickException(f"{directory} does not exist; run racecal build first")
        else:
            served = directory
        try:
            server = make_server(served, host, port, live=live)
        except OSError as exc:
            import socket  # only serve listens (about 4 ms for every other command)

            if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
                raise click.BadParameter(f"cannot listen on {host!r}: {exc.strerror or exc}", param_hint="'--host'") from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port") from None
        shown_host = f"[{host.strip('[]')}]" if ":" in host else host  # an IPv6 address in a URL is bracketed
        url = f"http://{shown_host}:{server.server_address[1]}/"
        if watch:
            threading.Thread(target=_watch, args=(schedules, config, rebuild, stop), daemon=True).start()
        click.echo(f"serving {'a live preview of ' + str(schedules) if watch else str(directory)}/ on {url} (Ctrl-C to stop)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.server_close()
    finally:
        if preview:
            shutil.rmtree(preview, ignore_errors=True)


def _calendars(result: BuildResult) -> str:
    """What a build wrote, counted for the summary: "4 plans, 7 group, meet or series calendars"."""
    plans = len(result.plan_ids) - result.views
    views = f", {result.views} group, meet or series calendar{'s' * (result.views != 1)}" if result.views else ""
    return f"{plans} plan{'s' * (plans != 1)}{views}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _preview_build(served: Path, published: Path, schedules: Path, config: Path | None, live: Any) -> None:
    """One rebuild of a live preview: into ``served``, against the published build (never written)."""
    from racecal.publish import Staging

    try:
        settings = _settings(config, None, schedules)
        staging = Staging.create(served)
        try:
            previous = str(published) if (published / "index.json").is_file() else None
            result, _ = _run(schedules, served, previous, previous is None and not served.exists(), settings, None, False, staging, 1, None)
        except BaseException:
            staging.discard()
            raise
        if result.unchanged:
            staging.discard()
        else:
            staging.swap()
    except PlanError as exc:
        _print_problems(exc.problems)
        live.rebuilt([for_terminal(str(p)) for p in exc.problems])
        return
    except RacecalError as exc:
        click.echo(for_terminal(f"error: {exc}"), err=True)
        live.rebuilt([for_terminal(str(exc))])
        return
    against = f"against {published}/" if (published / "index.json").is_file() else "since the preview's last build (no published build yet)"
    for warning in result.warnings:  # as a build prints them: an editor previewing is the one to see them
        click.echo(_one_line(warning if ": warning: " in warning else f"warning: {warning}"), err=True)
    click.echo(f"rebuilt: {_calendars(result)}; {len(result.changes)} change(s) {against}")
    live.rebuilt([])


def _watch(schedules: Path, config: Path | None, rebuild: Callable[[], None], stop: Any) -> None:
    """Rebuild after each burst of changes to the plans, the catalogue, the settings file or the
    site's own templates; also when schedules/ itself is moved, deleted or comes back.

    Two watchers: one on the folders of the settings file and of schedules/, not recursive (one is
    usually the project root, with .git/ and virtualenvs below), and one on schedules/ and the
    templates folder, recursive.
    The second starts over whenever the first sees a change, since the settings may now name
    another templates folder, or schedules/ may be somewhere new."""
    import threading

    import watchfiles

    settings_file = (config or Path(SETTINGS_FILE)).resolve()
    top = schedules.resolve()
    lock = threading.Lock()
    moved = threading.Event()

    def rebuild_once() -> None:
        with lock:
            rebuild()

    def at_top(change: object, path: str) -> bool:
        where = Path(path)
        if where in (settings_file, top):
            return True
        # A folder made or removed beside the settings: perhaps the templates folder they name.
        created_or_gone = change in (watchfiles.Change.added, watchfiles.Change.deleted)
        return created_or_gone and where.parent == settings_file.parent and not where.name.startswith(".")

    def watch_top() -> None:
        folders = {settings_file.parent, top.parent}  # schedules/ may live elsewhere (--schedules data/schedules)
        for _changes in watchfiles.watch(*folders, watch_filter=at_top, stop_event=stop, debounce=300, step=50, recursive=False):
            moved.set()
            rebuild_once()

    threading.Thread(target=watch_top, daemon=True).start()
    while not stop.is_set():
        moved.clear()
        templates = _read_settings(config, []).templates_dir if settings_file.is_file() else None
        roots = [p.resolve() for p in (top, templates) if p is not None and p.is_dir()]
        if not roots:
            stop.wait(0.5)
            continue
        for changes in watchfiles.watch(
            *roots, stop_event=stop, debounce=300, step=50, recursive=True, yield_on_timeout=True, rust_timeout=1000
        ):
            if changes:
                rebuild_once()
            # A templates folder named before it existed (or its parent) gives no event here: looked for.
            appeared = templates is not None and templates.resolve() not in roots and templates.is_dir()
            if moved.is_set() or appeared or not all(r.is_dir() for r in roots):
                break
