"""The engine: tasks, flows, the dynamic graph, futures, states, retries.

Nothing in here imports a backend; runners live in :mod:`legato.runners`.
"""
