"""Deployments: templates rendered against parameters and the registered providers, plans that
diff them against what a deployment holds, and the engine that applies a plan in dependency
order with a journal, rolling a failed apply back by itself (``docs/deployments.md``)."""
