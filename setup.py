"""Beam's --setup_file needs a file named setup.py; the project itself is described in pyproject.toml.

`tokenmill run --setup_file=./setup.py` makes Beam's stager build the worker sdist (with
`python -m build --sdist --no-isolation`, which reads pyproject.toml) and stage it for the
workers of Dataflow, Flink or Spark. Beam 2.62 refuses any other file name there.
"""

from setuptools import setup

setup()
