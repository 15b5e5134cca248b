"""The warp formula grammar (creps_core/render/formula.py): what it reads, what it refuses, what it computes.

The pixels of plain formulas are compared with what the explorer rendered when formulas went through
numexpr (tests/data/formula_warps_numexpr.npz, made on the shipped demo model before the change), so
moving to our own grammar changed no picture.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import open_model
from creps_core.render.engine import Engine
from creps_core.render.formula import MAX_NODES, Formula, FormulaError
from creps_core.render.views import View, Warp

DATA = Path(__file__).parents[1] / "data"
X = torch.linspace(-1.3, 1.1, 7, dtype=torch.float64)[None, :].expand(5, 7)
Y = torch.linspace(-0.9, 1.2, 5, dtype=torch.float64)[:, None].expand(5, 7)
x, y = X.numpy(), Y.numpy()
r, a = np.hypot(x, y), np.arctan2(y, x)


@pytest.mark.parametrize("text,expected", [
    ("y + 0.05*sin(8*x)", y + 0.05 * np.sin(8 * x)),
    ("-x**2", -(x ** 2)),
    ("2**-1*x", 0.5 * x),
    ("r**0.5 + 1", r ** 0.5 + 1),
    ("(x + y) * (x - y) / 2", (x + y) * (x - y) / 2),
    ("x - y - 1", x - y - 1),
    ("x / y / 2", x / y / 2),
    ("--x", x),
    ("where((x > 0) & (y > 0), r, a)", np.where((x > 0) & (y > 0), r, a)),
    ("where((x < -1) | (y >= 1), 1, 0)", np.where((x < -1) | (y >= 1), 1.0, 0.0)),
    ("x == x", np.ones_like(x)),
    ("x != x", np.zeros_like(x)),
    ("arctan2(y, x) + atan2(x, y)", np.arctan2(y, x) + np.arctan2(x, y)),
    ("clip(x, -0.5, 0.5) + min(x, y) + max(x, y)", np.clip(x, -0.5, 0.5) + np.minimum(x, y) + np.maximum(x, y)),
    ("tanh(x) + exp(-r) + log(1 + r) + sqrt(r) + abs(y) + floor(3*x)",
     np.tanh(x) + np.exp(-r) + np.log(1 + r) + np.sqrt(r) + np.abs(y) + np.floor(3 * x)),
    ("cos(pi*x) + tan(0.3*y) + sinh(x) + cosh(y) + atan(x) + asin(0.5*y/2) + acos(0.1*x)",
     np.cos(np.pi * x) + np.tan(0.3 * y) + np.sinh(x) + np.cosh(y) + np.arctan(x) + np.arcsin(0.25 * y)
     + np.arccos(0.1 * x)),
    ("1.5e-2*x + .5 + 2.", 0.015 * x + 2.5),
    ("\tx +  y ", x + y),
    ("0.3", np.full_like(x, 0.3)),
])
def test_formulas_compute_what_they_say(text, expected):
    got = Formula.parse(text).evaluate(X, Y)
    assert got.shape == X.shape and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("text,message", [
    ("x.real", "attributes"),
    ("x[0]", "subscripts"),
    ("'x'", "strings"),
    ('"x"', "strings"),
    ("x\uff3f", "U+FF3F"),
    ("\uff58", "U+FF58"),
    ("x \\ + 1", "'\\\\'"),
    ("x.\\\n__init__", "U+000A"),
    ("x\n", "U+000A"),
    ("open(x)", "unknown function 'open'"),
    ("__import__(x)", "unknown function '__import__'"),
    ("os", "unknown name 'os'"),
    ("sin", "a function: write it with parentheses"),
    ("sin(x, y)", "takes 1 argument"),
    ("where(x, y)", "takes 3 arguments"),
    ("x**y", "exponent"),
    ("x**33", "exponent"),
    ("9**9**9", "exponent"),
    ("x**(1e6*1e6)", "exponent"),
    ("1e7*x", "too large"),
    ("x^2", "write **"),
    ("x = 1", "assignments"),
    ("x < y < 1", "chained comparison"),
    ("lambda: x", "':'"),
    ("x if y else 1", "unexpected 'if'"),
    ("(x", "expected ')'"),
    ("x)", "unexpected ')'"),
    ("x y", "unexpected 'y'"),
    ("", "empty"),
    ("   ", "empty"),
    ("(" * 33 + "x" + ")" * 33, "nested parentheses"),
    ("+".join(["x"] * (MAX_NODES + 1)), f"more than {MAX_NODES}"),
    ("x" + " " * 500, "longer than 500"),
    (None, "must be text"),
    (["x"], "must be text"),
])
def test_everything_else_is_refused_naming_the_piece(text, message):
    with pytest.raises(FormulaError, match=None) as e:
        Formula.parse(text)
    assert message in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_deep_sign_chains_do_not_recurse():
    assert float(Formula.parse("-" * 499 + "1").evaluate(X, Y)[0, 0]) == -1.0


def test_non_finite_values_come_back_for_the_caller_to_refuse():
    assert torch.isinf(Formula.parse("x/0").evaluate(X, Y)).all()
    assert torch.isnan(Formula.parse("log(-1 - r)").evaluate(X, Y)).all()


def test_a_warp_keeps_the_text_and_equal_warps_compare_equal():
    w = Warp("formula", 1.0, formula=("y + 0.1*sin(8*x)", "x"))
    assert w == Warp("formula", 1.0, formula=("y + 0.1*sin(8*x)", "x"))
    assert w.to_dict()["formula"] == ["y + 0.1*sin(8*x)", "x"]
    assert Warp.from_dict(w.to_dict()) == w


@pytest.fixture(scope="module")
def demo_engine():
    return Engine(open_model("demo:photos"), device="cpu", precision="fp32")  # the model the stored pixels are of


NUMEXPR_CASES = {"sine": ("y + 0.05*sin(8*x)", "x"),
                 "mixed": ("y*(1 + 0.2*r)", "x + 0.1*where(x > 0, sin(6*a), -r**2)"),
                 "atan": ("y + 0.1*cos(arctan2(y, x)*3)", "x*exp(-0.3*r)")}


@pytest.mark.parametrize("name", list(NUMEXPR_CASES))
def test_plain_formulas_render_the_pixels_numexpr_rendered(demo_engine, name):
    before = np.load(DATA / "formula_warps_numexpr.npz")
    view = View(48, 40, zoom=1.3, rotation=10, warp=Warp("formula", 1.0, formula=NUMEXPR_CASES[name]))
    U, V = view.field()
    np.testing.assert_allclose(U.numpy(), before[f"{name}_u"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(V.numpy(), before[f"{name}_v"], rtol=0, atol=1e-7)
    # The fine table is denser than the table of those days (it holds a coarsest spacing, ~58 dB), so
    # both qualities are held to what numexpr's exact mode rendered.
    for quality in ("fine", "exact"):
        got = demo_engine.render_u8(LatentSpec(seed=3), view, warp_quality=quality).astype(int)
        diff = np.abs(got - before[f"{name}_exact"])
        assert diff.max() <= 1 and diff.mean() < 0.01, (quality, diff.max(), diff.mean())


def test_a_far_reaching_warp_renders_from_the_pixels_own_lines(demo_engine):
    """y*1e3 spreads a 24x24 render over ~1000 coordinate units: a line table at the pixel spacing would
    hold ~10^5 points; the engine evaluates the 2*24*24 pixel coordinates instead (same pixels as exact)."""
    view = View(24, 24, warp=Warp("formula", 1.0, formula=("y*1e3", "x")))
    before = demo_engine.stats.line_coords_computed
    img = demo_engine.render(LatentSpec(seed=1), view)
    assert demo_engine.stats.line_coords_computed - before <= 2 * 24 * 24
    assert torch.equal(img, demo_engine.render(LatentSpec(seed=1), view, warp_quality="exact"))
    assert math.isfinite(float(img.abs().max()))
