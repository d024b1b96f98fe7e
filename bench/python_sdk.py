"""The Python side of bench/python_sdk.sh: N requests of one user, in rounds of C at once
(C = 1: awaited one after the other; else asyncio.gather of C), through alter_sdk. Prints one JSON
object like `alter_bench sdk-rounds`.
    python bench/python_sdk.py VAULT_URL API_KEY PROVIDER URL USER N C"""
import asyncio
import json
import sys
import time

from alter_sdk import AlterVault, HttpMethod


async def main(vault_url, api_key, provider, url, user, n, c):
    ok = 0
    rounds = []
    async with AlterVault(api_key=api_key, base_url=vault_url, actor_type="ai_agent",
                          actor_identifier="bench-rounds-python") as vault:
        t0 = time.perf_counter()
        done = 0
        while done < n:
            r0 = time.perf_counter()
            if c == 1:
                rs = [await vault.request(provider, HttpMethod.GET, url, user={"user_id": user})]
            else:
                rs = await asyncio.gather(*[vault.request(provider, HttpMethod.GET, url, user={"user_id": user})
                                            for _ in range(c)])
            ok += sum(r.status_code == 200 for r in rs)
            rounds.append((time.perf_counter() - r0) * 1000)
            done += c
        total = (time.perf_counter() - t0) * 1000
    rounds.sort()
    print(json.dumps({"requests": n, "concurrency": c, "ok": ok, "total_ms": total, "per_request_us": total * 1000 / n,
                      "median_round_ms": rounds[len(rounds) // 2]}))
    return 0 if ok == n else 1


sys.exit(asyncio.run(main(*sys.argv[1:6], int(sys.argv[6]), int(sys.argv[7]))))
