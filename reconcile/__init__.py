"""setpoint's runtime: informers, workqueues, controllers, the manager, and the clock and randomness seams.

``reconcile`` sits on ``store`` and never imports ``controllers``. ``reconcile.testing`` holds the
virtual-time simulation and its fault injection.
"""

from reconcile.clock import Clock as Clock
from reconcile.clock import RealClock as RealClock
from reconcile.clock import VirtualClock as VirtualClock
from reconcile.controller import Controller as Controller
from reconcile.controller import Crash as Crash
from reconcile.controller import Reconciler as Reconciler
from reconcile.controller import Request as Request
from reconcile.controller import Result as Result
from reconcile.controller import TerminalError as TerminalError
from reconcile.controller import Watch as Watch
from reconcile.informer import DeletedFinalStateUnknown as DeletedFinalStateUnknown
from reconcile.informer import Informer as Informer
from reconcile.leaderelection import LeaderElectionConfig as LeaderElectionConfig
from reconcile.manager import Manager as Manager
from reconcile.metrics import Metrics as Metrics
from reconcile.randomness import Entropy as Entropy
from reconcile.retry import Backoff as Backoff
from reconcile.retry import retry_on_conflict as retry_on_conflict
from reconcile.trace import Trace as Trace
from reconcile.workqueue import ShutDown as ShutDown
from reconcile.workqueue import WorkQueue as WorkQueue

__all__ = [
    "Backoff",
    "Clock",
    "Controller",
    "Crash",
    "DeletedFinalStateUnknown",
    "Entropy",
    "Informer",
    "LeaderElectionConfig",
    "Manager",
    "Metrics",
    "RealClock",
    "Reconciler",
    "Request",
    "Result",
    "ShutDown",
    "TerminalError",
    "Trace",
    "VirtualClock",
    "Watch",
    "WorkQueue",
    "retry_on_conflict",
]
