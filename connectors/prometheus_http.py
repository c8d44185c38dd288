"""The HTTP client of one Prometheus source: prometheus-api-client's ``PrometheusConnect`` on a ``requests`` session.

Every choice is made once per source, through public options of the two libraries:
- no retries inside the client (``Retry(total=0)``): its default three retries with backoff cost 6 s per query
  on a down server; the connector retries connection failures itself (``okrflow.connectors.retry``);
- one keep-alive pool per source, as large as its fetch threads can be (``HTTPAdapter(pool_maxsize=...)``,
  mounted for the source's URL after ``PrometheusConnect`` mounts its own adapter of 10 connections, which
  would open and drop a connection per query beyond 10 threads);
- ``Accept-Encoding: identity``: an instant query's answer is a few hundred bytes and gzip costs more than it
  saves (about 4 ms of wall time per query on loopback here, see benchmarks/README.md);
- a response hook turns a non-200 answer into ``HttpAnswer`` with its status and body (Prometheus's reason);
- the environment (``HTTP(S)_PROXY``/``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``~/.netrc``) is read once, for the
  source's URL, with requests' own ``Session.merge_environment_settings`` and ``get_netrc_auth``; then
  ``trust_env`` is off, because requests would scan ``os.environ`` twice per request (about a fifth of its
  client time per query here). A redirect to another host therefore uses the proxy chosen for the source.
Redirects, cookies and TLS are requests' own, as for any requests user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from okrflow.connectors.prometheus_errors import HttpAnswer

if TYPE_CHECKING:
    import requests
    from prometheus_api_client import PrometheusConnect

__all__ = ["POOL_SIZE", "open_client"]

POOL_SIZE = 64
"""Idle keep-alive connections kept per source (opened only as needed): as many as a source's fetch threads
can be (``fetch.threads_per_source`` allows 64), or urllib3 would close the extra ones, with a warning each."""


def open_client(
    url: str,
    *,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
    verify: bool | str,
    timeout_s: float,
) -> PrometheusConnect:
    """A ``PrometheusConnect`` for ``url`` on its own session; ``close()`` it to release the connections."""
    import requests
    from prometheus_api_client import PrometheusConnect
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.verify = verify
    session.headers["User-Agent"] = "okrflow"
    session.headers["Accept-Encoding"] = "identity"
    session.headers.update(headers)
    session.hooks["response"].append(_refuse_non_200)
    # requests reads the environment on every request (about a fifth of its time per query here); read it once.
    settings = session.merge_environment_settings(url, {}, None, verify, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    if auth is None:
        auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    client = PrometheusConnect(url=url, retry=Retry(total=0), session=session, auth=auth, timeout=timeout_s)
    session.mount(url, HTTPAdapter(pool_maxsize=POOL_SIZE, max_retries=Retry(total=0)))
    return client


def _refuse_non_200(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Raise ``HttpAnswer`` for a final answer other than 200 (a redirect is followed by requests first)."""
    if response.status_code != 200 and not response.is_redirect:
        raise HttpAnswer(response.status_code, response.content)
