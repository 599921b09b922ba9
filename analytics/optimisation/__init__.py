"""The optimisation engine: rules that read inventory, utilisation metrics, billing rates and the
price catalogue and return :class:`~analytics.optimisation.model.Recommendation` values, each
priced at what the customer actually pays. Pure functions; nothing here calls a cloud."""
