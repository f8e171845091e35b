"""Input files → YAML node trees: bounded reads, discovery in the schedules directory, composing.

PyYAML is used only to *compose* node trees (libyaml's C parser when available, which keeps line and
column marks). Values are validated afterwards from the raw scalar text (``fields.Reader``), so YAML
1.1 surprises (``NO`` → False, ``19:30`` → 1170, ``2024-02-30`` → a constructor crash) never reach
the model, and no Python object is ever constructed from a tag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from racecal.errors import Problem, field_path
from racecal.files import NotRegularFileError, TooLargeError, read_bounded
from racecal.text import character_name, quoted

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 32
YAML_TAG = "tag:yaml.org,2002:"
ALLOWED_TAGS = {YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}


def _loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- reading files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """A file's path (as shown in messages), its bytes, and its name within the schedules directory.

    ``key`` is what builds remember a plan by, so the output does not depend on where the repository
    is or how ``--schedules`` was spelled.
    """

    path: str
    data: bytes
    key: str = ""

    @property
    def ident(self) -> str:
        return self.key or self.path


def shown_path(path: Path) -> str:
    """A path as messages show it; bytes of a non-UTF-8 name appear as \\xNN escapes, never raw."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_source(path: Path, problems: list[Problem], base: Path | None = None) -> SourceFile | None:
    """Read one input file, or record why not.

    With ``base`` (a file found in the schedules directory) only a regular file is read, never a
    symlink: a link could lead anywhere, and a file's content can appear in messages. A path named
    on the command line (``racecal check FILE``, ``--config``) may be a symlink to a regular file.
    FIFOs, devices and directories are refused without blocking; at most the limit + 1 byte is read.
    """
    text = str(path)
    shown = shown_path(path)
    if shown != text:
        problems.append(Problem(shown, 1, 1, "file", "the file name is not valid UTF-8; rename the file"))
        return None
    head = f"{base}/" if base else ""
    # As path.relative_to(base), without pathlib's parsing (once for each of 1,000 plans).
    key = (text[len(head) :] if text.startswith(head) else path.relative_to(base).as_posix()) if base else ""
    try:
        data = read_bounded(path, MAX_FILE_BYTES, follow_symlinks=base is None)
    except NotRegularFileError as exc:
        if exc.symlink:
            message = "is a symbolic link; only regular files inside the schedules directory are read (copy the file in instead)"
        else:
            message = f"is {exc.kind}, not a regular file"
        problems.append(Problem(shown, 1, 1, "file", message))
        return None
    except TooLargeError as exc:
        problems.append(Problem(shown, 1, 1, "file", f"is {exc.size / 2**20:.1f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB"))
        return None
    except OSError as exc:
        problems.append(Problem(shown, 1, 1, "file", f"cannot be read: {exc.strerror or exc}"))
        return None
    return SourceFile(shown, data, key)


YAML_SUFFIXES = (".yaml", ".yml")  # in any case: Plan.YAML is a plan too


def discover(schedules: Path, problems: list[Problem]) -> tuple[list[Path], list[Path]]:
    """Plan files and catalogue files of a schedules directory, in a stable order.

    Every entry named *.yaml or *.yml (any case) that is not a real directory is returned, so that
    read_source reports symlinks, FIFOs and the like instead of their being skipped in silence.
    Hidden names are skipped: editors leave lock links (.#plan.yaml) and macOS leaves ._plan.yaml
    beside the real files. YAML files in sub-folders are reported by read_all (here the directory
    may be any file's parent, where a walk has no business).
    """
    return _yamls(schedules), _catalogue_paths(schedules / "meets", problems)


def _yamls(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as entries:  # their types come with the listing: no stat per file
            names = [e.name for e in entries if _is_yaml_name(e.name) and (e.is_symlink() or not e.is_dir())]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / name for name in sorted(names)]


def _catalogue_paths(meets: Path, problems: list[Problem]) -> list[Path]:
    if meets.is_symlink():
        problems.append(
            Problem(
                shown_path(meets),
                1,
                1,
                "meets",
                "is a symbolic link; the meet catalogue must be a real directory inside the schedules directory",
            )
        )
        return []
    return _yamls(meets)


