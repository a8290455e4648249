"""Config <-> plain dicts and files: flattening, key spellings, type checks, YAML/TOML.

Type checking is hand-written on purpose (about forty lines, :func:`_coerce`): the schema's
annotations are a handful of shapes (``bool``, ``int``, ``float``, ``str``, ``X | None``,
``list[...]``, ``dict[str, Any]``), and a message here names the key, its flag, the expected
type, the value given and where it came from (``config file 'run.yaml'``), which the general
libraries weighed for this (jsonargparse, tyro, pydantic) do not do together, at the cost of a
dependency. Range and choice checks live in :mod:`featmatch.train.config.checks`.

Example:
    >>> config_from_dict({"optim": {"lr_g": 0.001}}).optim.lr_g
    0.001
    >>> config_from_dict({"optim.ema_decay": 0.9}).optim.ema
    0.9
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from featmatch.train.config.options import FIELD_FLAGS
from featmatch.train.config.schema import KEY_ALIASES, TrainConfig

__all__ = [
    "DEPRECATED_KEYS",
    "all_keys",
    "config_from_dict",
    "config_to_dict",
    "flatten",
    "load_config_file",
    "normalize_keys",
    "to_yaml",
]

_FIELD_TO_PUBLIC = {field_key: public for public, field_key in KEY_ALIASES.items()}

#: Old spellings that still work for one release: old key -> the key to write instead.
#: :func:`featmatch.train.config.build_config` warns when a user's file or flags use one.
DEPRECATED_KEYS: dict[str, str] = dict(_FIELD_TO_PUBLIC)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict (lists, not tuples) of a config, keys as users write them.

    Example:
        >>> config_to_dict(TrainConfig())["optim"]["ema_decay"]
        0.0
    """
    return _to_dict(cfg, "")


def _to_dict(cfg: Any, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        path = prefix + f.name
        name = _FIELD_TO_PUBLIC.get(path, path).rsplit(".", 1)[-1]
        out[name] = _to_dict(value, path + ".") if dataclasses.is_dataclass(value) else _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}``; dict-valued *fields* (``options``) stay whole.

    Example:
        >>> flatten({"optim": {"lr_g": 0.1}, "model": {"options": {"k": 1}}})
        {'optim.lr_g': 0.1, 'model.options': {'k': 1}}
    """
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and _is_section(path):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def normalize_keys(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Flatten ``values`` and map users' spellings to field keys; also list the old spellings used.

    Example:
        >>> normalize_keys({"optim": {"ema_decay": 0.9}})
        ({'optim.ema': 0.9}, [])
        >>> normalize_keys({"optim.ema": 0.9})
        ({'optim.ema': 0.9}, ['optim.ema'])
    """
    flat = flatten(values)
    out: dict[str, Any] = {}
    old: list[str] = []
    for key, value in flat.items():
        if key in DEPRECATED_KEYS:
            old.append(key)
        out[KEY_ALIASES.get(key, key)] = value
    return out, old


def _is_section(path: str) -> bool:
    """True when ``path`` names a sub-dataclass of TrainConfig (not a dict-valued field)."""
    tp: Any = TrainConfig
    for part in path.split("."):
        hints = typing.get_type_hints(tp) if dataclasses.is_dataclass(tp) else {}
        if part not in hints:
            return False
        tp = hints[part]
    return dataclasses.is_dataclass(tp)


