"""``sactui soak``: days of market time through the real ``sactui`` process, under seeded chaos.

Why: a dry run that someone watches for two days proves little and cannot be repeated.
Here the simulator (the exchange, in the harness's process) replays real candles as fast
as the trader journals them, a seeded schedule injects every fault the exchange can
throw, the trader is killed with SIGKILL and restarted like a supervisor would, one
drawdown breach is provoked, and at the end the exchange's own order book, trades and
income are compared with every journal the sessions wrote (``invariants``). The same
seed gives the same schedule (``schedule``); the report (``report``) says what was
injected, how the session reacted and whether every invariant held.
"""
