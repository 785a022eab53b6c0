"""The anonymizer's settings: one frozen object, declared once.

``make_anonymizer``'s signature and spaCy's ``default_config`` are derived from
``AnonymizerSettings``, so config validation (``spacy.load(..., config=...)``, the command
line's overrides), the Python API (``Anonymizer(None, operators={...})``) and the saved
``config.cfg`` name the same fields with the same defaults. The hash operator's salt is not
a setting: only *where* it is read at runtime is (``salt_env``, ``salt_file``).
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional

OPERATORS = ("replace", "pseudonym", "mask", "redact", "hash", "keep")


class MissingSaltError(ValueError):
    """The hash operator is configured but no salt was given."""


@dataclass(frozen=True)
class AnonymizerSettings:
    """What the anonymizer masks, how, and how far it propagates (module docstring of
    ``legal_anon.pipeline.anonymizer``)."""

    # what to mask: doc.ents, or doc.spans[spans_key]; and the NER's low-confidence
    # candidates in doc.spans[candidates_key] (the recall control), when present
    spans_key: Optional[str] = None
    candidates_key: Optional[str] = "ent_candidates"
    # how: the operator of each label (OPERATORS), default_operator for the others
    default_operator: str = "replace"
    operators: Dict[str, str] = field(default_factory=dict)
    mask_char: str = "*"
    redact_text: str = ""
    pseudonym_format: str = "{label}_{n}"
    replace_format: str = "[{label}]"
    hash_length: int = 12
    # where the hash operator's secret salt is read at runtime (it is never saved)
    salt_env: Optional[str] = "LEGAL_ANON_SALT"
    salt_file: Optional[str] = None
    # propagation: other occurrences of masked strings, the parts of masked names, the
    # shortest string propagated, and the output re-check's rounds
    mask_all_occurrences: bool = True
    mask_name_parts: bool = True
    min_length: int = 3
    max_repair_rounds: int = 20
    # "Mr Popescu" is a person (this label) whatever label the NER gave it; None = off
    titled_names_as: Optional[str] = "PERSON"
    # entity-level consistency (legal_anon.pipeline.names): one entity, every mention masked
    entity_consistency: bool = True

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("spans_key", self.spans_key or None)
        set_("candidates_key", self.candidates_key or None)
        set_("titled_names_as", self.titled_names_as or None)
        set_("operators", dict(self.operators or {}))
        set_("hash_length", int(self.hash_length))
        set_("min_length", max(1, int(self.min_length)))
        set_("max_repair_rounds", int(self.max_repair_rounds))
        set_("entity_consistency", bool(self.entity_consistency))
        for label, op in [("default_operator", self.default_operator), *self.operators.items()]:
            if op not in OPERATORS:
                raise ValueError(
                    f"anonymizer: unknown operator {op!r} for {label}; choose from {', '.join(OPERATORS)}"
                )
        if len(self.mask_char) != 1:
            raise ValueError("anonymizer: mask_char must be a single character")

    @property
    def uses_hash(self) -> bool:
        return self.default_operator == "hash" or "hash" in self.operators.values()

    def operator_for(self, label: str) -> str:
        return self.operators.get(label, self.default_operator)

    def with_operator(self, label: str, operator: str) -> "AnonymizerSettings":
        return dataclasses.replace(self, operators={**self.operators, label: operator})

    def load_salt(self) -> bytes:
        """The runtime salt (``salt_file``, then ``salt_env``), or a MissingSaltError."""
        salt = load_salt(self.salt_env, self.salt_file)
        if not salt:
            raise MissingSaltError(self.missing_salt_message())
        return salt

    def missing_salt_message(self) -> str:
        where = []
        if self.salt_env:
            where.append(f"the environment variable {self.salt_env}")
        if self.salt_file:
            where.append(f"the file {self.salt_file}")
        return (
            "anonymizer: the 'hash' operator needs a secret salt, but none was found in "
            + (" or ".join(where) if where else "(no salt_env or salt_file configured)")
            + ". Set it at runtime (e.g. `export LEGAL_ANON_SALT=$(openssl rand -hex 32)`) or "
            "call nlp.get_pipe('anonymizer').set_salt(...). The salt is never saved with the pipeline."
        )


def load_salt(salt_env: Optional[str], salt_file: Optional[str]) -> Optional[bytes]:
    """The runtime salt: the file named by ``salt_file`` or the env var ``salt_env``."""
    if salt_file:
        path = Path(os.path.expandvars(os.path.expanduser(str(salt_file))))
        if path.exists():
            data = path.read_bytes().strip()
            if data:
                return data
    if salt_env:
        value = os.environ.get(salt_env)
        if value:
            return value.encode("utf8")
    return None


def default_config() -> Dict[str, Any]:
    """The factory's ``default_config``: every setting at its default."""
    return dataclasses.asdict(AnonymizerSettings())


def with_settings_signature(factory: Callable) -> Callable:
    """Give ``factory(nlp, name, **settings)`` the signature spaCy validates configs against:
    one keyword argument per setting, typed as in ``AnonymizerSettings``."""
    hints = typing.get_type_hints(AnonymizerSettings)
    P = inspect.Parameter
    params = [P("nlp", P.POSITIONAL_OR_KEYWORD), P("name", P.POSITIONAL_OR_KEYWORD, annotation=str)]
    params += [P(f.name, P.KEYWORD_ONLY, annotation=hints[f.name]) for f in dataclasses.fields(AnonymizerSettings)]
    factory.__signature__ = inspect.Signature(params)
    return factory
