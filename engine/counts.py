"""What a sweep, or one batch of it, did."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Counts:
    """What a sweep (or part of one) did; added up across batches."""

    cases: int = 0
    created: int = 0
    redated: int = 0
    cancelled: int = 0
    reminders: int = 0
    escalations: int = 0
    errors: list[str] = field(default_factory=list)

    def __iadd__(self, other: Counts) -> Counts:
        for name in ("cases", "created", "redated", "cancelled", "reminders", "escalations"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors
        return self

    def as_dict(self) -> dict[str, object]:
        return {
            "cases": self.cases,
            "created": self.created,
            "redated": self.redated,
            "cancelled": self.cancelled,
            "reminders": self.reminders,
            "escalations": self.escalations,
            "errors": self.errors,
        }
