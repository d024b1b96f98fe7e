"""Concurrency, cancellation and shutdown: the event loop never blocks, cancelling is safe, one
AlterVault serves several threads and loops, and a process that forgets close() exits cleanly."""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import warnings

import pytest

from alter_sdk import AlterVault, HttpMethod, Response

ALICE = {"user_id": "alice"}


def _exact_futures() -> int:
    """asyncio.Future objects alive (not Tasks): what AlterVault.request() creates per call."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is asyncio.Future)


@pytest.mark.asyncio
async def test_thousand_concurrent_requests_do_not_block_the_loop(dev_vault):
    gaps: list[float] = []
    stop = asyncio.Event()

    async def heartbeat():
        while not stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.001)
            gaps.append(time.monotonic() - t)

    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)  # let it start
        started = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*[
            vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/load"), user=ALICE,
                          query_params={"i": i})
            for i in range(1000)], return_exceptions=True), timeout=90)
        took = time.monotonic() - started
        stop.set()
        await beat
    errors = [r for r in results if not isinstance(r, Response)]
    assert not errors, f"{len(errors)} failed, first: {errors[0]!r}"
    assert all(r.status_code == 200 for r in results)
    # Each answer is its own request's.
    assert [r.json()["received"]["query"]["i"] for r in results] == [str(i) for i in range(1000)]
    assert len({r.request_id for r in results}) == 1000
    assert gaps, "the heartbeat never ticked"
    assert max(gaps) < 0.2, f"the loop was blocked for {max(gaps) * 1000:.0f} ms"
    # It kept ticking throughout, not only before and after (a tick takes >= 1 ms).
    assert len(gaps) >= min(50, took / 0.02), (len(gaps), took)


async def _settle_futures(baseline: int, seconds: float = 5) -> int:
    """Runs the loop (without making Futures of its own) until the live Futures are back to the
    baseline or the deadline passes; returns how many there are."""
    deadline = time.monotonic() + seconds
    while (n := _exact_futures()) > baseline and time.monotonic() < deadline:
        for _ in range(10):
            await asyncio.sleep(0)
    return n


async def _start_and_cancel(vault, dev_vault, n: int) -> tuple[int, int]:
    """Starts n requests, cancels them all while they await; returns (cancelled, completed). Its
    locals (the tasks and their exceptions, whose tracebacks hold request() frames) die with it."""
    tasks = [asyncio.create_task(vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/cancel"),
                                               user=ALICE, query_params={"i": i})) for i in range(n)]
    await asyncio.sleep(0)  # every task is now awaiting its request
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = sum(isinstance(o, asyncio.CancelledError) for o in outcomes)
    completed = sum(isinstance(o, Response) and o.status_code == 200 for o in outcomes)
    others = [repr(o) for o in outcomes if not isinstance(o, (Response, asyncio.CancelledError))]
    assert not others, others
    return cancelled, completed


@pytest.mark.asyncio
async def test_cancelling_requests_in_flight_is_safe(dev_vault):
    actor = f"cancel-{uuid.uuid4().hex[:8]}"
    unraisable: list = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            baseline = _exact_futures()
            vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url, actor_type="ai_agent",
                               actor_identifier=actor)
            # Learn the app's mode first, so every later request is one proxied call.
            await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/warm"), user=ALICE)
            cancelled, completed = await _start_and_cancel(vault, dev_vault, 200)
            assert cancelled + completed == 200
            assert cancelled > 0
            # The vault still works afterwards.
            after = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/after"), user=ALICE)
            assert after.status_code == 200
            del after
            stats = vault.audit_stats()
            assert stats["dropped_queue_full"] == 0 and stats["dropped_rejected"] == 0
            started = time.monotonic()
            await asyncio.wait_for(vault.close(), timeout=15)
            assert time.monotonic() - started < 10
            assert vault.closed
            # Every Future the SDK made for the cancelled calls is released once their late
            # outcomes have been dropped on this loop.
            left = await _settle_futures(baseline)
            assert left <= baseline, f"{left - baseline} asyncio Futures of the SDK were left behind"
        assert not [str(w.message) for w in caught], [str(w.message) for w in caught]
    finally:
        sys.unraisablehook = old_hook
    assert not unraisable, [repr(u.exc_value) for u in unraisable]
    # A request cancelled before an SDK thread took it up was never sent: fewer decisions than tasks.
    decisions = [r for r in dev_vault.audit("--actor", f"ai_agent:{actor}", "--kind", "token")
                 if r.get("via") == "proxy" and "/echo/cancel" in r.get("url", "")]
    assert len(decisions) >= completed
    assert len(decisions) < 200, "cancelled requests were sent anyway"


@pytest.mark.asyncio
async def test_cancel_one_waiting_for_approval(dev_vault):
    # A call parked in wait_for_approval is cancelled at once from the caller's side.
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        task = asyncio.create_task(vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/echo/needs-approval"),
                                                 user=ALICE, json={"c": uuid.uuid4().hex}, wait_for_approval=1.0))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        r = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/x"), user=ALICE)
        assert r.status_code == 200


@pytest.mark.asyncio
async def test_cancelled_approval_wait_releases_close(dev_vault):
    marker = f"cancel-wait-{uuid.uuid4().hex}"
    vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url)
    task = asyncio.create_task(vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/echo/needs-approval"),
                                             user=ALICE, json={"m": marker}, reason=marker, wait_for_approval=4))
    deadline = time.monotonic() + 10
    pending = False
    while not pending and time.monotonic() < deadline:  # until the SDK is waiting on its approval
        await asyncio.sleep(0.05)
        pending = any(a["request"].get("reason") == marker
                      for a in dev_vault.cli_json("approvals", "list", "--status", "pending")["approvals"])
    assert pending, "the request never became a pending approval"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.monotonic()
    await vault.close()
    assert time.monotonic() - started < 1.0, "close() waited for a cancelled approval wait"


@pytest.mark.asyncio
async def test_no_futures_left_after_normal_calls(dev_vault):
    baseline = _exact_futures()
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        rs = await asyncio.gather(*[vault.request("sandbox", "GET", dev_vault.sandbox("/echo/f"), user=ALICE)
                                    for _ in range(20)])
    assert [r.status_code for r in rs] == [200] * 20
    del rs
    assert await _settle_futures(baseline) <= baseline


def test_one_vault_shared_by_threads_each_with_its_own_loop(dev_vault):
    vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url)
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def run():
            loop = asyncio.get_running_loop()
            rs = await asyncio.gather(*[
                vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/threads"), user=ALICE,
                              query_params={"t": n, "i": i}) for i in range(25)])
            assert asyncio.get_running_loop() is loop
            return rs

        try:
            results[n] = asyncio.run(run())
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    asyncio.run(vault.close())
    assert not errors, repr(errors[0])
    assert sorted(results) == [0, 1, 2, 3]
    for n, rs in results.items():
        # Each thread got its own requests' answers.
        assert [r.json()["received"]["query"] for r in rs] == [{"t": str(n), "i": str(i)} for i in range(25)]


def test_one_vault_across_sequential_loops(dev_vault):
    vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url)

    async def once(i: int) -> int:
        r = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/seq"), user=ALICE,
                                query_params={"i": i})
        return int(r.json()["received"]["query"]["i"])

    assert [asyncio.run(once(i)) for i in range(4)] == [0, 1, 2, 3]
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(once(9)) == 9
    finally:
        loop.close()
    asyncio.run(vault.close())
    assert vault.closed


def test_max_concurrency_one_still_serves_everything(dev_vault):
    async def run():
        async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url, max_concurrency=1) as vault:
            return await asyncio.gather(*[vault.request("sandbox", "GET", dev_vault.sandbox("/echo/one"), user=ALICE)
                                          for _ in range(30)])

    assert [r.status_code for r in asyncio.run(run())] == [200] * 30


# ---- process exit without close() ----

EXIT_SCRIPTS = {
    "forgets_close": """
        async def main():
            vault = AlterVault()
            r = await vault.request("sandbox", "GET", URL, user={"user_id": "alice"})
            print("status", r.status_code)
        asyncio.run(main())
    """,
    "returns_with_50_in_flight": """
        async def main():
            vault = AlterVault()
            await vault.request("sandbox", "GET", URL, user={"user_id": "alice"})
            tasks = [asyncio.ensure_future(vault.request("sandbox", "GET", URL, user={"user_id": "alice"}))
                     for _ in range(50)]
            await asyncio.sleep(0)
            print("status", 200, "leaving", sum(not t.done() for t in tasks), "in flight")
        asyncio.run(main())
    """,
    "sys_exit_with_50_in_flight": """
        async def main():
            vault = AlterVault()
            await vault.request("sandbox", "GET", URL, user={"user_id": "alice"})
            tasks = [asyncio.ensure_future(vault.request("sandbox", "GET", URL, user={"user_id": "alice"}))
                     for _ in range(50)]
            await asyncio.sleep(0)
            print("status", 200, flush=True)
            sys.exit(0)
        asyncio.run(main())
    """,
    "daemon_thread_loop_with_50_in_flight": """
        import threading
        vault = AlterVault()
        ready = threading.Event()
        def serve():
            async def main():
                await vault.request("sandbox", "GET", URL, user={"user_id": "alice"})
                tasks = [asyncio.ensure_future(vault.request("sandbox", "GET", URL, user={"user_id": "alice"}))
                         for _ in range(50)]
                await asyncio.sleep(0)
                ready.set()
                await asyncio.sleep(3600)
            asyncio.run(main())
        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(30)
        print("status", 200)
    """,
    "closed_loop_with_50_in_flight": """
        vault = AlterVault()
        loop = asyncio.new_event_loop()
        loop.run_until_complete(vault.request("sandbox", "GET", URL, user={"user_id": "alice"}))
        tasks = [loop.create_task(vault.request("sandbox", "GET", URL, user={"user_id": "alice"})) for _ in range(50)]
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        print("status", 200)
    """,
}


@pytest.mark.parametrize("name", sorted(EXIT_SCRIPTS))
def test_process_exits_cleanly_without_close(dev_vault, tmp_path, name):
    script = tmp_path / f"{name}.py"
    script.write_text("import asyncio, sys\nfrom alter_sdk import AlterVault\n"
                      f"URL = {dev_vault.sandbox('/echo/exit')!r}\n" + textwrap.dedent(EXIT_SCRIPTS[name]))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "ALTER_VAULT_URL": dev_vault.url,
           "ALTER_API_KEY": dev_vault.api_key, "PYTHONFAULTHANDLER": "1"}
    started = time.monotonic()
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    took = time.monotonic() - started
    key_printed = dev_vault.api_key in p.stdout + p.stderr
    assert not key_printed, "the API key in the script's output"
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}"
    assert "status 200" in p.stdout
    for bad in ("Fatal", "Traceback", "Segmentation", "Exception ignored", "terminate called", "Aborted"):
        assert bad not in p.stderr, p.stderr
    if name in ("forgets_close", "returns_with_50_in_flight", "sys_exit_with_50_in_flight"):
        assert p.stderr == ""
    assert took < 10, f"took {took:.1f} s to exit"


def test_sdk_diagnostics_go_to_the_alter_sdk_logger():
    # The logger exists under the documented name, and the package adds no handler of its own.
    import alter_sdk._vault as v
    assert v._log.name == "alter_sdk"
    assert logging.getLogger("alter_sdk") is v._log
    assert not [h for h in v._log.handlers if not isinstance(h, logging.NullHandler)]


FORK_SCRIPT = """
import asyncio, os, sys
from alter_sdk import AlterVault
from alter_sdk.exceptions import AlterSDKError

