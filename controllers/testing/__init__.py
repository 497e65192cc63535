"""The toolkit for the built-in kinds: strategies for pods, nodes, deployments and services, the
invariants of the built-in controllers, `ClusterMachine`, and the pytest plugin.

Importing it needs Hypothesis (the ``test`` extra).
"""
