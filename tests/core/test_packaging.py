"""What `pip install .` and a wheel deliver: every package, the demo models, the version, the licence."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import creps_core
from creps_core.model.demo import DEMO_MODELS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = out.glob("creps_explorer-*.whl")
    return path


def test_wheel_carries_the_packages_demo_models_and_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name, (file, _) in DEMO_MODELS.items():
        assert f"creps_core/assets/{file}" in names, f"demo:{name} is not in the wheel"
    assert not any(n.startswith("creps_assets/") for n in names)  # no top-level package of a generic name
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"creps_core",
                                                                                                "creps_viewer"}
    for module in ("creps_core/cli/main.py", "creps_core/cli/args.py", "creps_core/cli/commands/render.py",
                   "creps_core/train/loop.py", "creps_viewer/qt/app.py", "creps_viewer/qt/panels/latent.py",
                   "creps_viewer/qt/dialogs/export_dialog.py"):
        assert module in names
    for vendored in ("openseadragon.min.js", "LICENSE.txt", "images/zoomin_rest.png", "images/fullpage_pressed.png"):
        assert f"creps_core/web/openseadragon/{vendored}" in names  # the Deep Zoom viewer page's script
    assert not any(n.startswith("tests/") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    version = wheel.name.split("-")[1]
    assert version == creps_core.__version__


def test_the_installed_wheel_opens_the_demo_model(wheel, tmp_path):
    """Unpacked wheel first on sys.path, from a folder outside the checkout: no assets/ to fall back on."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import creps_core, creps_core.model.demo as d\n"
            f"assert creps_core.__file__.startswith({str(site)!r}), creps_core.__file__\n"
            "m = d.open_model('demo')\n"
            "print(d.demo_path(), m.cfg.img_resolution)\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert str(site) in run.stdout


def test_every_import_is_declared():
    """Third-party modules imported by the packages are dependencies (or extras where optional)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = " ".join(declared["dependencies"]).lower()
    imports = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "PIL": "pillow", "safetensors": "safetensors",
               "tifffile": "tifffile", "imageio": "imageio", "tqdm": "tqdm", "PySide6": "pyside6-essentials",
               "pyqtgraph": "pyqtgraph", "platformdirs": "platformdirs"}
    found = set()
    for path in list((ROOT / "creps_core").rglob("*.py")) + list((ROOT / "creps_viewer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    optional = {"distributed": "cluster", "skimage": "demo-data", "sklearn": "demo-data"}
    stdlib = set(sys.stdlib_module_names) | {"creps_core", "creps_viewer", "__future__"}
    for module in sorted(found - stdlib):
        if module in optional:
            assert any(module in " ".join(v) or optional[module] == k
                       for k, v in declared["optional-dependencies"].items()), module
        else:
            assert module in imports and imports[module] in deps, f"{module} is imported but not declared"
