"""``[interactive]`` of a cluster profile: what the site allows interactive sessions (issue #18).

An interactive app left open holds its cores (and the project's hours) while nobody uses it, so
the site names how long a session may stay idle before it stops itself: the default every
session gets, and the most a researcher may ask for (docs/interactive.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_IDLE_MINUTES = 7 * 24 * 60  # a week: what the apps' templates accept at most


class InteractiveSection(BaseModel):
    """Idle timeouts in minutes; 0 means none (``max_idle_timeout_minutes = 0``: no maximum,
    and a researcher may then ask for no idle timeout at all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    idle_timeout_minutes: int = Field(default=60, ge=0, le=MAX_IDLE_MINUTES)
    max_idle_timeout_minutes: int = Field(default=480, ge=0, le=MAX_IDLE_MINUTES)

    @model_validator(mode="after")
    def _default_within_maximum(self) -> InteractiveSection:
        maximum = self.max_idle_timeout_minutes
        if maximum and not 1 <= self.idle_timeout_minutes <= maximum:
            raise ValueError(
                f"interactive.idle_timeout_minutes ({self.idle_timeout_minutes}) must be between 1 and "
                f"interactive.max_idle_timeout_minutes ({maximum}); 0 only when there is no maximum"
            )
        return self
