"""Test-wide settings: hypothesis runs derandomized so CI results do not depend on luck."""

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40)
settings.load_profile("ci")
