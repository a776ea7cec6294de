"""The run page in a real browser: headless Chromium opens it from disk, it loads with no console error,
shows every sample id, runs no script that came in a sentence, its filters hide what they should, the legend
and the head-to-tail arrow are there, right and wrong are marked and filtered where gold exists, and the
sort orders reorder the list. MBRE_UPDATE_SCREENSHOT=1 also saves the screenshot as docs/view.png."""

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
#: Gold labels where the input had them: two right, one wrong.
GOLD = {"s-sure": "founded_by", "s-none": "no_relation", "s-low": "employee_of"}
JUDGED = [s.model_copy(update={"gold": GOLD.get(s.id)}) for s in SAMPLES]
#: A score with all its digits, as a decision records it.
JUDGED[0] = JUDGED[0].model_copy(
    update={"decision": JUDGED[0].decision.model_copy(update={"scores": {"founded_by": 0.912345678901234}})}
)


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
    write_run(tmp_path / "runs" / "example", JUDGED)
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


def test_the_legend_arrow_gold_marks_and_sorting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "runs" / "example", JUDGED)
    page_file = tmp_path / "samples.html"
    result = runner.invoke(app, ["view", "runs/example", "--out", str(page_file)])
    assert result.exit_code == 0, result.output
    ids = [sample.id for sample in SAMPLES]

    with open_page(page_file.as_uri(), tmp_path / "profile") as page:
        assert page.errors() == []
        legend = page.evaluate("document.getElementById('legend').innerText")
        assert "head" in legend and "tail" in legend and "\u2192" in legend
        assert "from the head entity to the tail entity" in legend
        colours = page.evaluate(
            "[...document.querySelectorAll('#legend mark')].map(m => [m.className, "
            "getComputedStyle(m).backgroundColor])"
        )
        marks = page.evaluate(
            "[...document.querySelectorAll('.text mark')].slice(0, 2)"
            ".map(m => getComputedStyle(m).backgroundColor)"
        )
        assert [c for _, c in colours] == marks  # the legend's colours are the sentences'
        # Each sample names its pair, head -> tail, beside the sentence.
        pair = page.evaluate("document.querySelector('[data-id=\"s-sure\"] .pair').innerText")
        assert pair.split() == ["Microsoft", "\u2192", "Bill", "Gates"]
        assert page.evaluate("document.getElementById('legend-gold').hidden") is False
        verdicts = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('.sample')].map(e => "
            "[e.dataset.id, (e.querySelector('.verdict') || {}).className || '']))"
        )
        assert verdicts == {
            "s-sure": "verdict right",
            "s-low": "verdict wrong",
            "s-ambiguous": "",
            "s-abstained": "",
            "s-disagree": "",
            "s-none": "verdict right",
            "s-script": "",
        }
        assert "gold employee_of" in page.evaluate(
            "document.querySelector('[data-id=\"s-low\"] .verdict').innerText"
        )
        assert set_filter(page, "f-gold", "wrong") == ["s-low"]
        assert set_filter(page, "f-gold", "right") == ["s-sure", "s-none"]
        assert set_filter(page, "f-gold", "none") == ["s-ambiguous", "s-abstained", "s-disagree", "s-script"]
        assert set_filter(page, "f-gold", "") == ids

        order = "[...document.querySelectorAll('.sample')].map(e => e.dataset.id)"
        set_filter(page, "f-sort", "confidence-down")
        # 0.97, 0.95, 0.61, then the samples without a confidence in run order
        assert page.evaluate(order) == [
            "s-sure", "s-script", "s-low", "s-ambiguous", "s-abstained", "s-disagree", "s-none",
        ]  # fmt: skip
        set_filter(page, "f-sort", "confidence-up")
        assert page.evaluate(order)[:3] == ["s-low", "s-script", "s-sure"]
        set_filter(page, "f-sort", "id")
        assert page.evaluate(order) == sorted(ids)
        set_filter(page, "f-sort", "label")
        by_label = page.evaluate(order)
        labels = page.evaluate("[...document.getElementById('f-label').options].map(o => o.value).slice(1)")
        shown = [next(s for s in SAMPLES if s.id == i).relation or "(abstained)" for i in by_label]
        assert shown == sorted(shown, key=labels.index)
        set_filter(page, "f-sort", "run")
        assert page.evaluate(order) == ids
        # Sorting keeps the filters: hidden samples stay hidden.
        set_filter(page, "f-gold", "right")
        set_filter(page, "f-sort", "id")
        assert page.evaluate(VISIBLE) == ["s-none", "s-sure"]
        set_filter(page, "f-gold", "")
        set_filter(page, "f-sort", "run")
        # Numbers are rounded to three decimals, in the raw fields too.
        assert page.evaluate("document.querySelector('[data-id=\"s-low\"] .conf').innerText") == "0.610"
        page.evaluate("document.querySelector('[data-id=\"s-sure\"] summary').click()")
        detail = page.evaluate("document.querySelector('[data-id=\"s-sure\"] .detail').innerText")
        assert '{"founded_by":0.912}' in detail and "0.9123" not in detail
        assert page.errors() == []
        shot = tmp_path / "view.png"
        page.screenshot(shot)
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("MBRE_UPDATE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "view.png")
