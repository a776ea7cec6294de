"""The page is one file whose embedded data no sentence can break out of."""

from __future__ import annotations

import json
import re

from mbre.view.page import embedded_json, render_page, run_facts
from tests.support.samples import SAMPLES


def test_embedded_json_cannot_close_its_script_element():
    value = {"text": "</script><script>alert(1)</script><!-- \u2028 & >"}
    text = embedded_json(value)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value


def test_the_page_is_self_contained():
    page = render_page(SAMPLES, title="runs/<x>", run=run_facts(SAMPLES, "runs/x/samples.jsonl"))
    assert "<title>runs/&lt;x&gt;</title>" in page
    assert "{{" not in page  # every slot filled
    assert not re.search(r"(src|href)=", page)  # nothing loaded from elsewhere
    assert page.count("<script") == 2 and "alert('x')" not in page.split('id="mbre-data">')[0]
    data = page.split('<script type="application/json" id="mbre-data">')[1].split("</script>")[0]
    assert [s["id"] for s in json.loads(data)["samples"]] == [s.id for s in SAMPLES]


def test_run_facts_count_labels_and_abstentions():
    facts = run_facts(SAMPLES, "s.jsonl")
    assert (facts["samples"], facts["labelled"], facts["abstained"], facts["model"]) == (7, 5, 2, "m")
