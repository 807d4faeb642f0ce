"""The registry of agents by name (``--agent``): agent modules register a factory with :data:`AGENTS`."""

from __future__ import annotations

from collections.abc import Callable

from autoq.utils.registry import Registry

from .base import Agent
from .config import AgentConfig
from .spec import NetworkSpec

AgentFactory = Callable[[NetworkSpec, AgentConfig, int], Agent]
AGENTS: Registry[AgentFactory] = Registry("agent")


def create_agent(name: str, spec: NetworkSpec, config: AgentConfig | None = None, seed: int = 0) -> Agent:
    """Instantiate a registered agent (names: :func:`list_agents`)."""
    return AGENTS.get(name)(spec, config or AgentConfig(), seed)


def list_agents(pattern: str | None = None) -> list[str]:
    """Registered agent names, optionally filtered by a glob pattern."""
    return AGENTS.names(pattern)
