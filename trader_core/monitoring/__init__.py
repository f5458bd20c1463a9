"""Telling the operator, wherever they are: alerts, a Prometheus endpoint, a heartbeat, a watchdog.

Why a package of its own: everything here *listens* - to the session's ``EventLog``, to
every journaled ``StepRecord`` and to the engine's immutable snapshot - and never makes
the engine wait: work leaves the event loop through bounded queues and threads.

- ``targets``   apprise URLs with ``${VAR}`` taken from the environment, and the redactor
                that keeps the expanded secrets out of every log, event and file
- ``dispatcher`` the sending thread: bounded queue, grouping of repeats, retries with backoff
- ``alerts``    which engine events become which alerts (``[alerts] events``, ``min_level``)
- ``metrics``   the Prometheus registry and endpoint (``[metrics]``)
- ``heartbeat`` the atomic ``heartbeat.json`` the session rewrites every few seconds
- ``monitor``   the one object the launcher wires into a session
- ``status``    what a session folder says about its run, from files only
- ``watchdog``  ``sactui watch``: a separate process that still speaks after a kill -9

The watchdog and ``status`` read only files the engine writes atomically (ARCHITECTURE
rule 11); an import-linter contract keeps them away from the engine and the exchanges.
"""
