"""Slack: Rasa's Slack connector with the seams production needs.

- The Web API base URL comes from configuration (``slack_api_url``, default Slack's own):
  slack_sdk has no environment setting for it and Rasa's ``SlackBot`` does not pass one. The
  same seam lets the tests run against a local stand-in of the Web API.
- Replies go in the customer's thread, also when they are sent outside a Slack request (an
  agent's reply through Rasa's HTTP API): with ``conversation_granularity: thread`` the
  conversation id is ``<user>_<channel>_<thread ts>``, which says where to post.
- Slack retries an event it thinks was not delivered (``X-Slack-Retry-Num``). Each event id is
  answered once, whatever the retry reason, so a customer never gets two answers.
- Messages get the REST channel's checks: card numbers removed, empty or huge ones answered,
  and the rate limits, per conversation and per Slack user (the client) as well as overall.
  Slack's own signature (checked by Rasa's connector) is what makes these ids trustworthy: no
  other channel can produce a Slack-shaped conversation id (frontdesk/core/chat_sessions.py).
- Without a bot token and signing secret the channel is off: its webhook says so (503) instead
  of Rasa refusing to start, so a deployment without Slack needs no Slack settings.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot, SlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.web.async_client import AsyncWebClient

from frontdesk.core.chat_sessions import CLIENT_KEY
from frontdesk_rasa.channels.gate import SLOW_DOWN, channel_gate, check_text, without_payment_details

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api/"
_THREAD_CONVERSATION = re.compile(r"(?P<user>[UW][A-Z0-9]+)_(?P<channel>[CDG][A-Z0-9]+)_(?P<thread>\d+\.\d+)")
_SEEN_EVENTS = 10_000


class FrontdeskSlackBot(SlackBot):
    def __init__(self, token: str, slack_channel: str | None = None, thread_id: str | None = None,
                 proxy: str | None = None, api_url: str = SLACK_API_URL) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        self.client = AsyncWebClient(token, proxy=proxy, base_url=api_url)

    async def _post_message(self, channel: str, **kwargs: Any) -> None:
        target = _THREAD_CONVERSATION.fullmatch(channel)
        if target and not self.thread_id:  # sent outside a Slack request: the conversation names the thread
            await self.client.chat_postMessage(channel=target["channel"], thread_ts=target["thread"], **kwargs)
            return
        await super()._post_message(channel, **kwargs)


class FrontdeskSlackInput(SlackInput):
    @classmethod
    def name(cls) -> str:
        return "slack"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> FrontdeskSlackInput:
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        assert isinstance(channel, FrontdeskSlackInput)
        channel.api_url = credentials.get("slack_api_url") or SLACK_API_URL
        if not channel.api_url.endswith("/"):
            channel.api_url += "/"
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_url = SLACK_API_URL
        # Retries are answered once by event id (below), whatever their reason.
        self.errors_ignore_retry = ()
        self._seen: OrderedDict[str, None] = OrderedDict()

    @property
    def configured(self) -> bool:
        return bool(self.slack_token and self.slack_signing_secret)

    def _validate_credentials(self) -> None:
        if not self.configured:
            log.info("Slack channel off: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set")

    def get_output_channel(self, channel: str | None = None, thread_id: str | None = None) -> OutputChannel:
        return FrontdeskSlackBot(self.slack_token, channel or self.slack_channel, thread_id, self.proxy,
                                 self.api_url)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        if self.configured:
            return super().blueprint(on_new_message)
        off = Blueprint("slack_webhook", __name__)

        @off.route("/webhook", methods=["GET", "POST"])
        async def webhook(_request: Request) -> HTTPResponse:
            return response.json({"error": "Slack is not configured here: set SLACK_BOT_TOKEN and "
                                           "SLACK_SIGNING_SECRET"}, status=HTTPStatus.SERVICE_UNAVAILABLE)

        return off

    def _first_delivery(self, request: Request) -> bool:
        try:
            event_id = (request.json or {}).get("event_id") if "json" in (request.content_type or "") else None
        except Exception:
            event_id = None
        if not isinstance(event_id, str):
            return True
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        while len(self._seen) > _SEEN_EVENTS:
            self._seen.popitem(last=False)
        return True

    async def process_message(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                              text: str, sender_id: str | None, metadata: dict | None) -> Any:
        if not self._first_delivery(request):
            log.info("slack: retry #%s of an event already answered; ignored",
                     request.headers.get(self.retry_num_header))
            return response.text("", status=HTTPStatus.OK, headers={"X-Slack-No-Retry": "1"})
        gate = channel_gate()
        client = gate.sessions.client_key("slack:" + (sender_id or "").split("_", 1)[0])
        admitted = gate.admit(client, sender_id)
        _, reply = check_text(text)  # the REST channel's checks
        text, notices = without_payment_details(text or "")
        if not admitted or reply or notices:
            out = (metadata or {}).get("out_channel")
            bot = self.get_output_channel(out, (metadata or {}).get("thread_id") if self.use_threads else None)
            for notice in [SLOW_DOWN] if not admitted else [reply] if reply else notices:
                await bot.send_text_message(sender_id or "", notice)
            if not admitted or reply:
                return response.text("")
        return await super().process_message(request, on_new_message, text, sender_id,
                                             {**(metadata or {}), CLIENT_KEY: client})
