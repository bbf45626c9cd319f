"""Recipe isolation (``f0 isolate``): a recipe, the local code it imports and its pinned requirements
in one verifiable archive. ``closure`` finds what a recipe needs; ``manifest`` describes a package;
``archive`` writes one reproducibly; ``verify`` checks one before anything of it is used."""
