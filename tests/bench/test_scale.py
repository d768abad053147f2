"""The scale-out benches' own machinery (bench/_scaleout.py, bench/scale.py): the private
Redis stops and comes back on its port, the /proc sampler keeps the CPU time of a process
killed with its group, and the calls are distinct stereo telephone audio built from the
evaluation corpus."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import av
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def scale() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # scale.py imports _common, _scaleout and _telephone
    try:
        spec = importlib.util.spec_from_file_location("bench_scale", BENCH / "scale.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def scaleout(scale: ModuleType) -> ModuleType:
    return sys.modules["_scaleout"]  # imported by scale.py


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_private_redis_stops_and_comes_back_on_its_port(
    scaleout: ModuleType, tmp_path: Path
) -> None:
    redis = scaleout.PrivateRedis(tmp_path)
    redis.start()
    try:
        port = redis.port
        assert redis.url == f"redis://127.0.0.1:{port}/0"
        assert scaleout.redis_ping(port)
        redis.stop()
        assert not scaleout.redis_ping(port)
        redis.start()
        assert redis.port == port and scaleout.redis_ping(port)
    finally:
        redis.stop()


def test_sampler_keeps_the_cpu_of_a_killed_process_group(scaleout: ModuleType) -> None:
    burn = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"
    child = subprocess.Popen(
        [sys.executable, "-c", burn + "time.sleep(60)"], start_new_session=True
    )
    sampler = scaleout.Sampler(interval=0.05).start()
    sampler.watch(child.pid)
    try:
        deadline = time.monotonic() + 30
        while sampler.cpu_s() < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    sampler.stop()
    assert 0.5 <= sampler.cpu_s() < 5
    assert sampler.peak_kib > 1024  # a Python interpreter holds more than 1 MiB


@pytest.mark.skipif(not (BENCH.parent.parent / "shared" / "eval-data").is_dir(), reason="no corpus")
def test_calls_are_distinct_stereo_telephone_audio(scale: ModuleType, tmp_path: Path) -> None:
    paths = scale.build_calls(2, 30.0, tmp_path)
    assert [p.name for p in paths] == ["call-0000.wav", "call-0001.wav"]
    assert paths[0].read_bytes() != paths[1].read_bytes()
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            assert (stream.codec_context.name, stream.rate, stream.channels) == (
                "pcm_mulaw",
                8000,
                2,
            )
            audio = np.concatenate(
                [frame.to_ndarray().reshape(-1, 2) for frame in container.decode(stream)]
            ).astype(np.float64)
        assert abs(len(audio) / 8000 - 30.0) < 0.01
        # Speech on both legs: seconds ten times louder than the line noise (-50 dBFS).
        for channel in audio.T:
            seconds = channel[: len(channel) // 8000 * 8000].reshape(-1, 8000)
            rms = np.sqrt((seconds**2).mean(axis=1))
            assert (rms > 10 * rms.min()).sum() >= 3
