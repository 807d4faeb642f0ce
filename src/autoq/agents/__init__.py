"""Search agents: the hierarchical AutoQ agent, its HIRO ablation and the baselines, behind one interface.

Names (:func:`list_agents`): ``autoq``, ``hiro``, ``haq``, ``ddpg-kernel``, ``random``, ``uniform``.
"""

from . import hierarchical, kernelwise, layerwise, simple  # noqa: F401  (register the agents)
from .actions import action_to_bits, bits_to_action
from .base import Agent
from .buffers import ReplayBuffer, ReplaySamples
from .config import AgentConfig
from .ddpg import DDPG
from .noise import NoiseSchedule
from .registry import AGENTS, create_agent, list_agents
from .spec import KernelLimits, LayerAction, NetworkSpec
from .squeeze import enforce_limits

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
