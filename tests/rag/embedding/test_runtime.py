"""Device, dtype and thread choices of the torch runtime."""

from __future__ import annotations

import pytest
import torch

from rag.embedding.torch_runtime import configure_threads, physical_cores, resolve_device, resolve_dtype
from rag.errors import ConfigError


def test_dtypes_default_per_device_and_float16_is_refused() -> None:
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "mps") == torch.float32
    assert resolve_dtype("auto", "cuda") == torch.bfloat16
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ConfigError, match="float16 is refused"):
        resolve_dtype("float16", "cuda")
    with pytest.raises(ConfigError):
        resolve_dtype("int4", "cpu")


def test_devices() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")


def test_threads_follow_the_setting_or_the_physical_cores() -> None:
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1 and torch.get_num_threads() == 1
        assert configure_threads(None) == physical_cores() >= 1
        with pytest.raises(ConfigError):
            configure_threads(0)
    finally:
        torch.set_num_threads(before)
