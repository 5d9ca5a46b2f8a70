"""Steps that several places take, below the handlers: a review task and its post, a claim, a
release, a resubmission reopened, a badge issued and announced, a learner's own deadlines, a
person's time zone, and the one way anything the bot says on its own is sent.

Handlers, scheduled jobs and platforms import these; these never import a handler, so a step
is written once and the scheduler and the platforms never reach into command code.
"""
