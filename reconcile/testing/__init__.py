"""Testing tools for controllers: the deterministic simulation runtime and its fault seams."""

from reconcile.testing.faults import Faults as Faults
from reconcile.testing.faults import FaultyStore as FaultyStore
from reconcile.testing.simulation import NotSettled as NotSettled
from reconcile.testing.simulation import Simulation as Simulation

__all__ = ["Faults", "FaultyStore", "NotSettled", "Simulation"]
