"""Building blocks of the config schema (pydantic v2), shared by every module that owns a section.

A `Section` is a frozen pydantic model that rejects unknown keys and coerces nothing silently
(strict mode: "3" is not an int, 1 is not a bool). `one_of(A, B, ...)` is a section that comes in
kinds, chosen by a `type`-like key: the classes themselves are the registry, so the config accepts
exactly the kinds the code can build, and each kind accepts only its own keys.
"""
import difflib
import json
import typing
from dataclasses import dataclass

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag
from pydantic_core import to_jsonable_python


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _number_from_text(value):
    """YAML 1.1 reads 5e-4 (no dot) as a string; accept it as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _tuple_from_list(value):
    return tuple(value) if isinstance(value, list) else value  # YAML and JSON have lists, not tuples


Float = typing.Annotated[float, BeforeValidator(_number_from_text)]
FloatPair = typing.Annotated[typing.Tuple[float, float], BeforeValidator(_tuple_from_list)]
Probability = typing.Annotated[float, BeforeValidator(_number_from_text), Field(ge=0, lt=1)]


def choice(names):
    """A `Literal` of the given names: a registry's keys become the values a key accepts."""
    return typing.Literal[tuple(names)]


@dataclass(frozen=True)
class Kinds:
    """Marks a `one_of` field for config tools: which key picks the kind, and the class of each kind."""
    key: str
    members: dict

    @property
    def default(self):
        return next(iter(self.members))


def one_of(*members, key="type"):
    """A section that is one of `members`, told apart by `key` (its `Literal` default in each class).

    The first member is the default kind: a section that omits `key` is of that kind.
    """
    kinds = Kinds(key, {m.model_fields[key].default: m for m in members})

    def kind_of(value):
        if isinstance(value, dict):
            return value.get(key, kinds.default)
        return getattr(value, key, None)

    union = typing.Union[tuple(typing.Annotated[m, Tag(tag)] for tag, m in kinds.members.items())]
    return typing.Annotated[union, Discriminator(kind_of), kinds]


def kinds_of(field):
    """The `Kinds` of a `one_of` field, or None for an ordinary field."""
    return next((m for m in field.metadata if isinstance(m, Kinds)), None)


def section_class(field):
    """The Section class of a field that is a plain nested section, or None."""
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, Section) else None


def item_section_class(field):
    """The Section class of a field that is a list of sections, or None."""
    if typing.get_origin(field.annotation) is not list:
        return None
    (item,) = typing.get_args(field.annotation)
    return item if isinstance(item, type) and issubclass(item, Section) else None


# --- for people: one-line errors and a listing of every key -----------------------------------------

def explain(error, raw, cls, hint=lambda key: ""):
    """(dotted key, one-line message) for one pydantic error of `cls.model_validate(raw)`, with the key
    as the user wrote it (pydantic's location also holds the tags of `one_of` kinds). `hint(key)`
    may add a word about a key that is wrong."""
    path, owner, node, field = [], cls, raw, None
    loc = list(error["loc"])
    while loc:
        part = loc.pop(0)
        fields = owner.model_fields if owner else {}
        if part not in fields:
            path.append(str(part))
            break
        path.append(part)
        node, field = (node.get(part) if isinstance(node, dict) else None), fields[part]
        kinds = kinds_of(field)
        if kinds:
            owner = kinds.members.get(str(node.get(kinds.key, kinds.default))) if isinstance(node, dict) else None
            if loc and owner is not None:
                loc.pop(0)  # the kind's tag
        elif loc and isinstance(loc[0], int) and item_section_class(field):  # an item of a list of sections
            index = loc.pop(0)
            path[-1] += f"[{index}]"
            node = node[index] if isinstance(node, list) and index < len(node) else None
            owner = item_section_class(field)
        else:
            owner = section_class(fields[part])
    key, kind, value = ".".join(path), error["type"], error.get("input")
    if kind == "extra_forbidden":
        return key, _unknown_key(path, raw, cls, hint)
    if kind == "union_tag_not_found":  # not a mapping, so no kind to read
        return key, f"config key {key}: expected a section of keys, got {value!r}{hint(key)}"
    if kind == "union_tag_invalid":
        kinds = kinds_at(path, cls)
        return f"{key}.{kinds.key}", (f"config key {key}.{kinds.key} must be one of {', '.join(kinds.members)}, "
                                      f"not {node.get(kinds.key)!r}")
    if kind == "value_error":  # checks across keys name their keys themselves
        return key, error["msg"].removeprefix("Value error, ")
    about = f" ({field.description})" if field is not None and field.description else ""
    return key, f"config key {key}: {error['msg'][:1].lower()}{error['msg'][1:]}, got {value!r}{about}{hint(key)}"


def _unknown_key(path, raw, cls, hint):
    key, parent = ".".join(path), path[:-1]
    kinds = kinds_at(parent, cls)
    if kinds:
        owners = [tag for tag, member in kinds.members.items() if path[-1] in member.model_fields]
        if owners:
            chosen = _dotted_get(raw, parent + [kinds.key]) or kinds.default
            return f"config key {key} applies to {'.'.join(parent)}.{kinds.key} {' or '.join(owners)}, not {chosen}"
    if hint(key):
        return f"unknown config key {key}{hint(key)}"
    owner = _section_at(parent, raw, cls)
    close = difflib.get_close_matches(path[-1], list(owner.model_fields), n=1) if owner else []
    return f"unknown config key {key}" + (f" (did you mean {'.'.join(parent + close)}?)" if close else "")


def _field_at(path, cls):
    owner, field = cls, None
    for part in path:
        field = owner.model_fields.get(part) if owner else None
        if field is None:
            return None
        owner = section_class(field)
    return field


def kinds_at(path, cls):
    """The `Kinds` of the `one_of` field at `path`, or None."""
    field = _field_at(path, cls) if path else None
    return kinds_of(field) if field is not None else None


def _section_at(path, raw, cls):
    """The Section class that holds the keys at `path` (for a `one_of`, the kind `raw` chose)."""
    if not path:
        return cls
    field, kinds = _field_at(path, cls), kinds_at(path, cls)
    if kinds:
        return kinds.members.get(str(_dotted_get(raw, path + [kinds.key]) or kinds.default))
    return section_class(field) if field is not None else None


def _dotted_get(raw, path):
    for part in path:
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def describe(cls, prefix=""):
    """Lines `key: default  # help` for every key; each kind of a `one_of` under its own heading."""
    for name, field in cls.model_fields.items():
        key, kinds = f"{prefix}{name}", kinds_of(field)
        if kinds:
            for tag, member in kinds.members.items():
                yield f"# {key} with {kinds.key}: {tag}"
                yield from describe(member, f"{key}.")
        elif section_class(field):
            yield from describe(section_class(field), f"{key}.")
        else:
            yield f"{key}: {json.dumps(to_jsonable_python(field.default))}  # {field.description or ''}"


def to_dict(section):
    """Plain nested data of a section (tuples as lists), for YAML and JSON."""
    return section.model_dump(mode="json")


def dump_yaml(section):
    return yaml.safe_dump(to_dict(section), sort_keys=False)