def is_catalogue_folder(directory: Path) -> bool:
    """Whether a directory named on the command line is a schedules directory's ``meets/`` folder:
    named so, and without a ``meets/`` folder of its own (which would make it a schedules directory)."""
    return _as_written(directory).name == "meets" and not (directory / "meets").is_dir()


def in_catalogue_folder(path: Path) -> bool:
    """Whether a file named on the command line lies in a ``meets/`` folder, where a build reads every
    YAML file as part of the meet catalogue."""
    return _as_written(path).parent.name == "meets"


def _as_written(path: Path) -> Path:
    """``path`` made absolute by its names (``.`` and ``..`` too), not through symlinks: a ``meets/``
    that is a link is still the catalogue folder, which read_catalogue refuses as a build does."""
    return Path(os.path.normpath(path.absolute()))


def _is_yaml_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(YAML_SUFFIXES)


def _misplaced(schedules: Path, meets: Path, problems: list[Problem]) -> None:
    """Report YAML files in sub-folders (not followed through symlinks; hidden folders skipped): a
    plan that is never read would cancel every race in it for every subscriber, without a word."""
    for top in sorted(p for p in _subdirectories(schedules) if p != meets):
        for path in _yamls_below(top):
            problems.append(Problem(
                shown_path(path), 1, 1, "file",
                f"is in a sub-folder, where racecal does not look: plans go directly in {shown_path(schedules)}/; "
                f"move it up, or rename it so it does not end in .yaml if it is not a plan",
            ))  # fmt: skip
    _misplaced_meets(meets, problems)


def _misplaced_meets(meets: Path, problems: list[Problem]) -> None:
    if meets.is_dir() and not meets.is_symlink():
        for top in sorted(_subdirectories(meets)):
            for path in _yamls_below(top):
                problems.append(Problem(
                    shown_path(path), 1, 1, "file",
                    f"is in a sub-folder of {shown_path(meets)}/, where racecal does not look: the meet catalogue goes directly in "
                    f"{shown_path(meets)}/; move it up, or rename it so it does not end in .yaml if it is not a catalogue",
                ))  # fmt: skip


