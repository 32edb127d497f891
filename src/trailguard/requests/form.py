"""The drafting form, generated from the request types that validate the API.

One source of truth: each field of a request kind's pydantic model (``domain.types``) becomes
a form field (label from the model's ``ELEMENTS`` with its treaty article, help text from the
field's description, widget from its type); the form's answers are turned back into the same
plain data the JSON API takes and validated by ``parse_request``. Plain Python: no web
imports.

Names are dotted paths into the request (``requesting_authority.email``,
``data_to_preserve.0.ip``) so that a validation problem, which names the same path, is shown
next to its field."""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from annotated_types import MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from trailguard.core.apitypes import COUNTRY_SCHEMA
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.types import REQUEST_TYPES

SKIPPED = {"kind", "legal_basis", "source_offset", "type"}
_COMMON_LABELS = {
    "reference": "Reference / case number (T-CY(2018)11 field 2)",
    "date_issued": "Date of the request (T-CY(2018)11 field 1)",
    "requesting_party": "Requesting Party",
    "requested_party": "Requested Party",
    "requesting_authority": "Requesting authority (T-CY(2018)11 field 5)",
    "requested_authority": "Requested authority (T-CY(2018)11 field 4)",
    "confirmation_contact": "Contact for additional confirmation (T-CY(2018)11 field 6)",
    "status": "New request or extension of an earlier one (T-CY(2018)11 field 3)",
    "previous_reference": "Reference of the earlier request (for an extension)",
}
_NESTED_LABELS = {
    "tlp": "Traffic Light Protocol (TLP)",
    "code": "Handling code",
    "ip": "IP address (IPv4 or IPv6)",
    "port": "Source port",
    "timestamp": "Time (with zone)",
}
_HELP = {
    "datetime": "ISO 8601 with the zone it was logged in, e.g. 2026-11-20T03:14:07-05:00 "
    "(the offset is kept beside the UTC time).",
    "date": "ISO date, YYYY-MM-DD.",
    "numbers": "Numbers separated by commas.",
    "lines": "One per line.",
}
LONG_TEXT = 2_000  # a string field allowed longer than this is a text area


@dataclass
class FormField:
    name: str  # dotted path into the request
    label: str
    help: str
    widget: str  # text textarea checkbox select country date datetime number numbers lines
    #              group rows
    required: bool
    choices: list[str] = field(default_factory=list)
    children: list[FormField] = field(default_factory=list)  # group: its fields
    variants: dict[str, list[FormField]] = field(default_factory=dict)  # rows: per row type
    default: str = ""  # what the field shows when the request gives nothing

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(the type, its Annotated metadata) with ``X | None`` reduced to X."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            annotation, metadata = args[0], metadata + list(args[1:])
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation, metadata


def _variant_models(annotation: Any) -> list[type[BaseModel]] | None:
    args = typing.get_args(annotation)
    if args and all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
        return list(args)
    return None


