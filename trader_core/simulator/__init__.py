"""A loopback Binance USDⓈ-M Futures exchange replaying real candles, with fault injection.

Why: the connector, the engine and the operator console must be proven against the
real wire protocol (python-binance's ``AsyncClient`` and ``BinanceSocketManager``
unchanged, plain ``websockets`` clients too) without touching a real exchange or the
network. The simulator is what the offline mode, the integration tests and the
benchmarks talk to; its money moves through the same ``FuturesAccount`` and its
order checks through the same ``SymbolFilters`` as training and paper trading.

Modules: ``server`` (LoopbackExchange: lifecycle, candle clock, control API),
``market`` (replayed candles and kline shapes), ``exchange`` (account, orders,
reports), ``orders`` (order record and its wire shapes), ``rest`` (routes and
dispatch), ``streams`` (websockets), ``mark`` (the mark price stream),
``funding`` (the funding schedule), ``ledger`` (userTrades and income),
``margin_call`` (the MARGIN_CALL rule), ``brackets`` (leverage brackets),
``auth`` (key, signature, timestamp), ``faults`` (FaultInjector), ``ratelimits``
(weights and order counts), ``listen_keys`` (user-stream keys), ``api_errors``
(Binance error codes), ``formatting`` (decimal strings), ``main`` (``sactui sim``).

Where it departs from Binance (each module says why): one symbol, one-way mode,
cross margin for the money; one fee rate for maker and taker; no order book (fills
at the last price, bookTicker with zero spread); mark = index = last price; one
maintenance rate at every size; no liquidation engine; wallet, commission,
realised PnL and funding shown exactly rather than rounded to 8 decimals; market
data times on the replay's clock, account times (and the mark stream's ``E``) on
the server clock.
"""

from .api_errors import ApiError
from .faults import FaultInjector
from .market import KlineState, ReplayExhausted
from .rest import OrderReceipt
from .server import CloseRecord, LoopbackExchange

__all__ = [
    "ApiError",
    "CloseRecord",
    "FaultInjector",
    "KlineState",
    "LoopbackExchange",
    "OrderReceipt",
    "ReplayExhausted",
]
