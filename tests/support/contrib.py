"""The deployment files in contrib/, rendered for a test."""

import os

from tests.support.service import REPO

CONTRIB = os.path.join(REPO, "contrib")


def render(name, replacements):
    """The contrib file with each replacement made; each must apply."""
    with open(os.path.join(CONTRIB, name)) as f:
        text = f.read()
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"{name} no longer contains {old!r}")
        text = text.replace(old, new)
    return text
