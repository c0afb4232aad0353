"""Relabeling behaves as Prometheus' model/relabel/relabel.go (cases ported from its relabel_test.go)."""

from __future__ import annotations

import re

import pytest
import yaml

from bridge.rules.relabel import RelabelConfig, expand, process, relabel
from bridge.settings import ConfigError
from tests.harness.rules import rules


def configs(text: str) -> tuple[RelabelConfig, ...]:
    """Parse relabel configs as they are written in the configuration file."""
    return rules({"alert_relabel_configs": yaml.safe_load(text)}).relabel_configs


CASES = [
    ("replace with ${1} twice", {"a": "foo", "b": "bar", "c": "baz"},
     "[{source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}]",
     {"a": "foo", "b": "bar", "c": "baz", "d": "choo-choo"}),
    ("source labels joined by the separator; rules see earlier results",
     {"a": "foo", "b": "bar", "c": "baz"},
     """[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'},
         {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}]""",
     {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"}),
    ("drop stops processing", {"a": "foo"},
     "[{source_labels: [a], regex: '.*o.*', action: drop}, {source_labels: [a], target_label: d}]", None),
    ("replace defaults: regex (.*), replacement $1", {"a": "abc"},
     "[{source_labels: [a], target_label: d}]", {"a": "abc", "d": "abc"}),
    ("regex is anchored: a partial match is no match (drop)", {"a": "foo"},
     "[{source_labels: [a], regex: 'f|o', action: drop}]", {"a": "foo"}),
    ("regex is anchored: a partial match is no match (replace)", {"a": "boo"},
     "[{source_labels: [a], regex: f, target_label: b, replacement: bar}]", {"a": "boo"}),
    ("regex is anchored at the end too, even before a newline", {"a": "foo\n"},
     "[{source_labels: [a], regex: 'foo', action: drop}]", {"a": "foo\n"}),
    ("dot matches a newline, as in Prometheus 3 (^(?s:regex)$)", {"a": "foo\nbar"},
     "[{source_labels: [a], regex: 'foo.bar', action: drop}]", None),
    ("the default regex takes a multi-line value whole", {"a": "line 1\nline 2"},
     "[{source_labels: [a], target_label: b}]", {"a": "line 1\nline 2", "b": "line 1\nline 2"}),
    ("(?-s:...) turns it off", {"a": "foo\nbar"},
     "[{source_labels: [a], regex: '(?-s:foo.bar)', action: drop}]", {"a": "foo\nbar"}),
    ("keep without a match drops", {"a": "foo"}, "[{source_labels: [a], regex: no-match, action: keep}]", None),
    ("keep with a match keeps", {"a": "foo"}, "[{source_labels: [a], regex: 'f.*', action: keep}]", {"a": "foo"}),
    ("a missing source label reads as empty", {"a": "foo"},
     "[{source_labels: [missing], regex: '', action: keep}]", {"a": "foo"}),
    ("hashmod: md5, last 8 bytes big-endian, mod modulus", {"a": "foo", "b": "bar", "c": "baz"},
     "[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]",
     {"a": "foo", "b": "bar", "c": "baz", "d": "976"}),
    ("hashmod of a value with a newline", {"a": "foo\nbar"},
     "[{source_labels: [a], target_label: b, action: hashmod, modulus: 1000}]", {"a": "foo\nbar", "b": "734"}),
    ("labelmap copies matching names", {"a": "foo", "b1": "bar", "b2": "baz"},
     "[{regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}]",
     {"a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"}),
    ("labelmap skips invalid resulting names", {"a-b": "x", "ab": "y"},
     "[{regex: 'a(.*)', replacement: '${1}', action: labelmap}]", {"a-b": "x", "ab": "y", "b": "y"}),
    ("target label from the match", {"a": "some-name-value"},
     "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}'}]",
     {"a": "some-name-value", "name": "value"}),
    ("an empty replacement deletes the target label", {"a": "some-name-value", "name": "old"},
     "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}'}]",
     {"a": "some-name-value"}),
    ("an invalid resulting target label is skipped", {"a": "some-name-0"},
     """[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'},
         {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${2}'}]""",
     {"a": "some-name-0"}),
    ("replace from an absent label with a constant sets it", {"a": "x"},
     "[{target_label: team, replacement: infra}]", {"a": "x", "team": "infra"}),
    ("labeldrop", {"a": "foo", "b1": "bar", "b2": "baz"}, "[{regex: '(b.*)', action: labeldrop}]", {"a": "foo"}),
    ("labelkeep", {"a": "foo", "b1": "bar", "b2": "baz"}, "[{regex: '(b.*)', action: labelkeep}]",
     {"b1": "bar", "b2": "baz"}),
    ("lowercase and uppercase", {"foo": "bAr123Foo"},
     """[{source_labels: [foo], action: uppercase, target_label: foo_uppercase},
         {source_labels: [foo], action: lowercase, target_label: foo_lowercase}]""",
     {"foo": "bAr123Foo", "foo_lowercase": "bar123foo", "foo_uppercase": "BAR123FOO"}),
    ("lowercase of nothing deletes the target", {"a": "x", "b": "y"},
     "[{source_labels: [missing], action: lowercase, target_label: b}]", {"a": "x"}),
    ("keepequal keeps when equal", {"tmp": "1234", "p1": "1234"},
     "[{source_labels: [tmp], action: keepequal, target_label: p1}]", {"tmp": "1234", "p1": "1234"}),
    ("dropequal drops when equal", {"tmp": "1234", "p1": "1234"},
     "[{source_labels: [tmp], action: dropequal, target_label: p1}]", None),
    ("action names are case-insensitive", {"a": "foo"}, "[{source_labels: [a], regex: foo, action: DROP}]", None),
    ("an explicit empty separator", {"a": "x", "b": "y"},
     "[{source_labels: [a, b], separator: '', target_label: c}]", {"a": "x", "b": "y", "c": "xy"}),
    ("a leading (?i) flag works as in Go", {"severity": "CRITICAL"},
     "[{source_labels: [severity], regex: '(?i)crit.*', target_label: page, replacement: 'yes'}]",
     {"severity": "CRITICAL", "page": "yes"}),
    ("\\d is ASCII only, as in Go", {"a": "\uff11\uff12"},
     "[{source_labels: [a], regex: '\\d+', action: drop}]", {"a": "\uff11\uff12"}),
]


@pytest.mark.parametrize(("labels", "rules", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_it_relabels_as_prometheus_does(labels: dict[str, str], rules: str, expected: dict[str, str] | None) -> None:
    assert process(labels, configs(rules)) == expected


def test_it_removes_scratch_labels_after_relabeling() -> None:
    rules = configs("""[{source_labels: [instance], regex: '(.*)#.*', target_label: __tmp_ip},
                        {source_labels: [__tmp_ip], target_label: host}]""")
    assert relabel({"instance": "10.0.0.1#42"}, rules) == {"instance": "10.0.0.1#42", "host": "10.0.0.1"}


EXPANSIONS = [
    ("$1", "a"), ("${1}", "a"), ("$1x", ""), ("${1}x", "ax"), ("$name", "b"), ("${name}", "b"),
    ("$$1", "$1"), ("$$", "$"), ("$", "$"), ("${", "${"), ("${}", "${}"), ("$-", "$-"), ("$9", ""),
    ("$missing", ""), ("$01", ""), ("$0", "ab"), ("x${2}y", "xby"),
]


@pytest.mark.parametrize(("template", "expected"), EXPANSIONS)
def test_it_expands_replacements_as_go_does(template: str, expected: str) -> None:
    match = re.fullmatch(r"(a)(?P<name>b)", "ab")
    assert match is not None
    assert expand(template, match) == expected


P = "alert_relabel_configs[0]"
INVALID = [
    ("[{action: replace}]", P + ".target_label: required for action replace"),
    ("[{action: lowercase, target_label: '${3}'}]",
     P + ".target_label: '${3}' is invalid for action lowercase"),
    ("[{source_labels: [a], target_label: '0${3}'}]",
     P + ".target_label: '0${3}' is invalid for action replace"),
    ("[{source_labels: [a], target_label: '-${3}'}]",
     P + ".target_label: '-${3}' is invalid for action replace"),
    ("[{source_labels: [a], target_label: 'bad-name'}]",
     P + ".target_label: 'bad-name' is invalid for action replace"),
    ("[{action: hashmod, target_label: shard}]", P + ".modulus: hashmod requires a non-zero modulus"),
    ("[{action: hashmod, target_label: shard, modulus: -1}]",
     P + ".modulus: must be a non-negative integer"),
    ("[{action: lowercase, target_label: x, replacement: y}]",
     P + ".replacement: cannot be set for action lowercase"),
    ("[{action: labelmap, replacement: '-x'}]", P + ".replacement: '-x' is invalid for action labelmap"),
    ("[{action: labeldrop, regex: x, source_labels: [a]}]", P + ".action: labeldrop takes only regex"),
    ("[{action: keepequal, target_label: x, regex: y}]",
     P + ".action: keepequal takes only source_labels and target_label"),
    ("[{action: ''}]", P + ".action: cannot be empty"),
    ("[{action: nope}]", P + ".action: unknown relabel action 'nope'"),
    ("[{source_labels: [a-b], target_label: x}]", P + ".source_labels: 'a-b' is not a valid label name"),
    ("[{source_labels: a, target_label: x}]", P + ".source_labels: must be a list of label names"),
    ("[{target_label: x, regex: 'a)|(b'}]", P + ".regex: invalid regular expression 'a)|(b'"),
    ("[{target_label: x, modulo: 3}]", P + ": unknown key(s) modulo"),
    ("[x]", P + ": each relabel config must be a mapping"),
    ("{a: b}", "alert_relabel_configs: must be a list of relabel configs"),
]


@pytest.mark.parametrize(("rules", "message"), INVALID)
def test_it_refuses_what_prometheus_refuses(rules: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        configs(rules)
    assert f"test.yml: {message}" in str(error.value)


@pytest.mark.parametrize(("target", "label"), [
    ("label", "label"), ("label${1}", "labelv"), ("${1}label", "vlabel"), ("$1", "v"),
    ("asd$2asd", "asd"),  # as in Go: "$2asd" names the group "2asd", which does not exist
    ("_${1}_", "_v_"), ("foo${bar}foo", "foovfoo"),
])
def test_it_accepts_go_style_target_templates(target: str, label: str) -> None:
    """Prometheus' TestTargetLabelValidity cases, and the label each one writes."""
    [config] = configs(f"[{{source_labels: [a], regex: '(?P<bar>.*)', target_label: '{target}'}}]")
    assert relabel({"a": "v"}, [config]) == {"a": "v", label: "v"}
