"""Steps, pipelines and executors: the contract every stage builds on."""

from datamill.pipeline.executors import EXECUTORS, Executor, LocalExecutor, RayExecutor, make_executor
from datamill.pipeline.io import HFReader, JsonlReader, ParquetReader, Reader, Writer
from datamill.pipeline.pipeline import Pipeline, RunResult
from datamill.pipeline.registry import Component, build, registered
from datamill.pipeline.stats import StepStats
from datamill.pipeline.step import Filter, GlobalStep, Mapper, Step
from datamill.pipeline.steps import ExactDedup, LengthFilter, RegexFilter, record_text

__all__ = [
    "Component",
    "EXECUTORS",
    "ExactDedup",
    "Executor",
    "Filter",
    "GlobalStep",
    "HFReader",
    "JsonlReader",
    "LengthFilter",
    "LocalExecutor",
    "Mapper",
    "ParquetReader",
    "Pipeline",
    "RayExecutor",
    "Reader",
    "RegexFilter",
    "RunResult",
    "Step",
    "StepStats",
    "Writer",
    "build",
    "make_executor",
    "record_text",
    "registered",
]
