"""Synthetic tasks for the agents: a layer cost and a reward played through the search's own episode driver.

``synthetic`` has a closed-form damage per kernel (fast, for tests); ``measured`` uses damage measured on a
real network (``benchmarks/measure_damage.py``) and knows its exact optimum.
"""
