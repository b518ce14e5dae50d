"""docs/verifier.md stays true: its example syncs from a running platform and verifies,
and its counter table names every reason with the catalogue's Chinese."""

import re
from pathlib import Path

import pytest
from django.utils import translation

from ehccode import Reason
from healthcard import cards, codes

DOC = (Path(__file__).resolve().parent.parent / "docs" / "verifier.md").read_text("utf-8")
EXAMPLE = re.search(r"```python example\n(.*?)\n```", DOC, re.S).group(1)


def test_the_example_is_twenty_lines_of_code_at_most():
    assert len([line for line in EXAMPLE.splitlines() if line.strip()]) <= 20


@pytest.mark.django_db(transaction=True)
def test_the_example_syncs_and_verifies_against_a_running_platform(
    live_server, card, clerk, terminal, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the example saves state.json in the working directory
    example: dict = {}
    exec(compile(EXAMPLE, "docs/verifier.md", "exec"), example)  # noqa: S102 - our own doc
    old = codes.static_code(card)
    state = {"revocations": {}}
    verifier = example["sync"](live_server.url, terminal.token, state)
    assert verifier.verify(old).ok
    etag = state["etag"]

    card = cards.replace_card(card, by=clerk, reason="lost")
    verifier = example["sync"](live_server.url, terminal.token, state)
    assert state["etag"] == etag  # same key set, same ETag (the example sent If-None-Match)
    assert verifier.verify(old).reason == Reason.SUPERSEDED
    assert verifier.verify(codes.static_code(card)).ok
    assert (tmp_path / "state.json").exists()


def test_the_counter_table_shows_every_reason_in_the_catalogue_chinese():
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|", DOC, re.M))
    messages = {"valid": Reason.VALID_MESSAGE, **Reason.MESSAGES}
    assert set(rows) == set(messages)
    with translation.override("zh-hans"):
        assert rows == {reason: translation.gettext(m) for reason, m in messages.items()}
