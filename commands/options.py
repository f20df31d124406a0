"""Command-line options derived from config dataclasses (``vocalmine.settings``): the field's default, help,
choices and bounds become the option's, so a default is written once, in the config.

    @click.command()
    @config_options(TrainConfig, skip=("shards_dir", "run_dir"))
    def main(**options):
        config = config_from(TrainConfig, options, shards_dir=..., run_dir=...)
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING
from typing import Any, Callable

import click

from vocalmine.settings import Leaf, check, flat_dict, from_flat, leaves


def _plain(tp: Any) -> Any:
    """``int | None`` -> ``int``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _tuple_parser(leaf: Leaf) -> Callable[[click.Context, click.Parameter, Any], Any]:
    inner = typing.get_args(_plain(leaf.type))
    kind = inner[0] if inner else str
    size = None if (len(inner) == 2 and inner[1] is Ellipsis) else len(inner)

    def parse(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        try:
            out = tuple(kind(p) for p in parts)
        except ValueError:
            out = None
        if out is None or (size is not None and len(out) != size):
            raise click.BadParameter(f"wants {size or 'some'} comma-separated {kind.__name__} values such as "
                                     f"{','.join(map(str, leaf.default or ()))}; got {value!r}")
        return out

    return parse


def option_kwargs(leaf: Leaf) -> tuple[list[str], dict[str, Any]]:
    """``click.option`` arguments for one leaf: (declarations, keyword arguments)."""
    info, tp, default = leaf.info, _plain(leaf.type), leaf.default
    decls = [leaf.flag, leaf.name]
    kw: dict[str, Any] = {"help": info.help, "show_default": True}
    if default is not MISSING:
        kw["default"] = default
    else:
        kw["required"] = True
    if info.metavar:
        kw["metavar"] = info.metavar
    if tp is bool:
        if default is True:
            decls = [f"{leaf.flag}/--no-{leaf.flag[2:]}", leaf.name]
        else:
            kw["is_flag"] = True
    elif info.choices is not None:
        kw["type"] = click.Choice([str(c) for c in info.choices])
    elif tp in (int, float) and (info.low is not None or info.high is not None):
        rng = click.IntRange if tp is int else click.FloatRange
        kw["type"] = rng(info.low, info.high, min_open=info.open_low, max_open=info.open_high)
    elif tp in (int, float, str):
        kw["type"] = tp
    elif typing.get_origin(tp) is tuple:
        kw["callback"] = _tuple_parser(leaf)
        kw["type"] = str
        if isinstance(default, tuple):
            kw["default"] = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
            kw["show_default"] = True
        kw.setdefault("metavar", ",".join(["X"] * len(default)) if isinstance(default, tuple) and default else "A,B")
    return decls, kw


def config_options(cls: type, *, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None,
                   overrides: dict[str, dict[str, Any]] | None = None) -> Callable[[Callable], Callable]:
    """A decorator adding one option per user-settable leaf of ``cls`` (in field order), but ``skip``, or only
    ``only``; ``overrides[name]`` updates that option's keyword arguments (a command's own flag or help)."""
    chosen = [leaf for leaf in leaves(cls) if leaf.info.cli and leaf.name not in skip
              and (only is None or leaf.name in only)]

    def decorate(fn: Callable) -> Callable:
        for leaf in reversed(chosen):  # click stacks decorators bottom-up: reversed keeps field order in --help
            decls, kw = option_kwargs(leaf)
            kw.update((overrides or {}).get(leaf.name, {}))
            fn = click.option(*decls, **kw)(fn)
        return fn

    return decorate


def config_from(cls: type, options: dict[str, Any], base: Any | None = None, **fixed: Any) -> Any:
    """A ``cls`` config from the parsed options of ``config_options`` (removed from ``options``, so what is
    left are the command's own), over ``base`` when given (a config file's values); ``fixed``: ``cls``'s
    non-setting fields. Values are checked against their choices and bounds (``UserInputError``)."""
    names = {leaf.name for leaf in leaves(cls)}
    values = flat_dict(base) if base is not None else {}
    source = click.get_current_context(silent=True)
    for name in list(options):
        if name in names:
            value = options.pop(name)
            given = source is None or source.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
            if base is None or given:
                values[name] = value
    config = from_flat(cls, values, **fixed)
    check(config)
    return config
