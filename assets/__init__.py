"""Files the program reads at run time (the demo models), installed as the package ``creps_core.assets``.

They are found through importlib.resources, so ``pip install .``, wheels and editable installs
open the same files; a source checkout run without installing reads this folder
(:func:`creps_core.model.demo.demo_path`).
"""
