"""Turns a Python dict into YAML text (block style), without needing a YAML library.

Every string is double-quoted with JSON escapes (valid YAML), so values such as "2s", "*", "on"
or "0755" are never re-typed by the YAML parser.
"""

import json
import re

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _scalar(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML: {value!r}")


def _key(key):
    key = str(key)
    return key if _PLAIN_KEY.match(key) and key.lower() not in (
        "true", "false", "null", "yes", "no", "on", "off", "y", "n") else json.dumps(key)


def _emit(value, indent, out):
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            out.append(pad + "{}")
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{_key(k)}:")
                _emit(v, indent + 1, out)
            else:
                out.append(f"{pad}{_key(k)}: {_inline(v)}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append(pad + "[]")
        for item in value:
            if isinstance(item, (dict, list, tuple)) and item:
                sub = []
                _emit(item, indent + 1, sub)
                # "- " replaces the first line's indentation, YAML's compact nested form.
                first = sub[0][len(pad) + 2:]
                out.append(f"{pad}- {first}")
                out.extend(sub[1:])
            else:
                out.append(f"{pad}- {_inline(item)}")
    else:
        out.append(pad + _scalar(value))


def _inline(value):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _scalar(value)


def to_yaml(value):
    out = []
    _emit(value, 0, out)
    return "\n".join(out) + "\n"
