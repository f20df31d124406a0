"""One source per setting: a config dataclass field carries its default, its help text and its limits, and the
command-line options, ``--config FILE.toml`` and the recorded config are all derived from it.

A field declared with ``setting(...)`` is a *leaf* that a user may set; a field whose type is itself a config
dataclass (``augment: Augment = field(default_factory=Augment)``) is *composed*, and its leaves are the
parent's leaves too. Leaf names are unique across one config (the command line is flat: ``--remix-share``,
not ``--augment.remix-share``), so ``flat_dict`` and ``from_flat`` move between a composed config and the
flat ``{name: value}`` form that checkpoints and manifests record.

    @dataclass(frozen=True)
    class Augment:
        remix_share: float = setting(0.0, "Share of each batch remixed.", low=0.0, high=1.0)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from vocalmine.errors import UserInputError

#: Marks a field's metadata as a user-settable leaf.
_KEY = "vocalmine.setting"


@dataclass(frozen=True)
class SettingInfo:
    """What a leaf says about itself: help text, the option's flag (``--name`` by default), allowed values,
    bounds (``low``/``high`` inclusive unless ``open_low``/``open_high``), a metavar, and ``cli=False`` for a
    setting that only a config file sets."""

    help: str
    flag: str | None = None
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    metavar: str | None = None
    cli: bool = True


def setting(default: Any = MISSING, help: str = "", *, default_factory: Any = MISSING, flag: str | None = None,
            choices: Sequence[Any] | None = None, low: float | None = None, high: float | None = None,
            open_low: bool = False, open_high: bool = False, metavar: str | None = None,
            cli: bool = True) -> Any:
    """A dataclass field that is a user setting (see the module doc)."""
    info = SettingInfo(help, flag, tuple(choices) if choices is not None else None, low, high, open_low, open_high,
                       metavar, cli)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={_KEY: info})


@dataclass(frozen=True)
class Leaf:
    """One setting of a (possibly composed) config: ``path`` from the root (``("augment", "gain_db")``), its
    ``name`` (the last part), its resolved ``type``, ``default`` and ``info``."""

    path: tuple[str, ...]
    type: Any
    default: Any
    info: SettingInfo

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def flag(self) -> str:
        return self.info.flag or "--" + self.name.replace("_", "-")

    def check(self, value: Any, where: str | None = None) -> None:
        """``UserInputError`` naming ``where`` (default: the option) when ``value`` is outside ``choices`` or
        the bounds."""
        i = self.info
        what = where or self.flag
        if value is None:
            return
        if i.choices is not None and value not in i.choices:
            raise UserInputError(f"{what} must be one of {', '.join(map(str, i.choices))}; got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            too_low = i.low is not None and (value < i.low or (i.open_low and value == i.low))
            too_high = i.high is not None and (value > i.high or (i.open_high and value == i.high))
            if too_low or too_high or value != value:  # NaN is never in range
                raise UserInputError(f"{what} must be {_range_text(i)}; got {value!r}")


def _range_text(i: SettingInfo) -> str:
    parts = []
    if i.low is not None:
        parts.append(f"{'>' if i.open_low else '>='} {i.low:g}")
    if i.high is not None:
        parts.append(f"{'<' if i.open_high else '<='} {i.high:g}")
    return " and ".join(parts) or "a number"


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return MISSING


def is_config(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def leaves(cls: type, _prefix: tuple[str, ...] = ()) -> Iterator[Leaf]:
    """Every leaf of config class ``cls``, composed configs walked depth first, in field order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _KEY in f.metadata:
            yield Leaf(_prefix + (f.name,), tp, _default(f), f.metadata[_KEY])
        elif is_config(tp):
            yield from leaves(tp, _prefix + (f.name,))


def _leaf_map(cls: type) -> dict[str, Leaf]:
    out: dict[str, Leaf] = {}
    for leaf in leaves(cls):
        if leaf.name in out:
            raise TypeError(f"{cls.__name__}: two settings named {leaf.name!r} ({out[leaf.name].path}, {leaf.path})")
        out[leaf.name] = leaf
    return out


