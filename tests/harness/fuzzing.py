"""Hypothesis strategies for hostile callbacks, and the check that an alert is one Alertmanager 0.25 accepts."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hypothesis import strategies as st

from bridge.vendors._fields import load_json
from tests.harness import fixtures

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; "
                 "charset=UTF-8", "text/plain", "", "application/xml", "multipart/form-data; boundary=x",
                 "application/vnd.api+json", "application/json; charset=latin-1", "text/html", "*/*",
                 "application/octet-stream")


def assert_acceptable(alert: dict[str, Any]) -> None:
    """Fail unless Alertmanager 0.25's API would accept this postable alert (api/v2 validation)."""
    labels, annotations = alert["labels"], alert["annotations"]
    assert labels, "an alert needs at least one label"
    for kind, pairs in (("label", labels), ("annotation", annotations)):
        for name, value in pairs.items():
            assert LABEL_NAME.match(name) and not name.startswith("__"), f"invalid {kind} name {name!r}"
            assert isinstance(value, str), f"{kind} {name}: {value!r} is not a string"
            value.encode("utf-8")  # raises on lone surrogates: not valid UTF-8
    starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
    assert starts <= ends, f"startsAt {alert['startsAt']} after endsAt {alert['endsAt']}"
    assert starts.year >= 1970
    json.dumps(alert, ensure_ascii=False, allow_nan=False).encode("utf-8")


UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
"""What no label or annotation may carry: controls (annotations keep tab and line feed), bidi controls,
zero-width and other invisible characters, Unicode line and paragraph separators."""


def assert_safe_text(alert: dict[str, Any]) -> None:
    """Fail if a value could rewrite a terminal or reorder text in a receiver (issue 19 item 10)."""
    for name, value in alert["labels"].items():
        assert not UNSAFE_TEXT.search(value) and "\t" not in value and "\n" not in value, f"label {name}: {value!r}"
    for name, value in alert["annotations"].items():
        assert not UNSAFE_TEXT.search(value), f"annotation {name}: {value!r}"


def fixture_payloads() -> list[tuple[str, str, bytes]]:
    """Every stored vendor sample: (vendor, content type, body)."""
    found = []
    for path in fixtures.sample_paths():
        if path.stat().st_size == 0:
            continue
        found.append((path.parent.name, fixtures.content_type(path), path.read_bytes()))
    return found


SAMPLES = fixture_payloads()

TRICKY = ["", "null", "0", "1", "-", "-1", "1e999", "NaN", "OK", "ALERT", "ALARM", "INSUFFICIENT_DATA",
          "2017-03-09 07:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "1685614196421", "99999999999999",
          "1e300", "-1e300", "{a=b, c=d}", '[{"k":"v"}]', "__name__", "1abc", "a b", "中文", "\ud800", "x" * 3000,
          "[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000,
          "{" + ", ".join(f"k{i}=v" for i in range(60)) + "}",
          "\x00\x1b[31mred\x1b[0m\u202eevil\u2066\x9b", "\t\r\n",
          "web\u200b-1\u200c\u200d\u2060\ufeff", "line\u2028para\u2029"]
"""Values that have broken parsers before: absent-likes, extreme times and numbers, deep JSON in a string,
control characters, terminal escapes and bidi overrides (issue 19 item 10)."""
texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(TRICKY)
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | texts)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(texts, inner, max_size=5), max_leaves=30)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*prefix, index))
    return paths


def leaf_paths(value: Any) -> list[tuple]:
    """Paths to every scalar of a parsed payload."""
    return [path for path in _paths(value) if not isinstance(_get(value, path), dict | list)]


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


JSON_TEXT_FIELDS = {"message"}
"""Fields whose string is a JSON object (Huawei SMN's ``message``, the Cloud Eye alarm): fuzzed inside too,
kept a JSON string, so the body still reaches the alarm it carries."""


def _nested_variants(payload: Any, seen: set[frozenset]) -> list[Any]:
    """``payload`` with one leaf inside a :data:`JSON_TEXT_FIELDS` string set to each TRICKY value; only for the
    first sample of each inner shape (key set, in ``seen``): the others would repeat its cases."""
    variants = []
    for key in JSON_TEXT_FIELDS & (payload.keys() if isinstance(payload, dict) else set()):
        raw = payload[key]
        inner = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else None
        if not isinstance(inner, dict) or frozenset(inner) in seen:
            continue
        seen.add(frozenset(inner))
        for path in leaf_paths(inner):
            variants += [{**payload, key: json.dumps(_replace(inner, path, value), ensure_ascii=False)}
                         for value in TRICKY]
    return variants


PATHS_ONCE = frozenset({"azure"})
"""Vendors whose samples share one schema (Azure's common alert schema: the same essentials in every
sample, the same context fields in each signal's samples): each field path is varied in the first sample
that has it, not in every one. Varying all of Azure's 16 samples would add 18 000 cases (35 s)."""
UNREAD_PATHS = {"azure": ("data", "alertContext", "SearchResults", "tables")}
"""Fields a vendor's parser never reads (a log search's result rows), left out of the exhaustive test."""


