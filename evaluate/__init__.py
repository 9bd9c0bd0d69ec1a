"""Subnet evaluation (inherited weights + BN recalibration), the search Evaluator, export."""
