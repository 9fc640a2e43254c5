"""Sweeps: grids of training runs compared under one budget (`nmt curve`, `nmt tune-vocab`).

nmt/sweep/grid.py runs a grid's cells, each in its own subprocesses, and keeps their results in one
resumable store; nmt/sweep/report.py writes the tables and plots; curve.py and tune_vocab.py say
which cells a sweep has and what its report shows.
"""
