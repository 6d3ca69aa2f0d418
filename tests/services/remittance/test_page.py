"""The donor page's script, run by node against a scripted API: what a donor's browser does with
the pledge id it keeps for a retry."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from services.remittance.page import DONOR_PAGE

NODE = shutil.which("node")
HARNESS = r"""
const [answersArg, amountsArg] = process.argv.slice(-2);
const answers = JSON.parse(answersArg);
const store = new Map(), sent = [], shown = [];
globalThis.localStorage = {getItem: k => store.has(k) ? store.get(k) : null,
  setItem: (k, v) => store.set(k, String(v)), removeItem: k => store.delete(k)};
const nodes = {};
globalThis.document = {
  getElementById: id => nodes[id] ??= {id, replaceChildren: (...c) => shown.push(c.map(n => n.text))},
  createElement: () => ({set textContent(t) { this.text = t; }, append() {}}),
};
globalThis.FormData = class { constructor(form) { this.form = form; }
  *[Symbol.iterator]() { yield* Object.entries(this.form.fields); }
  get(k) { return this.form.fields[k]; } };
globalThis.fetch = async (path, init) => {
  sent.push(JSON.parse(init.body).transfer_id);
  const a = answers.shift();
  if (a === "lost") throw new TypeError("network down");
  return {status: a.status, json: async () => a.body};
};
eval(SCRIPT);
(async () => {
  for (const amount of JSON.parse(amountsArg)) {
    await nodes.pledge.onsubmit({preventDefault() {}, target: {fields: {
      donor_ref: "d-1", group_id: "g-1", need_id: "", amount, currency: "GBP"}}});
  }
  console.log(JSON.stringify({sent, shown}));
})();
"""


def run(answers: list[object], amounts: list[str]) -> dict[str, list[object]]:
    script = re.search(r"<script>(.*)</script>", DONOR_PAGE, re.S)
    assert script is not None
    program = HARNESS.replace("SCRIPT", json.dumps(script.group(1)))
    done = subprocess.run(
        [str(NODE), "-e", program, json.dumps(answers), json.dumps(amounts)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, list[object]] = json.loads(done.stdout)
    return result


def refused(code: str, status: int = 422) -> dict[str, object]:
    return {"status": status, "body": {"ok": False, "error": {"code": code, "message": code}}}


OK = {"status": 200, "body": {"ok": True, "result": {"transfer_id": "t", "state": "pledged"}}}


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_refused_pledge_is_corrected_under_a_new_id_and_a_lost_one_retried_under_its_own() -> (
    None
):
    """A refusal (a wrong amount) means nothing was recorded: the corrected pledge gets a new id.
    It used to keep the refused one's id, so the server saw the same id with other content and
    refused every later pledge from that browser as a conflict."""
    wrong, fixed = run([refused("invalid_amount"), OK], ["1,000", "1000.00"])["sent"]
    assert wrong != fixed
    lost, again = run(["lost", OK], ["50.00", "50.00"])["sent"]
    assert lost == again, "an unanswered pledge is sent again under its own id"
    lost, changed = run(["lost", OK], ["50.00", "60.00"])["sent"]
    assert lost != changed, "a different pledge is a new one"
    busy, retried = run([refused("unavailable", 503), OK], ["50.00", "50.00"])["sent"]
    assert busy == retried, "a 503 may have stored it: the retry keeps the id"


REPORT_HARNESS = r"""
const answer = JSON.parse(process.argv[process.argv.length - 1]);
const shown = [], asked = [], nodes = {};
globalThis.document = {
  getElementById: id => nodes[id] ??= {id, replaceChildren: (...c) => shown.push(c.map(n => n.text))},
  createElement: () => ({set textContent(t) { this.text = t; }, append() {}}),
};
globalThis.FormData = class { constructor(form) { this.form = form; }
  get(k) { return this.form.fields[k]; } };
globalThis.fetch = async path => { asked.push(path); return {status: 200, json: async () => answer}; };
eval(SCRIPT);
(async () => {
  await nodes.report.onsubmit({preventDefault() {}, target: {fields: {donor_ref: "d-1"}}});
  console.log(JSON.stringify({asked, shown}));
})();
"""


def report_page(next_offset: int | None) -> list[str]:
    script = re.search(r"<script>(.*)</script>", DONOR_PAGE, re.S)
    assert script is not None
    transfer = {
        "group": {"label": "ERR Bahri 7"},
        "pledged": {"amount": "10.00", "currency": "GBP"},
        "state": "pledged",
        "disbursements": [],
    }
    report = {"transfers": [transfer, transfer], "kitchens": [], "next_offset": next_offset}
    done = subprocess.run(
        [
            str(NODE),
            "-e",
            REPORT_HARNESS.replace("SCRIPT", json.dumps(script.group(1))),
            json.dumps({"ok": True, "result": report}),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    (lines,) = json.loads(done.stdout)["shown"]
    return [line for line in lines if line]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_donor_page_says_when_only_the_first_page_of_transfers_is_shown() -> None:
    assert "Only your 2 oldest transfers are shown." in report_page(next_offset=2)
    assert not any("oldest" in line for line in report_page(next_offset=None))


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_page_makes_the_donor_a_reference_and_keeps_it() -> None:
    """A field labelled "Donor reference" invited a name, which then travelled in the transfer's
    events to the group's site: the page makes a random one, kept in the browser for the report."""
    script = re.search(r"<script>(.*)</script>", DONOR_PAGE, re.S)
    assert script is not None
    program = HARNESS.split("eval(SCRIPT);", maxsplit=1)[0] + (
        "eval(SCRIPT); const first = nodes.donor_ref.value; eval(SCRIPT);"
        "console.log(JSON.stringify({first, again: nodes.donor_ref.value,"
        " report: nodes.report_ref.value, kept: store.get('donor_ref')}));"
    )
    program = program.replace("SCRIPT", json.dumps(script.group(1)))
    done = subprocess.run(
        [str(NODE), "-e", program, "[]", "[]"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert re.fullmatch(r"d-[A-Za-z0-9_-]{22}", seen["first"]), seen
    assert seen["first"] == seen["again"] == seen["report"] == seen["kept"]