async def call(vault):
    return (await vault.request("sandbox", "GET", URL, user={"user_id": "alice"})).status_code

parent = AlterVault()
print("parent", asyncio.run(call(parent)), flush=True)
pid = os.fork()
if pid == 0:
    try:
        asyncio.run(asyncio.wait_for(call(parent), 5))
        print("child: the parent's vault answered", flush=True)
    except AlterSDKError as e:
        print("child refused:", e.message, flush=True)
    child = AlterVault()
    print("child", asyncio.run(call(child)), flush=True)
    sys.exit(0)  # a normal exit: the child's atexit hook runs too
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status), flush=True)
print("parent again", asyncio.run(call(parent)), flush=True)
"""


def test_a_vault_made_before_fork_refuses_in_the_child(dev_vault, tmp_path):
    # The SDK's threads stay in the parent: the child gets a clear error, never a hang, and a new
    # vault of its own works; the parent's vault is untouched.
    script = tmp_path / "fork.py"
    script.write_text(f"URL = {dev_vault.sandbox('/echo/fork')!r}\n" + FORK_SCRIPT)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "ALTER_VAULT_URL": dev_vault.url,
           "ALTER_API_KEY": dev_vault.api_key}
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "parent 200"
    assert "child refused: this AlterVault was created before os.fork(): create one in this process" in lines
    assert "child 200" in lines and "child exit 0" in lines and lines[-1] == "parent again 200"
    assert "Traceback" not in p.stderr and "Fatal" not in p.stderr, p.stderr


def test_dropping_an_unclosed_vault_does_not_block(dev_vault, silent_url):
    # Closing waits for the call in flight (here up to its 2 s timeout): when Python lets go of an
    # unclosed vault, that runs on a thread of its own, not on whichever thread dropped it.
    from alter_sdk import _native
    reported = threading.Event()
    native = _native.Vault(api_key=dev_vault.api_key, base_url=silent_url, timeout=2.0, actor_type="",
                           actor_identifier="", actor_name="", actor_version="", framework="", client_type="",
                           ca_file="", always_proxy=False, async_threads=0, log=None)
    native.request(proxy=False, provider="sandbox", method="GET", url=dev_vault.sandbox("/echo/drop"), user=ALICE,
                   path_params={}, query_params={}, extra_headers={}, body=None, content_type="", reason="",
                   run_id="", thread_id="", tool_call_id="", timeout=None, wait_for_approval=None,
                   done=lambda response, error: reported.set())
    time.sleep(0.2)  # under way: the silent socket accepted it
    started = time.monotonic()
    del native
    gc.collect()
    took = time.monotonic() - started
    assert took < 0.5, f"dropping the vault blocked for {took:.2f} s"
    assert reported.wait(10), "the call in flight was never reported"


@pytest.mark.asyncio
async def test_an_unclosed_vault_that_made_requests_warns(dev_vault):
    vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url)
    await vault.request("sandbox", "GET", dev_vault.sandbox("/echo/warn"), user=ALICE)
    with pytest.warns(ResourceWarning, match="unclosed AlterVault"):
        del vault
        gc.collect()
