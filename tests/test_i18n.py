"""Simplified Chinese is the default language and its translation is complete."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
IGNORED = [".venv/*", "tests/*", "bench/*", "var/*", "staticfiles/*", "*/migrations/*"]


def _entries(text: str):
    """(msgid, msgstr values, fuzzy) for every entry of a .po file, header excluded."""
    entries, current, key, fuzzy = [], None, None, False
    for line in [*text.splitlines(), ""]:
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith("msgid "):
            current, key = {"msgid": line[7:-1], "msgstr": []}, "msgid"
        elif line.startswith("msgid_plural "):
            key = "plural"
        elif line.startswith("msgstr"):
            key = "msgstr"
            current["msgstr"].append(line.split(" ", 1)[1][1:-1])
        elif line.startswith('"') and current is not None:
            if key == "msgid":
                current["msgid"] += line[1:-1]
            elif key == "msgstr":
                current["msgstr"][-1] += line[1:-1]
        elif not line.strip() and current is not None:
            if current["msgid"]:
                entries.append((current["msgid"], current["msgstr"], fuzzy))
            current, key, fuzzy = None, None, False
    return entries


def test_every_message_has_a_chinese_translation():
    entries = _entries(PO.read_text(encoding="utf-8"))
    assert len(entries) > 300
    missing = [msgid for msgid, strs, fuzzy in entries if fuzzy or not all(strs)]
    assert missing == []


def test_catalogue_covers_every_message_in_the_source(tmp_path, settings):
    """makemessages over the source finds no message the catalogue leaves untranslated.
    It runs on a copy of the sources and the catalogue: makemessages writes into every
    `locale` folder it finds, and the tree's own must not change."""
    base = Path(settings.BASE_DIR)
    for name in ("ehccode", "healthcard", "portal", "printing", "templates"):
        shutil.copytree(base / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    catalogue = tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES"
    catalogue.mkdir(parents=True)
    shutil.copy(PO, catalogue / "django.po")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        call_command("makemessages", locale=["zh_Hans"], ignore_patterns=IGNORED, verbosity=0)
    finally:
        os.chdir(cwd)
    entries = _entries((catalogue / "django.po").read_text(encoding="utf-8"))
    missing = [msgid for msgid, strs, fuzzy in entries if fuzzy or not all(strs)]
    assert missing == [], "run makemessages and translate these"


@override_settings(LANGUAGE_CODE="zh-hans")
def test_chinese_is_the_production_default(client):
    from healthcard import settings as production

    assert production.LANGUAGE_CODE == "zh-hans"
    with translation.override("zh-hans"):
        assert translation.gettext("Resident identity card") == "居民身份证"
    page = client.get("/")
    assert "一张卡，湖南各医院通用" in page.content.decode()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_language_switcher_offers_both_languages(client, language):
    response = client.post("/i18n/setlang/", {"language": language, "next": "/"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert ('lang="zh-hans"' if language == "zh-hans" else 'lang="en"') in page
