"""A provider's answer, shaped like httpx's Response."""
from __future__ import annotations

import datetime
import json as _json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Headers", "Response"]

_HTTP_VERSIONS = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2", 30: "HTTP/3"}


class Headers(Mapping[str, str]):
    """Response headers. Names compare case-insensitively; a repeated header's values are joined
    with ``", "`` (``get_list`` keeps them apart), as in httpx. Iterates over lower-case names."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = list(items or [])
        self._index: dict[str, list[str]] = {}
        for name, value in self._items:
            self._index.setdefault(name.lower(), []).append(value)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._index[name.lower()])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def get_list(self, name: str) -> list[str]:
        """Every value of a header, in the order received."""
        return list(self._index.get(name.lower(), []))

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair as received."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._index == other._index
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


class Response:
    """What the provider answered (a status below 400; 400 and above raise ProviderAPIError).
    Holds no token: the credential the call carried is not kept."""

    __slots__ = ("status_code", "headers", "content", "url", "request_id", "elapsed", "http_version", "_text")

    def __init__(self, status_code: int, headers: Headers, content: bytes, url: str, request_id: str = "",
                 elapsed: datetime.timedelta | None = None, http_version: str = "HTTP/1.1") -> None:
        self.status_code: int = status_code
        self.headers: Headers = headers
        #: The body as received (decompressed).
        self.content: bytes = content
        #: The URL called, after templating and query parameters.
        self.url: str = url
        #: The vault's id of the decision or proxied call behind this answer (its audit record).
        self.request_id: str = request_id
        self.elapsed: datetime.timedelta = elapsed or datetime.timedelta()
        self.http_version: str = http_version
        self._text: str | None = None

    @classmethod
    def _from_native(cls, t: tuple[Any, ...]) -> Response:
        status, headers, body, url, request_id, elapsed_ms, http_version = t
        return cls(status, Headers(headers), body, url, request_id, datetime.timedelta(milliseconds=elapsed_ms),
                   _HTTP_VERSIONS.get(http_version, "HTTP/1.1"))

    @property
    def encoding(self) -> str:
        """The charset of Content-Type, else utf-8."""
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"\' ')
        return "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with ``encoding`` (undecodable bytes replaced)."""
        if self._text is None:
            try:
                self._text = self.content.decode(self.encoding, "replace")
            except LookupError:
                self._text = self.content.decode("utf-8", "replace")
        return self._text

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (``json.loads``). Raises ``ValueError`` when it is not JSON
        (``json.JSONDecodeError``, or ``UnicodeDecodeError`` for bytes that are not text)."""
        return _json.loads(self.content, **kwargs)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"
