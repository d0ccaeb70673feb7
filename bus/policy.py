"""The run's policy: whose loss fails the run, and who may publish what. Decided by the run, not
by the joiner; the bus applies it and knows no trading.

The run (the orchestrator, which knows the roles) writes it as JSON and starts the bus with
`--policy FILE` (run_contract.POLICY_FILE):

  {"members":   {NAME: {"critical": BOOL, "publish": [PREFIX, ...]}, ...},
   "attachers": {"expected": N, "on_loss": "fail" | "drop", "publish": [TEMPLATE, ...]}}

PREFIX is a topic prefix ("" for every topic, otherwise ending with "."); TEMPLATE is a PREFIX
in which "{name}" stands for the joining member's name. Missing keys: no members, and attachers
{"expected": 0, "on_loss": "drop", "publish": []}.

The rules, for a JOIN of member NAME that asks to be critical or not:

1. The run's own members: NAME is a key of "members". It is critical if it asks and the policy
   says so; it may publish the topics that start with one of its PREFIXes.
2. Attachers: any other NAME. The first N of them to join ("expected": N, counted in the order
   the bus accepts their JOINs, whether they stay or not) are expected attachers: critical if
   they ask and "on_loss" is "fail" (an attacher may lower its criticality, never raise it).
   Every later one is a surprise joiner: never critical, whatever it asks. Its loss (and that of
   a non-critical member in general) is recorded in stats["lost_members"] and dropped. Every
   attacher may publish the topics that start with one of the TEMPLATEs with its name in place
   of "{name}"; a name that is not one topic segment (empty, or with "." or whitespace) cannot
   be put there, and the JOIN is refused.
3. Without a policy (a bus started without --policy: tests, benchmarks) every member is as
   critical as it asks and may publish any topic.

In every case a connection that has not joined publishes nothing. A PUBLISH outside its sender's
rights is refused: counted (stats["refused"], and per member), logged (rate-limited), never
delivered. The check is a set lookup per PUBLISH once a member's first message on a topic was
allowed (Member.granted), a prefix scan before.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from bus.protocol import prefix_error

NAME = "{name}"

# how a member was admitted (stats: members[NAME]["admission"])
OWN = "own"
EXPECTED = "expected"
SURPRISE = "surprise"
OPEN = "open"


@dataclass(frozen=True)
class Admission:
    """What the policy grants one joining member: its criticality and what it may publish
    (None: any topic)."""

    kind: str
    critical: bool
    publish: tuple[bytes, ...] | None


class Policy:
    """The rules above, with the count of attachers admitted so far."""

    def __init__(self, members: dict[str, tuple[bool, tuple[str, ...]]] | None = None, *, expected: int = 0,
                 on_loss: str = "drop", templates: tuple[str, ...] = (), open_: bool = False) -> None:
        self.members = dict(members or {})
        self.expected = expected
        self.on_loss = on_loss
        self.templates = templates
        self.open = open_
        self.attached = 0  # attachers admitted so far (expected ones first)

    @classmethod
    def without_rules(cls) -> Policy:
        """A bus started without a policy (rule 3)."""
        return cls(open_=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Policy:
        """Read and check a policy file; ValueError naming the file and what is wrong."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ValueError(f"policy {path}: cannot read it: {exc}") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"policy {path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any) -> Policy:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        _only(data, {"members", "attachers"}, "policy")
        members: dict[str, tuple[bool, tuple[str, ...]]] = {}
        raw_members = data.get("members", {})
        if not isinstance(raw_members, dict):
            raise ValueError("members: not an object")
        for name, spec in raw_members.items():
            if not isinstance(spec, dict):
                raise ValueError(f"members.{name}: not an object")
            _only(spec, {"critical", "publish"}, f"members.{name}")
            critical = spec.get("critical", True)
            if not isinstance(critical, bool):
                raise ValueError(f"members.{name}.critical: {critical!r} is not true or false")
            members[name] = (critical, _prefixes(spec.get("publish", []), f"members.{name}.publish"))
        att = data.get("attachers", {})
        if not isinstance(att, dict):
            raise ValueError("attachers: not an object")
        _only(att, {"expected", "on_loss", "publish"}, "attachers")
        expected = att.get("expected", 0)
        if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
            raise ValueError(f"attachers.expected: {expected!r} is not a count (an integer >= 0)")
        on_loss = att.get("on_loss", "drop")
        if on_loss not in ("fail", "drop"):
            raise ValueError(f"attachers.on_loss: {on_loss!r} is not 'fail' or 'drop'")
        templates = _prefixes(att.get("publish", []), "attachers.publish", template=True)
        return cls(members, expected=expected, on_loss=on_loss, templates=templates)

    def admit(self, name: str, asks_critical: bool) -> Admission | str:
        """What member `name` is granted as it joins (rules 1-3), or why its JOIN is refused.
        Call it only for a JOIN the bus accepts: an attacher's admission counts."""
        if self.open:
            return Admission(OPEN, asks_critical, None)
        own = self.members.get(name)
        if own is not None:
            critical, prefixes = own
            return Admission(OWN, asks_critical and critical, tuple(p.encode() for p in prefixes))
        if any(NAME in t for t in self.templates) and not is_segment(name):
            return (f"member name {name!r} cannot stand in the run's topics (one topic segment: "
                    "no '.', no whitespace)")
        expected = self.attached < self.expected
        self.attached += 1
        critical = expected and asks_critical and self.on_loss == "fail"
        return Admission(EXPECTED if expected else SURPRISE, critical,
                         tuple(t.replace(NAME, name).encode() for t in self.templates))


def is_segment(name: str) -> bool:
    """One topic segment: non-empty, no '.', no whitespace."""
    return bool(name) and "." not in name and not any(c.isspace() for c in name)


def _only(obj: dict[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(obj) - keys)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(keys))})")


def _prefixes(value: Any, where: str, template: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"{where}: not a list of strings")
    for p in value:
        err = prefix_error(p.replace(NAME, "x") if template else p)
        if err:
            raise ValueError(f"{where}: {err}")
    return tuple(value)
