"""The hooks a cobra plugin can implement.

A plugin is a module (or any object) with functions marked ``@cobra.hookimpl``
and named after a hook below, registered through the ``cobra`` entry-point
group. Hooks are called with keyword arguments, so a plugin may accept only
the arguments it needs, and new arguments can be added without breaking it.

``docs/plugins.md`` documents each hook with its signature, an example and
its aggregation rule; ``tests/test_docs.py`` fails when the two disagree.
"""

import pluggy

hookspec = pluggy.HookspecMarker("cobra")
hookimpl = pluggy.HookimplMarker("cobra")


@hookspec
def register_importers(register):
    """Register importers: call ``register(importer)`` once per importer.

    An importer needs a unique ``name`` and a one-line ``description``.
    Every plugin's implementation is called; a name registered twice keeps
    the first registration and the other is reported by ``cobra plugins``.
    """


@hookspec
def register_channels(register):
    """Register channel backends: call ``register(backend)`` once per backend.

    A backend needs a unique ``name`` and a one-line ``description``. Every
    plugin's implementation is called; duplicate names are handled as for
    importers.
    """


@hookspec
def register_commands(cli):
    """Add commands to the root ``cobra`` group: call ``cli.add_command(cmd)``.

    ``cli`` is the root :class:`click.Group`. Every plugin's implementation
    is called. A plugin command cannot replace a built-in one.
    """


@hookspec
def register_evidence(register):
    """Add facts to the evidence: call ``register(name, description, compute)``.

    ``compute(evidence)`` returns a number from an :class:`cobra.evidence.Evidence`
    (its ``facts``, ``account``, ``overdue``...). The fact can then be used in
    diagnosis rules by *name*. Every plugin's implementation is called; a
    name already taken by cobra or another plugin is refused.
    """


@hookspec(firstresult=True)
def diagnose(evidence):
    """Diagnose one customer instead of the configured rules.

    Return a :class:`cobra.diagnosis.Diagnosis`, or None to leave the
    customer to the next plugin and then to the rules. The first non-None
    answer wins.
    """
