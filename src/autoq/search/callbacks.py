"""What the search does after each episode, besides learning: best-so-far, episode log, checkpoint, hook, progress.

The episode loop (:func:`autoq.search.run.search`) scores a policy, lets the agent learn and then hands
the episode to each callback in turn, in the manner of stable-baselines3's ``BaseCallback``. The order
matters: the best policy is updated before the checkpoint records it, and the user's hook sees an
episode only once its checkpoint is on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tqdm import tqdm

from autoq.quant import Policy
from autoq.runs import folder as rf
from autoq.search.environment import Outcome


@dataclass
class SearchState:
    """What the loop has found so far: one row per episode and the best episode within the budget."""

    rows: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)


class EpisodeStep(NamedTuple):
    """One finished episode as the callbacks see it."""

    episode: int
    policy: Policy
    outcome: Outcome
    row: dict


class Callback:
    """Base class: override what a callback needs; every method does nothing by default."""

    def on_start(self, state: SearchState, start: int) -> None:
        """Before the first episode (``start`` > 0 on a resumed search)."""

    def on_episode(self, state: SearchState, step: EpisodeStep) -> None:
        """After each episode, once its row is in ``state.rows``."""

    def on_end(self, state: SearchState) -> None:
        """After the last episode."""


def better(out: Outcome, best: dict) -> bool:
    """Higher reward wins; at equal reward (e.g. accuracy saturated) the faster, then the less energy-hungry policy."""
    if not best:
        return True
    return (out.reward, -out.latency_s, -out.energy_j) > (best["reward"], -best["latency_s"], -best["energy_j"])


class BestSoFar(Callback):
    """Keeps the best episode within the budget in ``state.best`` and its policy in ``best_policy.json``."""

    def __init__(self, run_dir: Path, meta: dict[str, Any]) -> None:
        self.path, self.meta = run_dir / rf.BEST_POLICY, meta

    def on_episode(self, state: SearchState, step: EpisodeStep) -> None:
        out, policy = step.outcome, step.policy
        if step.row["within_budget"] and better(out, state.best):
            state.best = {"episode": step.episode, **out.metrics(), "policy": policy.to_dict()}
            policy.meta.update(
                {
                    "model": self.meta["model"],
                    "episode": step.episode,
                    "accuracy_reward_split": out.accuracy,
                    "latency_s": out.latency_s,
                    "energy_j": out.energy_j,
                    "hardware": self.meta["hardware"],
                }
            )
            policy.save(self.path)


class EpisodeLog(Callback):
    """Rewrites ``episodes.csv`` with every row so far."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / rf.EPISODES

    def on_episode(self, state: SearchState, step: EpisodeStep) -> None:
        rf.write_rows(self.path, state.rows)


class Checkpoint(Callback):
    """Saves what a resume needs after every episode: the agent, the best episode and the rows' checksum."""

    def __init__(self, run_dir: Path, agent: Any, seed: int, run_id: str | None) -> None:
        self.path, self.agent, self.seed, self.run_id = run_dir / rf.CHECKPOINT, agent, seed, run_id

    def on_episode(self, state: SearchState, step: EpisodeStep) -> None:
        rf.save_checkpoint(
            self.path,
            {
                "episode": step.episode + 1,
                "agent": self.agent.state_dict(),
                "best": state.best,
                "seed": self.seed,
                "run_id": self.run_id,
                "rows_sha256": rf.rows_checksum(state.rows),
            },
        )


class Hook(Callback):
    """Calls a user function with each episode's row (``search(on_episode=...)``)."""

    def __init__(self, fn: Callable[[dict], None]) -> None:
        self.fn = fn

    def on_episode(self, state: SearchState, step: EpisodeStep) -> None:
        self.fn(step.row)


class ProgressBar(Callback):
    """A tqdm bar over the episodes, showing the best accuracy and latency so far."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.bar = total, enabled, None

    def on_start(self, state: SearchState, start: int) -> None:
        self.bar = tqdm(total=self.total, initial=start, desc="search", unit="ep", disable=not self.enabled, dynamic_ncols=True)

    def on_episode(self, state: SearchState, step: EpisodeStep) -> None:
        self.bar.update(1)
        if state.best:
            self.bar.set_postfix(
                best_acc=f"{state.best['accuracy']:.3f}", lat_ms=f"{1e3 * state.best['latency_s']:.3g}", refresh=False
            )

    def on_end(self, state: SearchState) -> None:
        self.bar.close()


class CallbackList(Callback):
    """Several callbacks, called in the order given."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_start(self, state: SearchState, start: int) -> None:
        for c in self.callbacks:
            c.on_start(state, start)

    def on_episode(self, state: SearchState, step: EpisodeStep) -> None:
        for c in self.callbacks:
            c.on_episode(state, step)

    def on_end(self, state: SearchState) -> None:
        for c in self.callbacks:
            c.on_end(state)
