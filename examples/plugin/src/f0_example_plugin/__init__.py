"""An example Framework0 plugin: scriptlets installed as a package and found by entry point."""

from f0_example_plugin.scriptlets import WordCount

__all__ = ["WordCount"]
