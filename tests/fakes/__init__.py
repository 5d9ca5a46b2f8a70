"""Fakes of the services the bot talks to, served on 127.0.0.1 for wire-level tests, one
module a concern.

Slack: ``slack_server.FakeSlack`` is the Web API (its calls recorded), made of
``slack_workspace`` (people, channels, messages), ``slack_views`` (modals and the Home
tab), ``socket_mode`` (the WebSocket side) and ``slack_faults`` (failures and rate limits
to inject), all checking Block Kit as Slack does (``blockkit``, usable without HTTP).
``slack_payloads`` builds what Slack sends the app: signed slash commands, clicks, form
submissions and events. Credly: ``credly.FakeCredly``. ``local_server`` serves any of them
under uvicorn on a free port. Discord: the ``discord`` package (``discord.FakeDiscord``:
REST v10 and the gateway websocket, served by aiohttp, for an unmodified discord.py client).
"""
