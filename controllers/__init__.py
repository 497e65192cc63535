"""setpoint's built-in controllers, the simulated kubelet, the garbage collector and the whole `Cluster`.

``controllers`` sits on ``reconcile`` and ``store``. Each controller ports its Kubernetes counterpart
(pkg/controller/..., pkg/scheduler); `Cluster` wires them into one control plane on real or virtual time.
"""

from controllers.cluster import Cluster as Cluster
from controllers.deployment import DeploymentController as DeploymentController
from controllers.endpoints import EndpointsController as EndpointsController
from controllers.events import EventRecorder as EventRecorder
from controllers.garbagecollector import GarbageCollector as GarbageCollector
from controllers.kubelet import Kubelet as Kubelet
from controllers.kubelet import NodeConfig as NodeConfig
from controllers.nodelifecycle import NodeLifecycleController as NodeLifecycleController
from controllers.replicaset import ReplicaSetController as ReplicaSetController
from controllers.scheduler import Scheduler as Scheduler
from controllers.tainteviction import TaintEvictionController as TaintEvictionController

__all__ = [
    "Cluster",
    "DeploymentController",
    "EndpointsController",
    "EventRecorder",
    "GarbageCollector",
    "Kubelet",
    "NodeConfig",
    "NodeLifecycleController",
    "ReplicaSetController",
    "Scheduler",
    "TaintEvictionController",
]