def _humanise(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _is_country(metadata: list[Any], info: FieldInfo) -> bool:
    for item in [*metadata, *info.metadata]:
        if getattr(item, "json_schema", None) is COUNTRY_SCHEMA:
            return True
    return False


def _max_length(metadata: list[Any], info: FieldInfo) -> int | None:
    for item in [*metadata, *info.metadata]:
        if isinstance(item, MaxLen):
            return int(item.max_length)
        value = getattr(item, "max_length", None)
        if isinstance(value, int):
            return value
    return None


def _field(
    model: type[BaseModel], name: str, info: FieldInfo, prefix: str, top: bool
) -> FormField | None:
    if name in SKIPPED:
        return None
    annotation, metadata = _unwrap(info.annotation)
    elements: dict[str, str] = getattr(model, "ELEMENTS", {}) if top else {}
    label = (
        elements.get(name)
        or (_COMMON_LABELS.get(name) if top else _NESTED_LABELS.get(name))
        or _humanise(name)
    )
    help_text = info.description or ""
    if help_text and (help_text in label or help_text[:14] == label[:14]):
        help_text = ""
    path = f"{prefix}{name}"
    required = info.is_required()
    spec = FormField(path, label, help_text, "text", required, default=_default_text(info))
    origin = typing.get_origin(annotation)
    if annotation is bool:
        spec.widget = "checkbox"
    elif origin is typing.Literal:
        spec.widget, spec.choices = "select", [str(a) for a in typing.get_args(annotation)]
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        spec.widget, spec.choices = "select", [str(m.value) for m in annotation]
    elif annotation is dt.datetime:
        spec.widget = "datetime"
    elif annotation is dt.date:
        spec.widget = "date"
    elif annotation is int or annotation is float:
        spec.widget = "number"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        spec.widget = "group"
        spec.children = fields_of(annotation, prefix=f"{path}.")
    elif origin is list:
        (item,) = typing.get_args(annotation) or (str,)
        item, _meta = _unwrap(item)
        variants = _variant_models(item)
        if isinstance(item, type) and issubclass(item, BaseModel):
            variants = [item]
        if variants:
            spec.widget = "rows"
            for variant in variants:
                tag = variant.model_fields.get("type")
                key = str(tag.default) if tag is not None and tag.default else variant.__name__
                spec.variants[key] = fields_of(variant, prefix=f"{path}.__row__.")
        elif isinstance(item, type) and issubclass(item, enum.Enum):
            spec.widget, spec.choices = "multi", [str(m.value) for m in item]
        elif typing.get_origin(item) is typing.Literal:
            spec.widget, spec.choices = "multi", [str(a) for a in typing.get_args(item)]
        elif item is int:
            spec.widget = "numbers"
        elif item is str or typing.get_origin(item) is typing.Annotated:
            spec.widget = "lines"
        else:
            return None
    elif origin in (typing.Union, types.UnionType):
        spec.widget = "text"  # e.g. an IPv4 or IPv6 address: typed text, checked by the model
    elif annotation is str or annotation is Any:
        if _is_country(metadata, info):
            spec.widget = "country"
        else:
            limit = _max_length(metadata, info)
            spec.widget = "textarea" if limit is None or limit > LONG_TEXT else "text"
            if limit is None and annotation is str and not name.endswith(("instruction",)):
                spec.widget = "text"
    else:
        return None
    if not spec.help:
        spec.help = _HELP.get(spec.widget, "")
    return spec


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return ""
    value = info.get_default(call_default_factory=True)
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if value is None or isinstance(value, BaseModel | list | dict):
        return ""
    return str(value)


def fields_of(model: type[BaseModel], prefix: str = "") -> list[FormField]:
    top = prefix == ""
    found = []
    for name, info in model.model_fields.items():
        spec = _field(model, name, info, prefix, top)
        if spec is not None:
            found.append(spec)
    return found


def form_for(kind: RequestKind) -> list[FormField]:
    """The form of a request kind: one field per element of its model."""
    return fields_of(REQUEST_TYPES[kind])


# --- answers -> plain data -----------------------------------------------------------------


def _row_indexes(form: Mapping[str, Sequence[str]], path: str) -> list[int]:
    pattern = re.compile(re.escape(path) + r"\.(\d+)\.")
    return sorted({int(m.group(1)) for key in form for m in [pattern.match(key)] if m})


def _one(form: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = form.get(name)
    if not values:
        return None
    return str(values[-1])


def _value(spec: FormField, form: Mapping[str, Sequence[str]], name: str) -> Any:
    """The plain value of one field, or ``...`` when it was left empty (and is optional)."""
    raw = _one(form, name)
    if spec.widget == "checkbox":
        return raw is not None and raw not in ("", "0", "false", "off")
    text = (raw or "").strip()
    if spec.widget == "number":
        if not text:
            return "" if spec.required else ...
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text  # refused by the model, named next to the field
    if spec.widget == "numbers":
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return [int(p) if p.lstrip("-").isdigit() else p for p in parts]
    if spec.widget == "multi":
        return [str(v) for v in form.get(name, []) if str(v)]
    if spec.widget == "lines":
        return [line.strip() for line in (raw or "").splitlines() if line.strip()]
    if not text and not spec.required:
        return ...
    return text


def _collect(specs: list[FormField], form: Mapping[str, Sequence[str]], base: str) -> dict:
    out: dict[str, Any] = {}
    for spec in specs:
        leaf = spec.name.rsplit(".", 1)[-1]
        name = base + leaf
        if spec.widget == "group":
            out[leaf] = _collect(spec.children, form, name + ".")
            continue
        if spec.widget == "rows":
            rows = []
            for index in _row_indexes(form, name):
                row_base = f"{name}.{index}."
                kind = _one(form, row_base + "type") or next(iter(spec.variants))
                variant = spec.variants.get(kind)
                if variant is None:
                    rows.append({"type": kind})
                    continue
                row = _collect(variant, form, row_base)
                typed = [s.name.rsplit(".", 1)[-1] for s in variant if s.widget != "select"]
                if index > 0 and not any(row.get(k) not in (None, "", [], False) for k in typed):
                    continue  # an added row left empty
                if kind in _TAGGED:
                    row = {"type": kind, **row}
                rows.append(row)
            out[leaf] = rows
            continue
        value = _value(spec, form, name)
        if value is not ...:
            out[leaf] = value
    return out


_TAGGED = {"ip_endpoint", "time_range", "account", "email", "domain", "phone"}


def body_from_form(kind: RequestKind, form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The plain request (as the JSON API takes it) from the form's answers."""
    return {"kind": kind.value, **_collect(form_for(kind), form, "")}


RESERVED_QUERY = {"kind", "recipient", "retention", "source"}


def merge_prefill(
    kind: RequestKind, body: Mapping[str, Any], given: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Any], list[str]]:
    """The skeleton ``body`` with the values another page passed (dotted field names, as the
    form names them: ``reference``, ``data_to_preserve.0.ip``) written over it, read through the
    form exactly as typed answers are. Returns the body and the names that are no field of this
    kind (ignored, and said so)."""
    specs = form_for(kind)
    answers: dict[str, list[str]] = {
        name: (value.split("\n") if spec_widget(specs, name) == "multi" else [value])
        for name, value in prefill(specs, body).items()
    }
    passed = {k: [str(v) for v in vals] for k, vals in given.items() if k not in RESERVED_QUERY}
    rows = {name: 1 + max(_row_indexes(passed, name) or [0]) for name in _rows_names(specs)}
    for name, count in row_counts(body, specs).items():
        rows[name] = max(rows.get(name, 1), count)
    known = {f.name for f in rendered_fields(specs, rows)}
    ignored = sorted(name for name in passed if name not in known)
    answers.update({k: v for k, v in passed.items() if k in known})
    return body_from_form(kind, answers), ignored


def _rows_names(specs: list[FormField]) -> list[str]:
    names: list[str] = []
    for spec in specs:
        if spec.widget == "rows":
            names.append(spec.name)
        elif spec.widget == "group":
            names.extend(_rows_names(spec.children))
    return names


def spec_widget(specs: list[FormField], name: str) -> str | None:
    for spec in specs:
        if spec.name == name:
            return spec.widget
        if spec.widget == "group":
            found = spec_widget(spec.children, name)
            if found:
                return found
    return None


# --- plain data -> values to show ----------------------------------------------------------


def values_from_body(body: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted name -> the text a field shows, from a plain request (for pre-filling)."""
    out: dict[str, str] = {}
    for key, value in body.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(values_from_body(value, name + "."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value):
                out.update(values_from_body(item, f"{name}.{index}."))
        elif isinstance(value, list):
            if all(isinstance(v, int) for v in value):
                out[name] = ", ".join(str(v) for v in value)
            else:
                out[name] = "\n".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[name] = "on" if value else ""
        elif value is None:
            out[name] = ""
        else:
            out[name] = str(value)
    return out


def prefill(specs: list[FormField], body: Mapping[str, Any]) -> dict[str, str]:
    """The text each field shows: the request's value, else the model's default (so that a
    default such as "do not notify the customer" is not lost by an unticked box)."""
    values = values_from_body(body)

    def walk(fields: list[FormField], prefix_map: dict[str, str]) -> None:
        for spec in fields:
            if spec.widget == "group":
                walk(spec.children, prefix_map)
            elif spec.widget == "rows":
                count = max(1, len(_dig(body, spec.name) or []))
                for index in range(count):
                    for variant in spec.variants.values():
                        renamed = [_renamed(v, spec.name, index) for v in variant]
                        walk(renamed, prefix_map)
            elif spec.name not in values and spec.default:
                prefix_map[spec.name] = spec.default

    walk(specs, values)
    return values


def _renamed(spec: FormField, rows_name: str, index: int) -> FormField:
    name = spec.name.replace(f"{rows_name}.__row__.", f"{rows_name}.{index}.", 1)
    return FormField(name, spec.label, spec.help, spec.widget, spec.required, spec.choices,
                     spec.children, spec.variants, spec.default)  # fmt: skip


def row_counts(body: Mapping[str, Any], specs: list[FormField]) -> dict[str, int]:
    """How many rows each repeatable field shows (at least one)."""
    counts: dict[str, int] = {}
    for spec in specs:
        if spec.widget == "rows":
            value = _dig(body, spec.name)
            counts[spec.name] = max(1, len(value) if isinstance(value, list) else 0)
        elif spec.widget == "group":
            counts.update(row_counts(body, spec.children))
    return counts


def rendered_fields(specs: list[FormField], rows: Mapping[str, int]) -> list[FormField]:
    """Every field the page shows, named as the template names it (children by their last name
    part under their parent, rows numbered ``name.0.x``, ``name.1.x``, ...), repeatable fields
    included (their errors sit above their rows)."""
    out: list[FormField] = []

    def walk(spec: FormField, name: str) -> None:
        if spec.widget == "group":
            for child in spec.children:
                walk(child, f"{name}.{child.name.rsplit('.', 1)[-1]}")
            return
        out.append(replace(spec, name=name))
        if spec.widget == "rows":
            for index in range(rows.get(name, 1)):
                for variant in spec.variants.values():
                    for child in variant:
                        walk(child, f"{name}.{index}.{child.name.rsplit('.', 1)[-1]}")

    for spec in specs:
        walk(spec, spec.name)
    return out


def live_problems(
    specs: list[FormField],
    rows: Mapping[str, int],
    answers: Mapping[str, Sequence[str]],
    problems: list[str],
) -> tuple[dict[str, list[str]], list[tuple[FormField, str]], list[str]]:
    """What the form says while someone types: errors next to the fields they have filled in
    (a value typed wrong is named at once), every problem in a summary (label and message, so a
    person finds the field), and problems that name no field.

    Returns (errors by rendered field name, [(field, message)] for the summary, general)."""
    by_field, general = problems_by_field(problems)
    shown = {f.name: f for f in rendered_fields(specs, rows)}
    typed = {name for name, values in answers.items() if any(v.strip() for v in values)}
    inline: dict[str, list[str]] = {}
    summary: list[tuple[FormField, str]] = []
    for name, messages in by_field.items():
        spec = shown.get(name)
        if spec is None:
            general.extend(f"{name}: {m}" if not m.startswith(name) else m for m in messages)
            continue
        for message in messages:
            summary.append((spec, message))
        if name in typed:
            inline[name] = messages
    return inline, summary, general


def _dig(body: Mapping[str, Any], dotted: str) -> Any:
    current: Any = body
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def problems_by_field(problems: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Each problem under the dotted field it names (``missing: x.y`` or ``x.y (...): msg``);
    those naming no field stay general."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for problem in problems:
        text = problem.removeprefix("missing: ")
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)", text)
        if match and match.group(1) not in ("request", "the", "a"):
            message = "required" if problem.startswith("missing: ") else problem
            # a union's member tag sits in the path: data_to_preserve.0.ip_endpoint.ip
            parts = match.group(1).split(".")
            path = ".".join(
                p
                for i, p in enumerate(parts)
                if not (p in _TAGGED and i > 0 and parts[i - 1].isdigit())
            )
            by_field.setdefault(path, []).append(_beside_field(match.group(1), message))
        else:
            general.append(problem)
    return {path: _merge_address_kinds(msgs) for path, msgs in by_field.items()}, general


def _beside_field(path: str, message: str) -> str:
    """A message shown beside its field does not repeat the field's path (nor the element's
    label in brackets that follows it)."""
    if message.startswith(path):
        rest = re.sub(r"^\s*(\([^)]*\))?\s*:\s*", "", message[len(path) :], count=1)
        return rest or message
    return message


def _merge_address_kinds(messages: list[str]) -> list[str]:
    """An address field refused as IPv4 and as IPv6 says so once."""
    v4 = [m for m in messages if "not a valid IPv4 address" in m]
    v6 = [m for m in messages if "not a valid IPv6 address" in m]
    if len(v4) == 1 and len(v6) == 1:
        merged = v4[0].replace("IPv4 address", "IPv4 or IPv6 address")
        return [merged if m is v4[0] else m for m in messages if m is not v6[0]]
    return messages
