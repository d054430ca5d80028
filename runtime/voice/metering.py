"""Every paid provider call goes through the tenant's budget: reserve before, settle after.

``Meter.charge(principal, provider, operation, estimate_units)`` is an async context manager:
- free providers (offline, self-hosted, the GPU fleet) pass straight through;
- paid ones reserve the estimated dollars first (``BudgetExceeded`` propagates: the socket closes 4002);
- on success the actual units are settled; when the call is cut (barge-in cancels a stream) the
  units seen so far are settled as the estimate; when the call failed before doing work it is released.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from runtime.providers.base import ProviderError

log = logging.getLogger("unamentis.voice.metering")


class Charge:
    def __init__(self):
        self.units: dict[str, float] | None = None

    def actual(self, units: dict[str, float]) -> None:
        self.units = dict(units)


class Meter:
    def __init__(self, metering, price):
        """``metering``: ``runtime.metering.Metering`` (reserve/settle/release) or None; ``price(provider, units) -> usd``."""
        self.metering, self.price = metering, price

    @contextlib.asynccontextmanager
    async def charge(self, principal, provider, operation: str, estimate_units: dict[str, float]):
        charge = Charge()
        if self.metering is None or principal is None or not getattr(provider, "paid", False):
            yield charge
            return
        estimate = self.price(provider.name, estimate_units)
        reservation = await self.metering.reserve(principal, provider.name, operation, estimate)
        try:
            yield charge
        except asyncio.CancelledError:
            units = charge.units or estimate_units
            await asyncio.shield(self._settle(reservation, provider.name, units, estimated=True))
            raise
        except ProviderError as exc:
            # A refused or failed call did no billable work (a cut stream is a CancelledError above).
            if charge.units and any(charge.units.values()) and exc.status is None:
                await asyncio.shield(self._settle(reservation, provider.name, charge.units, estimated=True))
            else:
                await asyncio.shield(self.metering.release(reservation))
            raise
        except BaseException:
            await asyncio.shield(self.metering.release(reservation))
            raise
        else:
            await self._settle(reservation, provider.name, charge.units or estimate_units, estimated=charge.units is None)

    async def _settle(self, reservation, provider: str, units: dict[str, float], *, estimated: bool) -> None:
        payload = dict(units)
        if estimated:
            payload["estimated"] = 1.0
        try:
            await self.metering.settle(reservation, self.price(provider, units), payload)
        except Exception:  # settlement must never crash a turn; the reservation expires on its own
            log.exception("settling a %s reservation failed", provider)
