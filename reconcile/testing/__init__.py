"""Testing tools for controllers: the deterministic simulation runtime, its fault seams, Hypothesis
strategies, the state machine base class, invariants and differential runs.

The Hypothesis parts need ``hypothesis`` installed (the ``test`` extra).
"""

from typing import TYPE_CHECKING

from reconcile.testing.faults import (
    Coalesce as Coalesce,
)
from reconcile.testing.faults import (
    CrashBetweenWrites as CrashBetweenWrites,
)
from reconcile.testing.faults import (
    Delay as Delay,
)
from reconcile.testing.faults import (
    DropWatches as DropWatches,
)
from reconcile.testing.faults import (
    FailWrites as FailWrites,
)
from reconcile.testing.faults import (
    Fault as Fault,
)
from reconcile.testing.faults import (
    Faults as Faults,
)
from reconcile.testing.faults import (
    FaultyStore as FaultyStore,
)
from reconcile.testing.faults import (
    JumpClock as JumpClock,
)
from reconcile.testing.faults import (
    Stale as Stale,
)
from reconcile.testing.simulation import NotSettled as NotSettled
from reconcile.testing.simulation import Simulation as Simulation
from reconcile.testing.world import Invariant as Invariant
from reconcile.testing.world import InvariantViolation as InvariantViolation
from reconcile.testing.world import World as World

if TYPE_CHECKING:
    from reconcile.testing.machine import SimulationMachine as SimulationMachine
    from reconcile.testing.machine import action as action
    from reconcile.testing.machine import replay as replay
    from reconcile.testing.machine import step as step

__all__ = [
    "Coalesce",
    "CrashBetweenWrites",
    "Delay",
    "DropWatches",
    "FailWrites",
    "Fault",
    "Faults",
    "FaultyStore",
    "Invariant",
    "InvariantViolation",
    "JumpClock",
    "NotSettled",
    "Simulation",
    "SimulationMachine",
    "Stale",
    "World",
    "action",
    "replay",
    "step",
]


def __getattr__(name: str) -> object:
    # The machine needs Hypothesis; import it only when asked for, so the runtime does not.
    if name in ("SimulationMachine", "action", "replay", "step"):
        from reconcile.testing import machine  # noqa: PLC0415

        return getattr(machine, name)
    raise AttributeError(name)
