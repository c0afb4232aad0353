"""Fingerprints, object keys and stored labels are spelled by hand for speed (issue 16): they must stay byte for
byte what ``json.dumps`` wrote, or every stored alert would change its identity across the upgrade."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model import label_hash
from bridge.store.base import dump_map
from bridge.store.journal import CallbackRecord

HOSTILE = ["", "web-1", 'a"b', "a\\b", "tab\there", "nl\nx", "\x00\x1f\x7f", "ключ", "名称", "🙂", "\u2028",
           "lone \ud800 surrogate", "</script>", "é" * 40]


def reference_hash(labels: dict) -> str:
    encoded = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@pytest.mark.parametrize("text", HOSTILE)
def test_label_hash_and_dump_map_spell_hostile_strings_as_json_dumps_did(text: str) -> None:
    labels = {"alertname": text, text: "v", "z" + text: text * 2}
    assert label_hash(labels) == reference_hash(labels)
    assert dump_map(labels) == json.dumps(labels, ensure_ascii=False, sort_keys=True)


@given(st.dictionaries(st.text(), st.text(), max_size=8))
def test_label_hash_and_dump_map_are_json_dumps_for_any_strings(labels: dict[str, str]) -> None:
    assert label_hash(labels) == reference_hash(labels)
    assert dump_map(labels) == json.dumps(labels, ensure_ascii=False, sort_keys=True)


def test_values_that_are_not_strings_are_spelled_as_json_dumps_did() -> None:
    labels = {"b": 1, "a": None, "c": 2.5, "d": True}
    assert label_hash(labels) == reference_hash(labels)  # type: ignore[arg-type]
    assert dump_map(labels) == json.dumps(labels, ensure_ascii=False, sort_keys=True)  # type: ignore[arg-type]
    assert dump_map({}) == "{}"
    assert label_hash({}) == reference_hash({})


def test_a_journal_record_is_stored_as_json_dumps_wrote_it() -> None:
    record = CallbackRecord(received_at=1.5, vendor="tencent", source="10.0.0.1", outcome="accepted", status=200,
                            body='{"名称": "a\\"b"}', body_truncated=True,
                            alerts=({"labels": {"a": "é"}, "annotations": {}, "state": "firing"},))
    expected = {name: getattr(record, name) for name in (
        "received_at", "vendor", "source", "outcome", "status", "error", "content_type", "query", "body",
        "body_bytes", "body_truncated", "alerts", "alerts_omitted")}
    assert record.to_json() == json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
