"""Every enqueue and result API exists in both flavours, with the same parameters: the
sync one and its ``*_async`` twin (issue 22: sync and async must not drift apart)."""

from __future__ import annotations

import inspect

import pytest

from pgqueue import App, Job
from pgqueue.task import Configured, Task

FAMILIES = ("enqueue", "enqueue_many", "result")


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize("cls", [App, Task, Configured, Job])
def test_each_enqueue_and_result_api_has_its_twin_with_the_same_parameters(cls: type) -> None:
    names = _public(cls)
    pairs = [(n, n + "_async") for n in FAMILIES if n in names or n + "_async" in names]
    assert pairs, cls
    for sync_name, async_name in pairs:
        assert sync_name in names and async_name in names, (cls.__name__, sync_name, async_name)
        sync_fn, async_fn = getattr(cls, sync_name), getattr(cls, async_name)
        assert not inspect.iscoroutinefunction(sync_fn), (cls.__name__, sync_name)
        assert inspect.iscoroutinefunction(async_fn), (cls.__name__, async_name)
        sync_params = inspect.signature(sync_fn).parameters
        async_params = inspect.signature(async_fn).parameters
        assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
            (p.name, p.kind, p.default) for p in async_params.values()
        ], (cls.__name__, sync_name)
