"""``--sigmas "expr: ..."``: the math a schedule needs works, file access and escapes do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.diffusion.sigmas import EXPRESSION_NUMPY, resolve_sigmas

STEPS = 6


@pytest.fixture(scope="module")
def scheduler():
    diffusers = pytest.importorskip("diffusers")
    return diffusers.EulerDiscreteScheduler()


@pytest.fixture(scope="module")
def defaults(scheduler) -> np.ndarray:
    probe = type(scheduler).from_config(scheduler.config)
    probe.set_timesteps(STEPS)
    return probe.sigmas.numpy().astype(np.float64)


def evaluate(scheduler, expression: str) -> list[float]:
    return resolve_sigmas(f"expr: {expression}", scheduler, STEPS)


@pytest.mark.parametrize(("expression", "expected"), [
    ("sigmas * 0.95", lambda s: s * 0.95),
    ("np.flip(np.sort(sigmas))", lambda s: np.flip(np.sort(s))),
    ("np.clip(sigmas * 0.5, 0.0, sigmas[0])", lambda s: np.clip(s * 0.5, 0, s[0])),
    ("np.concatenate([np.geomspace(sigmas[0], sigmas[-2], len(sigmas) - 1), np.zeros(1)])",
     lambda s: np.concatenate([np.geomspace(s[0], s[-2], len(s) - 1), [0.0]])),
    ("np.exp(np.linspace(np.log(14.6), np.log(0.03), 8)).tolist() + [0]",
     lambda s: [*np.exp(np.linspace(np.log(14.6), np.log(0.03), 8)), 0.0]),
    ("[max(0.0, x - 0.01) for x in sigmas]", lambda s: np.maximum(s - 0.01, 0)),
    ("sigmas ** 1.1 if min(sigmas) >= 0 else sigmas", lambda s: s ** 1.1),
    ("np.interp(np.linspace(0, 1, 5), [0, 1], [sigmas[0], 0])",
     lambda s: np.interp(np.linspace(0, 1, 5), [0, 1], [s[0], 0])),
    ("[sqrt(x) * pi / pi for x in sigmas]", lambda s: np.sqrt(s)),
])
def test_schedule_math_works(scheduler, defaults, expression: str, expected) -> None:
    assert np.allclose(evaluate(scheduler, expression), expected(defaults))


@pytest.mark.parametrize(("expression", "message"), [
    ("np.load('/tmp/x.npy', allow_pickle=True)", "np.load is not available in sigma expressions"),
    ("np.fromfile('/etc/hostname')", "np.fromfile is not available"),
    ("np.lib.npyio", "np.lib is not available"),
    ("np.ctypeslib", "np.ctypeslib is not available"),
    ("np.__dict__", "np.__dict__ is not available"),
    ("sigmas.tofile('{path}')", "the attribute 'tofile' is not available"),
    ("sigmas.dump('{path}')", "the attribute 'dump' is not available"),
    ("sigmas.dumps()", "the attribute 'dumps' is not available"),
    ("np.float64(1).tofile('{path}')", "the attribute 'tofile' is not available"),
    ("sigmas.ctypes", "the attribute 'ctypes' is not available"),
    ("sigmas.__class__", "the attribute '__class__' is not available"),
    ("'{{0.__class__}}'.format(sigmas)", "the attribute 'format' is not available"),
    ("__import__('os')", "'__import__' is not available"),
    ("open('{path}', 'w')", "name 'open' is not defined"),
    ("getattr(np, 'save')", "name 'getattr' is not defined"),
    ("type(sigmas)", "name 'type' is not defined"),
    ("print(sigmas)", "name 'print' is not defined"),
    ("(lambda: sigmas)()", "failed"),
    ("nosuchname * 2", "name 'nosuchname' is not defined"),
    ("sigmas *", "is not valid Python"),
])
def test_anything_else_is_refused(scheduler, tmp_path: Path, expression: str,
                                  message: str) -> None:
    path = tmp_path / "written"
    with pytest.raises(DgenerateError, match="^--sigmas: ") as caught:
        evaluate(scheduler, expression.format(path=path))
    assert message in str(caught.value)
    assert not path.exists()


@pytest.mark.parametrize("expression", [
    "np.savetxt('{path}', sigmas)",
    "np.save('{path}', sigmas)",
    "np.asarray(sigmas).tofile('{path}')",
])
def test_nothing_is_written(scheduler, tmp_path: Path, expression: str) -> None:
    path = tmp_path / "x"
    with pytest.raises(DgenerateError, match="is not available in sigma expressions"):
        evaluate(scheduler, expression.format(path=path))
    assert list(tmp_path.iterdir()) == []


def test_np_is_read_only_and_lists_only_the_whitelist(scheduler) -> None:
    from dgenerate.plugin_api.diffusion.sigmas import _NUMPY

    assert sorted(dir(_NUMPY)) == sorted(EXPRESSION_NUMPY)
    with pytest.raises(AttributeError, match="read-only"):
        _NUMPY.load = np.load
    with pytest.raises(AttributeError, match="np.save is not available"):
        _NUMPY.save  # noqa: B018
    for name in ("load", "save", "savetxt", "fromfile", "lib", "ctypeslib", "memmap"):
        assert name not in EXPRESSION_NUMPY


def test_plain_lists_still_work(scheduler) -> None:
    assert resolve_sigmas("14.6, 7.0, 2.0, 0.0", scheduler, STEPS) == [14.6, 7.0, 2.0, 0.0]
    with pytest.raises(DgenerateError, match="finite number"):
        evaluate(scheduler, "sigmas + float('inf')")


@pytest.mark.parametrize("text", ["1,1,1,1", "0.1, 0.5, 1.0", "expr: sigmas[::-1]",
                                  "expr: np.ones(4)", "expr: np.clip(sigmas, 0.0, 10.0)"])
def test_sigmas_that_do_not_decrease_are_refused(scheduler, text: str) -> None:
    # a repeated or rising sigma derails the schedulers' step lookup (an IndexError inside
    # diffusers' Euler step before this check)
    with pytest.raises(DgenerateError, match="must decrease from first to last"):
        resolve_sigmas(text, scheduler, STEPS)


def test_the_command_line_refuses_them_before_loading(tmp_path: Path) -> None:
    from dgenerate.plugin_api.testing import run_cli

    result = run_cli("org/model", "--sigmas", "1,1,1", "--dry-run", "--output-path",
                     str(tmp_path))
    assert result.exit_code == 1
    assert "--sigmas: '1,1,1': the sigmas must decrease from first to last" in result.stderr


def test_the_manual_lists_every_numpy_name() -> None:
    from .support import REPO

    manual = (REPO / "docs" / "manual" / "rendering.md").read_text()
    section = manual[manual.index("`--sigmas` gives"):manual.index("## Output")]
    missing = [name for name in EXPRESSION_NUMPY if f"`{name}`" not in section]
    assert missing == []
    assert "not a sandbox" in section
