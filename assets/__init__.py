"""Files the program reads at run time (the demo models), installed as the package ``creps_assets``.

They are found through importlib.resources, so editable installs, ``pip install .`` and
wheels all open the same files.
"""
