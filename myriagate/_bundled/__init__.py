"""Data shipped with the package: cluster profiles and templates, found with importlib.resources.

``cluster_profiles`` and ``templates`` here are symlinks to the top-level folders of the
repository, so there is one copy to edit and the installed package still carries them.
"""