def all_keys(cls: Any = TrainConfig, prefix: str = "") -> list[str]:
    """Every settable dotted field key of the config tree, e.g. ``optim.lr_g``.

    Example:
        >>> "monitor.act" in all_keys()
        True
    """
    keys: list[str] = []
    for name, tp in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(tp):
            keys.extend(all_keys(tp, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _public_keys() -> list[str]:
    return [_FIELD_TO_PUBLIC.get(k, k) for k in all_keys()]


def config_from_dict(
    values: Mapping[str, Any], *, source: str = "config", base: TrainConfig | None = None
) -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested or dotted dict, on top of ``base``.

    Either spelling of a key is accepted silently here (a stored run's config of any version
    loads); :func:`featmatch.train.config.build_config` warns about old spellings in what users write.

    Args:
        values: nested (``{"optim": {"lr_g": 1e-3}}``) or dotted (``{"optim.lr_g": 1e-3}``) keys.
        source: where the values came from, for error messages (e.g. a file name).
        base: the config to start from; default ``TrainConfig()``.

    Raises:
        ValueError: on an unknown key (with close-match suggestions) or a value of the wrong type.

    Example:
        >>> config_from_dict({"optim": {"lr_g": 0.001}}).optim.lr_g
        0.001
    """
    cfg = copy.deepcopy(base) if base is not None else TrainConfig()
    flat, _ = normalize_keys(values)
    known = all_keys()
    for key, value in flat.items():
        owner, leaf, tp = _locate(cfg, key, known)
        if owner is None:
            raise ValueError(_unknown_key_message(key, source))
        if tp is None:  # one entry of a dict-valued field, e.g. model.options.spectral_norm
            owner[leaf] = value
        else:
            setattr(owner, leaf, _coerce(value, tp, _FIELD_TO_PUBLIC.get(key, key), source))
    return cfg


def _locate(cfg: TrainConfig, key: str, known: list[str]) -> tuple[Any, str, Any]:
    """``(object holding the key, attribute or dict key, its annotation or None for a dict entry)``."""
    parts = key.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head not in known:
            continue
        obj: Any = cfg
        for part in parts[: cut - 1]:
            obj = getattr(obj, part)
        tp = typing.get_type_hints(type(obj))[parts[cut - 1]]
        if cut == len(parts):
            return obj, parts[-1], tp
        if tp is dict or typing.get_origin(tp) is dict:
            return getattr(obj, parts[cut - 1]), ".".join(parts[cut:]), None
        break
    return None, "", None


def _unknown_key_message(key: str, source: str) -> str:
    known = _public_keys()
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, known, n=2, cutoff=0.75)
    close += [k for k in known if k.rsplit(".", 1)[-1] == leaf and k not in close]
    section = key.rsplit(".", 1)[0] if "." in key else ""
    in_section = [k for k in known if k.startswith(section + ".")] if section else []
    msg = f"unknown key {key!r} in {source}."
    if close:
        msg += " Did you mean " + " or ".join(repr(c) for c in close[:3]) + "?"
    if in_section:
        msg += f" Keys allowed in {section!r}: " + ", ".join(k.split(".")[-1] for k in in_section) + "."
    elif not close:
        msg += " Top-level keys: " + ", ".join(sorted({k.split(".")[0] for k in known})) + "."
    return msg


# Which Python values each annotation accepts (bool is not an int here, an int is a float).
_SCALARS: dict[Any, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert the harmless cases (int -> float, tuple -> list)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):  # X | None, str | int
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(members) < len(typing.get_args(tp)):
            return None
        for member in members:
            try:
                return _coerce(value, member, key, source)
            except ValueError:
                continue
    elif tp is Any:
        return value
    elif tp in _SCALARS:
        if isinstance(value, _SCALARS[tp]) and not (tp is not bool and isinstance(value, bool)):
            return float(typing.cast(float, value)) if tp is float else value
    elif origin is list and isinstance(value, (list, tuple)):
        (item,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item, key, source) for v in value]
    elif (origin is dict or tp is dict) and isinstance(value, Mapping):
        return dict(value)
    flag = FIELD_FLAGS.get(key)
    where = f" (flag {flag})" if flag else ""
    hint = f" Hint: e.g. {key}: {_example(tp)}."
    if isinstance(value, str) and _is_number_text(value):
        hint = " Hint: a value in quotes is a string; write it without quotes (YAML reads 4000 as a number)."
    raise ValueError(
        f"config field {key!r}{where} in {source} must be of type {_type_name(tp)}; "
        f"got {value!r} ({type(value).__name__}).{hint}"
    )


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _example(tp: Any) -> str:
    union = typing.get_origin(tp) in (Union, types.UnionType)
    members = [a for a in typing.get_args(tp) if a is not type(None)] if union else [tp]
    first = members[0]
    if typing.get_origin(first) is list:
        item = _example(typing.get_args(first)[0]) if typing.get_args(first) else "a"
        return f"[{item}, {item}]"
    examples = {bool: "true", int: "10", float: "0.5", str: "text", dict: "{k: v}"}
    return examples.get(typing.get_origin(first) or first, "...")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is not None:
        return str(tp)  # list[float]
    return getattr(tp, "__name__", None) or str(tp)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config file into a nested dict.

    Raises:
        ValueError: the file is missing, has another extension, or does not parse to a mapping.

    Example:
        >>> load_config_file("run.yaml")  # doctest: +SKIP
        {'data': {'name': 'ring8'}}
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist. Hint: check the --config path.")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix in (".yaml", ".yml"):
        import yaml  # optional dependency (pyyaml, the train extra's)

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    elif suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib  # optional dependency: in the standard library from Python 3.11
        else:
            import tomli as tomllib  # optional dependency before Python 3.11
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"config file {str(path)!r} is not valid TOML: {err}") from err
    else:
        raise ValueError(f"config file {str(path)!r} must end in .yaml, .yml or .toml; got {suffix!r}.")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(  # not TypeError: a user's file, reported in one line like every config error
            f"config file {str(path)!r} must contain a mapping of keys to values; got {type(data).__name__}."
        )
    return data


def to_yaml(cfg: TrainConfig) -> str:
    """The config as YAML text, sections in declaration order (what ``--print-config`` shows).

    Example:
        >>> to_yaml(TrainConfig()).splitlines()[0]
        'steps: 2000'
    """
    import yaml  # optional dependency (pyyaml, the train extra's)

    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)
