"""Experiment and holdout results of a journey, from its runs, by the shared statistics module.

Exposure is entering the experiment step (the variant recorded on the run);
a conversion is the journey's goal reached within its window; revenue per
person is the goal event's value. Each variant is compared with the control
arm (or, without one, the first variant), and the treated people with the
holdout. The sequential test's state is kept between looks
(`experiment_looks`), so the always-valid p-value is the running minimum over
every time someone looked, and peeking stays safe.
"""

from __future__ import annotations

from typing import Any

from services.journey import definition as definitions
from services.journey.store import JourneyStore
from services.kit import experiment_stats as stats
from services.kit.errors import InvalidInput, NotFound

HOLDOUT = "holdout"
CONTROL = "control"


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _arm(name: str, arm: stats.Arm) -> dict:
    return {
        "name": name,
        "n": arm.n,
        "conversions": arm.conversions,
        "rate": arm.conversions / arm.n,
        "rateInterval": stats.interval_doc(stats.wilson_interval(arm.conversions, arm.n)),
        "revenuePerPerson": arm.revenue / arm.n,
    }


def _comparison(arm: str, against: str, c: stats.Comparison) -> dict:
    return {_camel(k): v for k, v in stats.comparison_doc(arm, against, c).items()}


def holdout_share(journey_pct: float, marketing: bool, workspace_pct: float) -> float:
    """The percentage of entrants held out, as holdouts.Holdouts.held_out decides it.

    The journey's and the workspace's holdouts hash with different salts, so they are independent:
    a person is treated only when neither holds them out. The sample-ratio check must expect this
    union, or a journey in a workspace with a holdout is flagged for a mismatch it does not have.
    """
    treated = 1.0 - journey_pct / 100.0
    if marketing:
        treated *= 1.0 - workspace_pct / 100.0
    return 100.0 * (1.0 - treated)


class Experiments:
    def __init__(self, store: JourneyStore) -> None:
        self.store = store

    async def _arms(self, journey_id: str, node: str | None) -> dict[str, dict[str, float]]:
        """Arm name -> running totals, from the journey's runs (holdout runs form their own arm)."""
        arms: dict[str, dict[str, float]] = {}
        projection = {"variants": 1, "holdout": 1, "converted_at": 1, "conversion_value": 1}
        async for doc in self.store.runs.find({"journey_id": journey_id}, projection):
            if doc.get("holdout"):
                name = HOLDOUT
            elif node is not None:
                name = (doc.get("variants") or {}).get(node)
                if name is None:
                    continue  # did not reach the experiment step
            else:
                name = "treated"
            totals = arms.setdefault(name, {"n": 0, "conversions": 0, "revenue": 0.0, "squares": 0.0})
            totals["n"] += 1
            if doc.get("converted_at") is not None:
                totals["conversions"] += 1
                value = float(doc.get("conversion_value") or 0.0)
                totals["revenue"] += value
                totals["squares"] += value * value
        return arms

    async def _look(
        self, key: str, control: stats.Arm, treatment: stats.Arm, weights: tuple[float, float]
    ) -> stats.Comparison:
        saved = await self.store.looks.find_one({"_id": key})
        sequential = stats.SequentialTest.from_dict(saved["state"]) if saved else None
        if sequential is None and control.n > 0:
            sequential = stats.SequentialTest(tau=stats.campaign_tau(control))
        comparison = stats.compare(control, treatment, weights=weights, sequential=sequential)
        await self.store.looks.replace_one({"_id": key}, {"state": comparison.sequential.to_dict()}, upsert=True)
        return comparison

    async def results(self, workspace: str, journey_id: str, node: str | None) -> dict[str, Any]:
        doc = await self.store.journey(workspace, journey_id)
        if doc is None:
            raise NotFound(f"journey {journey_id!r} not found", "journeyId")
        if not doc.get("version"):
            raise InvalidInput("the journey has not been published", "journeyId")
        vdoc = await self.store.version(journey_id, doc["version"])
        definition = definitions.parse(vdoc["definition"])
        experiments = definition.experiments()
        if node is None and experiments:
            node = next(iter(experiments))
        if node is not None and node not in experiments:
            raise InvalidInput(f"{node!r} is not an experiment step of this journey", "node")
        arms = await self._arms(journey_id, node)

        def arm(name: str) -> stats.Arm:
            t = arms.get(name, {"n": 0, "conversions": 0, "revenue": 0.0, "squares": 0.0})
            return stats.Arm(int(t["n"]), int(t["conversions"]), t["revenue"], t["squares"])

        out: dict[str, Any] = {"journeyId": journey_id, "node": node, "arms": [], "comparisons": [], "holdout": None}
        weights: dict[str, float] = experiments.get(node, {}) if node else {}
        names = list(weights) or [n for n in arms if n != HOLDOUT]
        for name in [*names, HOLDOUT]:
            a = arm(name)
            if a.n:
                out["arms"].append(_arm(name, a))
        if node is not None and names:
            reference = CONTROL if CONTROL in names else names[0]
            ref = arm(reference)
            for name in names:
                if name == reference or not ref.n or not arm(name).n:
                    continue
                pair = (weights.get(reference, 1.0), weights.get(name, 1.0))
                comparison = await self._look(f"{journey_id}:{node}:{name}", ref, arm(name), pair)
                out["comparisons"].append(_comparison(name, reference, comparison))
            significant = [c for c in out["comparisons"] if c["significant"] and (c["lift"] or 0) > 0]
            out["winner"] = max(significant, key=lambda c: c["lift"])["arm"] if significant else None
        held, treated_names = arm(HOLDOUT), [n for n in arms if n != HOLDOUT]
        if held.n and treated_names:
            totals = [arms[n] for n in treated_names]
            treated = stats.Arm(
                int(sum(t["n"] for t in totals)), int(sum(t["conversions"] for t in totals)),
                sum(t["revenue"] for t in totals), sum(t["squares"] for t in totals),
            )  # fmt: skip
            settings = await self.store.settings.find_one({"_id": workspace}) or {}
            share = holdout_share(definition.holdout_pct, definition.marketing, settings.get("holdout_pct") or 0.0)
            if not 0.0 < share < 100.0:
                # People were held out under settings since turned off: today's settings say nothing
                # of the split they entered with, so the observed split stands (no mismatch claimed).
                share = 100.0 * held.n / (held.n + treated.n)
            comparison = await self._look(f"{journey_id}:holdout", held, treated, (share, 100.0 - share))
            out["holdout"] = _comparison("treated", HOLDOUT, comparison)
        return out
