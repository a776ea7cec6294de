"""The run page in a real browser: headless Chromium opens it from disk, it loads with no console error,
shows every sample id, runs no script that came in a sentence, and its filters hide what they should.
MBRE_UPDATE_SCREENSHOT=1 also saves the screenshot as docs/view.png."""

from __future__ import annotations

import json
import os
import shutil

from typer.testing import CliRunner

from mbre.cli.app import app
from tests.support.browser import open_page
from tests.support.data import ROOT
from tests.support.samples import SAMPLES, write_run

runner = CliRunner()
VISIBLE = "[...document.querySelectorAll('.sample')].filter(e => !e.hidden).map(e => e.dataset.id)"


def set_filter(page, element: str, value: object) -> list[str]:
    """Set one filter control as a user would (its value, then an input event); the ids left visible."""
    prop = "checked" if isinstance(value, bool) else "value"
    page.evaluate(
        f"(() => {{ const e = document.getElementById({element!r}); e.{prop} = {json.dumps(value)}; "
        "e.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    return page.evaluate(VISIBLE)


def test_the_page_loads_shows_every_sample_and_filters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "runs" / "example")
    page_file = tmp_path / "samples.html"
    result = runner.invoke(app, ["view", "runs/example", "--out", str(page_file)])
    assert result.exit_code == 0, result.output
    ids = [sample.id for sample in SAMPLES]

    with open_page(page_file.as_uri(), tmp_path / "profile") as page:
        assert page.errors() == []
        assert page.evaluate(VISIBLE) == ids
        text = page.evaluate("document.body.innerText")
        assert all(sample_id in text for sample_id in ids)
        assert "<script>alert('x')</script>" in text  # shown as text, never run
        assert page.evaluate("document.scripts.length") == 2  # the data and the page's own script
        assert (
            page.evaluate("document.getElementById('shown').textContent")
            == f"showing {len(ids)} of {len(ids)} samples"
        )

        assert set_filter(page, "f-label", "no_relation") == ["s-disagree", "s-none"]
        assert page.evaluate("document.querySelectorAll('#chart-labels rect').length") == 1
        assert set_filter(page, "f-label", "") == ids
        assert set_filter(page, "f-rule", "ambiguous") == ["s-ambiguous"]
        assert set_filter(page, "f-rule", "") == ids
        assert set_filter(page, "f-min", "0.9") == [
            "s-sure",
            "s-ambiguous",
            "s-abstained",
            "s-disagree",
            "s-none",
            "s-script",
        ]
        assert set_filter(page, "f-noconf", False) == ["s-sure", "s-script"]
        set_filter(page, "f-noconf", True)
        assert set_filter(page, "f-min", "0") == ids

        # The group answers and verdicts appear on demand.
        page.evaluate("document.querySelector('[data-id=\"s-ambiguous\"] summary').click()")
        detail = page.evaluate("document.querySelector('[data-id=\"s-ambiguous\"] .detail').innerText")
        assert "group answers" in detail and "verdicts" in detail and "lives_in" in detail
        assert page.errors() == []
        shot = tmp_path / "view.png"
        page.screenshot(shot)
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("MBRE_UPDATE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "view.png")
