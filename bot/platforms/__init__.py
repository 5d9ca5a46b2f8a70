"""Chat platforms: each one a folder (console, slack) behind the small protocol in `base`.

Only the files of a platform's folder name it or import its SDK (tests/test_layout.py checks);
the core (handlers, service, outbox, scheduler) speaks neutral commands and messages.
"""
