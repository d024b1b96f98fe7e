# Types of the C++ module alter_sdk._native (src/native.cpp). Use alter_sdk.AlterVault instead.
from collections.abc import Callable
from typing import Any

version: str
protocol_version: int
provider_ids: tuple[str, ...]

class Error(Exception): ...

class AsyncRequest:
    def cancel(self) -> None: ...

class Vault:
    def __init__(self, *, api_key: str, base_url: str, timeout: float, actor_type: str, actor_identifier: str,
                 actor_name: str, actor_version: str, framework: str, client_type: str, ca_file: str,
                 always_proxy: bool, async_threads: int,
                 log: Callable[[int, str], None] | None) -> None: ...
    def request(self, *, proxy: bool, provider: str, method: str, url: str, user: dict[str, str],
                path_params: dict[str, str], query_params: dict[str, str], extra_headers: dict[str, str],
                body: bytes | None, content_type: str, reason: str, run_id: str, thread_id: str,
                tool_call_id: str, timeout: float | None, wait_for_approval: float | None,
                done: Callable[[tuple[Any, ...] | None, dict[str, Any] | None], None]) -> AsyncRequest: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def flush(self, timeout: float) -> bool: ...
    def audit_stats(self) -> dict[str, int]: ...
    @property
    def base_url(self) -> str: ...
