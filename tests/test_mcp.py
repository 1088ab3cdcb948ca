"""tunebook mcp: the server as a subprocess over stdio, talked to with the MCP SDK's own
client session, on a SQLite store made by real runs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_study
from tunebook import load_spec, open_store, run_study

pytest.importorskip("mcp")

READ_TOOLS = {"studies", "trials", "trial", "checklist", "conclusion", "importance",
              "propose_next", "timeline", "report", "jobs"}
RUN_TOOLS = {"approve", "reject", "start_run", "start_rerun", "start_autopilot", "stop"}

# act "b" is better by 0.3; lr's optimum sits inside the range (0.01).
TOY = """
    import math
    import random

    def main(t):
        p = t.params
        rng = random.Random(t.seed)
        value = (math.log10(p["lr"]) + 2) ** 2 + (0.3 if p["act"] == "a" else 0.0)
        for step in range(1, 5):
            t.report(step, loss=value + rng.gauss(0, 0.01) + 0.5 ** step)
"""


@pytest.fixture
def ran(tmp_path: Path, db_path: str) -> tuple[Path, str]:
    """A study that ran for real (quasi-random, two scientific values)."""
    path = write_study(tmp_path / "s", TOY, name="toy", budget=16, max_steps=4,
                       scientific={"act": ["a", "b"]})
    run_study(load_spec(path), open_store(db_path), workers=2)
    return path, db_path


Session = Any
Script = Callable[[Session], Awaitable[Any]]


def _session(db: str, script: Script, *extra: str) -> Any:
    """Start ``tunebook mcp`` over stdio and run ``script`` with a client session."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def main() -> Any:
        params = StdioServerParameters(command=sys.executable,
                                       args=["-m", "tunebook.cli", "mcp", "--db", db, *extra])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            return await script(s)

    return anyio.run(main)


async def _call(s: Session, tool: str, **arguments: Any) -> Any:
    """A tool's structured answer (or the error text, as ``("error", text)``)."""
    result = await s.call_tool(tool, arguments)
    if result.is_error:
        return "error", result.content[0].text
    return result.structured_content


def test_every_tool_is_listed_with_schemas_and_answers_from_the_store(
        ran: tuple[Path, str]) -> None:
    _, db = ran

    async def script(s: Session) -> dict[str, Any]:
        listed = (await s.list_tools()).tools
        out: dict[str, Any] = {"tools": {t.name: t for t in listed}}
        out["studies"] = await _call(s, "studies")
        out["trials"] = await _call(s, "trials", study="toy", status="completed", top_k=3,
                                    columns=["lr"])
        out["trial"] = await _call(s, "trial", study="toy", index=0)
        out["checklist"] = await _call(s, "checklist", study="toy")
        out["conclusion"] = await _call(s, "conclusion", study="toy")
        out["importance"] = await _call(s, "importance", study="toy")
        out["proposal"] = await _call(s, "propose_next", study="toy")
        out["report"] = await _call(s, "report", studies=["toy"])
        out["jobs"] = await _call(s, "jobs")
        templates = (await s.list_resource_templates()).resource_templates
        out["templates"] = {t.uri_template for t in templates}
        spec = await s.read_resource("tunebook://study/toy/spec")
        out["spec"] = json.loads(spec.contents[0].text)
        html = await s.read_resource("tunebook://study/toy/report")
        out["html"] = html.contents[0].text
        return out

    got = _session(db, script)
    assert set(got["tools"]) == READ_TOOLS | RUN_TOOLS
    for tool in got["tools"].values():  # typed both ways, and said what it is for
        assert tool.output_schema and tool.input_schema and len(tool.description) > 40
    [row] = got["studies"]["studies"]
    assert row["name"] == "toy" and row["counts"]["completed"] == 16 and row["goal"] == \
        "minimize"
    trials = got["trials"]["trials"]
    assert len(trials) == 3 and all(set(t["params"]) == {"lr"} for t in trials)
    assert [t["value"] for t in trials] == sorted(t["value"] for t in trials)
    assert trials[0]["value"] == pytest.approx(row["best"])
    detail = got["trial"]
    assert detail["metrics"][0]["name"] == "loss" and detail["metrics"][0]["points"] == 4
    assert detail["code"]  # the digest of the trainer it ran
    checks = {f["check"] for f in got["checklist"]["findings"]}
    assert {"search_space", "sampling", "infeasible"} <= checks
    assert all(f["verdict"] in ("ok", "warn", "fail", "unknown")
               for f in got["checklist"]["findings"])
    values = {r["value"] for r in got["conclusion"]["isolation"]}
    assert values == {"act=a", "act=b"} and got["conclusion"]["conclusion"]
    assert {r["parameter"] for r in got["importance"]["rows"]} <= {"lr", "act"}
    proposal = got["proposal"]
    assert proposal["written"] is False and not Path(proposal["path"]).exists()
    assert proposal["next_name"] == "toy-r2" and proposal["run_with"].startswith("tunebook run")
    assert Path(got["report"]["path"]).read_text().startswith("<!DOCTYPE html>")
    assert got["jobs"] == {"jobs": []}
    assert got["templates"] == {"tunebook://study/{name}/spec",
                                "tunebook://study/{name}/report"}
    assert got["spec"]["name"] == "toy" and "<!DOCTYPE html>" in got["html"]


