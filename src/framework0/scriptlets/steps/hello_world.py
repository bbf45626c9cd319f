"""The seed's ``scriptlets.steps.hello_world`` module, kept so that its recipes run unchanged."""

from __future__ import annotations

from framework0.scriptlets.builtin.hello_world import HelloWorldScriptlet

__all__ = ["HelloWorldScriptlet"]
