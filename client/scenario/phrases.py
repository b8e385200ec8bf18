"""French sentences and comments a simulated assembly writes (seeded, so runs repeat)."""

from __future__ import annotations

import random

_SUBJECTS = (
    "L'assemblée citoyenne", "La municipalité", "Chaque habitant", "Le conseil de quartier",
    "Le garant de la participation", "Toute personne intéressée", "Le service participation",
    "La commission des finances", "Le conseil municipal des jeunes", "Chaque élu référent",
)
_VERBS = (
    "veille à", "s'engage à", "peut demander à", "doit", "a la possibilité de",
    "est invité à", "choisit de", "prend soin de",
)
_ACTIONS = (
    "publier un compte rendu clair", "répondre aux questions des habitants",
    "consulter les associations du quartier", "présenter le budget en séance publique",
    "motiver chacune de ses décisions", "ouvrir ses réunions au public",
    "associer les personnes éloignées du numérique", "rendre compte de l'avancement des projets",
    "traduire les documents en langue facile", "organiser une réunion dans chaque quartier",
)
_WHEN = (
    "chaque trimestre", "avant toute décision importante", "dans un délai d'un mois",
    "au moins deux fois par an", "dès la première séance", "à la demande de dix habitants",
    "sans frais pour les participants", "en français et en anglais",
)
_OPINIONS = (
    "Je propose de préciser ce paragraphe : qui décide, au juste ?",
    "Très bonne idée, mais quels moyens seront prévus ?",
    "Ce délai me paraît trop long pour les habitants.",
    "Il faudrait penser aux personnes qui travaillent le soir.",
    "Pourquoi ne pas associer aussi les écoles et les collèges ?",
    "Le texte est clair, je le soutiens tel quel.",
    "Est-ce que cela s'applique aussi aux hameaux ?",
    "Je ne comprends pas ce que recouvre ce terme.",
    "On pourrait ajouter un exemple concret ici.",
    "Attention à ne pas alourdir la procédure.",
)
_REPLIES = (
    "D'accord avec vous, c'est un point essentiel.",
    "L'assemblée en a débattu lors de la troisième séance.",
    "Je ne partage pas cet avis : le texte suffit.",
    "Merci, la remarque sera transmise à la commission.",
    "C'est prévu à l'article suivant, il me semble.",
)


def sentence(rng: random.Random) -> str:
    """One sentence a member might add to an article, ending with a full stop."""
    return (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_ACTIONS)} "
            f"{rng.choice(_WHEN)}.")


def comment(rng: random.Random, article: str) -> str:
    """A citizen's comment on a paragraph of `article`."""
    return f"{rng.choice(_OPINIONS)} ({article})"


def reply(rng: random.Random) -> str:
    """A reply to someone else's comment."""
    return rng.choice(_REPLIES)