def test_bad_arguments_are_errors_that_say_the_fix(ran: tuple[Path, str]) -> None:
    path, db = ran

    async def script(s: Session) -> list[Any]:
        return [await _call(s, "checklist", study="nope"),
                await _call(s, "trial", study="toy", index=999),
                await _call(s, "trials", study="toy", status="done"),
                await _call(s, "trials", study="toy", columns=["momentum"]),
                await _call(s, "trials", study="toy", top_k=0),
                await _call(s, "trial", study="toy", index="first"),
                await _call(s, "timeline", autopilot="toy"),
                await _call(s, "start_run", study_file=str(path)),
                await _call(s, "approve", autopilot="toy"),
                await _call(s, "stop", job=1)]

    got = _session(db, script)
    assert all(kind == "error" for kind, _ in got), got
    said = [text for _, text in got]
    assert "no study named 'nope'" in said[0] and "toy" in said[0]  # the names there are
    assert "has no trial 999" in said[1]
    assert "unknown status 'done'" in said[2] and "completed" in said[2]
    assert "no parameter momentum" in said[3] and "lr" in said[3]
    assert "top_k must be 1 or more" in said[4]
    assert "index" in said[5]  # the argument's type, by the schema
    assert "autopilot" in said[6]
    for text in said[7:]:
        assert "--allow-run" in text and "read-only" in text
    assert not any("Traceback" in text for text in said)


def test_propose_next_writes_the_file_only_when_asked(ran: tuple[Path, str]) -> None:
    path, db = ran

    async def script(s: Session) -> list[Any]:
        return [await _call(s, "propose_next", study="toy", write=True),
                await _call(s, "propose_next", study="toy", write=True)]

    written, again = _session(db, script)
    assert written["written"] and Path(written["path"]) == path.parent / "toy-r2.yaml"
    assert load_spec(Path(written["path"])).name == "toy-r2"  # tunebook run accepts it
    assert again[0] == "error" and "--force" in again[1]  # never overwritten unasked


def _until(s: Session, autopilot: str, done: Callable[[dict[str, Any]], bool],
           timeout: float = 240) -> Awaitable[dict[str, Any]]:
    async def poll() -> dict[str, Any]:
        import anyio

        deadline = time.monotonic() + timeout
        while True:
            got = await _call(s, "timeline", autopilot=autopilot)
            if not isinstance(got, tuple) and done(got):
                return got
            jobs = await _call(s, "jobs")
            assert time.monotonic() < deadline, (got, jobs)
            await anyio.sleep(0.5)
    return poll()


def test_an_agent_starts_an_approve_autopilot_and_approves_and_rejects_its_steps(
        tmp_path: Path, db_path: str) -> None:
    path = write_study(tmp_path / "s", TOY, name="pilot", budget=10, max_steps=4,
                       scientific={"act": ["a", "b"]})
    open_store(db_path)  # the server reads an existing database

    async def script(s: Session) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["started"] = await _call(s, "start_autopilot", study_file=str(path), budget="30",
                                     approve_each=True, workers=2)
        first = await _until(s, "pilot", lambda t: t["waiting"] is not None)
        out["first"] = first["waiting"]
        out["approved"] = await _call(s, "approve", autopilot="pilot", why="explore first")
        second = await _until(s, "pilot", lambda t: t["waiting"] is not None
                              and t["waiting"]["seq"] > first["waiting"]["seq"])
        out["second"] = second
        out["rejected"] = await _call(s, "reject", autopilot="pilot", why="not this one")
        out["after"] = await _until(s, "pilot", lambda t: any(
            d["seq"] == second["waiting"]["seq"] and d["state"] == "rejected"
            for d in t["decisions"]))
        out["jobs"] = await _call(s, "jobs")
        running = [j for j in out["jobs"]["jobs"] if j["running"]]
        out["stopped"] = [await _call(s, "stop", job=j["id"]) for j in running]
        return out

    got = _session(db_path, script, "--allow-run")
    assert got["started"]["running"] and "--approve" in got["started"]["command"]
    assert got["first"]["state"] == "proposed"
    approved = next(d for d in got["second"]["decisions"] if d["seq"] == got["first"]["seq"])
    assert approved["state"] == "approved"  # the agent's approval is in the timeline
    assert got["second"]["waiting"]["seq"] > got["first"]["seq"]
    assert "autopilot" in got["rejected"]["command"] and "reject" in got["rejected"]["command"]
    assert len(got["jobs"]["jobs"]) == 3
    assert all(not j["running"] for j in got["stopped"])