def flat_dict(config: Any) -> dict[str, Any]:
    """``{leaf name: value}`` of a config instance (tuples as lists, for JSON)."""
    out = {}
    for leaf in leaves(type(config)):
        value = config
        for part in leaf.path:
            value = getattr(value, part)
        out[leaf.name] = list(value) if isinstance(value, tuple) else value
    return out


def from_flat(cls: type, values: Mapping[str, Any], **fixed: Any) -> Any:
    """An instance of ``cls`` from flat leaf values (unknown names ignored, absent ones default), composed
    configs built from their own leaves; ``fixed``: values of ``cls``'s own non-setting fields."""
    return _build(cls, dict(values), (), fixed)


def _build(cls: type, values: dict[str, Any], prefix: tuple[str, ...], fixed: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _KEY in f.metadata:
            if f.name in values:
                kwargs[f.name] = _coerce(values[f.name], tp)
        elif is_config(tp):
            kwargs[f.name] = _build(tp, values, prefix + (f.name,), {})
        elif not prefix and f.name in fixed:
            kwargs[f.name] = fixed[f.name]
    return cls(**kwargs)


def _coerce(value: Any, tp: Any) -> Any:
    """Lists (from JSON or TOML) back to tuples where the field is a tuple."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return value if value is None or len(args) != 1 else _coerce(value, args[0])
    if origin is tuple and isinstance(value, (list, tuple)):
        inner = typing.get_args(tp)
        if len(inner) == 2 and inner[1] is Ellipsis:
            return tuple(_coerce(v, inner[0]) for v in value)
        if len(inner) == len(value):
            return tuple(_coerce(v, t) for v, t in zip(value, inner))
        return tuple(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check(config: Any) -> None:
    """``UserInputError`` for the first leaf of ``config`` outside its choices or bounds."""
    for leaf in leaves(type(config)):
        value = config
        for part in leaf.path:
            value = getattr(value, part)
        leaf.check(value)


def load_toml(cls: type, path: str | Path, base: Any | None = None, **fixed: Any) -> Any:
    """A ``cls`` config from a TOML file of leaf names (flat, or in tables named after composed fields), over
    ``base`` (default: the defaults; its non-setting fields are kept unless ``fixed`` gives them). Unknown
    names and wrong types are ``UserInputError``s naming the file."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserInputError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path} is not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}

    def walk(table: Mapping[str, Any]) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(value)
            else:
                flat[key] = value

    walk(data)
    known = _leaf_map(cls)
    unknown = sorted(set(flat) - set(known))
    if unknown:
        raise UserInputError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key, value in list(flat.items()):
        leaf = known[key]
        flat[key] = _from_toml(value, leaf, f"{path}: {key}")
        leaf.check(flat[key], f"{path}: {key}")
    values = flat_dict(base) if base is not None else {}
    values.update(flat)
    if base is not None:
        fixed = {**{f.name: getattr(base, f.name) for f in dataclasses.fields(cls)
                    if _KEY not in f.metadata and not is_config(f.type)}, **fixed}
    config = from_flat(cls, values, **fixed)
    check(config)
    return config


def _from_toml(value: Any, leaf: Leaf, where: str) -> Any:
    """A TOML value as the leaf's type: a whole number where a float is wanted becomes a float (so ``10`` and
    ``10.0`` record alike), a fraction where an int is wanted, or any other kind, is ``UserInputError``."""
    tp = leaf.type
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else tp
    kind = typing.get_origin(tp) or tp
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        tuple: isinstance(value, list),
    }.get(kind, True)
    if not ok:
        raise UserInputError(f"{where} = {value!r} is not {_kind_name(kind)}")
    if kind is float:
        return float(value)
    return _coerce(value, leaf.type)


def _kind_name(kind: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
            tuple: "a list"}.get(kind, getattr(kind, "__name__", str(kind)))
