"""`python -m smis.evaluate OVERRIDES`, the same command as `smis-evaluate` (its main:
smis/cli/evaluate.py); `evaluate(cfg)` runs a composed config from scripts and tests
(smis.evaluation.runner)."""

from .cli.evaluate import main
from .evaluation.evaluator import EvaluationError
from .evaluation.runner import evaluate

__all__ = ["EvaluationError", "evaluate", "main"]

if __name__ == "__main__":
    main()
