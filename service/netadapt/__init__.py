"""Hardware-aware NetAdapt, as a pure-Python loop over pluggable network/cost/executor seams."""

from service.netadapt.checkpoint import JsonFileStore, MemoryStore
from service.netadapt.config import NetAdaptConfig
from service.netadapt.errors import UserError, user_message
from service.netadapt.engine import NetAdaptEngine, ProgressCallback
from service.netadapt.executors import SerialExecutor
from service.netadapt.filter_count import FilterCountChoice, candidate_counts, choose_filter_counts
from service.netadapt.interfaces import ChannelConfig, CheckpointStore, CostEstimator, ModelRef
from service.netadapt.interfaces import ProposalExecutor, ProposalResult, ProposalSpec, PrunableNetwork
from service.netadapt.saliency import choose_kept_channels
from service.netadapt.schedule import budget_cost, iteration_target, step_size, waypoint_costs
from service.netadapt.selection import ProposalOutcome, ProposalScore, score_proposal, select_proposal
from service.netadapt.state import SCHEMA_VERSION, RunMismatchError, build_report

__all__ = [
    "SCHEMA_VERSION",
    "ChannelConfig",
    "CheckpointStore",
    "CostEstimator",
    "FilterCountChoice",
    "JsonFileStore",
    "MemoryStore",
    "ModelRef",
    "NetAdaptConfig",
    "NetAdaptEngine",
    "ProgressCallback",
    "ProposalExecutor",
    "ProposalOutcome",
    "ProposalResult",
    "ProposalScore",
    "ProposalSpec",
    "PrunableNetwork",
    "RunMismatchError",
    "SerialExecutor",
    "UserError",
    "build_report",
    "budget_cost",
    "candidate_counts",
    "choose_filter_counts",
    "choose_kept_channels",
    "iteration_target",
    "score_proposal",
    "select_proposal",
    "step_size",
    "user_message",
    "waypoint_costs",
]
