"""Example applications built on pgqueue (not part of the installed package)."""
