"""The agent and the meaning of its action, identical in training and live.

SAC outputs a continuous action in [-1, 1]. ``ActionMapping`` turns it into a target
exposure (fraction of equity x max leverage), then into an order quantity that the
exchange will accept: rounded *toward zero* on the target position (so the result
never exceeds the exposure asked for), skipped inside a deadband so noise does not
churn fees, and checked against minimum quantity and notional. The training
environment calls the same ``plan`` with the same filters, so a trade the model
learned to expect is the trade live code sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from .accounting import price_to_decimal, reduces
from .actor import NumpyActor
from .exchanges.filters import SymbolFilters
from .frozen import quick_init


@quick_init
@dataclass(frozen=True)
class OrderPlan:
    """What one action asks of the exchange; ``quantity == 0`` means no order."""

    raw_action: float
    target_exposure: float  # signed fraction of equity (already x max leverage)
    target_qty: Decimal
    quantity: Decimal  # signed order quantity (+ buy, - sell)
    reduce_only: bool
    reason: str  # "trade", "deadband", "on_target", "below_min_qty", "below_min_notional", "no_equity"

    @property
    def side(self) -> str | None:
        if self.quantity > 0:
            return "BUY"
        if self.quantity < 0:
            return "SELL"
        return None


@dataclass(frozen=True)
class ActionMapping:
    """Action in [-1, 1] -> target exposure -> order quantity."""

    max_leverage: float = 1.0
    deadband: float = 0.05  # minimum |target - current| exposure change that trades

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_leverage) and self.max_leverage > 0):
            raise ValueError(f"max_leverage must be a finite number > 0, got {self.max_leverage}")
        if not 0 <= self.deadband < 1:
            raise ValueError("deadband must be in [0, 1)")

    def target_exposure(self, action: float) -> float:
        if not math.isfinite(action):
            raise ValueError(f"the model produced a non-finite action ({action}); refusing to size an order")
        return min(1.0, max(-1.0, float(action))) * self.max_leverage

    def plan(
        self, action: float, equity: Decimal, price: Decimal, position_qty: Decimal,
        filters: SymbolFilters,
    ) -> OrderPlan:
        target = self.target_exposure(action)
        if equity <= 0 or price <= 0:
            return OrderPlan(action, target, position_qty, Decimal(0), False, "no_equity")
        current = float(position_qty * price / equity)
        if abs(target - current) < self.deadband:
            return OrderPlan(action, target, position_qty, Decimal(0), False, "deadband")
        target_qty = filters.round_qty_down(price_to_decimal(target) * equity / price)
        quantity = target_qty - position_qty
        if quantity == 0:
            return OrderPlan(action, target, target_qty, Decimal(0), False, "on_target")
        reduce_only = reduces(position_qty, quantity)
        if abs(quantity) > filters.max_qty:
            quantity = filters.max_qty if quantity > 0 else -filters.max_qty
            target_qty = position_qty + quantity
        if abs(quantity) < filters.min_qty:
            return OrderPlan(action, target, target_qty, Decimal(0), reduce_only, "below_min_qty")
        if not reduce_only and not filters.meets_min_notional(abs(quantity), price):
            return OrderPlan(action, target, target_qty, Decimal(0), False, "below_min_notional")
        return OrderPlan(action, target, target_qty, quantity, reduce_only, "trade")

    def to_metadata(self) -> dict:
        return {"max_leverage": self.max_leverage, "deadband": self.deadband}


class SacAgent:
    """A live SB3 SAC model (training, validation, trusted tools) answering deterministic actions.

    Live trading does not use this class: it acts with ``actor.read_actor``'s
    ``NumpyActor``, built from the zip's weights without unpickling. Here the
    in-memory model's own state dict feeds the very same ``NumpyActor`` (one forward
    pass for training, validation and live), unless the actor is not the standard
    ReLU MLP, in which case torch evaluates it under ``no_grad``. ``act_torch`` is
    kept so tests can prove both give the same action (float32 rounding apart).
    """

    def __init__(self, model) -> None:
        import torch

        self._torch = torch
        self.model = model
        self._actor = model.policy.actor
        self._actor.set_training_mode(False)
        self.observation_shape = tuple(model.observation_space.shape)
        self._numpy = NumpyActor.from_state_dict(model.policy.state_dict()) if self._standard_mlp() else None

    def _standard_mlp(self) -> bool:
        """True when the actor is Flatten -> (Linear, ReLU)* -> Linear mu, no gSDE."""
        nn = self._torch.nn
        actor = self._actor
        if getattr(actor, "use_sde", False) or not isinstance(actor.mu, nn.Linear):
            return False
        if not isinstance(actor.features_extractor.flatten, nn.Flatten):
            return False
        modules = list(actor.latent_pi)
        linear = modules[0::2]
        activations = modules[1::2]
        return (
            len(linear) == len(activations)
            and all(isinstance(m, nn.Linear) for m in linear)
            and all(isinstance(m, nn.ReLU) for m in activations)
        )

    @classmethod
    def load(cls, path: Path) -> "SacAgent":
        """Load a model zip with SB3 (it unpickles: for runs you created yourself and tests only)."""
        import torch
        from stable_baselines3 import SAC

        torch.set_num_threads(1)  # one decision at a time; a thread pool only adds jitter
        model = SAC.load(
            str(path), device="cpu",
            custom_objects={"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "replay_buffer_class": None},
        )
        return cls(model)

    def act(self, observation: np.ndarray) -> float:
        if self._numpy is None:
            return self.act_torch(observation)
        return self._numpy.act(observation)

    def act_torch(self, observation: np.ndarray) -> float:
        with self._torch.no_grad():
            obs = self._torch.as_tensor(observation, dtype=self._torch.float32).unsqueeze(0)
            action = self._actor(obs, deterministic=True)
        return float(action[0, 0])
