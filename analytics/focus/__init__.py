"""FOCUS 1.2: the schema of ``focus_costs`` and one normaliser per native billing format."""