def every_field_with_every_tricky_value() -> list[tuple[str, str, bytes]]:
    """Each sample with one field set to one TRICKY value, every combination: (vendor, content type, body)."""
    cases: list[tuple[str, str, bytes]] = []
    shapes: set[frozenset] = set()
    varied: set[tuple[str, tuple]] = set()
    for vendor, content_type, body in SAMPLES:
        if content_type == "application/json":
            payload = load_json(body)
            for path in leaf_paths(payload):
                unread = UNREAD_PATHS.get(vendor)
                if (unread and path[:len(unread)] == unread) or (vendor, path) in varied:
                    continue
                if vendor in PATHS_ONCE:
                    varied.add((vendor, path))
                for value in TRICKY:
                    changed = json.dumps(_replace(payload, path, value)).encode()
                    cases.append((vendor, content_type, changed))
            cases += [(vendor, content_type, json.dumps(variant).encode("utf-8", "surrogatepass"))
                      for variant in _nested_variants(payload, shapes)]
        else:
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
            for key in fields:
                for value in TRICKY:
                    changed = urlencode({**fields, key: value.encode("utf-8", "surrogatepass")}).encode()
                    cases.append((vendor, content_type, changed))
    return cases


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def mutated_json(draw: st.DrawFn, vendor: str | None = None) -> tuple[str, bytes]:
    """A real JSON sample with one to three of its values (or subtrees) replaced by arbitrary JSON."""
    choices = [(v, body) for v, ct, body in SAMPLES if ct == "application/json" and vendor in (None, v)]
    name, body = draw(st.sampled_from(choices))
    payload = load_json(body)  # leniently: Kingsoft's sample has a trailing comma
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(payload)))
        payload = _replace(payload, path, draw(st.sampled_from(TRICKY) | json_values))
    # ASCII escapes carry lone surrogates (\ud800) into parsed strings; raw output makes invalid UTF-8
    return name, json.dumps(payload, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@st.composite
def mutated_form(draw: st.DrawFn) -> bytes:
    """A real Alibaba form body with fields replaced, dropped or added."""
    body = draw(st.sampled_from([b for v, ct, b in SAMPLES if ct.endswith("urlencoded")]))
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(sorted(fields)) | texts)
        if draw(st.booleans()):
            fields[key] = draw(st.sampled_from(TRICKY) | texts)
        else:
            fields.pop(key, None)
    return urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                      for k, v in fields.items()]).encode()


form_bodies = st.lists(st.tuples(texts, texts), max_size=12).map(
    lambda pairs: urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                             for k, v in pairs]).encode())


def deep(depth: int, opener: str = "[") -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return ('{"a":' * depth + "1" + closer * depth).encode()
    return (opener * depth + closer * depth).encode()


deep_bodies = st.builds(deep, st.integers(1, 200_000), st.sampled_from("[{"))

SLOW_SHAPES = {
    "unterminated escaped quotes": ('"', '\\"'),
    "escaped quotes in an object": ('{"a": "', '\\"'),
    "backslashes": ('"', "\\"),
    "quotes": ("", '"'),
    "commas": ("[", ","),
    "spaced commas": ("[1", ", "),
    "deep arrays": ("", "["),
    "deep objects": ("", '{"a":'),
    "closers": ("", "]"),
    "java map commas": ("{a=", ","),
    "quoted java map commas": ('{"a=', ","),
    "inner spaces": ("a", " "),
}
"""(prefix, repeated unit) of texts that made, or could make, a parser take super-linear time."""


def pathological(shape: str, size: int) -> str:
    """About ``size`` characters of one of SLOW_SHAPES."""
    prefix, unit = SLOW_SHAPES[shape]
    return prefix + unit * max(1, (size - len(prefix)) // len(unit))


pathological_texts = st.builds(pathological, st.sampled_from(sorted(SLOW_SHAPES)), st.integers(1, 20_000))
invalid_utf8 = st.binary(max_size=200).map(lambda b: b'{"alarmStatus": "1", "x": "' + b + b'\xff\xfe"}')


# --- the web tier's shapes (issue 19: request lines, credentials, framing, secret parameter names) --------

SECRET_NAME_SPELLINGS = ("token", "TOKEN", "%74oken", "t%6Fken", "%2574oken", "token[]", "token%5B%5D", "token%00",
                         "token%20", "tokens", "access_token", "signature", "Token+")
"""How a secret parameter may be named in a query, as a client mangles or mistypes it."""
secret_parameters = st.builds(lambda before, name, sep: f"{before}{sep}{name}=" if before else f"{name}=",
                              st.sampled_from(["", "x=1", "sessionId=a", "a"]), st.sampled_from(SECRET_NAME_SPELLINGS),
                              st.sampled_from(["&", ";"]))
"""The query up to a secret's value: ``x=1;token[]=``."""
raw_targets = st.builds(lambda path, query: path + (b"?" + query if query is not None else b""),
                        st.sampled_from([b"/callbacks/tencent", b"/callbacks//tencent", b"//callbacks/aliyun",
                                         b"/callbacks/kingsoft/", b"/callbacks/%74encent", b"/-/reload", b"/metrics",
                                         b"/callbacks/tencent\xff", b"/callbacks/\xc3\xa9", b"/"]),
                        st.none() | st.binary(max_size=30) | st.sampled_from([b"\xff", b"token=\xc3", b"%ff%fe"]))
"""Request targets with raw bytes a client may put in the request line."""
authorization_values = st.one_of(
    st.binary(max_size=30).map(lambda raw: b"Basic " + raw),
    st.binary(max_size=30).map(lambda raw: b"Bearer " + raw),
    st.sampled_from([b"Basic \xc3\xa9", b"Basic ====", b"Basic dXNlcg==", b"Basic Og==", b"basic", b"Bearer"]),
).filter(lambda value: b"\r" not in value and b"\n" not in value)
"""Authorization header values as bytes on the wire (gunicorn hands them over latin-1 decoded)."""


def chunked(body: bytes, sizes: list[int]) -> bytes:
    """``body`` in chunked transfer coding, cut into chunks of the given sizes (then the rest)."""
    chunks, at = [], 0
    for size in sizes:
        if at >= len(body):
            break
        chunks.append(body[at:at + size])
        at += size
    if at < len(body):
        chunks.append(body[at:])
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk) + b"0\r\n\r\n"
