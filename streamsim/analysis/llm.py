"""The LLM analyzer: the paper's T_obj and T_sub prompts over any OpenAI-compatible endpoint.

Every HTTP attempt, including the openai client's own retries, passes one transport that applies the
limits: a token budget (optional), a semaphore on requests in flight and a sliding-window limit on
request starts, stamped when the request is actually written. Limiting at the transport rather than
around ``create()`` is what keeps retries after a 429 inside the rate.

Failure handling per call: the client retries 408/409/429/5xx and timeouts (honouring Retry-After);
a server that rejects ``json_schema`` output is asked again with ``json_object`` (with, then without, the
schema) and then with the schema in the prompt only, and the first mode that works is kept for the
rest of the run; an invalid reply is re-asked once, then the call counts as a failure. An item keeps
the features from the calls that succeeded; if none did, ``LLMError`` is raised.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import httpx2
import openai
import orjson

from streamsim.analysis.base import Analyzer, ItemFeatures, Review
from streamsim.analysis.prompts import (
    PROMPT_VERSION,
    ReplyError,
    objective_messages,
    parse_reply,
    reply_schema,
    subjective_messages,
)
from streamsim.data.schema import Item
from streamsim.errors import StreamsimError

__all__ = ["LLMError", "LLMConfigError", "LLMEndpointError", "LLMSettings", "LLMStats", "LLMAnalyzer",
           "AnalysisResult", "SlidingWindowLimiter", "estimate_tokens", "FORMAT_MODES"]

log = logging.getLogger("streamsim.llm")


class LLMError(StreamsimError):
    """An LLM analysis that could not produce features (every call for the item failed)."""


class LLMConfigError(LLMError):
    """Invalid LLM settings (missing key, non-positive rate, ...)."""


class LLMEndpointError(LLMError):
    """The endpoint refuses every call (HTTP 401/403/404: key, URL or model wrong): not worth going on."""


# --------------------------------------------------------------------------------------- settings

_ENV = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY", "model": "STREAMSIM_LLM_MODEL"}


@dataclass(frozen=True)
class LLMSettings:
    base_url: str | None = None  # None: the openai client's default (api.openai.com)
    api_key: str = field(default="", repr=False)
    model: str = "gpt-4o-mini"
    rps: int = 5  # request starts per ``period`` seconds
    period: float = 1.0
    concurrency: int = 4  # requests in flight
    tpm: int | None = None  # token budget per ``token_window`` seconds (estimated prompt + max completion)
    token_window: float = 60.0
    timeout: float = 60.0  # per HTTP attempt
    max_retries: int = 2  # the openai client's retries per call
    max_reviews_per_item: int = 10
    max_review_chars: int = 1500
    max_tokens: int = 700  # completion cap per call; also the completion part of the token estimate
    temperature: float = 0.0
    domain: str = "product"  # the word the prompts use for an item
    # Limits are applied with this much slack, so that network jitter cannot squeeze rps + 1 arrivals
    # into one window as the server measures it.
    rate_margin: float = 0.05

    def __post_init__(self) -> None:
        checks = [
            (self.rps >= 1, "rps must be at least 1 (use period for slower rates)"),
            (self.period > 0, "period must be positive"),
            (self.concurrency >= 1, "concurrency must be at least 1"),
            (self.tpm is None or self.tpm > 0, "tpm must be positive"),
            (self.token_window > 0, "token_window must be positive"),
            (self.timeout > 0, "timeout must be positive"),
            (self.max_retries >= 0, "max_retries must be >= 0"),
            (self.max_reviews_per_item >= 0, "max_reviews_per_item must be >= 0"),
            (self.max_review_chars >= 50, "max_review_chars must be >= 50"),
            (self.max_tokens >= 16, "max_tokens must be >= 16"),
            (0 <= self.rate_margin < 1, "rate_margin must be in [0, 1)"),
            (bool(self.model), "model must not be empty"),
        ]
        for ok, msg in checks:
            if not ok:
                raise LLMConfigError(msg)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            v = getattr(self, f.name)
            parts.append(f"{f.name}={'***' if v else ''!r}" if f.name == "api_key" else f"{f.name}={v!r}")
        return f"LLMSettings({', '.join(parts)})"

    __str__ = __repr__

    def public(self) -> dict[str, Any]:
        """The settings without the API key, safe to log or print."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMSettings:
        """Settings from OPENAI_BASE_URL, OPENAI_API_KEY and STREAMSIM_LLM_MODEL; keyword overrides win,
        and overrides that are None are ignored (so parsed CLI options can be passed straight through)."""
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise LLMConfigError(f"unknown LLM setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, var in _ENV.items():
            if os.environ.get(var):
                values[name] = os.environ[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# --------------------------------------------------------------------------------------- limiting

def estimate_tokens(body: bytes) -> int:
    """Upper-bound estimate of a chat request's tokens: prompt text (ASCII at 4 characters a token,
    anything else at one token a character, so CJK text is not underestimated) plus the completion cap."""
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError:
        return math.ceil(len(body) / 4)
    text = "".join(str(m.get("content") or "") for m in req.get("messages") or [] if isinstance(m, dict))
    text += orjson.dumps(req.get("response_format")).decode() if req.get("response_format") else ""
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    prompt = math.ceil((len(text) - non_ascii) / 4) + non_ascii + 8 * len(req.get("messages") or [])
    completion = req.get("max_completion_tokens") or req.get("max_tokens") or 1024
    return prompt + int(completion)


class SlidingWindowLimiter:
    """At most ``capacity`` units (requests, or estimated tokens) sent in any ``period`` seconds.

    A request reserves its units when admitted and is stamped when its body has actually been written
    (``commit``); reserved units count as used until then. Stamping at admission, as asyncio-throttle
    does, lets delays between admission and the write (a busy event loop, a new connection) bunch more
    than ``capacity`` sends into one window under CPU load; stamping at the write cannot. Waiters are
    served in order (one holds the lock), so large requests are not starved by small ones.
    """

    def __init__(self, capacity: int, period: float) -> None:
        self.capacity, self.period = capacity, period
        self._sent: list[tuple[float, int]] = []  # (send time, units), ascending
        self._used = 0  # units in _sent
        self._pending = 0  # units admitted, not yet sent
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:  # asyncio locks belong to one loop
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _purge(self, now: float) -> None:
        cut = 0
        while cut < len(self._sent) and self._sent[cut][0] <= now - self.period:
            self._used -= self._sent[cut][1]
            cut += 1
        del self._sent[:cut]

    async def acquire(self, n: int = 1) -> float:
        """Reserve ``n`` units, waiting until they fit; returns the seconds waited. Always ``commit``."""
        if n > self.capacity:
            log.warning("a request's estimated %d tokens exceed the whole budget of %d; counted as %d",
                        n, self.capacity, self.capacity)
            n = self.capacity
        start = time.monotonic()
        async with self._get_lock():
            while True:
                now = time.monotonic()
                self._purge(now)
                if self._used + self._pending + n <= self.capacity:
                    self._pending += n
                    return now - start
                # wait for the oldest send to leave the window, or poll while only reservations block
                delay = self._sent[0][0] + self.period - now if self._sent else 0.005
                await asyncio.sleep(max(delay, 0.001))

    def commit(self, n: int = 1, when: float | None = None) -> None:
        n = min(n, self.capacity)
        self._pending -= n
        bisect.insort(self._sent, (time.monotonic() if when is None else when, n))
        self._used += n


@dataclass
class LLMStats:
    """Counters of one analyzer. ``calls`` are chat completions asked for (re-asks and format fallbacks
    included); ``requests`` are HTTP attempts (the client's retries included), ``retries`` the attempts
    that were retries of an earlier one."""

    calls: int = 0
    requests: int = 0
    retries: int = 0
    reasks: int = 0
    fallbacks: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    items: int = 0
    items_failed: int = 0
    wait_s: float = 0.0  # time spent waiting on the token budget

    def snapshot(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["wait_s"] = round(self.wait_s, 3)
        return d


class _LimitedTransport(httpx2.AsyncBaseTransport):
    """Applies the analyzer's limits to every HTTP attempt and counts attempts and retries."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, owner: LLMAnalyzer, semaphore: asyncio.Semaphore):
        self._inner, self._owner, self._sem = inner, owner, semaphore

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        owner = self._owner
        tokens = rate = 0  # units reserved and not yet stamped
        budget = owner._budget

        def commit() -> None:
            nonlocal tokens, rate
            now = time.monotonic()
            if rate:
                owner._rate.commit(rate, now)
                rate = 0
            if tokens and budget is not None:
                budget.commit(tokens, now)
                tokens = 0

        previous = request.extensions.get("trace")

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith(("send_request_body.complete", "send_request_body.failed")):
                commit()  # the moment the request left: what the server's window sees
            if previous is not None:
                await previous(event, info)

        try:
            if budget is not None:
                n = estimate_tokens(request.content)
                owner.stats.wait_s += await budget.acquire(n)
                tokens = min(n, budget.capacity)
            async with self._sem:
                await owner._rate.acquire(1)  # last, right before sending
                rate = 1
                owner.stats.requests += 1
                if request.headers.get("x-stainless-retry-count", "0") not in ("", "0"):
                    owner.stats.retries += 1
                request.extensions["trace"] = trace
                response = await self._inner.handle_async_request(request)
                try:
                    # Read the body while holding the slot: the request is in flight until it is read.
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
        finally:
            commit()  # not sent (error, cancelled): stamping now errs on the safe side
        if response.status_code >= 500 and b'"json_schema"' in request.content and any(
                w.encode() in response.content.lower() for w in _FORMAT_WORDS):
            # A server refusing structured output fails the same way on every retry: let the
            # analyzer fall back to another output mode at once (the client obeys x-should-retry).
            response.headers["x-should-retry"] = "false"
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class _Runtime:
    """The loop-bound parts: the HTTP client and the in-flight semaphore belong to one event loop."""

    loop: asyncio.AbstractEventLoop
    client: openai.AsyncOpenAI


# --------------------------------------------------------------------------------------- analyzer

#: Output-format modes, tried in order until the server accepts one.
FORMAT_MODES = ("json_schema", "json_object+schema", "json_object", "prompt")

_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "grammar", "structured")


def _rejects_format(err: openai.APIStatusError) -> bool:
    """Whether an error may be the server refusing the requested output format: any 400/422, or another
    4xx/5xx whose message mentions the format. (A 400 for another reason fails at every mode and so
    never changes the mode that is kept: a mode is kept only once the server has answered it.)"""
    if err.status_code in (400, 422):
        return True
    text = f"{err.message} {err.body!r}".lower()
    return any(w in text for w in _FORMAT_WORDS)


def _format_args(kind: str, mode: str) -> dict[str, Any]:
    schema = reply_schema(kind)
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": kind, "schema": schema, "strict": True}}}
    if mode == "json_object+schema":  # llama-cpp-python's form of schema-constrained output
        return {"response_format": {"type": "json_object", "schema": schema}}
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


_KEYLIKE = re.compile(r"\b(sk|key|token)[-_][A-Za-z0-9_*.-]{6,}", re.I)


def _short(err: BaseException, secret: str = "") -> str:
    """A one-line description of an error with the key, and anything shaped like a key, masked (a 401
    may quote the key it was sent)."""
    if isinstance(err, openai.APIStatusError):
        text = f"HTTP {err.status_code}: {err.message}"
    else:
        text = f"{type(err).__name__}: {err}"
    if secret:
        text = text.replace(secret, "***")
    return _KEYLIKE.sub(r"\1-***", " ".join(text.split()))[:200]


def _raise_first(eg: ExceptionGroup) -> None:
    """Re-raise a task group's endpoint error as itself (one clear line), anything else unchanged."""
    for e in eg.exceptions:
        if isinstance(e, LLMEndpointError):
            raise e from None
    raise eg


@dataclass(frozen=True)
class AnalysisResult:
    features: ItemFeatures
    calls_ok: int
    calls_failed: int

    @property
    def complete(self) -> bool:
        return self.calls_failed == 0


class LLMAnalyzer(Analyzer):
    """Item features from an OpenAI-compatible chat endpoint (one T_obj call per item plus one T_sub
    call per visible review with text, up to ``max_reviews_per_item``).

    One instance per process: its limits are shared by every item it analyses. Use
    ``await analyze_async`` inside an event loop (``async with LLMAnalyzer(...)`` closes the client),
    or the blocking ``analyze`` outside one.
    """

    name = "llm"

    def __init__(self, settings: LLMSettings | None = None, **overrides: Any) -> None:
        if settings is not None and overrides:
            raise LLMConfigError("pass either settings or keyword overrides, not both")
        self.settings = settings if settings is not None else LLMSettings.from_env(**overrides)
        s = self.settings
        if not s.api_key and s.base_url is None:
            raise LLMConfigError("OPENAI_API_KEY is not set (or give a base URL of a local server)")
        self.version = f"{s.model}/{PROMPT_VERSION}"
        self.stats = LLMStats()
        # Shared by every event loop the analyzer runs in (the blocking ``analyze`` makes one per call).
        self._rate = SlidingWindowLimiter(s.rps, s.period * (1 + s.rate_margin))
        self._budget = (SlidingWindowLimiter(s.tpm, s.token_window * (1 + s.rate_margin))
                        if s.tpm is not None else None)
        self._mode = 0  # index into FORMAT_MODES of the mode known to work
        self._probed = False  # whether one call has finished, telling which output mode the server takes
        self._probe: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._rt: _Runtime | None = None

    def __repr__(self) -> str:
        return f"LLMAnalyzer({self.settings!r})"

    @property
    def cache_tag(self) -> str:
        """Everything besides the input that changes the output: part of the cache key."""
        s = self.settings
        return (f"{self.tag}|reviews={s.max_reviews_per_item}|chars={s.max_review_chars}"
                f"|domain={s.domain}|temperature={s.temperature}")

    @property
    def format_mode(self) -> str:
        return FORMAT_MODES[self._mode]

    # ------------------------------------------------------------------ client lifecycle

    def _runtime(self) -> _Runtime:
        loop = asyncio.get_running_loop()
        if self._rt is None or self._rt.loop is not loop:
            s = self.settings
            transport = _LimitedTransport(httpx2.AsyncHTTPTransport(), self, asyncio.Semaphore(s.concurrency))
            http = openai.DefaultAsyncHttpxClient(transport=transport)
            client = openai.AsyncOpenAI(base_url=s.base_url, api_key=s.api_key or "no-key",
                                        max_retries=s.max_retries, timeout=s.timeout, http_client=http)
            self._rt = _Runtime(loop, client)
        return self._rt

    async def aclose(self) -> None:
        rt, self._rt = self._rt, None
        if rt is not None and rt.loop is asyncio.get_running_loop():
            await rt.client.close()

    async def __aenter__(self) -> LLMAnalyzer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ one call

    async def _call(self, kind: str, messages: list[dict[str, str]], label: str) -> Any | None:
        """One validated reply, or None after a failure (counted and logged)."""
        if not self._probed:
            # The first call finds the output mode the server takes while the others wait, so a server
            # without structured output sees one refused request, not one per queued call.
            loop = asyncio.get_running_loop()
            if self._probe is None or self._probe[0] is not loop:
                self._probe = (loop, asyncio.Lock())
            async with self._probe[1]:
                if not self._probed:
                    try:
                        return await self._call_once(kind, messages, label)
                    finally:
                        self._probed = True
        return await self._call_once(kind, messages, label)

    async def _call_once(self, kind: str, messages: list[dict[str, str]], label: str) -> Any | None:
        client = self._runtime().client
        s = self.settings
        mode = self._mode
        retry_msgs: list[dict[str, str]] = []
        while True:
            self.stats.calls += 1
            try:
                completion = await client.chat.completions.create(
                    model=s.model, messages=messages + retry_msgs, max_tokens=s.max_tokens,
                    temperature=s.temperature, **_format_args(kind, FORMAT_MODES[mode]))
            except openai.APIStatusError as e:
                if e.status_code in (401, 403, 404):
                    self.stats.failures += 1
                    where = s.base_url or "the OpenAI API"
                    raise LLMEndpointError(
                        f"{where} refused the call ({_short(e, s.api_key)}); check the base URL, the model "
                        f"name ({s.model!r}) and the API key") from None
                if mode + 1 < len(FORMAT_MODES) and _rejects_format(e):
                    # skip straight to a mode another call has already found to work
                    old, mode = mode, max(mode + 1, self._mode)
                    self.stats.fallbacks += 1
                    log.info("%s: server refused output mode %s (%s); trying %s", label,
                             FORMAT_MODES[old], _short(e, s.api_key), FORMAT_MODES[mode])
                    continue
                return self._fail(label, e)
            except (openai.OpenAIError, httpx2.HTTPError) as e:  # timeouts, connection errors
                return self._fail(label, e)
            if mode > self._mode:  # the server took this mode: keep it for every later call
                self._mode = mode
            usage = completion.usage
            if usage is not None:
                self.stats.prompt_tokens += usage.prompt_tokens or 0
                self.stats.completion_tokens += usage.completion_tokens or 0
            content = completion.choices[0].message.content if completion.choices else None
            try:
                reply = parse_reply(kind, content)
            except ReplyError as e:
                if retry_msgs:
                    return self._fail(label, e)
                self.stats.reasks += 1
                log.info("%s: invalid reply (%s); asking once more", label, e.hint)
                if content:
                    retry_msgs.append({"role": "assistant", "content": content[:4000]})
                retry_msgs.append({"role": "user", "content": (
                    f"Your previous reply was invalid: {e.hint}. Reply again with only the JSON object "
                    "that matches the schema, and nothing else.")})
                continue
            return reply

    def _fail(self, label: str, err: BaseException) -> None:
        self.stats.failures += 1
        log.warning("%s: LLM call failed: %s", label, _short(err, self.settings.api_key))
        return None

    # ------------------------------------------------------------------ one item

    def select_reviews(self, reviews: Sequence[Review]) -> list[Review]:
        """The reviews sent to T_sub: those with text, at most ``max_reviews_per_item``, in their given
        order, keeping up to half for dislikes (ratings are skewed positive, cons are scarce)."""
        cap = self.settings.max_reviews_per_item
        texts = [i for i, r in enumerate(reviews) if r.text.strip()]
        likes = [i for i in texts if reviews[i].liked]
        dislikes = [i for i in texts if not reviews[i].liked]
        n_dis = min(len(dislikes), max(cap // 2, cap - len(likes)))
        keep = set(dislikes[:n_dis]) | set(likes[: cap - n_dis])
        return [reviews[i] for i in texts if i in keep]

    async def analyze_report(self, item: Item, reviews: Sequence[Review]) -> AnalysisResult:
        """Features plus how many calls succeeded and failed; raises ``LLMError`` if all failed."""
        s = self.settings
        chosen = self.select_reviews(reviews)
        label = f"item {item.item_id}"
        jobs = [self._call("objective", objective_messages(item, s.domain), f"{label} (objective)")]
        for n, r in enumerate(chosen):
            kind = "subjective_pros" if r.liked else "subjective_cons"
            msgs = subjective_messages(item, r.rating, r.liked, r.text, s.domain, s.max_review_chars)
            jobs.append(self._call(kind, msgs, f"{label} (review {n})"))
        try:
            async with asyncio.TaskGroup() as tg:  # a cancelled item cancels its calls
                tasks = [tg.create_task(j) for j in jobs]
        except ExceptionGroup as eg:
            _raise_first(eg)
        results = [t.result() for t in tasks]
        self.stats.items += 1
        ok = sum(r is not None for r in results)
        if ok == 0:
            self.stats.items_failed += 1
            raise LLMError(f"{label}: all {len(results)} LLM calls failed (see the log for the causes)")

        pos: list[str] = []
        neg: list[str] = []
        evidence: dict[str, str] = {}

        def add(points: Sequence[Any], side: list[str]) -> None:
            for p in points:
                kws, ev = p.clean()
                for k in kws:
                    if k not in side:
                        side.append(k)
                    if ev and k not in evidence:
                        evidence[k] = ev

        obj = results[0]
        if obj is not None:
            add(obj.pros, pos)
            add(obj.cons, neg)
        for r, res in zip(chosen, results[1:], strict=True):
            if res is not None and r.liked:
                add(res.pros, pos)
            elif res is not None:
                add(res.cons, neg)

        likes = [r.liked for r in reviews]
        features = ItemFeatures(
            item_id=item.item_id,
            categories=tuple(item.categories),
            like_keywords=tuple(pos),
            dislike_keywords=tuple(neg),
            evidence=evidence,
            n_reviews=len(reviews),
            like_rate=sum(likes) / len(likes) if likes else None,
            analyzer=self.tag,
        )
        return AnalysisResult(features, ok, len(results) - ok)

    async def analyze_async(self, item: Item, reviews: Sequence[Review]) -> ItemFeatures:
        return (await self.analyze_report(item, reviews)).features

    def analyze(self, item: Item, reviews: list[Review]) -> ItemFeatures:
        """Blocking form for code outside an event loop; inside one, await ``analyze_async``."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("LLMAnalyzer.analyze() blocks; inside an event loop await analyze_async()")

        async def once() -> ItemFeatures:
            try:
                return await self.analyze_async(item, reviews)
            finally:
                await self.aclose()

        return asyncio.run(once())
