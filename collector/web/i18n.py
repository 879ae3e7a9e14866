"""Every text the pages show, Swedish first, English on request (``?lang=en`` or the toggle).

The texts live in gettext catalogs, one per language, that a translator edits with any PO editor:
``collector/web/locale/<lang>/LC_MESSAGES/likavillkor.po`` (workflow: docs/translation.md). Msgids
are stable keys (``verdict.adjourn``, ``incident.no_face``): the pages compose them from the engine's
values, the page scripts look them up in :func:`bundle`, and a key that lacks a translation shows as
the key itself, which tests/web/test_i18n.py finds.

The catalogs are read from the ``.po`` files once, at import (about 0.1-0.2 s with Babel's import,
measured in docs/translation.md), so there is no compiled ``.mo`` that could be stale. ``pybabel compile`` still
works on them for anyone who wants gettext's own loader.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

LANGS = ("sv", "en")
DOMAIN = "likavillkor"
LOCALE_DIR = Path(__file__).parent / "locale"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path) -> dict[str, str]:
    """``msgid -> msgstr`` of one ``.po`` file; untranslated and fuzzy entries are left out (as msgfmt does)."""
    with path.open("rb") as f:
        catalog = read_po(f, ignore_obsolete=True)
    out: dict[str, str] = {}
    for message in catalog:
        key, text = message.id, message.string
        if key and isinstance(key, str) and text and isinstance(text, str) and not message.fuzzy:
            out[key] = text
    return out


CATALOGS: dict[str, dict[str, str]] = {lang: read_catalog(po_path(lang)) for lang in LANGS}

#: ``{key: {"sv": .., "en": ..}}`` of the Swedish catalog's keys (dashboards/build.py reads the Swedish names)
TEXT: dict[str, dict[str, str]] = {
    key: {lang: CATALOGS[lang].get(key, sv) for lang in LANGS} for key, sv in CATALOGS["sv"].items()
}


def lang_of(value: str | None) -> str:
    return value if value in LANGS else "sv"


def t(key: str, lang: str) -> str:
    """The text for ``key``: English falls back to Swedish, an unknown key shows as itself."""
    text = CATALOGS.get(lang, {}).get(key)
    if text is None:
        text = CATALOGS["sv"].get(key, key)
    return text


def named(prefix: str, value: str, lang: str) -> str:
    """A value's name (an incident kind, a severity, a check id): ``prefix.value`` when the catalog has it,
    for a dotted check id its group's name (``check.camera`` for ``camera.black``), else the value itself."""
    for key in (f"{prefix}.{value}", f"{prefix}.{value.split('.', 1)[0]}"):
        text = CATALOGS.get(lang, {}).get(key) or CATALOGS["sv"].get(key)
        if text is not None:
            return text
    return value


def bundle(lang: str, prefix: tuple[str, ...] = ()) -> dict[str, str]:
    """Texts for the page scripts (one language)."""
    return {k: t(k, lang) for k in CATALOGS["sv"] if not prefix or k.startswith(prefix)}
