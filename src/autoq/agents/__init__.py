"""Search agents: the hierarchical AutoQ agent, its HIRO ablation and the baselines, behind one interface.

Names (:func:`list_agents`): ``autoq``, ``hiro``, ``haq``, ``ddpg-kernel``, ``random``, ``uniform``.
"""

from . import hierarchical, kernelwise, layerwise, simple  # noqa: F401  (register the agents)
from .base import (
    AGENTS,
    Agent,
    AgentConfig,
    KernelLimits,
    LayerAction,
    NetworkSpec,
    action_to_bits,
    bits_to_action,
    create_agent,
    enforce_limits,
    list_agents,
)
from .ddpg import DDPG, NoiseSchedule, ReplayBuffer, ReplaySamples

__all__ = [
    "AGENTS",
    "Agent",
    "AgentConfig",
    "DDPG",
    "KernelLimits",
    "LayerAction",
    "NetworkSpec",
    "NoiseSchedule",
    "ReplayBuffer",
    "ReplaySamples",
    "action_to_bits",
    "bits_to_action",
    "create_agent",
    "enforce_limits",
    "list_agents",
]
