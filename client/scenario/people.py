"""Names for the simulated assembly (French, accents included) and their tokens."""

from __future__ import annotations

from collections.abc import Callable

_FIRST = ("Élodie", "Loïc", "Anaïs", "Zoé", "Théo", "Maëlle", "Jérôme", "Inès", "François",
          "Noémie", "Raphaël", "Chloé", "Hélène", "Mathis", "Léa", "Gaël", "Aïcha", "Benoît",
          "Océane", "Yannick", "Clémence", "Stéphane", "Agnès", "Nathanaël", "Bérénice")
_LAST = ("Lefèvre", "Ménard", "Müller", "Dupré", "Garçon", "Benali", "Lemaître", "Nguyễn",
         "Hébert", "Rousseau", "Da Silva", "Côté", "Fontaine", "Mercier", "Lacroix",
         "Traoré", "Giraud", "Pélissier", "Barbier", "Chevalier", "Kowalski")

TokenMinter = Callable[[str, str, str], str]
"""``mint(role, name, sub)``: a token for one simulated person."""


def person_name(kind: str, index: int) -> str:
    """A distinct, stable display name for the `index`-th person of a kind."""
    offset = 7 if kind == "citizen" else 0
    first = _FIRST[(index + offset) % len(_FIRST)]
    last = _LAST[(index * 7 + offset) % len(_LAST)]
    return f"{first} {last}"


def person_sub(run: str, kind: str, index: int) -> str:
    """A token subject unique to this run, so each person has their own rate limits."""
    return f"{run}-{kind}-{index}"
