"""Training candidates: the trainer and learning-rate schedules."""

from keras_evomt.training.distribute import register_strategy, strategy_names
from keras_evomt.training.schedules import learning_rate_schedule, steps_per_round
from keras_evomt.training.trainer import CandidateTrainer, NonFiniteLoss, TrainResult

__all__ = [
    "CandidateTrainer",
    "NonFiniteLoss",
    "TrainResult",
    "learning_rate_schedule",
    "register_strategy",
    "steps_per_round",
    "strategy_names",
]
