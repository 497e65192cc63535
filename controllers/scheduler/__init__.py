"""The scheduler: kube-scheduler's default profile, placing pending pods on nodes.

`Scheduler` is the component to add to a `Manager`. Its parts are modules of their own: `queue` (the
scheduling queue with backoff and the unschedulable pool), `cache` (node infos and assumed pods),
`plugins` (the filters and scores as pure functions) and `scheduler` (the decision and the loop).
"""

from controllers.scheduler.scheduler import DEFAULT_SCHEDULER_NAME as DEFAULT_SCHEDULER_NAME
from controllers.scheduler.scheduler import ReferenceAlgorithm as ReferenceAlgorithm
from controllers.scheduler.scheduler import Scheduler as Scheduler

__all__ = ["DEFAULT_SCHEDULER_NAME", "ReferenceAlgorithm", "Scheduler"]
