"""The Deployment controller: rolls Deployments out through ReplicaSets, as Kubernetes does.

`DeploymentController` is the controller to add to a `reconcile.Manager`; `rollback_template` is
the client-side half of ``kubectl rollout undo``. The pure rules are in
`controllers.deployment.util`; the modules beside it follow pkg/controller/deployment file by file.
"""

from controllers.deployment.controller import DeploymentController as DeploymentController
from controllers.deployment.rollback import RollbackError as RollbackError
from controllers.deployment.rollback import rollback_template as rollback_template

__all__ = ["DeploymentController", "RollbackError", "rollback_template"]