def _subdirectories(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as entries:  # types from the listing: no stat for each of 1,000 plans
            return [directory / e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []  # an unreadable schedules directory is reported where its files are read


def _yamls_below(top: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(top):  # symlinked folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / name for name in sorted(files) if _is_yaml_name(name)]
    return found


# --- YAML → node tree -------------------------------------------------------------------------------


def compose(source: SourceFile, problems: list[Problem]) -> Node | None:
    """Parse one file into a node tree, or record why not. Rejects what YAML allows but plans must not.

    A tree is returned with problems recorded when a key is given twice (its first value kept), so
    that one run reports the file's other problems too: count problems from before this call.
    """
    try:
        text = source.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = source.data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (source.data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = source.data[exc.start : exc.start + 1].hex()
        problems.append(Problem(source.path, line, column, "file", f"is not valid UTF-8 (byte 0x{bad})"))
        return None
    try:
        # libyaml's composer recurses in C: 25,000 nested brackets overflow the stack and kill the
        # process (no RecursionError to catch). Its event parser keeps an explicit stack, so the
        # depth is measured on the events first and the tree is composed only when it is shallow.
        too_deep = _too_deep(text) if _may_be_deep(text) else None
        if too_deep is not None:
            problems.append(
                Problem(source.path, too_deep[0] + 1, too_deep[1] + 1, "yaml", f"nesting is too deep (the limit is {MAX_NESTING})")
            )
            return None
        root = yaml.compose(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Problem(source.path, line, column, "yaml", _yaml_message(exc, text, mark.index if mark else -1)))
        return None
    except yaml.YAMLError as exc:  # reader errors (control characters) carry a position only
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        problems.append(Problem(source.path, line, column, "yaml", _yaml_message(exc, text, position)))
        return None
    if root is None:
        problems.append(Problem(source.path, 1, 1, "file", "is empty"))
        return None
    return root if _check_structure(source.path, root, problems) else None


# libyaml composes this deep without trouble even on a small thread stack (it crashed near 25,000).
SAFE_COMPOSE_DEPTH = 500


def _may_be_deep(text: str) -> bool:
    """False when the tree certainly is no deeper than SAFE_COMPOSE_DEPTH, which spares ordinary files
    the event pass (about a sixth of the time spent loading). Sound, not tight: flow collections
    need an opening bracket each; the block collections still open on a line start at distinct
    columns no further right than its indentation (at most two per column: a sequence may sit at its
    mapping's column), and those it opens itself each need an indicator character."""
    openers = text.count("[") + text.count("{")
    if openers > SAFE_COMPOSE_DEPTH:
        return True
    lines = text.split("\n")
    # A line's term below is at most 2 × its length + 2 (its indent and its indicators are characters
    # of it): files of ordinary lines are cleared without the loop.
    if openers + 2 * max(map(len, lines)) + 4 <= SAFE_COMPOSE_DEPTH:
        return False
    block = 0
    for line in lines:
        content = line.lstrip(" ")
        indent = len(line) - len(content)
        block = max(block, 2 * (indent + 1) + content.count("-") + content.count(":") + content.count("?"))
    return openers + block + 2 > SAFE_COMPOSE_DEPTH


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where (0-based line, column) the node tree would first be deeper than MAX_NESTING, counted as
    ``_check_structure`` does (the document is level 1, a scalar one level below its collection)."""
    try:
        return _first_too_deep(yaml.parse(text, Loader=_loader()))
    except yaml.MarkedYAMLError:
        # libyaml ≥ 0.2.6 refuses nesting past 1,000 while its scanner is still looking ahead for a
        # simple key, before it yields the event racecal would stop at. PyYAML's own parser has no
        # such limit and keeps an explicit stack too; it only runs on files that deep.
        return _first_too_deep(yaml.parse(text, Loader=yaml.SafeLoader))


def _first_too_deep(events: Iterator[yaml.Event]) -> tuple[int, int] | None:
    depth = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                return _position(event)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent) and depth + 1 > MAX_NESTING:
            return _position(event)
    return None


def _position(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line, mark.column) if mark else (0, 0)


def _yaml_message(exc: yaml.YAMLError, text: str, index: int) -> str:
    """What the YAML library found, in words, never quoting the file: a file that is not YAML at all
    (a key, a password file) must not end up in a terminal or a CI log."""
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return f"{character_name(code)} is not allowed in YAML; remove it"
    problem = str(getattr(exc, "problem", "") or "").strip()
    if (0 <= index < len(text) and text[index] == "\t") or "tab character" in problem:
        return "tab character: YAML indentation must use spaces"
    context = getattr(exc, "context", None)
    if not problem:
        return "not a valid YAML document"
    return f"{context}: {problem}" if context else problem


# Where a node is, as a linked list from the root: (parent's trail, key or index), None for the root.
# The walk makes one small tuple per node; a trail is spelled out as a field path only for a problem.
_Trail = tuple["_Trail", str | int] | None


def _check_structure(path: str, root: Node, problems: list[Problem]) -> bool:
    """One pass over the node graph: aliases, tags, duplicate and non-text keys, nesting depth. True
    when the tree can be validated: a duplicate key is reported but leaves the tree readable.

    Aliases are refused outright: that keeps "billion laughs" out, and the meet catalogue is the way to
    share data. Aliases, tags, merge keys and non-text keys make the tree itself untrustworthy (what
    a value is depends on what YAML would make of it), so the file is not validated further.

    A duplicate key is different: both values are plain nodes, and the file's other problems can still
    be found. The first value stays, as "first defined on line N" says and as every reader of the tree
    would take it; the later ones are dropped from the mapping (after this walk checks them), so
    nothing downstream has to choose. The problem is recorded, and a file with any problem publishes
    nothing (``load.parse_plan`` counts from before ``compose``; a meet with a duplicate key inside it
    is a broken meet). Everything here is iterative so no input can exhaust the stack.
    """
    seen: set[int] = set()
    readable = True
    doubled: list[tuple[MappingNode, dict[str, Node]]] = []  # mappings with a key given twice, and their first keys
    stack: list[tuple[Node, int, _Trail]] = [(root, 1, None)]
    while stack:
        node, depth, trail = stack.pop()
        if id(node) in seen:
            add_problem(
                problems, path, node, _named(_anchored_at(root, node)),
                "anchors and aliases (&name / *name) are not supported; use the meet catalogue to share data",
            )  # fmt: skip
            return False
        seen.add(id(node))
        if depth > MAX_NESTING:
            add_problem(problems, path, node, "yaml", f"nesting is too deep (the limit is {MAX_NESTING})")
            return False
        if node.tag not in ALLOWED_TAGS:
            add_problem(problems, path, node, _named(trail), f"unsupported tag {quoted(node.tag)}")
            readable = False
            continue
        if isinstance(node, MappingNode):
            keys: dict[str, Node] = {}
            for key, value in node.value:
                if key.tag == YAML_TAG + "merge":
                    add_problem(
                        problems, path, key, _named(trail), "merge keys (<<) are not supported; use the meet catalogue to share data"
                    )
                    readable = False
                    continue
                if not isinstance(key, ScalarNode) or key.tag not in ALLOWED_TAGS or key.tag == YAML_TAG + "null":
                    add_problem(problems, path, key, _named(trail), "mapping keys must be plain text")
                    readable = False
                    continue
                if key.value in keys:
                    first = keys[key.value].start_mark.line + 1
                    add_problem(problems, path, key, _named((trail, key.value)), f"duplicate key (first defined on line {first})")
                else:
                    keys[key.value] = key
                stack.append((value, depth + 1, (trail, key.value)))
            if len(keys) < len(node.value):
                doubled.append((node, keys))
        elif isinstance(node, SequenceNode):
            stack.extend((item, depth + 1, (trail, i)) for i, item in enumerate(node.value))
    for mapping, first in doubled:  # only now: the walk (and _anchored_at) see the tree as written
        mapping.value = [(k, v) for k, v in mapping.value if not isinstance(k, ScalarNode) or first.get(k.value, k) is k]
    return readable


def _anchored_at(root: Node, target: Node) -> _Trail:
    """Where ``target``, a node met twice, has its anchor: the place it is first met in document
    order (an alias only refers back), which is where its mark points. Only for the message: the
    walk above goes last child first."""
    seen: set[int] = set()
    stack: list[tuple[Node, _Trail]] = [(root, None)]
    while stack:
        node, trail = stack.pop()
        if node is target:
            return trail
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            stack.extend((value, (trail, key.value)) for key, value in reversed(node.value) if isinstance(key, ScalarNode))
        elif isinstance(node, SequenceNode):
            stack.extend((node.value[i], (trail, i)) for i in range(len(node.value) - 1, -1, -1))
    return None


def _named(trail: _Trail) -> str:
    """A trail as the field path Reader names the same node by (``races[1].id``; ``document`` for the root)."""
    steps: list[str | int] = []
    while trail is not None:
        trail, step = trail
        steps.append(step)
    name = ""
    for step in reversed(steps):
        name = f"{name}[{step}]" if isinstance(step, int) else field_path(name, step)
    return name or "document"


def add_problem(problems: list[Problem], path: str, node: Node, field: str, message: str) -> None:
    problems.append(Problem(path, node.start_mark.line + 1, node.start_mark.column + 1, field, message))


def read_catalogue(meets: Path) -> tuple[list[SourceFile], list[Problem]]:
    """The catalogue files of a ``meets/`` folder named on its own (``racecal check schedules/meets``),
    read and checked for place as ``read_all`` reads them."""
    problems: list[Problem] = []
    paths = _catalogue_paths(meets, problems)
    _misplaced_meets(meets, problems)
    return [s for s in (read_source(p, problems, meets) for p in paths) if s], problems


def read_all(schedules: Path) -> tuple[list[SourceFile], list[SourceFile], list[Problem]]:
    problems: list[Problem] = []
    if not schedules.is_dir():
        problems.append(Problem(str(schedules), 1, 1, "schedules", "is not a directory"))
        return [], [], problems
    plan_paths, meet_paths = discover(schedules, problems)
    _misplaced(schedules, schedules / "meets", problems)
    plans = [s for s in (read_source(p, problems, schedules) for p in plan_paths) if s]
    meets = [s for s in (read_source(p, problems, schedules) for p in meet_paths) if s]
    return plans, meets, problems
