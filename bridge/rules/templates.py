"""Annotation templates: Jinja2 in a sandbox, rendered over an alert's labels, annotations and payload."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from bridge.mapping.default import clean_value
from bridge.model import Alert
from bridge.rules.relabel import LABEL_NAME, RESERVED_PREFIX

log = logging.getLogger(__name__)

_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def compile_template(source: str) -> Template:
    """Compile an annotation template in the sandbox; raise ValueError with the line of a syntax error."""
    try:
        return _ENVIRONMENT.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error at line {exc.lineno}: {exc.message}") from None


@dataclass(frozen=True)
class AnnotationTemplate:
    name: str
    source: str
    template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not LABEL_NAME.fullmatch(self.name) or self.name.startswith(RESERVED_PREFIX):
            raise ValueError(f"{self.name!r} is not a valid annotation name (use [a-zA-Z_][a-zA-Z0-9_]*, "
                             "not starting with __)")
        object.__setattr__(self, "template", compile_template(self.source))


def render_annotations(templates: Sequence[AnnotationTemplate], alert: Alert, vendor: str,
                       raw: Mapping[str, Any], on_error: Callable[[str], None] | None = None) -> dict[str, str]:
    """The alert's annotations with each template's result; a failing template keeps the default text
    (and ``on_error`` is called with the annotation's name). An empty result leaves the annotation out.
    """
    annotations = dict(alert.annotations)
    context = {"labels": dict(alert.labels), "annotations": dict(alert.annotations), "payload": raw,
               "vendor": vendor, "state": alert.state.value}
    for item in templates:
        try:
            value = clean_value(item.template.render(context))
        except Exception as exc:  # a template error must never fail a callback
            if on_error is not None:
                on_error(item.name)
            log.warning("annotation template failed; keeping the default text",
                        extra={"annotation": item.name, "vendor": vendor, "error": f"{type(exc).__name__}: "
                               f"{exc}"})
            continue
        if value:
            annotations[item.name] = value
        else:
            annotations.pop(item.name, None)
    return annotations
