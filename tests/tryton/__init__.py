"""A real Tryton server on loopback for the tryton importer's tests.

Tryton is GPL: it is installed into a virtual environment of its own and
cobra only ever talks to it over HTTP. ``server`` builds and runs it;
``seed.py`` runs with Tryton's Python to fill the database.
"""
